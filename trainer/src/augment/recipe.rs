//! Augmentation recipes: the parameters of each view, and the SimCLR, DINO and digit presets
//! scaled to the image size (blur kernels ~10 % of the side, as SimCLR's 23 px at 224).

use crate::error::{Error, Result};

/// Colour jitter as torchvision's `ColorJitter`, applied with probability `prob` in random order.
///
/// Factors are drawn from `[max(0, 1 - x), 1 + x]` for brightness, contrast and saturation, and
/// the hue shift from `[-hue, hue]` (fraction of a turn, at most 0.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorJitter {
    /// Probability of applying the jitter.
    pub prob: f32,
    /// Brightness strength.
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength (no effect on grey images).
    pub saturation: f32,
    /// Hue strength (no effect on grey images).
    pub hue: f32,
}

/// Gaussian blur with `sigma` (in output pixels) drawn from a range, applied with probability `prob`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blur {
    /// Probability of blurring.
    pub prob: f32,
    /// Range of the standard deviation, in pixels of the output view.
    pub sigma: (f32, f32),
    /// Kernel radius cap: the kernel spans `2 min(ceil(3 sigma), max_radius) + 1` pixels.
    pub max_radius: usize,
}

/// Additive Gaussian noise with standard deviation drawn from `std`, applied with probability `prob`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    /// Probability of adding noise.
    pub prob: f32,
    /// Range of the noise standard deviation (in `[0, 1]` intensity units).
    pub std: (f32, f32),
}

/// The random transforms of one view.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewRecipe {
    /// Output side: views are `size × size`.
    pub size: usize,
    /// Crop area as a fraction of the image, `(min, max)` within `(0, 1]`.
    pub crop_scale: (f32, f32),
    /// Crop aspect ratio (width / height) range, sampled log-uniformly.
    pub crop_ratio: (f32, f32),
    /// Probability of a horizontal flip.
    pub flip_prob: f32,
    /// Rotation angle drawn uniformly from `[-rotation_degrees, rotation_degrees]`; the corners
    /// that leave the image read black.
    pub rotation_degrees: f32,
    /// Colour jitter.
    pub jitter: ColorJitter,
    /// Probability of converting to greyscale (no effect on grey images).
    pub grayscale_prob: f32,
    /// Gaussian blur.
    pub blur: Blur,
    /// Probability of solarization (`x >= 0.5` becomes `1 - x`).
    pub solarize_prob: f32,
    /// Additive Gaussian noise.
    pub noise: Noise,
}

/// Blur radius cap for a `size`-pixel view: a kernel about 10 % of the side (SimCLR: 23 at 224).
fn blur_radius(size: usize) -> usize {
    (size / 20).max(1)
}

/// Scales SimCLR's blur sigma range (0.1, 2.0) at 224 px to `size`.
fn blur_sigma(size: usize) -> (f32, f32) {
    let s = size as f32 / 224.0;
    (0.1 * s, 2.0 * s)
}

impl ViewRecipe {
    /// No randomness at all: the whole image resized to `size`.
    pub fn identity(size: usize) -> Self {
        ViewRecipe {
            size,
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            flip_prob: 0.0,
            rotation_degrees: 0.0,
            jitter: ColorJitter {
                prob: 0.0,
                brightness: 0.0,
                contrast: 0.0,
                saturation: 0.0,
                hue: 0.0,
            },
            grayscale_prob: 0.0,
            blur: Blur {
                prob: 0.0,
                sigma: (0.1, 1.0),
                max_radius: 1,
            },
            solarize_prob: 0.0,
            noise: Noise {
                prob: 0.0,
                std: (0.0, 0.0),
            },
        }
    }

