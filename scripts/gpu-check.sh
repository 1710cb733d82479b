#!/usr/bin/env bash
# groco's one prepared GPU check: the CUDA build made here, run on a lent H100/H200 machine that has
# PyTorch (a venv at /opt/*/.venv with CUDA 13 libraries under nvidia/*/lib) but no Rust.
#
#   scripts/gpu-check.sh --pack DIR      here: build (or reuse) the release CUDA trainer and CUDA
#                                        test binaries in target/cuda, gather them stripped into DIR
#                                        with what they need there; fails if DIR + repo >= 50 MB
#   scripts/gpu-check.sh --dry-run [DIR] print what `scripts/gpu-check.sh DIR` would run, in order
#   scripts/gpu-check.sh DIR             on the GPU machine, from the repository copied there
#
# On the GPU machine it recreates the build-machine paths baked into the binaries (symlinks),
# puts the venv's nvidia/*/lib on LD_LIBRARY_PATH with LD_BIND_NOW=1, prints the GPU, then runs:
# every packed test binary with GROCO_REQUIRE_CUDA=1 (a test that needs a GPU fails rather than
# skips); `trainer bench --device cuda` for small-cnn (batch 256, 2 views, 1x28x28) and resnet18
# (batch 256, 2 views, 3x32x32 from a generated CIFAR-10-format set), sampling nvidia-smi for the
# peak GPU memory; benches/torch_train_step.py on the same GPU for both models; and prints one
# table. Every step has a timeout within an overall budget (GROCO_GPU_CHECK_SECONDS, default 440 s,
# inside 8 minutes); the table is printed whatever failed. Results go to $OUT when set (the
# device machine sets it), else DIR/results. Exit 0 only if every test and bench passed.
# docs/gpu.md has the whole workflow.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIMIT_BYTES=50000000        # DIR + the working tree that travels with it
BUDGET=${GROCO_GPU_CHECK_SECONDS:-440}
# Per-step caps (seconds); each is also cut to what is left of BUDGET.
CAP_SETUP=30 CAP_TESTS=140 CAP_TEST_BINARY=90 CAP_OURS_SMALL=50 CAP_OURS_RESNET=80
CAP_TORCH_SMALL=50 CAP_TORCH_RESNET=70
SMALL_ARGS=(--encoder small-cnn --batch-size 256 --steps 20 --warmup 3)
RESNET_ARGS=(--encoder resnet18 --batch-size 256 --steps 10 --warmup 2)
TORCH_SMALL_ARGS=(--model small-cnn --batch-size 256 --steps 20 --warmup 3)
TORCH_RESNET_ARGS=(--model resnet18 --batch-size 256 --steps 10 --warmup 2)

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "gpu-check: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# --pack DIR (build machine)
# ---------------------------------------------------------------------------------------------

# The executables in a cargo --message-format=json stream, as 'MANIFEST EXECUTABLE' lines: the test
# harnesses (`tests`) or the others (`bins`).
executables() {
    local harness='"profile":\{[^}]*"test":true'
    grep '"reason":"compiler-artifact"' | { if [ "$1" = tests ]; then grep -E "$harness"; else grep -Ev "$harness"; fi; } \
        | sed -n 's/.*"manifest_path":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' | sort -u
}

