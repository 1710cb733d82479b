//! Dense linear algebra on host slices: a bounds-checked wrapper around the `gemm` crate,
//! `C = A · B` (or `C += A · B`) on strided views, with its own split of the work across rayon
//! threads for the convolution shapes; and the element-wise `dst += src` that gradients are
//! accumulated with.
//!
//! A view's element `(i, j)` is `data[i * row_stride + j * col_stride]`, so a transpose is a
//! swap of the strides ([`MatRef::t`]), never a copy. Views are checked against their data
//! before any unchecked access.

use rayon::prelude::*;

use super::float::LayerFloat;
use super::scratch::Scratch;

/// A strided read-only matrix view for [`gemm()`]: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, E> {
    /// Backing values.
    pub data: &'a [E],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Step between rows.
    pub row_stride: usize,
    /// Step between columns.
    pub col_stride: usize,
}

impl<'a, E> MatRef<'a, E> {
    /// A row-major `rows` x `cols` matrix.
    pub fn row_major(data: &'a [E], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), with `dst` row-major `a.rows` x `b.cols`.
///
/// Runs on the `gemm` crate. With several rayon threads, two shapes are split across threads by
/// hand (each part single-threaded), which measured faster than gemm's own parallelism on the
/// convolution shapes: a short, very wide product (the forward of a narrow layer) is split along
/// its columns, and a product whose inner dimension dwarfs its output (the weight gradient) is
/// split along the inner dimension into partial products that are then summed.
pub fn gemm<E: LayerFloat>(dst: &mut [E], a: MatRef<'_, E>, b: MatRef<'_, E>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert_eq!(dst.len(), m * n, "destination size");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(E::zero());
        }
        return;
    }
    let threads = rayon::current_num_threads();
    if threads > 1 && m <= 64 && n >= 1024 * threads {
        split_columns(dst, a, b, accumulate, threads);
    } else if threads > 1 && k >= 8 * m.max(n) && k >= 4096 {
        split_inner(dst, a, b, accumulate, threads);
    } else {
        let par = if m * n * k < 32 * 32 * 32 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        gemm_raw(dst, n, a, b, accumulate, par);
    }
}

/// `dst` (row stride `ld`, `a.rows` x `b.cols`) = or += `a · b` in one gemm call.
fn gemm_raw<E: LayerFloat>(
    dst: &mut [E],
    ld: usize,
    a: MatRef<'_, E>,
    b: MatRef<'_, E>,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    let (m, n) = (a.rows, b.cols);
    assert!(
        m == 0 || n == 0 || (m - 1) * ld + n <= dst.len(),
        "destination view out of bounds"
    );
    a.check();
    b.check();
    // SAFETY: the destination view was bounds-checked just above and is exclusively borrowed.
    unsafe { gemm_ptr(dst.as_mut_ptr(), ld, a, b, accumulate, par) }
}

/// # Safety
/// `dst` must be valid for writes at `i * ld + j` for every `i < a.rows`, `j < b.cols`, nothing
/// else may access those elements during the call, and `a`, `b` must have passed
/// [`MatRef::check`].
unsafe fn gemm_ptr<E: LayerFloat>(
    dst: *mut E,
    ld: usize,
    a: MatRef<'_, E>,
    b: MatRef<'_, E>,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let alpha = if accumulate { E::one() } else { E::zero() };
    // SAFETY: the caller guarantees the destination; the operand views are in bounds; `E` is f32
    // or f64, which the gemm crate supports.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ld as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            alpha,
            E::one(),
            false,
            false,
            false,
            par,
        );
    }
}

/// A raw pointer that may be sent to rayon tasks writing disjoint parts of its buffer.
#[derive(Clone, Copy)]
struct SendPtr<E>(*mut E);
// SAFETY: only used by `split_columns`, whose tasks write disjoint column blocks.
unsafe impl<E: Send> Send for SendPtr<E> {}
// SAFETY: as above; the tasks only read the pointer value.
unsafe impl<E: Send> Sync for SendPtr<E> {}

impl<E> SendPtr<E> {
    fn at(&self, offset: usize) -> *mut E {
        self.0.wrapping_add(offset)
    }
}

