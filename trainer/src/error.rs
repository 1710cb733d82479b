//! The trainer's one error type: every failure names the file, field or value at fault.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while loading data, augmenting it or evaluating features.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error (open, read, gzip) on a named file.
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A dataset directory is missing, or lacks the files its format needs.
    MissingDataset {
        /// The directory that was searched.
        dir: PathBuf,
        /// The files (or layout) the format expects there.
        expected: Vec<String>,
    },
    /// A file starts with the wrong magic number.
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number the format requires.
        expected: u32,
        /// The magic number found.
        found: u32,
    },
    /// A file is shorter than its header (or format) says.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A file is longer than its header says.
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A fixed-record file whose size is not a whole number of records.
    RecordSize {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The record size of the format in bytes.
        record: usize,
    },
    /// Image and label files disagree on how many items there are.
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Number of images in it.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Number of labels in it.
        labels: usize,
    },
    /// A label outside the format's range.
    BadLabel {
        /// The file holding it.
        path: PathBuf,
        /// The item index.
        index: usize,
        /// The label value found.
        label: u64,
        /// What the format allows.
        allowed: String,
    },
    /// An image folder class directory with no usable images.
    EmptyClass {
        /// The class directory.
        dir: PathBuf,
    },
    /// An image file that could not be decoded.
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A line of a text dataset that could not be parsed.
    Parse {
        /// The file (or embedded resource) name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A dataset spec string that is not understood.
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value outside its valid range.
    InvalidConfig {
        /// The parameter name.
        field: &'static str,
        /// The offending value, formatted.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Two buffers or image sets whose shapes do not fit together.
    ShapeMismatch {
        /// What was being checked.
        what: &'static str,
        /// The expected size or shape, formatted.
        expected: String,
        /// The found size or shape, formatted.
        found: String,
    },
    /// A NaN or infinite value in an input buffer.
    NonFinite {
        /// Which buffer.
        what: &'static str,
        /// Row (item) index.
        row: usize,
    },
    /// A checkpoint that cannot be read or does not fit the model.
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The training loss became NaN or infinite; the last good checkpoint is kept.
    NonFiniteLoss {
        /// 0-based epoch.
        epoch: usize,
        /// Global step.
        step: usize,
        /// The value seen.
        value: f64,
    },
    /// A model, layer or loss error from groco-dfdx.
    Model(groco_dfdx::Error),
    /// The compute device failed or is not available in this build.
    Device(String),
}

impl From<groco_dfdx::Error> for Error {
    fn from(e: groco_dfdx::Error) -> Self {
        Error::Model(e)
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidConfig`].
    pub(crate) fn config(
        field: &'static str,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::MissingDataset { dir, expected } => write!(
                f,
                "dataset directory {} is missing or incomplete; expected: {}",
                dir.display(),
                expected.join(", ")
            ),
            Error::BadMagic {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: wrong magic number 0x{found:08x} (expected 0x{expected:08x})",
                path.display()
            ),
            Error::Truncated {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: truncated file: {found} bytes, header says {expected}",
                path.display()
            ),
            Error::TrailingData {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: {found} bytes, but the header accounts for only {expected}",
                path.display()
            ),
            Error::RecordSize { path, size, record } => write!(
                f,
                "{}: size {size} bytes is not a whole number of {record}-byte records",
                path.display()
            ),
            Error::CountMismatch {
                images_path,
                images,
                labels_path,
                labels,
            } => write!(
                f,
                "{} holds {images} images but {} holds {labels} labels",
                images_path.display(),
                labels_path.display()
            ),
            Error::BadLabel {
                path,
                index,
                label,
                allowed,
            } => write!(
                f,
                "{}: item {index} has label {label}, allowed {allowed}",
                path.display()
            ),
            Error::EmptyClass { dir } => write!(
                f,
                "class folder {} holds no .jpg/.jpeg/.png images",
                dir.display()
            ),
            Error::Decode { path, message } => {
                write!(f, "{}: cannot decode image: {message}", path.display())
            }
            Error::Parse { file, line, reason } => write!(f, "{file}:{line}: {reason}"),
            Error::BadSpec { spec, reason } => write!(f, "dataset spec {spec:?}: {reason}"),
            Error::InvalidConfig {
                field,
                value,
                reason,
            } => write!(f, "invalid {field} = {value}: {reason}"),
            Error::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            Error::NonFinite { what, row } => {
                write!(f, "{what}: row {row} holds a NaN or infinite value")
            }
            Error::Checkpoint { path, message } => {
                write!(f, "checkpoint {}: {message}", path.display())
            }
            Error::NonFiniteLoss { epoch, step, value } => write!(
                f,
                "the loss became {value} at epoch {} (step {step}); training stopped and the \
                 last good checkpoint is kept",
                epoch + 1
            ),
            Error::Model(e) => write!(f, "{e}"),
            Error::Device(msg) => write!(f, "device: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T> = std::result::Result<T, Error>;
