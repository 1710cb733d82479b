//! `Cpu` kernels for max/avg pooling, global average pooling and flatten, each with its
//! backward on the tape. All loops run per channel in parallel; the batch axis is innermost, so
//! every window tap is a vector operation over `B` values.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::geom::{PoolGeom, PoolKind};
use super::layout::{transpose_into, Activation, Dims};
use crate::host::gemm::add_assign;
use crate::host::{cpu_tensor, read_cpu, LayerFloat, Scratch};
use crate::Error;

/// Max or average pooling. Max pooling keeps, per output value, the flat input index of the
/// (first) maximum; the gradient goes to that input only, as in PyTorch.
pub(crate) fn pool2d<E: LayerFloat, T: Tape<E, Cpu>>(
    x: Activation<E, Cpu, T>,
    p: &PoolGeom,
) -> Result<Activation<E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let (d, win, od) = (p.input, p.window, p.output());
    let xbuf = read_cpu(&x);
    let (hwb, wb, b) = (d.h * d.w * d.b, d.w * d.b, d.b);
    let ohwb = p.oh * p.ow * b;
    let mut out = Scratch::<E>::take(od.len());
    let mut arg: Vec<u32> = Vec::new();
    let inv_area = E::one() / E::from_usize(win.kernel * win.kernel).unwrap_or_else(E::one);
    if p.kind == PoolKind::Max {
        arg = vec![0u32; od.len()];
        out.par_chunks_mut(ohwb)
            .zip(arg.par_chunks_mut(ohwb))
            .enumerate()
            .for_each(|(c, (oc, ac))| {
                oc.fill(E::neg_infinity());
                let xc = &xbuf[c * hwb..(c + 1) * hwb];
                for oy in 0..p.oh {
                    for ox in 0..p.ow {
                        let o = (oy * p.ow + ox) * b;
                        for ki in 0..win.kernel {
                            let Some(iy) = win.source(oy, ki, d.h) else {
                                continue;
                            };
                            for kj in 0..win.kernel {
                                let Some(ix) = win.source(ox, kj, d.w) else {
                                    continue;
                                };
                                let i = iy * wb + ix * b;
                                for bi in 0..b {
                                    let v = xc[i + bi];
                                    // a NaN input wins and stays, as in PyTorch
                                    if v > oc[o + bi] || v.is_nan() {
                                        oc[o + bi] = v;
                                        ac[o + bi] = (i + bi) as u32;
                                    }
                                }
                            }
                        }
                    }
                }
            });
    } else {
        out.par_chunks_mut(ohwb).enumerate().for_each(|(c, oc)| {
            oc.fill(E::zero());
            let xc = &xbuf[c * hwb..(c + 1) * hwb];
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let o = &mut oc[(oy * p.ow + ox) * b..(oy * p.ow + ox + 1) * b];
                    for ki in 0..win.kernel {
                        let Some(iy) = win.source(oy, ki, d.h) else {
                            continue;
                        };
                        for kj in 0..win.kernel {
                            let Some(ix) = win.source(ox, kj, d.w) else {
                                continue;
                            };
                            add_assign(o, &xc[iy * wb + ix * b..iy * wb + ix * b + b]);
                        }
                    }
                    o.iter_mut().for_each(|v| *v *= inv_area);
                }
            }
        });
    }
    drop(xbuf);
    let out = cpu_tensor(&dev, od.shape(), &out)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let (x_ghost, out_ghost, p) = (x.ghost(), out.ghost(), *p);
    drop(x);
    tape.add_backward_op(move |grads| {
        let gout = read_grad(grads.get_or_alloc_mut(&out_ghost)?);
        let gx: &mut [E] = grads.get_or_alloc_mut(&x_ghost)?;
        gx.par_chunks_mut(hwb)
            .zip(gout.par_chunks(ohwb))
            .enumerate()
            .for_each(|(c, (gxc, gc))| {
                if p.kind == PoolKind::Max {
                    for (&a, &gv) in arg[c * ohwb..(c + 1) * ohwb].iter().zip(gc) {
                        gxc[a as usize] += gv;
                    }
                    return;
                }
                for oy in 0..p.oh {
                    for ox in 0..p.ow {
                        let go = &gc[(oy * p.ow + ox) * b..(oy * p.ow + ox + 1) * b];
                        for ki in 0..win.kernel {
                            let Some(iy) = win.source(oy, ki, d.h) else {
                                continue;
                            };
                            for kj in 0..win.kernel {
                                let Some(ix) = win.source(ox, kj, d.w) else {
                                    continue;
                                };
                                let dst = &mut gxc[iy * wb + ix * b..iy * wb + ix * b + b];
                                for (dv, &gv) in dst.iter_mut().zip(go) {
                                    *dv += gv * inv_area;
                                }
                            }
                        }
                    }
                }
            });
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// A copy of a gradient buffer (small outputs only: pooling and flatten outputs are a fraction
/// of their inputs).
fn read_grad<E: LayerFloat>(g: &[E]) -> Scratch<E> {
    let mut s = Scratch::take(g.len());
    s.copy_from_slice(g);
    s
}

/// Global average pooling `(C, H, W, B)` -> `(B, C)`.
pub(crate) fn global_avg_pool<E: LayerFloat, T: Tape<E, Cpu>>(
    x: Activation<E, Cpu, T>,
) -> Result<Tensor<(usize, usize), E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let d = Dims::of(&x);
    let (s, b) = (d.h * d.w, d.b);
    let inv = E::one() / E::from_usize(s.max(1)).unwrap_or_else(E::one);
    let xbuf = read_cpu(&x);
    // channel means as (C, B), then transposed into (B, C)
    let mut cb = Scratch::<E>::zeroed(d.c * b);
    cb.par_chunks_mut(b).enumerate().for_each(|(c, row)| {
        for px in xbuf[c * s * b..(c + 1) * s * b].chunks_exact(b.max(1)) {
            add_assign(row, px);
        }
        row.iter_mut().for_each(|v| *v *= inv);
    });
    let mut bc = Scratch::<E>::take(d.c * b);
    transpose_into(&cb, &mut bc, d.c);
    let out = cpu_tensor(&dev, (b, d.c), &bc)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
    drop(x);
    tape.add_backward_op(move |grads| {
        let gout = read_grad(grads.get_or_alloc_mut(&out_ghost)?); // (B, C)
        let mut gcb = Scratch::<E>::take(d.c * b);
        transpose_into(&gout, &mut gcb, b); // (C, B)
        let gx: &mut [E] = grads.get_or_alloc_mut(&x_ghost)?;
        gx.par_chunks_mut((s * b).max(1))
            .zip(gcb.par_chunks(b.max(1)))
            .for_each(|(gxc, gc)| {
                for px in gxc.chunks_exact_mut(b.max(1)) {
                    for (dv, &gv) in px.iter_mut().zip(gc) {
                        *dv += gv * inv;
                    }
                }
            });
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// Flatten `(C, H, W, B)` -> `(B, C*H*W)`: a transpose of the `(C*H*W, B)` matrix.
pub(crate) fn flatten<E: LayerFloat, T: Tape<E, Cpu>>(
    x: Activation<E, Cpu, T>,
) -> Result<Tensor<(usize, usize), E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let d = Dims::of(&x);
    let f = d.c * d.h * d.w;
    let xbuf = read_cpu(&x);
    let mut rows = Scratch::<E>::take(xbuf.len());
    transpose_into(&xbuf, &mut rows, f); // (F, B) -> (B, F)
    let out = cpu_tensor(&dev, (d.b, f), &rows)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
    drop(x);
    tape.add_backward_op(move |grads| {
        let gout = read_grad(grads.get_or_alloc_mut(&out_ghost)?);
        let mut t = Scratch::<E>::take(gout.len());
        transpose_into(&gout, &mut t, d.b); // (B, F) -> (F, B)
        add_assign(grads.get_or_alloc_mut(&x_ghost)?, &t);
        Ok(())
    });
    Ok(out.put_tape(tape))
}
