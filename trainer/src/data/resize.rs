//! Image resampling: separable bilinear (triangle-filter) resize of a crop rectangle, widened when
//! downscaling so it antialiases like PIL's `BILINEAR`, and an affine bilinear sampler for rotations.
//!
//! Coordinates are continuous: source pixel `j` covers `[j, j + 1)`, so output pixel `i` of a crop
//! `[x0, x0 + e)` resized to `n` samples sits at `x0 + (i + 0.5) e / n`. The triangle filter has
//! radius `max(e / n, 1)` source pixels; taps past the border clamp to the edge pixel.

/// A rectangle in continuous source-pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropRect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width (> 0).
    pub width: f32,
    /// Height (> 0).
    pub height: f32,
}

impl CropRect {
    /// The whole `height × width` image.
    pub fn full(height: usize, width: usize) -> Self {
        CropRect {
            x: 0.0,
            y: 0.0,
            width: width as f32,
            height: height as f32,
        }
    }
}

/// Per-axis filter taps: `taps` source indices and weights per output sample.
#[derive(Debug, Default, Clone)]
struct AxisWeights {
    taps: usize,
    index: Vec<u32>,
    weight: Vec<f32>,
}

impl AxisWeights {
    fn build(&mut self, src_len: usize, start: f32, extent: f32, out_len: usize, flip: bool) {
        let scale = extent / out_len as f32;
        let support = scale.max(1.0);
        self.taps = (2.0 * support).ceil() as usize + 1;
        self.index.clear();
        self.weight.clear();
        let last = src_len as i64 - 1;
        for o in 0..out_len {
            let i = if flip { out_len - 1 - o } else { o };
            let center = start + (i as f32 + 0.5) * scale;
            let first = (center - support - 0.5).floor() as i64;
            let mut total = 0.0f32;
            let base = self.weight.len();
            for t in 0..self.taps {
                let j = first + t as i64;
                let d = ((j as f32 + 0.5 - center) / support).abs();
                let w = (1.0 - d).max(0.0);
                total += w;
                self.index.push(j.clamp(0, last) as u32);
                self.weight.push(w);
            }
            if total > 0.0 {
                for w in &mut self.weight[base..] {
                    *w /= total;
                }
            } else {
                // Degenerate (zero-area) crop: take the nearest pixel.
                self.weight[base] = 1.0;
            }
        }
    }
}

/// Reusable scratch for resampling; it allocates only while its buffers grow.
#[derive(Debug, Default, Clone)]
pub struct Resampler {
    xw: AxisWeights,
    yw: AxisWeights,
    tmp: Vec<f32>,
}

impl Resampler {
    /// An empty resampler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resamples `rect` of the `u8` CHW image `src` (`channels × height × width`) into `out`
    /// (`f32` CHW, `channels × out_h × out_w`, values in `[0, 1]`), mirrored left-right if `flip`.
    ///
    /// ```
    /// use trainer::data::resize::{CropRect, Resampler};
    /// let src = [0u8, 255, 255, 0]; // 1×2×2
    /// let mut out = [0f32; 1];
    /// Resampler::new().resample(&src, 1, 2, 2, CropRect::full(2, 2), false, &mut out, 1, 1);
    /// assert!((out[0] - 0.5).abs() < 1e-6);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn resample(
        &mut self,
        src: &[u8],
        channels: usize,
        height: usize,
        width: usize,
        rect: CropRect,
        flip: bool,
        out: &mut [f32],
        out_h: usize,
        out_w: usize,
    ) {
        assert_eq!(src.len(), channels * height * width, "source size");
        assert_eq!(out.len(), channels * out_h * out_w, "output size");
        self.xw.build(width, rect.x, rect.width, out_w, flip);
        self.yw.build(height, rect.y, rect.height, out_h, false);
        let row_lo = *self.yw.index.iter().min().unwrap_or(&0) as usize;
        let row_hi = *self.yw.index.iter().max().unwrap_or(&0) as usize;
        let rows = row_hi + 1 - row_lo;
        self.tmp.resize(rows * out_w, 0.0);
        let (xt, yt) = (self.xw.taps, self.yw.taps);
        for c in 0..channels {
            let plane = &src[c * height * width..(c + 1) * height * width];
            for r in 0..rows {
                let srow = &plane[(row_lo + r) * width..(row_lo + r + 1) * width];
                let trow = &mut self.tmp[r * out_w..(r + 1) * out_w];
                for (ox, t) in trow.iter_mut().enumerate() {
                    let idx = &self.xw.index[ox * xt..(ox + 1) * xt];
                    let wts = &self.xw.weight[ox * xt..(ox + 1) * xt];
                    let mut acc = 0.0f32;
                    for (&j, &w) in idx.iter().zip(wts) {
                        acc += w * f32::from(srow[j as usize]);
                    }
                    *t = acc * (1.0 / 255.0);
                }
            }
            let oplane = &mut out[c * out_h * out_w..(c + 1) * out_h * out_w];
            for oy in 0..out_h {
                let orow = &mut oplane[oy * out_w..(oy + 1) * out_w];
                orow.fill(0.0);
                let idx = &self.yw.index[oy * yt..(oy + 1) * yt];
                let wts = &self.yw.weight[oy * yt..(oy + 1) * yt];
                for (&j, &w) in idx.iter().zip(wts) {
                    if w == 0.0 {
                        continue;
                    }
                    let r = j as usize - row_lo;
                    let trow = &self.tmp[r * out_w..(r + 1) * out_w];
                    for (o, &t) in orow.iter_mut().zip(trow) {
                        *o += w * t;
                    }
                }
                for o in orow.iter_mut() {
                    *o = o.clamp(0.0, 1.0);
                }
            }
        }
    }
}