pack() {
    local dir=$1 target json t0=$SECONDS
    set -e
    case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
    cd "$REPO"
    # shellcheck source=scripts/cuda-toolchain.sh
    source scripts/cuda-toolchain.sh
    # The same target dir and profile as .ci/run, so either reuses the other's build.
    export CARGO_TARGET_DIR=target/cuda CARGO_PROFILE_RELEASE_DEBUG=false
    target=$REPO/target/cuda
    mkdir -p "$target"
    json=$target/gpu-pack.json
    cargo build --release -p trainer --features cuda --message-format=json-render-diagnostics >"$json"
    cargo test --no-run --release -p groco-dfdx -p trainer --features groco-dfdx/cuda,trainer/cuda \
        --message-format=json-render-diagnostics >"$json.tests"
    local trainer tests=()
    trainer=$(executables bins <"$json" | awk '$2 ~ /\/trainer$/ {print $2}' | head -1)
    [ -x "$trainer" ] || die "cargo reported no trainer executable"
    mapfile -t tests < <(executables tests <"$json.tests")
    [ "${#tests[@]}" -gt 0 ] || die "cargo reported no test executables"

    rm -rf "$dir"
    mkdir -p "$dir/stage/bin" "$dir/stage/tests" "$dir/include" "$dir/outdirs" "$dir/py"
    objcopy --strip-all "$trainer" "$dir/stage/bin/trainer"
    local line manifest pkg exe name
    : >"$dir/tests.txt"
    for line in "${tests[@]}"; do
        manifest=${line%% *} exe=${line#* }
        pkg=$(basename "$(dirname "$manifest")")
        name=$pkg.$(basename "$exe")
        objcopy --strip-all "$exe" "$dir/stage/tests/$name"
        # package dir (cargo runs tests from there), packed name
        echo "$(dirname "$manifest") $name" >>"$dir/tests.txt"
    done

    # Paths baked in at build time. dfdx's NVRTC kernels #include from CUDA_ROOT/include and from
    # its build OUT_DIR; the tests read files under CARGO_MANIFEST_DIR/.. and run
    # CARGO_BIN_EXE_trainer. The strings sit back to back in the binaries, so match known prefixes.
    local inc=$CUDA_ROOT/include bin all_strings
    all_strings=$(for bin in "$dir"/stage/bin/* "$dir"/stage/tests/*; do strings -n 8 "$bin"; done)
    grep -qF "$inc" <<<"$all_strings" || die "no binary holds $inc: not a CUDA build?"
    mapfile -t outs < <(grep -oE "$target/release/build/[A-Za-z0-9_-]+-[0-9a-f]{16}/out" <<<"$all_strings" | sort -u)
    [ "${#outs[@]}" -gt 0 ] || die "no build OUT_DIR baked into the binaries (dfdx's .cuh files)"
    grep -qF "$target/release/trainer" <<<"$all_strings" || echo "gpu-check: note: no test names $target/release/trainer" >&2
    grep -qF "$REPO/" <<<"$all_strings" || echo "gpu-check: note: no binary names a path under $REPO" >&2
    cp "$inc/cuda_fp16.h" "$inc/cuda_fp16.hpp" "$dir/include/"
    {
        # The repository first: on the GPU machine, paths under it go through its symlink.
        echo "repo $REPO"
        echo "include $inc include"
        local o
        for o in "${outs[@]}"; do
            name=$(basename "$(dirname "$o")")
            mkdir -p "$dir/outdirs/$name"
            cp "$o"/*.cuh "$dir/outdirs/$name/" 2>/dev/null || true
            echo "out $o outdirs/$name"
        done
        echo "trainer-exe $target/release/trainer"
    } >"$dir/baked-paths.txt"

    # diffsort (pure Python, 7 kB) for the PyTorch mirror, in case the GPU venv lacks it.
    local whl=$GROCO_CUDA_DIR/py-wheels
    if ! compgen -G "$whl/diffsort-0.2.0-*.whl" >/dev/null; then
        "$GROCO_CUDA_DIR/venv/bin/python" -m pip download -q --no-deps --only-binary=:all: \
            --dest "$whl" diffsort==0.2.0 || echo "gpu-check: could not fetch diffsort; the GPU venv must have it" >&2
    fi
    cp "$whl"/diffsort-0.2.0-*.whl "$dir/py/" 2>/dev/null || true

    echo "gpu-check: compressing the binaries (xz)" >&2
    tar -C "$dir/stage" -cf - bin tests | xz -T0 -6 >"$dir/binaries.tar.xz"
    {
        echo "groco GPU pack, made $(date -u +%FT%TZ) by scripts/gpu-check.sh --pack"
        echo "commit $(git -C "$REPO" rev-parse HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
        echo "rustc $(rustc --version)"
        echo "nvcc $(nvcc --version | grep -o 'release [0-9.]*'), sm_$CUDA_COMPUTE_CAP, CUDA_ROOT $CUDA_ROOT"
        echo "cargo build --release -p trainer --features cuda"
        echo "cargo test --no-run --release -p groco-dfdx -p trainer --features groco-dfdx/cuda,trainer/cuda"
        echo "(CARGO_TARGET_DIR=target/cuda CARGO_PROFILE_RELEASE_DEBUG=false; binaries objcopy --strip-all)"
        echo "fixtures: not copied; the tests read them from the repository copy, reached via 'repo' below"
        echo
        echo "# baked-paths.txt"
        cat "$dir/baked-paths.txt"
        echo
        echo "# tests.txt (package dir, packed name)"
        cat "$dir/tests.txt"
        echo
        echo "# files: bytes sha256 (binaries before compression)"
        (cd "$dir/stage" && find . -type f | sort | while read -r f; do
            printf '%s %s %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-64)" "binaries.tar.xz:${f#./}"
        done)
        (cd "$dir" && find . -path ./stage -prune -o -type f ! -name manifest.txt -print | sort | while read -r f; do
            printf '%s %s %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-64)" "${f#./}"
        done)
    } >"$dir/manifest.txt"
    rm -rf "$dir/stage"

    # The size that travels: DIR plus the working tree (tracked and untracked, not ignored files;
    # a tracked file deleted in the work tree has no size).
    local dir_bytes repo_bytes total
    dir_bytes=$(du -sb "$dir" | cut -f1)
    repo_bytes=$(git -C "$REPO" ls-files -z -co --exclude-standard | (cd "$REPO" && { xargs -0 stat -c %s -- 2>/dev/null; true; }) \
        | awk '{s += $1} END {print s + 0}')
    case $dir/ in "$REPO"/*)
        if ! git -C "$REPO" check-ignore -q "$dir"; then repo_bytes=$((repo_bytes - dir_bytes)); fi ;;
    esac
    total=$((dir_bytes + repo_bytes))
    echo "gpu-check: packed $((${#tests[@]})) test binaries + trainer into $dir in $((SECONDS - t0)) s"
    echo "gpu-check: size: pack $(numfmt --to=si "$dir_bytes")B + working tree $(numfmt --to=si "$repo_bytes")B = $(numfmt --to=si "$total")B (limit $(numfmt --to=si $LIMIT_BYTES)B)"
    if [ "$total" -ge "$LIMIT_BYTES" ]; then
        echo "gpu-check: TOO LARGE: the pack and the repository together must stay under $(numfmt --to=si $LIMIT_BYTES)B" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------------------------------------
# DIR and --dry-run DIR (GPU machine)
# ---------------------------------------------------------------------------------------------

DRY=0
T_START=$SECONDS
quote() { printf '%q ' "$@" | sed 's/ $//'; }
# Runs (or, in a dry run, only prints) a command, shell-quoted as it runs.
x() {
    printf '+ %s\n' "$(quote "$@")"
    [ "$DRY" = 1 ] || "$@"
}
# x, with the command's output going to LOG.
x_log() { # x_log LOG CMD...
    local log=$1
    shift
    printf '+ %s > %s 2>&1\n' "$(quote "$@")" "$(quote "$log")"
    [ "$DRY" = 1 ] || "$@" >"$log" 2>&1
}
# Seconds a step may take: its cap, cut to what is left of the budget (0: no time left).
step_timeout() {
    local left=$((BUDGET - (SECONDS - T_START)))
    if [ "$left" -ge "$1" ]; then echo "$1"; elif [ "$left" -gt 5 ]; then echo "$left"; else echo 0; fi
}
status_of() { # status_of EXIT-CODE
    case $1 in 0) echo ok ;; 124 | 137) echo "timeout (exit $1)" ;; *) echo "exit $1" ;; esac
}

# The peak GPU memory while a command runs, sampled from nvidia-smi every ~0.2 s: per process
# (compute apps) when the driver lists them, else memory.used less its value before the start.
sample_start() { # sample_start FILE
    if [ "$DRY" = 1 ]; then
        echo "+ (background, every 0.2 s until the next command ends: nvidia-smi --query-compute-apps=used_memory --format=csv,noheader,nounits; nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits) >> $1"
        return
    fi
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1 >"$1.base"
    : >"$1"
    (
        while :; do
            a=$(nvidia-smi --query-compute-apps=used_memory --format=csv,noheader,nounits 2>/dev/null \
                | awk '{s += $1} END {print s + 0}')
            m=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
            echo "$a ${m:-0}" >>"$1"
            sleep 0.2
        done
    ) &
    SAMPLER=$!
}
sample_stop() { # sample_stop FILE: prints the peak in MiB, or "?"
    [ "$DRY" = 1 ] && return
    kill "$SAMPLER" 2>/dev/null
    wait "$SAMPLER" 2>/dev/null
    awk -v base="$(cat "$1.base" 2>/dev/null || echo 0)" '
        {if ($1 > a) a = $1; if ($2 > m) m = $2}
        END {if (a > 0) print a; else if (m > 0) print m - base " (used - base)"; else print "?"}' "$1" 2>/dev/null || echo "?"
}

# A CIFAR-10 binary set of random 3x32x32 images (labels 0-9): 5 x 64 train, 64 test.
CIFAR_PY='import os, random, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True); r = random.Random(0)
for f in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
    open(os.path.join(d, f), "wb").write(b"".join(bytes([i % 10]) + r.randbytes(3072) for i in range(64)))'

run_check() {
    local dir=$1 res venv py nvlib key path rel
    case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
    res=${OUT:-$dir/results}
    if [ "$DRY" = 0 ]; then
        [ -f "$dir/manifest.txt" ] || die "$dir has no manifest.txt: make it with scripts/gpu-check.sh --pack $dir"
        mkdir -p "$res"
        exec > >(tee -a "$res/gpu-check.log") 2>&1
    fi
    echo "== groco GPU check$([ "$DRY" = 1 ] && echo ' (dry run: nothing is run)'): pack $dir, results in $res, budget $BUDGET s"
    [ -f "$dir/manifest.txt" ] && sed -n '1,4p' "$dir/manifest.txt"

    # Setup: the binaries, the build machine's paths, the libraries.
    local u=$dir/unpacked
    x rm -rf "$u"
    x mkdir -p "$u"
    x timeout "$(step_timeout $CAP_SETUP)" tar -C "$u" -xJf "$dir/binaries.tar.xz" \
        || die "cannot unpack $dir/binaries.tar.xz"
    if [ -f "$dir/baked-paths.txt" ]; then
        # The repository first: the other paths may lie under it. A path that exists is left
        # alone (a dry run on the build machine shows the links anyway, marked).
        local absent
        while read -r key path rel; do
            absent=0
            [ -e "$path" ] || absent=1
            [ "$key" = trainer-exe ] && [ -L "$path" ] && absent=1 # never over a real file
            [ "$key" = repo ] && [ "$path" = "$REPO" ] && continue
            if [ "$absent" = 0 ] && [ "$DRY" = 1 ]; then
                echo "# on a machine without $path:"
            elif [ "$absent" = 0 ]; then
                [ "$key" = repo ] && echo "warning: $path exists here and is not this repository; the tests read files there"
                continue
            fi
            x mkdir -p "$(dirname "$path")"
            case $key in
                repo) x ln -sfn "$REPO" "$path" ;;
                include | out) x ln -sfn "$dir/$rel" "$path" ;;
                trainer-exe) x ln -sfn "$u/bin/trainer" "$path" ;;
            esac
        done < <(grep '^repo ' "$dir/baked-paths.txt"; grep -v '^repo ' "$dir/baked-paths.txt")
    else
        echo "+ (no pack: for each line of $dir/baked-paths.txt, mkdir -p and ln -sfn to the pack's include/, outdirs/*, this repository and its trainer at the build machine's paths)"
    fi
    venv=${TORCH_VENV:-$(compgen -G '/opt/*/.venv' | head -1)}
    venv=${venv:-/opt/*/.venv}
    py=${TORCH_PYTHON:-$venv/bin/python}
    nvlib=$(compgen -G "$venv/lib/python3*/site-packages/nvidia/*/lib" | tr '\n' ':')
    nvlib=${nvlib:-$venv/lib/python3*/site-packages/nvidia/*/lib:}
    echo "+ export LD_LIBRARY_PATH=$nvlib\${LD_LIBRARY_PATH:-} LD_BIND_NOW=1 RUST_BACKTRACE=1"
    export LD_LIBRARY_PATH="$nvlib${LD_LIBRARY_PATH:-}" LD_BIND_NOW=1 RUST_BACKTRACE=1
    x timeout 20 nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader
    echo "+ (the venv's NVRTC: the name of $venv/lib/python3*/site-packages/nvidia/*/lib/libnvrtc-builtins.so.*)"
    [ "$DRY" = 1 ] || echo "NVRTC: $(compgen -G "$venv/lib/python3*/site-packages/nvidia/*/lib/libnvrtc-builtins.so.*" | sed 's/.*\///' | head -1)"
    x timeout 20 ldd "$u/bin/trainer"

    # 1. Every test binary, from its package dir as cargo runs it, with a GPU required.
    local -A test_status=()
    local tests_end n_ok=0 n_fail=0 pkgdir name rc log t lines=() line
    tests_end=$(( (SECONDS - T_START) + $(step_timeout $CAP_TESTS) ))
    [ -f "$dir/tests.txt" ] && mapfile -t lines <"$dir/tests.txt"
    [ "${#lines[@]}" -gt 0 ] || echo "+ (no pack: for each line 'PKGDIR NAME' of $dir/tests.txt) cd PKGDIR; timeout -k 5 $CAP_TEST_BINARY env GROCO_REQUIRE_CUDA=1 $u/tests/NAME > $res/test-NAME.log 2>&1"
    for line in "${lines[@]}"; do
        pkgdir=${line% *} name=${line#* }
        t=$((tests_end - (SECONDS - T_START)))
        [ "$t" -gt "$CAP_TEST_BINARY" ] && t=$CAP_TEST_BINARY
        if [ "$t" -lt 5 ]; then
            echo "$name: not run (the test phase's $CAP_TESTS s are spent)"
            test_status[$name]="not run (time)"
            n_fail=$((n_fail + 1))
            continue
        fi
        log=$res/test-$name.log
        echo "+ cd $(quote "$pkgdir")"
        rc=0
        ( [ "$DRY" = 1 ] || cd "$pkgdir" || cd "$REPO"
          x_log "$log" timeout -k 5 "$t" env GROCO_REQUIRE_CUDA=1 "$u/tests/$name" ) || rc=$?
        [ "$DRY" = 1 ] && continue
        test_status[$name]=$(status_of "$rc")
        if [ "$rc" = 0 ]; then n_ok=$((n_ok + 1)); else n_fail=$((n_fail + 1)); fi
        echo "$name: ${test_status[$name]}; $(grep -E '^test result:' "$log" | tail -1)"
        if [ "$rc" != 0 ]; then tail -n 30 "$log" | sed 's/^/    /'; fi
        grep -iE 'did not run' "$log" | sed 's/^/    /' || true
    done

    # 2. Our bench and 3. PyTorch's, for each model.
    local data=$dir/data/cifar10
    x "$py" -c "$CIFAR_PY" "$data"
    local -A ms=() mem=() msg=()
    bench_ours() { # bench_ours MODEL CAP ARGS...
        local model=$1 cap=$2 log=$res/bench-ours-$1.log rc=0 t
        shift 2
        t=$(step_timeout "$cap")
        if [ "$t" = 0 ]; then ms[ours-$model]=failed; msg[ours-$model]="no time left"; return; fi
        sample_start "$res/mem-ours-$model"
        x_log "$log" timeout -k 5 "$t" "$u/bin/trainer" bench --device cuda "$@" || rc=$?
        mem[ours-$model]=$(sample_stop "$res/mem-ours-$model")
        [ "$DRY" = 1 ] && return
        grep -E '^device:|median|error|panicked' "$log" | head -5 | sed 's/^/    /'
        ms[ours-$model]=$(sed -n 's/.*median step \([0-9.]*\) ms.*/\1/p' "$log" | head -1)
        if [ "$rc" != 0 ] || [ -z "${ms[ours-$model]}" ]; then
            ms[ours-$model]=failed
            msg[ours-$model]="$(status_of "$rc"): $(grep -m1 -E 'error|panicked' "$log")"
            tail -n 20 "$log" | sed 's/^/    /'
        fi
    }
    bench_torch() { # bench_torch MODEL CAP ARGS...
        local model=$1 cap=$2 log=$res/bench-torch-$1.log rc=0 t pp="" j
        shift 2
        t=$(step_timeout "$cap")
        if [ "$t" = 0 ]; then ms[torch-$model]=failed; msg[torch-$model]="no time left"; return; fi
        # diffsort from the pack when the venv lacks it (a wheel is importable as a zip)
        if [ "$DRY" = 1 ] || ! "$py" -c 'import diffsort' 2>/dev/null; then
            pp=$(compgen -G "$dir/py/diffsort-*.whl" | head -1)
            [ "$DRY" = 0 ] || echo "# PYTHONPATH only where the venv cannot import diffsort:"
        fi
        sample_start "$res/mem-torch-$model"
        x_log "$log" timeout -k 5 "$t" env PYTHONPATH="$pp" "$py" "$REPO/benches/torch_train_step.py" --device cuda "$@" || rc=$?
        mem[torch-smi-$model]=$(sample_stop "$res/mem-torch-$model")
        [ "$DRY" = 1 ] && return
        grep -E 'median|peak|Error|error' "$log" | head -5 | sed 's/^/    /'
        j=$(tail -n 1 "$log")
        ms[torch-$model]=$("$py" -c 'import json, sys; print("%.1f" % json.loads(sys.argv[1])["median_ms"])' "$j" 2>/dev/null)
        mem[torch-$model]=$("$py" -c 'import json, sys; print("%.0f" % json.loads(sys.argv[1])["peak_allocated_mib"])' "$j" 2>/dev/null)
        if [ "$rc" != 0 ] || [ -z "${ms[torch-$model]}" ]; then
            ms[torch-$model]=failed
            msg[torch-$model]="$(status_of "$rc"): $(grep -m1 -E 'Error|error' "$log")"
            tail -n 20 "$log" | sed 's/^/    /'
        fi
    }
    bench_ours small-cnn "$CAP_OURS_SMALL" "${SMALL_ARGS[@]}"
    bench_ours resnet18 "$CAP_OURS_RESNET" "${RESNET_ARGS[@]}" --dataset "cifar10:$data"
    bench_torch small-cnn "$CAP_TORCH_SMALL" "${TORCH_SMALL_ARGS[@]}"
    bench_torch resnet18 "$CAP_TORCH_RESNET" "${TORCH_RESNET_ARGS[@]}"
    if [ "$DRY" = 1 ]; then
        echo "+ (print the table; write it to $res/gpu-check-table.md and $res/gpu-check.json)"
        return 0
    fi

    # The table, whatever failed.
    local model o p ratio table bad=0 k
    table=$(
        echo "GPU: $(timeout 20 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1); batch 256 images x 2 views, fixed input, median step"
        echo
        echo "| model | ms/step ours | ms/step PyTorch | ratio ours/PyTorch | peak GPU MB ours | peak GPU MB PyTorch | PyTorch by nvidia-smi |"
        echo "|---|---|---|---|---|---|---|"
        for model in small-cnn resnet18; do
            o=${ms[ours-$model]:-failed} p=${ms[torch-$model]:-failed} ratio=failed
            [[ $o =~ ^[0-9.]+$ && $p =~ ^[0-9.]+$ ]] && ratio=$(awk -v a="$o" -v b="$p" 'BEGIN {printf "%.2f", a / b}')
            echo "| $model | $o | $p | $ratio | $([ "$o" = failed ] && echo failed || echo "${mem[ours-$model]:-?}") | $([ "$p" = failed ] && echo failed || echo "${mem[torch-$model]:-?}") | $([ "$p" = failed ] && echo failed || echo "${mem[torch-smi-$model]:-?}") |"
        done
        echo
        echo "ours: trainer bench --device cuda (small-cnn 1x28x28, resnet18 3x32x32); peak memory sampled from nvidia-smi (the whole process, CUDA context included)."
        echo "PyTorch: benches/torch_train_step.py --device cuda; peak = torch.cuda.max_memory_allocated (tensors only); last column sampled like ours."
        for k in ours-small-cnn ours-resnet18 torch-small-cnn torch-resnet18; do
            [ -z "${msg[$k]:-}" ] || echo "$k failed: ${msg[$k]}"
        done
        echo "tests (GROCO_REQUIRE_CUDA=1): $n_ok binaries passed, $n_fail failed or not run"
        for k in "${!test_status[@]}"; do [ "${test_status[$k]}" = ok ] || echo "  $k: ${test_status[$k]}"; done
        echo "time: $((SECONDS - T_START)) s"
    )
    echo
    echo "$table"
    echo "$table" >"$res/gpu-check-table.md"
    {
        printf '{"tests_passed": %s, "tests_failed": %s, "seconds": %s, "bench": {' "$n_ok" "$n_fail" "$((SECONDS - T_START))"
        printf '"%s": {"ours_ms": "%s", "torch_ms": "%s", "ours_peak_mib": "%s", "torch_peak_allocated_mib": "%s", "torch_peak_smi_mib": "%s"}, ' \
            small-cnn "${ms[ours-small-cnn]:-failed}" "${ms[torch-small-cnn]:-failed}" "${mem[ours-small-cnn]:-?}" "${mem[torch-small-cnn]:-?}" "${mem[torch-smi-small-cnn]:-?}"
        printf '"%s": {"ours_ms": "%s", "torch_ms": "%s", "ours_peak_mib": "%s", "torch_peak_allocated_mib": "%s", "torch_peak_smi_mib": "%s"}}}\n' \
            resnet18 "${ms[ours-resnet18]:-failed}" "${ms[torch-resnet18]:-failed}" "${mem[ours-resnet18]:-?}" "${mem[torch-resnet18]:-?}" "${mem[torch-smi-resnet18]:-?}"
    } >"$res/gpu-check.json"
    for model in small-cnn resnet18; do
        [ "${ms[ours-$model]:-failed}" = failed ] && bad=1
        [ "${ms[torch-$model]:-failed}" = failed ] && bad=1
    done
    [ "$n_fail" = 0 ] && [ "$bad" = 0 ]
}

case ${1:-} in
    --pack) [ $# = 2 ] || usage; pack "$2" ;;
    --dry-run) [ $# -le 2 ] || usage; DRY=1; run_check "${2:-gpu-carry}" ;;
    -h | --help | "") usage ;;
    -*) usage ;;
    *) [ $# = 1 ] || usage; run_check "$1" ;;
esac
