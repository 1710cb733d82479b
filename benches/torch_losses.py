#!/usr/bin/env python3
"""Time the torch reference losses (fixtures/reference_losses.py) on the shapes of groco's criterion
bench `loss`, and compare with criterion's medians.

Each bench ID runs the reference in float32 on CPU with torch.set_num_threads(2) (override with
--threads): forward of the whole loss from two views (B, 128) built as in benches/benches/loss.rs
(shared base + noise, row norms over two decades), then backward to the views. The reference is
the official-style formulation (per-anchor stacks and matmuls, diffsort for the relaxed sort).
Each shape is warmed up, then timed --reps times; the median is reported. groco's figure is
criterion's median from <criterion-dir>/<group>/<id>/new/estimates.json, so run
`cargo bench -p groco-benches --bench loss` first.

Usage:
    /work/venv/bin/python benches/torch_losses.py [--criterion-dir target/criterion] [--reps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import reference_losses as ref  # noqa: E402

# (criterion group, id, loss, B, D, k)
SHAPES = [
    ("groco", "v2_b256_d128_k10", "groco", 256, 128, 10),
    ("groco", "v2_b1024_d128_k10", "groco", 1024, 128, 10),
    ("nt_xent", "v2_b256_d128", "nt_xent", 256, 128, None),
]


def views(batch: int, dim: int, seed: int = 2023) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(batch, dim, generator=g) * 2 - 1
    out = []
    for _ in range(2):
        v = base + 0.5 * (torch.rand(batch, dim, generator=g) * 2 - 1)
        v = v * 10.0 ** (torch.rand(batch, 1, generator=g) * 2 - 1)
        out.append(v.float().requires_grad_(True))
    return out


def step(kind: str, vs: list[torch.Tensor], k: int | None) -> None:
    for v in vs:
        v.grad = None
    loss = ref.groco_loss(vs, topk_neg=k) if kind == "groco" else ref.nt_xent_loss(vs, 0.5)
    loss.backward()


def time_torch(kind: str, batch: int, dim: int, k: int | None, reps: int) -> float:
    vs = views(batch, dim)
    for _ in range(3):
        step(kind, vs, k)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step(kind, vs, k)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e9


def criterion_ns(root: str, group: str, bench_id: str) -> float | None:
    path = os.path.join(root, group, bench_id, "new", "estimates.json")
    try:
        with open(path) as f:
            return float(json.load(f)["median"]["point_estimate"])
    except (OSError, KeyError, ValueError):
        return None


def fmt(ns: float | None) -> str:
    return "n/a" if ns is None else f"{ns / 1e6:.3g} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", default=os.path.join("target", "criterion"))
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, float32, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'bench':<30} {'torch':>10} {'groco':>10} {'torch/groco':>12}")
    for group, bench_id, kind, batch, dim, k in SHAPES:
        t = time_torch(kind, batch, dim, k, args.reps)
        g = criterion_ns(args.criterion_dir, group, bench_id)
        ratio = "n/a" if g is None else f"{t / g:.1f}x"
        print(f"{group + '/' + bench_id:<30} {fmt(t):>10} {fmt(g):>10} {ratio:>12}")


if __name__ == "__main__":
    main()
