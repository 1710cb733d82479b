//! The crate's error type: every way a `try_` call can refuse its input.

use core::fmt;

/// Why a `try_` call refused its input. Every variant names the offending argument or value.
///
/// ```
/// use groco_core::{Error, SortConfig, Sorter};
/// let err = Sorter::<f64>::try_new(0, SortConfig::default()).unwrap_err();
/// assert_eq!(err, Error::EmptyInput);
/// assert_eq!(err.to_string(), "empty input: n must be at least 1");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// n = 0, or a batch with no rows.
    EmptyInput,
    /// A slice has the wrong length.
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// The length it must have (for batches: a multiple of this).
        expected: usize,
        /// The length it has.
        actual: usize,
    },
    /// The caller's scratch buffer is shorter than the matching `*scratch_len` function says.
    ScratchTooSmall {
        /// Elements needed.
        needed: usize,
        /// Elements given.
        actual: usize,
    },
    /// An input holds NaN or ±inf.
    NonFinite {
        /// Which argument.
        what: &'static str,
        /// The flat index of the first bad element.
        index: usize,
    },
    /// steepness is not a finite number > 0.
    InvalidSteepness {
        /// The value given.
        value: f64,
    },
    /// art_lambda is not finite and >= 0, is above 1 for logistic_phi (not monotone there, and
    /// the tie slope overflows), or `(1e-10)^art_lambda` under/overflows the float type.
    InvalidArtLambda {
        /// The value given.
        value: f64,
    },
    /// `steepness * (max(x) - min(x))` overflows the float type, so α and its slope would be
    /// NaN.
    Overflow {
        /// Which argument.
        what: &'static str,
    },
    /// The GroCo row loss got fewer candidate negatives than the top-k it keeps.
    TooFewNegatives {
        /// k, the number kept.
        needed: usize,
        /// m, the number given.
        actual: usize,
    },
    /// A size whose scratch or matrix length overflows `usize`.
    TooLarge {
        /// The size asked for.
        n: usize,
    },
    /// A name that `FromStr` does not know (truncated to 32 bytes).
    UnknownName {
        /// What kind of name ("network" or "relaxation").
        what: &'static str,
        /// The name given.
        name: heapless::String<32>,
    },
}

impl Error {
    /// An [`Error::UnknownName`] holding (up to 32 bytes of) `name`.
    pub(crate) fn unknown_name(what: &'static str, name: &str) -> Self {
        let mut s = heapless::String::new();
        for ch in name.chars() {
            if s.push(ch).is_err() {
                break;
            }
        }
        Error::UnknownName { what, name: s }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyInput => write!(f, "empty input: n must be at least 1"),
            Error::LengthMismatch {
                what,
                expected,
                actual,
            } => write!(f, "`{what}` has length {actual}, expected {expected}"),
            Error::ScratchTooSmall { needed, actual } => write!(
                f,
                "scratch has {actual} elements, {needed} needed (see the scratch_len functions)"
            ),
            Error::NonFinite { what, index } => {
                write!(f, "`{what}` holds a non-finite value at index {index}")
            }
            Error::InvalidSteepness { value } => {
                write!(f, "steepness must be finite and > 0, got {value}")
            }
            Error::InvalidArtLambda { value } => write!(
                f,
                "art_lambda must be finite, in [0, 1] for logistic_phi and keep \
                 (1e-10)^art_lambda a normal number in this float type, got {value}"
            ),
            Error::Overflow { what } => write!(
                f,
                "steepness * (max - min) of `{what}` overflows the float type"
            ),
            Error::TooFewNegatives { needed, actual } => write!(
                f,
                "GroCo row loss keeps the top {needed} negatives but got only {actual}"
            ),
            Error::TooLarge { n } => write!(f, "n = {n} is too large: its buffers overflow usize"),
            Error::UnknownName { what, name } => write!(f, "unknown {what} name `{name}`"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_truncates_and_displays() {
        let long = "x".repeat(40);
        match Error::unknown_name("network", &long) {
            Error::UnknownName { what, name } => {
                assert_eq!(what, "network");
                assert_eq!(name.len(), 32);
            }
            e => panic!("unexpected {e:?}"),
        }
        let e = Error::LengthMismatch {
            what: "x",
            expected: 3,
            actual: 2,
        };
        assert_eq!(e.to_string(), "`x` has length 2, expected 3");
    }
}
