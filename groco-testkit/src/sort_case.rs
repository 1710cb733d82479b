//! One `sort` fixture case (written by `fixtures/generate.py`, float64): the configuration as
//! the file names it and the arrays flattened row-major. The one reader of that format for
//! every test that replays the sort fixtures.

use std::path::{Path, PathBuf};

use crate::fixtures::{dims, flat, number, read, string};

/// A `sort` case: x of B rows of n, and what diffsort 0.2.0 and PyTorch autograd gave for it.
#[derive(Clone, Debug)]
pub struct SortCase {
    /// The file it came from.
    pub file: PathBuf,
    /// The network, by its diffsort name (`odd_even`, `bitonic`, …).
    pub network: String,
    /// The relaxation, by its diffsort name (`distribution`: `cauchy`, …).
    pub distribution: String,
    /// The steepness.
    pub steepness: f64,
    /// λ of `logistic_phi`.
    pub art_lambda: f64,
    /// Rows B.
    pub rows: usize,
    /// Row length n.
    pub n: usize,
    /// The inputs, B·n.
    pub x: Vec<f64>,
    /// The sorted values, B·n.
    pub sorted: Vec<f64>,
    /// The relaxed permutation matrices, B·n·n.
    pub perm: Vec<f64>,
    /// dL/dsorted of the loss the gradient is taken of, B·n.
    pub grad_sorted: Vec<f64>,
    /// dL/dperm of that loss, B·n·n.
    pub grad_perm: Vec<f64>,
    /// dL/dx, B·n.
    pub grad_x: Vec<f64>,
}

impl SortCase {
    /// Reads `file`: it must be of kind `sort`, in float64, with every array of its shape.
    /// Errors name the file and the field.
    pub fn read(file: &Path) -> Result<SortCase, String> {
        let (v, kind) = read(file)?;
        if kind != "sort" {
            return Err(format!(
                "{}: unknown kind `{kind}` in the sort folder",
                file.display()
            ));
        }
        let dtype = string(&v, "dtype", file)?;
        if dtype != "float64" {
            return Err(format!(
                "{}: dtype `{dtype}`, expected float64",
                file.display()
            ));
        }
        let d = dims(&v, "x", 2, file)?;
        let (rows, n) = (d[0], d[1]);
        let array = |name, shape: &[usize]| flat(&v, name, shape, file);
        Ok(SortCase {
            file: file.to_owned(),
            network: string(&v, "network", file)?,
            distribution: string(&v, "distribution", file)?,
            steepness: number(&v, "steepness", file)?,
            art_lambda: number(&v, "art_lambda", file)?,
            rows,
            n,
            x: array("x", &[rows, n])?,
            sorted: array("sorted", &[rows, n])?,
            perm: array("perm", &[rows, n, n])?,
            grad_sorted: array("grad_sorted", &[rows, n])?,
            grad_perm: array("grad_perm", &[rows, n, n])?,
            grad_x: array("grad_x", &[rows, n])?,
        })
    }
}
