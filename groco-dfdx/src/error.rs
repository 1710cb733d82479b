//! The crate's error type: every fallible call returns [`Error`], which names the operation, the
//! field and the offending value.

use std::fmt;

/// What went wrong in a groco-dfdx call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A tensor's shape does not fit the operation.
    Shape {
        /// The operation that rejected the input (for example `"conv2d"`).
        op: &'static str,
        /// What the operation expected.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// A setting that cannot be served (zero stride, padding too large, channels not divisible by
    /// groups, ...).
    Config {
        /// The operation or layer the setting belongs to.
        op: &'static str,
        /// The name of the setting.
        field: &'static str,
        /// The rejected value.
        value: usize,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The dfdx device reported an error (for example out of memory); the text is its `Debug`
    /// form.
    Device(String),
    /// An input tensor holds NaN or ±inf (loss ops).
    NonFinite {
        /// The operation that rejected the input (for example `"groco_loss"`).
        op: &'static str,
        /// Which input, and where (for example `"views[1] row 3 column 7"`).
        what: String,
    },
    /// A real-valued setting that cannot be served (a temperature or steepness that is not
    /// finite and > 0, ...).
    InvalidValue {
        /// The operation the setting belongs to.
        op: &'static str,
        /// The name of the setting.
        field: &'static str,
        /// The rejected value, as text.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// groco-core (the sorting network or the GroCo row loss) refused its input; the text is
    /// the core error's `Display`.
    Core {
        /// The operation that called the core.
        op: &'static str,
        /// The core's error message.
        message: String,
    },
}

impl Error {
    /// A [`Error::Shape`] for `op`.
    pub fn shape(op: &'static str, expected: impl Into<String>, found: impl Into<String>) -> Self {
        Error::Shape {
            op,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// A [`Error::Config`] for `op`.
    pub fn config(
        op: &'static str,
        field: &'static str,
        value: usize,
        reason: &'static str,
    ) -> Self {
        Error::Config {
            op,
            field,
            value,
            reason,
        }
    }

    /// Wraps a dfdx device error.
    pub fn device(err: impl fmt::Debug) -> Self {
        Error::Device(format!("{err:?}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape {
                op,
                expected,
                found,
            } => {
                write!(f, "{op}: expected {expected}, found {found}")
            }
            Error::Config {
                op,
                field,
                value,
                reason,
            } => {
                write!(f, "{op}: {field} = {value} is invalid: {reason}")
            }
            Error::Device(msg) => write!(f, "dfdx device error: {msg}"),
            Error::NonFinite { op, what } => write!(f, "{op}: {what} is not finite (NaN or ±inf)"),
            Error::InvalidValue {
                op,
                field,
                value,
                reason,
            } => {
                write!(f, "{op}: {field} = {value} is invalid: {reason}")
            }
            Error::Core { op, message } => write!(f, "{op}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_op_field_and_value() {
        let e = Error::config("conv2d", "stride", 0, "must be at least 1");
        assert_eq!(
            e.to_string(),
            "conv2d: stride = 0 is invalid: must be at least 1"
        );
        let e = Error::shape("flatten", "4 axes", "(3, 2)");
        assert_eq!(e.to_string(), "flatten: expected 4 axes, found (3, 2)");
        assert!(Error::device("OutOfMemory")
            .to_string()
            .contains("OutOfMemory"));
    }
}
