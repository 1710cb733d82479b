//! SimCLR's NT-Xent loss (Chen et al., 2020), the baseline GroCo is compared with, as a dfdx op
//! with a hand-written backward.
//!
//! z = the 2B normalised rows of [view 0; view 1], S = Z·Zᵀ / τ (one gemm), and for row i with
//! positive p(i) = (i + B) mod 2B:
//! ℓ_i = log Σ_{j≠i} exp(S_ij) − S_{i,p(i)}, loss = (1/2B) Σ_i ℓ_i.
//! dL/dS_ij = (softmax_{j≠i}(S_i)_j − [j = p(i)]) / 2B (0 on the diagonal), and since S is
//! symmetric in Z, dL/dZ = (G + Gᵀ)·Z / τ: G + Gᵀ formed in place, then one gemm. Then the
//! normalisation's backward.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::cosine::Normalized;
use super::device::LossDevice;
use super::float::{cst, LossFloat};
use super::gram::SymGram;
use super::nt_xent_resident::nt_xent_resident;
use super::views::{scalar_loss_op, HostLoss, Views};
use crate::host::gemm::{gemm, MatRef};
use crate::host::Scratch;
use crate::Error;

const OP: &str = "nt_xent";

/// The NT-Xent loss of two views `(B, D)` at `temperature` τ > 0, as a scalar on the views'
/// merged tape.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::loss::nt_xent;
/// let dev = Cpu::default();
/// let a: Tensor<Rank2<6, 32>, f64, _> = dev.sample_normal();
/// let noise: Tensor<Rank2<6, 32>, f64, _> = dev.sample_normal();
/// // unrelated views against near-identical ones: the positive then dominates every row
/// let far = nt_xent([a.clone(), noise.clone()], 0.1)?;
/// let close = nt_xent([a.leaky_trace(), (a.clone() + noise * 0.01).retaped()], 0.1)?;
/// assert!(close.array() < 0.1 * far.array());
/// let grads = close.backward();
/// assert!(grads.get(&a).array().iter().flatten().any(|g| *g != 0.0));
/// # Ok::<(), groco_dfdx::Error>(())
/// ```
pub fn nt_xent<B, C, F, D, T>(
    views: [Tensor<(B, C), F, D, T>; 2],
    temperature: f64,
) -> Result<Tensor<Rank0, F, D, T>, Error>
where
    B: Dim,
    C: Dim,
    F: LossFloat,
    D: LossDevice<F>,
    T: Tape<F, D>,
{
    if !(temperature.is_finite() && temperature > 0.0) {
        let reason = "must be finite and > 0";
        return Err(Error::InvalidValue {
            op: OP,
            field: "temperature",
            value: temperature.to_string(),
            reason,
        });
    }
    if D::resident() {
        return nt_xent_resident(views.into(), temperature);
    }
    scalar_loss_op(OP, views.into(), |v, want_grad| {
        nt_xent_host(v, temperature, want_grad)
    })
}

/// The loss of two host views and, if `want_grad`, dL/dview.
pub(crate) fn nt_xent_host<F: LossFloat>(
    views: Views<'_, F>,
    temperature: f64,
    want_grad: bool,
) -> Result<HostLoss<F>, Error> {
    let (b, d) = (views.rows, views.cols);
    let [v0, v1] = views.data else {
        return Err(Error::config(
            OP,
            "views",
            views.data.len(),
            "NT-Xent takes exactly 2 views",
        ));
    };
    let n = 2 * b;
    let mut x = Scratch::take(n * d);
    x[..b * d].copy_from_slice(v0);
    x[b * d..].copy_from_slice(v1);
    let z = Normalized::new(&x, d);
    drop(x);
    let mut s = Scratch::take(n * n);
    SymGram::new(&z.z, n, d).fill(&mut s);
    let inv_t = cst::<F>(1.0 / temperature);
    let g_scale = inv_t / cst::<F>(n as f64);
    let mut losses = vec![F::zero(); n];
    s.par_chunks_mut(n)
        .zip(losses.par_iter_mut())
        .enumerate()
        .for_each(|(i, (row, loss))| {
            let pos = (i + b) % n;
            let mut max = F::neg_infinity();
            for (j, v) in row.iter_mut().enumerate() {
                *v *= inv_t;
                if j != i {
                    max = max.max(*v);
                }
            }
            let positive = row[pos];
            row[i] = F::neg_infinity(); // exp(−inf) = 0: the diagonal drops out
            let mut sum = F::zero();
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            *loss = max + sum.ln() - positive;
            if want_grad {
                // row i of G/τ: (softmax − one-hot(p(i))) / (2B·τ)
                let w = g_scale / sum;
                row.iter_mut().for_each(|v| *v *= w);
                row[pos] -= g_scale;
            }
        });
    let loss = losses.iter().fold(F::zero(), |a, &l| a + l) / cst::<F>(n as f64);
    if !want_grad {
        return Ok(HostLoss { loss, grads: None });
    }
    symmetrize(&mut s, n);
    let mut dz = Scratch::take(n * d);
    gemm(
        &mut dz,
        MatRef::row_major(&s, n, n),
        MatRef::row_major(&z.z, n, d),
        false,
    );
    z.backward_in_place(&mut dz);
    let (mut g0, mut g1) = (Scratch::take(b * d), Scratch::take(b * d));
    g0.copy_from_slice(&dz[..b * d]);
    g1.copy_from_slice(&dz[b * d..]);
    Ok(HostLoss {
        loss,
        grads: Some(vec![g0, g1]),
    })
}

/// `g ← g + gᵀ` for a square `n` × `n` row-major matrix, in 32 × 32 tiles.
fn symmetrize<F: LossFloat>(g: &mut [F], n: usize) {
    const T: usize = 32;
    for bi in (0..n).step_by(T) {
        for bj in (bi..n).step_by(T) {
            for i in bi..(bi + T).min(n) {
                for j in bj.max(i)..(bj + T).min(n) {
                    let h = g[i * n + j] + g[j * n + i];
                    g[i * n + j] = h;
                    g[j * n + i] = h;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::symmetrize;

    #[test]
    fn symmetrize_adds_the_transpose() {
        let n = 37;
        let g: Vec<f64> = (0..n * n).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let mut h = g.clone();
        symmetrize(&mut h, n);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(h[i * n + j], g[i * n + j] + g[j * n + i], "({i}, {j})");
            }
        }
    }
}
