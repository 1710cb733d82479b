//! The bytes of small dataset files in the formats the trainer reads (IDX, CIFAR binary,
//! STL-10 binary), for tests that write datasets. The pixel contents stay with each test; these
//! helpers only lay them out.

use std::path::Path;

/// Deterministic pseudo-random bytes: the top byte of a 64-bit LCG (Knuth's MMIX constants)
/// started from `seed`.
pub fn lcg_bytes(n: usize, seed: u64) -> Vec<u8> {
    let step = |s: u64| {
        s.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut s = step(seed);
    (0..n)
        .map(|_| {
            s = step(s);
            (s >> 56) as u8
        })
        .collect()
}

/// An IDX image file: the big-endian header (magic `0x0803`, `n`, `h`, `w`) followed by
/// `pixels`, which should be `n·h·w` bytes (or deliberately not, for a corrupt file).
pub fn idx_images(n: u32, h: u32, w: u32, pixels: impl IntoIterator<Item = u8>) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x0803u32, n, h, w] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend(pixels);
    v
}

/// An IDX label file: the big-endian header (magic `0x0801`, count) followed by `labels`.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x0801u32, labels.len() as u32] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(labels);
    v
}

/// Writes one IDX split into `dir`: `images` as `<prefix>-images-idx3-ubyte` and `labels` as
/// `<prefix>-labels-idx1-ubyte` (prefix `train` or `t10k`).
pub fn write_idx_split(dir: &Path, prefix: &str, images: &[u8], labels: &[u8]) {
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
}

/// The pixels of a CIFAR image (3 planes of 32×32).
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// One CIFAR binary record: the label byte(s) (one for CIFAR-10, coarse and fine for
/// CIFAR-100) followed by `pixels` (R, G, B planes of 32×32: [`CIFAR_PIXELS`] bytes).
pub fn cifar_record(labels: &[u8], pixels: impl IntoIterator<Item = u8>) -> Vec<u8> {
    let mut v = labels.to_vec();
    v.extend(pixels);
    v
}

/// Side of an STL-10 image.
pub const STL_SIDE: usize = 96;

/// One STL-10 image: three 96×96 planes stored column-major, byte `x·96 + y` of plane `c`
/// being `f(c, y, x)`.
pub fn stl_image(f: impl Fn(usize, usize, usize) -> u8) -> Vec<u8> {
    let n = STL_SIDE * STL_SIDE;
    let mut v = vec![0u8; 3 * n];
    for c in 0..3 {
        for x in 0..STL_SIDE {
            for y in 0..STL_SIDE {
                v[c * n + x * STL_SIDE + y] = f(c, y, x);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let img = idx_images(1, 2, 3, [9; 6]);
        assert_eq!(&img[..4], &[0, 0, 8, 3]);
        assert_eq!(&img[12..16], &[0, 0, 0, 3]);
        assert_eq!(img.len(), 16 + 6);
        assert_eq!(idx_labels(&[4, 5]), [0, 0, 8, 1, 0, 0, 0, 2, 4, 5]);
        assert_eq!(cifar_record(&[3], [1, 2]), [3, 1, 2]);
        let s = stl_image(|c, y, x| (c + 2 * y + 3 * x) as u8);
        assert_eq!(
            s[STL_SIDE * STL_SIDE + 5 * STL_SIDE + 1],
            (1 + 2 + 15) as u8
        );
        assert_eq!(lcg_bytes(8, 3), lcg_bytes(8, 3));
        assert_ne!(lcg_bytes(8, 3), lcg_bytes(8, 4));
    }
}
