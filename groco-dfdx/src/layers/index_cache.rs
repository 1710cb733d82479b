//! Constant index tensors of the composed layers (the gather tables of convolution and pooling),
//! built on the host once per shape and device type, uploaded once and kept on the device.
//!
//! A table depends only on the channel count, the input size, the window and the output size,
//! never on the batch, so a training run builds each of its few tables at its first step and
//! reuses them from then on (see [`crate::constants`]).

use dfdx::prelude::*;

use super::geom::Window;
use super::layout::Dims;
use crate::constants::cached;
use crate::Error;

/// What a gather table depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GatherKey {
    /// Channels, rows and columns of the input (the batch does not matter).
    pub input: (usize, usize, usize),
    /// The window.
    pub window: Window,
    /// Output rows and columns.
    pub out: (usize, usize),
}

/// A `(C, K*K*OH*OW)` gather table.
pub(crate) type GatherTable<D> = Tensor<(usize, usize), usize, D>;

/// The gather table of `key` on `dev`'s device type, built and uploaded at its first use.
pub(crate) fn cached_gather_table<E: Dtype, D>(
    dev: &D,
    key: GatherKey,
) -> Result<GatherTable<D>, Error>
where
    D: Device<E> + ZerosTensor<usize> + CopySlice<usize> + 'static,
{
    let k = key.window.kernel;
    let (c, h, w) = key.input;
    let (oh, ow) = key.out;
    let w_ = key.window;
    let sizes = [c, h, w, k, w_.stride, w_.padding, oh, ow];
    cached(dev, "gather table", &sizes, (c, k * k * oh * ow), || {
        gather_table(key)
    })
}

/// The table for `gather` on the `(C, H*W + 1, B)` input: row c lists, tap-major, the input
/// pixel of every window tap of every output pixel; padding taps read the appended pixel `H*W`.
pub(crate) fn gather_table(key: GatherKey) -> Vec<usize> {
    let (c, h, w) = key.input;
    let (oh, ow) = key.out;
    let (k, win) = (key.window.kernel, key.window);
    let pad_pixel = h * w;
    let mut row = Vec::with_capacity(k * k * oh * ow);
    for ki in 0..k {
        for kj in 0..k {
            for oy in 0..oh {
                for ox in 0..ow {
                    row.push(match (win.source(oy, ki, h), win.source(ox, kj, w)) {
                        (Some(iy), Some(ix)) => iy * w + ix,
                        _ => pad_pixel,
                    });
                }
            }
        }
    }
    let mut table = Vec::with_capacity(c * row.len());
    for _ in 0..c {
        table.extend_from_slice(&row);
    }
    table
}

/// The key of the table for input `d`, window `win` and output `oh` x `ow`.
pub(crate) fn key(d: Dims, win: Window, oh: usize, ow: usize) -> GatherKey {
    GatherKey {
        input: (d.c, d.h, d.w),
        window: win,
        out: (oh, ow),
    }
}
