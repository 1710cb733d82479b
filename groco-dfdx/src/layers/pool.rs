//! Max and average pooling over `K` x `K` windows with stride `S` and padding `P`:
//! `out[c, y, x, b] = max` (or mean) of `x[c, y*S + ki - P, x*S + kj - P, b]` over the window.
//! Max pooling ignores padding; average pooling counts padded positions as zeros and always
//! divides by `K*K` (PyTorch's defaults, `count_include_pad=True`). Max pooling sends each
//! output's gradient to its first maximum.

use dfdx::prelude::*;

use super::device::LayerDevice;
use super::geom::{PoolGeom, PoolKind, Window};
use super::layout::{try_dims, Activation};
use crate::host::LayerFloat;
use crate::Error;

/// Pools `x` with `window` (see the module docs).
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, try_pool2d, PoolKind, Window};
/// let dev = Cpu::default();
/// let img = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0];
/// let x = images_to_activation(&dev, &img, 1, 1, 4, 4).unwrap();
/// let win = Window { kernel: 2, stride: 2, padding: 0 };
/// assert_eq!(try_pool2d(x.clone(), win, PoolKind::Max).unwrap().as_vec(), [6.0, 8.0, 14.0, 16.0]);
/// assert_eq!(try_pool2d(x, win, PoolKind::Avg).unwrap().as_vec(), [3.5, 5.5, 11.5, 13.5]);
/// ```
pub fn try_pool2d<E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>(
    x: Activation<E, D, T>,
    window: Window,
    kind: PoolKind,
) -> Result<Activation<E, D, T>, Error> {
    let p = PoolGeom::try_new(try_dims("pool2d", &x)?, window, kind)?;
    D::pool2d(x, &p)
}

macro_rules! pool_module {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name<const K: usize, const S: usize, const P: usize = 0>;

        impl<const K: usize, const S: usize, const P: usize> $name<K, S, P> {
            /// The layer's window.
            pub const WINDOW: Window = Window { kernel: K, stride: S, padding: P };
        }

        impl<const K: usize, const S: usize, const P: usize> ZeroSizedModule for $name<K, S, P> {}
        impl<const K: usize, const S: usize, const P: usize> NonMutableModule for $name<K, S, P> {}

        impl<const K: usize, const S: usize, const P: usize, E: LayerFloat, D: LayerDevice<E>, T: Tape<E, D>>
            Module<Activation<E, D, T>> for $name<K, S, P>
        {
            type Output = Activation<E, D, T>;
            type Error = Error;

            fn try_forward(&self, x: Activation<E, D, T>) -> Result<Self::Output, Error> {
                try_pool2d(x, Self::WINDOW, $kind)
            }
        }
    };
}

pool_module!(
    /// Max pooling, `K` x `K` window, stride `S`, padding `P` (see the module docs).
    MaxPool2d,
    PoolKind::Max
);
pool_module!(
    /// Average pooling, `K` x `K` window, stride `S`, padding `P` (see the module docs).
    AvgPool2d,
    PoolKind::Avg
);
