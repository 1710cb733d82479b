//! [`ConvBnChain`]: convolution + train-mode batch norm (+ ReLU) blocks run back to back.
//!
//! On `Cpu`'s host kernels the activations between the blocks stay host buffers: the forward
//! makes no dfdx tensor for them (a zero-filled allocation and a copy each, then a copy back
//! for the next block), and the backward no dfdx gradient (a zero-filled allocation each); one
//! tape op runs the blocks' backwards in reverse, each block's input gradient
//! (`col2im(dcol)`) handed to the block before it as a host buffer. Those copies and fills
//! run on the calling thread while the other cores wait, so the chain is faster than the same
//! blocks as separate ops; its values and gradients are theirs, bit for bit. On other devices
//! and on the composed `Cpu` path the blocks run as separate ops.

use dfdx::prelude::*;

use super::conv_bn_cpu::{block_forward, BlockTape, FusedBn};
use super::conv_gemm::input_grad_of;
use super::geom::ConvGeom;
use super::layout::{Activation, Dims};
use super::params::ConvParams;
use crate::host::gemm::add_assign;
use crate::host::{cpu_tensor, read_cpu, LayerFloat, Scratch};
use crate::Error;

/// Blocks of convolution + train-mode batch norm (+ ReLU) run back to back (see the module
/// docs): start one at an activation with [`ConvBnChain::try_new`], add blocks with
/// [`super::Conv2d::try_chain_bn_train`], end it with [`ConvBnChain::try_finish`].
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::layers::{images_to_activation, BatchNormRelu2d, Conv2d, ConvBnChain};
/// let dev = Cpu::default();
/// let (c1, c2) = (
///     Conv2d::<1, 4, 3, 1, 1, 1, f32, Cpu>::build(&dev),
///     Conv2d::<4, 8, 3, 2, 1, 1, f32, Cpu>::build(&dev),
/// );
/// let (mut b1, mut b2) = (BatchNormRelu2d::build(&dev), BatchNormRelu2d::build(&dev));
/// let x = images_to_activation(&dev, &vec![0.5f32; 4 * 36], 4, 1, 6, 6).unwrap();
/// let chain = ConvBnChain::try_new(x.traced(c1.alloc_grads())).unwrap();
/// let chain = c1.try_chain_bn_train(&mut b1, chain, false).unwrap();
/// let y = c2.try_chain_bn_train(&mut b2, chain, true).unwrap().try_finish().unwrap();
/// assert_eq!(*y.shape(), (8, 3, 3, 4));
/// let grads = y.square().mean().backward();
/// assert_eq!(grads.get(&c1.weight).shape(), c1.weight.shape());
/// ```
pub struct ConvBnChain<E: LayerFloat, D: Storage<E>, T> {
    pub(crate) inner: ChainInner<E, D, T>,
    dims: Dims,
}

impl<E: LayerFloat, D: Storage<E>, T> std::fmt::Debug for ConvBnChain<E, D, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.inner {
            ChainInner::Layers(_) => "separate ops",
            ChainInner::Host(_) => "host buffers",
        };
        f.debug_struct("ConvBnChain")
            .field("dims", &self.dims)
            .field("runs_as", &kind)
            .finish()
    }
}

/// A chain's state: an activation between separate ops, or host buffers.
pub(crate) enum ChainInner<E: LayerFloat, D: Storage<E>, T> {
    Layers(Activation<E, D, T>),
    Host(HostChain<E, T>),
}

/// Adds the first block's input gradient into the chain input's accumulator.
type InputSink<E> = Box<dyn FnOnce(&mut Gradients<E, Cpu>, &[E]) -> Result<(), CpuError>>;

/// A chain on `Cpu`'s host kernels: the current activation, the tape, and the blocks so far.
pub(crate) struct HostChain<E: LayerFloat, T> {
    x: Scratch<E>,
    dev: Cpu,
    tape: T,
    input: InputSink<E>,
    blocks: Vec<BlockTape<E>>,
}

impl<E: LayerFloat, D: Storage<E>, T> ConvBnChain<E, D, T> {
    /// The sizes of the chain's current activation.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// The chain of separate ops at `x`.
    pub(crate) fn layers(x: Activation<E, D, T>) -> Self {
        ConvBnChain {
            dims: Dims::of(&x),
            inner: ChainInner::Layers(x),
        }
    }

