#!/usr/bin/env bash
# groco's CUDA build toolchain, for machines with no GPU, no NVIDIA driver and no system CUDA.
#
#   source scripts/cuda-toolchain.sh            # sets up (first time: ~1 GB download), exports the env
#   bash scripts/cuda-toolchain.sh              # sets up, prints the `export` lines (eval-able)
#   bash scripts/cuda-toolchain.sh CMD ARGS...  # sets up, runs CMD in the env
#
# Why: `trainer --features cuda` builds dfdx 0.13's real CUDA path. Its build script compiles the
# .cu kernels with nvcc, cudarc links against libcuda/libnvrtc/libcublas/libcublasLt, and the
# binary compiles some kernels at run time with NVRTC from headers under CUDA_ROOT/include. None
# of that is on the build machines, so this script installs, into GROCO_CUDA_DIR (default
# $HOME/.cache/groco-cuda; reused across runs: pip is skipped when the pinned set is installed,
# and the downloaded wheels stay in wheels/, so a rebuilt venv installs offline):
#   venv/       the pinned CUDA 13.0 PyPI wheels: nvcc, crt, nvvm, cccl, runtime headers, nvrtc,
#               cublas. 13.0 on purpose: the lent GPU machines run a CUDA 13.0 driver, which loads
#               PTX ISA <= 9.0 only, and newer nvcc releases write newer PTX.
#   cuda/       the CUDA_ROOT the build sees: include/ (the wheels' headers) and lib/ with the
#               unversioned link names plus a STUB libcuda.so (SONAME libcuda.so.1) defining every
#               cu* function cudarc declares, each returning 100 = CUDA_ERROR_NO_DEVICE. It is
#               for linking and for no-device runs here; never ship it to a GPU machine.
#   bin/        a stand-in `nvidia-smi` that answers only `--query-gpu=compute_cap` with 9.0
#               (sm_90: H100/H200), which dfdx's build script asks.
#   nodevice/   the stub as libcuda.so.1, so a CUDA build RUNS here and sees "a driver, no device".
# Exported: PATH (nvcc, the stand-in nvidia-smi), CUDA_ROOT, CUDA_COMPUTE_CAP=90, GROCO_CUDA_DIR,
#   GROCO_CUDA_LIB_DIR       the wheels' lib dir (libnvrtc.so.13, libcublas.so.13, libcublasLt.so.13),
#   GROCO_STUB_DRIVER_DIR    the nodevice/ dir,
#   GROCO_CUDA_RUNTIME_PATH  both, for LD_LIBRARY_PATH when running a CUDA-built binary here;
# and, when sourced, the function `groco_with_stub_driver CMD ARGS...` that runs CMD with it.
# The workspace depends on dfdx with default-features = false: dfdx's defaults would pull cudarc's
# curand, which these wheels do not provide. Nothing outside GROCO_CUDA_DIR is changed.

_groco_cuda_pins="nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88
nvidia-cublas==13.0.2.14"

