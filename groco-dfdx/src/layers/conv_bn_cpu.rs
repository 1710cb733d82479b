//! The fused convolution + train-mode batch norm (+ ReLU) `Cpu` kernel: the same math as
//! `conv2d_cpu` (the gemms of `conv_gemm`) followed by `batch_norm_cpu`, but the convolution's
//! output `z` and its gradient `dz` stay in scratch buffers instead of becoming a dfdx tensor
//! and a dfdx gradient, which saves about five passes over `z` per step.
//!
//! Backward: `dz = BN'(gout)` (overwriting, not accumulating), then `dW = dz · colᵀ`,
//! `db = Σ dz`, `dcol = Wᵀ · dz`, `dx += col2im(dcol)`.

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

/// Convolution then train-mode batch norm (+ ReLU); shapes were checked by the caller.
pub(crate) fn conv_bn_train<E: LayerFloat, T: Tape<E, Cpu>, SG: Shape, SB: Shape>(
    x: Activation<E, Cpu, T>,
    (w, bias): ConvParams<'_, E, Cpu>,
    g: &ConvGeom,
    input_grad: bool,
    bn: FusedBn<'_, E, SG, SB>,
) -> Result<Activation<E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let n = g.cols();
    let wbuf = read_cpu(w);
    let bbuf = bias.map(read_cpu);
    let col = columns(read_cpu(&x), g);
    let mut z = Scratch::take(g.out_channels * n);
    forward_gemm(&mut z, &wbuf, &col, bbuf.as_deref(), g);
    let (state, y) = BnState::forward(&z, n, &bn.host, bn.running, bn.relu);
    let out = cpu_tensor(&dev, g.output().shape(), &y)?;
    drop(y);
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let (x_ghost, w_ghost, out_ghost) = (x.ghost(), w.ghost(), out.ghost());
    let (g_ghost, beta_ghost) = (bn.scale.ghost(), bn.bias.ghost());
    let b_ghost = bias.map(|b| b.ghost());
    drop(x);
    let g = *g;
    tape.add_backward_op(move |grads| {
        let mut col = col;
        let mut dz = Scratch::<E>::take(z.len());
        let sums = {
            let gout: &[E] = grads.get_or_alloc_mut(&out_ghost)?;
            state.backward(&z, gout, &mut dz, false)
        };
        drop(z);
        let (dbeta, dgamma): (Vec<E>, Vec<E>) = sums.iter().copied().unzip();
        add_assign(grads.get_or_alloc_mut(&g_ghost)?, &dgamma);
        add_assign(grads.get_or_alloc_mut(&beta_ghost)?, &dbeta);
        let ParamGrads { dw, db } =
            backward_gemm(&dz, &mut col, &wbuf, &g, b_ghost.is_some(), input_grad);
        drop(dz);
        add_assign(grads.get_or_alloc_mut(&w_ghost)?, &dw);
        if let (Some(bg), Some(db)) = (&b_ghost, &db) {
            add_assign(grads.get_or_alloc_mut(bg)?, db);
        }
        if input_grad {
            add_input_grad(&col, grads.get_or_alloc_mut(&x_ghost)?, &g);
        }
        Ok(())
    });
    Ok(out.put_tape(tape))
}
