//! Weighted k-NN evaluation of features (the InstDisc / DINO protocol).
//!
//! Bank and query rows are L2-normalised, so `sim = <q, b>` is the cosine similarity. Each query's
//! `k` most similar bank rows vote for their labels with weight `exp(sim / T)`; the prediction is
//! the class with the largest total (ties go to the lower class index), and top-5 counts a query
//! as correct when its class is among the five best. Weights are computed as
//! `exp((sim - sim_max) / T)` in `f64`: the common factor `exp(sim_max / T)` cancels in every
//! comparison, and nothing overflows for small `T`.
//!
//! Queries are processed in chunks of `chunk` rows against tiles of `tile` bank rows, keeping a
//! running top-k per query, so working memory is `O(chunk × tile + chunk × k)` per thread
//! whatever the bank size (the bank itself is held once, packed in panels of 8 rows for a
//! register-blocked 4 × 8 similarity kernel). Neighbours with equal similarity are ranked by bank index (lower first), so results
//! do not depend on chunk, tile or thread counts.

use crate::error::{Error, Result};

/// k-NN settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnConfig {
    /// Neighbour counts to score (each gets its own result; one neighbour search serves all).
    pub ks: Vec<usize>,
    /// Vote temperature `T` (> 0).
    pub temperature: f32,
    /// Queries per chunk.
    pub chunk: usize,
    /// Bank rows per tile (rounded up to a multiple of 8, and capped so that a tile holds at
    /// most 65 536 floats and stays in cache).
    pub tile: usize,
    /// Worker threads (queries are split between them).
    pub threads: usize,
}

impl Default for KnnConfig {
    /// `k = 20`, `T = 0.07`, chunks of 128 queries against tiles of 2048 bank rows.
    fn default() -> Self {
        KnnConfig {
            ks: vec![20],
            temperature: 0.07,
            chunk: 128,
            tile: 2048,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Accuracy for one `k`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KnnScore {
    /// Neighbours that voted.
    pub k: usize,
    /// Fraction of queries whose top-voted class is their label.
    pub top1: f64,
    /// Fraction of queries whose label is among the five top-voted classes.
    pub top5: f64,
    /// Number of queries scored.
    pub queries: usize,
}

/// The `k` nearest bank rows of each query, most similar first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    /// Neighbours per query.
    pub k: usize,
    /// Bank row indices, `queries × k`.
    pub index: Vec<u32>,
    /// Cosine similarities, `queries × k`.
    pub sim: Vec<f32>,
}

/// Scales each `dim`-long row of `x` to unit L2 norm (rows of norm below 1e-12 become zero, as
/// PyTorch's `F.normalize`).
///
/// ```
/// let mut x = [3.0, 4.0, 0.0, 0.0];
/// trainer::eval::knn::l2_normalize(&mut x, 2);
/// assert_eq!(x, [0.6, 0.8, 0.0, 0.0]);
/// ```
pub fn l2_normalize(x: &mut [f32], dim: usize) {
    for row in x.chunks_exact_mut(dim) {
        let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        let s = 1.0 / n.max(1e-12);
        row.iter_mut().for_each(|v| *v *= s);
    }
}

/// Query rows per micro-kernel call.
const QB: usize = 4;
/// Bank rows per micro-kernel call.
const NB: usize = 8;

/// Bank tiles are capped at this many floats (`dim × rows`) so a tile stays in L2.
const TILE_FLOATS: usize = 1 << 16;

/// Packs rows (`w × d`) into panels of [`NB`] rows, each `d × NB` contiguous
/// (`panel[j * NB + l]` = row `l`, feature `j`), zero-padding the last panel.
fn pack_rows(rows: &[f32], d: usize) -> Vec<f32> {
    let w = rows.len() / d;
    let mut packed = vec![0.0; w.div_ceil(NB) * NB * d];
    for (n, row) in rows.chunks_exact(d).enumerate() {
        let panel = &mut packed[(n / NB) * NB * d..(n / NB + 1) * NB * d];
        for (j, &v) in row.iter().enumerate() {
            panel[j * NB + n % NB] = v;
        }
    }
    packed
}

/// `out[r][l] = sum_j q[r][j] * panel[j][l]` for `R` query rows against one packed panel. Every
/// entry is summed over `j` in order whatever `R` is, so grouping does not change results.
fn sims_panel<const R: usize>(q: [&[f32]; R], panel: &[f32]) -> [[f32; NB]; R] {
    let mut acc = [[0.0f32; NB]; R];
    for (j, b) in panel.chunks_exact(NB).enumerate() {
        for r in 0..R {
            let a = q[r][j];
            for l in 0..NB {
                acc[r][l] += a * b[l];
            }
        }
    }
    acc
}

/// Similarities of `queries` (`q × d`) with a packed tile of `w` bank rows into `sims` (`q × w`).
fn sims_tile(queries: &[f32], d: usize, packed: &[f32], w: usize, sims: &mut [f32]) {
    for (p, panel) in packed.chunks_exact(NB * d).enumerate() {
        let (n0, n1) = (p * NB, (p * NB + NB).min(w));
        let mut qs = queries.chunks_exact(QB * d);
        let mut base = 0;
        for qb in &mut qs {
            let q: [&[f32]; QB] = std::array::from_fn(|r| &qb[r * d..(r + 1) * d]);
            let acc = sims_panel(q, panel);
            for (r, a) in acc.iter().enumerate() {
                sims[(base + r) * w + n0..(base + r) * w + n1].copy_from_slice(&a[..n1 - n0]);
            }
            base += QB;
        }
        for qr in qs.remainder().chunks_exact(d) {
            let acc = sims_panel([qr], panel);
            sims[base * w + n0..base * w + n1].copy_from_slice(&acc[0][..n1 - n0]);
            base += 1;
        }
    }
}

fn check_rows(x: &[f32], dim: usize, what: &'static str) -> Result<usize> {
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(Error::ShapeMismatch {
            what,
            expected: format!("a multiple of dim = {dim}"),
            found: format!("{} values", x.len()),
        });
    }
    if let Some(row) = x
        .chunks_exact(dim)
        .position(|r| r.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::NonFinite { what, row });
    }
    Ok(x.len() / dim)
}

