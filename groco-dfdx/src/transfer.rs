//! The one place where this workspace's code copies values between the host and a dfdx device,
//! and the log that counts those copies.
//!
//! Every host → device copy goes through [`upload`] and every device → host copy through
//! [`download`] (or [`download_scalar`]). Each call names what it moves. On the calling thread, a
//! [`TransferLog`] opened with [`record`] collects every copy made while its closure runs, so a
//! test can run one training step and assert exactly what crossed the bus:
//!
//! ```
//! use dfdx::prelude::*;
//! use groco_dfdx::transfer::{download_scalar, record, upload, Direction};
//! let dev = Cpu::default();
//! let ((), log) = record(|| {
//!     let x = upload(&dev, (3,), &[1.0f32, 2.0, 3.0], "values").unwrap();
//!     assert_eq!(download_scalar(&x.sum(), "sum"), 6.0);
//! });
//! assert_eq!(log.count(Direction::Up), 1);
//! assert_eq!(log.bytes(Direction::Down), 4);
//! assert_eq!(log.whats(), vec!["values", "sum"]);
//! ```
//!
//! On `Cpu` these are plain `memcpy`s, counted all the same: the device-generic code paths run
//! on `Cpu` in the tests, and what they would copy on `Cuda` is what the log shows. dfdx's own
//! kernels also send small launch descriptors (shapes and strides) to the GPU; those are dfdx's,
//! not this workspace's, and are not counted.

use std::cell::RefCell;

use dfdx::prelude::*;

use crate::Error;

/// Which way a copy went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Host → device.
    Up,
    /// Device → host.
    Down,
}

/// One recorded copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Which way.
    pub direction: Direction,
    /// What was moved (the caller's name for it).
    pub what: &'static str,
    /// How many bytes.
    pub bytes: usize,
}

/// The copies made on one thread while a [`record`] closure ran, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferLog {
    /// Every copy, in order.
    pub transfers: Vec<Transfer>,
}

impl TransferLog {
    /// Number of copies in `direction`.
    pub fn count(&self, direction: Direction) -> usize {
        self.transfers
            .iter()
            .filter(|t| t.direction == direction)
            .count()
    }

    /// Bytes copied in `direction`.
    pub fn bytes(&self, direction: Direction) -> usize {
        self.transfers
            .iter()
            .filter(|t| t.direction == direction)
            .map(|t| t.bytes)
            .sum()
    }

    /// The names of the copies, in order.
    pub fn whats(&self) -> Vec<&'static str> {
        self.transfers.iter().map(|t| t.what).collect()
    }
}

thread_local! {
    static LOG: RefCell<Option<TransferLog>> = const { RefCell::new(None) };
}

fn note(direction: Direction, what: &'static str, bytes: usize) {
    LOG.with(|l| {
        if let Some(log) = l.borrow_mut().as_mut() {
            log.transfers.push(Transfer {
                direction,
                what,
                bytes,
            });
        }
    });
}

/// Runs `f` and returns what it returned with the log of the copies it made on this thread.
/// Nested calls: the inner call's copies go to the inner log only.
pub fn record<R>(f: impl FnOnce() -> R) -> (R, TransferLog) {
    let outer = LOG.with(|l| l.borrow_mut().replace(TransferLog::default()));
    let out = f();
    let log = LOG.with(|l| std::mem::replace(&mut *l.borrow_mut(), outer));
    (out, log.unwrap_or_default())
}

/// A new tensor of `shape` on `dev` holding `data` (row-major), made with `zeros_like` +
/// `copy_from` so that it draws from dfdx's allocation cache (see the crate docs).
pub fn upload<S: Shape, E: Unit, D: Storage<E> + CopySlice<E> + ZerosTensor<E>>(
    dev: &D,
    shape: S,
    data: &[E],
    what: &'static str,
) -> Result<Tensor<S, E, D>, Error> {
    if shape.num_elements() != data.len() {
        return Err(Error::shape(
            "upload",
            format!("{} values for {what}", shape.num_elements()),
            format!("{} values", data.len()),
        ));
    }
    let mut t = dev.try_zeros_like(&shape).map_err(Error::device)?;
    t.copy_from(data);
    note(Direction::Up, what, std::mem::size_of_val(data));
    Ok(t)
}

/// Overwrites the values of `t` with `data` (row-major; lengths must match).
pub fn upload_into<S: Shape, E: Unit, D: Storage<E> + CopySlice<E>>(
    t: &mut Tensor<S, E, D>,
    data: &[E],
    what: &'static str,
) -> Result<(), Error> {
    if t.shape().num_elements() != data.len() {
        return Err(Error::shape(
            "upload_into",
            format!("{} values for {what}", t.shape().num_elements()),
            format!("{} values", data.len()),
        ));
    }
    t.copy_from(data);
    note(Direction::Up, what, std::mem::size_of_val(data));
    Ok(())
}

/// Records a copy that device-specific code made itself (`bytes` in `direction`), for copies
/// that cannot go through [`upload`] or [`download`] (a gradient buffer on `Cuda`, say).
pub fn count(direction: Direction, what: &'static str, bytes: usize) {
    note(direction, what, bytes);
}

/// Copies the values of a contiguous tensor into `dst` (row-major; dfdx copies the buffer as
/// it lies, so `t` must be contiguous).
pub fn download<S: Shape, E: Unit, D: Storage<E> + CopySlice<E>, T>(
    t: &Tensor<S, E, D, T>,
    dst: &mut [E],
    what: &'static str,
) {
    t.copy_into(dst);
    note(Direction::Down, what, std::mem::size_of_val(dst));
}

/// The values of a tensor as a new `Vec` (row-major, strides followed).
pub fn download_vec<S: Shape, E: Unit, D: Storage<E> + CopySlice<E>, T>(
    t: &Tensor<S, E, D, T>,
    what: &'static str,
) -> Vec<E> {
    let v = t.as_vec();
    note(Direction::Down, what, std::mem::size_of_val(&v[..]));
    v
}

/// The value of a scalar tensor.
pub fn download_scalar<E: Unit, D: Storage<E> + CopySlice<E>, T>(
    t: &Tensor<Rank0, E, D, T>,
    what: &'static str,
) -> E {
    let mut v = [E::default()];
    download(t, &mut v, what);
    v[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_logs_keep_their_own_copies() {
        let dev = Cpu::default();
        let (inner, outer) = record(|| {
            upload(&dev, (2,), &[1.0f64, 2.0], "a").unwrap();
            let ((), inner) = record(|| {
                upload(&dev, (1,), &[3.0f64], "b").unwrap();
            });
            inner
        });
        assert_eq!(inner.whats(), vec!["b"]);
        assert_eq!(outer.whats(), vec!["a"]);
        assert_eq!(outer.bytes(Direction::Up), 16);
    }

    #[test]
    fn wrong_length_is_an_error() {
        let dev = Cpu::default();
        let err = upload(&dev, (3,), &[1.0f32], "three").unwrap_err();
        assert!(err.to_string().contains("three"), "{err}");
    }
}
