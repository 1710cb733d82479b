//! Byte-level entry points to the IDX, CIFAR and STL-10 readers, for the `cargo fuzz` targets in
//! `fuzz/` and their regression tests: each parses file contents already in memory exactly as the
//! directory loaders do after reading the files, and returns the [`ImageSet`] or the same error.
//!
//! The paths only name the files in error messages; nothing is read from disk.

use std::path::Path;

use super::image_set::ImageSet;
use super::{cifar, idx, stl10};
use crate::error::Result;

/// Parses an IDX images file (`0x00000803, n, rows, cols`, then pixels) and its labels file
/// (`0x00000801, n`, then labels) into a greyscale set whose class count is one more than the
/// largest label, as `idx:DIR` does for each split.
///
/// ```
/// use trainer::data::fuzzing::try_parse_idx_bytes;
/// let images = [&[0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2][..], &[7, 9]].concat();
/// let labels = [0, 0, 8, 1, 0, 0, 0, 1, 4];
/// let set = try_parse_idx_bytes(&images, &labels).unwrap();
/// assert_eq!((set.len(), set.width(), set.num_classes()), (1, 2, 5));
/// assert!(try_parse_idx_bytes(&images[..15], &labels).is_err());
/// ```
pub fn try_parse_idx_bytes(images: &[u8], labels: &[u8]) -> Result<ImageSet> {
    let (ip, lp) = (
        Path::new("images-idx3-ubyte"),
        Path::new("labels-idx1-ubyte"),
    );
    let (pixels, labels, h, w) = idx::parse_pair(ip, images, lp, labels)?;
    let classes = labels
        .iter()
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(0);
    ImageSet::try_new(pixels, labels, 1, h, w, classes)
}

/// Parses the bytes of one CIFAR binary batch file: records of 1 (CIFAR-10) or 2 (CIFAR-100,
/// when `cifar100`) label bytes and 3072 pixel bytes.
///
/// ```
/// use trainer::data::fuzzing::try_parse_cifar_bytes;
/// let mut record = vec![3u8; 1 + 3072];
/// assert_eq!(try_parse_cifar_bytes(&record, false).unwrap().labels(), &[3]);
/// record[0] = 10; // CIFAR-10 labels are 0..=9
/// assert!(try_parse_cifar_bytes(&record, false).is_err());
/// assert!(try_parse_cifar_bytes(&record, true).is_err()); // not a whole CIFAR-100 record
/// ```
pub fn try_parse_cifar_bytes(bytes: &[u8], cifar100: bool) -> Result<ImageSet> {
    let variant = if cifar100 {
        cifar::Variant::Cifar100
    } else {
        cifar::Variant::Cifar10
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    cifar::parse_records(
        Path::new("batch.bin"),
        bytes,
        variant,
        &mut pixels,
        &mut labels,
    )?;
    cifar::into_set(pixels, labels, variant)
}

/// Parses the bytes of an STL-10 `*_X.bin` (3×96×96 column-major images) and `*_y.bin` (labels
/// `1..=10`) pair into a labelled set.
///
/// ```
/// use trainer::data::fuzzing::try_parse_stl10_bytes;
/// let images = vec![0u8; 3 * 96 * 96];
/// assert_eq!(try_parse_stl10_bytes(images.clone(), &[10]).unwrap().labels(), &[9]);
/// assert!(try_parse_stl10_bytes(images.clone(), &[0]).is_err()); // labels are 1..=10
/// assert!(try_parse_stl10_bytes(images, &[1, 1]).is_err()); // one image, two labels
/// ```
pub fn try_parse_stl10_bytes(images: Vec<u8>, labels: &[u8]) -> Result<ImageSet> {
    stl10::parse_labelled("train_X.bin".into(), images, "train_y.bin".into(), labels)
}
