#!/usr/bin/env python3
"""Write Fashion-MNIST images as plain pixel vectors, the way another tool's embeddings arrive.

For `asvp cache import`: a float32 .npy of N x 784 pixels scaled to [0, 1], its IDs one per line
(OUT.npy.ids.txt) and an id,label CSV (OUT.labels.csv). Only the Python standard library: no numpy.

    python3 examples/fmnist_pixels_npy.py --split train --limit 10000 --out pixels-train.npy
"""
import argparse
import array
import gzip
import os
import struct
import sys

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default=os.environ.get("ASVP_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--limit", type=int, default=0, help="first N images (0: all)")
    p.add_argument("--out", required=True, help="the .npy to write")
    a = p.parse_args()
    prefix = "train" if a.split == "train" else "t10k"
    with gzip.open(os.path.join(a.dir, prefix + "-images-idx3-ubyte.gz")) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, "not an IDX image file"
        pixels = f.read()
    with gzip.open(os.path.join(a.dir, prefix + "-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read()
    if a.limit:
        n = min(n, a.limit)
    dim = rows * cols
    values = array.array("f", (b / 255.0 for b in pixels[: n * dim]))
    if sys.byteorder != "little":
        values.byteswap()
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, dim)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(a.out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        values.tofile(f)
    # IDs of our own choosing: any unique strings do.
    ids = ["%s-%05d" % (a.split, i) for i in range(n)]
    with open(a.out + ".ids.txt", "w") as f:
        f.write("\n".join(ids) + "\n")
    with open(os.path.splitext(a.out)[0] + ".labels.csv", "w") as f:
        f.write("id,label\n")
        for i in range(n):
            f.write('%s,"%s"\n' % (ids[i], CLASSES[labels[i]]))
    print("wrote %s (%d x %d float32), %s.ids.txt, %s.labels.csv" % (a.out, n, dim, a.out, os.path.splitext(a.out)[0]))


if __name__ == "__main__":
    main()
