//! Differentiable sorting of the rows of a `(B, N)` tensor as dfdx ops: [`diff_sort`] (sorted
//! values and the relaxed permutation matrix P, with `sorted = x·P` per row, diffsort's
//! convention), [`diff_sort_values`] (values only) and [`soft_rank`] (`rank_i = Σ_j j·P[i][j]`).
//! The forward and the backward are groco-core's [`Sorter`] batch calls on the host (rows
//! split over rayon tasks); the backward is the core's analytic VJP, no autograd inside.
//!
//! # Two outputs, one tape
//! A dfdx 0.13 tape is owned by one tensor, so [`diff_sort`] registers a single backward op, on
//! the tape carried by `perm`, which reads the gradients of *both* outputs and makes one call
//! of the core's VJP with (grad_sorted, grad_perm). `sorted` carries an empty tape: use both
//! outputs in the loss (their tapes merge when they are combined) or, when only P is needed,
//! drop `sorted`. A loss of `sorted` alone must use [`diff_sort_values`], since the tape
//! carried by `perm` would be dropped with it.
//!
//! If an upstream gradient holds NaN or ±inf, the core refuses it and the input gradient of the
//! affected rows is NaN (dfdx's backward cannot return an error of ours).

use dfdx::prelude::*;
use groco_core::{SortConfig, Sorter, LANES};
use groco_dispatch::Dispatch;
use rayon::prelude::*;

use super::device::{check_finite, core_error, read_host, tensor_from_host, LossDevice};
use super::float::LossFloat;
use crate::host::Scratch;
use crate::Error;

/// A checked input: the tape-less tensor, its tape, its host copy and the sorter.
struct Prepared<S: Shape, F: LossFloat, D: LossDevice<F>, T> {
    x: Tensor<S, F, D>,
    tape: T,
    host: Scratch<F>,
    sorter: Sorter<F>,
    rows: usize,
}

fn prepare<B: Dim, N: Dim, F: LossFloat, D: LossDevice<F>, T: Tape<F, D>>(
    op: &'static str,
    x: Tensor<(B, N), F, D, T>,
    config: SortConfig<F>,
) -> Result<Prepared<(B, N), F, D, T>, Error> {
    let (rows, n) = (x.shape().0.size(), x.shape().1.size());
    if rows == 0 || n == 0 {
        return Err(Error::shape(
            op,
            "x of shape (B, N) with B, N >= 1",
            format!("({rows}, {n})"),
        ));
    }
    let sorter = Sorter::try_new(n, config).map_err(core_error(op))?;
    let (x, tape) = x.try_contiguous().map_err(Error::device)?.split_tape();
    let host = read_host(&x);
    check_finite(op, "x", &host, n)?;
    Ok(Prepared {
        x,
        tape,
        host,
        sorter,
        rows,
    })
}

/// Rows per rayon task: one task per thread, in whole lane groups of the core.
fn rows_per_task(rows: usize) -> usize {
    rows.div_ceil(rayon::current_num_threads())
        .div_ceil(LANES)
        .max(1)
        * LANES
}

/// The core's VJP on all rows: grad_x for (grad_sorted, grad_perm); NaN where it refuses.
fn sort_vjp<F: LossFloat>(sorter: &Sorter<F>, x: &[F], gs: &[F], gp: &[F]) -> Scratch<F> {
    let n = sorter.n();
    let ch = rows_per_task(x.len() / n);
    let isa = Dispatch::detect();
    let mut gx = Scratch::take(x.len());
    x.par_chunks(ch * n)
        .zip(gs.par_chunks(ch * n).zip(gp.par_chunks(ch * n * n)))
        .zip(gx.par_chunks_mut(ch * n))
        .for_each(|((xc, (gsc, gpc)), gxc)| {
            let mut sc = Scratch::take(sorter.batch_scratch_len(xc.len() / n));
            if isa
                .run(
                    #[inline(always)]
                    || {
                        let tr = isa.transposer();
                        sorter.try_backward_batch_inlined(xc, gsc, gpc, gxc, &mut sc, tr)
                    },
                )
                .is_err()
            {
                gxc.fill(F::nan());
            }
        });
    gx
}

