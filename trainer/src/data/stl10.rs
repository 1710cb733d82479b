//! STL-10 binary version: `*_X.bin` holds 3×96×96 `u8` images, each channel stored column-major
//! (byte `x·96 + y` is row `y`, column `x`), which we transpose to row-major CHW; `*_y.bin` holds
//! one label byte per image in `1..=10`, which we shift to `0..=9`. Files: `train_X.bin`,
//! `train_y.bin`, `test_X.bin`, `test_y.bin`, optional `unlabeled_X.bin`; the archive's
//! `stl10_binary/` subfolder is found too.

use std::path::{Path, PathBuf};

use super::files::locate;
use super::image_set::{ImageSet, UNLABELED};
use crate::error::{Error, Result};

const SIDE: usize = 96;
const RECORD: usize = 3 * SIDE * SIDE;
const CLASSES: [&str; 10] = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
];
const REQUIRED: [&str; 4] = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"];
const UNLABELED_FILE: &str = "unlabeled_X.bin";

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Transposes column-major channel planes to row-major CHW, in place (one plane of scratch).
pub(crate) fn parse_images(path: &Path, mut data: Vec<u8>) -> Result<Vec<u8>> {
    if data.is_empty() || !data.len().is_multiple_of(RECORD) {
        return Err(Error::RecordSize {
            path: path.into(),
            size: data.len() as u64,
            record: RECORD,
        });
    }
    let mut plane = vec![0u8; SIDE * SIDE];
    for dst in data.chunks_exact_mut(SIDE * SIDE) {
        plane.copy_from_slice(dst);
        for x in 0..SIDE {
            let col = &plane[x * SIDE..(x + 1) * SIDE];
            for (y, &p) in col.iter().enumerate() {
                dst[y * SIDE + x] = p;
            }
        }
    }
    Ok(data)
}

/// Maps labels `1..=10` to `0..=9`.
pub(crate) fn parse_labels(path: &Path, data: &[u8]) -> Result<Vec<u16>> {
    data.iter()
        .enumerate()
        .map(|(i, &l)| {
            if (1..=10).contains(&l) {
                Ok(u16::from(l - 1))
            } else {
                Err(Error::BadLabel {
                    path: path.into(),
                    index: i,
                    label: l.into(),
                    allowed: "1..10".into(),
                })
            }
        })
        .collect()
}

fn labelled(dir: &Path, x: &str, y: &str) -> Result<ImageSet> {
    let (xp, yp) = (dir.join(x), dir.join(y));
    let (images, labels) = (read(&xp)?, read(&yp)?);
    parse_labelled(xp, images, yp, &labels)
}

/// A labelled split from the bytes of its `*_X.bin` (`images`) and `*_y.bin` (`labels`) files.
pub(crate) fn parse_labelled(
    xp: PathBuf,
    images: Vec<u8>,
    yp: PathBuf,
    labels: &[u8],
) -> Result<ImageSet> {
    let pixels = parse_images(&xp, images)?;
    let labels = parse_labels(&yp, labels)?;
    if labels.len() != pixels.len() / RECORD {
        return Err(Error::CountMismatch {
            images_path: xp,
            images: pixels.len() / RECORD,
            labels_path: yp,
            labels: labels.len(),
        });
    }
    ImageSet::try_new(pixels, labels, 3, SIDE, SIDE, CLASSES.len())?
        .try_with_class_names(CLASSES.iter().map(|s| s.to_string()).collect())
}

/// Loads (train, test, unlabeled if `unlabeled`) from `dir` or `dir/stl10_binary`.
pub(crate) fn load_dir(
    dir: &Path,
    unlabeled: bool,
) -> Result<(ImageSet, ImageSet, Option<ImageSet>)> {
    let base: PathBuf = locate(dir, REQUIRED[0], &["stl10_binary"]).unwrap_or(dir.into());
    let mut need: Vec<&str> = REQUIRED.to_vec();
    if unlabeled {
        need.push(UNLABELED_FILE);
    }
    let absent: Vec<String> = need
        .iter()
        .filter(|f| !base.join(f).is_file())
        .map(|f| format!("{f} (or stl10_binary/{f})"))
        .collect();
    if !absent.is_empty() {
        return Err(Error::MissingDataset {
            dir: dir.into(),
            expected: absent,
        });
    }
    let train = labelled(&base, "train_X.bin", "train_y.bin")?;
    let test = labelled(&base, "test_X.bin", "test_y.bin")?;
    let extra = if unlabeled {
        let p = base.join(UNLABELED_FILE);
        let pixels = parse_images(&p, read(&p)?)?;
        let n = pixels.len() / RECORD;
        Some(ImageSet::try_new(
            pixels,
            vec![UNLABELED; n],
            3,
            SIDE,
            SIDE,
            0,
        )?)
    } else {
        None
    };
    Ok((train, test, extra))
}
