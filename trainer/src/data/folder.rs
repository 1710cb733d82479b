//! ImageFolder layout: `DIR/train/<class>/*.{jpg,jpeg,png}` and `DIR/val/<class>/...`.
//!
//! Classes are the `train/` subfolder names in byte order; `val/` may hold only those. Images are
//! decoded with the `image` crate on worker threads, converted to RGB (grey, grey+alpha and RGBA
//! inputs alike), scaled so the shorter side is `size` (bilinear, antialiased) and centre-cropped
//! to `size × size`.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::image_set::ImageSet;
use crate::error::{Error, Result};

const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut v = Vec::new();
    for entry in rd {
        v.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    v.sort();
    Ok(v)
}

fn class_dirs(split: &Path) -> Result<Vec<(String, PathBuf)>> {
    Ok(sorted_entries(split)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, p)
        })
        .collect())
}

/// Decodes one file to `size × size` RGB CHW bytes.
pub(crate) fn decode(path: &Path, size: u32) -> Result<Vec<u8>> {
    let err = |message: String| Error::Decode {
        path: path.into(),
        message,
    };
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| err(e.to_string()))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(err("image has zero size".into()));
    }
    let rgb = image::DynamicImage::ImageRgb8(img.to_rgb8());
    let fitted = rgb
        .resize_to_fill(size, size, FilterType::Triangle)
        .to_rgb8();
    let hw = (size * size) as usize;
    let mut chw = vec![0u8; 3 * hw];
    for (k, px) in fitted.pixels().enumerate() {
        for c in 0..3 {
            chw[c * hw + k] = px.0[c];
        }
    }
    Ok(chw)
}

/// Decodes `files` on `threads` scoped workers, keeping file order.
fn decode_all(files: &[PathBuf], size: u32, threads: usize) -> Result<Vec<u8>> {
    let per = files.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for f in chunk {
                        out.extend(decode(f, size)?);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut pixels = Vec::with_capacity(files.len() * 3 * (size * size) as usize);
    for p in parts {
        pixels.extend(p?);
    }
    Ok(pixels)
}

fn load_split(split_dir: &Path, classes: &[String], size: u32, threads: usize) -> Result<ImageSet> {
    let mut files = Vec::new();
    let mut labels = Vec::new();
    let dirs = class_dirs(split_dir)?;
    if dirs.is_empty() {
        return Err(Error::MissingDataset {
            dir: split_dir.into(),
            expected: vec!["<class>/*.{jpg,jpeg,png} subfolders".into()],
        });
    }
    for (name, dir) in dirs {
        let Some(label) = classes.iter().position(|c| *c == name) else {
            return Err(Error::config(
                "class folder",
                dir.display(),
                format!("not among the train classes {classes:?}"),
            ));
        };
        let images: Vec<PathBuf> = sorted_entries(&dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if images.is_empty() {
            return Err(Error::EmptyClass { dir });
        }
        labels.extend(std::iter::repeat_n(label as u16, images.len()));
        files.extend(images);
    }
    let s = size as usize;
    let pixels = decode_all(&files, size, threads)?;
    ImageSet::try_new(pixels, labels, 3, s, s, classes.len())?
        .try_with_class_names(classes.to_vec())
}

/// Loads `DIR/train` and `DIR/val` as (train, test) at `size × size`.
pub(crate) fn load_dir(dir: &Path, size: usize, threads: usize) -> Result<(ImageSet, ImageSet)> {
    let size32 = u32::try_from(size)
        .ok()
        .filter(|&s| (1..=4096).contains(&s))
        .ok_or_else(|| Error::config("folder_size", size, "must be in 1..=4096"))?;
    let (train, val) = (dir.join("train"), dir.join("val"));
    if !train.is_dir() || !val.is_dir() {
        return Err(Error::MissingDataset {
            dir: dir.into(),
            expected: vec![
                "train/<class>/*.{jpg,jpeg,png}".into(),
                "val/<class>/*.{jpg,jpeg,png}".into(),
            ],
        });
    }
    let classes: Vec<String> = class_dirs(&train)?.into_iter().map(|(n, _)| n).collect();
    if classes.len() > usize::from(u16::MAX) {
        return Err(Error::config("class count", classes.len(), "at most 65535"));
    }
    Ok((
        load_split(&train, &classes, size32, threads)?,
        load_split(&val, &classes, size32, threads)?,
    ))
}
