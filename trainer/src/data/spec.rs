//! Dataset specs (`mnist5k`, `idx:DIR`, ...), load options, and the loader that turns a spec into
//! a train/test [`Split`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::image_set::ImageSet;
use crate::error::{Error, Result};

/// Which dataset to load, parsed from strings like `cifar10:/data/cifar`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSpec {
    /// The embedded MNIST-5k (4000 train / 1000 test, 28×28 grey).
    Mnist5k,
    /// MNIST-format IDX files in a directory.
    Idx(PathBuf),
    /// CIFAR-10 binary version.
    Cifar10(PathBuf),
    /// CIFAR-100 binary version (fine labels).
    Cifar100(PathBuf),
    /// STL-10 binary version.
    Stl10(PathBuf),
    /// ImageFolder layout: `DIR/train/<class>/*.png|jpg` and `DIR/val/<class>/...`.
    Folder(PathBuf),
}

const SPEC_FORMS: &str = "mnist5k, idx:DIR, cifar10:DIR, cifar100:DIR, stl10:DIR or folder:DIR";

impl FromStr for DatasetSpec {
    type Err = Error;

    /// ```
    /// use trainer::data::DatasetSpec;
    /// let s: DatasetSpec = "cifar10:/data/c10".parse().unwrap();
    /// assert_eq!(s.to_string(), "cifar10:/data/c10");
    /// assert!("cifar10".parse::<DatasetSpec>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: String| Error::BadSpec {
            spec: s.to_string(),
            reason,
        };
        if s == "mnist5k" {
            return Ok(DatasetSpec::Mnist5k);
        }
        let Some((kind, dir)) = s.split_once(':') else {
            return Err(bad(format!("expected one of {SPEC_FORMS}")));
        };
        if dir.is_empty() {
            return Err(bad(format!("{kind}: needs a directory after the colon")));
        }
        let dir = PathBuf::from(dir);
        Ok(match kind {
            "idx" => DatasetSpec::Idx(dir),
            "cifar10" => DatasetSpec::Cifar10(dir),
            "cifar100" => DatasetSpec::Cifar100(dir),
            "stl10" => DatasetSpec::Stl10(dir),
            "folder" => DatasetSpec::Folder(dir),
            other => {
                return Err(bad(format!(
                    "unknown kind {other:?}; expected one of {SPEC_FORMS}"
                )))
            }
        })
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, dir) = match self {
            DatasetSpec::Mnist5k => return f.write_str("mnist5k"),
            DatasetSpec::Idx(d) => ("idx", d),
            DatasetSpec::Cifar10(d) => ("cifar10", d),
            DatasetSpec::Cifar100(d) => ("cifar100", d),
            DatasetSpec::Stl10(d) => ("stl10", d),
            DatasetSpec::Folder(d) => ("folder", d),
        };
        write!(f, "{kind}:{}", dir.display())
    }
}

impl DatasetSpec {
    /// A short name for run directories: `mnist5k`, `cifar10`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            DatasetSpec::Mnist5k => "mnist5k",
            DatasetSpec::Idx(_) => "idx",
            DatasetSpec::Cifar10(_) => "cifar10",
            DatasetSpec::Cifar100(_) => "cifar100",
            DatasetSpec::Stl10(_) => "stl10",
            DatasetSpec::Folder(_) => "folder",
        }
    }
}

/// How to load a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Resize every image to `(height, width)` after loading (`None` keeps the native size).
    pub resize: Option<(usize, usize)>,
    /// `folder:` images are resized (shorter side, then centre crop) to this square size.
    pub folder_size: usize,
    /// Also load STL-10's `unlabeled_X.bin` (100 000 images, 2.7 GB) into [`Split::unlabeled`].
    pub unlabeled: bool,
    /// Worker threads for decoding `folder:` images.
    pub threads: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            resize: None,
            folder_size: 64,
            unlabeled: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A dataset's train and test sets, plus unlabeled images where the format has them.
#[derive(Clone, Debug)]
pub struct Split {
    /// The spec it came from, as text.
    pub name: String,
    /// Training images (the k-NN bank).
    pub train: ImageSet,
    /// Test images (the k-NN queries).
    pub test: ImageSet,
    /// Unlabeled images for pretraining (STL-10 only, and only when asked for).
    pub unlabeled: Option<ImageSet>,
}

/// Loads the dataset `spec` names, checking every file before returning.
///
/// ```
/// use trainer::data::{load, DatasetSpec, LoadOptions};
/// let split = load(&DatasetSpec::Mnist5k, &LoadOptions::default()).unwrap();
/// assert_eq!((split.train.len(), split.test.len()), (4000, 1000));
/// ```
pub fn load(spec: &DatasetSpec, opts: &LoadOptions) -> Result<Split> {
    if opts.threads == 0 {
        return Err(Error::config("threads", 0, "must be at least 1"));
    }
    if let Some((h, w)) = opts.resize {
        if h == 0 || w == 0 {
            return Err(Error::config(
                "resize",
                format!("{h}x{w}"),
                "must be non-empty",
            ));
        }
    }
    let (train, test, unlabeled) = match spec {
        DatasetSpec::Mnist5k => {
            let (a, b) = super::mnist5k::load()?;
            (a, b, None)
        }
        DatasetSpec::Idx(dir) => {
            let (a, b) = super::idx::load_dir(dir)?;
            (a, b, None)
        }
        DatasetSpec::Cifar10(dir) => {
            let (a, b) = super::cifar::load_dir(dir, super::cifar::Variant::Cifar10)?;
            (a, b, None)
        }
        DatasetSpec::Cifar100(dir) => {
            let (a, b) = super::cifar::load_dir(dir, super::cifar::Variant::Cifar100)?;
            (a, b, None)
        }
        DatasetSpec::Stl10(dir) => super::stl10::load_dir(dir, opts.unlabeled)?,
        DatasetSpec::Folder(dir) => {
            let (a, b) = super::folder::load_dir(dir, opts.folder_size, opts.threads)?;
            (a, b, None)
        }
    };
    let fit = |s: ImageSet| match opts.resize {
        Some((h, w)) => s.resized(h, w),
        None => s,
    };
    Ok(Split {
        name: spec.to_string(),
        train: fit(train),
        test: fit(test),
        unlabeled: unlabeled.map(fit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trip() {
        for s in [
            "mnist5k",
            "idx:/a/b",
            "cifar10:x",
            "cifar100:y",
            "stl10:z",
            "folder:w",
        ] {
            let spec: DatasetSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
    }

    #[test]
    fn bad_specs_explain_themselves() {
        let e = "imagenet:/x".parse::<DatasetSpec>().unwrap_err();
        assert!(e.to_string().contains("unknown kind \"imagenet\""), "{e}");
        let e = "idx:".parse::<DatasetSpec>().unwrap_err();
        assert!(e.to_string().contains("needs a directory"), "{e}");
        let e = "mnist".parse::<DatasetSpec>().unwrap_err();
        assert!(e.to_string().contains("expected one of"), "{e}");
    }
}
