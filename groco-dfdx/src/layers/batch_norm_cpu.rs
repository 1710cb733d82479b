//! The fused train-mode BatchNorm2D(+ReLU) `Cpu` kernel. In the `(C, H, W, B)` layout each
//! channel is one contiguous row of `N = H*W*B` values.
//!
//! Forward, per channel: mean `μ` and biased variance `σ²` (one pass over memory: 4096-value
//! blocks with their own two-pass statistics, merged with Chan's formula in f64),
//! `y = max(a x + s, 0)` with `a = γ / sqrt(σ² + ε)`, `s = β - μ a`.
//! Backward, with `x̂ = (x - μ) / sqrt(σ² + ε)` and `g = dy · [a x + s > 0]` (`g = dy` without
//! ReLU): `dβ = Σ g`, `dγ = Σ g x̂`, `dx = γ / sqrt(σ² + ε) · (g - dβ/N - x̂ dγ/N)`.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::layout::{Activation, Dims};
use crate::host::gemm::add_assign;
use crate::host::{cpu_tensor, read_cpu, LayerFloat, Scratch};
use crate::Error;

const BLOCK: usize = 4096;
const LANES: usize = 16;

/// Sum of `f(v)` over `xs` in `LANES` independent accumulators (vectorisable).
#[inline(always)]
fn lane_sum<E: LayerFloat>(xs: &[E], f: impl Fn(E) -> E) -> E {
    let mut acc = [E::zero(); LANES];
    let mut it = xs.chunks_exact(LANES);
    for ch in &mut it {
        for i in 0..LANES {
            acc[i] += f(ch[i]);
        }
    }
    let mut s = it.remainder().iter().fold(E::zero(), |a, &v| a + f(v));
    for a in acc {
        s += a;
    }
    s
}

/// Mean and biased variance of `xs` (see the module docs).
pub(crate) fn mean_var<E: LayerFloat>(xs: &[E]) -> (f64, f64) {
    let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
    for blk in xs.chunks(BLOCK) {
        let nb = blk.len() as f64;
        let bmean = lane_sum(blk, |v| v).to_f64().unwrap_or(f64::NAN) / nb;
        let bm = E::from_f64(bmean).unwrap_or_else(E::zero);
        let bm2 = lane_sum(blk, |v| (v - bm) * (v - bm))
            .to_f64()
            .unwrap_or(f64::NAN);
        // the block mean was rounded to E: correct the block's M2 for the offset
        let off = bm.to_f64().unwrap_or(f64::NAN) - bmean;
        let bm2 = bm2 - nb * off * off;
        let delta = bmean - mean;
        let tot = n + nb;
        mean += delta * nb / tot;
        m2 += bm2 + delta * delta * n * nb / tot;
        n = tot;
    }
    (mean, if n > 0.0 { (m2 / n).max(0.0) } else { 0.0 })
}

/// The per-channel parameters the kernel reads, as host values.
pub(crate) struct BnHost {
    pub gamma: Vec<f64>,
    pub beta: Vec<f64>,
    pub epsilon: f64,
    pub momentum: f64,
}

/// What the backward needs from a train-mode forward over rows of `n` values.
pub(crate) struct BnState<E> {
    n: usize,
    relu: bool,
    /// Per channel `(a, s, inv)`: `y = a x + s`, `inv = 1/sqrt(σ² + ε)`.
    coef: Vec<(E, E, E)>,
    means: Vec<E>,
    gammas: Vec<E>,
}

