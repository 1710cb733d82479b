//! The `Cpu` convolution kernel: im2col + `gemm` forward, and a hand-written backward
//! registered on the tape.
//!
//! Per group `g`: `out_g = W_g · col_g`; backward `dW_g = gout_g · col_gᵀ`, `db = Σ gout` over
//! columns, `dcol_g = W_gᵀ · gout_g`, `dx = col2im(dcol)`.

use dfdx::prelude::*;

use super::gemm::{gemm, MatRef};
use super::im2col::{col2im_add, im2col};
use super::scratch::{cpu_tensor, read_cpu};
use super::{Activation, ConvGeom, LayerFloat, Scratch, Weight4};
use crate::Error;

/// `out (O, n) = W · col (+ bias)`, group by group.
pub(crate) fn forward_gemm<E: LayerFloat>(
    out: &mut [E],
    w: &[E],
    col: &[E],
    bias: Option<&[E]>,
    g: &ConvGeom,
) {
    let (n, kr, og) = (g.cols(), g.group_rows(), g.out_channels / g.groups);
    if let Some(bias) = bias {
        for (row, &bv) in out.chunks_exact_mut(n).zip(bias) {
            row.fill(bv);
        }
    }
    for gi in 0..g.groups {
        gemm(
            &mut out[gi * og * n..(gi + 1) * og * n],
            MatRef::row_major(&w[gi * og * kr..(gi + 1) * og * kr], og, kr),
            MatRef::row_major(&col[gi * kr * n..(gi + 1) * kr * n], kr, n),
            bias.is_some(),
        );
    }
}

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
    let (n, kr, og) = (g.cols(), g.group_rows(), g.out_channels / g.groups);
    let xbuf = read_cpu(&x);
    let wbuf = read_cpu(w);
    let bbuf = bias.map(read_cpu);
    let win = g.window;
    // a 1x1, stride-1, unpadded convolution's im2col matrix is the input itself
    let col = if win.kernel == 1 && win.stride == 1 && win.padding == 0 {
        xbuf
    } else {
        let mut col = Scratch::take(g.input.c * g.taps() * n);
        im2col(&xbuf, &mut col, g);
        col
    };
    let mut out = Scratch::take(g.out_channels * n);
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
        let mut dw = Scratch::<E>::take(g.weight_len());
        let mut db = Scratch::<E>::zeroed(g.out_channels);
        {
            let gout: &[E] = grads.get_or_alloc_mut(&out_ghost)?;
            for gi in 0..g.groups {
                gemm(
                    &mut dw[gi * og * kr..(gi + 1) * og * kr],
                    MatRef::row_major(&gout[gi * og * n..(gi + 1) * og * n], og, n),
                    MatRef::row_major(&col[gi * kr * n..(gi + 1) * kr * n], kr, n).t(),
                    false,
                );
            }
            if b_ghost.is_some() {
                for (d, row) in db.iter_mut().zip(gout.chunks_exact(n)) {
                    *d = row.iter().fold(E::zero(), |a, &v| a + v);
                }
            }
            // dcol overwrites col, which is no longer needed
            for gi in (0..g.groups).filter(|_| input_grad) {
                gemm(
                    &mut col[gi * kr * n..(gi + 1) * kr * n],
                    MatRef::row_major(&wbuf[gi * og * kr..(gi + 1) * og * kr], og, kr).t(),
                    MatRef::row_major(&gout[gi * og * n..(gi + 1) * og * n], og, n),
                    false,
                );
            }
        }
        super::im2col::add_assign(grads.get_or_alloc_mut(&w_ghost)?, &dw);
        if let Some(bg) = &b_ghost {
            super::im2col::add_assign(grads.get_or_alloc_mut(bg)?, &db);
        }
        if !input_grad {
            return Ok(());
        }
        let gx: &mut [E] = grads.get_or_alloc_mut(&x_ghost)?;
        if win.kernel == 1 && win.stride == 1 && win.padding == 0 {
            super::im2col::add_assign(gx, &col);
        } else {
            col2im_add(&col, gx, &g);
        }
        Ok(())
    });
    Ok(out.put_tape(tape))
}
