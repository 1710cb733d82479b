//! The 2-D convolution ops: [`try_conv2d`], [`try_conv2d_no_input_grad`], the fused
//! [`try_conv2d_batch_norm_train`] and its chained form [`try_chain_conv_bn`]; the layers that run them are in `conv2d_layer.rs`.
//!
//! `out[o, y, x, b] = bias[o] + Σ_{c in group(o), ki, kj} w[o, c, ki, kj] · x[c, y*S + ki - P,
//! x*S + kj - P, b]` with zero padding; the weight has PyTorch's shape `(O, C/G, K, K)`.

use dfdx::prelude::*;

use super::chain::ConvBnChain;
use super::device::LayerDevice;
use super::geom::{ConvGeom, Window};
use super::layout::{try_dims, Activation, Dims};
use super::params::{BnParams, Weight4};
use crate::host::LayerFloat;
use crate::Error;

/// Convolution of `x` (`(C, H, W, B)`) with `weight` (`(O, C/groups, K, K)`) and an optional
/// `bias` (`(O,)`): the output is `(O, OH, OW, B)` (see the module docs). The weight and bias are
/// parameters: their gradients go into the tape's gradients under their own ids.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, try_conv2d, Window};
/// let dev = Cpu::default();
/// let x = images_to_activation(&dev, &[1.0f32; 2 * 1 * 4 * 4], 2, 1, 4, 4).unwrap();
/// let w = dev.ones_like(&(3usize, 1usize, 3usize, 3usize));
/// let y = try_conv2d(x, &w, None, Window { kernel: 3, stride: 1, padding: 1 }, 1).unwrap();
/// assert_eq!(*y.shape(), (3, 4, 4, 2));
/// let v = y.as_vec();
/// assert_eq!((v[0], v[(1 * 4 + 1) * 2]), (4.0, 9.0)); // a corner sees 4 pixels, the inside 9
/// ```
pub fn try_conv2d<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
) -> Result<Activation<E, D, T>, Error> {
    conv2d_checked(x, weight, bias, window, groups, true)
}

/// [`try_conv2d`] for a network's first layer: the gradient with respect to `x` (the images) is
/// not computed on `Cpu`, which saves its backward gemm and col2im. The parameters' gradients
/// are unchanged. (The composed `Cuda` path computes it anyway.)
pub fn try_conv2d_no_input_grad<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
) -> Result<Activation<E, D, T>, Error> {
    conv2d_checked(x, weight, bias, window, groups, false)
}

fn conv2d_checked<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
    input_grad: bool,
) -> Result<Activation<E, D, T>, Error> {
    let g = check_conv(try_dims("conv2d", &x)?, weight, bias, window, groups)?;
    D::conv2d(x, weight, bias, &g, input_grad)
}

fn check_conv<E: LayerFloat, D: LayerDevice<E>>(
    input: Dims,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
) -> Result<ConvGeom, Error> {
    const OP: &str = "conv2d";
    let (o, ig, kh, kw) = *weight.shape();
    let g = ConvGeom::try_new(input, o, window, groups)?;
    if (ig, kh, kw) != (input.c / groups, window.kernel, window.kernel) {
        return Err(Error::shape(
            OP,
            format!(
                "weight (O, {}, {}, {}) for {} input channels in {groups} groups",
                input.c / groups,
                window.kernel,
                window.kernel,
                input.c
            ),
            format!("weight {:?}", weight.shape()),
        ));
    }
    if let Some(b) = bias {
        if b.shape().0 != o {
            return Err(Error::shape(
                OP,
                format!("bias of {o} values"),
                format!("bias of {}", b.shape().0),
            ));
        }
    }
    Ok(g)
}

/// [`try_conv2d`] followed by train-mode batch norm (+ ReLU when `relu`) with the parameters
/// in `bn`, as one op: on `Cpu` a fused kernel that keeps the convolution's output in a scratch
/// buffer (faster; same results up to rounding), elsewhere the two ops. `input_grad` false skips
/// the gradient with respect to `x` on `Cpu`, as [`try_conv2d_no_input_grad`] does.
#[allow(clippy::too_many_arguments)]
pub fn try_conv2d_batch_norm_train<
    const C: usize,
    E: LayerFloat,
    D: LayerDevice<E>,
    T: Tape<E, D>,
>(
    x: Activation<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
    bn: BnParams<'_, C, E, D>,
    relu: bool,
    input_grad: bool,
) -> Result<Activation<E, D, T>, Error> {
    let g = check_conv_bn::<C, E, D>(try_dims("conv2d", &x)?, weight, bias, window, groups)?;
    D::conv_bn_train(x, (weight, bias), &g, input_grad, bn, relu)
}

impl<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>> ConvBnChain<E, D, T> {
    /// A chain starting at `x` (`(C, H, W, B)`, not empty).
    pub fn try_new(x: Activation<E, D, T>) -> Result<Self, Error> {
        try_dims("conv_bn_chain", &x)?;
        D::chain_start(x)
    }

    /// The chain's current activation, as a tensor on the tape.
    pub fn try_finish(self) -> Result<Activation<E, D, T>, Error> {
        D::chain_finish(self)
    }
}

/// [`try_conv2d_batch_norm_train`] as one more block of `chain` (see [`ConvBnChain`]).
#[allow(clippy::too_many_arguments)]
pub fn try_chain_conv_bn<const C: usize, E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    chain: ConvBnChain<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
    bn: BnParams<'_, C, E, D>,
    relu: bool,
    input_grad: bool,
) -> Result<ConvBnChain<E, D, T>, Error> {
    let g = check_conv_bn::<C, E, D>(chain.dims(), weight, bias, window, groups)?;
    D::chain_conv_bn(chain, (weight, bias), &g, input_grad, bn, relu)
}

/// The checks of a convolution followed by a train-mode batch norm over `C` channels.
fn check_conv_bn<const C: usize, E: LayerFloat, D: LayerDevice<E>>(
    input: Dims,
    weight: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    window: Window,
    groups: usize,
) -> Result<ConvGeom, Error> {
    let g = check_conv(input, weight, bias, window, groups)?;
    if C != g.out_channels {
        return Err(Error::shape(
            "conv2d_batch_norm",
            format!("batch norm over {} channels", g.out_channels),
            format!("{C}"),
        ));
    }
    if g.cols() < 2 {
        return Err(Error::shape(
            "conv2d_batch_norm",
            "more than one value per channel in train mode",
            "1",
        ));
    }
    Ok(g)
}
