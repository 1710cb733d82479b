//! CIFAR binary version: fixed records of label byte(s) then 3072 pixel bytes (R, G, B planes of
//! 32×32, row-major, i.e. CHW). CIFAR-10: `data_batch_1..5.bin` and `test_batch.bin`, records of
//! 1 + 3072 bytes. CIFAR-100: `train.bin` and `test.bin`, records of 2 + 3072 bytes (coarse label,
//! fine label); the fine label is used. The archives' `cifar-10-batches-bin/` and
//! `cifar-100-binary/` subfolders are found too.

use std::path::{Path, PathBuf};

use super::files::locate;
use super::image_set::ImageSet;
use crate::error::{Error, Result};

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    Cifar10,
    Cifar100,
}

impl Variant {
    fn label_bytes(self) -> usize {
        match self {
            Variant::Cifar10 => 1,
            Variant::Cifar100 => 2,
        }
    }
    fn classes(self) -> usize {
        match self {
            Variant::Cifar10 => 10,
            Variant::Cifar100 => 100,
        }
    }
    fn train_files(self) -> Vec<String> {
        match self {
            Variant::Cifar10 => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Variant::Cifar100 => vec!["train.bin".into()],
        }
    }
    fn test_file(self) -> &'static str {
        match self {
            Variant::Cifar10 => "test_batch.bin",
            Variant::Cifar100 => "test.bin",
        }
    }
    fn subdirs(self) -> &'static [&'static str] {
        match self {
            Variant::Cifar10 => &["cifar-10-batches-bin"],
            Variant::Cifar100 => &["cifar-100-binary"],
        }
    }
    fn class_names(self) -> Vec<String> {
        const C10: [&str; 10] = [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ];
        match self {
            Variant::Cifar10 => C10.iter().map(|s| s.to_string()).collect(),
            Variant::Cifar100 => Vec::new(),
        }
    }
}

/// Appends the records of one file to `pixels` / `labels`.
pub(crate) fn parse_records(
    path: &Path,
    data: &[u8],
    variant: Variant,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u16>,
) -> Result<()> {
    let lb = variant.label_bytes();
    let record = lb + PIXELS;
    if data.is_empty() || !data.len().is_multiple_of(record) {
        return Err(Error::RecordSize {
            path: path.into(),
            size: data.len() as u64,
            record,
        });
    }
    let start = labels.len();
    for (i, rec) in data.chunks_exact(record).enumerate() {
        let label = rec[lb - 1];
        if usize::from(label) >= variant.classes() {
            return Err(Error::BadLabel {
                path: path.into(),
                index: i,
                label: label.into(),
                allowed: format!("0..{}", variant.classes() - 1),
            });
        }
        labels.push(label.into());
        pixels.extend_from_slice(&rec[lb..]);
    }
    debug_assert_eq!(labels.len() - start, data.len() / record);
    Ok(())
}

fn read_set(dir: &Path, files: &[String], variant: Variant) -> Result<ImageSet> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        let path = dir.join(f);
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        parse_records(&path, &data, variant, &mut pixels, &mut labels)?;
    }
    into_set(pixels, labels, variant)
}

/// The image set of records parsed by [`parse_records`], with the class names of `variant`.
pub(crate) fn into_set(pixels: Vec<u8>, labels: Vec<u16>, variant: Variant) -> Result<ImageSet> {
    let set = ImageSet::try_new(pixels, labels, 3, 32, 32, variant.classes())?;
    match variant {
        Variant::Cifar10 => set.try_with_class_names(variant.class_names()),
        Variant::Cifar100 => Ok(set),
    }
}

/// Loads (train, test) from `dir` or its archive subfolder.
pub(crate) fn load_dir(dir: &Path, variant: Variant) -> Result<(ImageSet, ImageSet)> {
    let train = variant.train_files();
    let test = variant.test_file();
    let base: Option<PathBuf> = locate(dir, test, variant.subdirs());
    let missing = |base: &Path| -> Vec<String> {
        train
            .iter()
            .map(String::as_str)
            .chain([test])
            .filter(|f| !base.join(f).is_file())
            .map(String::from)
            .collect()
    };
    let base = base.unwrap_or_else(|| dir.to_path_buf());
    let absent = missing(&base);
    if !absent.is_empty() {
        return Err(Error::MissingDataset {
            dir: dir.into(),
            expected: absent
                .into_iter()
                .map(|f| format!("{f} (or {}/{f})", variant.subdirs()[0]))
                .collect(),
        });
    }
    Ok((
        read_set(&base, &train, variant)?,
        read_set(&base, &[test.to_string()], variant)?,
    ))
}
