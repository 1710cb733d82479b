//! Convolution (and convolution + batch norm + ReLU) that trades compute for memory on a tape:
//! the forward keeps only its inputs, and the backward runs the composed forward again on a
//! nested tape to get the input and parameter gradients.
//!
//! The composed convolution's `matmul` would otherwise keep its im2col matrix, K²·C·OH·OW·B
//! values per layer, until the backward: for resnet18 at 2×256 images of 32 px that is several
//! GB over the network. Recomputed, the matrix of one layer lives only while that layer's
//! backward runs (with its gradient, which the `matmul` backward forms).
//!
//! The nested backward adds into the outer gradients in place: the outer accumulators of the
//! inputs are moved into the nested gradient store before it runs and moved back after, so the
//! results are those of the plain composed convolution (the same dfdx ops in the same order).

use dfdx::prelude::*;

use super::composed;
use super::geom::ConvGeom;
use super::layout::{Activation, Dims};
use super::params::{BnParams, ConvParams, Weight4};
use crate::host::LayerFloat;
use crate::Error;

/// [`composed::conv2d`] with recomputation (see the module docs): same values, same gradients,
/// only `x`, `w` and `bias` kept for the backward.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{composed, conv2d_recompute, ConvGeom, Dims, Window};
/// let dev = Cpu::default();
/// let x: Tensor<(usize, usize, usize, usize), f64, _> = dev.sample_normal_like(&(2, 5, 5, 3));
/// let w: Tensor<(usize, usize, usize, usize), f64, _> = dev.sample_normal_like(&(4, 2, 3, 3));
/// let win = Window { kernel: 3, stride: 2, padding: 1 };
/// let g = ConvGeom::try_new(Dims::of(&x), 4, win, 1).unwrap();
/// let a = conv2d_recompute(x.leaky_trace(), &w.clone(), None, &g).unwrap();
/// let b = composed::conv2d(x.leaky_trace(), &w, None, &g).unwrap();
/// assert_eq!(a.as_vec(), b.as_vec());
/// let (ga, gb) = (a.square().sum().backward(), b.square().sum().backward());
/// assert_eq!(ga.get(&x).as_vec(), gb.get(&x).as_vec());
/// assert_eq!(ga.get(&w).as_vec(), gb.get(&w).as_vec());
/// ```
pub fn conv2d_recompute<E, D, T>(
    x: Activation<E, D, T>,
    w: &Weight4<E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    g: &ConvGeom,
) -> Result<Activation<E, D, T>, Error>
where
    E: LayerFloat,
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize> + 'static,
    T: Tape<E, D>,
{
    let (x, mut tape) = x.split_tape();
    let table = composed::conv_table::<E, D>(x.device(), Dims::of(&x), g)?;
    let out =
        composed::conv2d_with_table(x.clone(), w, bias, g, table.clone()).map_err(Error::device)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let out_ghost = out.ghost();
    let (w, bias, g) = (w.clone(), bias.cloned(), *g);
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&out_ghost)?;
        let gout = grads.get(&out_ghost);
        let mut inner = Gradients::leaky();
        let swap_in = |outer: &mut Gradients<E, D>, inner: &mut Gradients<E, D>| {
            std::mem::swap(outer.get_or_alloc_mut(&x)?, inner.get_or_alloc_mut(&x)?);
            std::mem::swap(outer.get_or_alloc_mut(&w)?, inner.get_or_alloc_mut(&w)?);
            if let Some(b) = &bias {
                std::mem::swap(outer.get_or_alloc_mut(b)?, inner.get_or_alloc_mut(b)?);
            }
            Ok::<(), D::Err>(())
        };
        swap_in(grads, &mut inner)?;
        let xt = x.clone().traced(inner);
        let y = composed::conv2d_with_table(xt, &w, bias.as_ref(), &g, table)?;
        let mut inner = y.try_mul(gout)?.try_sum()?.try_backward()?;
        swap_in(grads, &mut inner)
    });
    Ok(out.put_tape(tape))
}

/// Convolution, train-mode batch norm and (with `relu`) ReLU as one recomputed block: the
/// forward keeps only the block's input `x` (and the parameters), updates the running
/// statistics once, and the backward runs the three composed ops again on a nested tape (with
/// throw-away copies of the running statistics, so they are updated once). Same values and
/// gradients as [`composed::conv2d`] followed by [`composed::batch_norm_train`]; what the block
/// keeps for the backward is its input, instead of the im2col matrix and the batch norm's
/// intermediates (several activations each).
pub fn conv_bn_recompute<const C: usize, E, D, T>(
    x: Activation<E, D, T>,
    conv: ConvParams<'_, E, D>,
    g: &ConvGeom,
    bn: BnParams<'_, C, E, D>,
    relu: bool,
) -> Result<Activation<E, D, T>, Error>
where
    E: LayerFloat,
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize> + 'static,
    T: Tape<E, D>,
{
    let (x, mut tape) = x.split_tape();
    let table = composed::conv_table::<E, D>(x.device(), Dims::of(&x), g)?;
    let z = composed::conv2d_with_table(x.clone(), conv.0, conv.1, g, table.clone())
        .map_err(Error::device)?;
    let (scale, shift, eps, mom) = (bn.scale.clone(), bn.bias.clone(), bn.epsilon, bn.momentum);
    let out = composed::batch_norm_train(z, bn, relu)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let out_ghost = out.ghost();
    let (w, bias, g) = (conv.0.clone(), conv.1.cloned(), *g);
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&out_ghost)?;
        let gout = grads.get(&out_ghost);
        let mut inner = Gradients::leaky();
        let swap_in = |outer: &mut Gradients<E, D>, inner: &mut Gradients<E, D>| {
            std::mem::swap(outer.get_or_alloc_mut(&x)?, inner.get_or_alloc_mut(&x)?);
            std::mem::swap(outer.get_or_alloc_mut(&w)?, inner.get_or_alloc_mut(&w)?);
            if let Some(b) = &bias {
                std::mem::swap(outer.get_or_alloc_mut(b)?, inner.get_or_alloc_mut(b)?);
            }
            std::mem::swap(
                outer.get_or_alloc_mut(&scale)?,
                inner.get_or_alloc_mut(&scale)?,
            );
            std::mem::swap(
                outer.get_or_alloc_mut(&shift)?,
                inner.get_or_alloc_mut(&shift)?,
            );
            Ok::<(), D::Err>(())
        };
        swap_in(grads, &mut inner)?;
        let xt = x.clone().traced(inner);
        let z = composed::conv2d_with_table(xt, &w, bias.as_ref(), &g, table)?;
        // the running statistics were updated by the forward: these copies are dropped
        let (mut rm, mut rv) = (scale.device().try_zeros()?, scale.device().try_zeros()?);
        let p = BnParams {
            scale: &scale,
            bias: &shift,
            running_mean: &mut rm,
            running_var: &mut rv,
            epsilon: eps,
            momentum: mom,
        };
        let y = composed::batch_norm_train_raw(z, p, relu)?;
        let mut inner = y.try_mul(gout)?.try_sum()?.try_backward()?;
        swap_in(grads, &mut inner)
    });
    Ok(out.put_tape(tape))
}
