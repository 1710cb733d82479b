"""PyTorch mirror of `trainer bench`: one full training step of the trainer's models, timed on CPU or CUDA.

The models are the trainer's, layer for layer (trainer/src/model/{small_cnn,resnet,head}.rs):
  small-cnn: pixels centred to [-1, 1] ((x - 0.5) / 0.5), then
             4 x [Conv3x3 (no bias), BatchNorm2d, ReLU] with channels 1->32->64->128->128 and
             strides 1, 2, 2, 2, then global average pooling to 128 features;
             head Linear(128, 512, no bias), BN1d, ReLU, Linear(512, 512, no bias), BN1d, ReLU,
             Linear(512, 128), BN1d(affine=False). Input: 1 x 28 x 28 (MNIST).
  small-cnn-flat: the same convolutions on [0, 1] pixels, the 4x4x128 map flattened to 2048 features, head
             Linear(2048, 512, no bias), then as small-cnn.
  resnet18:  the CIFAR variant: Conv3x3 stride 1 (3->64, no bias), BN, ReLU, no max-pool; four
             stages of two basic blocks (64, 128, 256, 512 channels; the first block of stages
             2-4 downsamples with stride 2 and a 1x1 stride-2 conv + BN shortcut); global average
             pooling to 512 features; head Linear(512, 2048, no bias), BN1d, ReLU,
             Linear(2048, 2048, no bias), BN1d, ReLU, Linear(2048, 256), BN1d(affine=False).
             Input: 3 x 32 x 32 (CIFAR), as `trainer bench --encoder resnet18 --dataset cifar10:DIR`.
The two views of a batch of B images are stacked into one 2B forward pass (as the trainer does),
the loss is the torch reference GroCo (fixtures/reference_losses.py: diffsort 0.2.0, odd-even,
cauchy, steepness 1, top-10 negatives, stop-grad) or NT-Xent, and the optimiser is SGD with
momentum 0.9 and weight decay 1e-5. Input is one fixed random batch, as `trainer bench` uses
without `--with-data`. All convolutions and BatchNorms are PyTorch's defaults (on CUDA: cuDNN,
with its default TF32 convolutions unless --no-tf32).

usage: python benches/torch_train_step.py [--model small-cnn|small-cnn-flat|resnet18] [--device cpu|cuda]
                                          [--batch-size 256] [--steps 10] [--warmup 2]
                                          [--threads 2] [--loss groco|nt-xent] [--no-tf32]
Prints the median step time and images/s (images, not views, per second); on CUDA also the peak
memory torch allocated (torch.cuda.max_memory_allocated) and reserved. The last line is one JSON
object with the same numbers, for scripts (scripts/gpu-check.sh reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import reference_losses  # noqa: E402
from reference_losses import groco_loss, nt_xent_loss  # noqa: E402


def conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def head(features: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, out), nn.BatchNorm1d(out, affine=False),
    )


def small_cnn_body() -> list:
    return [
        *conv_bn_relu(1, 32, 1), *conv_bn_relu(32, 64, 2),
        *conv_bn_relu(64, 128, 2), *conv_bn_relu(128, 128, 2),
    ]


class Centre(nn.Module):
    """Pixels [0, 1] to [-1, 1]: (x - 0.5) / 0.5, as the trainer's small-cnn takes them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 0.5) / 0.5


