//! Device-resident building blocks of the losses, composed of dfdx's own ops so that the same
//! code runs on `Cuda` and, in the tests, on `Cpu`: row normalisation, detached copies, the
//! top-k selection masks and one-hot columns.
//!
//! - z = x / max(‖x‖, ε), computed as x / sqrt(max(Σx², ε²)) so that a row below ε gets the
//!   gradient dz/ε of PyTorch's clamp (the clamp passes nothing to the norm) instead of 0·∞.
//! - top-k of a row of S without its diagonal: k rounds of (row max m; the first column c with
//!   `S[c] = m`, as the minimum over columns of (c if `S[c] = m` else c + n); one-hot mask of c;
//!   that column set to −∞), on values without a tape. Ties go to the lower column, as in the
//!   host code. The masks then pick the values out of the taped S (`choose` + row sum), so the
//!   gradient reaches exactly the chosen entries.

use dfdx::prelude::*;

use super::cosine::COSINE_EPS;
use super::float::{cst, LossFloat};
use crate::constants::cached;
use crate::Error;

/// `(rows, cols)`.
pub(crate) type Rows<F, D, T = NoneTape> = Tensor<(usize, usize), F, D, T>;
/// `(rows,)`.
pub(crate) type Col<F, D, T = NoneTape> = Tensor<(usize,), F, D, T>;
/// A `(rows, cols)` mask.
pub(crate) type Mask<D> = Tensor<(usize, usize), bool, D>;

/// What the device-resident losses need of a device.
pub trait ResidentDevice<F: LossFloat>: Device<F> + 'static {}
impl<F: LossFloat, D: Device<F> + 'static> ResidentDevice<F> for D {}

/// Maps a dfdx error.
pub(crate) fn dev<X, Er: std::fmt::Debug>(r: Result<X, Er>) -> Result<X, Error> {
    r.map_err(Error::device)
}

/// The rows of `x` normalised on a fresh tape: z without its tape, and the tape (which holds
/// the normalisation's backward).
pub(crate) fn normalize<F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    x: Rows<F, D, T>,
) -> Result<(Rows<F, D>, T), D::Err> {
    let shape = *x.shape();
    let eps = COSINE_EPS;
    let norm = x
        .with_empty_tape()
        .try_square()?
        .try_sum::<(usize,), Axis<1>>()?
        .try_clamp(eps * eps, f64::INFINITY)?
        .try_sqrt()?;
    let z = x.try_div(norm.try_broadcast_like::<_, Axis<1>>(&shape)?)?;
    Ok(z.split_tape())
}

/// Every view (taken off its tape, `(B, C)` of `shape` values) normalised by [`normalize`], the
/// normalisations' backward merged into `tape`.
pub(crate) fn normalize_views<B: Dim, C: Dim, F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    xs: Vec<Tensor<(B, C), F, D>>,
    shape: (usize, usize),
    tape: &mut T,
) -> Result<Vec<Rows<F, D>>, Error> {
    let mut z = Vec::with_capacity(xs.len());
    for x in xs {
        let x = dev(x.try_reshape_like(&shape))?;
        let (zv, t) = dev(normalize(x.retaped::<T>()))?;
        *tape = std::mem::take(tape).merge(t);
        z.push(zv);
    }
    Ok(z)
}

/// A copy of `t`'s values under a new id: gradients given to it go nowhere.
pub(crate) fn detached<S: Shape, F: LossFloat, D: ResidentDevice<F>>(
    t: &Tensor<S, F, D>,
) -> Result<Tensor<S, F, D>, D::Err> {
    t.clone().try_add(F::zero())
}

/// a·bᵀ for row sets `a` (n × d, taped) and `b` (m × d). `b` may be `a`'s own values: it goes
/// in under a new id (×1, which passes the gradient), since a dfdx op cannot take one tensor as
/// both operands.
pub(crate) fn gram<F: LossFloat, D: ResidentDevice<F>, T, R: Tape<F, D>>(
    a: Rows<F, D, T>,
    b: Rows<F, D, R>,
) -> Result<Rows<F, D, T>, D::Err>
where
    T: Tape<F, D> + Merge<R>,
{
    let bt = b.try_mul(F::one())?.try_permute::<_, Axes2<1, 0>>()?;
    a.try_matmul(bt)
}

/// `Σ_c a[r][c]·b[r][c]` per row r. dfdx's backward gives both operands their gradient, keyed
/// by id, whatever their tapes: `b` receives its share when it shares an id with a tensor of the
/// graph (pass a [`detached`] copy to block that).
pub(crate) fn row_dots<F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    a: Rows<F, D, T>,
    b: Rows<F, D>,
) -> Result<Col<F, D, T>, D::Err> {
    a.try_mul(b)?.try_sum::<(usize,), Axis<1>>()
}

