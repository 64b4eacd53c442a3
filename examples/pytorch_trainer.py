#!/usr/bin/env python3
"""An asvp trainer: fine-tune a torchvision model on asvp's labeled set and
export it to ONNX for `asvp align --trainer-cmd` (protocol: docs/trainers.md).

    asvp align --cache c.asvp --data fashion-mnist:train --labeled labeled.csv \
      --trainer-cmd 'python3 examples/pytorch_trainer.py --manifest {manifest} \
                     --classes {classes} --card {card} --out {out}'

Needs torch and torchvision (and Pillow). Not run by asvp's tests: the test
machines have no PyTorch. The ONNX file it writes has
  input  card["input"], float32, [N,3,H,W] (NCHW) or [N,H,W,3] (NHWC),
         already scaled and normalised by asvp as the card says;
  output card["output"] (default "features"), float32 [N, D]: the pooled
         penultimate layer of the fine-tuned network;
  output "logits" [N, classes] (ignored by asvp, handy for checking).
"""

import argparse
import csv
import json
import random

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image


def load_card(path):
    with open(path) as f:
        card = json.load(f)
    card.setdefault("output", "features")
    return card


def preprocess(img, card):
    """Do what asvp's extractor does, so training sees what align will feed."""
    img = img.convert("RGB")
    h, w = card["height"], card["width"]
    if card["resize"] == "center-crop":
        s = max(h / img.height, w / img.width)
        img = img.resize((max(w, round(img.width * s)), max(h, round(img.height * s))), Image.BILINEAR)
        left, top = (img.width - w) // 2, (img.height - h) // 2
        img = img.crop((left, top, left + w, top + h))
    else:  # stretch
        img = img.resize((w, h), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)  # H, W, 3 in RGB
    if card["channel_order"] == "BGR":
        x = x[:, :, ::-1]
    x = (x * card["scale"] - np.array(card["mean"], np.float32)) / np.array(card["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))  # 3, H, W


class Net(nn.Module):
    """A torchvision ResNet-18 split into a feature trunk and a fresh head,
    taking the card's layout."""

    def __init__(self, classes, nhwc):
        super().__init__()
        m = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
        m.fc = nn.Identity()
        self.trunk, self.head, self.nhwc = m, nn.Linear(512, classes), nhwc

    def forward(self, x):
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        f = self.trunk(x)
        return f, self.head(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--classes", required=True)
    ap.add_argument("--card", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    random.seed(args.seed)
    torch.manual_seed(args.seed)

    card = load_card(args.card)
    with open(args.classes) as f:
        classes = [line.rstrip("\n") for line in f if line.strip()]
    index = {c: i for i, c in enumerate(classes)}
    with open(args.manifest, newline="") as f:
        rows = list(csv.DictReader(f))  # header: path,label
    x = torch.stack([preprocess(Image.open(r["path"]), card) for r in rows])
    y = torch.tensor([index[r["label"]] for r in rows])

    device = "cuda" if torch.cuda.is_available() else "cpu"
    nhwc = card["layout"] == "NHWC"
    net = Net(len(classes), nhwc).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(y))
        total = 0.0
        for i in range(0, len(y), args.batch):
            b = perm[i:i + args.batch]
            xb = x[b].to(device)
            if nhwc:
                xb = xb.permute(0, 2, 3, 1)
            _, logits = net(xb)
            loss = loss_fn(logits, y[b].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        sched.step()
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(y):.4f}", flush=True)

    net.eval().cpu()
    h, w = card["height"], card["width"]
    dummy = torch.zeros(1, h, w, 3) if nhwc else torch.zeros(1, 3, h, w)
    torch.onnx.export(
        net, dummy, args.out,
        input_names=[card["input"]],
        output_names=[card["output"], "logits"],
        dynamic_axes={card["input"]: {0: "N"}, card["output"]: {0: "N"}, "logits": {0: "N"}},
        opset_version=17,
    )
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
