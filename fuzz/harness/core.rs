//! Fuzz harnesses for groco-core, shared by the `cargo fuzz` targets in `fuzz/fuzz_targets/` and
//! the regression tests in `groco-core/tests/fuzz_regressions.rs` (both include this file with
//! `#[path]`), so a saved crash input replays through the same code.
//!
//! Inputs are decoded with `arbitrary`: sizes (n = 0, 1, up to 96 for full P, any `usize` for
//! `try_new` alone), floats from raw bits (NaN, ±inf, subnormals, 1e30 all occur), steepness,
//! λ, every network and relaxation, f32 and f64, and scratch buffers shorter than asked for.
//! A call may refuse its input with an `Err`; it must never panic, and where it succeeds its
//! outputs must be finite and within their documented ranges (checked in the regime the crate
//! promises: steepness ≤ 1e4, λ ≤ 1, |x| ≤ 1e30, gradients ≤ 1e6 in size).

use arbitrary::{Arbitrary, Result, Unstructured};
use groco_core::{GrocoRowLoss, Network, Real, Relaxation, SortConfig, Sorter};

/// Largest n for which the full P (n² values) and the batch forms are exercised.
const MAX_N: usize = 96;

fn float<F: Real>(u: &mut Unstructured<'_>, wide: bool) -> Result<F> {
    // Mostly ordinary values of either sign; sometimes raw bits (any f64, NaN and inf included).
    Ok(match u.int_in_range(0u8..=7)? {
        0 if wide => F::from(f64::from_bits(u.arbitrary()?)).unwrap_or_else(F::nan),
        1 => F::from(
            [
                0.0,
                -0.0,
                1e30,
                -1e30,
                1e-30,
                1e4,
                f64::MAX,
                f64::MIN_POSITIVE,
            ][u.choose_index(8)?],
        )
        .unwrap_or_else(F::nan),
        2 => F::from(i16::arbitrary(u)?).unwrap() / F::from(16.0).unwrap(),
        _ => F::from(f64::from(i32::arbitrary(u)?) * 1e-6).unwrap(),
    })
}

fn floats<F: Real>(u: &mut Unstructured<'_>, len: usize, wide: bool) -> Result<Vec<F>> {
    let mut v = Vec::with_capacity(len);
    for _ in 0..len {
        // Once the input runs out, keep filling (arbitrary yields zeros) so sizes stay as chosen.
        v.push(float(u, wide)?);
    }
    Ok(v)
}

fn config<F: Real>(u: &mut Unstructured<'_>) -> Result<SortConfig<F>> {
    let network = *u.choose(&Network::ALL)?;
    let relaxation = *u.choose(&Relaxation::ALL)?;
    let steepness = match u.int_in_range(0u8..=3)? {
        0 => float(u, true)?,
        1 => F::from([0.0, -1.0, 1e-30, 1e4, 1e6, 1e30, f64::INFINITY][u.choose_index(7)?])
            .unwrap_or_else(F::nan),
        _ => F::from(f64::from(u.int_in_range(1u32..=100_000)?) / 10.0).unwrap(),
    };
    let mut c = SortConfig::new(network, relaxation, steepness);
    if u.ratio(1u8, 4)? {
        c.art_lambda = float(u, true)?;
    }
    Ok(c)
}

fn size(u: &mut Unstructured<'_>) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => 0,
        1 => 1,
        2 => u.int_in_range(0..=MAX_N)?,
        _ => u.int_in_range(2..=16)?,
    })
}

/// Scratch of the asked length, or (sometimes) a shorter one, which must be refused.
fn scratch<F: Real>(u: &mut Unstructured<'_>, len: usize) -> Result<Vec<F>> {
    let short = if u.ratio(1u8, 8)? {
        u.int_in_range(1..=len.max(1))?
    } else {
        0
    };
    Ok(vec![F::nan(); len.saturating_sub(short)])
}

/// Whether the crate promises finite results for these inputs.
fn promised<F: Real>(c: &SortConfig<F>, vals: &[&[F]]) -> bool {
    let lim = |v: &F, b: f64| v.to_f64().is_some_and(|x| x.abs() <= b);
    lim(&c.steepness, 1e4)
        // λ > 1 is outside the promise: logistic_phi's slope at a tie is ¼·s·1e10^λ, and f32
        // row-loss gradients overflow there (fuzz/regressions/core_row_loss/crash-eaa47483…).
        && lim(&c.art_lambda, 1.0)
        && vals[0].iter().all(|v| lim(v, 1e30))
        && vals[1..].iter().all(|s| s.iter().all(|v| lim(v, 1e6)))
}

fn all_finite<F: Real>(v: &[F]) -> bool {
    v.iter().all(|x| x.is_finite())
}

