//! im2col / col2im on the `(C, H, W, B)` layout.
//!
//! The im2col matrix has one row per (input channel `c`, tap `ki, kj`), row index
//! `(c * K + ki) * K + kj` (PyTorch's `weight.reshape(O, -1)` column order), and one column per
//! (output pixel, image): column `(oy * OW + ox) * B + b`. Row `r` holds
//! `x[c, oy*S + ki - P, ox*S + kj - P, b]`, or 0 in the padding. Because the batch is the
//! innermost axis, every copy moves `B` contiguous values, and for stride 1 a whole row of
//! output pixels is one contiguous copy. The convolution is then `out(O, OH*OW*B) = W · col`,
//! which is already the next layer's `(C, H, W, B)` layout.

use rayon::prelude::*;

use super::geom::ConvGeom;
use crate::host::gemm::add_assign;
use crate::host::LayerFloat;

/// Fills `col` (`C*K*K` rows of `OH*OW*B`) from `x` (`C*H*W*B` values).
pub fn im2col<E: LayerFloat>(x: &[E], col: &mut [E], g: &ConvGeom) {
    let (d, win, taps, n) = (g.input, g.window, g.taps(), g.cols());
    assert_eq!(x.len(), d.len());
    assert_eq!(col.len(), d.c * taps * n);
    if n == 0 {
        return;
    }
    let (hwb, wb, b) = (d.h * d.w * d.b, d.w * d.b, d.b);
    let owb = g.ow * b;
    col.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        let (c, t) = (r / taps, r % taps);
        let (ki, kj) = (t / win.kernel, t % win.kernel);
        let xc = &x[c * hwb..(c + 1) * hwb];
        let cols = win.valid_outputs(kj, d.w, g.ow);
        for (oy, out_row) in row.chunks_exact_mut(owb).enumerate() {
            let Some(iy) = win.source(oy, ki, d.h) else {
                out_row.fill(E::zero());
                continue;
            };
            let src_row = &xc[iy * wb..(iy + 1) * wb];
            out_row[..cols.start * b].fill(E::zero());
            out_row[cols.end * b..].fill(E::zero());
            if cols.is_empty() {
                continue;
            }
            let ix0 = cols.start * win.stride + kj - win.padding;
            if win.stride == 1 {
                let len = cols.len() * b;
                out_row[cols.start * b..cols.end * b]
                    .copy_from_slice(&src_row[ix0 * b..ix0 * b + len]);
            } else {
                for (i, ox) in cols.clone().enumerate() {
                    let ix = ix0 + i * win.stride;
                    out_row[ox * b..(ox + 1) * b].copy_from_slice(&src_row[ix * b..(ix + 1) * b]);
                }
            }
        }
    });
}

/// Adds the columns of `col` back onto the input pixels they were read from: `gx += col2im(col)`
/// (the adjoint of [`im2col`]). Parallel over input channels; within a channel, each input row
/// takes all its taps' contributions while it is in cache (in tap order, as a pass per tap
/// would add them).
pub fn col2im_add<E: LayerFloat>(col: &[E], gx: &mut [E], g: &ConvGeom) {
    col2im_rows(col, gx, g, true);
}

/// `gx = col2im(col)`: [`col2im_add`] onto zeros, without a separate pass to zero `gx` (each
/// input row is zeroed in cache before its taps are added; the sums are those of
/// [`col2im_add`] onto a zeroed `gx`).
pub fn col2im<E: LayerFloat>(col: &[E], gx: &mut [E], g: &ConvGeom) {
    col2im_rows(col, gx, g, false);
}

fn col2im_rows<E: LayerFloat>(col: &[E], gx: &mut [E], g: &ConvGeom, accumulate: bool) {
    let (d, win, taps, n) = (g.input, g.window, g.taps(), g.cols());
    assert_eq!(gx.len(), d.len());
    assert_eq!(col.len(), d.c * taps * n);
    if n == 0 {
        if !accumulate {
            gx.fill(E::zero());
        }
        return;
    }
    let (hwb, wb, b) = (d.h * d.w * d.b, d.w * d.b, d.b);
    let owb = g.ow * b;
    gx.par_chunks_mut(hwb).enumerate().for_each(|(c, gxc)| {
        let rows = &col[c * taps * n..(c + 1) * taps * n];
        for (iy, dst_row) in gxc.chunks_exact_mut(wb).enumerate() {
            if !accumulate {
                dst_row.fill(E::zero());
            }
            for ki in 0..win.kernel {
                let Some(oy) = win.output(iy, ki, g.oh) else {
                    continue;
                };
                for kj in 0..win.kernel {
                    let cols = win.valid_outputs(kj, d.w, g.ow);
                    if cols.is_empty() {
                        continue;
                    }
                    let row = &rows[(ki * win.kernel + kj) * n..][..n];
                    let in_row = &row[oy * owb..(oy + 1) * owb];
                    let ix0 = cols.start * win.stride + kj - win.padding;
                    if win.stride == 1 {
                        let len = cols.len() * b;
                        add_assign(
                            &mut dst_row[ix0 * b..ix0 * b + len],
                            &in_row[cols.start * b..cols.end * b],
                        );
                    } else {
                        for (i, ox) in cols.clone().enumerate() {
                            let ix = ix0 + i * win.stride;
                            add_assign(
                                &mut dst_row[ix * b..(ix + 1) * b],
                                &in_row[ox * b..(ox + 1) * b],
                            );
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::geom::Window;
    use super::super::layout::Dims;
    use super::*;

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for every geometry
        for (k, s, p, h, w) in [
            (3, 1, 1, 5, 4),
            (3, 2, 1, 6, 5),
            (2, 2, 0, 5, 5),
            (1, 2, 0, 4, 3),
            (3, 1, 0, 3, 3),
        ] {
            let d = Dims { c: 2, h, w, b: 3 };
            let g = ConvGeom::try_new(
                d,
                2,
                Window {
                    kernel: k,
                    stride: s,
                    padding: p,
                },
                1,
            )
            .unwrap();
            let x: Vec<f64> = (0..d.len()).map(|i| (i as f64 * 0.731).sin()).collect();
            let ncol = d.c * g.taps() * g.cols();
            let y: Vec<f64> = (0..ncol).map(|i| (i as f64 * 0.292).cos()).collect();
            let mut col = vec![f64::NAN; ncol];
            im2col(&x, &mut col, &g);
            let mut gx = vec![0.0; d.len()];
            col2im_add(&y, &mut gx, &g);
            let mut gx2 = vec![f64::NAN; d.len()];
            col2im(&y, &mut gx2, &g);
            assert_eq!(gx, gx2, "col2im onto NaNs equals col2im_add onto zeros");
            let lhs: f64 = col.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&gx).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-10, "k{k} s{s} p{p}: {lhs} vs {rhs}");
        }
    }
}
