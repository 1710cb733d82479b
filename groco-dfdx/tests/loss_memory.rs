//! Memory stays flat when the loss ops run in a training loop with dfdx's `Cpu` cache on: 300
//! steps of a linear head trained by `groco_loss` and `nt_xent`, resident set at step 50 against
//! step 300 (the ops create their outputs with `zeros_like` + `copy_from` and keep their host
//! buffers in the bounded scratch pool; see the crate docs).

use dfdx::optim::{Sgd, SgdConfig};
use dfdx::prelude::*;
use groco_dfdx::loss::{groco_loss, nt_xent, GrocoConfig};
use groco_testkit::memory::rss_bytes;

#[test]
fn rss_stays_flat_over_300_loss_steps() {
    let dev = Cpu::seed_from_u64(3);
    dev.enable_cache();
    let mut head = dev.build_module::<Linear<32, 16>, f32>();
    let mut opt = Sgd::new(
        &head,
        SgdConfig {
            lr: 0.05,
            momentum: None,
            weight_decay: None,
        },
    );
    let mut grads = head.alloc_grads();
    let b = 96;
    let mut x1: Tensor<(usize, Const<32>), f32, Cpu> = dev.zeros_like(&(b, Const));
    let mut x2 = x1.clone();
    let (mut buf1, mut buf2) = (vec![0f32; b * 32], vec![0f32; b * 32]);
    let mut rss_50 = 0;
    for step in 1..=300u64 {
        for (i, (a, c)) in buf1.iter_mut().zip(buf2.iter_mut()).enumerate() {
            let base = (((i as u64 * 31 + step * 17) % 97) as f32 / 97.0) - 0.5;
            *a = base;
            *c = base + (((i as u64 * 7 + step) % 13) as f32 - 6.0) / 60.0;
        }
        x1.copy_from(&buf1);
        x2.copy_from(&buf2);
        let z1 = head.forward(x1.trace(grads));
        let z2 = head.forward(x2.leaky_trace());
        let loss = if step % 2 == 0 {
            groco_loss([z1, z2], GrocoConfig::default()).unwrap()
        } else {
            nt_xent([z1, z2], 0.5).unwrap()
        };
        grads = loss.backward();
        opt.update(&mut head, &grads).unwrap();
        head.zero_grads(&mut grads);
        if step == 50 {
            rss_50 = rss_bytes();
        }
    }
    let rss_300 = rss_bytes();
    println!(
        "RSS at step 50: {} KiB, at step 300: {} KiB",
        rss_50 >> 10,
        rss_300 >> 10
    );
    assert!(
        rss_300 <= rss_50 + rss_50 / 20 + (4 << 20),
        "RSS grew from {} KiB at step 50 to {} KiB at step 300",
        rss_50 >> 10,
        rss_300 >> 10
    );
}
