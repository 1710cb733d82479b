//! Batches of augmented views, built on worker threads ahead of the training loop, and plain
//! resized batches for evaluation.
//!
//! Epoch `e` visits the samples in a permutation drawn by a ChaCha8 stream keyed by
//! `(seed, e, u64::MAX, u64::MAX)` (Fisher–Yates via `rand`'s `shuffle`), and drops the last
//! incomplete batch. Worker `w` of `W` builds batches `w, w + W, ...` and hands them over through
//! its own bounded channel (`prefetch` deep); the consumer reads the channels round-robin, so
//! batches arrive in order, memory stays bounded, and the bytes do not depend on `W`.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;

use super::ops::{Augmenter, ViewKey};
use super::recipe::Recipe;
use crate::data::resize::{CropRect, Resampler};
use crate::data::ImageSet;
use crate::error::{Error, Result};

/// Batch loader settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Seed of the data order and of every augmentation.
    pub seed: u64,
    /// Worker threads; 0 builds batches on the consumer's thread.
    pub workers: usize,
    /// Batches each worker may have ready ahead of the consumer (at least 1).
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 256,
            seed: 0,
            workers: 2,
            prefetch: 2,
        }
    }
}

/// One batch: `views[v]` is view `v` of every sample, NCHW with shape `shapes[v]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewBatch {
    /// Epoch it belongs to.
    pub epoch: u64,
    /// Position of the batch within the epoch.
    pub batch: usize,
    /// One `B × C × S_v × S_v` buffer per view.
    pub views: Vec<Vec<f32>>,
    /// `[B, C, S_v, S_v]` for each view.
    pub shapes: Vec<[usize; 4]>,
    /// Label of each sample ([`crate::data::UNLABELED`] if none).
    pub labels: Vec<u16>,
    /// Dataset index of each sample.
    pub indices: Vec<usize>,
}

#[derive(Debug)]
struct Shared {
    set: Arc<ImageSet>,
    recipe: Recipe,
    cfg: LoaderConfig,
}

impl Shared {
    fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.set.len()).collect();
        let key = ViewKey {
            seed: self.cfg.seed,
            epoch,
            index: u64::MAX,
            view: u64::MAX,
        };
        order.shuffle(&mut key.rng());
        order
    }

    fn build(&self, epoch: u64, batch: usize, order: &[usize], aug: &mut Augmenter) -> ViewBatch {
        let set = &*self.set;
        let b = self.cfg.batch_size;
        let indices = order[batch * b..(batch + 1) * b].to_vec();
        let c = set.channels();
        let mut views = Vec::with_capacity(self.recipe.views.len());
        let mut shapes = Vec::with_capacity(self.recipe.views.len());
        for (v, r) in self.recipe.views.iter().enumerate() {
            let per = c * r.size * r.size;
            let mut buf = vec![0.0f32; b * per];
            for (out, &i) in buf.chunks_exact_mut(per).zip(&indices) {
                let key = ViewKey {
                    seed: self.cfg.seed,
                    epoch,
                    index: i as u64,
                    view: v as u64,
                };
                aug.write_view(set.image(i), c, set.height(), set.width(), r, key, out);
            }
            views.push(buf);
            shapes.push([b, c, r.size, r.size]);
        }
        ViewBatch {
            epoch,
            batch,
            views,
            shapes,
            labels: indices.iter().map(|&i| set.labels()[i]).collect(),
            indices,
        }
    }
}

/// Builds deterministic epochs of augmented batches from an image set.
#[derive(Clone, Debug)]
pub struct BatchLoader {
    shared: Arc<Shared>,
}

