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

/// The gradient of an op's output (given by its ghost), as a tensor, leaving a zero-length
/// buffer in its place: the ops that read it have all run (they came later in the forward), and
/// dfdx would otherwise keep it until the whole backward ends. (A macro: dfdx does not name the
/// ghost's type outside the crate.)
macro_rules! take_grad {
    ($grads:expr, $ghost:expr) => {{
        $grads.try_alloc_for(&$ghost)?;
        let g = $grads.get(&$ghost);
        *$grads.get_or_alloc_mut(&$ghost)? = Storage::<E>::try_alloc_len(g.device(), 0)?;
        g
    }};
}

use super::geom::ConvGeom;
use super::index_cache::GatherTable;
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
    let conv = Saved::new(x, (w, bias), g)?;
    let out = conv.output().map_err(Error::device)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let out_ghost = out.ghost();
    tape.add_backward_op(move |grads| {
        let gout = take_grad!(grads, out_ghost);
        conv.backward(grads, gout)
    });
    Ok(out.put_tape(tape))
}

/// What a recomputed convolution keeps for its backward: its input and parameters.
struct Saved<E: LayerFloat, D: Storage<E> + Storage<usize>> {
    x: Activation<E, D>,
    w: Weight4<E, D>,
    bias: Option<Tensor<(usize,), E, D>>,
    g: ConvGeom,
    table: GatherTable<D>,
}

/// Runs the nested tape of `y` backward from the output gradient `gout`: the backward of
/// Σ y ⊙ gout, computed as a 1×N by N×1 `matmul` so that dfdx forms only dL/dy (= gout) and the
/// (discarded) gradient of gout, not a product and its gradient as well.
fn backward_from<E: LayerFloat, D: Device<E>>(
    y: Activation<E, D, OwnedTape<E, D>>,
    gout: Activation<E, D>,
) -> Result<Gradients<E, D>, D::Err> {
    let n = y.shape().num_elements();
    let row = y.try_reshape_like(&(1usize, n))?;
    let col = gout.try_reshape_like(&(n, 1usize))?;
    let dot = row.try_matmul(col)?; // (1, 1)
    dot.try_reshape_like(&())?.try_backward()
}

/// Moves the gradient accumulator of `t` from `from` to `to` (and `to`'s to `from`).
fn swap<S: Shape, E: Dtype, D: Storage<E>>(
    t: &Tensor<S, E, D>,
    a: &mut Gradients<E, D>,
    b: &mut Gradients<E, D>,
) -> Result<(), D::Err> {
    std::mem::swap(a.get_or_alloc_mut(t)?, b.get_or_alloc_mut(t)?);
    Ok(())
}

impl<E, D> Saved<E, D>
where
    E: LayerFloat,
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize>,
{
    /// What a convolution of `x` with `conv` keeps (its gather table fetched or built).
    fn new(x: Activation<E, D>, conv: ConvParams<'_, E, D>, g: &ConvGeom) -> Result<Self, Error>
    where
        D: 'static,
    {
        let table = composed::conv_table::<E, D>(x.device(), Dims::of(&x), g)?;
        Ok(Saved {
            x,
            w: conv.0.clone(),
            bias: conv.1.cloned(),
            g: *g,
            table,
        })
    }

    /// The convolution's output, without a tape (its im2col matrix is dropped at once).
    fn output(&self) -> Result<Activation<E, D>, D::Err> {
        let (x, t) = (self.x.clone(), self.table.clone());
        composed::conv2d_with_table(x, &self.w, self.bias.as_ref(), &self.g, t)
    }

    /// Adds dL/dx, dL/dw and dL/dbias for an output gradient `gout` into `grads`: the composed
    /// convolution again on a nested tape whose accumulators are the outer ones, moved in.
    fn backward(&self, grads: &mut Gradients<E, D>, gout: Activation<E, D>) -> Result<(), D::Err> {
        let mut inner = Gradients::leaky();
        let swap_in = |outer: &mut Gradients<E, D>, inner: &mut Gradients<E, D>| {
            swap(&self.x, outer, inner)?;
            swap(&self.w, outer, inner)?;
            self.bias.as_ref().map_or(Ok(()), |b| swap(b, outer, inner))
        };
        swap_in(grads, &mut inner)?;
        let xt = self.x.clone().traced(inner);
        let t = self.table.clone();
        let y = composed::conv2d_with_table(xt, &self.w, self.bias.as_ref(), &self.g, t)?;
        let mut inner = backward_from(y, gout)?;
        swap_in(grads, &mut inner)
    }
}

/// Convolution, train-mode batch norm and (with `relu`) ReLU as one recomputed block: the
/// forward keeps only the block's input `x` (and the parameters) and updates the running
/// statistics once. The backward runs in two stages, so that the batch norm's intermediates and
/// the im2col matrix are never alive together: the batch norm (+ ReLU) again on a nested tape
/// from the recomputed convolution output (with throw-away copies of the running statistics),
/// then the convolution's backward as in [`conv2d_recompute`]. Same values and
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
    let conv = Saved::new(x, conv, g)?;
    let z = conv.output().map_err(Error::device)?;
    let (scale, shift, eps, mom) = (bn.scale.clone(), bn.bias.clone(), bn.epsilon, bn.momentum);
    let out = composed::batch_norm_train(z, bn, relu)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let out_ghost = out.ghost();
    tape.add_backward_op(move |grads| {
        let gout = take_grad!(grads, out_ghost);
        // stage 1, batch norm: from the convolution's output recomputed without a tape
        let z = conv.output()?;
        let mut inner = Gradients::leaky();
        swap(&scale, grads, &mut inner)?;
        swap(&shift, grads, &mut inner)?;
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
        let y = composed::batch_norm_train_raw(z.clone().traced(inner), p, relu)?;
        let mut inner = backward_from(y, gout)?;
        swap(&scale, grads, &mut inner)?;
        swap(&shift, grads, &mut inner)?;
        let gz = inner.get(&z);
        drop(inner); // the batch norm's intermediate gradients, before the im2col matrix comes
                     // stage 2, the convolution
        conv.backward(grads, gz)
    });
    Ok(out.put_tape(tape))
}
