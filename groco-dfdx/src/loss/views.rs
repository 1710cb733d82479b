//! The tape plumbing shared by the scalar losses over V views of shape (B, D): merge the views'
//! tapes, compute the loss (and, on a tape, its gradient) on the host, return a scalar tensor
//! whose backward adds `dL/dout · dL/dview` to each view's gradient.
//!
//! The gradient is computed eagerly in the forward, where every intermediate (normalised rows,
//! similarities, the core's per-row VJP) is at hand, and kept until the backward, which only
//! scales it by the output's gradient. A training step always runs both, so this costs nothing
//! extra; without a tape (`NoneTape`) no gradient is computed.

use dfdx::prelude::*;

use super::device::{check_finite, read_host, tensor_from_host, LossDevice};
use super::float::LossFloat;
use crate::host::Scratch;
use crate::Error;

/// A host loss over views: the loss, and dL/dview (row-major, one buffer per view) when asked.
#[derive(Debug)]
pub(crate) struct HostLoss<F: LossFloat> {
    pub loss: F,
    pub grads: Option<Vec<Scratch<F>>>,
}

/// Host view of the inputs: V row-major buffers of `rows` × `cols`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Views<'a, F> {
    pub data: &'a [&'a [F]],
    pub rows: usize,
    pub cols: usize,
}

/// Views checked, made contiguous and taken off their tapes, which are merged into one.
pub(crate) struct Taken<B: Dim, C: Dim, F: LossFloat, D: Storage<F>, T> {
    /// The views, without tape.
    pub xs: Vec<Tensor<(B, C), F, D>>,
    /// The views' tapes, merged.
    pub tape: T,
    /// B.
    pub rows: usize,
    /// D.
    pub cols: usize,
}

/// Checks: at least one view, equal shapes, B ≥ 1, D ≥ 1; then takes the views off their tapes.
pub(crate) fn take_views<B: Dim, C: Dim, F, D, T>(
    op: &'static str,
    views: Vec<Tensor<(B, C), F, D, T>>,
) -> Result<Taken<B, C, F, D, T>, Error>
where
    F: LossFloat,
    D: Device<F>,
    T: Tape<F, D>,
{
    let Some(first) = views.first() else {
        return Err(Error::config(op, "views", 0, "at least one view is needed"));
    };
    let (b0, c0) = (first.shape().0.size(), first.shape().1.size());
    if b0 == 0 || c0 == 0 {
        return Err(Error::shape(
            op,
            "views of shape (B, D) with B, D >= 1",
            format!("({b0}, {c0})"),
        ));
    }
    let mut tape = T::default();
    let mut xs = Vec::with_capacity(views.len());
    for (i, v) in views.into_iter().enumerate() {
        let (b, c) = (v.shape().0.size(), v.shape().1.size());
        if (b, c) != (b0, c0) {
            return Err(Error::shape(
                op,
                format!("views[{i}] of shape ({b0}, {c0}) like views[0]"),
                format!("({b}, {c})"),
            ));
        }
        let v = v.try_contiguous().map_err(Error::device)?;
        let (v, t) = v.split_tape();
        tape = tape.merge(t);
        xs.push(v);
    }
    Ok(Taken {
        xs,
        tape,
        rows: b0,
        cols: c0,
    })
}

/// Runs `compute` on the host copies of `views` and puts the scalar result on their merged tape.
/// Checks: at least one view, equal shapes, B ≥ 1, D ≥ 1, finite values.
pub(crate) fn scalar_loss_op<B: Dim, C: Dim, F, D, T>(
    op: &'static str,
    views: Vec<Tensor<(B, C), F, D, T>>,
    compute: impl FnOnce(Views<'_, F>, bool) -> Result<HostLoss<F>, Error>,
) -> Result<Tensor<Rank0, F, D, T>, Error>
where
    F: LossFloat,
    D: LossDevice<F>,
    T: Tape<F, D>,
{
    let Taken {
        xs,
        mut tape,
        rows: b0,
        cols: c0,
    } = take_views(op, views)?;
    let dev = xs[0].device().clone();
    let host: Vec<Scratch<F>> = xs.iter().map(read_host).collect();
    for (i, h) in host.iter().enumerate() {
        check_finite(op, &format!("views[{i}]"), h, c0)?;
    }
    let refs: Vec<&[F]> = host.iter().map(|h| &h[..]).collect();
    let views = Views {
        data: &refs,
        rows: b0,
        cols: c0,
    };
    let HostLoss { loss, grads } = compute(views, T::OWNS_TAPE)?;
    drop(host);
    let out = tensor_from_host(&dev, (), &[loss])?;
    let Some(grads) = grads.filter(|_| T::OWNS_TAPE) else {
        return Ok(out.put_tape(tape));
    };
    let ghosts: Vec<_> = xs.iter().map(|x| x.ghost()).collect();
    drop(xs);
    let out_ghost = out.ghost();
    tape.add_backward_op(move |g| {
        let mut gout = [F::zero()];
        D::grad_to_host(g.get_or_alloc_mut(&out_ghost)?, &mut gout)?;
        for (ghost, grad) in ghosts.iter().zip(&grads) {
            D::grad_add_scaled(g.get_or_alloc_mut(ghost)?, gout[0], grad)?;
        }
        Ok(())
    });
    Ok(out.put_tape(tape))
}
