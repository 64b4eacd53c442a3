# Exports torchvision's ResNet-18 with random weights (torch.manual_seed(0), 10 classes) to ONNX for the
# tail package's ResNet test: input "input" float32 NCHW [N, 3, 64, 64], outputs "pooled" (the 512-d global
# average pool, flattened) and "logits" (the fc layer). The BatchNorm running statistics are first set
# from 8 batches of random images in train mode (cumulative average), so that the exported (folded) network
# has normalised activations rather than the identity statistics of a fresh model.
# Usage: /usr/bin/python3 resnet18.py OUT.onnx   (Debian: apt-get install python3-torch python3-torchvision python3-onnx)
import sys
import torch
import torchvision

torch.manual_seed(0)
net = torchvision.models.resnet18(num_classes=10)
for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.momentum = None  # cumulative average over the calibration batches
net.train()
with torch.no_grad():
    for _ in range(8):
        net(torch.randn(32, 3, 64, 64))
net.eval()


class Pooled(torch.nn.Module):
    def __init__(self, r):
        super().__init__()
        self.r = r

    def forward(self, x):
        r = self.r
        x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        x = r.layer4(r.layer3(r.layer2(r.layer1(x))))
        pooled = torch.flatten(r.avgpool(x), 1)
        return pooled, r.fc(pooled)


torch.onnx.export(Pooled(net), torch.randn(2, 3, 64, 64), sys.argv[1], opset_version=13,
                  input_names=["input"], output_names=["pooled", "logits"],
                  dynamic_axes={"input": {0: "N"}, "pooled": {0: "N"}, "logits": {0: "N"}})
