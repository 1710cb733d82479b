//! The parameters the device ops take, by reference: a convolution's weight `(O, C/G, K, K)`
//! and optional bias `(O,)` ([`ConvParams`]), and a batch norm's γ, β and running statistics
//! ([`BnParams`]). The layers own the tensors and lend them to the ops through these.

use dfdx::prelude::*;

/// A convolution weight, `(O, C/G, K, K)`, with runtime sizes.
pub type Weight4<E, D> = Tensor<(usize, usize, usize, usize), E, D>;

/// A convolution's parameters as the device ops take them: weight `(O, C/G, K, K)` and optional
/// bias `(O,)`.
pub type ConvParams<'a, E, D> = (&'a Weight4<E, D>, Option<&'a Tensor<(usize,), E, D>>);

/// The batch norm parameters a train-mode forward reads and updates.
#[derive(Debug)]
pub struct BnParams<'a, const C: usize, E: Dtype, D: Storage<E>> {
    /// γ.
    pub scale: &'a Tensor<Rank1<C>, E, D>,
    /// β.
    pub bias: &'a Tensor<Rank1<C>, E, D>,
    /// Running mean, updated in place.
    pub running_mean: &'a mut Tensor<Rank1<C>, E, D>,
    /// Running (unbiased) variance, updated in place.
    pub running_var: &'a mut Tensor<Rank1<C>, E, D>,
    /// ε added to the variance.
    pub epsilon: f64,
    /// Momentum of the running statistics.
    pub momentum: f64,
}
