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
    #[inline(always)]
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
    #[inline(always)]
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
    #[inline(always)]
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
    #[inline(always)]
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
    #[inline(always)]
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
    #[inline(always)]
    pub(crate) fn full_range(&self) -> (usize, usize) {
        self.range(0, self.n)
    }

    /// A range of `c` holding every comparator of this layer that can touch a P row whose
    /// initial support is the wires `r0..r1`: comparators outside it see only zeros (forward)
    /// and their gradients never reach a wire that matters (backward). Exact skipping.
    #[inline(always)]
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
    #[inline(always)]
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
        self.for_each_run(
            range,
            #[inline(always)]
            |r| {
                for j in 0..r.len {
                    let a = r.a0 + r.stride * j;
                    f(r.slot + j, a, a + r.m, r.flip);
                }
            },
        );
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

mod runs;
mod schedule;
#[cfg(test)]
mod tests;

pub(crate) use runs::{for_run_pairs, Blocks, Run};
pub(crate) use schedule::Schedule;
