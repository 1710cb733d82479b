//! The fused convolution + train-mode batch norm (+ ReLU) `Cpu` kernel: the same math as
//! `conv2d_cpu` (the gemms of `conv_gemm`) followed by `batch_norm_cpu`, but the convolution's
//! output `z` and its gradient `dz` stay in scratch buffers instead of becoming a dfdx tensor
//! and a dfdx gradient, which saves about five passes over `z` per step.
//!
//! Backward: `dz = BN'(gout)` (overwriting, not accumulating), then `dW = dz · colᵀ`,
//! `db = Σ dz`, `dcol = Wᵀ · dz`, `dx += col2im(dcol)`.
//!
//! [`block_forward`] runs one block on host buffers and returns what its backward needs
//! ([`BlockTape`]); [`conv_bn_train`] wraps one block as a dfdx op, and `chain.rs` runs several
//! blocks back to back on host buffers.

use dfdx::prelude::*;

use super::batch_norm_cpu::{BnHost, BnState};
use super::conv_gemm::{add_input_grad, backward_gemm, columns, forward_gemm, ParamGrads};
use super::geom::ConvGeom;
use super::layout::Activation;
use super::params::ConvParams;
use crate::host::gemm::add_assign;
use crate::host::{cpu_tensor, read_cpu, LayerFloat, Scratch};
use crate::Error;

/// The batch norm half of the fused op: γ and β (for their gradients' ids), host values and the
/// running statistics to update.
pub(crate) struct FusedBn<'a, E: LayerFloat, SG: Shape, SB: Shape> {
    pub scale: &'a Tensor<SG, E, Cpu>,
    pub bias: &'a Tensor<SB, E, Cpu>,
    pub host: BnHost,
    pub running: (&'a mut [E], &'a mut [E]),
    pub relu: bool,
}

/// Adds a block's parameter gradients `(dγ, dβ, dW, db)` into their accumulators in `grads`.
type ParamSink<E> =
    Box<dyn FnOnce(&mut Gradients<E, Cpu>, &[E], &[E], &[E], Option<&[E]>) -> Result<(), CpuError>>;

/// What one block keeps for its backward: the im2col matrix, the convolution's output, the
/// batch norm's state, the weight, and where its parameters' gradients go.
pub(crate) struct BlockTape<E: LayerFloat> {
    col: Scratch<E>,
    z: Scratch<E>,
    state: BnState<E>,
    wbuf: Scratch<E>,
    pub g: ConvGeom,
    input_grad: bool,
    bias: bool,
    sink: ParamSink<E>,
}

/// One block forward from the host input `xbuf`: returns its output and, with `keep`, its
/// [`BlockTape`]. Updates the running statistics.
pub(crate) fn block_forward<E: LayerFloat, SG: Shape, SB: Shape>(
    xbuf: Scratch<E>,
    (w, bias): ConvParams<'_, E, Cpu>,
    g: &ConvGeom,
    input_grad: bool,
    bn: FusedBn<'_, E, SG, SB>,
    keep: bool,
) -> (Scratch<E>, Option<BlockTape<E>>) {
    let n = g.cols();
    let wbuf = read_cpu(w);
    let bbuf = bias.map(read_cpu);
    let col = columns(xbuf, g);
    let mut z = Scratch::take(g.out_channels * n);
    forward_gemm(&mut z, &wbuf, &col, bbuf.as_deref(), g);
    let (state, y) = BnState::forward(&z, n, &bn.host, bn.running, bn.relu);
    if !keep {
        return (y, None);
    }
    let (w_ghost, b_ghost) = (w.ghost(), bias.map(|b| b.ghost()));
    let (g_ghost, beta_ghost) = (bn.scale.ghost(), bn.bias.ghost());
    let sink: ParamSink<E> = Box::new(move |grads, dgamma, dbeta, dw, db| {
        add_assign(grads.get_or_alloc_mut(&g_ghost)?, dgamma);
        add_assign(grads.get_or_alloc_mut(&beta_ghost)?, dbeta);
        add_assign(grads.get_or_alloc_mut(&w_ghost)?, dw);
        if let (Some(bg), Some(db)) = (&b_ghost, db) {
            add_assign(grads.get_or_alloc_mut(bg)?, db);
        }
        Ok(())
    });
    let tape = BlockTape {
        col,
        z,
        state,
        wbuf,
        g: *g,
        input_grad,
        bias: bias.is_some(),
        sink,
    };
    (y, Some(tape))
}

impl<E: LayerFloat> BlockTape<E> {
    /// The batch norm's backward from the block's output gradient: `dz` and per channel
    /// `(dβ, dγ)`.
    pub(crate) fn bn_backward(&self, gout: &[E]) -> (Scratch<E>, Vec<(E, E)>) {
        let mut dz = Scratch::<E>::take(self.z.len());
        let sums = self.state.backward(&self.z, gout, &mut dz, false);
        (dz, sums)
    }

    /// The rest of the backward from [`BlockTape::bn_backward`]'s results: adds the parameter
    /// gradients into `grads` and returns `dcol` (the im2col matrix's gradient) if the block
    /// computes its input's gradient.
    pub(crate) fn finish(
        self,
        grads: &mut Gradients<E, Cpu>,
        dz: Scratch<E>,
        sums: Vec<(E, E)>,
    ) -> Result<Option<Scratch<E>>, CpuError> {
        let BlockTape {
            mut col,
            z,
            wbuf,
            g,
            input_grad,
            bias,
            sink,
            ..
        } = self;
        drop(z);
        let (dbeta, dgamma): (Vec<E>, Vec<E>) = sums.iter().copied().unzip();
        let ParamGrads { dw, db } = backward_gemm(&dz, &mut col, &wbuf, &g, bias, input_grad);
        drop(dz);
        sink(grads, &dgamma, &dbeta, &dw, db.as_deref())?;
        Ok(input_grad.then_some(col))
    }
}

/// Convolution then train-mode batch norm (+ ReLU); shapes were checked by the caller.
pub(crate) fn conv_bn_train<E: LayerFloat, T: Tape<E, Cpu>, SG: Shape, SB: Shape>(
    x: Activation<E, Cpu, T>,
    conv: ConvParams<'_, E, Cpu>,
    g: &ConvGeom,
    input_grad: bool,
    bn: FusedBn<'_, E, SG, SB>,
) -> Result<Activation<E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let (y, block) = block_forward(read_cpu(&x), conv, g, input_grad, bn, T::OWNS_TAPE);
    let out = cpu_tensor(&dev, g.output().shape(), &y)?;
    drop(y);
    let Some(block) = block else {
        return Ok(out.put_tape(tape));
    };
    let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
    drop(x);
    tape.add_backward_op(move |grads| {
        let (dz, sums) = block.bn_backward(grads.get_or_alloc_mut(&out_ghost)?);
        let g = block.g;
        if let Some(dcol) = block.finish(grads, dz, sums)? {
            add_input_grad(&dcol, grads.get_or_alloc_mut(&x_ghost)?, &g);
        }
        Ok(())
    });
    Ok(out.put_tape(tape))
}