/// Samples the `u8` CHW image `src` through the affine map `m` into `out` (`f32` CHW in `[0, 1]`).
///
/// Output pixel centre `(u, v) = (ox + 0.5, oy + 0.5)` reads the source at
/// `x = m[0] u + m[1] v + m[2]`, `y = m[3] u + m[4] v + m[5]` (continuous coordinates) with bilinear
/// interpolation. Points within half a pixel of the image clamp to the edge; points farther out read
/// `fill`.
#[allow(clippy::too_many_arguments)]
pub fn sample_affine(
    src: &[u8],
    channels: usize,
    height: usize,
    width: usize,
    m: [f32; 6],
    fill: f32,
    out: &mut [f32],
    out_h: usize,
    out_w: usize,
) {
    assert_eq!(src.len(), channels * height * width, "source size");
    assert_eq!(out.len(), channels * out_h * out_w, "output size");
    let (wf, hf) = (width as f32, height as f32);
    let (plane_in, plane_out) = (height * width, out_h * out_w);
    for oy in 0..out_h {
        let v = oy as f32 + 0.5;
        let (xr, yr) = (m[1] * v + m[2], m[4] * v + m[5]);
        for ox in 0..out_w {
            let u = ox as f32 + 0.5;
            let (x, y) = (m[0] * u + xr, m[3] * u + yr);
            let o = oy * out_w + ox;
            if !(0.0..=wf).contains(&x) || !(0.0..=hf).contains(&y) {
                for c in 0..channels {
                    out[c * plane_out + o] = fill;
                }
                continue;
            }
            // Pixel-centre coordinates, clamped to the outermost centres.
            let xc = (x - 0.5).clamp(0.0, wf - 1.0);
            let yc = (y - 0.5).clamp(0.0, hf - 1.0);
            let (x0, y0) = (xc as usize, yc as usize);
            let dx = usize::from(x0 + 1 < width);
            let dy = if y0 + 1 < height { width } else { 0 };
            let (fx, fy) = (xc - x0 as f32, yc - y0 as f32);
            let k = 1.0 / 255.0;
            let (w00, w01) = ((1.0 - fx) * (1.0 - fy) * k, fx * (1.0 - fy) * k);
            let (w10, w11) = ((1.0 - fx) * fy * k, fx * fy * k);
            let i00 = y0 * width + x0;
            for c in 0..channels {
                let p = &src[c * plane_in + i00..];
                let val = w00 * f32::from(p[0])
                    + w01 * f32::from(p[dx])
                    + w10 * f32::from(p[dy])
                    + w11 * f32::from(p[dy + dx]);
                out[c * plane_out + o] = val.min(1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_resize_reproduces_pixels() {
        let src: Vec<u8> = (0..2 * 5 * 7).map(|i| (i * 3) as u8).collect();
        let mut out = vec![0.0; src.len()];
        Resampler::new().resample(&src, 2, 5, 7, CropRect::full(5, 7), false, &mut out, 5, 7);
        for (o, s) in out.iter().zip(&src) {
            assert!((o - f32::from(*s) / 255.0).abs() < 1e-6);
        }
    }

    #[test]
    fn flip_mirrors_rows() {
        let src: Vec<u8> = (0..12).map(|i| i * 20).collect(); // 1×3×4
        let mut a = vec![0.0; 12];
        let mut b = vec![0.0; 12];
        let mut r = Resampler::new();
        r.resample(&src, 1, 3, 4, CropRect::full(3, 4), false, &mut a, 3, 4);
        r.resample(&src, 1, 3, 4, CropRect::full(3, 4), true, &mut b, 3, 4);
        for y in 0..3 {
            for x in 0..4 {
                assert_eq!(a[y * 4 + x], b[y * 4 + 3 - x]);
            }
        }
    }

    #[test]
    fn downscale_by_two_averages_blocks() {
        // Every 2×2 block is constant, so halving must return the block values exactly.
        let mut src = vec![0u8; 16];
        for y in 0..4 {
            for x in 0..4 {
                src[y * 4 + x] = (40 * (y / 2 * 2 + x / 2) + 10) as u8;
            }
        }
        let mut out = vec![0.0; 4];
        Resampler::new().resample(&src, 1, 4, 4, CropRect::full(4, 4), false, &mut out, 2, 2);
        // Radius-2 triangle taps at source offsets -1.5..1.5 from the centre, edge-clamped and
        // normalised: weights 7/8 on the own block and 1/8 on the neighbour, per axis. Block values
        // are 10 (top-left), 50 (top-right), 90 (bottom-left), 130 (bottom-right), so out[0] =
        // 10 + 40/8 + 80/8 = 25, out[1] = 10 + 35 + 10 = 55, out[2] = 10 + 5 + 70 = 85, out[3] = 115.
        for (o, want) in out.iter().zip([25.0f32, 55.0, 85.0, 115.0]) {
            assert!((o * 255.0 - want).abs() < 1e-3, "{o} vs {want}");
        }
    }

    #[test]
    fn affine_identity_and_fill() {
        let src: Vec<u8> = (0..9).map(|i| i * 25).collect(); // 1×3×3
        let mut out = vec![0.0; 9];
        sample_affine(
            &src,
            1,
            3,
            3,
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            0.0,
            &mut out,
            3,
            3,
        );
        for (o, s) in out.iter().zip(&src) {
            assert!((o - f32::from(*s) / 255.0).abs() < 1e-6);
        }
        // Shift by 10 pixels: everything lands outside and reads the fill value.
        sample_affine(
            &src,
            1,
            3,
            3,
            [1.0, 0.0, 10.0, 0.0, 1.0, 0.0],
            0.25,
            &mut out,
            3,
            3,
        );
        assert!(out.iter().all(|&v| v == 0.25));
    }
}
