//! The layers as dfdx parameter collections: a struct of layers builds with PyTorch's
//! initialisation, trains with dfdx's `Sgd` (running statistics are not trained but updated by
//! the forward), and survives a safetensors save/load round trip.

use dfdx::optim::{Momentum, Sgd, SgdConfig};
use dfdx::prelude::*;
use groco_dfdx::layers::{
    images_to_activation, Activation, BatchNorm2d, BatchNormRelu2d, Conv2d, Conv2dBias, Flatten,
    MaxPool2d,
};

/// conv 1 -> 4 (3x3, pad 1) + BN + ReLU, grouped strided conv 4 -> 4 with bias + BN, max pool,
/// flatten.
#[derive(Clone, Debug)]
struct Net<E: Dtype, D: Storage<E>> {
    conv1: Conv2d<1, 4, 3, 1, 1, 1, E, D>,
    bn1: BatchNormRelu2d<4, E, D>,
    conv2: Conv2dBias<2, 4, 3, 2, 1, 2, E, D>,
    bn2: BatchNorm2d<4, E, D>,
}

impl<E: groco_dfdx::layers::LayerFloat, D: Device<E>> TensorCollection<E, D> for Net<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("bn1", |s| &s.bn1, |s| &mut s.bn1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("bn2", |s| &s.bn2, |s| &mut s.bn2),
            ),
            |(conv1, bn1, conv2, bn2)| Net {
                conv1,
                bn1,
                conv2,
                bn2,
            },
        )
    }
}

impl Net<f32, Cpu> {
    fn loss(
        &mut self,
        x: Activation<f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Tensor<Rank0, f32, Cpu, OwnedTape<f32, Cpu>> {
        let y = self.conv1.try_forward(x).unwrap();
        let y = self.bn1.try_forward_mut(y).unwrap();
        let y = self.conv2.try_forward(y).unwrap();
        let y = self.bn2.try_forward_mut(y).unwrap();
        let y = MaxPool2d::<2, 2>.try_forward(y).unwrap(); // (4, 2, 2, B)
        let rows = Flatten::<16>.try_forward(y).unwrap();
        (rows - 0.5).square().mean()
    }
}

fn input(dev: &Cpu) -> Activation<f32, Cpu> {
    let img: Vec<f32> = (0..6 * 8 * 8)
        .map(|i| ((i * 37 % 19) as f32 / 19.0) - 0.3)
        .collect();
    images_to_activation(dev, &img, 6, 1, 8, 8).unwrap()
}

#[test]
fn build_uses_pytorch_default_initialisation() {
    let dev = Cpu::seed_from_u64(3);
    let net = Net::<f32, Cpu>::build(&dev);
    let bound1 = 1.0 / (9.0f32).sqrt();
    let w1 = net.conv1.weight.as_vec();
    assert!(w1.iter().all(|v| v.abs() <= bound1) && w1.iter().any(|v| v.abs() > 0.5 * bound1));
    let bound2 = 1.0 / (18.0f32).sqrt();
    assert!(net
        .conv2
        .weight
        .as_vec()
        .iter()
        .chain(&net.conv2.bias.as_vec())
        .all(|v| v.abs() <= bound2));
    assert_eq!(net.bn1.scale.array(), [1.0; 4]);
    assert_eq!(net.bn1.running_var.array(), [1.0; 4]);
    assert_eq!((net.bn2.epsilon, net.bn2.momentum), (1e-5, 0.1));
    // trainable: conv1 36 + bn1 8 + conv2 72+4 + bn2 8
    assert_eq!(net.num_trainable_params(), 36 + 8 + 76 + 8);
}

#[test]
fn sgd_trains_the_layers_and_lowers_the_loss() {
    let dev = Cpu::seed_from_u64(4);
    let mut net = Net::<f32, Cpu>::build(&dev);
    let before = net.clone();
    let mut opt = Sgd::new(
        &net,
        SgdConfig {
            lr: 0.1,
            momentum: Some(Momentum::Classic(0.9)),
            weight_decay: None,
        },
    );
    let mut grads = net.alloc_grads();
    let x = input(&dev);
    let mut losses = Vec::new();
    for _ in 0..30 {
        let loss = net.loss(x.clone().traced(grads));
        losses.push(loss.array());
        grads = loss.backward();
        opt.update(&mut net, &grads).unwrap();
        net.zero_grads(&mut grads);
    }
    assert!(
        losses[29] < 0.5 * losses[0],
        "loss {} -> {}",
        losses[0],
        losses[29]
    );
    assert_ne!(net.conv1.weight.as_vec(), before.conv1.weight.as_vec());
    assert_ne!(net.conv2.bias.as_vec(), before.conv2.bias.as_vec());
    assert_ne!(net.bn1.scale.as_vec(), before.bn1.scale.as_vec());
    // running statistics move with the forward passes, not the optimiser: after 30 steps on the
    // same input they approach the batch statistics
    assert_ne!(
        net.bn2.running_mean.as_vec(),
        before.bn2.running_mean.as_vec()
    );
}

#[test]
fn safetensors_round_trip_keeps_every_tensor_and_scalar() {
    let dev = Cpu::seed_from_u64(5);
    let mut net = Net::<f32, Cpu>::build(&dev);
    // make running statistics and scalars differ from their defaults
    let _ = net.loss(input(&dev).leaky_trace());
    net.bn2.momentum = 0.3;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    net.save_safetensors(&path).unwrap();
    let mut loaded = Net::<f32, Cpu>::build(&Cpu::seed_from_u64(99));
    assert_ne!(loaded.conv1.weight.as_vec(), net.conv1.weight.as_vec());
    loaded.load_safetensors(&path).unwrap();
    let pairs = [
        (net.conv1.weight.as_vec(), loaded.conv1.weight.as_vec()),
        (net.conv2.weight.as_vec(), loaded.conv2.weight.as_vec()),
        (net.conv2.bias.as_vec(), loaded.conv2.bias.as_vec()),
        (net.bn1.scale.as_vec(), loaded.bn1.scale.as_vec()),
        (
            net.bn1.running_mean.as_vec(),
            loaded.bn1.running_mean.as_vec(),
        ),
        (
            net.bn2.running_var.as_vec(),
            loaded.bn2.running_var.as_vec(),
        ),
    ];
    for (a, b) in pairs {
        assert_eq!(a, b);
    }
    assert_eq!(loaded.bn2.momentum, 0.3);
    // and the loaded network computes the same thing
    let mut a = net.clone();
    assert_eq!(
        a.loss(input(&dev).leaky_trace()).array(),
        loaded.loss(input(&dev).leaky_trace()).array()
    );
}