impl BatchLoader {
    /// Checks the recipe and batch size against the set.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use trainer::augment::{BatchLoader, LoaderConfig, Recipe};
    /// use trainer::data::ImageSet;
    /// let set = Arc::new(ImageSet::try_new(vec![7; 5 * 64], vec![0; 5], 1, 8, 8, 1).unwrap());
    /// let cfg = LoaderConfig { batch_size: 2, ..LoaderConfig::default() };
    /// let loader = BatchLoader::try_new(set, Recipe::digits(8, 2), cfg).unwrap();
    /// let batches: Vec<_> = loader.epoch(0).collect();
    /// assert_eq!(batches.len(), 2); // 5 samples, batch 2: the last one is dropped
    /// assert_eq!(batches[0].shapes[1], [2, 1, 8, 8]);
    /// ```
    pub fn try_new(set: Arc<ImageSet>, recipe: Recipe, cfg: LoaderConfig) -> Result<Self> {
        recipe.try_validate()?;
        if cfg.batch_size == 0 || cfg.batch_size > set.len() {
            return Err(Error::config(
                "batch_size",
                cfg.batch_size,
                format!("must be in 1..={} (the number of images)", set.len()),
            ));
        }
        if cfg.prefetch == 0 {
            return Err(Error::config("prefetch", 0, "must be at least 1"));
        }
        Ok(BatchLoader {
            shared: Arc::new(Shared { set, recipe, cfg }),
        })
    }

    /// Full batches per epoch (the remainder is dropped).
    pub fn batches_per_epoch(&self) -> usize {
        self.shared.set.len() / self.shared.cfg.batch_size
    }

    /// The sample order of `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        self.shared.order(epoch)
    }

    /// The recipe in use.
    pub fn recipe(&self) -> &Recipe {
        &self.shared.recipe
    }

    /// The settings in use.
    pub fn config(&self) -> &LoaderConfig {
        &self.shared.cfg
    }

    /// Builds batch `batch` of `epoch` on the calling thread.
    ///
    /// # Panics
    /// If `batch >= batches_per_epoch()`.
    pub fn batch(&self, epoch: u64, batch: usize) -> ViewBatch {
        assert!(
            batch < self.batches_per_epoch(),
            "batch {batch} out of range"
        );
        let order = self.shared.order(epoch);
        self.shared
            .build(epoch, batch, &order, &mut Augmenter::new())
    }

    /// All batches of `epoch`, in order.
    pub fn epoch(&self, epoch: u64) -> Batches {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from `first` on (to resume mid-epoch).
    pub fn epoch_from(&self, epoch: u64, first: usize) -> Batches {
        let end = self.batches_per_epoch();
        let first = first.min(end);
        let order = Arc::new(self.shared.order(epoch));
        let workers = self.shared.cfg.workers.min(end - first);
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(self.shared.cfg.prefetch);
            let shared = Arc::clone(&self.shared);
            let order = Arc::clone(&order);
            let handle = std::thread::Builder::new()
                .name(format!("augment-{w}"))
                .spawn(move || {
                    let mut aug = Augmenter::new();
                    for b in (first + w..end).step_by(workers) {
                        if tx.send(shared.build(epoch, b, &order, &mut aug)).is_err() {
                            return; // The consumer went away.
                        }
                    }
                })
                .expect("spawn augmentation worker");
            receivers.push(rx);
            handles.push(Some(handle));
        }
        Batches {
            shared: Arc::clone(&self.shared),
            order,
            epoch,
            next: first,
            first,
            end,
            receivers,
            handles,
            aug: Augmenter::new(),
        }
    }
}

/// Iterator over an epoch's batches; dropping it stops the workers.
#[derive(Debug)]
pub struct Batches {
    shared: Arc<Shared>,
    order: Arc<Vec<usize>>,
    epoch: u64,
    next: usize,
    first: usize,
    end: usize,
    receivers: Vec<Receiver<ViewBatch>>,
    handles: Vec<Option<JoinHandle<()>>>,
    aug: Augmenter,
}

impl Iterator for Batches {
    type Item = ViewBatch;

