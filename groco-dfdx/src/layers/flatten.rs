//! From feature maps to rows: global average pooling `(C, H, W, B) -> (B, C)` with
//! `out[b, c] = mean_{y,x} x[c, y, x, b]`, and flatten `(C, H, W, B) -> (B, C*H*W)` with
//! `out[b, (c*H + y)*W + x] = x[c, y, x, b]` (PyTorch's `nn.Flatten` order on NCHW). Both give
//! contiguous row-major rows, so a dfdx `Linear` can follow.

use dfdx::prelude::*;

use super::device::LayerDevice;
use super::layout::{try_dims, Activation};
use crate::host::LayerFloat;
use crate::Error;

/// Global average pooling to `(B, C)` rows.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, try_global_avg_pool};
/// let dev = Cpu::default();
/// let x = images_to_activation(&dev, &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 2, 2, 1, 2).unwrap();
/// assert_eq!(try_global_avg_pool(x).unwrap().as_vec(), [1.5, 3.5, 5.5, 7.5]);
/// ```
pub fn try_global_avg_pool<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
    try_dims("global_avg_pool", &x)?;
    D::global_avg_pool(x)
}

/// Flatten to `(B, C*H*W)` rows (see the module docs).
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, try_flatten};
/// let dev = Cpu::default();
/// let img: Vec<f32> = (0..2 * 3 * 2 * 2).map(|i| i as f32).collect();
/// let x = images_to_activation(&dev, &img, 2, 3, 2, 2).unwrap();
/// assert_eq!(try_flatten(x).unwrap().as_vec(), img); // NCHW rows again
/// ```
pub fn try_flatten<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
    try_dims("flatten", &x)?;
    D::flatten(x)
}

fn typed<const F: usize, E: Dtype, D: Storage<E>, T: Tape<E, D>>(
    op: &'static str,
    t: Tensor<(usize, usize), E, D, T>,
) -> Result<Tensor<(usize, Const<F>), E, D, T>, Error> {
    let (_, f) = *t.shape();
    t.try_realize::<(usize, Const<F>)>()
        .map_err(|_| Error::shape(op, format!("{F} features"), format!("{f}")))
}

/// Global average pooling as a module: `(C, H, W, B)` -> `(B, Const<C>)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalAvgPool<const C: usize>;

/// Flatten as a module: `(C, H, W, B)` -> `(B, Const<F>)` with `F = C*H*W`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten<const F: usize>;

impl<const C: usize> ZeroSizedModule for GlobalAvgPool<C> {}
impl<const C: usize> NonMutableModule for GlobalAvgPool<C> {}
impl<const F: usize> ZeroSizedModule for Flatten<F> {}
impl<const F: usize> NonMutableModule for Flatten<F> {}

impl<const C: usize, E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>> Module<Activation<E, D, T>>
    for GlobalAvgPool<C>
{
    type Output = Tensor<(usize, Const<C>), E, D, T>;
    type Error = Error;

    fn try_forward(&self, x: Activation<E, D, T>) -> Result<Self::Output, Error> {
        let d = try_dims("global_avg_pool", &x)?;
        if d.c != C {
            return Err(Error::shape(
                "global_avg_pool",
                format!("{C} channels"),
                format!("{}", d.c),
            ));
        }
        typed("global_avg_pool", try_global_avg_pool(x)?)
    }
}

impl<const F: usize, E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>> Module<Activation<E, D, T>>
    for Flatten<F>
{
    type Output = Tensor<(usize, Const<F>), E, D, T>;
    type Error = Error;

    fn try_forward(&self, x: Activation<E, D, T>) -> Result<Self::Output, Error> {
        let d = try_dims("flatten", &x)?;
        if d.c * d.h * d.w != F {
            return Err(Error::shape(
                "flatten",
                format!("{F} features"),
                format!("{:?} = {}", d.shape(), d.c * d.h * d.w),
            ));
        }
        typed("flatten", try_flatten(x)?)
    }
}
