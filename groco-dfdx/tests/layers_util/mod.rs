//! Helpers shared by the `layers_*` integration tests: a seeded RNG (overridable with
//! `GROCO_SEED`), finite differences and closeness checks.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The test seed: `GROCO_SEED` or a fixed default.
pub fn seed() -> u64 {
    groco_testkit::seed_or(20230917)
}

/// A seeded RNG; `salt` separates the streams of different tests.
pub fn rng(salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `n` values uniform in `[-1, 1)`.
pub fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Max |a - b| / max(max |b|, floor).
pub fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Panics with the seed in the message when `rel_err(got, want) > tol`.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_close_floor(what, got, want, tol, 1e-12);
}

/// [`assert_close`] with the error scaled by at least `floor`.
pub fn assert_close_floor(what: &str, got: &[f64], want: &[f64], tol: f64, floor: f64) {
    let e = rel_err(got, want, floor);
    assert!(
        e <= tol,
        "{what}: relative error {e:.3e} > {tol:.1e} (GROCO_SEED={})",
        seed()
    );
}

/// The loss and its gradients with respect to every input block, for finite differences.
pub type LossFn<'a> = dyn Fn(&[Vec<f64>]) -> (f64, Vec<Vec<f64>>) + 'a;

/// Checks the analytic gradients `f` returns against central differences of its loss, for every
/// entry of every input block. A block is compared on the scale of its own largest entry, or of
/// 1e-4 times the largest gradient of all blocks if that is larger (a gradient that is 0 in
/// theory, such as a conv bias before batch norm, is then checked against rounding noise).
pub fn fd_check(what: &str, inputs: &[Vec<f64>], f: &LossFn<'_>, tol: f64) {
    const H: f64 = 1e-5;
    let (_, analytic) = f(inputs);
    assert_eq!(analytic.len(), inputs.len());
    let floor = 1e-4
        * analytic
            .iter()
            .flatten()
            .fold(1e-12f64, |m, v| m.max(v.abs()));
    for (bi, block) in inputs.iter().enumerate() {
        let mut numeric = vec![0.0; block.len()];
        for i in 0..block.len() {
            let mut p = inputs.to_vec();
            p[bi][i] = block[i] + H;
            let up = f(&p).0;
            p[bi][i] = block[i] - H;
            let down = f(&p).0;
            numeric[i] = (up - down) / (2.0 * H);
        }
        assert_close_floor(
            &format!("{what}: input block {bi}"),
            &analytic[bi],
            &numeric,
            tol,
            floor,
        );
    }
}

/// `Σ r ⊙ y` for a fixed pseudo-random `r` (a loss whose gradient reaches every output).
pub fn weighted_sum<S: Shape, D: Device<f64>, T: Tape<f64, D>>(
    dev: &D,
    y: Tensor<S, f64, D, T>,
) -> Tensor<Rank0, f64, D, T> {
    let n = y.shape().num_elements();
    let r: Vec<f64> = (0..n)
        .map(|i| ((i * 7919 % 1013) as f64 / 1013.0) - 0.4)
        .collect();
    let r = dev.tensor_from_vec(r, *y.shape());
    (y * r).sum()
}
