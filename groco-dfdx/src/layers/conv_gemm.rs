//! The convolution as gemms on host buffers, shared by the `Cpu` convolution kernel
//! (`conv2d_cpu`) and the fused convolution + batch norm kernel (`conv_bn_cpu`).
//!
//! Per group `g` (`O/G` output channels, `kr = C/G·K·K` im2col rows, `n = OH·OW·B` columns):
//! - forward: `out_g = W_g · col_g (+ b)`, with `col = im2col(x)` (or `x` itself for a 1×1,
//!   stride-1, unpadded window);
//! - backward, from `dout = dL/dout`: `dW_g = dout_g · col_gᵀ` (as `(col_g · dout_gᵀ)ᵀ` when
//!   `kr > O/G`), `db = Σ dout` over columns,
//!   `dcol_g = W_gᵀ · dout_g` and `dx += col2im(dcol)` (or `dx += dcol` for the 1×1 case).

use super::geom::ConvGeom;
use super::im2col::{col2im, col2im_add, im2col};
use super::layout::transpose_into;
use crate::host::gemm::{add_assign, gemm, MatRef};
use crate::host::{LayerFloat, Scratch};

/// Whether the im2col matrix of `g` is its input: a 1×1, stride-1, unpadded window.
fn identity(g: &ConvGeom) -> bool {
    let win = g.window;
    win.kernel == 1 && win.stride == 1 && win.padding == 0
}

/// The im2col matrix `(C·K·K, n)` of the input `x`; `x` itself when the window is the identity.
pub(crate) fn columns<E: LayerFloat>(x: Scratch<E>, g: &ConvGeom) -> Scratch<E> {
    if identity(g) {
        return x;
    }
    let mut col = Scratch::take(g.input.c * g.taps() * g.cols());
    im2col(&x, &mut col, g);
    col
}

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

/// The parameter gradients of a convolution: `dW` `(O, C/G, K, K)` and, with a bias, `db` `(O,)`.
pub(crate) struct ParamGrads<E: LayerFloat> {
    pub dw: Scratch<E>,
    pub db: Option<Scratch<E>>,
}

/// The backward gemms from `dout` `(O, n)`: returns `dW` and (with `bias`) `db`; with
/// `input_grad`, overwrites `col`, no longer needed, with `dcol = Wᵀ · dout` for
/// [`add_input_grad`].
pub(crate) fn backward_gemm<E: LayerFloat>(
    dout: &[E],
    col: &mut [E],
    w: &[E],
    g: &ConvGeom,
    bias: bool,
    input_grad: bool,
) -> ParamGrads<E> {
    let (n, kr, og) = (g.cols(), g.group_rows(), g.out_channels / g.groups);
    let mut dw = Scratch::<E>::take(g.weight_len());
    let mut dwt = (kr > og).then(|| Scratch::<E>::take(og * kr));
    for gi in 0..g.groups {
        let dout_g = MatRef::row_major(&dout[gi * og * n..(gi + 1) * og * n], og, n);
        let col_g = MatRef::row_major(&col[gi * kr * n..(gi + 1) * kr * n], kr, n);
        let dw_g = &mut dw[gi * og * kr..(gi + 1) * og * kr];
        // Both operands run along the n columns, so the gemm crate gathers one of them across
        // rows into its packed layout, element by element: the one it puts on the left of its
        // column-major product. Ask for the product whose left operand is the smaller matrix
        // (dout when kr > og: dWᵀ = col · doutᵀ), and transpose the small result.
        if let Some(dwt) = dwt.as_deref_mut() {
            gemm(dwt, col_g, dout_g.t(), false);
            transpose_into(dwt, dw_g, kr);
        } else {
            gemm(dw_g, dout_g, col_g.t(), false);
        }
    }
    let db = bias.then(|| {
        let mut db = Scratch::<E>::zeroed(g.out_channels);
        for (d, row) in db.iter_mut().zip(dout.chunks_exact(n)) {
            *d = row.iter().fold(E::zero(), |a, &v| a + v);
        }
        db
    });
    for gi in (0..g.groups).filter(|_| input_grad) {
        gemm(
            &mut col[gi * kr * n..(gi + 1) * kr * n],
            MatRef::row_major(&w[gi * og * kr..(gi + 1) * og * kr], og, kr).t(),
            MatRef::row_major(&dout[gi * og * n..(gi + 1) * og * n], og, n),
            false,
        );
    }
    ParamGrads { dw, db }
}

/// `col2im(dcol)`, the input's gradient as a new buffer (`dcol` itself when the window is the
/// identity).
pub(crate) fn input_grad_of<E: LayerFloat>(dcol: Scratch<E>, g: &ConvGeom) -> Scratch<E> {
    if identity(g) {
        return dcol;
    }
    let mut gx = Scratch::take(g.input.len());
    col2im(&dcol, &mut gx, g);
    gx
}

/// `gx += col2im(dcol)`, or `gx += dcol` when the window is the identity.
pub(crate) fn add_input_grad<E: LayerFloat>(dcol: &[E], gx: &mut [E], g: &ConvGeom) {
    if identity(g) {
        add_assign(gx, dcol);
    } else {
        col2im_add(dcol, gx, g);
    }
}