# The file work; runs in its own bash process under `set -euo pipefail` (`--install-only`). A new
# process, not a subshell: a subshell would inherit the caller's `set -e` being ignored when this
# file is sourced inside `if`, `||` or `&&`, and carry on past a failed download.
_groco_cuda_install() {
    local G=$GROCO_CUDA_DIR pins=$_groco_cuda_pins repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    exec 9>"$G/.lock"
    flock 9

    # 1. The wheels.
    if [[ ! -x "$G/venv/bin/python" ]] || ! "$G/venv/bin/python" -c '' 2>/dev/null; then
        rm -rf "$G/venv"
        python3 -m venv "$G/venv"
    fi
    if [[ "$(cat "$G/venv/.groco-pins" 2>/dev/null)" != "$pins" ]] \
        || ! compgen -G "$G/venv/lib/python3*/site-packages/nvidia/cu13/bin/nvcc" >/dev/null; then
        echo "cuda-toolchain: installing CUDA 13.0 wheels into $G/venv" >&2
        # The wheels are kept in $G/wheels: PyPI's files come back uncacheable, so pip's own
        # HTTP cache keeps nothing, and a rebuilt venv should not download 700 MB again.
        pip=("$G/venv/bin/python" -m pip --disable-pip-version-check --no-input -q
            --cache-dir "$G/pip-cache")
        # shellcheck disable=SC2086 # one pin a word
        if ! "${pip[@]}" install --no-index --find-links "$G/wheels" $pins 2>/dev/null; then
            echo "cuda-toolchain: downloading them first (~700 MB)" >&2
            "${pip[@]}" download --only-binary=:all: --dest "$G/wheels" $pins
            "${pip[@]}" install --no-index --find-links "$G/wheels" $pins
        fi
        printf '%s' "$pins" >"$G/venv/.groco-pins"
    fi
    W=$(compgen -G "$G/venv/lib/python3*/site-packages/nvidia/cu13" | head -1)
    [[ -x "$W/bin/nvcc" && -f "$W/include/cuda.h" && -f "$W/lib/libnvrtc.so.13" ]] || {
        echo "cuda-toolchain: $W lacks nvcc, cuda.h or libnvrtc.so.13" >&2
        exit 1
    }

    # 2. The CUDA root.
    mkdir -p "$G/cuda/lib" "$G/bin" "$G/nodevice" "$G/stub"
    ln -sfn "$W/include" "$G/cuda/include"
    for l in nvrtc cublas cublasLt; do
        [[ -e "$W/lib/lib$l.so.13" ]] || { echo "cuda-toolchain: no lib$l.so.13 in $W/lib" >&2; exit 1; }
        ln -sfn "$W/lib/lib$l.so.13" "$G/cuda/lib/lib$l.so"
    done

    # 3. The stub driver, from the cudarc version in Cargo.lock (rebuilt when it changes).
    ver=$(awk '/^name = "cudarc"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$repo/Cargo.lock")
    ver=${ver:-0.9.15}
    if [[ "$(cat "$G/stub/cudarc-version" 2>/dev/null)" != "$ver" || ! -f "$G/cuda/lib/libcuda.so" ]]; then
        reg="${CARGO_HOME:-$HOME/.cargo}/registry/src"
        src=$(compgen -G "$reg/*/cudarc-$ver" | head -1 || true)
        if [[ -z "$src" ]]; then
            echo "cuda-toolchain: cudarc-$ver sources absent; cargo fetch" >&2
            cargo fetch --manifest-path "$repo/Cargo.toml" >&2
            src=$(compgen -G "$reg/*/cudarc-$ver" | head -1)
        fi
        grep -o 'pub fn cu[A-Za-z0-9_]*' "$src/src/driver/sys.rs" | awk '{print $3}' | sort -u \
            >"$G/stub/symbols.txt"
        {
            echo "/* Generated by groco scripts/cuda-toolchain.sh from cudarc-$ver: a libcuda.so.1 with"
            echo "   no device. Every driver call returns 100 = CUDA_ERROR_NO_DEVICE. */"
            echo 'typedef int CUresult;'
            echo 'static const char *name_of(int e) {'
            echo '    switch (e) {'
            echo '    case 0: return "CUDA_SUCCESS";'
            echo '    case 3: return "CUDA_ERROR_NOT_INITIALIZED";'
            echo '    case 100: return "CUDA_ERROR_NO_DEVICE";'
            echo '    default: return "CUDA_ERROR_UNKNOWN";'
            echo '    }'
            echo '}'
            echo 'static const char *text_of(int e) {'
            echo '    switch (e) {'
            echo '    case 0: return "no error";'
            echo '    case 100: return "no CUDA-capable device is detected (groco stub libcuda: no GPU on this machine)";'
            echo '    default: return "groco stub libcuda: no GPU on this machine";'
            echo '    }'
            echo '}'
            echo 'CUresult cuGetErrorName(int e, const char **p) { *p = name_of(e); return 0; }'
            echo 'CUresult cuGetErrorString(int e, const char **p) { *p = text_of(e); return 0; }'
            grep -v -x -e cuGetErrorName -e cuGetErrorString "$G/stub/symbols.txt" \
                | sed 's/.*/CUresult &(void) { return 100; }/'
        } >"$G/stub/libcuda_stub.c"
        gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$G/stub/libcuda.so.tmp" "$G/stub/libcuda_stub.c"
        mv -f "$G/stub/libcuda.so.tmp" "$G/cuda/lib/libcuda.so"
        echo "$ver" >"$G/stub/cudarc-version"
        echo "cuda-toolchain: stub libcuda.so.1 with $(wc -l <"$G/stub/symbols.txt") symbols of cudarc-$ver" >&2
    fi
    ln -sfn "$G/cuda/lib/libcuda.so" "$G/nodevice/libcuda.so.1"

    # 4. The stand-in nvidia-smi: compute capability only, "no driver" for anything else.
    cat >"$G/bin/nvidia-smi.tmp" <<'EOF'
#!/bin/sh
# groco stand-in (scripts/cuda-toolchain.sh): there is no GPU here. dfdx's build script asks
# `nvidia-smi --query-gpu=compute_cap --format=csv`; answer sm_90 (H100/H200), nothing else.
for a in "$@"; do
    case $a in --query-gpu=compute_cap) printf 'compute_cap\n9.0\n'; exit 0 ;; esac
done
echo "nvidia-smi (groco stand-in): no NVIDIA driver on this machine" >&2
exit 9
EOF
    chmod +x "$G/bin/nvidia-smi.tmp"
    mv -f "$G/bin/nvidia-smi.tmp" "$G/bin/nvidia-smi"
}

