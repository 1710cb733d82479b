//! 2-D convolution layers: [`Conv2d`] (no bias, the usual choice before batch norm) and
//! [`Conv2dBias`], dfdx parameter collections with compile-time sizes that run the ops in
//! `conv2d.rs` ([`super::try_conv2d`] and friends).

use dfdx::prelude::*;
use rand_distr::Uniform;

use super::batch_norm::BatchNormAct2d;
use super::chain::ConvBnChain;
use super::conv2d::{
    try_chain_conv_bn, try_conv2d, try_conv2d_batch_norm_train, try_conv2d_no_input_grad,
};
use super::device::LayerDevice;
use super::geom::{ConvGeom, Window};
use super::layout::{try_dims, Activation, Dims};
use super::params::Weight4;
use crate::host::LayerFloat;
use crate::Error;

fn init_bound<E: LayerFloat>(fan_in: usize) -> Uniform<E> {
    // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    let b = E::one() / E::from_usize(fan_in.max(1)).unwrap_or_else(E::one).sqrt();
    Uniform::new(-b, b)
}

macro_rules! conv_common {
    ($name:ident) => {
        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                const G: usize,
                E: Dtype,
                D: Storage<E>,
            > $name<I, O, K, S, P, G, E, D>
        {
            /// The layer's window.
            pub const WINDOW: Window = Window {
                kernel: K,
                stride: S,
                padding: P,
            };

            /// [`Module::try_forward`] without the input's gradient, for a network's first layer
            /// (see [`try_conv2d_no_input_grad`]).
            pub fn try_forward_no_input_grad<T: Tape<E, D>>(
                &self,
                x: Activation<E, D, T>,
            ) -> Result<Activation<E, D, T>, Error>
            where
                E: LayerFloat,
                D: LayerDevice<E>,
            {
                Self::try_output_dims(try_dims("conv2d", &x)?)?;
                let (w, b) = self.runtime_params();
                try_conv2d_no_input_grad(x, &w, b.as_ref(), Self::WINDOW, G)
            }

            /// This convolution followed by `bn` in train mode, fused on `Cpu` (see
            /// [`try_conv2d_batch_norm_train`]); `input_grad` false skips the input's gradient
            /// (for a network's first layer).
            pub fn try_forward_bn_train<const RELU: bool, T: Tape<E, D>>(
                &self,
                bn: &mut BatchNormAct2d<O, RELU, E, D>,
                x: Activation<E, D, T>,
                input_grad: bool,
            ) -> Result<Activation<E, D, T>, Error>
            where
                E: LayerFloat,
                D: LayerDevice<E>,
            {
                Self::try_output_dims(try_dims("conv2d", &x)?)?;
                let (w, b) = self.runtime_params();
                try_conv2d_batch_norm_train(
                    x,
                    &w,
                    b.as_ref(),
                    Self::WINDOW,
                    G,
                    bn.params(),
                    RELU,
                    input_grad,
                )
            }

            /// [`Self::try_forward_bn_train`] as one more block of `chain` (see
            /// [`ConvBnChain`]).
            pub fn try_chain_bn_train<const RELU: bool, T: Tape<E, D>>(
                &self,
                bn: &mut BatchNormAct2d<O, RELU, E, D>,
                chain: ConvBnChain<E, D, T>,
                input_grad: bool,
            ) -> Result<ConvBnChain<E, D, T>, Error>
            where
                E: LayerFloat,
                D: LayerDevice<E>,
            {
                Self::try_output_dims(chain.dims())?;
                let (w, b) = self.runtime_params();
                try_chain_conv_bn(
                    chain,
                    &w,
                    b.as_ref(),
                    Self::WINDOW,
                    G,
                    bn.params(),
                    RELU,
                    input_grad,
                )
            }

            /// The weight with runtime sizes and the bias (if any), as the ops take them.
            fn runtime_params(&self) -> (Weight4<E, D>, Option<Tensor<(usize,), E, D>>) {
                let w = self
                    .weight
                    .clone()
                    .realize::<(usize, usize, usize, usize)>();
                (w, self.bias_param())
            }

            /// The output sizes for an input of `input` sizes, or why that input does not fit.
            pub fn try_output_dims(input: Dims) -> Result<Dims, Error> {
                if input.c != I * G {
                    return Err(Error::shape(
                        "conv2d",
                        format!("{} input channels", I * G),
                        format!("{}", input.c),
                    ));
                }
                Ok(ConvGeom::try_new(input, O, Self::WINDOW, G)?.output())
            }
        }

        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                const G: usize,
                E,
                D,
                T,
            > Module<Activation<E, D, T>> for $name<I, O, K, S, P, G, E, D>
        where
            E: LayerFloat,
            D: LayerDevice<E>,
            T: Tape<E, D>,
        {
            type Output = Activation<E, D, T>;
            type Error = Error;

            fn try_forward(&self, x: Activation<E, D, T>) -> Result<Self::Output, Error> {
                Self::try_output_dims(try_dims("conv2d", &x)?)?;
                let (w, b) = self.runtime_params();
                try_conv2d(x, &w, b.as_ref(), Self::WINDOW, G)
            }
        }

        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                const G: usize,
                E: Dtype,
                D: Storage<E>,
            > NonMutableModule for $name<I, O, K, S, P, G, E, D>
        {
        }
    };
}

