//! The projection head of the official GroCo code: (L−1) × [Linear without bias, BatchNorm1D,
//! ReLU], then Linear and BatchNorm1D without affine parameters (L = 3).

use dfdx::nn::modules::{BatchNorm1D, Linear, UnbiasedLinear};
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;

/// BatchNorm1D with no learnable scale or shift (PyTorch's `affine=False`): only the running
/// statistics are state, and they are not trained.
#[derive(Clone, Debug)]
pub struct NoAffineBatchNorm1d<const C: usize, D: Device<f32>> {
    inner: BatchNorm1D<C, f32, D>,
}

impl<const C: usize, D: Device<f32>> NoAffineBatchNorm1d<C, D> {
    /// A fresh layer (running mean 0, running variance 1).
    pub fn try_build(dev: &D) -> Result<Self, D::Err> {
        Ok(NoAffineBatchNorm1d {
            inner: BatchNorm1D::try_build(dev)?,
        })
    }
}

impl<const C: usize, D: Device<f32>> TensorCollection<f32, D> for NoAffineBatchNorm1d<C, D> {
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "running_mean",
                    |s| &s.inner.running_mean,
                    |s| &mut s.inner.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
                Self::tensor(
                    "running_var",
                    |s| &s.inner.running_var,
                    |s| &mut s.inner.running_var,
                    TensorOptions::detached(|t| t.try_fill_with_ones()),
                ),
            ),
            // Never rebuilt through a visitor (no dtype or device conversion).
            |_| (),
        )
    }
}

type Rows<const C: usize, D, T> = Tensor<(usize, Const<C>), f32, D, T>;

/// The 3-layer projection head: `F → H → H → O`.
#[derive(Clone, Debug)]
pub struct ProjectionHead<const F: usize, const H: usize, const O: usize, D: Device<f32>> {
    l1: UnbiasedLinear<F, H, f32, D>,
    bn1: BatchNorm1D<H, f32, D>,
    l2: UnbiasedLinear<H, H, f32, D>,
    bn2: BatchNorm1D<H, f32, D>,
    l3: Linear<H, O, f32, D>,
    bn3: NoAffineBatchNorm1d<O, D>,
}

impl<const F: usize, const H: usize, const O: usize, D: Device<f32>> ProjectionHead<F, H, O, D> {
    /// A freshly initialised head (PyTorch's default initialisation, as dfdx does it).
    pub fn try_build(dev: &D) -> Result<Self, D::Err> {
        Ok(ProjectionHead {
            l1: UnbiasedLinear::try_build(dev)?,
            bn1: BatchNorm1D::try_build(dev)?,
            l2: UnbiasedLinear::try_build(dev)?,
            bn2: BatchNorm1D::try_build(dev)?,
            l3: Linear::try_build(dev)?,
            bn3: NoAffineBatchNorm1d::try_build(dev)?,
        })
    }

    /// Train mode: batch statistics, running statistics updated.
    pub fn try_forward_train(
        &mut self,
        x: Rows<F, D, OwnedTape<f32, D>>,
    ) -> Result<Rows<O, D, OwnedTape<f32, D>>, D::Err> {
        let x = self.l1.try_forward(x)?;
        let x = self.bn1.try_forward_mut(x)?.try_relu()?;
        let x = self.l2.try_forward(x)?;
        let x = self.bn2.try_forward_mut(x)?.try_relu()?;
        let x = self.l3.try_forward(x)?;
        self.bn3.inner.try_forward_mut(x)
    }

    /// Eval mode: running statistics.
    pub fn try_forward_eval(
        &self,
        x: Rows<F, D, NoneTape>,
    ) -> Result<Rows<O, D, NoneTape>, D::Err> {
        let x = self.l1.try_forward(x)?;
        let x = self.bn1.try_forward(x)?.try_relu()?;
        let x = self.l2.try_forward(x)?;
        let x = self.bn2.try_forward(x)?.try_relu()?;
        let x = self.l3.try_forward(x)?;
        self.bn3.inner.try_forward(x)
    }
}

impl<const F: usize, const H: usize, const O: usize, D: Device<f32>> TensorCollection<f32, D>
    for ProjectionHead<F, H, O, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("l1", |s| &s.l1, |s| &mut s.l1),
                Self::module("bn1", |s| &s.bn1, |s| &mut s.bn1),
                Self::module("l2", |s| &s.l2, |s| &mut s.l2),
                Self::module("bn2", |s| &s.bn2, |s| &mut s.bn2),
                Self::module("l3", |s| &s.l3, |s| &mut s.l3),
                Self::module("bn3", |s| &s.bn3, |s| &mut s.bn3),
            ),
            |_| (),
        )
    }
}
