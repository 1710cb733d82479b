#!/usr/bin/env bash
# Bounded fuzz smoke run for CI: builds every cargo-fuzz target (stable toolchain, see README.md)
# and runs each for FUZZ_SECONDS (default 20) from its saved regression inputs, in a scratch
# corpus that is thrown away. Exits non-zero on the first crash; the crashing input is left in
# fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/ once fixed).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). Usage: fuzz/smoke.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(idx_reader cifar_reader stl10_reader checkpoint_loader config_parser core_sort core_row_loss)
fi
# dfdx 0.13 does not build on nightly, so build with the pinned stable toolchain and let it
# accept the -Z flags cargo-fuzz passes (dfdx's build script still sees a stable rustc).
export RUSTC_BOOTSTRAP=1
if [ $# -eq 0 ]; then
    nice -n 19 cargo fuzz build
else
    for t in "${targets[@]}"; do nice -n 19 cargo fuzz build "$t"; done
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    echo "fuzz smoke: $t for ${seconds}s"
    rc=0
    nice -n 19 cargo fuzz run "$t" "$scratch/$t" "fuzz/regressions/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$scratch/$t.log" 2>&1 || rc=$?
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$scratch/$t.log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$scratch/$t.log"
        echo "fuzz smoke: $t FAILED (exit $rc)"
        exit 1
    fi
done
echo "fuzz smoke: all ${#targets[@]} targets ran ${seconds}s without a finding"
