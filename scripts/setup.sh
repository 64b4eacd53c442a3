#!/usr/bin/env bash
# Installs everything asvp needs, idempotently, from the package registries only:
#   - Fashion-MNIST from Debian's dataset-fashion-mnist (apt),
#   - the ONNX Runtime 1.24.3 shared library from npm onnxruntime-node@1.24.3,
#   - the pre-trained MobileNetV2 from npm nsfwjs@4.4.0, converted to ONNX by `asvp models import-tfjs`.
# With --test also Label Studio's editor build from npm @heartexlabs/label-studio@1.4.0 (the browser test).
# Every download is pinned by version and sha256. Re-running it checks the sums and does nothing more.
# Usage: scripts/setup.sh [--test]   (--test also installs what the test suite needs: chromium, numpy,
#                                     the Label Studio editor, the ResNet-18 test model)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tp="$root/third_party"
ORT_VERSION=1.24.3
ORT_TGZ_SHA256=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
ORT_SO_SHA256=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
NSFWJS_VERSION=4.4.0
NSFWJS_TGZ_SHA256=585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382
LS_VERSION=1.4.0 # the last @heartexlabs/label-studio on npm that ships the editor build (1.8.0 has none)
LS_TGZ_SHA256=ae6587c2a736ddb1f6bc11c8b22c3b21845967d51d10b73429145b7a9222dc41
LS_JS_SHA256=231219b8ed42826185320d13d907615cc1e3f16755b6a5af62117611453a39ef
LS_CSS_SHA256=818ed51653bd39069e2fe0204fb84aa7095a5e47db27cae8fad7490bf59c88a8
MODEL_SHA256=$(sed -n 's/^const MobileNetV2NSFWJSSHA256 = "\([0-9a-f]*\)"$/\1/p' "$root/models/registry.go")
FMNIST_DIR=${ASVP_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

log() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
t0=$(date +%s)

. "$root/scripts/lib.sh" # apt_install

npm_fetch() { # npm_fetch NAME VERSION SHA256: leaves third_party/npm/NAME-VERSION.tgz, checked (npm pack's
  # file name: @scope/name becomes scope-name).
  local name=$1 version=$2 want=$3 file
  file=$(echo "${1#@}" | tr / -)-$2.tgz
  local out="$tp/npm/$file"
  if [ -f "$out" ] && [ "$(sha "$out")" = "$want" ]; then return; fi
  command -v npm >/dev/null || apt_install npm
  mkdir -p "$tp/npm"
  local tmp; tmp=$(mktemp -d)
  log "fetching $name@$version from the npm registry"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null) || { rm -rf "$tmp"; die "npm pack $name@$version failed"; }
  local got; got=$(sha "$tmp/$file")
  if [ "$got" != "$want" ]; then rm -rf "$tmp"; die "$file has sha256 $got, expected $want"; fi
  mv "$tmp/$file" "$out"; rm -rf "$tmp"
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

# 4. What the tests need besides: headless Chromium (HTML report test, Label Studio editor test), numpy (npy
#    export check), Label Studio's editor build (its JS and CSS only, ~2.6 MB of the 7 MB package), and the
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
  lsdir="$tp/label-studio-$LS_VERSION"
  if [ ! -f "$lsdir/main.js" ] || [ "$(sha "$lsdir/main.js")" != "$LS_JS_SHA256" ] ||
     [ ! -f "$lsdir/main.css" ] || [ "$(sha "$lsdir/main.css")" != "$LS_CSS_SHA256" ]; then
    npm_fetch @heartexlabs/label-studio "$LS_VERSION" "$LS_TGZ_SHA256"
    rm -rf "$lsdir" && mkdir -p "$lsdir"
    tar -xzf "$tp/npm/heartexlabs-label-studio-$LS_VERSION.tgz" -C "$lsdir" --strip-components=4 \
      package/build/static/js/main.js package/build/static/css/main.css
    tar -xzf "$tp/npm/heartexlabs-label-studio-$LS_VERSION.tgz" -C "$lsdir" --strip-components=1 package/LICENSE
    [ "$(sha "$lsdir/main.js")" = "$LS_JS_SHA256" ] && [ "$(sha "$lsdir/main.css")" = "$LS_CSS_SHA256" ] ||
      die "$lsdir: main.js or main.css has the wrong sha256"
  fi
  log "label studio editor $LS_VERSION: $lsdir"
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
