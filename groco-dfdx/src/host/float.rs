//! [`LayerFloat`], the element types of the host kernels: the layers' `Cpu` kernels and the
//! losses' host math run on `f32` and `f64`.
//!
//! A `LayerFloat` is a dfdx [`Dtype`] with `num_traits::Float` arithmetic, uniform sampling (for
//! the layers' weight initialisation) and a scratch pool of its own ([`ScratchElement`]). The
//! losses add groco-core's `Real` on top (`loss::LossFloat`).

use dfdx::prelude::Dtype;

use super::scratch::ScratchElement;

/// The element types the host kernels support: `f32` and `f64`.
///
/// ```
/// use groco_dfdx::layers::LayerFloat;
/// fn half<E: LayerFloat>(x: E) -> E {
///     x / (E::one() + E::one())
/// }
/// assert_eq!(half(3.0f32), 1.5);
/// ```
pub trait LayerFloat:
    Dtype
    + num_traits::Float
    + rand_distr::uniform::SampleUniform
    + ScratchElement
    + Send
    + Sync
    + 'static
{
}

impl LayerFloat for f32 {}

impl LayerFloat for f64 {}
