#!/usr/bin/env bash
# Installs everything asvp needs, idempotently, from the package registries only:
#   - Fashion-MNIST from Debian's dataset-fashion-mnist (apt),
#   - the ONNX Runtime 1.24.3 shared library from npm onnxruntime-node@1.24.3,
#   - the pre-trained MobileNetV2 from npm nsfwjs@4.4.0, converted to ONNX by `asvp models import-tfjs`.
# Every download is pinned by version and sha256. Re-running it checks the sums and does nothing more.
# Usage: scripts/setup.sh [--test]   (--test also installs what the test suite needs: chromium, numpy)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tp="$root/third_party"
ORT_VERSION=1.24.3
ORT_TGZ_SHA256=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
ORT_SO_SHA256=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
NSFWJS_VERSION=4.4.0
NSFWJS_TGZ_SHA256=585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382
MODEL_SHA256=$(sed -n 's/^const MobileNetV2NSFWJSSHA256 = "\([0-9a-f]*\)"$/\1/p' "$root/models/registry.go")
FMNIST_DIR=${ASVP_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

log() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
t0=$(date +%s)

apt_install() { # apt_install PACKAGE...: installs Debian packages, or says how to when it cannot.
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    die "need Debian packages: $*; install them as root: apt-get install -y $*"
  fi
  local s=""; [ "$(id -u)" != 0 ] && s=sudo
  log "installing Debian packages: $*"
  if ! $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    $s apt-get update -qq >/dev/null 2>&1 || true
    $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
      die "could not install $*; run: apt-get update && apt-get install -y $*"
  fi
}

npm_fetch() { # npm_fetch NAME VERSION SHA256: leaves third_party/npm/NAME-VERSION.tgz, checked.
  local name=$1 version=$2 want=$3 out="$tp/npm/$1-$2.tgz"
  if [ -f "$out" ] && [ "$(sha "$out")" = "$want" ]; then return; fi
  command -v npm >/dev/null || apt_install npm
  mkdir -p "$tp/npm"
  local tmp; tmp=$(mktemp -d)
  log "fetching $name@$version from the npm registry"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null) || { rm -rf "$tmp"; die "npm pack $name@$version failed"; }
  local got; got=$(sha "$tmp/$name-$version.tgz")
  if [ "$got" != "$want" ]; then rm -rf "$tmp"; die "$name-$version.tgz has sha256 $got, expected $want"; fi
  mv "$tmp/$name-$version.tgz" "$out"; rm -rf "$tmp"
}

# 1. Fashion-MNIST.
if [ ! -f "$FMNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  apt_install dataset-fashion-mnist
  [ -f "$FMNIST_DIR/train-images-idx3-ubyte.gz" ] || die "dataset-fashion-mnist installed but $FMNIST_DIR is empty"
fi
log "fashion-mnist: $FMNIST_DIR"

# 2. ONNX Runtime.
lib="$tp/onnxruntime/libonnxruntime.so.1"
if [ ! -f "$lib" ] || [ "$(sha "$lib")" != "$ORT_SO_SHA256" ]; then
  npm_fetch onnxruntime-node "$ORT_VERSION" "$ORT_TGZ_SHA256"
  mkdir -p "$tp/onnxruntime"
  tar -xzf "$tp/npm/onnxruntime-node-$ORT_VERSION.tgz" -C "$tp/onnxruntime" --strip-components=5 \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  [ "$(sha "$lib")" = "$ORT_SO_SHA256" ] || die "$lib has the wrong sha256"
fi
log "onnx runtime $ORT_VERSION: $lib"

# 3. The pre-trained backbone.
nsdir="$tp/nsfwjs/package/dist/models/mobilenet_v2"
if [ ! -f "$nsdir/model.min.js" ]; then
  npm_fetch nsfwjs "$NSFWJS_VERSION" "$NSFWJS_TGZ_SHA256"
  mkdir -p "$tp/nsfwjs"
  tar -xzf "$tp/npm/nsfwjs-$NSFWJS_VERSION.tgz" -C "$tp/nsfwjs" package/dist/models/mobilenet_v2 package/LICENSE
fi
model="$tp/models/mobilenet_v2-nsfwjs.onnx"
if [ ! -f "$model" ] || [ "$(sha "$model")" != "$MODEL_SHA256" ]; then
  mkdir -p "$root/bin" "$tp/models"
  log "building asvp and converting the TF.js model to ONNX"
  (cd "$root" && go build -o bin/asvp ./cmd/asvp)
  "$root/bin/asvp" models import-tfjs --dir "$nsdir" --out "$model" >/dev/null
  got=$(sha "$model")
  [ "$got" = "$MODEL_SHA256" ] || die "converted model has sha256 $got, expected $MODEL_SHA256"
fi
log "backbone: $model"

# 4. What the tests need besides: headless Chromium (HTML report test), numpy (npy export check), and the
#    ResNet-18 test model of models/tail (random weights, exported by PyTorch; ~45 MB, so made here, not committed).
if [ "${1:-}" = "--test" ]; then
  need=()
  command -v chromium >/dev/null || need+=(chromium)
  /usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy) # Debian's python, as the tests use
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  resnet="$tp/models/resnet18-random-64.onnx"
  if [ ! -f "$resnet" ]; then
    /usr/bin/python3 -c 'import torch, torchvision, onnx' 2>/dev/null || apt_install python3-torch python3-torchvision python3-onnx
    mkdir -p "$tp/models"
    log "exporting the ResNet-18 test model with PyTorch (models/tail/testdata/resnet18.py)"
    /usr/bin/python3 "$root/models/tail/testdata/resnet18.py" "$resnet.tmp" >/dev/null || die "resnet18.py failed"
    mv "$resnet.tmp" "$resnet"
  fi
  log "resnet-18 test model: $resnet"
fi
# 5. For the Parquet export's interoperability test (embeddings): hyparquet, a JavaScript Parquet reader
#    independent of parquet-go (no dependencies; read by node), pinned by version and sha256.
HYPARQUET_VERSION=1.31.5
HYPARQUET_TGZ_SHA256=5fb6b118fcbc4575771204acd0aa5cab532f40be92339094b7cc756d79830ab5
if [ "${1:-}" = "--test" ]; then
  command -v node >/dev/null || apt_install nodejs
  npm_fetch hyparquet "$HYPARQUET_VERSION" "$HYPARQUET_TGZ_SHA256"
  log "hyparquet $HYPARQUET_VERSION: $tp/npm/hyparquet-$HYPARQUET_VERSION.tgz"
fi
log "done in $(( $(date +%s) - t0 ))s"
