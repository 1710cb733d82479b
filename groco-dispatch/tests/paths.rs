//! Every dispatch path the CPU supports against the portable one, bit for bit: every `sort`
//! fixture (batched and row by row, forward and backward, f32 and f64, the inputs of the
//! fixture), and the GroCo row loss with its gradient on seeded random rows. The portable
//! path is the one `groco-core/tests/fixtures_sort.rs` checks against diffsort, so agreeing
//! with it bit for bit is passing those fixtures on every path.

use groco_core::{GrocoRowLoss, Network, Real, Relaxation, SortConfig, Sorter};
use groco_dispatch::{Dispatch, Isa};
use groco_testkit::fixtures::sources;
use groco_testkit::for_f32_f64;
use groco_testkit::rng::{seed, Rng};
use groco_testkit::SortCase;

/// Every output of the sort calls on one input, as bits.
fn sort_outputs<F: Real>(d: Dispatch, s: &Sorter<F>, x: &[F], gs: &[F], gp: &[F]) -> Vec<u64> {
    let (n, rows) = (s.n(), x.len() / s.n());
    let mut scratch = vec![F::zero(); s.batch_scratch_len(rows).max(s.scratch_len())];
    let (mut y, mut p, mut gx) = (
        vec![F::zero(); rows * n],
        vec![F::zero(); rows * n * n],
        vec![F::zero(); rows * n],
    );
    d.run(
        #[inline(always)]
        || {
            s.try_forward_batch_inlined(x, &mut y, &mut p, &mut scratch, d.transposer())?;
            s.try_backward_batch_inlined(x, gs, gp, &mut gx, &mut scratch, d.transposer())
        },
    )
    .expect("batched calls");
    let mut out: Vec<F> = [y, p, gx].concat();
    for b in 0..rows {
        let (r, q) = (b * n..(b + 1) * n, b * n * n..(b + 1) * n * n);
        let (mut y1, mut p1, mut g1) = (
            vec![F::zero(); n],
            vec![F::zero(); n * n],
            vec![F::zero(); n],
        );
        d.run(
            #[inline(always)]
            || {
                let tr = d.transposer();
                s.try_forward_inlined(&x[r.clone()], &mut y1, &mut p1, &mut scratch, tr)?;
                s.try_backward_inlined(
                    &x[r.clone()],
                    &gs[r.clone()],
                    &gp[q.clone()],
                    &mut g1,
                    &mut scratch,
                    tr,
                )
            },
        )
        .expect("row calls");
        out.extend(y1.into_iter().chain(p1).chain(g1));
    }
    out.iter().map(|v| v.to_f64().unwrap().to_bits()).collect()
}

fn sort_fixtures_agree<F: Real>() {
    let wide: Vec<Isa> = Isa::supported()
        .into_iter()
        .filter(|&i| i != Isa::Portable)
        .collect();
    println!("wide paths on this CPU: {wide:?}");
    let to = |v: &[f64]| -> Vec<F> { v.iter().map(|&e| F::from(e).unwrap()).collect() };
    let mut cases = 0;
    for file in sources("sort") {
        let c = SortCase::read(&file).unwrap();
        let cfg = SortConfig {
            network: c.network.parse::<Network>().unwrap(),
            relaxation: c.distribution.parse::<Relaxation>().unwrap(),
            steepness: F::from(c.steepness).unwrap(),
            art_lambda: F::from(c.art_lambda).unwrap(),
        };
        let s = Sorter::try_new(c.n, cfg).unwrap();
        let (x, gs, gp) = (to(&c.x), to(&c.grad_sorted), to(&c.grad_perm));
        let want = sort_outputs(Dispatch::PORTABLE, &s, &x, &gs, &gp);
        for &isa in &wide {
            let got = sort_outputs(Dispatch::try_new(isa).unwrap(), &s, &x, &gs, &gp);
            let first = got.iter().zip(&want).position(|(a, b)| a != b);
            assert_eq!(
                first,
                None,
                "{}: {isa} differs from portable",
                file.display()
            );
        }
        cases += 1;
    }
    assert!(cases > 0);
}
for_f32_f64!(sort_fixtures_agree);

