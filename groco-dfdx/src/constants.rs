//! Constant tensors built on the host once per shape and device type, uploaded once (through
//! [`crate::transfer::upload`]) and kept on the device: the gather tables of the composed layers,
//! the index rows, diagonal masks and one-hot columns of the device-resident losses.
//!
//! The cache is per thread (the thread that runs the training steps) and keyed by the tensor
//! type (so by the device type and element type), a name and the sizes the values depend on.
//! Tensors of one `Cpu`, or of one `Cuda` context, serve every instance of that type on the
//! thread. A run has a handful of shapes, so the cache stays small.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

use dfdx::prelude::*;

use crate::transfer::upload;
use crate::Error;

type Key = (TypeId, &'static str, Vec<usize>);

thread_local! {
    static CACHE: RefCell<HashMap<Key, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// The constant `name` for `sizes`, of `shape`, on `dev`'s device type: from the cache, or
/// `build()` uploaded once. `sizes` must determine the values (and `shape`).
pub(crate) fn cached<S, E, D>(
    dev: &D,
    name: &'static str,
    sizes: &[usize],
    shape: S,
    build: impl FnOnce() -> Vec<E>,
) -> Result<Tensor<S, E, D>, Error>
where
    S: Shape,
    E: Unit,
    D: Storage<E> + CopySlice<E> + ZerosTensor<E> + 'static,
{
    let key: Key = (TypeId::of::<Tensor<S, E, D>>(), name, sizes.to_vec());
    let hit = CACHE.with(|c| {
        c.borrow()
            .get(&key)
            .and_then(|b| b.downcast_ref::<Tensor<S, E, D>>())
            .cloned()
    });
    if let Some(t) = hit {
        return Ok(t);
    }
    let t = upload(dev, shape, &build(), name)?;
    CACHE.with(|c| c.borrow_mut().insert(key, Box::new(t.clone())));
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{record, Direction};

    #[test]
    fn built_and_uploaded_once_per_key() {
        let dev = Cpu::default();
        let ((), log) = record(|| {
            for _ in 0..3 {
                let t = cached(&dev, "test-iota", &[4], (4,), || {
                    vec![0.0f32, 1.0, 2.0, 3.0]
                });
                assert_eq!(t.unwrap().as_vec(), vec![0.0, 1.0, 2.0, 3.0]);
            }
            let other = cached(&dev, "test-iota", &[2], (2,), || vec![0.0f32, 1.0]).unwrap();
            assert_eq!(other.as_vec(), vec![0.0, 1.0]);
        });
        assert_eq!(log.count(Direction::Up), 2);
    }
}