/// Column blocks of `dst` and `b`, one single-threaded gemm per thread, written in place.
fn split_columns<E: LayerFloat>(
    dst: &mut [E],
    a: MatRef<'_, E>,
    b: MatRef<'_, E>,
    accumulate: bool,
    parts: usize,
) {
    let n = b.cols;
    assert_eq!(dst.len(), a.rows * n);
    let width = n.div_ceil(parts);
    let base = SendPtr(dst.as_mut_ptr());
    (0..parts).into_par_iter().for_each(|p| {
        let (lo, hi) = (p * width, ((p + 1) * width).min(n));
        if lo >= hi {
            return;
        }
        let bb = MatRef {
            data: &b.data[lo * b.col_stride..],
            cols: hi - lo,
            ..b
        };
        bb.check();
        // SAFETY: block p covers columns lo..hi of every row of `dst` (row stride n, in bounds
        // since hi <= n and dst holds rows * n values); blocks are disjoint, and `dst` stays
        // exclusively borrowed by this function until every task has finished.
        unsafe { gemm_ptr(base.at(lo), n, a, bb, accumulate, gemm::Parallelism::None) }
    });
}

/// Inner-dimension blocks: partial products per thread, summed into `dst`.
fn split_inner<E: LayerFloat>(
    dst: &mut [E],
    a: MatRef<'_, E>,
    b: MatRef<'_, E>,
    accumulate: bool,
    parts: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let depth = k.div_ceil(parts);
    let partials: Vec<Scratch<E>> = (0..parts)
        .map(|p| (p * depth, ((p + 1) * depth).min(k)))
        .filter(|(lo, hi)| lo < hi)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(lo, hi)| {
            let aa = MatRef {
                data: &a.data[lo * a.col_stride..],
                cols: hi - lo,
                ..a
            };
            let bb = MatRef {
                data: &b.data[lo * b.row_stride..],
                rows: hi - lo,
                ..b
            };
            aa.check();
            bb.check();
            let mut part = Scratch::<E>::take(m * n);
            gemm_raw(&mut part, n, aa, bb, false, gemm::Parallelism::None);
            part
        })
        .collect();
    if !accumulate {
        dst.fill(E::zero());
    }
    for part in partials {
        add_assign(dst, &part);
    }
}

/// `dst += src`, element by element over the shorter of the two.
#[inline]
pub(crate) fn add_assign<E: LayerFloat>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_for_all_transpositions() {
        let (m, k, n) = (5, 7, 6);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect(); // (k, m) row-major
        let mut want = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        let mut got = vec![1.0; m * n];
        gemm(
            &mut got,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            false,
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12);
        }
        gemm(
            &mut got,
            MatRef::row_major(&at, k, m).t(),
            MatRef::row_major(&b, k, n),
            true,
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g - 2.0 * w).abs() < 1e-12);
        }
    }

    #[test]
    fn split_strategies_match_a_single_gemm() {
        // wide (column split) and deep (inner split) shapes, plain and accumulating
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (m, k, n) in [(4, 5, 3 * 1024 + 7), (3, 5000, 2), (5, 4100, 4)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
            let mut want = vec![0.5; m * n];
            gemm_raw(
                &mut want,
                n,
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                true,
                gemm::Parallelism::None,
            );
            let mut got = vec![0.5; m * n];
            pool.install(|| {
                gemm(
                    &mut got,
                    MatRef::row_major(&a, m, k),
                    MatRef::row_major(&b, k, n),
                    true,
                )
            });
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-9 * (1.0 + w.abs()),
                    "{m}x{k}x{n}: {g} vs {w}"
                );
            }
            // transposed operand views too
            let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect(); // (n, k)
            let mut got = vec![0.0; m * n];
            pool.install(|| {
                gemm(
                    &mut got,
                    MatRef::row_major(&a, m, k),
                    MatRef::row_major(&bt, n, k).t(),
                    false,
                )
            });
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - (w - 0.5)).abs() < 1e-9 * (1.0 + w.abs()),
                    "{m}x{k}x{n} transposed"
                );
            }
        }
    }
}
