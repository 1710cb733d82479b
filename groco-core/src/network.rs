//! Sorting-network topologies, generated comparator by comparator (never stored as matrices):
//! odd-even transposition and bitonic exactly as diffsort 0.2.0 wires them, plus Batcher's
//! odd-even merge sort.
//!
//! A comparator reads wires `a` and `b` ("split_a"/"split_b" in diffsort) and computes
//! α = f(steepness·(x_b − x_a)); the soft minimum α·x_a + (1−α)·x_b goes to wire `a` and the
//! soft maximum to `b`, or the other way round when `flip` is set (bitonic's descending
//! comparators). diffsort's self-comparators (odd-even pass-through wires, bitonic comparators
//! touching a dropped wire) compute exactly the identity and are left out.
//!
//! Comparators are numbered by *slot*: `layer * width + c`, where `c` orders a layer's
//! comparators by their lower wire. Slots of comparators that do not exist (dropped wires,
//! padding) are simply never visited.

use core::fmt;
use core::str::FromStr;

use crate::Error;

/// Which sorting network to relax.
///
/// ```
/// use groco_core::Network;
/// let net: Network = "bitonic".parse().unwrap();
/// assert_eq!(net, Network::Bitonic);
/// assert_eq!(net.to_string(), "bitonic");
/// assert_eq!(net.depth(1024), 55);
/// assert_eq!(Network::OddEven.depth(11), 11);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Network {
    /// Odd-even transposition: n layers of neighbour comparators (diffsort `odd_even`).
    #[default]
    OddEven,
    /// Bitonic: ⌈log2 n⌉(⌈log2 n⌉+1)/2 layers; for n not a power of two the first 2^k − n wires
    /// of the 2^k network are dropped (diffsort `bitonic`).
    Bitonic,
    /// Batcher's odd-even merge sort: the same depth as bitonic, fewer comparators. For n not a
    /// power of two the top wires of the 2^k network are padded with +∞ and dropped.
    OddEvenMerge,
}

impl Network {
    /// All networks, in declaration order.
    pub const ALL: [Network; 3] = [Network::OddEven, Network::Bitonic, Network::OddEvenMerge];

    /// The name used by `FromStr`/`Display` (diffsort's for the first two).
    pub fn name(self) -> &'static str {
        match self {
            Network::OddEven => "odd_even",
            Network::Bitonic => "bitonic",
            Network::OddEvenMerge => "odd_even_merge",
        }
    }

    /// Number of layers for `n` wires.
    pub fn depth(self, n: usize) -> usize {
        Topology::new(self, n).map_or(0, |t| t.depth)
    }

    /// Calls `f(layer, comparator)` for every comparator, in network order (`n` is at most
    /// 2^(usize bits − 2); larger `n` yields nothing).
    ///
    /// ```
    /// use groco_core::Network;
    /// let mut count = 0;
    /// Network::OddEvenMerge.for_each_comparator(8, |_, _| count += 1);
    /// assert_eq!(count, 19); // Batcher's network on 8 wires
    /// ```
    pub fn for_each_comparator(self, n: usize, mut f: impl FnMut(usize, Comparator)) {
        if let Some(t) = Topology::new(self, n) {
            for (l, layer) in t.layers().enumerate() {
                layer.for_each(layer.full_range(), |_, a, b, flip| {
                    f(l, Comparator { a, b, flip })
                });
            }
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Network {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Network::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| Error::unknown_name("network", s))
    }
}

/// One comparator: reads wires `a`, `b`; α = f(steepness·(x_b − x_a)); the soft minimum goes
/// to `a` (to `b` when `flip`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparator {
    /// The "split_a" wire.
    pub a: usize,
    /// The "split_b" wire.
    pub b: usize,
    /// Set when the minimum goes to `b` (a descending bitonic comparator).
    pub flip: bool,
}

impl Comparator {
    /// The wire receiving the soft minimum.
    pub fn min_wire(&self) -> usize {
        if self.flip {
            self.b
        } else {
            self.a
        }
    }
    /// The wire receiving the soft maximum.
    pub fn max_wire(&self) -> usize {
        if self.flip {
            self.a
        } else {
            self.b
        }
    }
}

