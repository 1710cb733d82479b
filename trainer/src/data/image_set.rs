//! [`ImageSet`]: equally sized `u8` images in CHW layout with their labels, and the conversions
//! and crops the loaders and the augmentation read them through.

use crate::error::{Error, Result};

use super::resize::{CropRect, Resampler};

/// The label of an image that has none (the STL-10 unlabeled split).
pub const UNLABELED: u16 = u16::MAX;

/// A set of equally sized `u8` images, each stored as `channels × height × width` (CHW), with labels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pixels: Vec<u8>,
    labels: Vec<u16>,
    channels: usize,
    height: usize,
    width: usize,
    num_classes: usize,
    class_names: Vec<String>,
}

impl ImageSet {
    /// Builds a set from `labels.len()` images packed in `pixels`.
    ///
    /// Every label must be below `num_classes` or equal to [`UNLABELED`]; `channels` must be 1 or 3.
    ///
    /// ```
    /// use trainer::data::ImageSet;
    /// let set = ImageSet::try_new(vec![0, 255, 7, 9], vec![1, 0], 1, 1, 2, 2).unwrap();
    /// assert_eq!(set.image(1), &[7, 9]);
    /// assert!(ImageSet::try_new(vec![0; 3], vec![0], 1, 1, 2, 2).is_err());
    /// ```
    pub fn try_new(
        pixels: Vec<u8>,
        labels: Vec<u16>,
        channels: usize,
        height: usize,
        width: usize,
        num_classes: usize,
    ) -> Result<Self> {
        if channels != 1 && channels != 3 {
            return Err(Error::config("channels", channels, "must be 1 or 3"));
        }
        if height == 0 || width == 0 {
            return Err(Error::config(
                "image size",
                format!("{height}x{width}"),
                "must be non-empty",
            ));
        }
        let expected = labels.len() * channels * height * width;
        if pixels.len() != expected {
            return Err(Error::ShapeMismatch {
                what: "image set pixel buffer",
                expected: format!("{expected} bytes ({} images)", labels.len()),
                found: format!("{} bytes", pixels.len()),
            });
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| l != UNLABELED && usize::from(l) >= num_classes)
        {
            return Err(Error::config(
                "label",
                l,
                format!("item {i}: must be below num_classes = {num_classes}"),
            ));
        }
        Ok(ImageSet {
            pixels,
            labels,
            channels,
            height,
            width,
            num_classes,
            class_names: Vec::new(),
        })
    }

