//! [`Transposer`]: groco-core's [`Transpose`] (the 16×16 block transpose that moves P rows
//! between lanes and memory) built from the shuffles of the ISA a [`Dispatch`] runs, for f32;
//! other floats, and the portable path, take [`ScalarTranspose`].
//!
//! AVX-512: unpack and in-lane shuffles gather each column's 4-element pieces in every 128-bit
//! lane, two 128-bit lane shuffles put them in place (64 shuffles a block). AVX2: the same on
//! the four 8×8 quarters (96). Both write exactly `dst[i][k] = src[k][i]`.

use std::any::Any;

use groco_core::{ScalarTranspose, Transpose, LANES};

use crate::{Dispatch, Isa};

/// A block of 16×16 f32, the one the shuffle transposes take.
#[cfg_attr(
    not(any(target_arch = "x86", target_arch = "x86_64")),
    allow(dead_code)
)]
pub(crate) type Block = [[f32; LANES]; LANES];

/// The [`Transpose`] for a [`Dispatch`]'s ISA (see the module docs); [`Dispatch::transposer`]
/// makes one.
///
/// ```
/// use groco_core::{ScalarTranspose, Transpose, LANES};
/// use groco_dispatch::Dispatch;
/// let src: [[f32; LANES]; LANES] = core::array::from_fn(|k| core::array::from_fn(|i| (k * 16 + i) as f32));
/// let (mut a, mut b) = ([[0.0; LANES]; LANES], [[0.0; LANES]; LANES]);
/// Dispatch::detect().transposer().transpose(&src, &mut a);
/// ScalarTranspose.transpose(&src, &mut b);
/// assert_eq!(a, b);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transposer(Isa);

impl Dispatch {
    /// The [`Transposer`] for this ISA: what code run by [`Dispatch::run`] passes to the
    /// core's `*_inlined` entry points.
    pub fn transposer(self) -> Transposer {
        Transposer(self.isa())
    }
}

impl<F: Copy + 'static> Transpose<F> for Transposer {
    #[inline(always)]
    fn transpose(self, src: &[[F; LANES]; LANES], dst: &mut [[F; LANES]; LANES]) {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if self.0 != Isa::Portable {
            let src32 = (src as &dyn Any).downcast_ref::<Block>();
            if let (Some(s), Some(d)) = (src32, (dst as &mut dyn Any).downcast_mut::<Block>()) {
                return crate::x86::transpose(self.0, s, d);
            }
        }
        ScalarTranspose.transpose(src, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every supported ISA's transposer writes exactly the scalar transpose, bit for bit (signed
    /// zeros and NaN payloads included), for f32 (shuffles) and f64 (the scalar fallback).
    #[test]
    fn every_path_transposes_exactly() {
        let bits = |k: usize, i: usize| {
            (k as u32).wrapping_mul(0x9E37_79B9) ^ (i as u32).wrapping_mul(0x85EB_CA6B)
        };
        let mut src: Block =
            core::array::from_fn(|k| core::array::from_fn(|i| f32::from_bits(bits(k, i))));
        (src[3][7], src[15][0]) = (-0.0, f32::from_bits(0x7FC0_1234));
        let src64: [[f64; LANES]; LANES] =
            core::array::from_fn(|k| core::array::from_fn(|i| (k * 16 + i) as f64 - 0.5));
        for isa in Isa::supported() {
            let tr = Dispatch::try_new(isa).unwrap().transposer();
            let (mut got, mut want) = ([[f32::NAN; LANES]; LANES], [[0.0; LANES]; LANES]);
            tr.transpose(&src, &mut got);
            ScalarTranspose.transpose(&src, &mut want);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                for (k, (g, w)) in g.iter().zip(w).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "{isa}: [{i}][{k}]");
                    assert_eq!(w.to_bits(), src[k][i].to_bits());
                }
            }
            let (mut got, mut want) = ([[0.0; LANES]; LANES], [[0.0; LANES]; LANES]);
            tr.transpose(&src64, &mut got);
            ScalarTranspose.transpose(&src64, &mut want);
            assert_eq!(got, want, "{isa} f64");
        }
    }
}
