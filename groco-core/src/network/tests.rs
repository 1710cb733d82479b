//! Tests of `network.rs`.

use super::*;

/// The per-comparator formulas, independent of the run decomposition.
fn direct(layer: &Layer, range: (usize, usize)) -> Vec<(usize, usize, usize, bool)> {
    let mut v = Vec::new();
    let (n, pad) = (layer.n, layer.pad);
    for c in range.0..range.1 {
        let slot = layer.slot0 + c;
        match layer.kind {
            Kind::Adjacent { par } => v.push((slot, par + 2 * c, par + 2 * c + 1, false)),
            Kind::Strided { log_m, flips } => {
                let m = 1usize << log_m;
                let ix = ((c >> log_m) << (log_m + 1)) | (c & (m - 1));
                if ix >= pad && ix - pad + m < n {
                    let flip = flips && (ix >> layer.hull_shift) & 1 == 1;
                    v.push((slot, ix - pad, ix - pad + m, flip));
                }
            }
            Kind::Inner { log_k, log_2p } => {
                let k = 1usize << log_k;
                let a = ((c >> log_k) << (log_k + 1)) + k + (c & (k - 1));
                if a + k < n && (a >> log_2p) == ((a + k) >> log_2p) {
                    v.push((slot, a, a + k, false));
                }
            }
        }
    }
    v
}

#[test]
fn layer_iterator_matches_indexing() {
    for net in Network::ALL {
        for n in 1..=70usize {
            let t = Topology::new(net, n).unwrap();
            let fwd: Vec<_> = t.layers().map(|l| format!("{l:?}")).collect();
            let mut bwd: Vec<_> = t.layers().rev().map(|l| format!("{l:?}")).collect();
            bwd.reverse();
            let idx: Vec<_> = (0..t.depth).map(|l| format!("{:?}", t.layer(l))).collect();
            assert_eq!(fwd, idx, "{net} n={n}");
            assert_eq!(bwd, idx, "{net} n={n}");
        }
    }
}

#[test]
fn runs_expand_to_the_direct_formulas() {
    for net in Network::ALL {
        for n in 1..=70usize {
            let t = Topology::new(net, n).unwrap();
            for l in 0..t.depth {
                let layer = t.layer(l);
                for (r0, r1) in [(0, n), (n / 3, n / 3 + 1), (n / 2, n.min(n / 2 + 16))] {
                    let range = layer.range(r0, r1);
                    let mut got = Vec::new();
                    layer.for_each(range, |s, a, b, f| got.push((s, a, b, f)));
                    assert_eq!(got, direct(&layer, range), "{net} n={n} layer {l}");
                    layer.for_each_run(range, |r| {
                        assert!(
                            r.len > 0
                                && (r.stride == 2 && r.m == 1 || r.stride == 1 && r.len <= r.m)
                        );
                    });
                    if let Some(b) = layer.blocks(range) {
                        let mut from_blocks = Vec::new();
                        for q in 0..(b.w1 - b.w0) / (2 * b.m) {
                            for j in 0..b.m {
                                let a = b.w0 + 2 * b.m * q + j;
                                from_blocks.push((b.slot + b.m * q + j, a, a + b.m, b.flip(q)));
                            }
                        }
                        assert_eq!(from_blocks, got, "{net} n={n} layer {l} blocks");
                        for unroll in [false, true] {
                            let mut wires: Vec<usize> = (0..n).collect();
                            let mut walked = Vec::new();
                            b.for_each(&mut wires, unroll, |j0, a, b2, flip| {
                                assert_eq!((a.len(), b2.len()), (b.m, b.m));
                                for (j, (&a, &b2)) in a.iter().zip(&*b2).enumerate() {
                                    walked.push((b.slot + j0 + j, a, b2, flip));
                                }
                            });
                            let ctx = format!("{net} n={n} layer {l} unroll {unroll}");
                            assert_eq!(walked, got, "{ctx}");
                        }
                    }
                }
            }
        }
    }
}

fn comparators(net: Network, n: usize) -> Vec<(usize, Comparator)> {
    let mut v = Vec::new();
    net.for_each_comparator(n, |l, c| v.push((l, c)));
    v
}

/// Hard-sorts `x` with the network (min to min_wire).
fn hard_sort(net: Network, x: &mut [u8]) {
    for (_, c) in comparators(net, x.len()) {
        let (lo, hi) = (x[c.a].min(x[c.b]), x[c.a].max(x[c.b]));
        x[c.min_wire()] = lo;
        x[c.max_wire()] = hi;
    }
}

