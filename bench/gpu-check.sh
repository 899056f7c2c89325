#!/usr/bin/env bash
# The device check for a machine with a GPU (the lent H200 has no network): the ViT-B/16 vision graph
# and one K = 8 enrollment on cpu, cuda and webgpu, each provider's figures beside the CPU's, and a
# plain line for each provider that failed to load and why.
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
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# GPU_CHECK_DEVICES narrows the run (default: all three).
for device in ${GPU_CHECK_DEVICES:-cpu cuda webgpu}; do
  timeout "${GPU_CHECK_TIMEOUT:-600}" "$DENO" run --allow-all --cached-only bench/gpu_check.ts --device "$device" --shared "$SHARED" "$@" ||
    echo "[$device] gpu_check.ts exited with $?"
done