/// The training-set features that queries are compared with: normalised rows and their labels.
#[derive(Clone, Debug)]
pub struct FeatureBank {
    /// Normalised rows packed by [`pack_rows`].
    packed: Vec<f32>,
    labels: Vec<u16>,
    dim: usize,
    num_classes: usize,
}

impl FeatureBank {
    /// Takes `labels.len()` rows of `dim` features (normalised in place) with labels below
    /// `num_classes`.
    pub fn try_new(
        mut features: Vec<f32>,
        labels: Vec<u16>,
        dim: usize,
        num_classes: usize,
    ) -> Result<Self> {
        let n = check_rows(&features, dim, "k-NN bank features")?;
        if n != labels.len() {
            return Err(Error::ShapeMismatch {
                what: "k-NN bank labels",
                expected: n.to_string(),
                found: labels.len().to_string(),
            });
        }
        if n > u32::MAX as usize {
            return Err(Error::config("k-NN bank size", n, "at most 2^32 - 1 rows"));
        }
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return Err(Error::config(
                "k-NN bank label",
                labels[i],
                format!("row {i}: must be below num_classes = {num_classes}"),
            ));
        }
        l2_normalize(&mut features, dim);
        Ok(FeatureBank {
            packed: pack_rows(&features, dim),
            labels,
            dim,
            num_classes,
        })
    }

    /// Rows in the bank.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when the bank is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn check_k(&self, k: usize) -> Result<()> {
        if k == 0 || k > self.len() {
            return Err(Error::config(
                "k",
                k,
                format!("must be in 1..={} (the bank size)", self.len()),
            ));
        }
        Ok(())
    }

    /// Top-`k` neighbours of the normalised `queries` (`q × dim`), appended to `index`/`sim`.
    fn search_chunk(&self, queries: &[f32], k: usize, tile: usize, out: &mut Neighbours) {
        let d = self.dim;
        let q = queries.len() / d;
        let base = out.index.len();
        out.index.resize(base + q * k, 0);
        out.sim.resize(base + q * k, f32::NEG_INFINITY);
        let mut filled = vec![0usize; q];
        // Whole panels per tile, and a tile small enough to stay in cache.
        let cap = (TILE_FLOATS / d).max(NB);
        let tile = (tile.min(cap).min(self.len()).div_ceil(NB) * NB).max(NB);
        let mut sims = vec![0.0f32; q * tile];
        for t0 in (0..self.len()).step_by(tile) {
            let t1 = (t0 + tile).min(self.len());
            let w = t1 - t0;
            let packed = &self.packed[t0 * d..t1.div_ceil(NB) * NB * d];
            sims_tile(queries, d, packed, w, &mut sims[..q * w]);
            for qi in 0..q {
                let idx = &mut out.index[base + qi * k..base + (qi + 1) * k];
                let top = &mut out.sim[base + qi * k..base + (qi + 1) * k];
                let n = &mut filled[qi];
                for (j, &s) in sims[qi * w..(qi + 1) * w].iter().enumerate() {
                    if *n == k && s <= top[k - 1] {
                        continue;
                    }
                    // Insert after every entry with sim >= s (earlier rows win ties).
                    let pos = top[..*n].partition_point(|&x| x >= s);
                    let len = (*n + 1).min(k);
                    top.copy_within(pos..len - 1, pos + 1);
                    idx.copy_within(pos..len - 1, pos + 1);
                    top[pos] = s;
                    idx[pos] = (t0 + j) as u32;
                    *n = len;
                }
            }
        }
    }

    /// The `k` nearest bank rows of each of the `queries` (`q × dim`, normalised here).
    pub fn try_neighbours(&self, queries: &[f32], k: usize, cfg: &KnnConfig) -> Result<Neighbours> {
        let q = check_rows(queries, self.dim, "k-NN query features")?;
        self.check_k(k)?;
        if cfg.chunk == 0 || cfg.tile == 0 || cfg.threads == 0 {
            return Err(Error::config(
                "k-NN chunk/tile/threads",
                format!("{}/{}/{}", cfg.chunk, cfg.tile, cfg.threads),
                "must all be at least 1",
            ));
        }
        let d = self.dim;
        let per_thread = q.div_ceil(cfg.threads).max(1);
        let parts: Vec<Neighbours> = std::thread::scope(|s| {
            let handles: Vec<_> = queries
                .chunks(per_thread * d)
                .map(|part| {
                    s.spawn(move || {
                        let mut out = Neighbours {
                            k,
                            index: Vec::new(),
                            sim: Vec::new(),
                        };
                        let mut buf = Vec::with_capacity(cfg.chunk * d);
                        for chunk in part.chunks(cfg.chunk * d) {
                            buf.clear();
                            buf.extend_from_slice(chunk);
                            l2_normalize(&mut buf, d);
                            self.search_chunk(&buf, k, cfg.tile, &mut out);
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut all = Neighbours {
            k,
            index: Vec::with_capacity(q * k),
            sim: Vec::with_capacity(q * k),
        };
        for p in parts {
            all.index.extend(p.index);
            all.sim.extend(p.sim);
        }
        Ok(all)
    }

    /// Rank of class `label` among the vote totals of the first `k` neighbours of one query:
    /// the number of classes with a larger total, or an equal one and a lower index.
    fn vote_rank(
        &self,
        index: &[u32],
        sim: &[f32],
        k: usize,
        t: f64,
        votes: &mut [f64],
        label: usize,
    ) -> usize {
        votes.fill(0.0);
        let top = f64::from(sim[0]);
        for (&i, &s) in index[..k].iter().zip(&sim[..k]) {
            votes[usize::from(self.labels[i as usize])] += ((f64::from(s) - top) / t).exp();
        }
        let mine = votes[label];
        votes
            .iter()
            .enumerate()
            .filter(|&(c, &v)| v > mine || (v == mine && c < label))
            .count()
    }

    /// Weighted k-NN accuracy of `queries` (`q × dim`) with `labels`, for every `k` in `cfg.ks`.
    ///
    /// ```
    /// use trainer::eval::knn::{FeatureBank, KnnConfig};
    /// let bank = FeatureBank::try_new(vec![1.0, 0.0, 0.0, 1.0], vec![0, 1], 2, 2).unwrap();
    /// let cfg = KnnConfig { ks: vec![1], ..KnnConfig::default() };
    /// let r = bank.try_evaluate(&[0.9, 0.1, 0.2, 0.8], &[0, 0], &cfg).unwrap();
    /// assert_eq!(r[0].top1, 0.5);
    /// ```
    pub fn try_evaluate(
        &self,
        queries: &[f32],
        labels: &[u16],
        cfg: &KnnConfig,
    ) -> Result<Vec<KnnScore>> {
        let q = check_rows(queries, self.dim, "k-NN query features")?;
        if q == 0 {
            return Err(Error::config("k-NN queries", 0, "need at least one query"));
        }
        if labels.len() != q {
            return Err(Error::ShapeMismatch {
                what: "k-NN query labels",
                expected: q.to_string(),
                found: labels.len().to_string(),
            });
        }
        if let Some(i) = labels
            .iter()
            .position(|&l| usize::from(l) >= self.num_classes)
        {
            return Err(Error::config(
                "k-NN query label",
                labels[i],
                format!("row {i}: must be below num_classes = {}", self.num_classes),
            ));
        }
        if !(cfg.temperature > 0.0 && cfg.temperature.is_finite()) {
            return Err(Error::config(
                "temperature",
                cfg.temperature,
                "must be finite and > 0",
            ));
        }
        if cfg.ks.is_empty() {
            return Err(Error::config("ks", "[]", "need at least one k"));
        }
        for &k in &cfg.ks {
            self.check_k(k)?;
        }
        let kmax = *cfg.ks.iter().max().unwrap_or(&1);
        let t = f64::from(cfg.temperature);
        let mut hits = vec![(0usize, 0usize); cfg.ks.len()];
        let mut votes = vec![0.0f64; self.num_classes];
        // Search in slices so the neighbour lists stay small too.
        let step = (cfg.chunk * cfg.threads).max(1);
        for (s, lab) in queries.chunks(step * self.dim).zip(labels.chunks(step)) {
            let nb = self.try_neighbours(s, kmax, cfg)?;
            for (qi, &label) in lab.iter().enumerate() {
                let idx = &nb.index[qi * kmax..(qi + 1) * kmax];
                let sim = &nb.sim[qi * kmax..(qi + 1) * kmax];
                for (h, &k) in hits.iter_mut().zip(&cfg.ks) {
                    let rank = self.vote_rank(idx, sim, k, t, &mut votes, usize::from(label));
                    h.0 += usize::from(rank == 0);
                    h.1 += usize::from(rank < 5);
                }
            }
        }
        let denom = q as f64;
        Ok(cfg
            .ks
            .iter()
            .zip(hits)
            .map(|(&k, (h1, h5))| KnnScore {
                k,
                top1: h1 as f64 / denom,
                top5: h5 as f64 / denom,
                queries: q,
            })
            .collect())
    }
}

/// One-call k-NN accuracy: `bank` (`n × dim`) with `bank_labels` against `queries` with
/// `query_labels`.
pub fn try_knn_accuracy(
    bank: &[f32],
    bank_labels: &[u16],
    queries: &[f32],
    query_labels: &[u16],
    dim: usize,
    num_classes: usize,
    cfg: &KnnConfig,
) -> Result<Vec<KnnScore>> {
    FeatureBank::try_new(bank.to_vec(), bank_labels.to_vec(), dim, num_classes)?.try_evaluate(
        queries,
        query_labels,
        cfg,
    )
}
