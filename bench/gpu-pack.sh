#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs onto a GPU machine that has no network into one ignored
# folder, .gpu/ (carry it): the deno binary and nats-server, node_modules pruned to linux-x64 (onnxruntime-node
# ships every platform's libraries, 288 MiB; linux-x64 alone is 46 MiB), eight bottle shots and the
# BPE vocabulary from ../shared, and Debian's Vulkan loader and GL dispatch libraries for onnxruntime's
# WebGPU provider (Dawn loads libvulkan.so.1; NVIDIA's Vulkan driver is libGLX_nvidia, which needs
# libglvnd; GPU images often lack both). xz keeps the lot under the 64 MiB a lent
# machine accepts. Unpacked by gpu-check.sh when .gpu/bundle.tar.xz is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
SHARED="${SHARED:-../shared}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/.tools" "$STAGE/.gpu/shared/datasets/mvtec-ad/bottle/train/good" \
  "$STAGE/.gpu/shared/fixtures/clip-oracle/tokenizer" "$STAGE/.gpu/deb"
cp "$(readlink -f "$(command -v deno)")" "$STAGE/.tools/deno"
# nats-server for the service bench through NATS (Debian's package installs it in /usr/sbin).
cp "$(PATH="$PATH:/usr/sbin" command -v nats-server)" "$STAGE/.tools/nats-server"
cp -a node_modules "$STAGE/node_modules"
ORT="$(echo "$STAGE"/node_modules/.deno/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v6)"
find "$ORT" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
rm -rf "$ORT/linux/arm64"
find "$STAGE/node_modules" -name '*.node' -path '*imagescript*' ! -name 'x64-linux.node' -delete
for i in 000 001 002 003 004 005 006 007; do
  cp "$SHARED/datasets/mvtec-ad/bottle/train/good/$i.png" "$STAGE/.gpu/shared/datasets/mvtec-ad/bottle/train/good/"
done
cp "$SHARED/fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz" \
  "$STAGE/.gpu/shared/fixtures/clip-oracle/tokenizer/"
LISTS="$(mktemp -d)"
mkdir -p "$LISTS/partial"
APT=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$LISTS")
apt-get "${APT[@]}" update -qq
(cd "$STAGE/.gpu/deb" && apt-get "${APT[@]}" download -qq libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libopengl0 libgles2)
rm -rf "$LISTS"
mkdir -p .gpu
tar -C "$STAGE" -cf - .tools node_modules .gpu | xz -T0 -6 >.gpu/bundle.tar.xz
ls -la .gpu/bundle.tar.xz