/// A validated (network, n) pair with its layer arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Topology {
    network: Network,
    n: usize,
    /// log2 of the padded size N = 2^log2 (bitonic, merge).
    log2: u32,
    /// N − n: wires dropped at the bottom (bitonic) or padded at the top (merge).
    pad: usize,
    /// Number of layers.
    pub(crate) depth: usize,
    /// Slots per layer.
    pub(crate) width: usize,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Odd-even transposition layer: (par + 2c, par + 2c + 1).
    Adjacent { par: usize },
    /// Pairs (ix, ix + m) for ix with bit m clear; bitonic (`flips`, dropped bottom wires) or
    /// the first layer of a merge phase (padded top wires).
    Strided { log_m: u32, flips: bool },
    /// An inner merge layer with distance k = 2^log_k inside blocks of 2p = 2^log_2p.
    Inner { log_k: u32, log_2p: u32 },
}

/// One layer of a [`Topology`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer {
    index: usize,
    slot0: usize,
    n: usize,
    big_n: usize,
    pad: usize,
    /// Blocks of 2^hull_shift (padded coordinates) contain every comparator of this layer and
    /// of all earlier layers (bitonic, merge).
    hull_shift: u32,
    kind: Kind,
}

impl Topology {
    /// `None` when the sizes overflow.
    pub(crate) fn new(network: Network, n: usize) -> Option<Self> {
        if n == 0 || n > usize::MAX >> 2 {
            return None;
        }
        let log2 = n.next_power_of_two().trailing_zeros();
        let big_n = 1usize << log2;
        let (depth, width) = match network {
            Network::OddEven => (n, n / 2),
            Network::Bitonic | Network::OddEvenMerge => {
                ((log2 as usize * (log2 as usize + 1)) / 2, big_n / 2)
            }
        };
        depth.checked_mul(width)?;
        Some(Topology {
            network,
            n,
            log2,
            pad: big_n - n,
            depth,
            width,
        })
    }

    /// Number of slots, `depth * width`.
    pub(crate) fn slots(&self) -> usize {
        self.depth * self.width
    }

    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Layer `l < depth` (by search; [`Topology::layers`] walks them in order).
    #[cfg(test)]
    pub(crate) fn layer(&self, l: usize) -> Layer {
        // Layer l is (block, j) in the enumeration block = 0.., j = 0..=block.
        let (mut block, mut j) = (0u32, l);
        while j > block as usize {
            j -= block as usize + 1;
            block += 1;
        }
        self.layer_at(l, block, j as u32)
    }

    /// The layers in order; `.rev()` for the reverse.
    pub(crate) fn layers(&self) -> Layers<'_> {
        let last = self.log2.saturating_sub(1);
        Layers {
            topo: self,
            front: (0, 0, 0),
            back: (self.depth.wrapping_sub(1), last, last),
            remaining: self.depth,
        }
    }

    /// Layer `l`, which is (block, j) of a bitonic or merge network.
    fn layer_at(&self, l: usize, block: u32, j: u32) -> Layer {
        let mut layer = Layer {
            index: l,
            slot0: l * self.width,
            n: self.n,
            big_n: 1usize << self.log2,
            pad: 0,
            hull_shift: 0,
            kind: Kind::Adjacent { par: l & 1 },
        };
        if self.network == Network::OddEven {
            return layer;
        }
        layer.hull_shift = block + 1;
        if self.network == Network::Bitonic {
            layer.pad = self.pad;
            layer.kind = Kind::Strided {
                log_m: block - j,
                flips: true,
            };
        } else if j == 0 {
            layer.kind = Kind::Strided {
                log_m: block,
                flips: false,
            };
        } else {
            layer.kind = Kind::Inner {
                log_k: block - j,
                log_2p: block + 1,
            };
        }
        layer
    }
}

/// Iterator over the layers of a [`Topology`], tracking (layer, block, j) at both ends.
#[derive(Clone, Debug)]
pub(crate) struct Layers<'a> {
    topo: &'a Topology,
    front: (usize, u32, u32),
    back: (usize, u32, u32),
    remaining: usize,
}

impl Iterator for Layers<'_> {
    type Item = Layer;
    #[inline]
    fn next(&mut self) -> Option<Layer> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let (l, block, j) = self.front;
        self.front = if j == block {
            (l + 1, block + 1, 0)
        } else {
            (l + 1, block, j + 1)
        };
        Some(self.topo.layer_at(l, block, j))
    }
}

impl DoubleEndedIterator for Layers<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Layer> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let (l, block, j) = self.back;
        self.back = match (j, block) {
            (0, 0) => (l.wrapping_sub(1), 0, 0),
            (0, _) => (l.wrapping_sub(1), block - 1, block - 1),
            _ => (l.wrapping_sub(1), block, j - 1),
        };
        Some(self.topo.layer_at(l, block, j))
    }
}

