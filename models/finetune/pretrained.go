package finetune

import (
	"fmt"
	"sync"

	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/models/tail"
)

// inferRows is the number of samples per forward pass of Features and
// Predict. Eval-mode outputs do not depend on it.
const inferRows = 256

// Pretrained is the starting point of every fine-tune: the backbone's tail
// with BatchNorms calibrated on unlabelled activations, and the
// standardisation of its pretrained features. Its methods are safe for
// concurrent use; nothing modifies it.
type Pretrained struct {
	net    *tail.Net
	output int
	// Mean and Std standardise the features the head reads: per feature,
	// the mean and population standard deviation of the pretrained
	// features of the calibration set (Std 1 where it has no spread).
	Mean, Std []float64
	// BatchNorm reports the BatchNorm insertion.
	BatchNorm tail.BatchNormReport

	mu sync.Mutex // guards net's buffers during Features
}

// PrepareOptions tune Prepare. The zero value gives the defaults.
type PrepareOptions struct {
	// Output is the index of the tail output (in onnxgraph.Tail.Outputs
	// order) that the head reads: the pooled features.
	Output int
	// BatchNorm tunes the BatchNorm insertion.
	BatchNorm tail.BatchNormOptions
}

// Prepare makes the Pretrained of net from unlabelled calibration
// activations (for example a few thousand samples of the pool): it inserts
// a BatchNorm after every convolution of a copy of net, calibrated on them
// (see tail.Net.InsertBatchNorm: in eval mode the network is unchanged),
// and computes the standardisation of the pretrained features on them. net
// is not modified.
func Prepare(net *tail.Net, calib Activations, opts PrepareOptions) (*Pretrained, error) {
	if opts.Output < 0 || opts.Output >= len(net.OutputDims()) {
		return nil, fmt.Errorf("finetune: output %d of a tail with %d outputs", opts.Output, len(net.OutputDims()))
	}
	if err := calib.check(net.InputShape(), net.FrozenShapes()); err != nil {
		return nil, err
	}
	n := net.Clone()
	rep, err := n.InsertBatchNorm(calib.X, calib.Frozen, calib.Rows, opts.BatchNorm)
	if err != nil {
		return nil, err
	}
	p := &Pretrained{net: n, output: opts.Output, BatchNorm: rep}
	f, err := features(n, opts.Output, calib)
	if err != nil {
		return nil, err
	}
	p.Mean, p.Std = nn.ColumnStats(f, calib.Rows, p.Dim())
	return p, nil
}

// Dim returns the number of features the head reads.
func (p *Pretrained) Dim() int { return p.net.OutputDims()[p.output] }

// InputShape returns the per-sample shape of the cut activation.
func (p *Pretrained) InputShape() []int { return p.net.InputShape() }

// FrozenShapes returns the per-sample shapes of the frozen inputs.
func (p *Pretrained) FrozenShapes() [][]int { return p.net.FrozenShapes() }

// Features returns the pretrained features of the samples (rows × Dim,
// row-major): the backbone's own output, computed from the activations.
func (p *Pretrained) Features(a Activations) ([]float32, error) {
	if err := a.check(p.InputShape(), p.FrozenShapes()); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return features(p.net, p.output, a)
}

// features runs net in eval mode over a in blocks and returns output k.
func features(net *tail.Net, k int, a Activations) ([]float32, error) {
	d := net.OutputDims()[k]
	out := make([]float32, 0, a.Rows*d)
	for lo := 0; lo < a.Rows; lo += inferRows {
		b := a.Range(lo, min(lo+inferRows, a.Rows))
		res, err := net.Forward(b.X, b.Frozen, b.Rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, res[k]...)
	}
	return out, nil
}
