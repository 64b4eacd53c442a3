package selector

import (
	"context"
	"testing"
)

// BenchmarkKCenter1M runs greedy k-center on a 1,000,000 × 512 pool with
// 1,000 labeled rows for 100 picks, the setting of bench/selector/run.sh
// (numpy's side of the comparison is bench/selector/kcenter_numpy.py).
func BenchmarkKCenter1M(b *testing.B) {
	const n, d, nl, budget = 1_000_000, 512, 1000, 100
	pool, _, lab := benchPool(n, d, nl)
	b.ResetTimer()
	for b.Loop() {
		req := Request{Pool: pool, Labeled: lab, Budget: budget, Seed: 1}
		if _, _, err := kcenterGreedy(context.Background(), &req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/select")
}
