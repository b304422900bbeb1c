#!/usr/bin/env bash
# The GPU session in one or two calls (the machine has no .NET and no network). From the repository root, with the published
# tarball carried along (`./build.sh publish` makes publish/linux-x64.tar.gz):
#   bash tools/gpu-run.sh [steps]    steps: any of tests, memcheck, bench (default: tests bench; all three may pass
#                                    the device tool's 10-minute limit, so run memcheck as a second call)
# 1. the CUDA test category: every kernel against its CPU twin, a full training step against the CPU engine;
# 2. compute-sanitizer memcheck over the op and training-step parity tests (memcheck is slow: small shapes only);
# 3. mafn bench train --device cuda --json: a ~1B llama shape at sequence 512, tokens/s, MFU, 4 agents in one pass vs 4.
# Logs go to $OUT (the device tool's output folder) or ./gpu-out; a failing step does not stop the later ones.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/publish/linux-x64"
if [[ ! -x "$bin/mafn" ]]; then
  [[ -f "$root/publish/linux-x64.tar.gz" ]] || { echo "gpu-run.sh: no publish/linux-x64 or its .tar.gz; run ./build.sh publish and carry it" >&2; exit 1; }
  tar -xzf "$root/publish/linux-x64.tar.gz" -C "$root/publish"
fi
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
# publish/ is git-ignored, so the compiled kernels stay on a warm machine between calls
export MAFN_KERNEL_CACHE="$root/publish/kernel-cache"
# NVRTC, cuBLAS and NVTX live beside the toolkit, often outside the loader's default path
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/extras/CUPTI/lib64; do
  [[ -d "$dir" ]] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$dir"
done
steps=" ${*:-tests bench} "
want() { [[ "$steps" == *" $1 "* ]]; }
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
ls /usr/local/cuda/lib64 2>/dev/null | grep -E "nvrtc|cublas|nvToolsExt" > "$out/cuda-libs.txt"

if want tests; then
  echo "== CUDA tests"
  "$bin/MultiagentNative.Tests" --filter "TestCategory=Cuda" --timeout 8m > "$out/tests.log" 2>&1
  echo "tests rc=$?" | tee -a "$out/summary.txt"
  grep -E "^(failed|skipped) |  total:|  failed:|  succeeded:|  skipped:" "$out/tests.log" | head -60
fi

if want memcheck && command -v compute-sanitizer >/dev/null 2>&1; then
  echo "== compute-sanitizer memcheck"
  compute-sanitizer --tool memcheck --error-exitcode 3 --target-processes all \
    "$bin/MultiagentNative.Tests" --filter "FullyQualifiedName~CudaOpParityTests|FullyQualifiedName~CudaTrainingStepParityTests" \
    > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$?" | tee -a "$out/summary.txt"
  grep -E "ERROR SUMMARY|Invalid|out of bounds|  failed:" "$out/memcheck.log" | head -20
fi

if want bench; then
  echo "== bench train"
  "$bin/mafn" bench train --device cuda --json > "$out/bench-train.json" 2> "$out/bench-train.log"
  echo "bench rc=$?" | tee -a "$out/summary.txt"
  cat "$out/bench-train.json"; tail -5 "$out/bench-train.log"
fi
