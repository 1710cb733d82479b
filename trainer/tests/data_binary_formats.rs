//! IDX, CIFAR and STL-10 readers on small files written here, good and corrupt.

use std::io::Write;
use std::path::Path;

use groco_testkit::datasets::{self, idx_labels, stl_image, CIFAR_PIXELS, STL_SIDE};
use trainer::data::{load, DatasetSpec, LoadOptions, UNLABELED};

fn opts() -> LoadOptions {
    LoadOptions {
        threads: 2,
        ..LoadOptions::default()
    }
}

/// IDX images whose byte `k` (over all images) is `fill(k)`.
fn idx_images(n: u32, h: u32, w: u32, fill: impl Fn(usize) -> u8) -> Vec<u8> {
    datasets::idx_images(n, h, w, (0..(n * h * w) as usize).map(fill))
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A 3-train / 2-test IDX set of 5×4 images where pixel k of image i is `i * 20 + k`.
fn write_idx(dir: &Path, zipped: bool) {
    let files = [
        ("train-images-idx3-ubyte", idx_images(3, 5, 4, |k| k as u8)),
        ("train-labels-idx1-ubyte", idx_labels(&[2, 0, 7])),
        (
            "t10k-images-idx3-ubyte",
            idx_images(2, 5, 4, |k| 200 - k as u8),
        ),
        ("t10k-labels-idx1-ubyte", idx_labels(&[1, 1])),
    ];
    for (name, data) in files {
        if zipped {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&data)).unwrap();
        } else {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

fn err_of(spec: &str) -> String {
    load(&spec.parse().unwrap(), &opts())
        .unwrap_err()
        .to_string()
}

#[test]
fn idx_plain_and_gz_load_the_same() {
    for zipped in [false, true] {
        let d = tempfile::tempdir().unwrap();
        write_idx(d.path(), zipped);
        let s = load(&DatasetSpec::Idx(d.path().into()), &opts()).unwrap();
        assert_eq!(
            (s.train.len(), s.train.height(), s.train.width()),
            (3, 5, 4)
        );
        assert_eq!(s.train.labels(), &[2, 0, 7]);
        assert_eq!(s.test.labels(), &[1, 1]);
        assert_eq!(s.train.num_classes(), 8);
        assert_eq!(s.train.image(1)[0], 20);
        assert_eq!(s.test.image(1)[3], 200 - 23);
    }
}

#[test]
fn idx_resize_on_load() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path(), false);
    let o = LoadOptions {
        resize: Some((10, 8)),
        ..opts()
    };
    let s = load(&DatasetSpec::Idx(d.path().into()), &o).unwrap();
    assert_eq!((s.test.height(), s.test.width(), s.test.len()), (10, 8, 2));
}

#[test]
fn idx_missing_dir_names_expected_files() {
    let e = err_of("idx:/nonexistent/groco-idx");
    assert!(e.contains("/nonexistent/groco-idx"), "{e}");
    assert!(e.contains("train-images-idx3-ubyte[.gz]"), "{e}");
    assert!(e.contains("t10k-labels-idx1-ubyte[.gz]"), "{e}");
    // One file missing: only it is named.
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path(), false);
    std::fs::remove_file(d.path().join("t10k-images-idx3-ubyte")).unwrap();
    let e = err_of(&format!("idx:{}", d.path().display()));
    assert!(e.contains("expected: t10k-images-idx3-ubyte[.gz]"), "{e}");
}

