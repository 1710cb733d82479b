//! MNIST-format IDX files: big-endian header `0x00000803, n, rows, cols` then `n·rows·cols` bytes
//! (images), or `0x00000801, n` then `n` bytes (labels). Any size, greyscale; each file may be gzipped.

use std::path::{Path, PathBuf};

use super::files::{find_file, read_maybe_gz};
use super::image_set::ImageSet;
use crate::error::{Error, Result};

/// Magic number of a 3-D unsigned-byte IDX file (images).
pub(crate) const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a 1-D unsigned-byte IDX file (labels).
pub(crate) const LABELS_MAGIC: u32 = 0x0000_0801;

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn be_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Checks magic and size of an IDX file with `dims` dimensions; returns (dims, payload).
pub(crate) fn parse_idx<'a>(
    path: &Path,
    data: &'a [u8],
    magic: u32,
    ndims: usize,
) -> Result<(Vec<usize>, &'a [u8])> {
    let header = 4 + 4 * ndims;
    if data.len() < 4 {
        return Err(Error::Truncated {
            path: path.into(),
            expected: header as u64,
            found: data.len() as u64,
        });
    }
    let found = be_u32(data, 0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.into(),
            expected: magic,
            found,
        });
    }
    if data.len() < header {
        return Err(Error::Truncated {
            path: path.into(),
            expected: header as u64,
            found: data.len() as u64,
        });
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| be_u32(data, 4 + 4 * d) as usize)
        .collect();
    let payload = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let expected = payload
        .and_then(|p| p.checked_add(header as u64))
        .unwrap_or(u64::MAX);
    let found = data.len() as u64;
    if found < expected {
        return Err(Error::Truncated {
            path: path.into(),
            expected,
            found,
        });
    }
    if found > expected {
        return Err(Error::TrailingData {
            path: path.into(),
            expected,
            found,
        });
    }
    Ok((dims, &data[header..]))
}

/// Reads one images/labels pair.
fn load_pair(images: &Path, labels: &Path) -> Result<(Vec<u8>, Vec<u16>, usize, usize)> {
    let img_data = read_maybe_gz(images)?;
    let lab_data = read_maybe_gz(labels)?;
    parse_pair(images, &img_data, labels, &lab_data)
}

/// Parses one images/labels pair already in memory (decompressed): (pixels, labels, h, w).
pub(crate) fn parse_pair(
    images: &Path,
    img_data: &[u8],
    labels: &Path,
    lab_data: &[u8],
) -> Result<(Vec<u8>, Vec<u16>, usize, usize)> {
    let (dims, pixels) = parse_idx(images, img_data, IMAGES_MAGIC, 3)?;
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if n > 0 && (h == 0 || w == 0) {
        return Err(Error::config(
            "IDX image size",
            format!("{h}x{w}"),
            format!("{}: images must be non-empty", images.display()),
        ));
    }
    let (ldims, labs) = parse_idx(labels, lab_data, LABELS_MAGIC, 1)?;
    if ldims[0] != n {
        return Err(Error::CountMismatch {
            images_path: images.into(),
            images: n,
            labels_path: labels.into(),
            labels: ldims[0],
        });
    }
    Ok((
        pixels.to_vec(),
        labs.iter().map(|&l| u16::from(l)).collect(),
        h,
        w,
    ))
}

/// Loads `train-*` and `t10k-*` IDX pairs from `dir` as (train, test).
///
/// The number of classes is one more than the largest label in either split.
pub(crate) fn load_dir(dir: &Path) -> Result<(ImageSet, ImageSet)> {
    let found: Vec<Option<PathBuf>> = FILES.iter().map(|f| find_file(dir, f, true)).collect();
    if found.iter().any(Option::is_none) {
        return Err(Error::MissingDataset {
            dir: dir.into(),
            expected: FILES
                .iter()
                .zip(&found)
                .filter(|(_, p)| p.is_none())
                .map(|(f, _)| format!("{f}[.gz]"))
                .collect(),
        });
    }
    let paths: Vec<PathBuf> = found.into_iter().flatten().collect();
    let (trp, trl, h, w) = load_pair(&paths[0], &paths[1])?;
    let (tep, tel, th, tw) = load_pair(&paths[2], &paths[3])?;
    if (th, tw) != (h, w) && !tel.is_empty() && !trl.is_empty() {
        return Err(Error::config(
            "IDX image size",
            format!("{th}x{tw}"),
            format!(
                "{}: the test images must have the size of the training images, {h}x{w}",
                paths[2].display()
            ),
        ));
    }
    if trl.is_empty() || tel.is_empty() {
        let empty = if trl.is_empty() { &paths[0] } else { &paths[2] };
        return Err(Error::config(
            "IDX image count",
            0,
            format!("{} holds no images", empty.display()),
        ));
    }
    let classes = trl
        .iter()
        .chain(&tel)
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(0);
    Ok((
        ImageSet::try_new(trp, trl, 1, h, w, classes)?,
        ImageSet::try_new(tep, tel, 1, h, w, classes)?,
    ))
}
