//! The view pipeline: sample a crop rectangle (torchvision's `RandomResizedCrop` rule), resample it
//! with flip and rotation, then apply the photometric ops in place on `f32` CHW.
//!
//! Colour math follows torchvision: grey = 0.299 R + 0.587 G + 0.114 B; contrast blends with the
//! image's mean grey; saturation blends each pixel with its grey; hue rotates in HSV; every op
//! clamps to `[0, 1]`.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::recipe::ViewRecipe;
use crate::data::resize::{sample_affine, CropRect, Resampler};

/// What a view's random numbers are a function of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ViewKey {
    /// Run seed.
    pub seed: u64,
    /// Epoch.
    pub epoch: u64,
    /// Sample index in the dataset.
    pub index: u64,
    /// View index within the sample.
    pub view: u64,
}

impl ViewKey {
    /// The ChaCha8 stream for this key: its 256-bit seed is the four numbers, little-endian.
    pub fn rng(&self) -> ChaCha8Rng {
        let mut s = [0u8; 32];
        for (chunk, v) in s
            .chunks_exact_mut(8)
            .zip([self.seed, self.epoch, self.index, self.view])
        {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        ChaCha8Rng::from_seed(s)
    }
}

/// Reusable scratch for making views; one per worker thread.
#[derive(Debug, Default, Clone)]
pub struct Augmenter {
    resampler: Resampler,
    tmp: Vec<f32>,
    padded: Vec<f32>,
    kernel: Vec<f32>,
}

fn uniform(rng: &mut ChaCha8Rng, (a, b): (f32, f32)) -> f32 {
    if a < b {
        rng.gen_range(a..=b)
    } else {
        a
    }
}

/// torchvision's `RandomResizedCrop.get_params`, on continuous coordinates.
fn crop_rect(rng: &mut ChaCha8Rng, h: usize, w: usize, r: &ViewRecipe) -> CropRect {
    let (hf, wf) = (h as f32, w as f32);
    let area = hf * wf;
    let (l0, l1) = (r.crop_ratio.0.ln(), r.crop_ratio.1.ln());
    for _ in 0..10 {
        let target = area * uniform(rng, r.crop_scale);
        let aspect = uniform(rng, (l0, l1)).exp();
        let cw = (target * aspect).sqrt();
        let ch = (target / aspect).sqrt();
        if cw <= wf && ch <= hf {
            let x = uniform(rng, (0.0, wf - cw));
            let y = uniform(rng, (0.0, hf - ch));
            return CropRect {
                x,
                y,
                width: cw,
                height: ch,
            };
        }
    }
    // Fallback: the largest centred crop within the ratio range.
    let ratio = wf / hf;
    let (cw, ch) = if ratio < r.crop_ratio.0 {
        (wf, wf / r.crop_ratio.0)
    } else if ratio > r.crop_ratio.1 {
        (hf * r.crop_ratio.1, hf)
    } else {
        (wf, hf)
    };
    CropRect {
        x: (wf - cw) / 2.0,
        y: (hf - ch) / 2.0,
        width: cw,
        height: ch,
    }
}

fn gray(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

fn brightness(x: &mut [f32], f: f32) {
    x.iter_mut().for_each(|v| *v = (*v * f).min(1.0));
}

fn contrast(x: &mut [f32], channels: usize, f: f32) {
    let hw = x.len() / channels;
    let mean = if channels == 3 {
        (0..hw)
            .map(|k| gray(x[k], x[hw + k], x[2 * hw + k]))
            .sum::<f32>()
            / hw as f32
    } else {
        x.iter().sum::<f32>() / hw as f32
    };
    x.iter_mut()
        .for_each(|v| *v = (mean + f * (*v - mean)).clamp(0.0, 1.0));
}

fn saturation(x: &mut [f32], f: f32) {
    let hw = x.len() / 3;
    let (r, gb) = x.split_at_mut(hw);
    let (g, b) = gb.split_at_mut(hw);
    for k in 0..hw {
        let y = gray(r[k], g[k], b[k]);
        r[k] = (y + f * (r[k] - y)).clamp(0.0, 1.0);
        g[k] = (y + f * (g[k] - y)).clamp(0.0, 1.0);
        b[k] = (y + f * (b[k] - y)).clamp(0.0, 1.0);
    }
}

/// Rotates hue by `shift` turns (RGB → HSV → RGB).
fn hue(x: &mut [f32], shift: f32) {
    let hw = x.len() / 3;
    let (r, gb) = x.split_at_mut(hw);
    let (g, b) = gb.split_at_mut(hw);
    for k in 0..hw {
        let (rr, gg, bb) = (r[k], g[k], b[k]);
        let max = rr.max(gg).max(bb);
        let min = rr.min(gg).min(bb);
        let d = max - min;
        if d <= 0.0 {
            continue;
        }
        let h6 = if max == rr {
            ((gg - bb) / d).rem_euclid(6.0)
        } else if max == gg {
            (bb - rr) / d + 2.0
        } else {
            (rr - gg) / d + 4.0
        };
        let h = (h6 / 6.0 + shift).rem_euclid(1.0) * 6.0;
        let (s, v) = (d / max, max);
        let i = (h.floor() as usize).min(5);
        let f = h - i as f32;
        let p = v * (1.0 - s);
        let q = v * (1.0 - s * f);
        let t = v * (1.0 - s * (1.0 - f));
        let (nr, ng, nb) = match i {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
        r[k] = nr.clamp(0.0, 1.0);
        g[k] = ng.clamp(0.0, 1.0);
        b[k] = nb.clamp(0.0, 1.0);
    }
}

fn to_gray(x: &mut [f32]) {
    let hw = x.len() / 3;
    for k in 0..hw {
        let y = gray(x[k], x[hw + k], x[2 * hw + k]).clamp(0.0, 1.0);
        x[k] = y;
        x[hw + k] = y;
        x[2 * hw + k] = y;
    }
}

/// Reflect-101 index (as torch's `reflect` padding) for `i` in `-(n-1)..2n-1`, clamped beyond.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let j = if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    };
    j.clamp(0, n - 1) as usize
}

impl Augmenter {
    /// An empty augmenter; buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Separable Gaussian blur of each `side × side` plane of `x`.
    fn blur(&mut self, x: &mut [f32], side: usize, sigma: f32, max_radius: usize) {
        let radius = ((3.0 * sigma).ceil() as usize)
            .min(max_radius)
            .min(side - 1);
        if radius == 0 {
            return;
        }
        self.kernel.clear();
        self.kernel.extend((0..=2 * radius).map(|t| {
            let d = t as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        }));
        let total: f32 = self.kernel.iter().sum();
        self.kernel.iter_mut().for_each(|k| *k /= total);
        let plane = side * side;
        self.tmp.resize(plane, 0.0);
        self.padded.resize(side + 2 * radius, 0.0);
        let r = radius as isize;
        for p in x.chunks_exact_mut(plane) {
            for y in 0..side {
                // Reflect-pad the row once, then convolve without index arithmetic.
                let row = &p[y * side..(y + 1) * side];
                for (t, v) in self.padded.iter_mut().enumerate() {
                    *v = row[reflect(t as isize - r, side)];
                }
                let out = &mut self.tmp[y * side..(y + 1) * side];
                for (xx, o) in out.iter_mut().enumerate() {
                    let win = &self.padded[xx..xx + self.kernel.len()];
                    *o = win.iter().zip(&self.kernel).map(|(a, b)| a * b).sum();
                }
            }
            for y in 0..side {
                let out = &mut p[y * side..(y + 1) * side];
                out.fill(0.0);
                for (t, &k) in self.kernel.iter().enumerate() {
                    let sy = reflect(y as isize + t as isize - r, side);
                    let src = &self.tmp[sy * side..(sy + 1) * side];
                    for (o, &s) in out.iter_mut().zip(src) {
                        *o += k * s;
                    }
                }
                // Weights sum to 1 up to rounding; keep the [0, 1] range exact.
                out.iter_mut().for_each(|o| *o = o.min(1.0));
            }
        }
    }

    /// Writes one augmented view of the `u8` CHW image `src` (`channels × height × width`) into
    /// `out` (`channels × r.size × r.size`, `f32` in `[0, 1]`). A pure function of its arguments.
    ///
    /// ```
    /// use trainer::augment::{Augmenter, ViewKey, ViewRecipe};
    /// let src = vec![128u8; 28 * 28];
    /// let mut out = vec![0.0; 16 * 16];
    /// let key = ViewKey { seed: 1, epoch: 0, index: 0, view: 0 };
    /// Augmenter::new().write_view(&src, 1, 28, 28, &ViewRecipe::digits(16), key, &mut out);
    /// assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn write_view(
        &mut self,
        src: &[u8],
        channels: usize,
        height: usize,
        width: usize,
        r: &ViewRecipe,
        key: ViewKey,
        out: &mut [f32],
    ) {
        let mut rng = key.rng();
        let s = r.size;
        let rect = crop_rect(&mut rng, height, width, r);
        let flip = rng.gen::<f32>() < r.flip_prob;
        let angle = if r.rotation_degrees > 0.0 {
            uniform(&mut rng, (-r.rotation_degrees, r.rotation_degrees)).to_radians()
        } else {
            0.0
        };
        if angle == 0.0 {
            self.resampler
                .resample(src, channels, height, width, rect, flip, out, s, s);
        } else {
            // Output pixel (u, v) → centred → flipped → rotated → scaled into the crop.
            let (sin, cos) = angle.sin_cos();
            let (kx, ky) = (rect.width / s as f32, rect.height / s as f32);
            let fx = if flip { -1.0 } else { 1.0 };
            let half = s as f32 / 2.0;
            let (cx, cy) = (rect.x + rect.width / 2.0, rect.y + rect.height / 2.0);
            let m = [kx * cos * fx, -kx * sin, 0.0, ky * sin * fx, ky * cos, 0.0];
            let m = [
                m[0],
                m[1],
                cx - (m[0] + m[1]) * half,
                m[3],
                m[4],
                cy - (m[3] + m[4]) * half,
            ];
            sample_affine(src, channels, height, width, m, 0.0, out, s, s);
        }
        self.photometric(out, channels, r, &mut rng);
    }

    fn photometric(
        &mut self,
        x: &mut [f32],
        channels: usize,
        r: &ViewRecipe,
        rng: &mut ChaCha8Rng,
    ) {
        let j = &r.jitter;
        if rng.gen::<f32>() < j.prob {
            let mut order = [0u8, 1, 2, 3];
            order.shuffle(rng);
            for op in order {
                match op {
                    0 if j.brightness > 0.0 => {
                        brightness(
                            x,
                            uniform(rng, ((1.0 - j.brightness).max(0.0), 1.0 + j.brightness)),
                        );
                    }
                    1 if j.contrast > 0.0 => {
                        let f = uniform(rng, ((1.0 - j.contrast).max(0.0), 1.0 + j.contrast));
                        contrast(x, channels, f);
                    }
                    2 if j.saturation > 0.0 && channels == 3 => {
                        saturation(
                            x,
                            uniform(rng, ((1.0 - j.saturation).max(0.0), 1.0 + j.saturation)),
                        );
                    }
                    3 if j.hue > 0.0 && channels == 3 => hue(x, uniform(rng, (-j.hue, j.hue))),
                    _ => {}
                }
            }
        }
        if rng.gen::<f32>() < r.grayscale_prob && channels == 3 {
            to_gray(x);
        }
        if rng.gen::<f32>() < r.blur.prob {
            let sigma = uniform(rng, r.blur.sigma);
            self.blur(x, r.size, sigma, r.blur.max_radius);
        }
        if rng.gen::<f32>() < r.solarize_prob {
            x.iter_mut().for_each(|v| {
                if *v >= 0.5 {
                    *v = 1.0 - *v;
                }
            });
        }
        if rng.gen::<f32>() < r.noise.prob {
            let std = uniform(rng, r.noise.std);
            if std > 0.0 {
                for v in x.iter_mut() {
                    let n: f32 = rng.sample(StandardNormal);
                    *v = (*v + std * n).clamp(0.0, 1.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hue_full_turn_and_zero_are_identity() {
        let orig = vec![0.9, 0.2, 0.5, 0.1, 0.3, 0.6, 0.7, 0.4, 0.2];
        for shift in [0.0, 1.0, -1.0] {
            let mut x = orig.clone();
            hue(&mut x, shift);
            for (a, b) in x.iter().zip(&orig) {
                assert!((a - b).abs() < 1e-5, "{shift}: {x:?}");
            }
        }
        // A third of a turn maps pure red to pure green.
        let mut x = vec![1.0, 0.0, 0.0];
        hue(&mut x, 1.0 / 3.0);
        assert!(
            (x[0]).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5 && x[2].abs() < 1e-5,
            "{x:?}"
        );
    }

    #[test]
    fn blur_keeps_constants_and_spreads_a_spike() {
        let mut a = Augmenter::new();
        let mut x = vec![0.25f32; 49];
        a.blur(&mut x, 7, 1.0, 3);
        assert!(x.iter().all(|v| (v - 0.25).abs() < 1e-6));
        // A centred spike far from the border (no reflection reaches it) keeps its mass, and its
        // centre becomes k0^2 with k0 = 1 / sum_{d=-3..3} exp(-d^2 / 2) = 1 / 2.505948 = 0.399051.
        let mut x = vec![0.0f32; 15 * 15];
        x[7 * 15 + 7] = 1.0;
        a.blur(&mut x, 15, 1.0, 3);
        let sum: f32 = x.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "mass {sum}");
        assert!((x[112] - 0.399051f32.powi(2)).abs() < 1e-5, "{}", x[112]);
        assert!(x[111] == x[113] && x[97] == x[127] && x[111] > 0.05);
    }

    #[test]
    fn reflect_indices() {
        assert_eq!(
            [-2, -1, 0, 4, 5, 6].map(|i| reflect(i, 5)),
            [2, 1, 0, 4, 3, 2]
        );
    }

    #[test]
    fn contrast_zero_gives_mean_grey() {
        let mut x = vec![0.0, 1.0, 0.5, 0.5];
        contrast(&mut x, 1, 0.0);
        assert!(x.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }
}
