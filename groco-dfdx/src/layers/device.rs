//! [`LayerDevice`]: which implementation each device runs. `Cpu` runs the hand-written kernels
//! (or, with [`CpuPath::Composed`] selected on the thread, the device-generic code); `Cuda`
//! (feature `cuda`) runs the compositions of dfdx ops in [`super::composed`], with the
//! convolution recomputed in the backward ([`super::conv2d_recompute`]).

use dfdx::prelude::*;

use super::chain::ConvBnChain;
use super::composed;
use super::conv_bn_cpu::FusedBn;
use super::geom::{ConvGeom, PoolGeom};
use super::layout::Activation;
use super::params::{BnParams, ConvParams, Weight4};
use crate::host::LayerFloat;
use crate::path::{cpu_path, CpuPath};
use crate::Error;

/// A device the layers run on. Inputs reaching these methods have been validated.
pub trait LayerDevice<E: LayerFloat>: Device<E> + ZerosTensor<usize> + CopySlice<usize> {
    /// Convolution; `w` is `(O, C/G, K, K)`. With `input_grad` false, a device may skip the
    /// input's gradient (the `Cpu` kernel does).
    fn conv2d<T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
        w: &Weight4<E, Self>,
        bias: Option<&Tensor<(usize,), E, Self>>,
        g: &ConvGeom,
        input_grad: bool,
    ) -> Result<Activation<E, Self, T>, Error>;

    /// Train-mode batch norm (+ ReLU).
    fn batch_norm_train<const C: usize, T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
        p: BnParams<'_, C, E, Self>,
        relu: bool,
    ) -> Result<Activation<E, Self, T>, Error>;

    /// Convolution followed by train-mode batch norm (+ ReLU). By default the two ops one after
    /// the other; `Cpu` runs a fused kernel.
    fn conv_bn_train<const C: usize, T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
        conv: ConvParams<'_, E, Self>,
        g: &ConvGeom,
        input_grad: bool,
        bn: BnParams<'_, C, E, Self>,
        relu: bool,
    ) -> Result<Activation<E, Self, T>, Error> {
        let z = Self::conv2d(x, conv.0, conv.1, g, input_grad)?;
        Self::batch_norm_train(z, bn, relu)
    }

    /// Starts a [`ConvBnChain`] at `x` (checked not empty); by default a chain of separate ops.
    fn chain_start<T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
    ) -> Result<ConvBnChain<E, Self, T>, Error> {
        Ok(ConvBnChain::layers(x))
    }

    /// One more block on a chain (shapes checked by the caller); by default
    /// [`LayerDevice::conv_bn_train`] on the chain's activation.
    fn chain_conv_bn<const C: usize, T: Tape<E, Self>>(
        chain: ConvBnChain<E, Self, T>,
        conv: ConvParams<'_, E, Self>,
        g: &ConvGeom,
        input_grad: bool,
        bn: BnParams<'_, C, E, Self>,
        relu: bool,
    ) -> Result<ConvBnChain<E, Self, T>, Error> {
        let x = chain.try_into_layers()?;
        let y = Self::conv_bn_train(x, conv, g, input_grad, bn, relu)?;
        Ok(ConvBnChain::layers(y))
    }

    /// A chain's activation; by default the one it holds.
    fn chain_finish<T: Tape<E, Self>>(
        chain: ConvBnChain<E, Self, T>,
    ) -> Result<Activation<E, Self, T>, Error> {
        chain.try_into_layers()
    }

    /// Max or average pooling.
    fn pool2d<T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
        p: &PoolGeom,
    ) -> Result<Activation<E, Self, T>, Error>;

    /// Global average pooling to `(B, C)`.
    fn global_avg_pool<T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
    ) -> Result<Tensor<(usize, usize), E, Self, T>, Error>;

    /// Flatten to `(B, C*H*W)`.
    fn flatten<T: Tape<E, Self>>(
        x: Activation<E, Self, T>,
    ) -> Result<Tensor<(usize, usize), E, Self, T>, Error>;
}

