//! Weighted k-NN: a hand-computed case, ties, top-5, bad input, and a 200k-row bank in chunks.

use groco_testkit::seed_or;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use trainer::eval::knn::{try_knn_accuracy, FeatureBank, KnnConfig};

fn cfg(ks: &[usize], t: f32) -> KnnConfig {
    KnnConfig {
        ks: ks.to_vec(),
        temperature: t,
        ..KnnConfig::default()
    }
}

/// Bank (2-D): b0 = (1, 0) class 0; b1 = (0, 1) class 1; b2 = (1, 1)/√2 class 1; b3 = (-1, 0)
/// class 2. Query q = (1, 0.2)/|.| = (0.98058, 0.19612), label 1.
/// Similarities: b0 0.98058, b2 (0.98058 + 0.19612)/√2 = 0.83205, b1 0.19612, b3 -0.98058.
///
/// T = 1:
/// - k = 1: {b0} → class 0 weight e^0.98058 = 2.666 → predicts 0 (wrong).
/// - k = 2: {b0, b2} → class 0: 2.666, class 1: e^0.83205 = 2.298 → predicts 0 (wrong).
/// - k = 3: {b0, b2, b1} → class 1: 2.298 + e^0.19612 = 2.298 + 1.217 = 3.515 > 2.666 → 1 (right).
/// - k = 4: adds b3 to class 2 (e^-0.98 = 0.375) → still 1 (right).
///
/// T = 0.07: k = 3 → class 0: e^14.008 = 1.21e6; class 1: e^11.886 + e^2.802 = 1.45e5 + 16
/// → predicts 0 (wrong). A sharp temperature lets the single nearest neighbour win.
#[test]
fn hand_computed_votes() {
    let bank = [1.0, 0.0, 0.0, 1.0, 0.5f32.sqrt(), 0.5f32.sqrt(), -1.0, 0.0];
    let labels = [0, 1, 1, 2];
    let q = [1.0, 0.2];
    let r = try_knn_accuracy(&bank, &labels, &q, &[1], 2, 3, &cfg(&[1, 2, 3, 4], 1.0)).unwrap();
    let top1: Vec<f64> = r.iter().map(|s| s.top1).collect();
    assert_eq!(top1, [0.0, 0.0, 1.0, 1.0]);
    // Three classes: the label is always within the top 5.
    assert!(r.iter().all(|s| s.top5 == 1.0 && s.queries == 1));
    let r = try_knn_accuracy(&bank, &labels, &q, &[1], 2, 3, &cfg(&[3], 0.07)).unwrap();
    assert_eq!(r[0].top1, 0.0);
    // The unnormalised bank gives the same answer: rows are normalised internally.
    let scaled: Vec<f32> = bank.iter().map(|v| v * 3.0).collect();
    let r = try_knn_accuracy(&scaled, &labels, &q, &[1], 2, 3, &cfg(&[3], 1.0)).unwrap();
    assert_eq!(r[0].top1, 1.0);
}

/// Seven classes, one bank row each, at angles 0°, 10°, ..., 60° from the query (class c at
/// 10c°). With k = 7 and T = 0.07 the votes fall with the angle, so class c ranks c-th:
/// classes 0..4 are top-5 hits, classes 5 and 6 are not.
#[test]
fn top5_counts_rank_below_five() {
    let bank: Vec<f32> = (0..7)
        .flat_map(|c| {
            let a = (10.0 * c as f32).to_radians();
            [a.cos(), a.sin()]
        })
        .collect();
    let labels: Vec<u16> = (0..7).collect();
    let queries = [1.0f32, 0.0].repeat(7);
    let r = try_knn_accuracy(&bank, &labels, &queries, &labels, 2, 7, &cfg(&[7], 0.07)).unwrap();
    assert!((r[0].top1 - 1.0 / 7.0).abs() < 1e-12);
    assert!((r[0].top5 - 5.0 / 7.0).abs() < 1e-12);
}

/// Ties. Rows 0 (class 2) and 1 (class 1) are the same vector (0, 1); row 2 (class 0) is (1, 0).
/// Query (0, 1): k = 1 takes row 0 (lower index wins a tie) → class 2. With k = 2 both tied rows
/// vote with equal weight → classes 1 and 2 tie → the lower class, 1, wins.
#[test]
fn ties_break_towards_lower_index_and_class() {
    let bank = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let b = FeatureBank::try_new(bank.to_vec(), vec![2, 1, 0], 2, 3).unwrap();
    let n = b.try_neighbours(&[0.0, 1.0], 2, &cfg(&[2], 0.07)).unwrap();
    assert_eq!(n.index, [0, 1]);
    let r = b
        .try_evaluate(&[0.0, 1.0, 0.0, 1.0], &[2, 1], &cfg(&[1, 2], 0.07))
        .unwrap();
    assert_eq!((r[0].top1, r[1].top1), (0.5, 0.5));
    let r = b
        .try_evaluate(&[0.0, 1.0], &[1], &cfg(&[1, 2], 0.07))
        .unwrap();
    assert_eq!((r[0].top1, r[1].top1), (0.0, 1.0));
}

