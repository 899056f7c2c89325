#!/usr/bin/env bash
# The device check for a machine with a GPU (the lent H200 has no network): the ViT-B/16 vision graph,
# scoring and one K = 8 enrollment on cpu, cuda and webgpu, fp32 and fp16 on the GPUs (each provider's
# figures beside the CPU's, and a plain line for each provider that failed to load and why); a CUDA
# probe (the CUDA and cuDNN libraries the machine has, whether onnxruntime's CUDA provider library is
# present and what it lacks); then the whole service through NATS (bench/nats_bench.ts: throughput
# as a ratio to the bare vision graph, latency) on each GPU provider that loaded, at fp32 and fp16.
#
# It runs from what the working tree carries: a deno binary (PATH, or .tools/deno), node_modules with
# onnxruntime-node (`deno install` here first), and ../shared or a copy of the bottle images. On a
# machine without network, carry .gpu/ made by bench/gpu-pack.sh: it is unpacked here. The CUDA
# provider is not in onnxruntime-node's npm package: without its libraries the cuda line says so.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHARED="../shared"
if [ -f .gpu/bundle.tar.xz ]; then
  tar -xJf .gpu/bundle.tar.xz
  SHARED=".gpu/shared"
  # The carried Vulkan loader goes into / only where the machine has none (a bare GPU image).
  if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
    echo "gpu-check: no Vulkan loader here: unpacking the carried one into / for WebGPU"
    for deb in .gpu/deb/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  fi
  # The NVIDIA driver's Vulkan ICD lives outside the loader's default search path on such images.
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
fi
DENO="$(command -v deno || true)"
[ -n "$DENO" ] || DENO=".tools/deno"
if [ ! -x "$DENO" ]; then
  echo "gpu-check: no deno on PATH and no .tools/deno: carry one (mkdir -p .tools && cp \"\$(command -v deno)\" .tools/)"
  exit 2
fi
# nats-server for the service bench: Debian's, or the one gpu-pack.sh carried in .tools/.
export PATH="$PATH:/usr/sbin:$PWD/.tools"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== CUDA probe"
nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' || echo "cuda: no nvidia-smi"
ldconfig -p | grep -E 'lib(cudart|cublas|cublasLt|cudnn|cufft|curand|nvrtc)\.so' | sed 's/^/cuda lib: /' ||
  echo "cuda: ldconfig knows no CUDA runtime, cuBLAS or cuDNN library"
for dir in /usr/local/cuda*/lib64 /usr/local/nvidia/lib64; do
  [ -d "$dir" ] && ls "$dir" | grep -E '^lib(cudart|cublas|cudnn)' | sed "s|^|cuda lib file: $dir/|"
done
provider="$(find node_modules -name 'libonnxruntime_providers_cuda.so' 2>/dev/null | head -1)"
if [ -n "$provider" ]; then
  echo "cuda: onnxruntime's CUDA provider library: $provider"
  ldd "$provider" | grep 'not found' | sed 's/^/cuda: provider lacks /' || echo "cuda: every library the provider links resolves"
else
  echo "cuda: onnxruntime-node carries no libonnxruntime_providers_cuda.so: the cuda runs below fall back, and say why"
fi

# GPU_CHECK_DEVICES narrows the run (default: all three); GPU_CHECK_PRECISIONS the GPUs' precisions.
loaded=()
for device in ${GPU_CHECK_DEVICES:-cpu cuda webgpu}; do
  precisions="fp32"
  [ "$device" != cpu ] && precisions="${GPU_CHECK_PRECISIONS:-fp32 fp16}"
  for precision in $precisions; do
    out="$(timeout "${GPU_CHECK_TIMEOUT:-600}" "$DENO" run --allow-all --cached-only bench/gpu_check.ts \
      --device "$device" --precision "$precision" --shared "$SHARED" "$@" 2>&1)"
    code=$?
    echo "$out"
    [ $code -eq 0 ] || echo "[$device $precision] gpu_check.ts exited with $code"
    if [ "$device" != cpu ] && [ $code -eq 0 ] && ! grep -q 'FAILED to load' <<<"$out"; then
      loaded+=("$device:$precision")
    fi
  done
done

# The whole service through NATS on each GPU provider that loaded (GPU_CHECK_NATS=0 skips it).
if [ "${GPU_CHECK_NATS:-1}" != 0 ]; then
  for pair in "${loaded[@]}"; do
    echo "== through NATS: ${pair%%:*} ${pair##*:}"
    ADP_BENCH_DEVICE="${pair%%:*}" ADP_BENCH_PRECISION="${pair##*:}" ADP_BENCH_SHARED="$SHARED" \
      timeout "${GPU_CHECK_TIMEOUT:-600}" "$DENO" run --allow-all --cached-only bench/nats_bench.ts ||
      echo "[$pair] nats_bench.ts exited with $?"
  done
fi
