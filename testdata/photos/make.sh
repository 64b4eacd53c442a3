#!/usr/bin/env bash
# Recreates the real photos in this folder from Debian's python3-skimage package (scikit-image 0.19.3).
# Their licences are listed in skimage/data/README.txt of that package: astronaut (NASA, public domain),
# camera (CC0 per scikit-image), chelsea (Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0),
# rocket (SpaceX, CC0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download python3-skimage=0.19.3-8 >/dev/null)
dpkg-deb -x "$tmp"/python3-skimage_*.deb "$tmp/x"
for f in astronaut.png camera.png chelsea.png coffee.png rocket.jpg; do
  cp "$tmp/x/usr/lib/python3/dist-packages/skimage/data/$f" "$here/$f"
done
sha256sum -c "$here/SHA256SUMS"