fn sort_case<F: Real + core::fmt::Debug>(u: &mut Unstructured<'_>) -> Result<()> {
    let cfg = config::<F>(u)?;
    if u.ratio(1u8, 16)? {
        // Any size: construction must refuse or succeed without allocating n² anything.
        let _ = Sorter::try_new(u.arbitrary::<usize>()?, cfg);
        return Ok(());
    }
    let n = size(u)?;
    let Ok(s) = Sorter::try_new(n, cfg) else {
        return Ok(());
    };
    assert!(n >= 1 && s.n() == n);
    let wide = u.ratio(1u8, 3)?;
    let x: Vec<F> = floats(u, n, wide)?;
    let gs: Vec<F> = floats(u, n, wide)?;
    let gp: Vec<F> = floats(u, n * n, wide)?;
    let ok = promised(&cfg, &[&x, &gs, &gp]);
    let nf = F::from(n - 1).unwrap();
    let tol = F::from(1e-3).unwrap() * (nf + F::one());

    let mut sorted = vec![F::nan(); n];
    let mut scr = scratch::<F>(u, s.forward_scratch_len())?;
    let _ = s.try_sort_values(&x, &mut sorted, &mut []);
    let mut perm = vec![F::nan(); n * n];
    if s.try_forward(&x, &mut sorted, &mut perm, &mut scr).is_ok() {
        assert!(scr.len() >= s.forward_scratch_len());
        assert!(
            all_finite(&sorted) && all_finite(&perm),
            "forward not finite: {cfg:?} x={x:?}"
        );
        assert!(
            perm.iter().all(|&p| p >= -tol && p <= F::one() + tol),
            "P outside [0, 1]: {cfg:?}"
        );
    }
    let mut gx = vec![F::nan(); n];
    let mut scr = scratch::<F>(u, s.scratch_len())?;
    if s.try_backward(&x, &gs, &gp, &mut gx, &mut scr).is_ok() && ok {
        assert!(all_finite(&gx), "backward not finite: {cfg:?} x={x:?}");
    }
    let mut ranks = vec![F::nan(); n];
    let mut scr = scratch::<F>(u, s.ranks_scratch_len())?;
    if s.try_soft_ranks(&x, &mut ranks, &mut scr).is_ok() {
        assert!(
            ranks
                .iter()
                .all(|&r| r.is_finite() && r >= -tol && r <= nf + tol),
            "ranks: {cfg:?} x={x:?} {ranks:?}"
        );
    }
    if s.try_soft_ranks_backward(&x, &gs, &mut gx, &mut scr)
        .is_ok()
        && ok
    {
        assert!(
            all_finite(&gx),
            "ranks backward not finite: {cfg:?} x={x:?}"
        );
    }
    // Batches: B rows (enough for the lane path when n ≤ 64).
    let rows = u.int_in_range(1usize..=12)?;
    let xb: Vec<F> = floats(u, rows * n, wide)?;
    let (mut yb, mut pb) = (vec![F::nan(); rows * n], vec![F::nan(); rows * n * n]);
    let mut scr = scratch::<F>(u, s.batch_scratch_len(rows))?;
    if s.try_forward_batch(&xb, &mut yb, &mut pb, &mut scr).is_ok() {
        assert!(
            all_finite(&yb) && all_finite(&pb),
            "batch forward not finite: {cfg:?}"
        );
    }
    let gsb: Vec<F> = floats(u, rows * n, wide)?;
    let gpb: Vec<F> = floats(u, rows * n * n, wide)?;
    let mut gxb = vec![F::nan(); rows * n];
    let okb = promised(&cfg, &[&xb, &gsb, &gpb]);
    if s.try_backward_batch(&xb, &gsb, &gpb, &mut gxb, &mut scr)
        .is_ok()
        && okb
    {
        assert!(all_finite(&gxb), "batch backward not finite: {cfg:?}");
    }
    Ok(())
}

/// `Sorter` forward, backward, soft ranks and their batch forms.
pub fn core_sort(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => sort_case::<f64>(&mut u),
        _ => sort_case::<f32>(&mut u),
    };
}

fn row_loss_case<F: Real + core::fmt::Debug>(u: &mut Unstructured<'_>) -> Result<()> {
    let cfg = config::<F>(u)?;
    if u.ratio(1u8, 16)? {
        // Any sizes: construction must refuse or succeed without allocating anything.
        let _ = GrocoRowLoss::try_new(u.arbitrary()?, u.arbitrary()?, u.arbitrary()?, cfg);
        return Ok(());
    }
    let m = size(u)?;
    let (p, k) = (size(u)?, u.int_in_range(0..=m + 1)?);
    let Ok(l) = GrocoRowLoss::try_new(p, m, k, cfg) else {
        return Ok(());
    };
    assert!(p + k >= 1 && m >= k && p + k <= 2 * MAX_N + 1);
    let wide = u.ratio(1u8, 3)?;
    // Sometimes a wrong length, which must be refused.
    let (dp, dm) = if u.ratio(1u8, 8)? {
        (u.int_in_range(0..=2)?, u.int_in_range(0..=2)?)
    } else {
        (0, 0)
    };
    let pos: Vec<F> = floats(u, p + dp, wide)?;
    let neg: Vec<F> = floats(u, m + dm, wide)?;
    let mut scr = scratch::<F>(u, l.scratch_len())?;
    let ok = promised(&cfg, &[&pos, &neg]) && promised(&cfg, &[&neg]);
    let loss = l.try_loss(&pos, &neg, &mut scr);
    let (mut gp, mut gn) = (vec![F::nan(); p], vec![F::nan(); m]);
    let both = l.try_loss_and_grad(&pos, &neg, &mut gp, &mut gn, &mut scr);
    assert_eq!(loss.is_ok(), both.is_ok(), "{cfg:?}: {loss:?} vs {both:?}");
    if let (Ok(a), Ok(b)) = (loss, both) {
        assert!(dp == 0 && dm == 0);
        assert!(
            a.is_finite() && a >= F::zero() && a <= F::from(100.0).unwrap(),
            "loss {a:?}: {cfg:?}"
        );
        assert_eq!(a, b, "loss differs between try_loss and try_loss_and_grad");
        if ok {
            assert!(
                all_finite(&gp) && all_finite(&gn),
                "grad not finite: {cfg:?} {pos:?} {neg:?}"
            );
        }
    }
    Ok(())
}

/// `GrocoRowLoss` construction, loss and gradient.
pub fn core_row_loss(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => row_loss_case::<f64>(&mut u),
        _ => row_loss_case::<f32>(&mut u),
    };
}