/// Relaxed sort of each row of `x`: `(sorted (B, N), perm (B, N, N))` with
/// `sorted[b][j] = Σ_i x[b][i]·perm[b][i][j]`. The backward op rides on `perm`'s tape and reads
/// both outputs' gradients (see the module docs). Errors: B or N = 0, NaN/±inf in `x`, an
/// invalid config, or `steepness·(max − min)` overflowing `F`.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_core::{Network, Relaxation, SortConfig};
/// use groco_dfdx::loss::diff_sort;
/// let dev = Cpu::default();
/// let x: Tensor<Rank2<1, 3>, f64, _> = dev.tensor([[2.0, -1.0, 0.5]]);
/// let cfg = SortConfig::new(Network::OddEven, Relaxation::Cauchy, 10.0);
/// let (sorted, perm) = diff_sort(x.leaky_trace(), cfg)?;
/// let s = sorted.array()[0];
/// assert!(s[0] < s[1] && s[1] < s[2]);
/// // both outputs in one loss: their tapes merge
/// let loss = sorted.sum() + perm.select(dev.tensor([0usize; 1])).sum::<Rank0, _>();
/// let grads = loss.backward();
/// assert_eq!(grads.get(&x).array()[0].len(), 3);
/// # Ok::<(), groco_dfdx::Error>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn diff_sort<B: Dim, N: Dim, F: LossFloat, D: LossDevice<F>, T: Tape<F, D>>(
    x: Tensor<(B, N), F, D, T>,
    config: SortConfig<F>,
) -> Result<(Tensor<(B, N), F, D, T>, Tensor<(B, N, N), F, D, T>), Error> {
    let op = "diff_sort";
    let Prepared {
        x,
        mut tape,
        host,
        sorter,
        rows,
    } = prepare(op, x, config)?;
    let n = sorter.n();
    let (mut sorted, mut perm) = (Scratch::take(rows * n), Scratch::take(rows * n * n));
    let ch = rows_per_task(rows);
    let isa = Dispatch::detect();
    host.par_chunks(ch * n)
        .zip(
            sorted
                .par_chunks_mut(ch * n)
                .zip(perm.par_chunks_mut(ch * n * n)),
        )
        .try_for_each(|(xc, (yc, pc))| {
            let mut sc = Scratch::take(sorter.batch_scratch_len(xc.len() / n));
            isa.run(
                #[inline(always)]
                || sorter.try_forward_batch_inlined(xc, yc, pc, &mut sc, isa.transposer()),
            )
        })
        .map_err(core_error(op))?;
    let (bd, nd) = *x.shape();
    let sorted = tensor_from_host(x.device(), (bd, nd), &sorted)?;
    let perm = tensor_from_host(x.device(), (bd, nd, nd), &perm)?;
    if T::OWNS_TAPE {
        let (x_ghost, s_ghost, p_ghost) = (x.ghost(), sorted.ghost(), perm.ghost());
        tape.add_backward_op(move |grads| {
            let (mut gs, mut gp) = (Scratch::take(rows * n), Scratch::take(rows * n * n));
            D::grad_to_host(grads.get_or_alloc_mut(&s_ghost)?, &mut gs)?;
            D::grad_to_host(grads.get_or_alloc_mut(&p_ghost)?, &mut gp)?;
            let gx = sort_vjp(&sorter, &host, &gs, &gp);
            D::grad_add_scaled(grads.get_or_alloc_mut(&x_ghost)?, F::one(), &gx)
        });
    }
    Ok((sorted.put_tape(T::default()), perm.put_tape(tape)))
}