impl Layer {
    /// The slot range of every comparator in the layer.
    #[inline]
    pub(crate) fn full_range(&self) -> (usize, usize) {
        self.range(0, self.n)
    }

    /// A range of `c` holding every comparator of this layer that can touch a P row whose
    /// initial support is the wires `r0..r1`: comparators outside it see only zeros (forward)
    /// and their gradients never reach a wire that matters (backward). Exact skipping.
    #[inline]
    pub(crate) fn range(&self, r0: usize, r1: usize) -> (usize, usize) {
        match self.kind {
            Kind::Adjacent { par } => {
                // The support is an interval; its lower end moves down one wire per layer from
                // the first layer whose comparator reaches below it, likewise the upper end.
                let l = self.index;
                let lo_start = usize::from(r0.is_multiple_of(2));
                let lo = r0.saturating_sub((l + 1).saturating_sub(lo_start));
                let hi_start = usize::from((r1 - 1) % 2 == 1);
                let hi = self.n.min(r1 + (l + 1).saturating_sub(hi_start));
                let c0 = if lo > par { (lo - par).div_ceil(2) } else { 0 };
                let c1 = if hi > par { (hi - par) / 2 } else { 0 };
                (c0, c1.max(c0))
            }
            Kind::Strided { .. } | Kind::Inner { .. } => {
                // The support lies within the aligned 2^hull_shift blocks covering the rows.
                let s = self.hull_shift;
                let lo = ((r0 + self.pad) >> s) << s;
                let hi = (((r1 + self.pad + (1 << s) - 1) >> s) << s).min(self.big_n);
                (lo / 2, hi / 2)
            }
        }
    }

    /// For a strided layer with m ≥ 2 whose `range` needs no clipping (no dropped or padded
    /// wire inside it), the blocks it covers: wires `w0..w1` in blocks of 2m, block q holding
    /// comparators (w0 + 2mq + j, w0 + 2mq + m + j) at slots `slot + mq + j`, j < m. `None`
    /// otherwise (use [`Layer::for_each_run`]).
    #[inline]
    pub(crate) fn blocks(&self, range: (usize, usize)) -> Option<Blocks> {
        let Kind::Strided { log_m, flips } = self.kind else {
            return None;
        };
        let (lo, hi) = (2 * range.0, 2 * range.1);
        if log_m == 0 || lo >= hi || lo < self.pad || hi - self.pad > self.n {
            return None;
        }
        Some(Blocks {
            w0: lo - self.pad,
            w1: hi - self.pad,
            m: 1 << log_m,
            slot: self.slot0 + range.0,
            ix0: lo,
            dir_shift: if flips { self.hull_shift } else { usize::BITS },
        })
    }

    /// Calls `f(slot, a, b, flip)` for every comparator with `c` in `range`.
    #[inline(always)]
    pub(crate) fn for_each(
        &self,
        range: (usize, usize),
        mut f: impl FnMut(usize, usize, usize, bool),
    ) {
        self.for_each_run(range, |r| {
            for j in 0..r.len {
                let a = r.a0 + r.stride * j;
                f(r.slot + j, a, a + r.m, r.flip);
            }
        });
    }

