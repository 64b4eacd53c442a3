package loop

import "testing"

func TestLabeledSHA256(t *testing.T) {
	a := labelsSHA256(map[string]int{"x": 1, "y": 2})
	if a != labelsSHA256(map[string]int{"y": 2, "x": 1}) {
		t.Fatal("hash depends on map order")
	}
	for _, other := range []map[string]int{{"x": 1, "y": 3}, {"x": 1}, {"x": 1, "y": 2, "z": 0}} {
		if labelsSHA256(other) == a {
			t.Fatalf("%v hashes like {x:1 y:2}", other)
		}
	}
}