#[test]
fn zero_one_principle_all_networks() {
    // A comparator network sorts every input iff it sorts every 0-1 input.
    for net in Network::ALL {
        for n in 1..=13usize {
            for bits in 0u32..(1 << n) {
                let mut x: Vec<u8> = (0..n).map(|i| ((bits >> i) & 1) as u8).collect();
                hard_sort(net, &mut x);
                assert!(x.windows(2).all(|w| w[0] <= w[1]), "{net} n={n} {bits:b}");
            }
        }
    }
}

#[test]
fn layers_are_disjoint_and_slots_unique() {
    for net in Network::ALL {
        for n in 1..=70usize {
            let t = Topology::new(net, n).unwrap();
            let mut seen = vec![false; t.slots()];
            for l in 0..t.depth {
                let mut used = vec![false; n];
                let layer = t.layer(l);
                layer.for_each(layer.full_range(), |slot, a, b, _| {
                    assert!(a < b && b < n, "{net} n={n} l={l} ({a},{b})");
                    assert!(!used[a] && !used[b], "{net} n={n} l={l} reuses a wire");
                    used[a] = true;
                    used[b] = true;
                    assert!(slot / t.width == l && !seen[slot]);
                    seen[slot] = true;
                });
            }
        }
    }
}

#[test]
fn comparator_counts_and_depths() {
    // Known counts: odd-even transposition n(n-1)/2, bitonic (2^k) k(k+1)2^(k-2),
    // Batcher merge (p^2 - p + 4) 2^(p-2) - 1 for n = 2^p.
    for n in 1..=40usize {
        assert_eq!(comparators(Network::OddEven, n).len(), n * (n - 1) / 2);
        assert_eq!(Network::OddEven.depth(n), n);
    }
    for k in 1..=10usize {
        let n = 1 << k;
        assert_eq!(comparators(Network::Bitonic, n).len(), k * (k + 1) * n / 4);
        let merge = ((k * k - k + 4) << k) / 4 - 1;
        assert_eq!(comparators(Network::OddEvenMerge, n).len(), merge);
        assert_eq!(Network::Bitonic.depth(n), k * (k + 1) / 2);
        assert_eq!(Network::OddEvenMerge.depth(n), k * (k + 1) / 2);
    }
}

#[test]
fn bitonic_drops_low_wires_like_diffsort() {
    // n = 3 pads to 4 and drops padded wire 0. Layer 0 (m = 1): padded (0,1) touches the
    // dropped wire (identity), padded (2,3) is real wires (1,2), descending since
    // (2 >> 1) & 1 = 1. Layer 1 (m = 2): (0,2) identity, (1,3) → (0,2) ascending.
    // Layer 2 (m = 1): (2,3) → (1,2) ascending.
    let c: Vec<_> = comparators(Network::Bitonic, 3)
        .into_iter()
        .map(|(l, c)| (l, c.a, c.b, c.flip))
        .collect();
    assert_eq!(c, vec![(0, 1, 2, true), (1, 0, 2, false), (2, 1, 2, false)]);
}

#[test]
fn support_ranges_cover_every_reachable_comparator() {
    for net in Network::ALL {
        for n in 1..=40usize {
            let t = Topology::new(net, n).unwrap();
            for r0 in 0..n {
                for r1 in r0 + 1..=n.min(r0 + 17) {
                    let mut sup = vec![false; n];
                    sup[r0..r1].iter_mut().for_each(|s| *s = true);
                    for l in 0..t.depth {
                        let layer = t.layer(l);
                        let (c0, c1) = layer.range(r0, r1);
                        layer.for_each(layer.full_range(), |slot, a, b, _| {
                            let c = slot - l * t.width;
                            if sup[a] || sup[b] {
                                assert!(c0 <= c && c < c1, "{net} n={n} rows {r0}..{r1}");
                                sup[a] = true;
                                sup[b] = true;
                            }
                        });
                    }
                }
            }
        }
    }
}

#[test]
fn names_round_trip() {
    for net in Network::ALL {
        assert_eq!(net.to_string().parse::<Network>().unwrap(), net);
    }
    assert!(matches!(
        "bubble".parse::<Network>(),
        Err(Error::UnknownName {
            what: "network",
            ..
        })
    ));
}

#[cfg(feature = "serde")]
#[test]
fn serde_names_are_the_diffsort_names() {
    for x in Network::ALL {
        let value = serde_json::to_value(x).unwrap();
        assert_eq!(value, serde_json::Value::String(x.name().into()));
        let json = serde_json::to_string(&x).unwrap();
        assert_eq!(serde_json::from_str::<Network>(&json).unwrap(), x);
    }
    assert!(serde_json::from_str::<Network>("\"nope\"").is_err());
}