    fn next(&mut self) -> Option<ViewBatch> {
        if self.next >= self.end {
            return None;
        }
        let b = self.next;
        self.next += 1;
        if self.receivers.is_empty() {
            return Some(self.shared.build(self.epoch, b, &self.order, &mut self.aug));
        }
        let w = (b - self.first) % self.receivers.len();
        match self.receivers[w].recv() {
            Ok(batch) => Some(batch),
            Err(_) => {
                // The worker ended early: it can only have panicked. Re-raise its panic.
                if let Some(Err(p)) = self.handles[w].take().map(JoinHandle::join) {
                    std::panic::resume_unwind(p);
                }
                panic!("augmentation worker {w} stopped before batch {b}");
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches {}

impl Drop for Batches {
    fn drop(&mut self) {
        self.receivers.clear(); // Unblocks workers waiting to send.
        for h in self.handles.iter_mut().filter_map(Option::take) {
            let _ = h.join();
        }
    }
}

/// A batch of whole images resized for evaluation (no augmentation).
#[derive(Clone, Debug, PartialEq)]
pub struct EvalBatch {
    /// `B × C × H × W` values in `[0, 1]`.
    pub images: Vec<f32>,
    /// `[B, C, H, W]`.
    pub shape: [usize; 4],
    /// Labels.
    pub labels: Vec<u16>,
    /// Dataset index of the first image; the batch holds `start..start + B`.
    pub start: usize,
}

/// Iterator over a set in order, in batches of resized images; the last batch may be short.
#[derive(Debug)]
pub struct EvalBatches<'a> {
    set: &'a ImageSet,
    height: usize,
    width: usize,
    batch_size: usize,
    next: usize,
    resampler: Resampler,
}

/// Batches of `set` resized to `height × width` (antialiased bilinear), for feature extraction.
///
/// ```
/// use trainer::augment::eval_batches;
/// use trainer::data::ImageSet;
/// let set = ImageSet::try_new(vec![255; 3 * 16], vec![0, 1, 0], 1, 4, 4, 2).unwrap();
/// let b: Vec<_> = eval_batches(&set, 8, 8, 2).unwrap().collect();
/// assert_eq!((b[0].shape, b[1].shape), ([2, 1, 8, 8], [1, 1, 8, 8]));
/// assert!(b[1].images.iter().all(|&v| (v - 1.0).abs() < 1e-6));
/// ```
pub fn eval_batches(
    set: &ImageSet,
    height: usize,
    width: usize,
    batch_size: usize,
) -> Result<EvalBatches<'_>> {
    if batch_size == 0 {
        return Err(Error::config("eval batch_size", 0, "must be at least 1"));
    }
    if height == 0 || width == 0 {
        return Err(Error::config(
            "eval size",
            format!("{height}x{width}"),
            "must be non-empty",
        ));
    }
    Ok(EvalBatches {
        set,
        height,
        width,
        batch_size,
        next: 0,
        resampler: Resampler::new(),
    })
}

impl Iterator for EvalBatches<'_> {
    type Item = EvalBatch;

    fn next(&mut self) -> Option<EvalBatch> {
        let set = self.set;
        if self.next >= set.len() {
            return None;
        }
        let start = self.next;
        let n = self.batch_size.min(set.len() - start);
        self.next += n;
        let (c, h, w) = (set.channels(), self.height, self.width);
        let mut images = vec![0.0f32; n * c * h * w];
        let rect = CropRect::full(set.height(), set.width());
        for (k, out) in images.chunks_exact_mut(c * h * w).enumerate() {
            let src = set.image(start + k);
            if (h, w) == (set.height(), set.width()) {
                set.write_f32(start + k, out);
            } else {
                self.resampler
                    .resample(src, c, set.height(), set.width(), rect, false, out, h, w);
            }
        }
        Some(EvalBatch {
            images,
            shape: [n, c, h, w],
            labels: set.labels()[start..start + n].to_vec(),
            start,
        })
    }
}