/// The shapes the fixtures do not reach (their batches hold at most 3 rows): batches of at
/// least 8 rows, which run one batch row per lane with their P rows moved by the transposer
/// (full and partial groups, rows past n in the last tile), rows of n > 16 one at a time
/// (full blocks and a partial last one), and rows wide enough for the cache-tiled walk of the
/// single-row kernels (tiles of 256 wires in f32, 128 in f64), on seeded random inputs.
fn sort_lane_shapes_agree<F: Real>() {
    let mut rng = Rng::new(0x7a5);
    for (network, n, rows) in [
        (Network::OddEven, 11, 37),
        (Network::Bitonic, 32, 20),
        (Network::Bitonic, 16, 8),
        (Network::OddEvenMerge, 5, 9),
        (Network::Bitonic, 64, 17),
        (Network::OddEvenMerge, 70, 3),
        (Network::Bitonic, 100, 2),
        (Network::Bitonic, 600, 1),
        (Network::OddEvenMerge, 300, 1),
    ] {
        let relaxation = rng.pick(&Relaxation::ALL);
        let steep = F::from(rng.log_uniform(0.5, 20.0)).unwrap();
        let s = Sorter::try_new(n, SortConfig::new(network, relaxation, steep)).unwrap();
        let mut draw = |len| -> Vec<F> {
            (0..len)
                .map(|_| F::from(rng.uniform_in(-1.0, 1.0)).unwrap())
                .collect()
        };
        let (x, gs, gp) = (draw(rows * n), draw(rows * n), draw(rows * n * n));
        let want = sort_outputs(Dispatch::PORTABLE, &s, &x, &gs, &gp);
        for isa in Isa::supported() {
            let got = sort_outputs(Dispatch::try_new(isa).unwrap(), &s, &x, &gs, &gp);
            let first = got.iter().zip(&want).position(|(a, b)| a != b);
            assert_eq!(
                first,
                None,
                "{network} {relaxation} n={n} rows={rows}: {isa} differs from portable (GROCO_SEED={})",
                seed()
            );
        }
    }
}
for_f32_f64!(sort_lane_shapes_agree);

/// The GroCo row loss and its gradient, as bits.
fn row_loss_outputs<F: Real>(d: Dispatch, l: &GrocoRowLoss<F>, pos: &[F], neg: &[F]) -> Vec<u64> {
    let (mut gp, mut gn) = (vec![F::zero(); pos.len()], vec![F::zero(); neg.len()]);
    let mut scratch = vec![F::zero(); l.scratch_len()];
    let loss = d
        .run(
            #[inline(always)]
            || l.try_loss_and_grad_inlined(pos, neg, &mut gp, &mut gn, &mut scratch),
        )
        .expect("row loss");
    let loss_only = d
        .run(
            #[inline(always)]
            || l.try_loss_inlined(pos, neg, &mut scratch),
        )
        .expect("row loss");
    [vec![loss, loss_only], gp, gn]
        .concat()
        .iter()
        .map(|v| v.to_f64().unwrap().to_bits())
        .collect()
}

fn groco_row_loss_agrees<F: Real>() {
    let mut rng = Rng::new(0x15a);
    for (network, p, k, m) in [
        (Network::OddEven, 1, 10, 30),
        (Network::OddEven, 3, 4, 4),
        (Network::Bitonic, 2, 30, 64),
        (Network::OddEvenMerge, 1, 9, 20),
    ] {
        for relaxation in Relaxation::ALL {
            let steep = F::from(rng.log_uniform(0.5, 20.0)).unwrap();
            let l = GrocoRowLoss::try_new(p, m, k, SortConfig::new(network, relaxation, steep))
                .unwrap();
            let mut draw = |len| -> Vec<F> {
                (0..len)
                    .map(|_| F::from(rng.uniform_in(-1.0, 1.0)).unwrap())
                    .collect()
            };
            let (pos, neg) = (draw(p), draw(m));
            let want = row_loss_outputs(Dispatch::PORTABLE, &l, &pos, &neg);
            for isa in Isa::supported() {
                let got = row_loss_outputs(Dispatch::try_new(isa).unwrap(), &l, &pos, &neg);
                assert_eq!(
                    got, want,
                    "{network} {relaxation} p={p} k={k}: {isa} differs from portable (GROCO_SEED={})",
                    seed()
                );
            }
        }
    }
}
for_f32_f64!(groco_row_loss_agrees);
