//! The order in which a P-row pass visits layers, optionally cache-tiled: a bitonic layer with
//! distance m < S (S = 2^log_s padded wires) pairs wires inside aligned blocks of 2m, hence
//! inside aligned blocks of S, so a run of such layers is independent block by block. When a
//! pass's range spans more than one block, the run is visited block by block (all its layers on
//! block 0, then on block 1, …), keeping S wires hot instead of streaming all wires per layer.
//! Every comparator still sees its inputs after the same earlier comparators, so the arithmetic
//! and its result are unchanged; only the order of independent work moves.

use super::{Kind, Layer, Topology};

impl Layer {
    /// Whether every comparator of this layer pairs wires inside one aligned block of 2^`log_s`
    /// padded wires: a strided layer with m < 2^`log_s`.
    #[inline(always)]
    fn within(&self, log_s: u32) -> bool {
        matches!(self.kind, Kind::Strided { log_m, .. } if log_m < log_s)
    }
}

/// Comparators per block of S = 2^`log_s` padded wires: S/2 (`log_s` ≥ 1).
#[inline(always)]
const fn per_block(log_s: u32) -> usize {
    1 << (log_s - 1)
}

/// Yields `(layer, range)` for every layer of a pass with initial support `rows`, `range` being
/// the comparators (`c`) to run: `Layer::range` whole, or one block's part of it when tiled.
#[derive(Clone, Debug)]
pub(crate) struct Schedule<I> {
    layers: I,
    rows: (usize, usize),
    /// log2 of the padded wires per block, S = 2^log_s (`None`: no tiling).
    log_s: Option<u32>,
    group: Option<Group<I>>,
}

/// A run of tileable layers being visited block by block. A run may span the early stages,
/// and its layers' ranges may differ (the support still grows inside its blocks), but no layer
/// with m < S moves support across a block boundary: the blocks that the run's first layer
/// touches are those of all its layers.
#[derive(Clone, Debug)]
struct Group<I> {
    /// The layers of the run.
    run: core::iter::Take<I>,
    /// What is left of the run on this block.
    cur: core::iter::Take<I>,
    /// This block's comparators are `block·S/2..(block + 1)·S/2`.
    block: usize,
    /// One past the run's last block.
    blocks_end: usize,
}

impl<'a> Schedule<super::Layers<'a>> {
    /// In network order; tiled in blocks of 2^`log_s` padded wires when `log_s` is `Some`.
    #[inline(always)]
    pub(crate) fn forward(topo: &'a Topology, rows: (usize, usize), log_s: Option<u32>) -> Self {
        Schedule::new(topo.layers(), rows, log_s)
    }
}

impl<'a> Schedule<core::iter::Rev<super::Layers<'a>>> {
    /// In reverse network order (for transposes); tiled as in [`Schedule::forward`].
    #[inline(always)]
    pub(crate) fn backward(topo: &'a Topology, rows: (usize, usize), log_s: Option<u32>) -> Self {
        Schedule::new(topo.layers().rev(), rows, log_s)
    }
}

impl<I: Iterator<Item = Layer> + Clone> Schedule<I> {
    #[inline(always)]
    fn new(layers: I, rows: (usize, usize), log_s: Option<u32>) -> Self {
        let log_s = log_s.filter(|&l| l > 0);
        Schedule {
            layers,
            rows,
            log_s,
            group: None,
        }
    }
}

impl<I: Iterator<Item = Layer> + Clone> Iterator for Schedule<I> {
    type Item = (Layer, (usize, usize));

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let (Some(g), Some(log_s)) = (&mut self.group, self.log_s) {
                let half = per_block(log_s);
                if let Some(layer) = g.cur.next() {
                    let (c0, c1) = layer.range(self.rows.0, self.rows.1);
                    let lo = c0.max(g.block * half);
                    let hi = c1.min((g.block + 1) * half).max(lo);
                    return Some((layer, (lo, hi)));
                }
                g.block += 1;
                if g.block < g.blocks_end {
                    g.cur = g.run.clone();
                    continue;
                }
                self.group = None;
            }
            let start = self.layers.clone();
            let layer = self.layers.next()?;
            let range = layer.range(self.rows.0, self.rows.1);
            let Some(log_s) = self.log_s else {
                return Some((layer, range));
            };
            let half = per_block(log_s);
            if !layer.within(log_s) || range.1 - range.0 <= half {
                return Some((layer, range));
            }
            let mut len = 1;
            while self.layers.clone().next().is_some_and(|l| l.within(log_s)) {
                self.layers.next();
                len += 1;
            }
            let run = start.take(len);
            self.group = Some(Group {
                cur: run.clone(),
                run,
                block: range.0 / half,
                blocks_end: range.1.div_ceil(half),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Layer, Network, Topology};
    use super::Schedule;

    /// (layer index, slot, a, b) of every comparator, in schedule order, and the item count.
    fn visits(s: impl Iterator<Item = (Layer, (usize, usize))>) -> (Vec<[usize; 4]>, usize) {
        let (mut v, mut items) = (Vec::new(), 0);
        for (layer, range) in s {
            items += 1;
            layer.for_each(range, |slot, a, b, _| v.push([layer.index, slot, a, b]));
        }
        (v, items)
    }

    /// Tiling visits the same comparators once each, and every wire meets its comparators in
    /// network order (reversed for the backward), so each comparator reads the same inputs.
    #[test]
    fn tiles_reorder_only_independent_work() {
        let mut tiled = 0;
        for net in Network::ALL {
            for n in [1usize, 2, 5, 16, 17, 64, 100, 129, 256, 300, 600, 1024] {
                let t = Topology::new(net, n).unwrap();
                for rows in [
                    (0, n),
                    (0, n.min(16)),
                    (n / 2, n.min(n / 2 + 16)),
                    (n - 1, n),
                ] {
                    for log_s in 1..=8 {
                        for backward in [false, true] {
                            let ctx =
                                format!("{net} n={n} rows={rows:?} log_s={log_s} bwd={backward}");
                            let schedule = |s| {
                                if backward {
                                    visits(Schedule::backward(&t, rows, s))
                                } else {
                                    visits(Schedule::forward(&t, rows, s))
                                }
                            };
                            let (mut plain, plain_items) = schedule(None);
                            let (got, items) = schedule(Some(log_s));
                            let mut last = vec![None; n];
                            for &[l, _, a, b] in &got {
                                for w in [a, b] {
                                    if let Some(p) = last[w] {
                                        assert!(if backward { l < p } else { l > p }, "{ctx}");
                                    }
                                    last[w] = Some(l);
                                }
                            }
                            let mut got = got;
                            got.sort_unstable();
                            plain.sort_unstable();
                            assert_eq!(got, plain, "{ctx}");
                            if items > plain_items {
                                tiled += 1;
                            }
                        }
                    }
                }
            }
        }
        // the tiled walk did happen (wide passes of bitonic and merge networks)
        assert!(tiled > 100, "{tiled}");
    }
}