    /// Calls `f(run)` for maximal runs of regularly spaced comparators with `c` in `range`
    /// (see [`Run`]); kernels then walk a run with slices instead of per-comparator index
    /// arithmetic.
    #[inline(always)]
    pub(crate) fn for_each_run(&self, range: (usize, usize), mut f: impl FnMut(Run)) {
        let (c0, c1) = range;
        if c0 >= c1 {
            return;
        }
        let (slot0, n, pad) = (self.slot0, self.n, self.pad);
        match self.kind {
            Kind::Adjacent { par } => f(Run {
                a0: par + 2 * c0,
                m: 1,
                stride: 2,
                len: c1 - c0,
                slot: slot0 + c0,
                flip: false,
            }),
            Kind::Strided { log_m: 0, flips } => {
                // pairs (2c − pad, 2c + 1 − pad); the direction bit (2c >> hull_shift) is
                // constant over segments of 2^(hull_shift − 1) comparators
                let lo = c0.max(pad.div_ceil(2));
                let hi = c1.min((n + pad) / 2);
                let seg = if flips {
                    1usize << (self.hull_shift - 1)
                } else {
                    usize::MAX
                };
                let mut s0 = lo;
                while s0 < hi {
                    let s1 = if seg == usize::MAX {
                        hi
                    } else {
                        ((s0 / seg + 1) * seg).min(hi)
                    };
                    f(Run {
                        a0: 2 * s0 - pad,
                        m: 1,
                        stride: 2,
                        len: s1 - s0,
                        slot: slot0 + s0,
                        flip: flips && ((2 * s0) >> self.hull_shift) & 1 == 1,
                    });
                    s0 = s1;
                }
            }
            Kind::Strided { log_m, flips } => {
                // blocks q: c = q·m + j ↔ ix = q·2m + j, wires (ix − pad, ix − pad + m)
                let m = 1usize << log_m;
                for q in (c0 >> log_m)..=((c1 - 1) >> log_m) {
                    let qc = q << log_m;
                    let base = q << (log_m + 1);
                    let j0 = (c0.max(qc) - qc).max(pad.saturating_sub(base));
                    let j1 = (c1.min(qc + m) - qc).min((n + pad).saturating_sub(base + m));
                    if j0 < j1 {
                        f(Run {
                            a0: base + j0 - pad,
                            m,
                            stride: 1,
                            len: j1 - j0,
                            slot: slot0 + qc + j0,
                            flip: flips && (base >> self.hull_shift) & 1 == 1,
                        });
                    }
                }
            }
            Kind::Inner { log_k, log_2p } => {
                // blocks t: c = t·k + i ↔ wires (k(2t+1) + i, k(2t+2) + i), kept when both
                // lie in one block of 2p and below n
                let k = 1usize << log_k;
                for t in (c0 >> log_k)..=((c1 - 1) >> log_k) {
                    let tc = t << log_k;
                    let a_base = (2 * t + 1) << log_k;
                    let b_base = a_base + k;
                    if (a_base >> log_2p) != (b_base >> log_2p) {
                        continue;
                    }
                    let i0 = c0.max(tc) - tc;
                    let i1 = (c1.min(tc + k) - tc).min(n.saturating_sub(b_base));
                    if i0 < i1 {
                        f(Run {
                            a0: a_base + i0,
                            m: k,
                            stride: 1,
                            len: i1 - i0,
                            slot: slot0 + tc + i0,
                            flip: false,
                        });
                    }
                }
            }
        }
    }
}

/// Whole blocks of a strided layer, see [`Layer::blocks`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocks {
    pub(crate) w0: usize,
    pub(crate) w1: usize,
    pub(crate) m: usize,
    pub(crate) slot: usize,
    /// Padded index of wire w0, for the direction bit.
    ix0: usize,
    /// The direction of block q is bit `dir_shift` of ix0 + 2mq (never set for ≥ usize::BITS).
    dir_shift: u32,
}

impl Blocks {
    /// Whether block q is descending.
    #[inline(always)]
    pub(crate) fn flip(&self, q: usize) -> bool {
        self.dir_shift < usize::BITS && ((self.ix0 + 2 * self.m * q) >> self.dir_shift) & 1 == 1
    }
}

/// `len` comparators j = 0.. of one layer, reading wires a = a0 + stride·j and b = a + m,
/// at slots slot + j, all with the same direction. Either `stride == 1` and `len <= m`
/// (the a wires and the b wires form two disjoint contiguous blocks), or `stride == 2` and
/// `m == 1` (adjacent pairs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) a0: usize,
    pub(crate) m: usize,
    pub(crate) stride: usize,
    pub(crate) len: usize,
    pub(crate) slot: usize,
    pub(crate) flip: bool,
}

/// Calls `f(j, wire_a, wire_b)` for the comparators of `run` over the wire values `v`.
#[inline(always)]
pub(crate) fn for_run_pairs<T>(v: &mut [T], run: &Run, mut f: impl FnMut(usize, &mut T, &mut T)) {
    if run.stride == 2 {
        let pairs = v[run.a0..run.a0 + 2 * run.len].chunks_exact_mut(2);
        for (j, pair) in pairs.enumerate() {
            if let [a, b] = pair {
                f(j, a, b);
            }
        }
    } else {
        let (lo, hi) = v.split_at_mut(run.a0 + run.m);
        let (va, vb) = (&mut lo[run.a0..run.a0 + run.len], &mut hi[..run.len]);
        for (j, (a, b)) in va.iter_mut().zip(vb).enumerate() {
            f(j, a, b);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