    /// Attaches class names (one per class).
    pub fn try_with_class_names(mut self, names: Vec<String>) -> Result<Self> {
        if names.len() != self.num_classes {
            return Err(Error::ShapeMismatch {
                what: "class names",
                expected: self.num_classes.to_string(),
                found: names.len().to_string(),
            });
        }
        self.class_names = names;
        Ok(self)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Channels per image (1 or 3).
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Bytes per image: `channels × height × width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
    /// Number of classes (0 for an unlabeled set).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    /// Class names, if the format provides them (empty otherwise).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }
    /// All labels; [`UNLABELED`] marks images without one.
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }
    /// All pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
    /// The CHW pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Writes image `i` as `f32` CHW in `[0, 1]` into `out` (length [`ImageSet::image_len`]).
    pub fn write_f32(&self, i: usize, out: &mut [f32]) {
        for (o, &p) in out.iter_mut().zip(self.image(i)) {
            *o = f32::from(p) * (1.0 / 255.0);
        }
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            ..*self
        }
    }

    /// All images of `sets` in order (e.g. STL-10 train + unlabeled for pretraining).
    pub fn try_concat(sets: &[&ImageSet]) -> Result<ImageSet> {
        let Some(first) = sets.first() else {
            return Err(Error::config("sets", 0, "need at least one set"));
        };
        let shape = |s: &ImageSet| (s.channels, s.height, s.width);
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        let mut num_classes = 0;
        for s in sets {
            if shape(s) != shape(first) {
                return Err(Error::ShapeMismatch {
                    what: "concatenated image sets",
                    expected: format!("{:?}", shape(first)),
                    found: format!("{:?}", shape(s)),
                });
            }
            pixels.extend_from_slice(&s.pixels);
            labels.extend_from_slice(&s.labels);
            num_classes = num_classes.max(s.num_classes);
        }
        let names = sets
            .iter()
            .find(|s| s.num_classes == num_classes)
            .map(|s| s.class_names.clone())
            .unwrap_or_default();
        Ok(ImageSet {
            pixels,
            labels,
            num_classes,
            class_names: names,
            ..**first
        })
    }

    /// Every image resized to `height × width` (antialiased bilinear, see [`super::resize`]).
    pub fn resized(&self, height: usize, width: usize) -> ImageSet {
        if (height, width) == (self.height, self.width) {
            return self.clone();
        }
        let c = self.channels;
        let mut r = Resampler::new();
        let mut buf = vec![0.0f32; c * height * width];
        let mut pixels = Vec::with_capacity(self.len() * buf.len());
        let rect = CropRect::full(self.height, self.width);
        for i in 0..self.len() {
            r.resample(
                self.image(i),
                c,
                self.height,
                self.width,
                rect,
                false,
                &mut buf,
                height,
                width,
            );
            pixels.extend(buf.iter().map(|&v| (v * 255.0).round() as u8));
        }
        ImageSet {
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            height,
            width,
            ..*self
        }
    }

    /// The set with `channels` channels: grey is replicated to RGB; RGB becomes grey as
    /// `0.299 R + 0.587 G + 0.114 B` (ITU-R 601).
    pub fn try_with_channels(&self, channels: usize) -> Result<ImageSet> {
        let hw = self.height * self.width;
        let pixels = match (self.channels, channels) {
            (a, b) if a == b => return Ok(self.clone()),
            (1, 3) => {
                let mut p = Vec::with_capacity(self.pixels.len() * 3);
                for img in self.pixels.chunks_exact(hw) {
                    for _ in 0..3 {
                        p.extend_from_slice(img);
                    }
                }
                p
            }
            (3, 1) => {
                let mut p = Vec::with_capacity(self.pixels.len() / 3);
                for img in self.pixels.chunks_exact(3 * hw) {
                    let (r, gb) = img.split_at(hw);
                    let (g, b) = gb.split_at(hw);
                    p.extend((0..hw).map(|k| {
                        let y = 0.299 * f32::from(r[k])
                            + 0.587 * f32::from(g[k])
                            + 0.114 * f32::from(b[k]);
                        y.round().min(255.0) as u8
                    }));
                }
                p
            }
            _ => return Err(Error::config("channels", channels, "must be 1 or 3")),
        };
        Ok(ImageSet {
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            channels,
            ..*self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageSet {
        // Two 3×1×2 images.
        ImageSet::try_new(
            vec![10, 20, 30, 40, 50, 60, 1, 2, 3, 4, 5, 6],
            vec![0, 1],
            3,
            1,
            2,
            2,
        )
        .unwrap()
    }

    #[test]
    fn subset_and_concat() {
        let s = tiny();
        let sub = s.subset(&[1, 0, 1]);
        assert_eq!(sub.labels(), &[1, 0, 1]);
        assert_eq!(sub.image(0), s.image(1));
        let both = ImageSet::try_concat(&[&s, &sub]).unwrap();
        assert_eq!(both.len(), 5);
        assert_eq!(both.image(4), s.image(1));
        let grey = s.try_with_channels(1).unwrap();
        assert!(ImageSet::try_concat(&[&s, &grey]).is_err());
    }

    #[test]
    fn channel_conversion() {
        let s = tiny();
        let g = s.try_with_channels(1).unwrap();
        // 0.299*10 + 0.587*30 + 0.114*50 = 26.3 and 0.299*20 + 0.587*40 + 0.114*60 = 36.3
        assert_eq!(g.image(0), &[26, 36]);
        let rgb = g.try_with_channels(3).unwrap();
        assert_eq!(rgb.image(0), &[26, 36, 26, 36, 26, 36]);
    }

    #[test]
    fn bad_labels_and_shapes_rejected() {
        let e = ImageSet::try_new(vec![0; 2], vec![5], 1, 1, 2, 5).unwrap_err();
        assert!(e.to_string().contains("label = 5"), "{e}");
        assert!(ImageSet::try_new(vec![0; 2], vec![UNLABELED], 1, 1, 2, 5).is_ok());
        assert!(ImageSet::try_new(vec![0; 4], vec![0], 2, 1, 2, 5).is_err());
        assert!(tiny().try_with_class_names(vec!["a".into()]).is_err());
    }

    #[test]
    fn resize_identity_and_f32() {
        let s = tiny();
        assert_eq!(s.resized(1, 2), s);
        let up = s.resized(2, 4);
        assert_eq!((up.height(), up.width(), up.len()), (2, 4, 2));
        let mut f = vec![0.0; 6];
        s.write_f32(1, &mut f);
        assert!((f[5] - 6.0 / 255.0).abs() < 1e-7);
    }
}
