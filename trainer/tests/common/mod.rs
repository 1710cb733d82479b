//! Helpers shared by the command-line tests: running the built `trainer` binary, reading its
//! outputs, and writing small datasets in the STL-10 binary, ImageFolder and IDX formats.
//!
//! The generated images are class-separable on purpose (each class has its own colour or
//! brightness, plus seeded noise), so a k-NN or linear score above chance shows that labels,
//! images and the evaluation are wired together, not only that the run finished.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use groco_testkit::datasets::{
    idx_images, idx_labels, lcg_bytes, stl_image, write_idx_split, STL_SIDE,
};
use image::{Rgb, RgbImage};
use serde_json::Value;

/// What one run of the binary printed.
#[derive(Debug)]
pub struct Run {
    /// Exit status code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `trainer ARGS` in `cwd` and returns what it printed, whatever the exit status.
pub fn trainer(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the trainer binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `trainer ARGS` in `cwd` and fails the test (showing both streams) unless it exits 0.
pub fn trainer_ok(cwd: &Path, args: &[&str]) -> Run {
    let run = trainer(cwd, args);
    assert_eq!(
        run.code,
        Some(0),
        "trainer {} failed\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        run.stdout,
        run.stderr
    );
    run
}

/// Runs `trainer ARGS` in `cwd`, expects a non-zero exit and returns its standard error.
pub fn trainer_err(cwd: &Path, args: &[&str]) -> String {
    let run = trainer(cwd, args);
    assert_eq!(
        run.code,
        Some(1),
        "trainer {} should have failed\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        run.stdout,
        run.stderr
    );
    run.stderr
}

/// Parses a JSON file, naming it on failure.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The records of a run's `metrics.jsonl`, each parsed.
pub fn read_metrics(run: &Path) -> Vec<Value> {
    let path = run.join("metrics.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The losses of the step records of a run's `metrics.jsonl`, checked to be finite.
pub fn finite_step_losses(run: &Path) -> Vec<f64> {
    let losses: Vec<f64> = read_metrics(run)
        .iter()
        .filter(|r| r.get("step").is_some())
        .map(|r| {
            r["loss"]
                .as_f64()
                .expect("a step record has a numeric loss")
        })
        .collect();
    assert!(!losses.is_empty(), "{}: no step records", run.display());
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "{}: non-finite loss in {losses:?}",
        run.display()
    );
    losses
}

/// A number field of a JSON object, or a test failure naming it.
pub fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

/// Asserts `path` is a PNG of at least 200×150 pixels with a drawing on it (many distinct
/// colours), and that the `.svg` beside it is an SVG.
pub fn assert_plot(path: &Path) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} lacks the PNG signature",
        path.display()
    );
    assert!(
        bytes.len() > 4096,
        "{}: only {} bytes",
        path.display(),
        bytes.len()
    );
    let img = image::load_from_memory(&bytes)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8();
    assert!(
        img.width() >= 200 && img.height() >= 150,
        "{}: {}x{}",
        path.display(),
        img.width(),
        img.height()
    );
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() >= 8,
        "{}: only {} distinct colours, nothing drawn",
        path.display(),
        colours.len()
    );
    let svg = path.with_extension("svg");
    let text = std::fs::read_to_string(&svg)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", svg.display()));
    assert!(
        text.contains("<svg") && text.len() > 1000,
        "{} is not a drawn SVG",
        svg.display()
    );
}

/// The colour of class `class`: classes differ strongly in hue.
pub fn class_colour(class: usize) -> [u8; 3] {
    const COLOURS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 40]];
    COLOURS[class % COLOURS.len()]
}

/// Pixel `(c, y, x)` of image `seed` of class `class`: the class colour, a class-dependent
/// stripe pattern, and ±24 of noise.
fn pixel(class: usize, c: usize, y: usize, x: usize, noise: u8) -> u8 {
    let base = class_colour(class)[c] as i32;
    let stripe = if (x / 8 + class).is_multiple_of(2) {
        20
    } else {
        -20
    };
    (base + stripe + noise as i32 / 5 - 24 + (y % 2) as i32).clamp(0, 255) as u8
}

