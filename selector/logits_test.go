package selector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models/nn"
)

// TestProxyLogitsMatchForward checks that the trained proxies hand out
// logits, and that their softmax is Forward's probabilities.
func TestProxyLogitsMatchForward(t *testing.T) {
	X, y := blobs(9, 400, 7, 3, 2)
	for _, kind := range []string{"linear", "mlp", "net"} {
		t.Run(kind, func(t *testing.T) {
			var p Proxy
			if kind == "net" { // standard AL's fine-tuned adapter and head
				r := nn.DefaultRecipe(nn.MethodFT)
				r.Epochs = 5
				net, _, err := nn.Train(r, X.Data, X.Rows, X.Cols, y, 3)
				if err != nil {
					t.Fatal(err)
				}
				p = NetProxy(net)
			} else {
				cfg := DefaultProxyConfig(kind)
				cfg.Epochs = 5
				var err error
				if p, err = TrainProxy(cfg, X, y, 3); err != nil {
					t.Fatal(err)
				}
			}
			lf, ok := p.(logitForwarder)
			if !ok {
				t.Fatalf("%T does not give logits", p)
			}
			const c, lo, hi = 3, 13, 391
			probs := make([]float32, (hi-lo)*c)
			logits := make([]float64, (hi-lo)*c)
			p.Forward(X, lo, hi, probs, nil)
			lf.forwardLogits(X, lo, hi, logits)
			for i := range hi - lo {
				row := logits[i*c : (i+1)*c]
				softmaxRow64(row)
				for k, v := range row {
					if got := float64(probs[i*c+k]); math.Abs(got-v) > 1e-6 {
						t.Fatalf("row %d class %d: softmax of logits %v, Forward %v", lo+i, k, v, got)
					}
				}
			}
		})
	}
}

// TestLogitUncertainty compares the scores computed from logits with the
// textbook formulas: on moderate logits, over float64 softmax
// probabilities; on saturated logits (where float64 probabilities are
// already exactly 1 and the textbook formula gives 0), with their
// asymptotic forms, to relative order exp(-gap).
func TestLogitUncertainty(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 1))
	var moderate [][]float64
	for range 50 {
		l := make([]float64, 5)
		for k := range l {
			l[k] = 3 * rng.NormFloat64()
		}
		moderate = append(moderate, l)
	}
	moderate = append(moderate, []float64{1, 1, -3}, []float64{2, 2, 2, 2}, []float64{0, -20})
	for _, name := range []string{"least-confidence", "margin", "entropy"} {
		score := logitUncertainty(name)
		for _, l := range moderate {
			p := append([]float64(nil), l...)
			softmaxRow64(p)
			if got, want := score(l), textbookScore(name, p); math.Abs(got-want) > 1e-12 {
				t.Errorf("%s of logits %v: %v, textbook %v", name, l, got, want)
			}
		}
	}
	for _, tc := range []struct {
		gaps []float64 // l_t - l_j of the other classes, the top logit at 0
	}{{[]float64{50}}, {[]float64{300}}, {[]float64{700}}, {[]float64{60, 65}}, {[]float64{400, 300, 450}}} {
		l := []float64{0}
		for _, g := range tc.gaps {
			l = append(l, -g)
		}
		var sum, smallest, ent float64
		smallest = math.Inf(1)
		for _, g := range tc.gaps {
			sum += math.Exp(-g)
			ent += (1 + g) * math.Exp(-g)
			smallest = min(smallest, g)
		}
		want := map[string]float64{
			"least-confidence": sum,                       // 1 - p_t ≈ Σ exp(-g)
			"margin":           sum + math.Exp(-smallest), // 1 - p_t + p_2
			"entropy":          ent,                       // Σ (1+g) exp(-g)
		}
		for name, w := range want {
			got := logitUncertainty(name)(l)
			if got <= 0 || math.Abs(got-w) > 1e-9*w {
				t.Errorf("%s of logits %v: %v, want %v", name, l, got, w)
			}
		}
	}
}

// TestScoreStrategiesSaturatedLogits scores a pool with a linear proxy so
// confident that its float32 probabilities are exactly one-hot on every row
// (the probability path would tie them all). Scored from logits, the rows
// keep their order: the smaller the logit gap, the more uncertain.
func TestScoreStrategiesSaturatedLogits(t *testing.T) {
	gaps := []float64{450, 110, 700, 150, 300, 200, 600, 125}
	want := []int{1, 7, 3, 5, 4, 0, 6, 2} // rows by gap ascending
	pool := features.NewMatrix(len(gaps), 1)
	for i, g := range gaps {
		pool.Data[i] = float32(g)
		pool.IDs[i] = fmt.Sprint(i)
	}
	// logits (x, 0): the gap of row i is its feature.
	proxy := &linearProxy{d: 1, c: 2, w: []float32{1, 0}, b: []float32{0, 0}, w64: []float64{1, 0}}
	probs := make([]float32, 2*len(gaps))
	proxy.Forward(pool, 0, len(gaps), probs, nil)
	for i := range gaps {
		if probs[2*i] != 1 || probs[2*i+1] != 0 {
			t.Fatalf("row %d: probabilities %v, want exactly one-hot", i, probs[2*i:2*i+2])
		}
	}
	lab := make([]bool, len(gaps))
	for _, name := range []string{"least-confidence", "margin", "entropy", "margin-power", "entropy-power"} {
		s, err := NewStrategy(name, StrategyOptions{Beta: 1e6})
		if err != nil {
			t.Fatal(err)
		}
		for _, seed := range []uint64{1, 2} {
			picks, err := s.Select(context.Background(), Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: len(gaps), Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			for k, p := range picks {
				if p.Index != want[k] || !(p.Score > 0) {
					t.Errorf("%s seed %d rank %d: row %d score %v, want row %d with a positive score", name, seed, k, p.Index, p.Score, want[k])
				}
			}
		}
	}
}
