//! NT-Xent on the device, composed of dfdx's own ops: no copy at all, the gradient by dfdx's
//! autodiff of the same formula as the host path's closed form.
//!
//! With z_0, z_1 the normalised views and S_ab = z_a·z_bᵀ / τ, row i of view 0 scores
//! ℓ = logsumexp over (`S_00[i]` without its diagonal, `S_01[i]`) − `S_01[i][i]`, and row i of
//! view 1 likewise over (`S_10[i]`, `S_11[i]` without its diagonal); the loss is the mean of
//! the 2B row scores. The two halves of each logsumexp are combined as
//! m + ln(e^(a−m) + e^(b−m)) with m = max(a, b) held fixed (its gradient cancels exactly).

use dfdx::prelude::*;

use super::float::{cst, LossFloat};
use super::resident::{
    dev, diagonal, gram, normalize_views, pick, without_diagonal, Col, ResidentDevice, Rows,
};
use super::views::{take_views, Taken};
use crate::Error;

/// NT-Xent of two views at `temperature` on their device (see the module docs).
pub(crate) fn nt_xent_resident<B: Dim, C: Dim, F, D, T>(
    views: Vec<Tensor<(B, C), F, D, T>>,
    temperature: f64,
) -> Result<Tensor<Rank0, F, D, T>, Error>
where
    F: LossFloat,
    D: ResidentDevice<F>,
    T: Tape<F, D>,
{
    let op = "nt_xent";
    let Taken {
        xs,
        mut tape,
        rows: b,
        cols: d,
    } = take_views(op, views)?;
    if xs.len() != 2 {
        let reason = "NT-Xent takes exactly 2 views";
        return Err(Error::config(op, "views", xs.len(), reason));
    }
    let device = xs[0].device().clone();
    let z = normalize_views(xs, (b, d), &mut tape)?;
    let inv_t = cst::<F>(1.0 / temperature);
    let taped = |v: usize| z[v].clone().retaped::<T>();
    let sim = |a: usize, bv: usize| -> Result<Rows<F, D, T>, Error> {
        dev(dev(gram(taped(a), taped(bv)))?.try_mul(inv_t))
    };
    let s01 = sim(0, 1)?;
    // the positives S_01[i][i], read off the same product as the logsumexp terms
    let pos = dev(pick(diagonal::<F, D>(&device, b)?, s01.with_empty_tape()))?;
    let (lse0, lse1) = if b == 1 {
        // no negatives: each row's only other entry is its positive
        let lse = |s: Rows<F, D, T>| dev(s.try_logsumexp::<(usize,), Axis<1>>());
        (lse(s01)?, lse(sim(1, 0)?)?)
    } else {
        (
            log_sum_exp2(without_diagonal(sim(0, 0)?)?, s01)?,
            log_sum_exp2(sim(1, 0)?, without_diagonal(sim(1, 1)?)?)?,
        )
    };
    let pos = dev(pos.try_sum::<Rank0, _>())?;
    let total = dev(lse0.try_sum::<Rank0, _>())?;
    let total = dev(total.try_add(dev(lse1.try_sum::<Rank0, _>())?))?;
    let total = dev(total.try_sub(dev(pos.try_mul(cst::<F>(2.0)))?))?;
    let loss = dev(total.try_mul(cst::<F>(1.0 / (2 * b) as f64)))?;
    let (loss, t) = loss.split_tape();
    Ok(loss.put_tape(tape.merge(t)))
}

/// logsumexp over the columns of `a` and `b` together, per row.
fn log_sum_exp2<F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    a: Rows<F, D, T>,
    b: Rows<F, D, T>,
) -> Result<Col<F, D, T>, Error> {
    let la: Col<F, D, T> = dev(a.try_logsumexp::<(usize,), Axis<1>>())?;
    let lb: Col<F, D, T> = dev(b.try_logsumexp::<(usize,), Axis<1>>())?;
    let m = dev(la
        .retaped::<NoneTape>()
        .try_maximum(lb.retaped::<NoneTape>()))?;
    let m = dev(m.try_add(F::zero()))?; // a fresh id: m is held fixed
    let ea = dev(dev(la.try_sub(m.clone()))?.try_exp())?;
    let eb = dev(dev(lb.try_sub(m.clone()))?.try_exp())?;
    dev(dev(dev(ea.try_add(eb))?.try_ln())?.try_add(m))
}
