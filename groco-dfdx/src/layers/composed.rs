//! Device-generic layers composed of dfdx's own ops. This is the `Cuda` path (no nvcc, no custom
//! kernels); on `Cpu` it serves as an independent reference for the fast kernels.
//!
//! - conv: append one zero pixel per channel (`concat_along`), gather the im2col matrix with
//!   `gather` (padding taps read the zero pixel; the index table is built once per shape and
//!   kept on the device, see `index_cache`), then one (batched, for groups) `matmul`. On a tape,
//!   [`super::conv2d_recompute`] keeps only the layer's input for the backward and gathers the im2col
//!   matrix again there, so at most one layer's im2col matrix is alive at a time;
//! - batch norm: mean and biased variance over `(H, W, B)` per channel with `mean`, running
//!   statistics updated with `axpy` exactly as PyTorch does;
//! - pooling: the same gather, then `max` or `mean` over the taps (padding reads `-inf` for max,
//!   0 for average, which counts padding like PyTorch's default);
//! - global average pool and flatten: `mean` / `permute` + a contiguous copy.

use dfdx::prelude::*;

use super::geom::{ConvGeom, PoolGeom, PoolKind};
use super::index_cache::{cached_gather_table, key, GatherTable};
use super::layout::{Activation, Dims};
use super::params::{BnParams, Weight4};
use crate::host::LayerFloat;
use crate::Error;

type Res<X> = Result<X, Error>;

/// `(C, taps * pixels, B)`.
type Windows<E, D, T> = Tensor<(usize, usize, usize), E, D, T>;

fn dev_err<X, Er: std::fmt::Debug>(r: Result<X, Er>) -> Res<X> {
    r.map_err(Error::device)
}

/// `(C, K*K*OH*OW, B)`: every window tap of every output pixel gathered with `table`, padding
/// filled with `pad`. The pad pixel is a device memset (plus a scalar add when `pad` is not 0):
/// dfdx's `ones_like` on `Cuda` would upload a host buffer of ones at every call.
fn gather_windows<E: LayerFloat, D: Device<E> + ZerosTensor<usize> + CopySlice<usize>, T>(
    x: Activation<E, D, T>,
    table: GatherTable<D>,
    pad: E,
) -> Result<Windows<E, D, T>, D::Err>
where
    T: Tape<E, D>,
{
    let d = Dims::of(&x);
    let dev = x.device().clone();
    let x = x.try_reshape_like(&(d.c, d.h * d.w, d.b))?;
    let mut pad_pixel = dev.try_zeros_like(&(d.c, 1usize, d.b))?;
    if pad != E::zero() {
        pad_pixel = pad_pixel.try_add(pad)?;
    }
    let xp = (x, pad_pixel).try_concat_along(Axis::<1>)?;
    xp.try_gather(table)
}

/// The gather table of a convolution.
pub(crate) fn conv_table<E: Dtype, D>(dev: &D, x: Dims, g: &ConvGeom) -> Res<GatherTable<D>>
where
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize> + 'static,
{
    cached_gather_table::<E, D>(dev, key(x, g.window, g.oh, g.ow))
}

/// Convolution (see the module docs). `w` is `(O, C/G, K, K)`, `bias` `(O,)`.
pub fn conv2d<
    E: LayerFloat,
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize> + 'static,
    T: Tape<E, D>,
>(
    x: Activation<E, D, T>,
    w: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    g: &ConvGeom,
) -> Res<Activation<E, D, T>> {
    let table = conv_table::<E, D>(x.device(), Dims::of(&x), g)?;
    dev_err(conv2d_with_table(x, w, bias, g, table))
}

/// [`conv2d`] with its gather table at hand.
pub(crate) fn conv2d_with_table<E: LayerFloat, D, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    w: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    g: &ConvGeom,
    table: GatherTable<D>,
) -> Result<Activation<E, D, T>, D::Err>
where
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize>,
{
    let n = g.cols();
    let col = gather_windows(x, table, E::zero())?; // (C, KK*S', B)
    let (gr, og) = (g.group_rows(), g.out_channels / g.groups);
    let col = col.try_reshape_like(&(g.groups, gr, n))?;
    let w = w.retaped::<T>().try_reshape_like(&(g.groups, og, gr))?;
    let out = w.try_matmul(col)?; // (G, OG, n)
    let mut out = out.try_reshape_like(&(g.out_channels, n))?;
    if let Some(b) = bias {
        let b = b
            .retaped::<T>()
            .try_broadcast_like::<_, Axis<1>>(&(g.out_channels, n))?;
        out = out.try_add(b)?;
    }
    out.try_reshape_like(&g.output().shape())
}

/// Train-mode batch norm (+ ReLU when `relu`), updating the running statistics.
pub fn batch_norm_train<const C: usize, E: LayerFloat, D: Device<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    p: BnParams<'_, C, E, D>,
    relu: bool,
) -> Res<Activation<E, D, T>> {
    dev_err(batch_norm_train_raw(x, p, relu))
}

