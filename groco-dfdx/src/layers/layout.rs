//! The activation layout `(C, H, W, B)` and conversions from and to NCHW image batches.
//!
//! An [`Activation`] is a contiguous 4-axis tensor with axes channel, row, column, batch: element
//! `(c, y, x, b)` lives at `((c * H + y) * W + x) * B + b`. PyTorch's NCHW element `(b, c, y, x)`
//! is the same number.

use dfdx::prelude::*;

use crate::host::{LayerFloat, Scratch};
use crate::Error;

/// A batch of feature maps in the `(C, H, W, B)` layout (see the module docs).
pub type Activation<E, D, T = NoneTape> = Tensor<(usize, usize, usize, usize), E, D, T>;

/// The four sizes of an [`Activation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Channels.
    pub c: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Batch size.
    pub b: usize,
}

impl Dims {
    /// The sizes of `x`.
    pub fn of<E: Dtype, D: Storage<E>, T>(x: &Activation<E, D, T>) -> Self {
        let (c, h, w, b) = *x.shape();
        Dims { c, h, w, b }
    }

    /// As a dfdx shape.
    pub fn shape(&self) -> (usize, usize, usize, usize) {
        (self.c, self.h, self.w, self.b)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w * self.b
    }

    /// Whether any axis is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sizes of `x`, or an error if an axis is empty.
pub(crate) fn try_dims<E: Dtype, D: Storage<E>, T>(
    op: &'static str,
    x: &Activation<E, D, T>,
) -> Result<Dims, Error> {
    let d = Dims::of(x);
    if d.is_empty() {
        return Err(Error::shape(
            op,
            "a non-empty (C, H, W, B) activation",
            format!("{:?}", d.shape()),
        ));
    }
    Ok(d)
}

/// Writes the transpose of the row-major matrix `src` (`b` rows of `src.len() / b`) into `dst`.
/// With `b` images of NCHW data this gives the `(C, H, W, B)` layout. `dst` must hold
/// `src.len()` elements.
pub fn transpose_into<E: Copy>(src: &[E], dst: &mut [E], b: usize) {
    assert_eq!(src.len(), dst.len());
    let f = src.len().checked_div(b).unwrap_or(0);
    // dst is the (F, B) transpose of src (B, F); blocks keep both sides in cache.
    const BLK: usize = 32;
    for f0 in (0..f).step_by(BLK) {
        for b0 in (0..b).step_by(BLK) {
            for fi in f0..(f0 + BLK).min(f) {
                for bi in b0..(b0 + BLK).min(b) {
                    dst[fi * b + bi] = src[bi * f + fi];
                }
            }
        }
    }
}

/// Creates an [`Activation`] from a flat NCHW batch of `b` images with `c` channels of `h` x `w`
/// pixels. The tensor is made with `zeros_like` + `copy_from`, never `tensor_from_vec`, so calling
/// this every step does not grow dfdx's allocation cache (see the crate docs).
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{activation_to_images, images_to_activation};
/// let dev = Cpu::default();
/// let images: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| i as f32).collect();
/// let x = images_to_activation(&dev, &images, 2, 3, 4, 5).unwrap();
/// assert_eq!(*x.shape(), (3, 4, 5, 2));
/// assert_eq!(activation_to_images(&x), images);
/// ```
pub fn images_to_activation<E: LayerFloat, D: Device<E>>(
    dev: &D,
    images: &[E],
    b: usize,
    c: usize,
    h: usize,
    w: usize,
) -> Result<Activation<E, D>, Error> {
    let dims = Dims { c, h, w, b };
    if images.len() != dims.len() {
        return Err(Error::shape(
            "images_to_activation",
            format!("{b}*{c}*{h}*{w} = {} values", dims.len()),
            format!("{} values", images.len()),
        ));
    }
    let mut buf = Scratch::take(images.len());
    transpose_into(images, &mut buf, b);
    crate::transfer::upload(dev, dims.shape(), &buf, "image batch")
}

/// The values of an [`Activation`] as a flat NCHW batch (the inverse of
/// [`images_to_activation`]).
pub fn activation_to_images<E: Dtype, D: Storage<E> + CopySlice<E>, T>(
    x: &Activation<E, D, T>,
) -> Vec<E> {
    let d = Dims::of(x);
    let chwb = crate::transfer::download_vec(x, "activation");
    let f = d.c * d.h * d.w;
    let mut out = vec![E::default(); chwb.len()];
    for fi in 0..f {
        for bi in 0..d.b {
            out[bi * f + fi] = chwb[fi * d.b + bi];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_round_trip_and_index_rule() {
        let dev = Cpu::default();
        let (b, c, h, w) = (3, 2, 4, 5);
        let img: Vec<f64> = (0..b * c * h * w).map(|i| i as f64 * 0.5).collect();
        let x = images_to_activation(&dev, &img, b, c, h, w).unwrap();
        let v = x.as_vec();
        for bi in 0..b {
            for ci in 0..c {
                for y in 0..h {
                    for xx in 0..w {
                        let nchw = ((bi * c + ci) * h + y) * w + xx;
                        let chwb = ((ci * h + y) * w + xx) * b + bi;
                        assert_eq!(v[chwb], img[nchw]);
                    }
                }
            }
        }
        assert_eq!(activation_to_images(&x), img);
    }

    #[test]
    fn wrong_length_is_an_error() {
        let dev = Cpu::default();
        let err = images_to_activation(&dev, &[0.0f32; 5], 1, 1, 2, 3).unwrap_err();
        assert!(err.to_string().contains("6 values"), "{err}");
    }
}
