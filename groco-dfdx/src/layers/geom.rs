//! Window geometry shared by convolution and pooling: output size
//! `OH = (H + 2P - K) / S + 1` (floor), and the input pixel a window tap reads,
//! `iy = oy * S + ki - P` (outside `0..H` reads padding). [`ConvGeom`] and [`PoolGeom`] are the
//! checked geometry of one convolution or pooling call.

use super::layout::Dims;
use crate::Error;

/// Square window, stride and zero padding of a convolution or pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// Kernel size `K` (the window is `K` x `K`).
    pub kernel: usize,
    /// Stride `S`.
    pub stride: usize,
    /// Padding `P` on every side.
    pub padding: usize,
}

impl Window {
    /// Checks the settings for `op` and returns the output rows and columns for an `h` x `w`
    /// input.
    pub fn try_output_size(
        &self,
        op: &'static str,
        h: usize,
        w: usize,
    ) -> Result<(usize, usize), Error> {
        if self.kernel == 0 {
            return Err(Error::config(op, "kernel", 0, "must be at least 1"));
        }
        if self.stride == 0 {
            return Err(Error::config(op, "stride", 0, "must be at least 1"));
        }
        for (name, size) in [("height", h), ("width", w)] {
            if size + 2 * self.padding < self.kernel {
                return Err(Error::shape(
                    op,
                    format!("{name} + 2*padding >= kernel {}", self.kernel),
                    format!("{name} {size} with padding {}", self.padding),
                ));
            }
        }
        Ok((
            (h + 2 * self.padding - self.kernel) / self.stride + 1,
            (w + 2 * self.padding - self.kernel) / self.stride + 1,
        ))
    }

    /// The input row (or column) read by tap `k` of output row `o`, or `None` in the padding.
    #[inline]
    pub fn source(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&i| i < size)
    }

    /// The output row (or column) whose tap `k` reads input row `i`, if any of the `out`
    /// output rows does: the inverse of [`Window::source`].
    #[inline]
    pub fn output(&self, i: usize, k: usize, out: usize) -> Option<usize> {
        (i + self.padding)
            .checked_sub(k)
            .filter(|t| t % self.stride == 0)
            .map(|t| t / self.stride)
            .filter(|&o| o < out)
    }

    /// The range of output rows whose tap `k` reads inside an input of `size` rows, for `out`
    /// output rows.
    #[inline]
    pub fn valid_outputs(&self, k: usize, size: usize, out: usize) -> std::ops::Range<usize> {
        // o*s + k >= p  and  o*s + k - p < size
        let lo = if k >= self.padding {
            0
        } else {
            (self.padding - k).div_ceil(self.stride)
        };
        let hi = if size + self.padding <= k {
            0
        } else {
            (size + self.padding - k).div_ceil(self.stride)
        };
        lo.min(out)..hi.min(out).max(lo.min(out))
    }
}

/// The full geometry of one convolution call: input sizes, output channels, window and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input sizes.
    pub input: Dims,
    /// Output channels.
    pub out_channels: usize,
    /// Window.
    pub window: Window,
    /// Groups: input and output channels are split into this many independent blocks.
    pub groups: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
}

impl ConvGeom {
    /// Checks a convolution of `input` to `out_channels` channels.
    pub fn try_new(
        input: Dims,
        out_channels: usize,
        window: Window,
        groups: usize,
    ) -> Result<Self, Error> {
        const OP: &str = "conv2d";
        if groups == 0 {
            return Err(Error::config(OP, "groups", 0, "must be at least 1"));
        }
        if !input.c.is_multiple_of(groups) {
            return Err(Error::config(
                OP,
                "input channels",
                input.c,
                "must be divisible by groups",
            ));
        }
        if !out_channels.is_multiple_of(groups) {
            return Err(Error::config(
                OP,
                "output channels",
                out_channels,
                "must be divisible by groups",
            ));
        }
        let (oh, ow) = window.try_output_size(OP, input.h, input.w)?;
        Ok(ConvGeom {
            input,
            out_channels,
            window,
            groups,
            oh,
            ow,
        })
    }

    /// Kernel taps per channel, `K * K`.
    pub fn taps(&self) -> usize {
        self.window.kernel * self.window.kernel
    }

    /// Rows of one group's im2col block: input channels per group times taps.
    pub fn group_rows(&self) -> usize {
        self.input.c / self.groups * self.taps()
    }

    /// Columns of the im2col matrix: output pixels times batch.
    pub fn cols(&self) -> usize {
        self.oh * self.ow * self.input.b
    }

    /// Elements of the weight, `O * C/G * K * K`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.group_rows()
    }

    /// Output sizes.
    pub fn output(&self) -> Dims {
        Dims {
            c: self.out_channels,
            h: self.oh,
            w: self.ow,
            b: self.input.b,
        }
    }
}

/// Which reduction a pooling layer applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the window, padding counted as zeros.
    Avg,
}

/// A checked pooling call: input sizes, window, kind and output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Input sizes.
    pub input: Dims,
    /// Window.
    pub window: Window,
    /// Reduction.
    pub kind: PoolKind,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
}

impl PoolGeom {
    /// Checks pooling `input` with `window`.
    pub fn try_new(input: Dims, window: Window, kind: PoolKind) -> Result<Self, Error> {
        const OP: &str = "pool2d";
        if 2 * window.padding > window.kernel {
            return Err(Error::config(
                OP,
                "padding",
                window.padding,
                "must be at most half the kernel size",
            ));
        }
        if input.h * input.w * input.b > u32::MAX as usize {
            return Err(Error::shape(
                OP,
                "at most 2^32 values per channel",
                format!("{:?}", input),
            ));
        }
        let (oh, ow) = window.try_output_size(OP, input.h, input.w)?;
        Ok(PoolGeom {
            input,
            window,
            kind,
            oh,
            ow,
        })
    }

    /// Output sizes.
    pub fn output(&self) -> Dims {
        Dims {
            h: self.oh,
            w: self.ow,
            ..self.input
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_matches_formula_and_valid_ranges_match_source() {
        for (h, k, s, p) in [
            (28, 3, 1, 1),
            (28, 3, 2, 1),
            (7, 3, 2, 1),
            (5, 2, 2, 0),
            (6, 3, 2, 0),
            (4, 1, 2, 0),
            (3, 3, 1, 1),
        ] {
            let win = Window {
                kernel: k,
                stride: s,
                padding: p,
            };
            let (oh, _) = win.try_output_size("t", h, h).unwrap();
            assert_eq!(oh, (h + 2 * p - k) / s + 1);
            for ki in 0..k {
                let r = win.valid_outputs(ki, h, oh);
                for o in 0..oh {
                    assert_eq!(
                        win.source(o, ki, h).is_some(),
                        r.contains(&o),
                        "h{h} k{k} s{s} p{p} ki{ki} o{o}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        let d = Dims {
            c: 3,
            h: 4,
            w: 4,
            b: 1,
        };
        let w = Window {
            kernel: 3,
            stride: 1,
            padding: 0,
        };
        assert!(ConvGeom::try_new(d, 4, w, 2)
            .unwrap_err()
            .to_string()
            .contains("input channels = 3"));
        assert!(ConvGeom::try_new(d, 4, Window { stride: 0, ..w }, 1).is_err());
        assert!(ConvGeom::try_new(Dims { h: 1, ..d }, 4, w, 1).is_err());
        assert!(ConvGeom::try_new(d, 4, w, 0).is_err());
    }
}