#[test]
fn idx_corruptions_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let spec = format!("idx:{}", d.path().display());
    let img = d.path().join("train-images-idx3-ubyte");
    let lab = d.path().join("train-labels-idx1-ubyte");

    write_idx(d.path(), false);
    let mut bad = idx_images(3, 5, 4, |_| 0);
    bad[3] = 0x01; // A labels magic in an images file.
    std::fs::write(&img, &bad).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("wrong magic number 0x00000801 (expected 0x00000803)"),
        "{e}"
    );
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");

    write_idx(d.path(), false);
    let good = idx_images(3, 5, 4, |_| 0);
    std::fs::write(&img, &good[..good.len() - 7]).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("truncated file: 69 bytes, header says 76"),
        "{e}"
    );

    std::fs::write(&img, &good[..10]).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("truncated file: 10 bytes, header says 16"),
        "{e}"
    );

    let mut long = good.clone();
    long.push(9);
    std::fs::write(&img, &long).unwrap();
    assert!(err_of(&spec).contains("77 bytes, but the header accounts for only 76"));

    write_idx(d.path(), false);
    std::fs::write(&lab, idx_labels(&[1, 2])).unwrap();
    let e = err_of(&spec);
    assert!(e.contains("holds 3 images but"), "{e}");
    assert!(e.contains("holds 2 labels"), "{e}");

    // A header claiming 2^32 - 1 images of 65535² pixels must not allocate: it is truncated.
    write_idx(d.path(), false);
    let mut huge = Vec::new();
    for x in [0x0803u32, u32::MAX, 65535, 65535] {
        huge.extend_from_slice(&x.to_be_bytes());
    }
    std::fs::write(&img, &huge).unwrap();
    assert!(err_of(&spec).contains("truncated file"));

    // Corrupt gzip.
    write_idx(d.path(), false);
    std::fs::remove_file(&img).unwrap();
    std::fs::write(d.path().join("train-images-idx3-ubyte.gz"), b"not gzip").unwrap();
    let e = err_of(&spec);
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
}

#[test]
fn idx_train_and_test_sizes_must_agree() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path(), false);
    std::fs::write(
        d.path().join("t10k-images-idx3-ubyte"),
        idx_images(2, 6, 4, |_| 0),
    )
    .unwrap();
    let e = err_of(&format!("idx:{}", d.path().display()));
    let t10k = d.path().join("t10k-images-idx3-ubyte");
    assert!(
        e.contains(&format!(
            "invalid IDX image size = 6x4: {}: the test images must have the size of the \
             training images, 5x4",
            t10k.display()
        )),
        "{e}"
    );
}

/// CIFAR record: label byte(s), then R, G, B planes of 32×32.
fn cifar_record(labels: &[u8], seed: u8) -> Vec<u8> {
    let pixels = (0..CIFAR_PIXELS).map(|k| (k as u8).wrapping_mul(3).wrapping_add(seed));
    datasets::cifar_record(labels, pixels)
}

fn write_cifar10(dir: &Path, per_batch: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for b in 1..=5u8 {
        let data: Vec<u8> = (0..per_batch)
            .flat_map(|i| cifar_record(&[(b + i as u8) % 10], b))
            .collect();
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), data).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar_record(&[9], 99)).unwrap();
}

#[test]
fn cifar10_loads_from_dir_and_archive_subfolder() {
    let d = tempfile::tempdir().unwrap();
    write_cifar10(&d.path().join("cifar-10-batches-bin"), 2);
    let s = load(&DatasetSpec::Cifar10(d.path().into()), &opts()).unwrap();
    assert_eq!(
        (s.train.len(), s.test.len(), s.train.channels()),
        (10, 1, 3)
    );
    // Batch b holds labels b, b + 1 (mod 10).
    assert_eq!(s.train.labels()[..4], [1, 2, 2, 3]);
    assert_eq!(s.test.labels(), &[9]);
    assert_eq!(s.test.image(0), &cifar_record(&[9], 99)[1..]);
    assert_eq!(s.train.class_names()[9], "truck");
}

#[test]
fn cifar_bad_sizes_labels_and_missing_files() {
    let d = tempfile::tempdir().unwrap();
    write_cifar10(d.path(), 1);
    let spec = format!("cifar10:{}", d.path().display());
    let mut short = cifar_record(&[1], 0);
    short.pop();
    std::fs::write(d.path().join("data_batch_3.bin"), &short).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("data_batch_3.bin: size 3072 bytes is not a whole number of 3073-byte records"),
        "{e}"
    );

    write_cifar10(d.path(), 1);
    std::fs::write(d.path().join("test_batch.bin"), cifar_record(&[10], 0)).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("test_batch.bin: item 0 has label 10, allowed 0..9"),
        "{e}"
    );

    std::fs::remove_file(d.path().join("data_batch_5.bin")).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("data_batch_5.bin (or cifar-10-batches-bin/data_batch_5.bin)"),
        "{e}"
    );

    let e = err_of("cifar100:/nonexistent/c100");
    assert!(e.contains("train.bin") && e.contains("test.bin"), "{e}");
}