    /// The activation of a chain of separate ops (a host chain is an error: only `Cpu` makes
    /// one, and it runs its own blocks).
    pub(crate) fn try_into_layers(self) -> Result<Activation<E, D, T>, Error> {
        match self.inner {
            ChainInner::Layers(x) => Ok(x),
            ChainInner::Host(_) => Err(Error::device("a host chain reached a device's default op")),
        }
    }

    /// The parts of a host chain, for `Cpu`'s ops.
    pub(crate) fn host_parts(self) -> Result<(HostChain<E, T>, Dims), Self> {
        match self.inner {
            ChainInner::Host(h) => Ok((h, self.dims)),
            inner => Err(ConvBnChain {
                inner,
                dims: self.dims,
            }),
        }
    }
}

/// A host chain at `x`.
pub(crate) fn host_start<E: LayerFloat, T: Tape<E, Cpu>>(
    x: Activation<E, Cpu, T>,
) -> Result<ConvBnChain<E, Cpu, T>, Error> {
    let dims = Dims::of(&x);
    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, tape) = x.split_tape();
    let x_ghost = x.ghost();
    let input: InputSink<E> = Box::new(move |grads, dx| {
        add_assign(grads.get_or_alloc_mut(&x_ghost)?, dx);
        Ok(())
    });
    let host = HostChain {
        x: read_cpu(&x),
        dev: x.device().clone(),
        tape,
        input,
        blocks: Vec::new(),
    };
    Ok(ConvBnChain {
        inner: ChainInner::Host(host),
        dims,
    })
}

/// A host chain with one more block (shapes were checked by the caller).
pub(crate) fn host_block<E: LayerFloat, T: Tape<E, Cpu>, SG: Shape, SB: Shape>(
    chain: HostChain<E, T>,
    conv: ConvParams<'_, E, Cpu>,
    g: &ConvGeom,
    input_grad: bool,
    bn: FusedBn<'_, E, SG, SB>,
) -> ConvBnChain<E, Cpu, T> {
    let HostChain {
        x,
        dev,
        tape,
        input,
        mut blocks,
    } = chain;
    let (y, block) = block_forward(x, conv, g, input_grad, bn, T::OWNS_TAPE);
    blocks.extend(block);
    ConvBnChain {
        inner: ChainInner::Host(HostChain {
            x: y,
            dev,
            tape,
            input,
            blocks,
        }),
        dims: g.output(),
    }
}

/// The host chain's activation as a tensor; with a tape, one op runs the blocks' backwards.
pub(crate) fn host_finish<E: LayerFloat, T: Tape<E, Cpu>>(
    chain: HostChain<E, T>,
    dims: Dims,
) -> Result<Activation<E, Cpu, T>, Error> {
    let HostChain {
        x,
        dev,
        mut tape,
        input,
        blocks,
    } = chain;
    let out = cpu_tensor(&dev, dims.shape(), &x)?;
    drop(x);
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }
    let out_ghost = out.ghost();
    tape.add_backward_op(move |grads| {
        // the last block reads the chain's output gradient in place; each block before it, the
        // input gradient of the block after it. A block without its input's gradient ends it.
        let mut blocks = blocks.into_iter().rev();
        let mut dx = match blocks.next() {
            Some(last) => {
                let (dz, sums) = last.bn_backward(grads.get_or_alloc_mut(&out_ghost)?);
                match input_of(last, grads, dz, sums)? {
                    Some(dx) => dx,
                    None => return Ok(()),
                }
            }
            None => {
                // no block: the chain is the identity
                let g: &[E] = grads.get_or_alloc_mut(&out_ghost)?;
                let mut s = Scratch::take(g.len());
                s.copy_from_slice(g);
                s
            }
        };
        for block in blocks {
            let (dz, sums) = block.bn_backward(&dx);
            match input_of(block, grads, dz, sums)? {
                Some(next) => dx = next,
                None => return Ok(()),
            }
        }
        input(grads, &dx)
    });
    Ok(out.put_tape(tape))
}

/// The rest of `block`'s backward from its batch norm's (see [`BlockTape::finish`]), and its
/// input's gradient `col2im(dcol)` as a new buffer if the block computes it.
fn input_of<E: LayerFloat>(
    block: BlockTape<E>,
    grads: &mut Gradients<E, Cpu>,
    dz: Scratch<E>,
    sums: Vec<(E, E)>,
) -> Result<Option<Scratch<E>>, CpuError> {
    let g = block.g;
    Ok(block
        .finish(grads, dz, sums)?
        .map(|dcol| input_grad_of(dcol, &g)))
}