    /// Digits (MNIST): crop scale (0.5, 1), rotation ±15°, brightness/contrast 0.4 with p = 0.8,
    /// blur sigma (0.1, 1) with p = 0.5, noise std (0.02, 0.1) with p = 0.5; no flip, no colour.
    pub fn digits(size: usize) -> Self {
        ViewRecipe {
            crop_scale: (0.5, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            rotation_degrees: 15.0,
            jitter: ColorJitter {
                prob: 0.8,
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.0,
                hue: 0.0,
            },
            blur: Blur {
                prob: 0.5,
                sigma: (0.1, 1.0),
                max_radius: blur_radius(size),
            },
            noise: Noise {
                prob: 0.5,
                std: (0.02, 0.1),
            },
            ..Self::identity(size)
        }
    }

    /// SimCLR: crop scale (0.08, 1), flip 0.5, jitter (0.4, 0.4, 0.4, 0.1) with p = 0.8,
    /// greyscale 0.2, blur p = 0.5 with sigma (0.1, 2.0)·size/224 — off below 64 px, as in
    /// SimCLR's CIFAR setup.
    pub fn simclr(size: usize) -> Self {
        ViewRecipe {
            crop_scale: (0.08, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_prob: 0.5,
            jitter: ColorJitter {
                prob: 0.8,
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
            },
            grayscale_prob: 0.2,
            blur: Blur {
                prob: if size >= 64 { 0.5 } else { 0.0 },
                sigma: blur_sigma(size),
                max_radius: blur_radius(size),
            },
            ..Self::identity(size)
        }
    }

    /// DINO/BYOL global view `which` (0 or 1): crop scale (0.4, 1) (DINO with local crops), flip
    /// 0.5, jitter (0.4, 0.4, 0.2, 0.1) p = 0.8, greyscale 0.2; view 0 always blurred, view 1
    /// blurred with p = 0.1 and solarized with p = 0.2.
    pub fn dino_global(size: usize, which: usize) -> Self {
        let first = which == 0;
        ViewRecipe {
            crop_scale: (0.4, 1.0),
            jitter: ColorJitter {
                saturation: 0.2,
                ..Self::simclr(size).jitter
            },
            blur: Blur {
                prob: if first { 1.0 } else { 0.1 },
                sigma: blur_sigma(size),
                max_radius: blur_radius(size),
            },
            solarize_prob: if first { 0.0 } else { 0.2 },
            ..Self::simclr(size)
        }
    }

    /// DINO local (small) view: crop scale (0.05, 0.4), blur p = 0.5, no solarization.
    pub fn dino_local(size: usize) -> Self {
        ViewRecipe {
            crop_scale: (0.05, 0.4),
            blur: Blur {
                prob: 0.5,
                ..Self::dino_global(size, 0).blur
            },
            ..Self::dino_global(size, 0)
        }
    }

    /// Checks every parameter's range.
    pub fn try_validate(&self) -> Result<()> {
        let prob = |field: &'static str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(Error::config(field, p, "must be a probability in [0, 1]"))
            }
        };
        let range = |field: &'static str, (a, b): (f32, f32), lo: f32, hi: f32| {
            if a.is_finite() && b.is_finite() && lo <= a && a <= b && b <= hi {
                Ok(())
            } else {
                Err(Error::config(
                    field,
                    format!("({a}, {b})"),
                    format!("must satisfy {lo} <= min <= max <= {hi}"),
                ))
            }
        };
        if self.size == 0 || self.size > 4096 {
            return Err(Error::config("view size", self.size, "must be in 1..=4096"));
        }
        range("crop_scale", self.crop_scale, 1e-4, 1.0)?;
        range("crop_ratio", self.crop_ratio, 1e-3, 1e3)?;
        prob("flip_prob", self.flip_prob)?;
        range("rotation_degrees", (0.0, self.rotation_degrees), 0.0, 180.0)?;
        let j = &self.jitter;
        prob("jitter.prob", j.prob)?;
        range("jitter.brightness", (0.0, j.brightness), 0.0, 1e3)?;
        range("jitter.contrast", (0.0, j.contrast), 0.0, 1e3)?;
        range("jitter.saturation", (0.0, j.saturation), 0.0, 1e3)?;
        range("jitter.hue", (0.0, j.hue), 0.0, 0.5)?;
        prob("grayscale_prob", self.grayscale_prob)?;
        prob("blur.prob", self.blur.prob)?;
        range("blur.sigma", self.blur.sigma, 1e-3, 1e3)?;
        prob("solarize_prob", self.solarize_prob)?;
        prob("noise.prob", self.noise.prob)?;
        range("noise.std", self.noise.std, 0.0, 10.0)
    }
}

/// The views of every sample: `views[..global_views]` are global crops, the rest small crops.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// One recipe per view, in output order.
    pub views: Vec<ViewRecipe>,
    /// How many leading views are global (positives for multi-crop losses come from these).
    pub global_views: usize,
}

