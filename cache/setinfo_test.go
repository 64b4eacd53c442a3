package cache

import (
	"errors"
	"maps"
	"testing"
	"time"
)

func FuzzDecodeSetInfo(f *testing.F) {
	good := testInfo("m", 576, DTypeFloat16)
	good.Key = Fingerprint(good.ModelSHA256, good.Output, good.CardHash, good.DatasetID)
	good.Shard = "1/4"
	good.Created = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add(encodeSetInfo(good))
	good.Shard, good.DType = "0/3,2/3", DTypeFloat32
	f.Add(encodeSetInfo(good))
	f.Add([]byte(`{"key":"00","dim":-1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"dim":1e99}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := decodeSetInfo(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if si.validate() != nil {
			t.Fatal("decoded an invalid SetInfo")
		}
		again, err := decodeSetInfo(encodeSetInfo(si))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !again.Created.Equal(si.Created) {
			t.Fatal("created time changed")
		}
		again.Created, si.Created = time.Time{}, time.Time{}
		if again != si {
			t.Fatalf("round trip changed %+v to %+v", si, again)
		}
	})
}

func TestDecodeGenInfo(t *testing.T) {
	g := GenInfo{N: 2, Dim: 64, Source: "adapter", Provenance: map[string]string{"seed": "1"}, Created: time.Unix(5, 0).UTC()}
	got, err := decodeGenInfo(encodeGenInfo(g))
	if err != nil || got.N != 2 || got.Dim != 64 || !maps.Equal(got.Provenance, g.Provenance) || !got.Created.Equal(g.Created) {
		t.Fatalf("%+v, %v", got, err)
	}
	for _, bad := range []string{`{"n":1,"dim":0,"source":"x"}`, `{"n":-1,"dim":3,"source":"x"}`, `{"n":1,"dim":3}`, `[`} {
		if _, err := decodeGenInfo([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestParseShards(t *testing.T) {
	for _, ok := range []string{"", "0/1", "3/4", "0/3,2/3"} {
		if _, _, err := parseShards(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"1", "1/1", "-1/2", "a/b", "01/2", "0/2,0/2", "0/2,1/3", "0/0", "/"} {
		if _, _, err := parseShards(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
