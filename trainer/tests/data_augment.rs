//! Augmentation and batch loading: shapes, ranges, determinism, identity settings, epoch order.

use std::sync::Arc;

use trainer::augment::{
    eval_batches, Augmenter, BatchLoader, LoaderConfig, Recipe, ViewKey, ViewRecipe,
};
use trainer::data::{load, DatasetSpec, ImageSet, LoadOptions};

/// Seed for the random test images: `GROCO_SEED`, or 7.
fn seed() -> u64 {
    groco_testkit::seed_or(7)
}

/// `n` random `c × h × w` images with labels `i % 3`.
fn random_set(n: usize, c: usize, h: usize, w: usize) -> Arc<ImageSet> {
    let mut state = seed().wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pixels = (0..n * c * h * w)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    let labels = (0..n).map(|i| (i % 3) as u16).collect();
    Arc::new(ImageSet::try_new(pixels, labels, c, h, w, 3).unwrap())
}

fn cfg(batch_size: usize, seed: u64, workers: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        seed,
        workers,
        prefetch: 2,
    }
}

fn all_batches(l: &BatchLoader, epoch: u64) -> Vec<trainer::augment::ViewBatch> {
    l.epoch(epoch).collect()
}

#[test]
fn shapes_and_ranges_for_every_preset() {
    let s = seed();
    let grey = random_set(10, 1, 28, 28);
    let rgb = random_set(10, 3, 40, 30);
    let cases = [
        (grey.clone(), Recipe::digits(28, 3)),
        (
            grey,
            Recipe::digits(20, 2).with_small_crops(2, 12, (0.2, 0.5)),
        ),
        (rgb.clone(), Recipe::simclr(32, 2)),
        (rgb.clone(), Recipe::simclr(64, 2)),
        (rgb, Recipe::dino(48, 4, 16)),
    ];
    for (set, recipe) in cases {
        let c = set.channels();
        let l = BatchLoader::try_new(set, recipe.clone(), cfg(4, s, 2)).unwrap();
        let batches = all_batches(&l, 0);
        assert_eq!(batches.len(), 2, "10 images / 4 per batch, last dropped");
        for b in &batches {
            assert_eq!(b.views.len(), recipe.num_views());
            assert_eq!(b.labels.len(), 4);
            for (v, r) in recipe.views.iter().enumerate() {
                assert_eq!(b.shapes[v], [4, c, r.size, r.size]);
                assert_eq!(b.views[v].len(), 4 * c * r.size * r.size);
                assert!(
                    b.views[v].iter().all(|x| (0.0..=1.0).contains(x)),
                    "seed {s}: view {v} out of [0, 1]"
                );
            }
        }
    }
}

#[test]
fn same_seed_same_bytes_whatever_the_workers() {
    let s = seed();
    let set = random_set(20, 3, 24, 24);
    let recipe = Recipe::dino(24, 2, 12);
    let reference = all_batches(
        &BatchLoader::try_new(set.clone(), recipe.clone(), cfg(6, s, 0)).unwrap(),
        3,
    );
    for workers in [1, 2, 5] {
        let l = BatchLoader::try_new(set.clone(), recipe.clone(), cfg(6, s, workers)).unwrap();
        assert_eq!(all_batches(&l, 3), reference, "seed {s}, {workers} workers");
        assert_eq!(l.batch(3, 2), reference[2]);
    }
    let other = BatchLoader::try_new(set.clone(), recipe.clone(), cfg(6, s + 1, 2)).unwrap();
    let o = all_batches(&other, 3);
    assert_ne!(
        o[0].indices, reference[0].indices,
        "seed {s}: order must change with the seed"
    );
    assert_ne!(o[0].views, reference[0].views);
    // Same sample, same view, different seed: different pixels.
    let mut a = vec![0.0; 3 * 24 * 24];
    let mut b = a.clone();
    let r = ViewRecipe::simclr(24);
    let key = ViewKey {
        seed: s,
        epoch: 0,
        index: 5,
        view: 0,
    };
    let mut aug = Augmenter::new();
    aug.write_view(set.image(5), 3, 24, 24, &r, key, &mut a);
    aug.write_view(
        set.image(5),
        3,
        24,
        24,
        &r,
        ViewKey { seed: s + 1, ..key },
        &mut b,
    );
    assert_ne!(a, b);
    aug.write_view(set.image(5), 3, 24, 24, &r, key, &mut b);
    assert_eq!(a, b);
}