# Installs (when needed) and exports the environment into the current shell.
_groco_cuda_env() {
    local w
    GROCO_CUDA_DIR=${GROCO_CUDA_DIR:-$HOME/.cache/groco-cuda}
    # shellcheck disable=SC2015 # any failure, including the install, is the `||` branch
    mkdir -p "$GROCO_CUDA_DIR" && GROCO_CUDA_DIR=$(cd "$GROCO_CUDA_DIR" && pwd) \
        && GROCO_CUDA_DIR=$GROCO_CUDA_DIR bash "${BASH_SOURCE[0]}" --install-only \
        || { echo "cuda-toolchain: setup failed" >&2; return 1; }
    w=$(compgen -G "$GROCO_CUDA_DIR/venv/lib/python3*/site-packages/nvidia/cu13" | head -1)
    case ":$PATH:" in
        *":$GROCO_CUDA_DIR/bin:"*) ;;
        *) PATH="$GROCO_CUDA_DIR/bin:$w/bin:$PATH" ;;
    esac
    export PATH GROCO_CUDA_DIR
    export CUDA_ROOT="$GROCO_CUDA_DIR/cuda" CUDA_COMPUTE_CAP=90
    export GROCO_CUDA_LIB_DIR="$w/lib" GROCO_STUB_DRIVER_DIR="$GROCO_CUDA_DIR/nodevice"
    export GROCO_CUDA_RUNTIME_PATH="$GROCO_STUB_DRIVER_DIR:$GROCO_CUDA_LIB_DIR"
    # cudarc and dfdx take the first of CUDA_PATH, CUDA_ROOT, ... that holds include/cuda.h.
    unset CUDA_PATH CUDA_TOOLKIT_ROOT_DIR CUDNN_LIB
    echo "cuda-toolchain: nvcc $(nvcc --version | grep -o 'release [0-9.]*' || echo '?'), CUDA_ROOT=$CUDA_ROOT, sm_$CUDA_COMPUTE_CAP" >&2
}

# Runs a command with the stub driver and the wheels' CUDA libraries on LD_LIBRARY_PATH: a
# CUDA-built binary then starts here and finds a driver with no device.
groco_with_stub_driver() {
    LD_LIBRARY_PATH="$GROCO_CUDA_RUNTIME_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    if [[ "${1:-}" == --install-only ]]; then
        _groco_cuda_install
        exit 0
    fi
    _groco_cuda_env
    if [[ $# -gt 0 ]]; then
        exec "$@"
    fi
    for v in PATH CUDA_ROOT CUDA_COMPUTE_CAP GROCO_CUDA_DIR GROCO_CUDA_LIB_DIR GROCO_STUB_DRIVER_DIR \
        GROCO_CUDA_RUNTIME_PATH; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
else
    _groco_cuda_env
fi