/// One STL-10 record (see [`stl_image`]) of class `class`, noise seeded by `seed`.
pub fn stl_record(class: usize, seed: u64) -> Vec<u8> {
    let n = STL_SIDE * STL_SIDE;
    let noise = lcg_bytes(3 * n, seed);
    stl_image(|c, y, x| pixel(class, c, y, x, noise[c * n + x * STL_SIDE + y]))
}

/// Writes an STL-10 binary set into `dir`: `train` and `test` images alternating over
/// `classes` classes (labels 1..=classes on disk), and `unlabeled` extra images when non-zero.
pub fn write_stl10(dir: &Path, classes: usize, train: usize, test: usize, unlabeled: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let split = |name: &str, n: usize, seed: u64| {
        let x: Vec<u8> = (0..n)
            .flat_map(|i| stl_record(i % classes, seed + i as u64))
            .collect();
        std::fs::write(dir.join(format!("{name}_X.bin")), x).unwrap();
        let y: Vec<u8> = (0..n).map(|i| (i % classes + 1) as u8).collect();
        std::fs::write(dir.join(format!("{name}_y.bin")), y).unwrap();
    };
    split("train", train, 1_000);
    split("test", test, 2_000);
    if unlabeled > 0 {
        let x: Vec<u8> = (0..unlabeled)
            .flat_map(|i| stl_record(i % classes, 3_000 + i as u64))
            .collect();
        std::fs::write(dir.join("unlabeled_X.bin"), x).unwrap();
    }
}

/// Writes an ImageFolder tree `dir/{train,val}/class<k>/<i>.{png,jpg}` of `side`² RGB images,
/// `train` and `val` images per class; every third image is a JPEG.
pub fn write_folder(dir: &Path, classes: usize, train: usize, val: usize, side: u32) {
    for (split, per_class, seed) in [("train", train, 10_000u64), ("val", val, 20_000)] {
        for class in 0..classes {
            let d = dir.join(split).join(format!("class{class}"));
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..per_class {
                let s = side as usize;
                let noise = lcg_bytes(3 * s * s, seed + (class * 1000 + i) as u64);
                let img = RgbImage::from_fn(side, side, |x, y| {
                    let (x, y) = (x as usize, y as usize);
                    Rgb(std::array::from_fn(|c| {
                        pixel(class, c, y, x, noise[(c * s + y) * s + x])
                    }))
                });
                let ext = if i % 3 == 2 { "jpg" } else { "png" };
                img.save(d.join(format!("{i}.{ext}"))).unwrap();
            }
        }
    }
}

/// Writes the evenly spaced `train` and `test` subsets of the embedded MNIST-5k digits into
/// `dir` as IDX files, so evaluation commands can run on real digits at a fraction of the cost.
pub fn write_mnist_subset(dir: &Path, train: usize, test: usize) {
    use trainer::data::{load, DatasetSpec, ImageSet, LoadOptions};
    std::fs::create_dir_all(dir).unwrap();
    let split = load(&DatasetSpec::Mnist5k, &LoadOptions::default()).unwrap();
    let write = |set: &ImageSet, n: usize, prefix: &str| {
        let picks: Vec<usize> = (0..n).map(|i| i * set.len() / n).collect();
        let (h, w) = (set.height() as u32, set.width() as u32);
        let pixels = picks.iter().flat_map(|&i| set.image(i).iter().copied());
        let images = idx_images(n as u32, h, w, pixels);
        let labels: Vec<u8> = picks.iter().map(|&i| set.labels()[i] as u8).collect();
        write_idx_split(dir, prefix, &images, &idx_labels(&labels));
    };
    write(&split.train, train, "train");
    write(&split.test, test, "t10k");
}

/// `dir/name` as a `&str` argument.
pub fn arg(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// A fresh temporary directory, removed when dropped.
pub fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("groco-cli-")
        .tempdir()
        .expect("a temporary directory")
}

/// Flags of a tiny GroCo run: one epoch, small batches.
pub const TINY: &[&str] = &["--epochs", "1", "--batch-size", "32", "--topk-neg", "5"];

pub fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

/// Asserts that `value` percent is a whole number of `1/queries` (it was scored on `queries`
/// images).
pub fn assert_scored_on(value: f64, queries: usize, what: &str) {
    let hits = value / 100.0 * queries as f64;
    assert!(
        (hits - hits.round()).abs() < 1e-6 && (0.0..=100.0).contains(&value),
        "{what} = {value}% is not a score on {queries} test images"
    );
}
