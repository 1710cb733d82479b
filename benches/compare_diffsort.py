#!/usr/bin/env python3
"""Run groco's criterion bench `sort` and diffsort 0.2.0 on the same shapes, back to back, and compare.

First `cargo bench -p groco-benches --bench sort` runs (skip it with --no-run-rust to read earlier
results); it uses the widest vector ISA the CPU has (groco-dispatch), and the ISA it printed is
reported. Then, for each bench ID below, diffsort (torch CPU, 2 intra-op threads by default, float32,
or float64 for the `_f64` group) runs on random U(-1, 1) input of shape (B, n), cauchy, steepness 1
(as benches/benches/sort.rs):
  forward/...           forward with P under torch.no_grad()
  forward_backward/...  forward with P, then backward of sum(sorted * gs) + sum(P * gP)
                        (gs, gP random U(-1, 1), drawn once) down to x
Each shape is warmed up, then timed repeatedly; the median is reported. groco's figure is criterion's
median, read from <criterion-dir>/<group>/<id>/new/estimates.json (median.point_estimate, ns).
Missing Rust results are reported as such.

Usage:
    /work/venv/bin/python benches/compare_diffsort.py [--no-run-rust] [--criterion-dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import torch
from diffsort.functional import sort as diffsort_sort
from diffsort.networks import get_sorting_network

# (criterion group, criterion id, network, n, B, speed-up target or None); `_f64` groups run in float64
_FB = [
    ("odd_even_cauchy_n11_b1024", "odd_even", 11, 1024, 40.0),
    ("bitonic_cauchy_n32_b256", "bitonic", 32, 256, 30.0),
    ("bitonic_cauchy_n256_b4", "bitonic", 256, 4, 100.0),
    ("bitonic_cauchy_n1024_b1", "bitonic", 1024, 1, 300.0),
]
SHAPES = [("forward", "odd_even_cauchy_n11_b1024", "odd_even", 11, 1024, None)]
SHAPES += [("forward_backward", *row) for row in _FB]
SHAPES += [("forward_backward_f64", i, net, n, b, None) for (i, net, n, b, _) in _FB]


def fmt_time(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_vector_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    keep = [f for f in flags if f in ("sse4_2", "avx", "avx2", "fma") or f.startswith("avx512")]
                    return " ".join(sorted(keep))
    except OSError:
        pass
    return "unknown"


def time_shape(group: str, network: str, n: int, batch: int, steepness: float, args) -> dict:
    net = get_sorting_network(network, n, "cpu")
    gen = torch.Generator().manual_seed(args.seed)
    dtype = torch.float64 if group.endswith("_f64") else torch.float32
    def uniform(*shape):  # U(-1, 1), as the Rust bench draws its inputs
        return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1).to(dtype)
    x0, gs, gp = uniform(batch, n), uniform(batch, n), uniform(batch, n, n)

    if group == "forward":
        def step():
            with torch.no_grad():
                return diffsort_sort(net, x0, steepness=steepness, distribution="cauchy")
    else:
        def step():
            x = x0.clone().requires_grad_(True)
            srt, perm = diffsort_sort(net, x, steepness=steepness, distribution="cauchy")
            ((srt * gs).sum() + (perm * gp).sum()).backward()
            return x.grad

    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    for _ in range(max(0, args.warmup - 1) if first > 1.0 else args.warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < args.min_reps or (time.perf_counter() - start < args.min_time
                                         and len(times) < args.max_reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return {"median_ns": statistics.median(times) * 1e9, "min_ns": min(times) * 1e9, "reps": len(times)}


def criterion_median(root: str, group: str, bench_id: str) -> tuple[float | None, str]:
    path = os.path.join(root, group, bench_id, "new", "estimates.json")
    try:
        with open(path) as f:
            return float(json.load(f)["median"]["point_estimate"]), path
    except (OSError, KeyError, ValueError, TypeError):
        return None, path


def main() -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(repo, "target"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", default=os.path.join(target, "criterion"),
                    help="criterion output root (default: $CARGO_TARGET_DIR or <repo>/target, + /criterion)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--steepness-odd-even", type=float, default=1.0,
                    help="steepness for odd_even shapes (default 1: GroCo's default, as the Rust bench)")
    ap.add_argument("--steepness-bitonic", type=float, default=1.0,
                    help="steepness for bitonic shapes (default 1, as benches/benches/sort.rs)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per shape (1 if a run takes > 1 s)")
    ap.add_argument("--min-reps", type=int, default=5)
    ap.add_argument("--max-reps", type=int, default=200)
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timed runs per shape, at least")
    ap.add_argument("--only", default="", help="substring filter on '<group>/<id>'")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="", help="also write the results to this JSON file")
    ap.add_argument("--no-run-rust", action="store_true",
                    help="do not run `cargo bench -p groco-benches --bench sort` first; read earlier results")
    args = ap.parse_args()

    load_start = os.getloadavg()
    isa = "unknown (--no-run-rust)"
    if not args.no_run_rust:
        cmd = ["cargo", "bench", "-p", "groco-benches", "--bench", "sort"]
        if args.only:
            cmd += ["--", args.only]
        print(f"# running {' '.join(cmd)}", file=sys.stderr, flush=True)
        run = subprocess.run(cmd, cwd=repo, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(run.stderr[-2000:])
        if run.returncode != 0:
            print(f"`{' '.join(cmd)}` failed with exit code {run.returncode}", file=sys.stderr)
            return run.returncode
        m = re.search(r"groco-dispatch ISA: (\S+)", run.stderr)
        isa = m.group(1) if m else "not printed"

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    results = []
    for group, bench_id, network, n, batch, target_ratio in SHAPES:
        full_id = f"{group}/{bench_id}"
        if args.only and args.only not in full_id:
            continue
        steep = args.steepness_odd_even if network == "odd_even" else args.steepness_bitonic
        r = time_shape(group, network, n, batch, steep, args)
        groco_ns, path = criterion_median(args.criterion_dir, group, bench_id)
        r.update(id=full_id, steepness=steep, groco_median_ns=groco_ns, criterion_file=path,
                 target=target_ratio)
        results.append(r)
        print(f"# {full_id}: diffsort median {fmt_time(r['median_ns'])} over {r['reps']} runs "
              f"(min {fmt_time(r['min_ns'])}), steepness {steep}", file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    print("## diffsort vs groco: differentiable sort, forward (+ backward), CPU\n")
    print("| shape | diffsort median | diffsort min | groco median | ratio (diffsort / groco) | target |")
    print("|---|---|---|---|---|---|")
    missing = []
    for r in results:
        g = r["groco_median_ns"]
        ratio = f"{r['median_ns'] / g:.1f}×" if g else "n/a"
        target_s = f"≥ {r['target']:g}×" if r["target"] else "–"
        print(f"| `{r['id']}` | {fmt_time(r['median_ns'])} | {fmt_time(r['min_ns'])} | {fmt_time(g)} "
              f"| {ratio} | {target_s} |")
        if g is None:
            missing.append(r["criterion_file"])
    print()
    if missing:
        print(f"groco results missing ({len(missing)}): no criterion estimates at")
        for p in missing:
            print(f"  {p}")
        print("run `cargo bench -p groco-benches --bench sort` (or pass --criterion-dir).\n")

    try:
        diffsort_version = importlib.metadata.version("diffsort")
    except importlib.metadata.PackageNotFoundError:
        diffsort_version = "unknown"
    machine = {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "diffsort": diffsort_version,
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "loadavg_start": [round(v, 2) for v in load_start],
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in load_after],
        "groco_isa": isa, "cpu_flags": cpu_vector_flags(),
    }
    print(f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs; Python {machine['python']}, "
          f"torch {machine['torch']} ({machine['torch_threads']} intra-op / "
          f"{machine['torch_interop_threads']} inter-op threads), diffsort {machine['diffsort']}.")
    print(f"CPU vector flags: {machine['cpu_flags']}; groco ran on the {isa} path.")
    print(f"Load average (1/5/15 min) at the start {machine['loadavg_start']}, before diffsort "
          f"{machine['loadavg_before']} (the one-thread Rust bench adds about 1), after {machine['loadavg_after']}.")
    spare = max(0.5, (os.cpu_count() or 1) - args.threads)
    if load_start[0] > spare:
        print(f"WARNING: the machine was busy (1-min load above {spare:g} with {args.threads} torch threads on "
              f"{os.cpu_count()} CPUs): these timings are inflated and noisy; rerun on an idle machine.")
    print(f"diffsort: float32 (float64 for the _f64 rows), cauchy, steepness {args.steepness_odd_even} (odd_even) / "
          f"{args.steepness_bitonic} (bitonic); cauchy's cost does not depend on steepness. "
          f"Medians over >= {args.min_reps} runs and >= {args.min_time} s after {args.warmup} warm-up runs. "
          "groco: criterion median (see the Rust bench for its thread count and build flags).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