/// [`batch_norm_train`] with dfdx's error type.
pub(crate) fn batch_norm_train_raw<const C: usize, E: LayerFloat, D: Device<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    p: BnParams<'_, C, E, D>,
    relu: bool,
) -> Result<Activation<E, D, T>, D::Err> {
    let BnParams {
        scale,
        bias,
        running_mean,
        running_var,
        epsilon,
        momentum,
    } = p;
    let d = Dims::of(&x);
    let n = d.h * d.w * d.b;
    let shape = (Const::<C>, n);
    let x = x.try_reshape_like(&shape)?;
    let mean = x.retaped::<T>().try_mean::<Rank1<C>, Axis<1>>()?;
    running_mean.try_axpy(1.0 - momentum, &mean, momentum)?;
    let centered = x.try_sub(mean.try_broadcast_like(&shape)?)?;
    let var = centered
        .retaped::<T>()
        .try_square()?
        .try_mean::<Rank1<C>, Axis<1>>()?;
    // PyTorch: unbiased variance in the running estimate, biased for normalising
    let unbias = n as f64 / (n as f64 - 1.0).max(1.0);
    running_var.try_axpy(1.0 - momentum, &var, momentum * unbias)?;
    let std = var
        .try_add(E::from_f64(epsilon).unwrap_or_else(E::zero))?
        .try_sqrt()?;
    let a = scale
        .retaped::<T>()
        .try_div(std)?
        .try_broadcast_like(&shape)?;
    let b = bias.retaped::<T>().try_broadcast_like(&shape)?;
    let mut y = centered.try_mul(a)?.try_add(b)?;
    if relu {
        y = y.try_relu()?;
    }
    y.try_reshape_like(&d.shape())
}

/// Eval-mode batch norm (+ ReLU when `relu`) with the running statistics; any tape.
pub fn batch_norm_eval<const C: usize, E: LayerFloat, D: Device<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    scale: &Tensor<Rank1<C>, E, D>,
    bias: &Tensor<Rank1<C>, E, D>,
    running_mean: &Tensor<Rank1<C>, E, D>,
    running_var: &Tensor<Rank1<C>, E, D>,
    epsilon: f64,
    relu: bool,
) -> Res<Activation<E, D, T>> {
    let d = Dims::of(&x);
    let shape = (Const::<C>, d.h * d.w * d.b);
    let x = dev_err(x.try_reshape_like(&shape))?;
    let eps = E::from_f64(epsilon).unwrap_or_else(E::zero);
    let std = dev_err(running_var.clone().try_add(eps).and_then(|v| v.try_sqrt()))?;
    // y = (x - mean) * (scale / std) + bias
    let a = dev_err(scale.retaped::<T>().try_div(std))?;
    let centered = dev_err(x.try_sub(dev_err(running_mean.clone().try_broadcast_like(&shape))?))?;
    let y = dev_err(centered.try_mul(dev_err(a.try_broadcast_like(&shape))?))?;
    let mut y = dev_err(y.try_add(dev_err(bias.retaped::<T>().try_broadcast_like(&shape))?))?;
    if relu {
        y = dev_err(y.try_relu())?;
    }
    dev_err(y.try_reshape_like(&d.shape()))
}

/// Max or average pooling.
pub fn pool2d<
    E: LayerFloat,
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize> + 'static,
    T: Tape<E, D>,
>(
    x: Activation<E, D, T>,
    p: &PoolGeom,
) -> Res<Activation<E, D, T>> {
    let k = p.window.kernel;
    let pad = match p.kind {
        PoolKind::Max => E::neg_infinity(),
        PoolKind::Avg => E::zero(),
    };
    let d = p.input;
    let table = cached_gather_table::<E, D>(x.device(), key(d, p.window, p.oh, p.ow))?;
    let taps = dev_err(gather_windows(x, table, pad))?; // (C, KK*S', B)
    let s = p.oh * p.ow;
    let taps = dev_err(taps.try_reshape_like(&(d.c, k * k, s * d.b)))?;
    let out: Tensor<(usize, usize), E, D, T> = match p.kind {
        PoolKind::Max => dev_err(taps.try_max::<_, Axis<1>>())?,
        PoolKind::Avg => dev_err(taps.try_mean::<_, Axis<1>>())?,
    };
    dev_err(out.try_reshape_like(&p.output().shape()))
}

/// Global average pooling to `(B, C)` rows.
pub fn global_avg_pool<E: LayerFloat, D: Device<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
) -> Res<Tensor<(usize, usize), E, D, T>> {
    let d = Dims::of(&x);
    let x = dev_err(x.try_reshape_like(&(d.c, d.h * d.w, d.b)))?;
    let m: Tensor<(usize, usize), E, D, T> = dev_err(x.try_mean::<_, Axis<1>>())?;
    dev_err(
        m.try_permute::<_, Axes2<1, 0>>()
            .and_then(|t| t.try_contiguous()),
    )
}

/// Flatten to `(B, C*H*W)` rows in PyTorch's NCHW order.
pub fn flatten<E: LayerFloat, D: Device<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
) -> Res<Tensor<(usize, usize), E, D, T>> {
    let d = Dims::of(&x);
    let x = dev_err(x.try_reshape_like(&(d.c * d.h * d.w, d.b)))?;
    dev_err(
        x.try_permute::<_, Axes2<1, 0>>()
            .and_then(|t| t.try_contiguous()),
    )
}
