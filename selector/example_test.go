package selector_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/selector"
)

// One selection round on features already in memory: train the proxy on the
// labeled rows, then let margin sampling pick the next batch. In real use the
// pool comes from cache.Set.ReadMatrix and the labels from cache.DB.Labels.
func Example() {
	pool, y := selector.SyntheticMixture(5000, 32, 10, 1) // 5,000 rows, 32 features, 10 classes

	// The first 200 rows are labeled.
	labeled := make([]bool, pool.Rows)
	train := features.NewMatrix(200, pool.Cols)
	for i := range 200 {
		labeled[i] = true
		copy(train.Row(i), pool.Row(i))
		train.IDs[i] = pool.IDs[i]
	}
	proxy, err := selector.TrainProxy(selector.DefaultProxyConfig("linear"), train, y[:200], 10)
	if err != nil {
		log.Fatal(err)
	}
	margin, err := selector.NewStrategy("margin", selector.StrategyOptions{})
	if err != nil {
		log.Fatal(err)
	}
	req := selector.Request{Pool: pool, Labeled: labeled, Proxy: proxy, Budget: 100, Seed: 7}
	picks, err := margin.Select(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	again, _ := margin.Select(context.Background(), req)

	fmt.Println("picks:", len(picks))
	fmt.Println("any already labeled:", slices.ContainsFunc(picks, func(p selector.Pick) bool { return labeled[p.Index] }))
	fmt.Println("same seed, same picks:", slices.Equal(picks, again))
	fmt.Println("most uncertain first:", picks[0].Score >= picks[len(picks)-1].Score)
	// Output:
	// picks: 100
	// any already labeled: false
	// same seed, same picks: true
	// most uncertain first: true
}