#[test]
fn bad_input_is_rejected_with_names() {
    let bank = [1.0, 0.0, 0.0, 1.0];
    let e =
        try_knn_accuracy(&bank, &[0, 1], &[1.0, 0.0], &[0], 2, 2, &cfg(&[3], 0.07)).unwrap_err();
    assert!(
        e.to_string()
            .contains("k = 3: must be in 1..=2 (the bank size)"),
        "{e}"
    );
    let e =
        try_knn_accuracy(&bank, &[0, 1], &[1.0, 0.0], &[0], 2, 2, &cfg(&[0], 0.07)).unwrap_err();
    assert!(e.to_string().contains("k = 0"), "{e}");
    let e = try_knn_accuracy(&bank, &[0, 1], &[1.0, 0.0], &[0], 2, 2, &cfg(&[1], 0.0)).unwrap_err();
    assert!(e.to_string().contains("temperature = 0"), "{e}");
    let e = try_knn_accuracy(
        &bank,
        &[0, 1],
        &[1.0, f32::NAN],
        &[0],
        2,
        2,
        &cfg(&[1], 0.07),
    )
    .unwrap_err();
    assert!(e.to_string().contains("k-NN query features: row 0"), "{e}");
    let e = try_knn_accuracy(
        &bank,
        &[0, 1],
        &[1.0, 0.0, 1.0],
        &[0],
        2,
        2,
        &cfg(&[1], 0.07),
    )
    .unwrap_err();
    assert!(e.to_string().contains("multiple of dim = 2"), "{e}");
    let e =
        try_knn_accuracy(&bank, &[0, 5], &[1.0, 0.0], &[0], 2, 2, &cfg(&[1], 0.07)).unwrap_err();
    assert!(e.to_string().contains("k-NN bank label = 5"), "{e}");
    let e = try_knn_accuracy(&bank, &[0, 1], &[], &[], 2, 2, &cfg(&[1], 0.07)).unwrap_err();
    assert!(e.to_string().contains("need at least one query"), "{e}");
}

/// A 200 000 × 16 bank searched in chunks of 64 queries × tiles of 4096 rows. Queries are bank
/// rows plus small noise, so k = 1 must find the planted row; the full top-20 lists are checked
/// against a brute-force sort for a few queries, and results must not depend on chunk, tile or
/// thread counts.
#[test]
fn large_bank_in_chunks() {
    let s = seed_or(11);
    let mut rng = ChaCha8Rng::seed_from_u64(s);
    let (n, d, q) = (200_000usize, 16usize, 200usize);
    let bank: Vec<f32> = (0..n * d).map(|_| rng.sample(StandardNormal)).collect();
    let labels: Vec<u16> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let planted: Vec<usize> = (0..q).map(|_| rng.gen_range(0..n)).collect();
    let mut queries = Vec::with_capacity(q * d);
    for &p in &planted {
        for j in 0..d {
            let noise: f32 = rng.sample(StandardNormal);
            queries.push(bank[p * d + j] + 1e-3 * noise);
        }
    }
    let qlabels: Vec<u16> = planted.iter().map(|&p| labels[p]).collect();
    let fb = FeatureBank::try_new(bank.clone(), labels, d, 10).unwrap();
    let small = KnnConfig {
        ks: vec![1, 20],
        chunk: 64,
        tile: 4096,
        threads: 2,
        ..KnnConfig::default()
    };
    let r = fb.try_evaluate(&queries, &qlabels, &small).unwrap();
    assert_eq!(r[0].top1, 1.0, "seed {s}: k = 1 must find the planted rows");

    let nb = fb.try_neighbours(&queries, 20, &small).unwrap();
    let other = KnnConfig {
        chunk: 7,
        tile: 999,
        threads: 3,
        ..small.clone()
    };
    assert_eq!(
        fb.try_neighbours(&queries, 20, &other).unwrap(),
        nb,
        "seed {s}"
    );

    // Brute force for three queries, in f64: cosine against every row, sorted by (sim desc,
    // index asc). Lists must match exactly unless two of the top 21 are within float noise.
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    for qi in [0, q / 2, q - 1] {
        let qv = &queries[qi * d..(qi + 1) * d];
        let cos = |i: usize| {
            let b = &bank[i * d..(i + 1) * d];
            let dot: f64 = qv
                .iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            dot / (norm(qv) * norm(b))
        };
        let mut all: Vec<(f64, u32)> = (0..n).map(|i| (cos(i), i as u32)).collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let got = &nb.index[qi * 20..(qi + 1) * 20];
        for (&i, &sim) in got.iter().zip(&nb.sim[qi * 20..(qi + 1) * 20]) {
            assert!(
                (f64::from(sim) - cos(i as usize)).abs() < 1e-5,
                "seed {s}, query {qi}"
            );
        }
        let near_tie = all[..21].windows(2).any(|w| w[0].0 - w[1].0 < 1e-5);
        if !near_tie {
            let want: Vec<u32> = all[..20].iter().map(|p| p.1).collect();
            assert_eq!(got, want, "seed {s}, query {qi}");
        }
        assert!(
            f64::from(nb.sim[qi * 20 + 19]) >= all[19].0 - 1e-5,
            "seed {s}, query {qi}"
        );
    }
}
