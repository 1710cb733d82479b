//! [`Transpose`]: the [`LANES`]×[`LANES`] block transpose, `dst[i][k] = src[k][i]`, that moves
//! P rows between the kernels' lanes (lane k of wire i) and memory (row k, column i).
//!
//! It is the one data movement the P-row kernels cannot express without shuffles: a block
//! read from 16 rows becomes 16 lane vectors, and back. [`ScalarTranspose`] copies element by
//! element (portable, `no_std`, no `unsafe`); `groco-dispatch` supplies one built from AVX2 or
//! AVX-512 shuffles for the ISA it runs. Every implementation must write exactly the
//! transpose, so results do not depend on the choice.

use crate::sorter::LANES;

/// A [`LANES`]×[`LANES`] block transpose (see the module docs).
///
/// ```
/// use groco_core::{ScalarTranspose, Transpose, LANES};
/// let src: [[f32; LANES]; LANES] = core::array::from_fn(|k| core::array::from_fn(|i| (16 * k + i) as f32));
/// let mut dst = [[0.0; LANES]; LANES];
/// ScalarTranspose.transpose(&src, &mut dst);
/// assert_eq!(dst[3][5], src[5][3]);
/// ```
pub trait Transpose<F>: Copy {
    /// Writes the transpose of `src` into `dst`: `dst[i][k] = src[k][i]`.
    fn transpose(self, src: &[[F; LANES]; LANES], dst: &mut [[F; LANES]; LANES]);
}

/// The portable [`Transpose`]: element by element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScalarTranspose;

impl<F: Copy> Transpose<F> for ScalarTranspose {
    #[inline(always)]
    fn transpose(self, src: &[[F; LANES]; LANES], dst: &mut [[F; LANES]; LANES]) {
        for (i, d) in dst.iter_mut().enumerate() {
            for (k, v) in d.iter_mut().enumerate() {
                *v = src[k][i];
            }
        }
    }
}
