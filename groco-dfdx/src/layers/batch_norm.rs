//! Batch normalisation over `(H, W, B)` per channel, optionally fused with a ReLU:
//! [`BatchNormRelu2d`] and [`BatchNorm2d`].
//!
//! Train mode: `y = γ (x - μ_B) / sqrt(σ²_B + ε) + β` with the batch mean `μ_B` and biased batch
//! variance `σ²_B`; the running statistics become `(1 - m) r + m μ_B` and
//! `(1 - m) r + m σ²_B N / (N - 1)` (unbiased), as PyTorch keeps them (`m` = momentum = 0.1,
//! `ε` = 1e-5 by default). Eval mode uses the running statistics. With ReLU, `max(y, 0)`.
//!
//! As with dfdx's own `BatchNorm2D`: `ModuleMut` on an input with an `OwnedTape` is train mode;
//! `Module` on an input without a tape is eval mode. [`BatchNormAct2d::try_forward_train`] and
//! [`BatchNormAct2d::try_forward_eval`] pick a mode explicitly for any tape.

use dfdx::prelude::*;

use super::composed;
use super::device::LayerDevice;
use super::layout::{try_dims, Activation};
use super::params::BnParams;
use crate::host::LayerFloat;
use crate::Error;

/// Batch norm over `C` channels, followed by a ReLU when `RELU` (see the module docs). Fields
/// and checkpoint names follow dfdx's `BatchNorm2D`: `scale`, `bias`, `running_mean`,
/// `running_var`, `epsilon`, `momentum`.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, BatchNormRelu2d};
/// let dev = Cpu::default();
/// let mut bn = BatchNormRelu2d::<2, f64, Cpu>::build(&dev);
/// let img: Vec<f64> = (0..3 * 2 * 2 * 2).map(|i| i as f64).collect();
/// let x = images_to_activation(&dev, &img, 3, 2, 2, 2).unwrap();
/// let y = bn.try_forward_train(x.leaky_trace()).unwrap();
/// assert!(y.as_vec().iter().all(|&v| v >= 0.0));
/// assert!(bn.running_mean.array()[0] > 0.0); // moved towards the batch mean
/// ```
#[derive(Clone, Debug)]
pub struct BatchNormAct2d<const C: usize, const RELU: bool, E: Dtype = f32, D: Storage<E> = Cpu> {
    /// γ, initially 1.
    pub scale: Tensor<Rank1<C>, E, D>,
    /// β, initially 0.
    pub bias: Tensor<Rank1<C>, E, D>,
    /// Running mean, initially 0; not trained by the optimiser.
    pub running_mean: Tensor<Rank1<C>, E, D>,
    /// Running (unbiased) variance, initially 1; not trained by the optimiser.
    pub running_var: Tensor<Rank1<C>, E, D>,
    /// ε, 1e-5.
    pub epsilon: f64,
    /// Momentum of the running statistics, 0.1.
    pub momentum: f64,
}

/// Batch norm followed by ReLU.
pub type BatchNormRelu2d<const C: usize, E = f32, D = Cpu> = BatchNormAct2d<C, true, E, D>;
/// Batch norm alone.
pub type BatchNorm2d<const C: usize, E = f32, D = Cpu> = BatchNormAct2d<C, false, E, D>;

impl<const C: usize, const RELU: bool, E: LayerFloat, D: LayerDevice<E>>
    BatchNormAct2d<C, RELU, E, D>
{
    fn check<T>(&self, x: &Activation<E, D, T>) -> Result<(), Error> {
        let d = try_dims("batch_norm2d", x)?;
        if d.c != C {
            return Err(Error::shape(
                "batch_norm2d",
                format!("{C} channels"),
                format!("{}", d.c),
            ));
        }
        if d.h * d.w * d.b < 2 {
            return Err(Error::shape(
                "batch_norm2d",
                "more than one value per channel in train mode",
                "1",
            ));
        }
        Ok(())
    }

    /// The parameters as the train-mode ops take them.
    pub fn params(&mut self) -> BnParams<'_, C, E, D> {
        BnParams {
            scale: &self.scale,
            bias: &self.bias,
            running_mean: &mut self.running_mean,
            running_var: &mut self.running_var,
            epsilon: self.epsilon,
            momentum: self.momentum,
        }
    }

    /// Train mode: batch statistics, running statistics updated.
    pub fn try_forward_train<T: Tape<E, D>>(
        &mut self,
        x: Activation<E, D, T>,
    ) -> Result<Activation<E, D, T>, Error> {
        self.check(&x)?;
        D::batch_norm_train(x, self.params(), RELU)
    }

    /// Eval mode: running statistics, nothing updated. Runs dfdx's ops on every device.
    pub fn try_forward_eval<T: Tape<E, D>>(
        &self,
        x: Activation<E, D, T>,
    ) -> Result<Activation<E, D, T>, Error> {
        let d = try_dims("batch_norm2d", &x)?;
        if d.c != C {
            return Err(Error::shape(
                "batch_norm2d",
                format!("{C} channels"),
                format!("{}", d.c),
            ));
        }
        composed::batch_norm_eval(
            x,
            &self.scale,
            &self.bias,
            &self.running_mean,
            &self.running_var,
            self.epsilon,
            RELU,
        )
    }
}

impl<const C: usize, const RELU: bool, E: LayerFloat, D: LayerDevice<E>>
    ModuleMut<Activation<E, D, OwnedTape<E, D>>> for BatchNormAct2d<C, RELU, E, D>
{
    type Output = Activation<E, D, OwnedTape<E, D>>;
    type Error = Error;

    fn try_forward_mut(
        &mut self,
        x: Activation<E, D, OwnedTape<E, D>>,
    ) -> Result<Self::Output, Error> {
        self.try_forward_train(x)
    }
}

impl<const C: usize, const RELU: bool, E: LayerFloat, D: LayerDevice<E>> Module<Activation<E, D>>
    for BatchNormAct2d<C, RELU, E, D>
{
    type Output = Activation<E, D>;
    type Error = Error;

    fn try_forward(&self, x: Activation<E, D>) -> Result<Self::Output, Error> {
        self.try_forward_eval(x)
    }
}

impl<const C: usize, const RELU: bool, E: LayerFloat, D: Device<E>> TensorCollection<E, D>
    for BatchNormAct2d<C, RELU, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = BatchNormAct2d<C, RELU, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "scale",
                    |s| &s.scale,
                    |s| &mut s.scale,
                    TensorOptions::reset_to_ones(),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "running_mean",
                    |s| &s.running_mean,
                    |s| &mut s.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
                Self::tensor(
                    "running_var",
                    |s| &s.running_var,
                    |s| &mut s.running_var,
                    TensorOptions::detached(|t| t.try_fill_with_ones()),
                ),
                Self::scalar(
                    "epsilon",
                    |s| &s.epsilon,
                    |s| &mut s.epsilon,
                    ScalarOptions::from_default(1e-5),
                ),
                Self::scalar(
                    "momentum",
                    |s| &s.momentum,
                    |s| &mut s.momentum,
                    ScalarOptions::from_default(0.1),
                ),
            ),
            |(scale, bias, running_mean, running_var, epsilon, momentum)| BatchNormAct2d {
                scale,
                bias,
                running_mean,
                running_var,
                epsilon,
                momentum,
            },
        )
    }
}
