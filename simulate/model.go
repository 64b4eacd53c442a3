package simulate

import (
	"fmt"
	"slices"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/selector"
)

// SourceFinetune is the cache GenInfo.Source of generations of features
// computed by a fine-tuned tail.
const SourceFinetune = "finetune"

// model is what a pipeline trains on its labels: in tail mode the
// backbone's tail and a head fine-tuned from cached activations, in
// features-only mode a network on the frozen features.
type model struct {
	tuned    *finetune.Tuned
	net      *nn.Net
	trainAcc float64
}

// fit trains a model with method on pool rows, from the pretrained weights
// (tail mode), or on the features feats (features-only mode).
func (s *sim) fit(method string, seed uint64, feats *features.Matrix, rows []int) (model, error) {
	if s.tune == nil {
		recipe := s.cfg.FT
		if method != nn.MethodFT {
			recipe = s.cfg.LPFT
		}
		net, st, err := s.trainNet(recipe, method, seed, feats, rows)
		return model{net: net, trainAcc: st.TrainAcc}, err
	}
	r := s.cfg.Tune
	r.Method, r.Seed = method, seed
	t, st, err := finetune.Train(s.tune.Pre, r, s.tune.Split(s.poolActs, rows), s.labelsOf(rows), s.classes)
	if err != nil {
		return model{}, err
	}
	return model{tuned: t, trainAcc: st.TrainAcc}, nil
}

// accuracy is m's accuracy on the test set: from its activations in tail
// mode, from testCur (the test features m was trained on) otherwise.
func (s *sim) accuracy(m model, testCur *features.Matrix) (float64, error) {
	if m.tuned == nil {
		return m.net.Accuracy(testCur.Data[:testCur.Rows*testCur.Cols], testCur.Rows, s.testY), nil
	}
	p, err := m.tuned.Predict(s.testActs)
	if err != nil {
		return 0, err
	}
	return finetune.Accuracy(p, s.testY, s.classes), nil
}

// modelSelector returns what standard AL selects with: the fine-tuned
// model's features of the whole pool (rows in pool0's order) and its head
// as a proxy on them.
func (s *sim) modelSelector(m model) (*features.Matrix, selector.Proxy, error) {
	f, err := s.tune.Features(m.tuned, s.poolActs)
	if err != nil {
		return nil, nil, err
	}
	h := m.tuned.Head
	return f, selector.NewLinearProxy(h.W.Value, h.B.Value, h.Out, h.In, m.tuned.Mean, m.tuned.Std), nil
}

// readActivations reads the pool's and the test set's activations for the
// rows of pool0 and test0, in their order.
func (s *sim) readActivations() error {
	s.tune = s.data.Tune
	var err error
	if s.poolActs, err = s.data.Tune.Acts.ReadRows(0, s.pool0.IDs); err != nil {
		return fmt.Errorf("simulate: pool activations: %w", err)
	}
	if !slices.Equal(s.poolActs.IDs, s.pool0.IDs) {
		return fmt.Errorf("%w: the pool's activations do not cover its features' samples", ErrConfig)
	}
	test, err := s.data.TestActs.ReadRows(0, s.test0.IDs)
	if err != nil {
		return fmt.Errorf("simulate: test activations: %w", err)
	}
	if !slices.Equal(test.IDs, s.test0.IDs) {
		return fmt.Errorf("%w: the test set's activations do not cover its features' samples", ErrConfig)
	}
	s.testActs = s.tune.Split(test, nil)
	return nil
}

// deriveASVPFT returns asvp's records as those of asvp-ft: the same
// selections, each round's reported model trained by plain FT.
func deriveASVPFT(recs []RoundRecord) []RoundRecord {
	var out []RoundRecord
	for _, r := range recs {
		if r.Pipeline != PipelineASVP || r.AccuracyFT == nil {
			continue
		}
		d := r
		d.Pipeline, d.Accuracy, d.Method = PipelineASVPFT, *r.AccuracyFT, nn.MethodFT
		d.Reason = "asvp's selections, its reported model trained by plain fine-tuning (ft)"
		out = append(out, d)
	}
	return out
}
