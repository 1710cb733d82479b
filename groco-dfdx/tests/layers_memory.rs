//! Memory stays flat over many training steps with dfdx's CPU allocation cache on: 300 steps of
//! conv + BN + ReLU, strided conv + BN + ReLU, flatten, with a new input batch fed every step
//! through `images_to_activation`, and an `Sgd` update. The resident set at step 300 may exceed
//! the one at step 50 by at most 5% (plus 4 MiB of allocator slack). This is the only test in this
//! binary, so nothing else allocates meanwhile.

use dfdx::optim::{Momentum, Sgd, SgdConfig};
use dfdx::prelude::*;
use groco_dfdx::layers::{images_to_activation, BatchNormRelu2d, Conv2d, Flatten};
use groco_testkit::memory::rss_bytes;

#[derive(Clone, Debug)]
struct Net<E: Dtype, D: Storage<E>> {
    c1: Conv2d<1, 16, 3, 1, 1, 1, E, D>,
    b1: BatchNormRelu2d<16, E, D>,
    c2: Conv2d<16, 32, 3, 2, 1, 1, E, D>,
    b2: BatchNormRelu2d<32, E, D>,
}

impl<E: groco_dfdx::layers::LayerFloat, D: Device<E>> TensorCollection<E, D> for Net<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("c1", |s| &s.c1, |s| &mut s.c1),
                Self::module("b1", |s| &s.b1, |s| &mut s.b1),
                Self::module("c2", |s| &s.c2, |s| &mut s.c2),
                Self::module("b2", |s| &s.b2, |s| &mut s.b2),
            ),
            |(c1, b1, c2, b2)| Net { c1, b1, c2, b2 },
        )
    }
}

#[test]
fn rss_stays_flat_over_300_training_steps() {
    let dev = Cpu::seed_from_u64(7);
    dev.enable_cache();
    let mut net = Net::<f32, Cpu>::build(&dev);
    let mut opt = Sgd::new(
        &net,
        SgdConfig {
            lr: 0.01,
            momentum: Some(Momentum::Classic(0.9)),
            weight_decay: None,
        },
    );
    let mut grads = net.alloc_grads();
    let (b, h) = (64, 16);
    let mut img = vec![0f32; b * h * h];
    let mut rss_50 = 0;
    for step in 1..=300u64 {
        for (i, v) in img.iter_mut().enumerate() {
            *v = (((i as u64 * 31 + step * 17) % 97) as f32 / 97.0) - 0.5;
        }
        let x = images_to_activation(&dev, &img, b, 1, h, h).unwrap();
        let y = net.c1.try_forward(x.traced(grads)).unwrap();
        let y = net.b1.try_forward_train(y).unwrap();
        let y = net.c2.try_forward(y).unwrap();
        let y = net.b2.try_forward_train(y).unwrap();
        let rows = Flatten::<{ 32 * 8 * 8 }>.try_forward(y).unwrap();
        let loss = rows.square().mean();
        grads = loss.backward();
        opt.update(&mut net, &grads).unwrap();
        net.zero_grads(&mut grads);
        if step == 50 {
            rss_50 = rss_bytes();
        }
    }
    let rss_300 = rss_bytes();
    let limit = rss_50 + rss_50 / 20 + (4 << 20);
    println!(
        "RSS at step 50: {} KiB, at step 300: {} KiB",
        rss_50 >> 10,
        rss_300 >> 10
    );
    assert!(
        rss_300 <= limit,
        "RSS grew from {} KiB at step 50 to {} KiB at step 300",
        rss_50 >> 10,
        rss_300 >> 10
    );
}
