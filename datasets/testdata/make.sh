#!/usr/bin/env bash
# Recreates the image fixtures that Go cannot encode itself, from the real photos in ../../testdata/photos.
# Needs jpegtran (Debian libjpeg-turbo-progs) and cwebp (Debian webp).
# Every other test image (truncated, CMYK, 16-bit, palette, animated GIF, bomb PNG, ...) is made by the
# tests themselves.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
photos="$here/../../testdata/photos"
# progressive.jpg: a 96x64 crop of rocket.jpg, re-coded losslessly as progressive JPEG.
jpegtran -crop 96x64+200+100 -progressive -copy none "$photos/rocket.jpg" > "$here/progressive.jpg"
# lossy.webp and lossless.webp: chelsea.png scaled to 60x40.
cwebp -quiet -resize 60 40 -q 80 "$photos/chelsea.png" -o "$here/lossy.webp"
cwebp -quiet -resize 60 40 -lossless "$photos/chelsea.png" -o "$here/lossless.webp"
# baseline.jpg: the same crop as progressive.jpg, baseline coding: both hold the same DCT coefficients,
# so they must decode to identical pixels.
jpegtran -crop 96x64+200+100 -copy none "$photos/rocket.jpg" > "$here/baseline.jpg"
# cmyk.jpeg (4-component Adobe CMYK JPEG) and cmyk.png (its RGB rendering) come from Go's own test data
# (BSD licence), since neither image/jpeg nor libjpeg-turbo's tools write CMYK.
cp "$(go env GOROOT)/src/image/testdata/video-001.cmyk.jpeg" "$here/cmyk.jpeg"
cp "$(go env GOROOT)/src/image/testdata/video-001.cmyk.png" "$here/cmyk.png"
