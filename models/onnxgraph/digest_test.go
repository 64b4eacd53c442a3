package onnxgraph

import "testing"

func TestTailDigest(t *testing.T) {
	cut := func(t *testing.T, edit func(b *graphBuilder), cut string, outputs ...string) string {
		t.Helper()
		b := smallNet("Relu")
		if edit != nil {
			edit(b)
		}
		tail, err := b.model(t).Cut(cut, outputs)
		if err != nil {
			t.Fatal(err)
		}
		return tail.Digest()
	}
	base := cut(t, nil, "ra", "cat")
	if again := cut(t, nil, "ra", "cat"); again != base {
		t.Fatalf("two cuts of the same model: digests %s and %s", base, again)
	}
	tests := []struct {
		name    string
		edit    func(b *graphBuilder)
		cut     string
		outputs []string
		same    bool
	}{
		{"a weight below the cut", func(b *graphBuilder) { b.g.Initializer[0].RawData[0] ^= 1 }, "ra", []string{"cat"}, true},
		{"a weight above the cut", func(b *graphBuilder) { b.g.Initializer[2].RawData[0] ^= 1 }, "ra", []string{"cat"}, false},
		{"an attribute above the cut", func(b *graphBuilder) {
			b.g.Node[2].Attribute = append(b.g.Node[2].Attribute, intsAttr("strides", 2, 2))
		}, "ra", []string{"cat"}, false},
		{"a node renamed", func(b *graphBuilder) { b.g.Node[2].Name = "other" }, "ra", []string{"cat"}, false},
		{"another output", nil, "ra", []string{"out"}, false},
		{"another cut", nil, "x", []string{"cat"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cut(t, tc.edit, tc.cut, tc.outputs...); (got == base) != tc.same {
				t.Errorf("digest %s, base %s: same = %v, want %v", got, base, got == base, tc.same)
			}
		})
	}
}