#[test]
fn cifar100_uses_fine_labels() {
    let d = tempfile::tempdir().unwrap();
    let train: Vec<u8> = [[3u8, 77], [19, 5]]
        .iter()
        .flat_map(|l| cifar_record(l, 1))
        .collect();
    std::fs::write(d.path().join("train.bin"), train).unwrap();
    std::fs::write(d.path().join("test.bin"), cifar_record(&[0, 99], 2)).unwrap();
    let s = load(&DatasetSpec::Cifar100(d.path().into()), &opts()).unwrap();
    assert_eq!(s.train.labels(), &[77, 5]);
    assert_eq!(s.test.labels(), &[99]);
    assert_eq!(s.train.num_classes(), 100);
    // 3072 bytes + 1 label byte: not a whole 3074-byte record.
    std::fs::write(d.path().join("test.bin"), cifar_record(&[1], 2)).unwrap();
    let e = load(&DatasetSpec::Cifar100(d.path().into()), &opts()).unwrap_err();
    assert!(e.to_string().contains("3074-byte records"), "{e}");
}

const STL: usize = STL_SIDE;

fn stl_pattern(c: usize, y: usize, x: usize) -> u8 {
    (c * 80 + y + 2 * x) as u8
}

fn write_stl(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let img = stl_image(stl_pattern);
    std::fs::write(dir.join("train_X.bin"), [img.clone(), img.clone()].concat()).unwrap();
    std::fs::write(dir.join("train_y.bin"), [1u8, 10]).unwrap();
    std::fs::write(dir.join("test_X.bin"), &img).unwrap();
    std::fs::write(dir.join("test_y.bin"), [4u8]).unwrap();
    std::fs::write(
        dir.join("unlabeled_X.bin"),
        [img.clone(), img.clone(), img].concat(),
    )
    .unwrap();
}

#[test]
fn stl10_transposes_and_shifts_labels() {
    let d = tempfile::tempdir().unwrap();
    write_stl(&d.path().join("stl10_binary"));
    let s = load(&DatasetSpec::Stl10(d.path().into()), &opts()).unwrap();
    assert_eq!(s.train.labels(), &[0, 9]);
    assert_eq!(s.test.labels(), &[3]);
    assert!(s.unlabeled.is_none());
    let img = s.test.image(0);
    for (c, y, x) in [(0, 0, 1), (0, 1, 0), (1, 5, 90), (2, 95, 3)] {
        assert_eq!(
            img[c * STL * STL + y * STL + x],
            stl_pattern(c, y, x),
            "({c},{y},{x})"
        );
    }
    let o = LoadOptions {
        unlabeled: true,
        ..opts()
    };
    let s = load(&DatasetSpec::Stl10(d.path().into()), &o).unwrap();
    let u = s.unlabeled.unwrap();
    assert_eq!(u.len(), 3);
    assert!(u.labels().iter().all(|&l| l == UNLABELED));
    assert_eq!(u.image(2), s.test.image(0));
}

#[test]
fn stl10_errors() {
    let d = tempfile::tempdir().unwrap();
    let spec = format!("stl10:{}", d.path().display());
    write_stl(d.path());
    std::fs::write(d.path().join("test_y.bin"), [0u8]).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("test_y.bin: item 0 has label 0, allowed 1..10"),
        "{e}"
    );

    write_stl(d.path());
    std::fs::write(d.path().join("train_y.bin"), [1u8, 2, 3]).unwrap();
    let e = err_of(&spec);
    assert!(
        e.contains("holds 2 images but") && e.contains("holds 3 labels"),
        "{e}"
    );

    write_stl(d.path());
    std::fs::write(d.path().join("test_X.bin"), vec![0u8; 1000]).unwrap();
    let e = err_of(&spec);
    assert!(e.contains("27648-byte records"), "{e}");

    write_stl(d.path());
    std::fs::remove_file(d.path().join("unlabeled_X.bin")).unwrap();
    let o = LoadOptions {
        unlabeled: true,
        ..opts()
    };
    let e = load(&spec.parse().unwrap(), &o).unwrap_err().to_string();
    assert!(e.contains("unlabeled_X.bin"), "{e}");
}