impl Recipe {
    /// `views` identical digit views of side `size` (see [`ViewRecipe::digits`]).
    ///
    /// ```
    /// use trainer::augment::Recipe;
    /// let r = Recipe::digits(28, 2);
    /// assert_eq!((r.views.len(), r.global_views), (2, 2));
    /// r.try_validate().unwrap();
    /// ```
    pub fn digits(size: usize, views: usize) -> Self {
        Self::uniform(ViewRecipe::digits(size), views)
    }

    /// `views` identical SimCLR views of side `size`.
    pub fn simclr(size: usize, views: usize) -> Self {
        Self::uniform(ViewRecipe::simclr(size), views)
    }

    /// DINO: two asymmetric global views of side `global_size`, then `small` local views of side
    /// `small_size`.
    pub fn dino(global_size: usize, small: usize, small_size: usize) -> Self {
        let mut views = vec![
            ViewRecipe::dino_global(global_size, 0),
            ViewRecipe::dino_global(global_size, 1),
        ];
        views.extend(std::iter::repeat_n(
            ViewRecipe::dino_local(small_size),
            small,
        ));
        Recipe {
            views,
            global_views: 2,
        }
    }

    /// `views` copies of one view recipe, all global.
    pub fn uniform(view: ViewRecipe, views: usize) -> Self {
        Recipe {
            views: vec![view; views],
            global_views: views,
        }
    }

    /// Appends `n` small crops of side `size` and area fraction `scale`, otherwise like the first
    /// global view (blur sigma scaled to the smaller side).
    pub fn with_small_crops(mut self, n: usize, size: usize, scale: (f32, f32)) -> Self {
        if let Some(first) = self.views.first().copied() {
            let k = size as f32 / first.size as f32;
            let small = ViewRecipe {
                size,
                crop_scale: scale,
                blur: Blur {
                    sigma: (first.blur.sigma.0 * k, first.blur.sigma.1 * k),
                    max_radius: blur_radius(size),
                    ..first.blur
                },
                ..first
            };
            self.views.truncate(self.global_views);
            self.views.extend(std::iter::repeat_n(small, n));
        }
        self
    }

    /// Total views per sample.
    pub fn num_views(&self) -> usize {
        self.views.len()
    }

    /// Checks the view count (at least two global views) and every view's parameters.
    pub fn try_validate(&self) -> Result<()> {
        if self.global_views < 2 || self.global_views > self.views.len() {
            return Err(Error::config(
                "views",
                self.global_views,
                format!(
                    "need at least 2 global views among the {} views",
                    self.views.len()
                ),
            ));
        }
        let size = self.views[0].size;
        if let Some(v) = self.views[..self.global_views]
            .iter()
            .find(|v| v.size != size)
        {
            return Err(Error::config(
                "global view size",
                v.size,
                format!("all global views must share size {size}"),
            ));
        }
        self.views.iter().try_for_each(ViewRecipe::try_validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for r in [
            Recipe::digits(28, 2),
            Recipe::simclr(32, 2),
            Recipe::simclr(96, 4),
            Recipe::dino(64, 6, 32),
            Recipe::digits(28, 2).with_small_crops(4, 14, (0.2, 0.5)),
        ] {
            r.try_validate().unwrap();
        }
        assert_eq!(Recipe::dino(64, 6, 32).num_views(), 8);
    }

    #[test]
    fn invalid_values_are_named() {
        let e = Recipe::digits(28, 1).try_validate().unwrap_err();
        assert!(e.to_string().contains("invalid views = 1"), "{e}");
        let mut r = Recipe::digits(28, 2);
        r.views[1].flip_prob = 1.5;
        let e = r.try_validate().unwrap_err();
        assert!(e.to_string().contains("flip_prob = 1.5"), "{e}");
        r.views[1] = ViewRecipe {
            crop_scale: (0.9, 0.2),
            ..ViewRecipe::digits(28)
        };
        let e = r.try_validate().unwrap_err();
        assert!(e.to_string().contains("crop_scale = (0.9, 0.2)"), "{e}");
        r.views[1] = ViewRecipe::digits(20);
        assert!(r.try_validate().is_err());
    }
}