impl<E: LayerFloat> BnState<E> {
    /// Normalises `x` (channel rows of `n` values) into a new buffer and updates `running`
    /// (mean, variance) as PyTorch does.
    pub(crate) fn forward(
        x: &[E],
        n: usize,
        p: &BnHost,
        running: (&mut [E], &mut [E]),
        relu: bool,
    ) -> (Self, Scratch<E>) {
        let cast = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
        let stats: Vec<(f64, f64)> = x.par_chunks(n).map(mean_var).collect();
        let coef: Vec<(E, E, E)> = stats
            .iter()
            .zip(p.gamma.iter().zip(&p.beta))
            .map(|(&(mu, var), (&g, &b))| {
                let inv = 1.0 / (var + p.epsilon).sqrt();
                (cast(g * inv), cast(b - mu * g * inv), cast(inv))
            })
            .collect();
        let mut y = Scratch::<E>::take(x.len());
        y.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .zip(&coef)
            .for_each(|((yr, xr), &(a, s, _))| {
                if relu {
                    yr.iter_mut()
                        .zip(xr)
                        .for_each(|(yv, &xv)| *yv = (a * xv + s).max(E::zero()));
                } else {
                    yr.iter_mut().zip(xr).for_each(|(yv, &xv)| *yv = a * xv + s);
                }
            });
        // unbiased variance in the running estimate
        let m = p.momentum;
        let unbias = n as f64 / (n as f64 - 1.0).max(1.0);
        for (c, &(mu, var)) in stats.iter().enumerate() {
            let (rm, rv) = (
                running.0[c].to_f64().unwrap_or(0.0),
                running.1[c].to_f64().unwrap_or(0.0),
            );
            running.0[c] = cast((1.0 - m) * rm + m * mu);
            running.1[c] = cast((1.0 - m) * rv + m * var * unbias);
        }
        let means = stats.iter().map(|&(mu, _)| cast(mu)).collect();
        let gammas = p.gamma.iter().map(|&g| cast(g)).collect();
        (
            BnState {
                n,
                relu,
                coef,
                means,
                gammas,
            },
            y,
        )
    }

    /// `dx (+)= ∂loss/∂x` from the output gradient `gout`; returns per channel `(dβ, dγ)`.
    pub(crate) fn backward(
        &self,
        x: &[E],
        gout: &[E],
        dx: &mut [E],
        accumulate: bool,
    ) -> Vec<(E, E)> {
        assert!(x.len() == gout.len() && x.len() == dx.len());
        // the ReLU is a type parameter, so both passes are branch-free and vectorise
        let sums = if self.relu {
            self.sums::<true>(x, gout)
        } else {
            self.sums::<false>(x, gout)
        };
        match (self.relu, accumulate) {
            (true, true) => self.input_grad::<true, true>(x, gout, dx, &sums),
            (true, false) => self.input_grad::<true, false>(x, gout, dx, &sums),
            (false, true) => self.input_grad::<false, true>(x, gout, dx, &sums),
            (false, false) => self.input_grad::<false, false>(x, gout, dx, &sums),
        }
        sums
    }

    /// Per channel `(dβ, dγ) = (Σ g, Σ g x̂)`, summed in `LANES` accumulators per 4096-value
    /// block and the blocks in f64.
    fn sums<const RELU: bool>(&self, x: &[E], gout: &[E]) -> Vec<(E, E)> {
        x.par_chunks(self.n)
            .zip(gout.par_chunks(self.n))
            .zip(&self.coef)
            .zip(&self.means)
            .map(|(((xr, gr), &(a, s, inv)), &mu)| {
                let (mut sb, mut sg) = (0f64, 0f64);
                for (xb, gb) in xr.chunks(BLOCK).zip(gr.chunks(BLOCK)) {
                    let (mut db, mut dg) = ([E::zero(); LANES], [E::zero(); LANES]);
                    let (mut xi, mut gi) = (xb.chunks_exact(LANES), gb.chunks_exact(LANES));
                    for (xc, gc) in (&mut xi).zip(&mut gi) {
                        for l in 0..LANES {
                            let gm = gate::<E, RELU>(a, s, xc[l], gc[l]);
                            db[l] += gm;
                            dg[l] += gm * (xc[l] - mu);
                        }
                    }
                    for (&xv, &gv) in xi.remainder().iter().zip(gi.remainder()) {
                        let gm = gate::<E, RELU>(a, s, xv, gv);
                        db[0] += gm;
                        dg[0] += gm * (xv - mu);
                    }
                    sb += db
                        .iter()
                        .fold(E::zero(), |acc, &v| acc + v)
                        .to_f64()
                        .unwrap_or(f64::NAN);
                    sg += dg
                        .iter()
                        .fold(E::zero(), |acc, &v| acc + v)
                        .to_f64()
                        .unwrap_or(f64::NAN);
                }
                (
                    E::from_f64(sb).unwrap_or_else(E::nan),
                    E::from_f64(sg).unwrap_or_else(E::nan) * inv,
                )
            })
            .collect()
    }

