//! The `folder:` (ImageFolder) reader on small PNG/JPEG trees written here.

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use trainer::data::{load, DatasetSpec, LoadOptions};

fn opts(size: usize) -> LoadOptions {
    LoadOptions {
        folder_size: size,
        threads: 3,
        ..LoadOptions::default()
    }
}

fn solid_rgb(w: u32, h: u32, c: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(c))
}

/// train/{cat,dog} and val/{cat,dog}, mixing PNG, JPEG, grey and RGBA files.
fn write_tree(root: &Path) {
    for d in ["train/cat", "train/dog", "val/cat", "val/dog"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    solid_rgb(20, 10, [200, 10, 10])
        .save(root.join("train/cat/a.png"))
        .unwrap();
    solid_rgb(8, 8, [10, 200, 10])
        .save(root.join("train/cat/b.JPG"))
        .unwrap();
    GrayImage::from_pixel(5, 7, Luma([90]))
        .save(root.join("train/dog/grey.png"))
        .unwrap();
    std::fs::write(root.join("train/dog/notes.txt"), "ignored").unwrap();
    RgbaImage::from_pixel(6, 6, Rgba([0, 0, 250, 128]))
        .save(root.join("val/cat/rgba.png"))
        .unwrap();
    solid_rgb(9, 12, [30, 60, 90])
        .save(root.join("val/dog/x.jpeg"))
        .unwrap();
}

#[test]
fn folder_loads_converts_and_labels() {
    let d = tempfile::tempdir().unwrap();
    write_tree(d.path());
    let s = load(&DatasetSpec::Folder(d.path().into()), &opts(4)).unwrap();
    assert_eq!(
        s.train.class_names(),
        &["cat".to_string(), "dog".to_string()]
    );
    assert_eq!(s.train.labels(), &[0, 0, 1]);
    assert_eq!(s.test.labels(), &[0, 1]);
    assert_eq!(
        (s.train.channels(), s.train.height(), s.train.width()),
        (3, 4, 4)
    );
    // Solid images stay solid after resize and crop: check the CHW planes.
    let red = s.train.image(0);
    assert!(red[..16].iter().all(|&v| v == 200) && red[16..32].iter().all(|&v| v == 10));
    // JPEG is lossy: allow a small error.
    let green = s.train.image(1);
    assert!(
        green[16..32].iter().all(|&v| v.abs_diff(200) <= 4),
        "{green:?}"
    );
    // Grey becomes R = G = B.
    assert!(s.train.image(2).iter().all(|&v| v == 90));
    // RGBA drops alpha.
    let blue = s.test.image(0);
    assert!(blue[..32].iter().all(|&v| v == 0) && blue[32..].iter().all(|&v| v == 250));
}

#[test]
fn folder_errors() {
    let d = tempfile::tempdir().unwrap();
    let spec: DatasetSpec = format!("folder:{}", d.path().display()).parse().unwrap();
    let e = load(&spec, &opts(4)).unwrap_err().to_string();
    assert!(e.contains("train/<class>/*.{jpg,jpeg,png}"), "{e}");

    write_tree(d.path());
    std::fs::create_dir_all(d.path().join("train/empty")).unwrap();
    std::fs::write(d.path().join("train/empty/readme.md"), "x").unwrap();
    let e = load(&spec, &opts(4)).unwrap_err().to_string();
    assert!(
        e.contains("class folder") && e.contains("train/empty holds no"),
        "{e}"
    );
    std::fs::remove_dir_all(d.path().join("train/empty")).unwrap();

    std::fs::create_dir_all(d.path().join("val/bird")).unwrap();
    solid_rgb(3, 3, [1, 2, 3])
        .save(d.path().join("val/bird/b.png"))
        .unwrap();
    let e = load(&spec, &opts(4)).unwrap_err().to_string();
    assert!(
        e.contains("val/bird") && e.contains("not among the train classes"),
        "{e}"
    );
    std::fs::remove_dir_all(d.path().join("val/bird")).unwrap();

    std::fs::write(d.path().join("train/dog/broken.png"), b"\x89PNG garbage").unwrap();
    let e = load(&spec, &opts(4)).unwrap_err().to_string();
    assert!(e.contains("broken.png: cannot decode image"), "{e}");
    std::fs::remove_file(d.path().join("train/dog/broken.png")).unwrap();

    let e = load(&spec, &opts(0)).unwrap_err().to_string();
    assert!(e.contains("folder_size = 0"), "{e}");
    assert!(load(&spec, &opts(4)).is_ok());
}