/// A 2-D convolution without bias: `K` x `K` kernel, stride `S`, padding `P`, `G` groups, `I`
/// input channels per group (so `I * G` input channels; `I` is the weight's second axis, as in
/// PyTorch's `(O, C/G, K, K)`) and `O` output channels (a multiple of `G`).
///
/// Build it with dfdx's `BuildModule` (PyTorch's default uniform initialisation); it is a
/// `TensorCollection`, so dfdx's optimisers, `ZeroGrads` and safetensors work on it.
/// `Module::forward` takes and returns [`Activation`]s.
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, Conv2d};
/// let dev = Cpu::default();
/// let conv = Conv2d::<1, 8, 3, 2, 1, 1, f32, Cpu>::build(&dev); // 1 -> 8, 3x3, stride 2, pad 1
/// let x = images_to_activation(&dev, &vec![0.5f32; 4 * 28 * 28], 4, 1, 28, 28).unwrap();
/// let y = conv.try_forward(x).unwrap();
/// assert_eq!(*y.shape(), (8, 14, 14, 4));
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const G: usize = 1,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// `(O, I, K, K)`.
    pub weight: Tensor<Rank4<O, I, K, K>, E, D>,
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const G: usize,
        E: Dtype,
        D: Storage<E>,
    > Conv2d<I, O, K, S, P, G, E, D>
{
    fn bias_param(&self) -> Option<Tensor<(usize,), E, D>> {
        None
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const G: usize,
        E: LayerFloat,
        D,
    > TensorCollection<E, D> for Conv2d<I, O, K, S, P, G, E, D>
where
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2d<I, O, K, S, P, G, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            Self::tensor(
                "weight",
                |s| &s.weight,
                |s| &mut s.weight,
                TensorOptions::reset_with(|t| t.try_fill_with_distr(init_bound::<E>(I * K * K))),
            ),
            |weight| Conv2d { weight },
        )
    }
}

conv_common!(Conv2d);

/// [`Conv2d`] with a bias per output channel.
#[derive(Clone, Debug)]
pub struct Conv2dBias<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const G: usize = 1,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// `(O, I, K, K)`.
    pub weight: Tensor<Rank4<O, I, K, K>, E, D>,
    /// `(O,)`.
    pub bias: Tensor<Rank1<O>, E, D>,
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const G: usize,
        E: Dtype,
        D: Storage<E>,
    > Conv2dBias<I, O, K, S, P, G, E, D>
{
    fn bias_param(&self) -> Option<Tensor<(usize,), E, D>> {
        Some(self.bias.clone().realize::<(usize,)>())
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const G: usize,
        E: LayerFloat,
        D,
    > TensorCollection<E, D> for Conv2dBias<I, O, K, S, P, G, E, D>
where
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2dBias<I, O, K, S, P, G, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| {
                        t.try_fill_with_distr(init_bound::<E>(I * K * K))
                    }),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| {
                        t.try_fill_with_distr(init_bound::<E>(I * K * K))
                    }),
                ),
            ),
            |(weight, bias)| Conv2dBias { weight, bias },
        )
    }
}

conv_common!(Conv2dBias);
