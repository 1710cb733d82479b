//! [`LossDevice`]: where the loss ops run on a dfdx device, and how the host-side ops move data
//! between the device and the host, where groco-core and the CPU kernels of this module run.
//!
//! `groco_loss` and `nt_xent` run device-resident on `Cuda` (and on `Cpu` with
//! [`CpuPath::Composed`]), see [`LossDevice::resident`]. The host ops compute on the host: on
//! `Cpu` that is the tensor's own memory (one `memcpy` in, one out); on `Cuda` (feature `cuda`)
//! the inputs are copied to the host, the core runs there, and the outputs and input gradients
//! are copied back. The copies are of the op's
//! inputs and outputs only (for `groco_loss`, V·B·D values each way), never of the B×B
//! similarity matrices, which live on the host.

use dfdx::prelude::*;

use super::float::LossFloat;
use crate::host::Scratch;
use crate::path::{cpu_path, CpuPath};
#[cfg(feature = "cuda")]
use crate::transfer::{count, Direction};
use crate::transfer::{download, upload};
use crate::Error;

/// A dfdx device the loss ops run on: `Cpu`, and `Cuda` with the `cuda` feature.
pub trait LossDevice<F: LossFloat>: Device<F> + 'static {
    /// Whether the losses run device-resident here (`groco_resident`, `nt_xent_resident`)
    /// rather than on host copies: always on `Cuda`, and on `Cpu` when the thread has selected
    /// [`CpuPath::Composed`].
    fn resident() -> bool;

    /// Copies the gradient buffer `grad` (row-major) into `dst`.
    fn grad_to_host(grad: &<Self as Storage<F>>::Vec, dst: &mut [F]) -> Result<(), Self::Err>;

    /// `grad += scale · src` on a row-major gradient buffer.
    fn grad_add_scaled(
        grad: &mut <Self as Storage<F>>::Vec,
        scale: F,
        src: &[F],
    ) -> Result<(), Self::Err>;
}

fn add_scaled<F: LossFloat>(dst: &mut [F], scale: F, src: &[F]) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += scale * s;
    }
}

macro_rules! cpu_loss_device {
    ($f:ty) => {
        impl LossDevice<$f> for Cpu {
            fn resident() -> bool {
                cpu_path() == CpuPath::Composed
            }

            fn grad_to_host(
                grad: &<Self as Storage<$f>>::Vec,
                dst: &mut [$f],
            ) -> Result<(), Self::Err> {
                dst.copy_from_slice(grad);
                Ok(())
            }

            fn grad_add_scaled(
                grad: &mut <Self as Storage<$f>>::Vec,
                scale: $f,
                src: &[$f],
            ) -> Result<(), Self::Err> {
                add_scaled(grad, scale, src);
                Ok(())
            }
        }
    };
}

cpu_loss_device!(f32);
cpu_loss_device!(f64);

/// `Cuda`: gradients go to the host (`dtoh`), are updated there and come back (`htod`).
#[cfg(feature = "cuda")]
macro_rules! cuda_loss_device {
    ($f:ty) => {
        impl LossDevice<$f> for Cuda {
            fn resident() -> bool {
                true
            }

            fn grad_to_host(
                grad: &<Self as Storage<$f>>::Vec,
                dst: &mut [$f],
            ) -> Result<(), Self::Err> {
                let dev = grad.device();
                dev.dtoh_sync_copy_into(&**grad, dst)?;
                count(
                    Direction::Down,
                    "output gradient (host loss op)",
                    std::mem::size_of_val(dst),
                );
                Ok(())
            }

            fn grad_add_scaled(
                grad: &mut <Self as Storage<$f>>::Vec,
                scale: $f,
                src: &[$f],
            ) -> Result<(), Self::Err> {
                let dev = grad.device();
                let mut host = dev.dtoh_sync_copy(&**grad)?;
                add_scaled(&mut host, scale, src);
                dev.htod_sync_copy_into(&host, &mut **grad)?;
                let bytes = std::mem::size_of_val(&host[..]);
                count(Direction::Down, "input gradient (host loss op)", bytes);
                count(Direction::Up, "input gradient (host loss op)", bytes);
                Ok(())
            }
        }
    };
}

#[cfg(feature = "cuda")]
cuda_loss_device!(f32);
#[cfg(feature = "cuda")]
cuda_loss_device!(f64);

/// The values of a contiguous tensor, row-major, in a pooled host buffer.
pub(crate) fn read_host<S: Shape, F: LossFloat, D: LossDevice<F>, T>(
    t: &Tensor<S, F, D, T>,
) -> Scratch<F> {
    let mut buf = Scratch::take(t.shape().num_elements());
    download(t, &mut buf, "loss op input");
    buf
}

/// A new tensor of `shape` holding `data`, made with `zeros_like` + `copy_from` so that it draws
/// from dfdx's allocation cache (see the crate docs).
pub(crate) fn tensor_from_host<S: Shape, F: LossFloat, D: LossDevice<F>>(
    dev: &D,
    shape: S,
    data: &[F],
) -> Result<Tensor<S, F, D>, Error> {
    upload(dev, shape, data, "loss op output")
}

/// `Err(NonFinite)` naming `what` and the row and column (of rows of `cols` values) of the
/// first NaN or ±inf in `v`.
pub(crate) fn check_finite<F: LossFloat>(
    op: &'static str,
    what: &str,
    v: &[F],
    cols: usize,
) -> Result<(), Error> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            op,
            what: format!("{what} row {} column {}", i / cols.max(1), i % cols.max(1)),
        }),
    }
}

/// Wraps a groco-core error.
pub(crate) fn core_error(op: &'static str) -> impl Fn(groco_core::Error) -> Error {
    move |e| Error::Core {
        op,
        message: e.to_string(),
    }
}
