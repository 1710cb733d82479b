//! Scratch buffers for the host kernels: a bounded pool of reusable buffers per element type.
//!
//! Large temporaries (im2col matrices, copies of activations, the losses' similarity rows) are
//! tens of megabytes: fresh allocations of that size are `mmap`ed by the allocator and
//! page-fault on every step. A [`Scratch`] buffer is taken from a small per-dtype
//! [`ScratchPool`] and returns to it when dropped, so a training loop reuses the same few
//! buffers. The pool keeps at most [`ScratchPool::MAX_BUFFERS`] buffers, so it cannot grow
//! without bound: memory held is at most `MAX_BUFFERS` times the largest buffer taken.

use dfdx::prelude::{Cpu, Dtype, HasShape, Shape, Tensor, ZerosTensor};
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use crate::Error;

/// An element type with a scratch pool of its own: `f32` and `f64`.
///
/// ```
/// use groco_dfdx::host::{ScratchElement, ScratchPool};
/// let pool: &'static ScratchPool<f32> = f32::scratch_pool();
/// pool.clear();
/// ```
pub trait ScratchElement: Copy + Default + Send + 'static {
    /// The scratch pool for this element type.
    fn scratch_pool() -> &'static ScratchPool<Self>;
}

static POOL_F32: ScratchPool<f32> = ScratchPool::new();
static POOL_F64: ScratchPool<f64> = ScratchPool::new();

impl ScratchElement for f32 {
    fn scratch_pool() -> &'static ScratchPool<f32> {
        &POOL_F32
    }
}

impl ScratchElement for f64 {
    fn scratch_pool() -> &'static ScratchPool<f64> {
        &POOL_F64
    }
}

/// A bounded pool of reusable buffers (see the module docs); one per element type, reached
/// with [`ScratchElement::scratch_pool`].
///
/// ```
/// use groco_dfdx::host::{Scratch, ScratchElement, ScratchPool};
/// drop(Scratch::<f64>::take(1000)); // the buffer returns to the f64 pool
/// f64::scratch_pool().clear(); // and is freed here
/// assert!(ScratchPool::<f64>::MAX_BUFFERS > 0);
/// ```
#[derive(Debug)]
pub struct ScratchPool<E> {
    buffers: Mutex<Vec<Vec<E>>>,
}

impl<E> ScratchPool<E> {
    /// The most buffers the pool keeps; extra returned buffers are freed.
    pub const MAX_BUFFERS: usize = 24;

    const fn new() -> Self {
        ScratchPool {
            buffers: Mutex::new(Vec::new()),
        }
    }

    /// Frees every pooled buffer.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<E>>> {
        // A panic while holding the lock cannot leave the Vec of buffers inconsistent.
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A buffer of `len` elements borrowed from the pool of `E`; its contents are unspecified
/// (callers write every element) unless taken with [`Scratch::zeroed`].
///
/// ```
/// use groco_dfdx::host::Scratch;
/// let mut s = Scratch::<f32>::zeroed(4);
/// s[1] = 2.0;
/// assert_eq!(&s[..], &[0.0, 2.0, 0.0, 0.0]);
/// drop(s); // back to the pool, for the next `take` of at most its capacity
/// ```
#[derive(Debug)]
pub struct Scratch<E: ScratchElement> {
    /// Every element initialised (a pooled buffer keeps the length it reached, so taking it
    /// again writes nothing); the buffer is its first `len`.
    buf: Vec<E>,
    len: usize,
}

impl<E: ScratchElement> Scratch<E> {
    /// A buffer of `len` elements with unspecified contents: the smallest pooled buffer that
    /// fits, or a new one.
    pub fn take(len: usize) -> Self {
        let mut buf = {
            let mut pool = E::scratch_pool().lock();
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            match best {
                Some(i) => pool.swap_remove(i),
                None => Vec::with_capacity(len),
            }
        };
        if buf.len() < len {
            buf.resize(len, E::default());
        }
        Scratch { buf, len }
    }

    /// A buffer of `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        let mut s = Self::take(len);
        s.fill(E::default());
        s
    }
}

impl<E: ScratchElement> Drop for Scratch<E> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.capacity() == 0 {
            return;
        }
        let mut pool = E::scratch_pool().lock();
        if pool.len() < ScratchPool::<E>::MAX_BUFFERS {
            pool.push(buf);
        } else if let Some((i, _)) = pool
            .iter()
            .enumerate()
            .min_by_key(|(_, v)| v.capacity())
            .filter(|(_, v)| v.capacity() < buf.capacity())
        {
            // keep the larger buffers: they are the expensive ones to re-create
            pool[i] = buf;
        }
    }
}

impl<E: ScratchElement> Deref for Scratch<E> {
    type Target = [E];
    fn deref(&self) -> &[E] {
        &self.buf[..self.len]
    }
}

impl<E: ScratchElement> DerefMut for Scratch<E> {
    fn deref_mut(&mut self) -> &mut [E] {
        &mut self.buf[..self.len]
    }
}

/// A new `Cpu` tensor holding `data`, created with `zeros_like` + `copy_from` so that it draws
/// from (and later returns to) dfdx's allocation cache (see the crate docs).
pub(crate) fn cpu_tensor<S: Shape, E: Dtype + ScratchElement>(
    dev: &Cpu,
    shape: S,
    data: &[E],
) -> Result<Tensor<S, E, Cpu>, Error> {
    debug_assert_eq!(shape.num_elements(), data.len());
    let mut t = dev.try_zeros_like(&shape).map_err(Error::device)?;
    t.copy_from(data);
    Ok(t)
}

/// Copies a contiguous `Cpu` tensor into a scratch buffer.
pub(crate) fn read_cpu<S: Shape, E: Dtype + ScratchElement, T>(
    t: &Tensor<S, E, Cpu, T>,
) -> Scratch<E> {
    let mut s = Scratch::take(t.shape().num_elements());
    t.copy_into(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_and_stays_bounded() {
        // f64 pool: the other unit tests in this crate mostly use it too, so only check bounds.
        let many: Vec<Scratch<f64>> = (0..3 * ScratchPool::<f64>::MAX_BUFFERS)
            .map(|i| Scratch::take(10 + i))
            .collect();
        drop(many);
        let pool = f64::scratch_pool();
        assert!(pool.lock().len() <= ScratchPool::<f64>::MAX_BUFFERS);
        let s = Scratch::<f64>::zeroed(17);
        assert_eq!(s.len(), 17);
        assert!(s.iter().all(|&v| v == 0.0));
    }
}