/// The batch norm settings as host values for the `Cpu` kernels.
fn host_params<const C: usize, E: LayerFloat>(
    p: &BnParams<'_, C, E, Cpu>,
) -> super::batch_norm_cpu::BnHost
where
    Cpu: Device<E>,
{
    let host = |t: &Tensor<Rank1<C>, E, Cpu>| {
        t.as_vec()
            .iter()
            .map(|v| v.to_f64().unwrap_or(f64::NAN))
            .collect()
    };
    super::batch_norm_cpu::BnHost {
        gamma: host(p.scale),
        beta: host(p.bias),
        epsilon: p.epsilon,
        momentum: p.momentum,
    }
}

/// Runs `f` with the fused kernel's batch norm half of `p` (host values, running statistics
/// as host copies), then stores the running statistics `f` updated, if it succeeded.
fn with_fused_bn<const C: usize, E: LayerFloat, R>(
    p: BnParams<'_, C, E, Cpu>,
    relu: bool,
    f: impl FnOnce(FusedBn<'_, E, Rank1<C>, Rank1<C>>) -> Result<R, Error>,
) -> Result<R, Error>
where
    Cpu: Device<E>,
{
    let host = host_params(&p);
    let (mut rm, mut rv) = (p.running_mean.as_vec(), p.running_var.as_vec());
    let bn = FusedBn {
        scale: p.scale,
        bias: p.bias,
        host,
        running: (&mut rm, &mut rv),
        relu,
    };
    let out = f(bn)?;
    p.running_mean.copy_from(&rm);
    p.running_var.copy_from(&rv);
    Ok(out)
}

/// Whether `Cpu` runs the device-generic code on this thread.
fn composed_path() -> bool {
    cpu_path() == CpuPath::Composed
}

macro_rules! cpu_layer_device {
    ($e:ty) => {
impl LayerDevice<$e> for Cpu {

    fn conv2d<T: Tape<$e, Self>>(
        x: Activation<$e, Self, T>,
        w: &Weight4<$e, Self>,
        bias: Option<&Tensor<(usize,), $e, Self>>,
        g: &ConvGeom,
        input_grad: bool,
    ) -> Result<Activation<$e, Self, T>, Error> {
        if composed_path() {
            return super::recompute::conv2d_recompute(x, w, bias, g);
        }
        super::conv2d_cpu::conv2d(x, w, bias, g, input_grad)
    }

    fn batch_norm_train<const C: usize, T: Tape<$e, Self>>(
        x: Activation<$e, Self, T>,
        p: BnParams<'_, C, $e, Self>,
        relu: bool,
    ) -> Result<Activation<$e, Self, T>, Error> {
        if composed_path() {
            return composed::batch_norm_train(x, p, relu);
        }
        let host = host_params(&p);
        let (mut rm, mut rv) = (p.running_mean.as_vec(), p.running_var.as_vec());
        let y = super::batch_norm_cpu::batch_norm_train(x, (p.scale, p.bias), host, (&mut rm, &mut rv), relu)?;
        p.running_mean.copy_from(&rm);
        p.running_var.copy_from(&rv);
        Ok(y)
    }

    fn conv_bn_train<const C: usize, T: Tape<$e, Self>>(
        x: Activation<$e, Self, T>,
        conv: ConvParams<'_, $e, Self>,
        g: &ConvGeom,
        input_grad: bool,
        p: BnParams<'_, C, $e, Self>,
        relu: bool,
    ) -> Result<Activation<$e, Self, T>, Error> {
        if composed_path() {
            return super::recompute::conv_bn_recompute(x, conv, g, p, relu);
        }
        with_fused_bn(p, relu, |bn| super::conv_bn_cpu::conv_bn_train(x, conv, g, input_grad, bn))
    }

    fn chain_start<T: Tape<$e, Self>>(x: Activation<$e, Self, T>) -> Result<ConvBnChain<$e, Self, T>, Error> {
        if composed_path() {
            return Ok(ConvBnChain::layers(x));
        }
        super::chain::host_start(x)
    }

    fn chain_conv_bn<const C: usize, T: Tape<$e, Self>>(
        chain: ConvBnChain<$e, Self, T>,
        conv: ConvParams<'_, $e, Self>,
        g: &ConvGeom,
        input_grad: bool,
        p: BnParams<'_, C, $e, Self>,
        relu: bool,
    ) -> Result<ConvBnChain<$e, Self, T>, Error> {
        match chain.host_parts() {
            Ok((h, _)) => with_fused_bn(p, relu, |bn| Ok(super::chain::host_block(h, conv, g, input_grad, bn))),
            Err(chain) => {
                let y = Self::conv_bn_train(chain.try_into_layers()?, conv, g, input_grad, p, relu)?;
                Ok(ConvBnChain::layers(y))
            }
        }
    }

    fn chain_finish<T: Tape<$e, Self>>(chain: ConvBnChain<$e, Self, T>) -> Result<Activation<$e, Self, T>, Error> {
        match chain.host_parts() {
            Ok((h, dims)) => super::chain::host_finish(h, dims),
            Err(chain) => chain.try_into_layers(),
        }
    }

    fn pool2d<T: Tape<$e, Self>>(x: Activation<$e, Self, T>, p: &PoolGeom) -> Result<Activation<$e, Self, T>, Error> {
        if composed_path() {
            return composed::pool2d(x, p);
        }
        super::pool_cpu::pool2d(x, p)
    }

    fn global_avg_pool<T: Tape<$e, Self>>(x: Activation<$e, Self, T>) -> Result<Tensor<(usize, usize), $e, Self, T>, Error> {
        if composed_path() {
            return composed::global_avg_pool(x);
        }
        super::pool_cpu::global_avg_pool(x)
    }

    fn flatten<T: Tape<$e, Self>>(x: Activation<$e, Self, T>) -> Result<Tensor<(usize, usize), $e, Self, T>, Error> {
        if composed_path() {
            return composed::flatten(x);
        }
        super::pool_cpu::flatten(x)
    }
}

    };
}

cpu_layer_device!(f32);
cpu_layer_device!(f64);

#[cfg(feature = "cuda")]
macro_rules! cuda_layer_device {
    ($e:ty) => {
impl LayerDevice<$e> for Cuda {
    fn conv2d<T: Tape<$e, Self>>(
        x: Activation<$e, Self, T>,
        w: &Weight4<$e, Self>,
        bias: Option<&Tensor<(usize,), $e, Self>>,
        g: &ConvGeom,
        _input_grad: bool,
    ) -> Result<Activation<$e, Self, T>, Error> {
        super::recompute::conv2d_recompute(x, w, bias, g)
    }

    fn batch_norm_train<const C: usize, T: Tape<$e, Self>>(
        x: Activation<$e, Self, T>,
        p: BnParams<'_, C, $e, Self>,
        relu: bool,
    ) -> Result<Activation<$e, Self, T>, Error> {
        composed::batch_norm_train(x, p, relu)
    }

    fn conv_bn_train<const C: usize, T: Tape<$e, Self>>(
        x: Activation<$e, Self, T>,
        conv: ConvParams<'_, $e, Self>,
        g: &ConvGeom,
        _input_grad: bool,
        p: BnParams<'_, C, $e, Self>,
        relu: bool,
    ) -> Result<Activation<$e, Self, T>, Error> {
        super::recompute::conv_bn_recompute(x, conv, g, p, relu)
    }

    fn pool2d<T: Tape<$e, Self>>(x: Activation<$e, Self, T>, p: &PoolGeom) -> Result<Activation<$e, Self, T>, Error> {
        composed::pool2d(x, p)
    }

    fn global_avg_pool<T: Tape<$e, Self>>(x: Activation<$e, Self, T>) -> Result<Tensor<(usize, usize), $e, Self, T>, Error> {
        composed::global_avg_pool(x)
    }

    fn flatten<T: Tape<$e, Self>>(x: Activation<$e, Self, T>) -> Result<Tensor<(usize, usize), $e, Self, T>, Error> {
        composed::flatten(x)
    }
}
    };
}

#[cfg(feature = "cuda")]
cuda_layer_device!(f32);
#[cfg(feature = "cuda")]
cuda_layer_device!(f64);
