//! The `Cpu` convolution kernel: im2col + `gemm` forward, and a hand-written backward
//! registered on the tape; the gemms on host buffers are in `conv_gemm`.
//!
//! Per group `g`: `out_g = W_g · col_g`; backward `dW_g = gout_g · col_gᵀ`, `db = Σ gout` over
//! columns, `dcol_g = W_gᵀ · gout_g`, `dx = col2im(dcol)`.

use dfdx::prelude::*;

use super::conv_gemm::{add_input_grad, backward_gemm, columns, forward_gemm, ParamGrads};
use super::geom::ConvGeom;
use super::layout::Activation;
use super::params::Weight4;
use crate::host::gemm::add_assign;
use crate::host::{cpu_tensor, read_cpu, LayerFloat, Scratch};
use crate::Error;

/// The convolution on `Cpu`; shapes were checked by the caller.
pub(crate) fn conv2d<E: LayerFloat, T: Tape<E, Cpu>>(
    x: Activation<E, Cpu, T>,
    w: &Weight4<E, Cpu>,
    bias: Option<&Tensor<(usize,), E, Cpu>>,
    g: &ConvGeom,
    input_grad: bool,
) -> Result<Activation<E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let wbuf = read_cpu(w);
    let bbuf = bias.map(read_cpu);
    let col = columns(read_cpu(&x), g);
    let mut out = Scratch::take(g.out_channels * g.cols());
    forward_gemm(&mut out, &wbuf, &col, bbuf.as_deref(), g);
    let out = cpu_tensor(&dev, g.output().shape(), &out)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let (x_ghost, w_ghost, out_ghost) = (x.ghost(), w.ghost(), out.ghost());
    let b_ghost = bias.map(|b| b.ghost());
    drop(x);
    let g = *g;
    tape.add_backward_op(move |grads| {
        let mut col = col;
        let ParamGrads { dw, db } = {
            let gout: &[E] = grads.get_or_alloc_mut(&out_ghost)?;
            backward_gemm(gout, &mut col, &wbuf, &g, b_ghost.is_some(), input_grad)
        };
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
