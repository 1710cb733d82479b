"""PyTorch mirror of `trainer bench`: one full training step of the default model, timed on CPU.

The model is the trainer's default, layer for layer (trainer/src/model/small_cnn.rs, head.rs):
  small-cnn: 4 x [Conv3x3 (no bias), BatchNorm2d, ReLU] with channels 1->32->64->128->128 and
             strides 1, 2, 2, 2, then the 4x4x128 map flattened to 2048 features;
  head:      Linear(2048, 512, no bias), BN1d, ReLU, Linear(512, 512, no bias), BN1d, ReLU,
             Linear(512, 128), BN1d(affine=False).
The two views of a batch of B images are stacked into one 2B forward pass (as the trainer does),
the loss is the torch reference GroCo (fixtures/reference_losses.py: diffsort 0.2.0, odd-even,
cauchy, steepness 1, top-10 negatives, stop-grad) or NT-Xent, and the optimiser is SGD with
momentum 0.9 and weight decay 1e-5. Input is one fixed random batch, as `trainer bench` uses
without `--with-data`.

usage: python benches/torch_train_step.py [--batch-size 256] [--steps 10] [--warmup 2]
                                          [--threads 2] [--loss groco|nt-xent]
Prints the median step time and images/s (images, not views, per second).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from reference_losses import groco_loss, nt_xent_loss  # noqa: E402


def conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def default_model() -> nn.Module:
    encoder = nn.Sequential(
        *conv_bn_relu(1, 32, 1), *conv_bn_relu(32, 64, 2),
        *conv_bn_relu(64, 128, 2), *conv_bn_relu(128, 128, 2),
        nn.Flatten(),
    )
    head = nn.Sequential(
        nn.Linear(2048, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(),
        nn.Linear(512, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(),
        nn.Linear(512, 128), nn.BatchNorm1d(128, affine=False),
    )
    return nn.Sequential(encoder, head)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", choices=("groco", "nt-xent"), default="groco")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = default_model().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    b = args.batch_size
    x = torch.rand(2 * b, 1, 28, 28)

    def loss_of(z: torch.Tensor) -> torch.Tensor:
        views = [z[:b], z[b:]]
        if args.loss == "groco":
            return groco_loss(views, topk_neg=10, steepness=1.0, network="odd_even",
                              distribution="cauchy", art_lambda=0.25)
        return nt_xent_loss(views, temperature=0.2)

    times = []
    loss = float("nan")
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = loss_of(model(x))
        out.backward()
        opt.step()
        loss = out.item()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} loss={args.loss} "
          f"batch={b} (x2 views): median {med * 1e3:.1f} ms/step, {b / med:.1f} images/s "
          f"(min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f} ms, {len(times)} steps, "
          f"last loss {loss:.4f})")


if __name__ == "__main__":
    main()