/// The sorted values alone (O(B·N·depth) forward, P never formed), on `x`'s tape. The backward
/// is the core's VJP with grad_perm = 0 (it recomputes P's rows: O(B·N²·depth)).
///
/// ```
/// use dfdx::prelude::*;
/// use groco_core::SortConfig;
/// use groco_dfdx::loss::diff_sort_values;
/// let dev = Cpu::default();
/// let x: Tensor<Rank2<2, 4>, f32, _> = dev.sample_normal();
/// let sorted = diff_sort_values(x.leaky_trace(), SortConfig::default())?;
/// // the relaxed sort keeps the row sums
/// let (a, s) = (x.array(), sorted.array());
/// assert!((a[0].iter().sum::<f32>() - s[0].iter().sum::<f32>()).abs() < 1e-5);
/// let grads = sorted.sum().backward();
/// assert!(grads.get(&x).array().iter().flatten().all(|g| (g - 1.0).abs() < 1e-5));
/// # Ok::<(), groco_dfdx::Error>(())
/// ```
pub fn diff_sort_values<B: Dim, N: Dim, F: LossFloat, D: LossDevice<F>, T: Tape<F, D>>(
    x: Tensor<(B, N), F, D, T>,
    config: SortConfig<F>,
) -> Result<Tensor<(B, N), F, D, T>, Error> {
    let op = "diff_sort_values";
    let Prepared {
        x,
        mut tape,
        host,
        sorter,
        rows,
    } = prepare(op, x, config)?;
    let n = sorter.n();
    let mut sorted = Scratch::take(rows * n);
    host.par_chunks(n)
        .zip(sorted.par_chunks_mut(n))
        .with_min_len(64)
        .try_for_each(|(xr, yr)| sorter.try_sort_values(xr, yr, &mut []))
        .map_err(core_error(op))?;
    let sorted = tensor_from_host(x.device(), *x.shape(), &sorted)?;
    if T::OWNS_TAPE {
        let (x_ghost, s_ghost) = (x.ghost(), sorted.ghost());
        tape.add_backward_op(move |grads| {
            let mut gs = Scratch::take(rows * n);
            D::grad_to_host(grads.get_or_alloc_mut(&s_ghost)?, &mut gs)?;
            let gp = Scratch::zeroed(rows * n * n);
            let gx = sort_vjp(&sorter, &host, &gs, &gp);
            D::grad_add_scaled(grads.get_or_alloc_mut(&x_ghost)?, F::one(), &gx)
        });
    }
    Ok(sorted.put_tape(tape))
}

/// Soft ranks of each row, `rank_i = Σ_j j·P[i][j]` in `[0, N − 1]` (0 = smallest), on `x`'s tape;
/// forward and backward O(B·N·depth) without forming P.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_core::{Network, Relaxation, SortConfig};
/// use groco_dfdx::loss::soft_rank;
/// let dev = Cpu::default();
/// let x: Tensor<Rank2<1, 3>, f64, _> = dev.tensor([[5.0, -2.0, 1.0]]);
/// let cfg = SortConfig::new(Network::OddEven, Relaxation::Cauchy, 100.0);
/// let r = soft_rank(x, cfg)?.array()[0];
/// assert!((r[0] - 2.0).abs() < 0.05 && r[1].abs() < 0.05 && (r[2] - 1.0).abs() < 0.05);
/// # Ok::<(), groco_dfdx::Error>(())
/// ```
pub fn soft_rank<B: Dim, N: Dim, F: LossFloat, D: LossDevice<F>, T: Tape<F, D>>(
    x: Tensor<(B, N), F, D, T>,
    config: SortConfig<F>,
) -> Result<Tensor<(B, N), F, D, T>, Error> {
    let op = "soft_rank";
    let Prepared {
        x,
        mut tape,
        host,
        sorter,
        rows,
    } = prepare(op, x, config)?;
    let n = sorter.n();
    let mut ranks = Scratch::take(rows * n);
    host.par_chunks(n)
        .zip(ranks.par_chunks_mut(n))
        .with_min_len(64)
        .try_for_each_init(
            || Scratch::take(sorter.slots()),
            |sc, (xr, rr)| sorter.try_soft_ranks(xr, rr, sc),
        )
        .map_err(core_error(op))?;
    let ranks = tensor_from_host(x.device(), *x.shape(), &ranks)?;
    if T::OWNS_TAPE {
        let (x_ghost, r_ghost) = (x.ghost(), ranks.ghost());
        tape.add_backward_op(move |grads| {
            let mut gr = Scratch::take(rows * n);
            D::grad_to_host(grads.get_or_alloc_mut(&r_ghost)?, &mut gr)?;
            let mut gx = Scratch::take(rows * n);
            host.par_chunks(n)
                .zip(gr.par_chunks(n).zip(gx.par_chunks_mut(n)))
                .with_min_len(64)
                .for_each_init(
                    || Scratch::take(sorter.ranks_scratch_len()),
                    |sc, (xr, (grr, gxr))| {
                        if sorter.try_soft_ranks_backward(xr, grr, gxr, sc).is_err() {
                            gxr.fill(F::nan());
                        }
                    },
                );
            D::grad_add_scaled(grads.get_or_alloc_mut(&x_ghost)?, F::one(), &gx)
        });
    }
    Ok(ranks.put_tape(tape))
}