/// `(rows, cols)` filled with the column index c (as `F`).
fn column_index<F: LossFloat, D: ResidentDevice<F>>(
    device: &D,
    rows: usize,
    cols: usize,
) -> Result<Rows<F, D>, Error> {
    let iota = cached(device, "column index", &[cols], (cols,), || {
        (0..cols).map(|c| cst::<F>(c as f64)).collect()
    })?;
    dev(iota.try_broadcast_like::<_, Axis<0>>(&(rows, cols)))
}

/// The diagonal of an n × n matrix, as a mask.
pub(crate) fn diagonal<F: LossFloat, D: ResidentDevice<F>>(
    device: &D,
    n: usize,
) -> Result<Mask<D>, Error> {
    let eye = cached(device, "identity", &[n], (n, n), || {
        let mut m = vec![F::zero(); n * n];
        m.iter_mut().step_by(n + 1).for_each(|v| *v = F::one());
        m
    })?;
    dev(eye.try_gt(cst::<F>(0.5)))
}

/// `s` (n × n) with −∞ on its diagonal.
pub(crate) fn without_diagonal<F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    s: Rows<F, D, T>,
) -> Result<Rows<F, D, T>, Error> {
    let shape = *s.shape();
    let d = s.device().clone();
    let diag = diagonal::<F, D>(&d, shape.0)?;
    let neg_inf = dev(dev(d.try_zeros_like(&shape))?.try_add(F::neg_infinity()))?;
    let zero = dev(d.try_zeros_like(&shape))?;
    let add = dev(diag.try_choose(neg_inf, zero))?;
    dev(s.try_add(add))
}

/// The one-hot masks of the `k` largest entries of each row of `s`, in descending order, ties
/// to the lower column (see the module docs). Entries at −∞ are never chosen while others are
/// left.
pub(crate) fn top_k_masks<F: LossFloat, D: ResidentDevice<F>>(
    s: &Rows<F, D>,
    k: usize,
) -> Result<Vec<Mask<D>>, Error> {
    let shape = *s.shape();
    let d = s.device().clone();
    let index = column_index::<F, D>(&d, shape.0, shape.1)?;
    let beyond = dev(index.clone().try_add(cst::<F>(shape.1 as f64)))?;
    let neg_inf = dev(dev(d.try_zeros_like(&shape))?.try_add(F::neg_infinity()))?;
    let mut rest = s.clone();
    let mut masks = Vec::with_capacity(k);
    for _ in 0..k {
        let m = dev(rest.clone().try_max::<(usize,), Axis<1>>())?;
        let hit = dev(rest.try_eq(&dev(m.try_broadcast_like::<_, Axis<1>>(&shape))?))?;
        let first = dev(hit.try_choose(index.clone(), beyond.clone()))?;
        let first = dev(first.try_min::<(usize,), Axis<1>>())?;
        let one = dev(index.try_eq(&dev(first.try_broadcast_like::<_, Axis<1>>(&shape))?))?;
        rest = dev(one.clone().try_choose(neg_inf.clone(), rest))?;
        masks.push(one);
    }
    Ok(masks)
}

/// `Σ_c [mask[r][c]]·s[r][c]` per row r: the entry of each row that a one-hot mask picks.
pub(crate) fn pick<F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    mask: Mask<D>,
    s: Rows<F, D, T>,
) -> Result<Col<F, D, T>, D::Err> {
    let zero = s.device().try_zeros_like(s.shape())?;
    mask.try_choose(s, zero)?.try_sum::<(usize,), Axis<1>>()
}

/// Columns `cols[j]` (each `(rows,)`) side by side as a `(rows, cols.len())` matrix, by
/// broadcasting each against a one-hot row (cached constants).
pub(crate) fn side_by_side<F: LossFloat, D: ResidentDevice<F>, T: Tape<F, D>>(
    device: &D,
    cols: Vec<Col<F, D, T>>,
) -> Result<Rows<F, D, T>, Error> {
    let width = cols.len();
    let mut out: Option<Rows<F, D, T>> = None;
    for (j, c) in cols.into_iter().enumerate() {
        let shape = (c.shape().0, width);
        let e = cached(device, "one-hot row", &[width, j], (width,), || {
            (0..width)
                .map(|i| if i == j { F::one() } else { F::zero() })
                .collect()
        })?;
        let e = dev(e.try_broadcast_like::<_, Axis<0>>(&shape))?;
        let term = dev(dev(c.try_broadcast_like::<_, Axis<1>>(&shape))?.try_mul(e))?;
        out = Some(match out {
            None => term,
            Some(acc) => dev(acc.try_add(term))?,
        });
    }
    out.ok_or_else(|| Error::config("side_by_side", "columns", 0, "at least one is needed"))
}
