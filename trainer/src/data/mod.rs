//! Datasets: labelled `u8` images in CHW layout, the train/test split of each supported format, and
//! the `DatasetSpec` strings (`mnist5k`, `idx:DIR`, `cifar10:DIR`, `cifar100:DIR`, `stl10:DIR`,
//! `folder:DIR`) that name them.
//!
//! Pixels stay `u8` (a quarter of the memory of `f32`); [`ImageSet::write_f32`] and the
//! augmentation pipeline convert to `f32` in `[0, 1]` as `x / 255`.

mod cifar;
mod files;
mod folder;
pub mod fuzzing;
mod idx;
mod image_set;
mod mnist5k;
mod prepare;
pub mod resize;
mod spec;
mod stl10;

pub use image_set::{ImageSet, UNLABELED};
pub use prepare::{input_size, try_prepare_data, try_prepare_train_data, PreparedData};
pub use spec::{load, DatasetSpec, LoadOptions, Split};
