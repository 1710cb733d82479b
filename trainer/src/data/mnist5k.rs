//! The embedded MNIST-5k set (see `trainer/data/README.md`): 5000 28×28 grey digits, 500 per
//! class, as gzipped CSV (784 pixel values then the label per line).
//!
//! Split: in file order, the first 400 images of each class go to train and the remaining 100 to
//! test, giving 4000 / 1000 images with 400 / 100 per class.

use super::image_set::ImageSet;
use crate::error::{Error, Result};
use std::io::Read;

const FILE: &str = "mnist_5k.csv.gz";
const GZ: &[u8] = include_bytes!("../../data/mnist_5k.csv.gz");
const SIDE: usize = 28;
const CLASSES: usize = 10;
const TRAIN_PER_CLASS: usize = 400;
const PER_CLASS: usize = 500;

/// Parses the embedded CSV and splits it into (train, test).
pub(crate) fn load() -> Result<(ImageSet, ImageSet)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(GZ)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(FILE, e))?;
    let (pixels, labels) = parse_csv(&text)?;
    split(&pixels, &labels)
}

fn parse_err(line: usize, reason: String) -> Error {
    Error::Parse {
        file: FILE.to_string(),
        line,
        reason,
    }
}

/// Parses lines of `784 pixels, label` into packed pixels and labels.
fn parse_csv(text: &str) -> Result<(Vec<u8>, Vec<u16>)> {
    let n = SIDE * SIDE;
    let mut pixels = Vec::with_capacity(PER_CLASS * CLASSES * n);
    let mut labels = Vec::with_capacity(PER_CLASS * CLASSES);
    for (ln, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let mut fields = 0;
        for (k, field) in line.split(',').enumerate() {
            fields += 1;
            let v: u16 = field.trim().parse().map_err(|_| {
                parse_err(
                    ln + 1,
                    format!("field {} = {field:?} is not a number", k + 1),
                )
            })?;
            if k < n {
                let p = u8::try_from(v).map_err(|_| {
                    parse_err(ln + 1, format!("pixel {} = {v} is above 255", k + 1))
                })?;
                pixels.push(p);
            } else if k == n {
                if usize::from(v) >= CLASSES {
                    return Err(parse_err(ln + 1, format!("label {v} is not a digit")));
                }
                labels.push(v);
            }
        }
        if fields != n + 1 {
            return Err(parse_err(
                ln + 1,
                format!("{fields} fields, expected {}", n + 1),
            ));
        }
    }
    Ok((pixels, labels))
}

/// First [`TRAIN_PER_CLASS`] of each class (file order) to train, the rest to test.
fn split(pixels: &[u8], labels: &[u16]) -> Result<(ImageSet, ImageSet)> {
    let n = SIDE * SIDE;
    let mut seen = [0usize; CLASSES];
    let (mut trp, mut trl, mut tep, mut tel) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, &l) in labels.iter().enumerate() {
        let img = &pixels[i * n..(i + 1) * n];
        let c = usize::from(l);
        if seen[c] < TRAIN_PER_CLASS {
            trp.extend_from_slice(img);
            trl.push(l);
        } else {
            tep.extend_from_slice(img);
            tel.push(l);
        }
        seen[c] += 1;
    }
    if let Some(c) = seen.iter().position(|&s| s != PER_CLASS) {
        return Err(parse_err(
            labels.len(),
            format!("class {c} has {} images, expected {PER_CLASS}", seen[c]),
        ));
    }
    Ok((
        ImageSet::try_new(trp, trl, 1, SIDE, SIDE, CLASSES)?,
        ImageSet::try_new(tep, tel, 1, SIDE, SIDE, CLASSES)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_400_100_per_class() {
        let (train, test) = load().unwrap();
        assert_eq!((train.len(), test.len()), (4000, 1000));
        for c in 0..10u16 {
            assert_eq!(train.labels().iter().filter(|&&l| l == c).count(), 400);
            assert_eq!(test.labels().iter().filter(|&&l| l == c).count(), 100);
        }
        // Digits are white strokes on black: mostly zeros, some full-white pixels.
        let zeros = train.pixels().iter().filter(|&&p| p == 0).count();
        assert!(zeros > train.pixels().len() / 2);
        assert_eq!(*train.pixels().iter().max().unwrap(), 255);
    }

    #[test]
    fn bad_csv_lines_are_named() {
        let e = parse_csv("1,2,3\n").unwrap_err();
        assert!(e.to_string().contains("mnist_5k.csv.gz:1: 3 fields"), "{e}");
        let mut line = vec!["0"; 784];
        line.push("12");
        let e = parse_csv(&line.join(",")).unwrap_err();
        assert!(e.to_string().contains("label 12"), "{e}");
        line[784] = "3";
        line[5] = "300";
        let e = parse_csv(&line.join(",")).unwrap_err();
        assert!(e.to_string().contains("pixel 6 = 300"), "{e}");
        line[5] = "x";
        let e = parse_csv(&line.join(",")).unwrap_err();
        assert!(e.to_string().contains("field 6"), "{e}");
    }
}