    /// `dx (+)= γ inv (g - dβ/N - x̂ dγ/N)` with `x̂ = (x - μ) inv`, channel by channel.
    fn input_grad<const RELU: bool, const ACCUMULATE: bool>(
        &self,
        x: &[E],
        gout: &[E],
        dx: &mut [E],
        sums: &[(E, E)],
    ) {
        let n = self.n;
        let nf = E::from_usize(n).unwrap_or_else(E::one);
        dx.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .zip(gout.par_chunks(n))
            .zip(
                self.coef
                    .par_iter()
                    .zip(&self.means)
                    .zip(sums)
                    .zip(&self.gammas),
            )
            .for_each(
                |(((dr, xr), gr), (((&(a, s, inv), &mu), &(dbeta, dgamma)), &gamma))| {
                    let (k, c0, c1) = (gamma * inv, dbeta / nf, dgamma / nf * inv);
                    for ((d, &xv), &gv) in dr.iter_mut().zip(xr).zip(gr) {
                        let v = k * (gate::<E, RELU>(a, s, xv, gv) - c0 - (xv - mu) * c1);
                        *d = if ACCUMULATE { *d + v } else { v };
                    }
                },
            );
    }
}

/// The output gradient `g` passed back through the ReLU of `y = a x + s` (where `y > 0`), or
/// as it is without one; a select, not a branch.
#[inline(always)]
fn gate<E: LayerFloat, const RELU: bool>(a: E, s: E, x: E, g: E) -> E {
    if !RELU || a * x + s > E::zero() {
        g
    } else {
        E::zero()
    }
}

/// Train-mode batch norm (+ ReLU); `running` (mean, variance) is updated in place.
pub(crate) fn batch_norm_train<E: LayerFloat, T: Tape<E, Cpu>, SG: Shape, SB: Shape>(
    x: Activation<E, Cpu, T>,
    (scale, bias): (&Tensor<SG, E, Cpu>, &Tensor<SB, E, Cpu>),
    p: BnHost,
    running: (&mut [E], &mut [E]),
    relu: bool,
) -> Result<Activation<E, Cpu, T>, Error> {
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let d = Dims::of(&x);
    let xbuf = read_cpu(&x);
    let (state, y) = BnState::forward(&xbuf, d.h * d.w * d.b, &p, running, relu);
    let out = cpu_tensor(&dev, d.shape(), &y)?;
    drop(y);
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let (x_ghost, out_ghost, g_ghost, b_ghost) =
        (x.ghost(), out.ghost(), scale.ghost(), bias.ghost());
    drop(x);
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&x_ghost)?;
        let gout_raw = {
            let g = grads.get_or_alloc_mut(&out_ghost)?;
            (g.as_ptr(), g.len())
        };
        let gx: &mut [E] = grads.get_or_alloc_mut(&x_ghost)?;
        assert_eq!(gout_raw.1, gx.len());
        // SAFETY: `out` and `x` are different tensors, so their gradients are two different
        // heap buffers owned by `grads`. Looking up (or allocating) one entry of the map may
        // move the other entry's `Vec` header, never its heap buffer, and nothing frees or
        // resizes the output's gradient while `gout` is alive (only `gx` is touched below).
        let gout: &[E] = unsafe { std::slice::from_raw_parts(gout_raw.0, gout_raw.1) };
        let sums = state.backward(&xbuf, gout, gx, true);
        let (db, dg): (Vec<E>, Vec<E>) = sums.iter().copied().unzip();
        add_assign(grads.get_or_alloc_mut(&g_ghost)?, &dg);
        add_assign(grads.get_or_alloc_mut(&b_ghost)?, &db);
        Ok(())
    });
    Ok(out.put_tape(tape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_var_is_accurate_with_a_large_offset() {
        // 10_000 f32 values 1e4 + small noise: a naive one-pass E[x²]-E[x]² loses everything
        let xs: Vec<f32> = (0..10_000)
            .map(|i| 1.0e4 + ((i * 37 % 101) as f32 - 50.0) * 1e-2)
            .collect();
        let x64: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        let m = x64.iter().sum::<f64>() / x64.len() as f64;
        let v = x64.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / x64.len() as f64;
        let (gm, gv) = mean_var(&xs);
        assert!((gm - m).abs() < 1e-6 * m.abs(), "{gm} vs {m}");
        assert!((gv - v).abs() < 1e-3 * v, "{gv} vs {v}");
    }
}