#[test]
fn epochs_are_permutations_that_differ() {
    let s = seed();
    let set = random_set(50, 1, 8, 8);
    let l = BatchLoader::try_new(set, Recipe::digits(8, 2), cfg(16, s, 2)).unwrap();
    assert_eq!(l.batches_per_epoch(), 3);
    let mut o0 = l.order(0);
    let o1 = l.order(1);
    assert_ne!(o0, o1, "seed {s}");
    let batches = all_batches(&l, 0);
    let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(seen, o0[..48]);
    for b in &batches {
        for (&i, &lab) in b.indices.iter().zip(&b.labels) {
            assert_eq!(lab, (i % 3) as u16);
        }
    }
    o0.sort_unstable();
    assert_eq!(o0, (0..50).collect::<Vec<_>>());
    // Resuming mid-epoch yields the same remaining batches.
    let tail: Vec<_> = l.epoch_from(0, 1).collect();
    assert_eq!(tail, batches[1..]);
    // Abandoning an epoch early stops the workers cleanly.
    let mut it = l.epoch(1);
    assert!(it.next().is_some());
    drop(it);
}

#[test]
fn identity_recipe_reproduces_the_image() {
    let set = random_set(8, 3, 16, 16);
    let recipe = Recipe::uniform(ViewRecipe::identity(16), 2);
    let l = BatchLoader::try_new(set.clone(), recipe, cfg(8, seed(), 1)).unwrap();
    let b = l.batch(0, 0);
    let mut expect = vec![0.0; 3 * 256];
    for (k, &i) in b.indices.iter().enumerate() {
        set.write_f32(i, &mut expect);
        for v in 0..2 {
            let got = &b.views[v][k * 768..(k + 1) * 768];
            let err = got
                .iter()
                .zip(&expect)
                .map(|(a, e)| (a - e).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-6, "view {v} of image {i}: max error {err}");
        }
    }
}

#[test]
fn digit_views_change_the_image_but_keep_its_mass_nearby() {
    let split = load(&DatasetSpec::Mnist5k, &LoadOptions::default()).unwrap();
    let set = Arc::new(split.train);
    let l = BatchLoader::try_new(set.clone(), Recipe::digits(28, 2), cfg(64, seed(), 2)).unwrap();
    let b = l.batch(0, 0);
    let mut orig = vec![0.0; 784];
    let mut total_diff = 0.0;
    for (k, &i) in b.indices.iter().enumerate() {
        set.write_f32(i, &mut orig);
        let v0 = &b.views[0][k * 784..(k + 1) * 784];
        let v1 = &b.views[1][k * 784..(k + 1) * 784];
        assert_ne!(v0, v1, "two views of image {i} are identical");
        total_diff += v0
            .iter()
            .zip(&orig)
            .map(|(a, o)| (a - o).abs())
            .sum::<f32>()
            / 784.0;
        // A digit view still has ink: at least 5 % of pixels above 0.3.
        assert!(v0.iter().filter(|&&x| x > 0.3).count() > 39, "image {i}");
    }
    let mean_diff = total_diff / 64.0;
    assert!(
        mean_diff > 0.02 && mean_diff < 0.4,
        "mean |view - image| = {mean_diff}"
    );
}

#[test]
fn eval_batches_resize_whole_images() {
    let set = random_set(5, 3, 12, 12);
    let b: Vec<_> = eval_batches(&set, 12, 12, 2).unwrap().collect();
    assert_eq!(b.len(), 3);
    assert_eq!(b[2].shape, [1, 3, 12, 12]);
    let mut expect = vec![0.0; 432];
    set.write_f32(4, &mut expect);
    assert_eq!(b[2].images, expect);
    assert_eq!(b[1].start, 2);
    let up: Vec<_> = eval_batches(&set, 24, 20, 5).unwrap().collect();
    assert_eq!(up[0].shape, [5, 3, 24, 20]);
    assert!(up[0].images.iter().all(|x| (0.0..=1.0).contains(x)));
}

#[test]
fn loader_rejects_bad_settings() {
    let set = random_set(5, 1, 8, 8);
    let e = BatchLoader::try_new(set.clone(), Recipe::digits(8, 2), cfg(6, 0, 1)).unwrap_err();
    assert!(e.to_string().contains("batch_size = 6"), "{e}");
    let e = BatchLoader::try_new(set.clone(), Recipe::digits(8, 1), cfg(2, 0, 1)).unwrap_err();
    assert!(e.to_string().contains("views = 1"), "{e}");
    let bad = LoaderConfig {
        prefetch: 0,
        ..cfg(2, 0, 1)
    };
    assert!(BatchLoader::try_new(set.clone(), Recipe::digits(8, 2), bad).is_err());
    assert!(eval_batches(&set, 8, 8, 0).is_err());
}