def default_model() -> nn.Module:
    """small-cnn (centred input, global average pooling) for 1 channel with its head."""
    encoder = nn.Sequential(Centre(), *small_cnn_body(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(encoder, head(128, 512, 128))


def flat_model() -> nn.Module:
    """small-cnn-flat (the 4x4x128 map flattened to 2048 features) with its head."""
    encoder = nn.Sequential(*small_cnn_body(), nn.Flatten())
    return nn.Sequential(encoder, head(2048, 512, 128))


class BasicBlock(nn.Module):
    """y = ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + s(x)); s = identity, or conv1x1/2 + BN where
    the block downsamples (resnet.rs `Block` and `DownBlock`)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + self.shortcut(x))


def resnet18_model(channels: int = 3) -> nn.Module:
    """CIFAR ResNet-18 (3x3 stem, no max-pool, global average pool) with its head."""
    encoder = nn.Sequential(
        nn.Conv2d(channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        BasicBlock(64, 64, 1), BasicBlock(64, 64, 1),
        BasicBlock(64, 128, 2), BasicBlock(128, 128, 1),
        BasicBlock(128, 256, 2), BasicBlock(256, 256, 1),
        BasicBlock(256, 512, 2), BasicBlock(512, 512, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return nn.Sequential(encoder, head(512, 2048, 256))


# model -> (builder, input channels, side)
MODELS = {
    "small-cnn": (default_model, 1, 28),
    "small-cnn-flat": (flat_model, 1, 28),
    "resnet18": (resnet18_model, 3, 32),
}


class _FactoriesOn:
    """`torch` with zeros/ones/eye/arange defaulting to one device. fixtures/reference_losses.py
    makes its constant tensors without a device (CPU); on CUDA its module-level `torch` is this."""

    def __init__(self, device: torch.device) -> None:
        self._device = device

    def __getattr__(self, name: str):
        return getattr(torch, name)

    def _on(self, f, *args, **kw):
        kw.setdefault("device", self._device)
        return f(*args, **kw)

    def zeros(self, *a, **kw):
        return self._on(torch.zeros, *a, **kw)

    def ones(self, *a, **kw):
        return self._on(torch.ones, *a, **kw)

    def eye(self, *a, **kw):
        return self._on(torch.eye, *a, **kw)

    def arange(self, *a, **kw):
        return self._on(torch.arange, *a, **kw)


def put_reference_losses_on(device: torch.device) -> None:
    """Make the reference losses build their constants and diffsort networks on `device`."""
    if device.type == "cpu":
        return
    reference_losses.torch = _FactoriesOn(device)
    get_net = reference_losses.get_sorting_network
    reference_losses.get_sorting_network = lambda kind, n, _dev: get_net(kind, n, device)
    reference_losses._NETWORK_CACHE.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="small-cnn")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", choices=("groco", "nt-xent"), default="groco")
    ap.add_argument("--no-tf32", action="store_true",
                    help="CUDA: turn off cuDNN's TF32 convolutions (dfdx computes in plain FP32)")
    args = ap.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda: torch.cuda.is_available() is False")
    dev = torch.device(args.device)
    if args.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    put_reference_losses_on(dev)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    build, channels, side = MODELS[args.model]
    model = build().to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    b = args.batch_size
    x = torch.rand(2 * b, channels, side, side).to(dev)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)

    def loss_of(z: torch.Tensor) -> torch.Tensor:
        views = [z[:b], z[b:]]
        if args.loss == "groco":
            return groco_loss(views, topk_neg=10, steepness=1.0, network="odd_even",
                              distribution="cauchy", art_lambda=0.25)
        return nt_xent_loss(views, temperature=0.2)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    times = []
    loss = float("nan")
    for i in range(args.warmup + args.steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = loss_of(model(x))
        out.backward()
        opt.step()
        loss = out.item()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    where = f"threads={torch.get_num_threads()}"
    peak = reserved = None
    if cuda:
        where = f"cuda {torch.cuda.get_device_name(dev)} tf32-conv={torch.backends.cudnn.allow_tf32}"
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        reserved = torch.cuda.max_memory_reserved(dev) / 2**20
    print(f"torch {torch.__version__} {where} model={args.model} loss={args.loss} "
          f"batch={b} (x2 views): median {med * 1e3:.1f} ms/step, {b / med:.1f} images/s "
          f"(min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f} ms, {len(times)} steps, "
          f"last loss {loss:.4f})")
    if cuda:
        print(f"peak GPU memory: {peak:.1f} MiB allocated, {reserved:.1f} MiB reserved by torch")
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "model": args.model,
        "device": args.device, "loss": args.loss, "batch_size": b, "views": 2,
        "input": [channels, side, side], "steps": len(times), "median_ms": med * 1e3,
        "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3, "images_per_s": b / med,
        "last_loss": loss, "peak_allocated_mib": peak, "peak_reserved_mib": reserved,
        "tf32_conv": bool(torch.backends.cudnn.allow_tf32) if cuda else None,
    }))


if __name__ == "__main__":
    main()
