//! Validation of a resolved configuration: every field is checked before any work starts, and
//! the fields that depend on the dataset once its size is known.

use crate::error::Error;

use super::fields::TrainConfig;
use super::kinds::{EncoderKind, LossKind};

impl TrainConfig {
    /// The learning rate actually used at the peak of the schedule: `lr * batch_size / 256`.
    pub fn scaled_lr(&self) -> f64 {
        self.lr * self.batch_size as f64 / 256.0
    }

    /// Checks every field, so that a bad value fails before any training starts.
    pub fn try_validate(&self) -> Result<(), Error> {
        fn bad(
            field: &'static str,
            value: impl std::fmt::Display,
            reason: &str,
        ) -> Result<(), Error> {
            Err(Error::config(field, value, reason))
        }
        // config.toml (and TOML config files) hold integers as signed 64-bit.
        let values = serde_json::to_value(self).unwrap_or_default();
        for &field in Self::FIELDS {
            if let Some(value) = values[field].as_u64().filter(|&v| v > i64::MAX as u64) {
                return bad(
                    field,
                    value,
                    "must be at most 2^63 - 1 (config.toml stores i64)",
                );
            }
        }
        if self.epochs == 0 {
            return bad("epochs", 0, "must be at least 1");
        }
        if self.batch_size < 2 {
            return bad("batch_size", self.batch_size, "must be at least 2");
        }
        if self.views < 2 {
            return bad("views", self.views, "the losses need at least 2 views");
        }
        if self.loss == LossKind::Groco && (self.topk_neg == 0 || self.topk_neg >= self.batch_size)
        {
            let reason = format!(
                "must be in 1..={} (each row has batch_size - 1 = {} negatives)",
                self.batch_size - 1,
                self.batch_size - 1
            );
            return bad("topk_neg", self.topk_neg, &reason);
        }
        if self.loss == LossKind::NtXent && (self.views != 2 || self.small_crops != 0) {
            return bad(
                "views",
                self.views,
                "nt-xent takes exactly 2 views and no small crops",
            );
        }
        for (field, value) in [
            ("steepness", self.steepness),
            ("lr", self.lr),
            ("temperature", self.temperature),
            ("knn_temperature", self.knn_temperature),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return bad(field, value, "must be a finite number > 0");
            }
        }
        for (field, value) in [
            ("weight_decay", self.weight_decay),
            ("warmup_epochs", self.warmup_epochs),
            ("art_lambda", self.art_lambda),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return bad(field, value, "must be a finite number >= 0");
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", self.momentum, "must be in [0, 1)");
        }
        let (hidden, out) = self.encoder.head_dims();
        if self.head_layers != 3 || self.head_hidden != hidden || self.head_out != out {
            let reason = format!(
                "the {} head is compiled as 3 layers {hidden}-{hidden}-{out} (head_layers = 3, \
                 head_hidden = {hidden}, head_out = {out})",
                self.encoder.name()
            );
            let value = format!(
                "{}/{}/{}",
                self.head_layers, self.head_hidden, self.head_out
            );
            return bad("head_hidden", value, &reason);
        }
        if self.knn_k == 0 {
            return bad("knn_k", 0, "must be at least 1");
        }
        if self.log_every == 0 {
            return bad("log_every", 0, "must be at least 1");
        }
        if self.small_crops > 0 && self.small_crop_size < 4 {
            return bad(
                "small_crop_size",
                self.small_crop_size,
                "must be at least 4",
            );
        }
        // small-cnn-flat flattens its final map, which has side ceil(side / 8) and must pool to
        // 4x4.
        let final_side = self.small_crop_size.div_ceil(8);
        if self.small_crops > 0
            && self.encoder == EncoderKind::SmallCnnFlat
            && !final_side.is_multiple_of(4)
        {
            return bad(
                "small_crop_size",
                self.small_crop_size,
                "small-cnn-flat needs crops whose final feature map (side / 8, rounded up) pools \
                 to 4x4: use 25..=32 px, or --encoder small-cnn or resnet18 for smaller crops",
            );
        }
        if self.workers == 0 {
            return bad("workers", 0, "must be at least 1");
        }
        Ok(())
    }

    /// Checks the fields that depend on the dataset's size (`train_images` after `train_limit`),
    /// so that a too-small dataset fails before the run directory is made, not after an epoch.
    pub fn try_check_data(&self, train_images: usize) -> Result<(), Error> {
        let reason = |what: &str| {
            format!(
                "{what} must be at most the {train_images} training images of {}",
                self.dataset
            )
        };
        if self.batch_size > train_images {
            let r = reason("a batch");
            return Err(Error::config("batch_size", self.batch_size, r));
        }
        if self.knn_k > train_images {
            let r = reason("the k-NN neighbours (the bank is the training split)");
            return Err(Error::config("knn_k", self.knn_k, r));
        }
        Ok(())
    }
}
