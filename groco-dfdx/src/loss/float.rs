//! [`LossFloat`], the element types of the loss ops (`f32` and `f64`), and [`cst`], the
//! conversion of the losses' `f64` settings and counts to them.
//!
//! A `LossFloat` is a host element type ([`LayerFloat`]: a dfdx `Dtype` with a scratch pool)
//! that groco-core's sorting networks and row losses also run on ([`groco_core::Real`]).

use crate::host::LayerFloat;

/// The element types of the loss ops: `f32` and `f64` (a dfdx `Dtype` that is also a
/// groco-core [`groco_core::Real`]).
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::loss::{nt_xent, LossDevice, LossFloat};
/// fn loss<F: LossFloat>(z: [Tensor<(usize, usize), F, Cpu>; 2]) -> Result<F, groco_dfdx::Error>
/// where
///     Cpu: LossDevice<F>,
/// {
///     Ok(nt_xent(z, 0.5)?.array())
/// }
/// let dev = Cpu::default();
/// let z: [Tensor<(usize, usize), f64, _>; 2] =
///     [dev.sample_normal_like(&(4, 3)), dev.sample_normal_like(&(4, 3))];
/// assert!(loss(z)? > 0.0);
/// # Ok::<(), groco_dfdx::Error>(())
/// ```
pub trait LossFloat: LayerFloat + groco_core::Real {}

impl<F: LayerFloat + groco_core::Real> LossFloat for F {}

/// `v` as `F` (NaN if it does not convert).
#[inline]
pub(crate) fn cst<F: LossFloat>(v: f64) -> F {
    <F as num_traits::NumCast>::from(v).unwrap_or_else(F::nan)
}
