package cache

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Problem is one inconsistency found by Verify.
type Problem struct {
	// Set is the feature set key, or "" for problems outside sets
	// (labels: Set is "", Gen is -1, ID names the label set and sample).
	Set string `json:"set,omitempty"`
	// Gen is the generation, or -1 for problems of the set itself.
	Gen int `json:"gen"`
	// ID is the sample concerned, if any.
	ID string `json:"id,omitempty"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
}

// String formats the problem for people, naming set, generation and sample.
func (p Problem) String() string {
	s := "cache"
	if p.Set != "" {
		s = "set " + short(p.Set)
	}
	if p.Gen >= 0 {
		s += fmt.Sprintf(" generation %d", p.Gen)
	}
	if p.ID != "" {
		s += fmt.Sprintf(" sample %q", p.ID)
	}
	return s + ": " + p.Msg
}

// Report is the result of Verify.
type Report struct {
	Sets        int       `json:"sets"`
	Generations int       `json:"generations"`
	Samples     int       `json:"samples"`
	Errors      int       `json:"errors"`
	LabelSets   int       `json:"label_sets"`
	Problems    []Problem `json:"problems"`
}

// OK reports whether Verify found no problems.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// maxProblemsPerGen keeps a badly damaged cache from producing a giant report.
const maxProblemsPerGen = 100

// Verify reads the whole cache and checks every record's checksum, dtype
// and dimension, each generation's sample count against its metadata, each
// set's key against the fingerprint of its metadata, and every label against
// its class list. Problems go into the report; the error is for failures to
// read the file at all.
func Verify(db *DB) (Report, error) {
	var r Report
	err := db.view(func(tx *bolt.Tx) error {
		sets := tx.Bucket(bucketSets)
		if err := sets.ForEachBucket(func(k []byte) error {
			r.Sets++
			verifySet(&r, sets.Bucket(k), string(k))
			return nil
		}); err != nil {
			return err
		}
		labels := tx.Bucket(bucketLabels)
		return labels.ForEachBucket(func(k []byte) error {
			r.LabelSets++
			verifyLabels(&r, labels.Bucket(k), string(k))
			return nil
		})
	})
	if err != nil {
		return r, fmt.Errorf("cache: verifying %s: %w", db.path, err)
	}
	return r, nil
}

func verifySet(r *Report, sb *bolt.Bucket, key string) {
	add := func(gen int, id, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Set: key, Gen: gen, ID: id, Msg: fmt.Sprintf(format, args...)})
	}
	si, err := decodeSetInfo(sb.Get(keyInfo))
	if err != nil {
		add(-1, "", "metadata: %v", err)
		return
	}
	if si.Key != key {
		add(-1, "", "stored under key %s but its metadata says %s", key, si.Key)
	}
	dtype, _ := dtypeCode(si.DType)
	gens := sb.Bucket(keyGens)
	if gens == nil || gens.Bucket(genKey(0)) == nil {
		add(-1, "", "generation 0 is missing")
		if gens == nil {
			return
		}
	}
	_ = gens.ForEachBucket(func(gk []byte) error {
		r.Generations++
		if len(gk) != 4 {
			add(-1, "", "bad generation key %x", gk)
			return nil
		}
		n := int(binary.BigEndian.Uint32(gk))
		gb := gens.Bucket(gk)
		g, err := decodeGenInfo(gb.Get(keyInfo))
		if err != nil {
			add(n, "", "metadata: %v", err)
			return nil
		}
		if g.N != n {
			add(n, "", "metadata says generation %d", g.N)
		}
		if n == 0 && g.Dim != si.Dim {
			add(n, "", "dimension %d, set metadata says %d", g.Dim, si.Dim)
		}
		want, err := readCount(gb)
		if err != nil {
			add(n, "", "sample count: %v", err)
			want = -1
		}
		vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
		if vb == nil || eb == nil {
			add(n, "", "vector or error bucket missing")
			return nil
		}
		got, bad := 0, 0
		_ = vb.ForEach(func(k, v []byte) error {
			got++
			rec, err := parseRecord(v)
			msg := ""
			switch {
			case err != nil:
				msg = err.Error()
			case rec.dtype != dtype:
				msg = fmt.Sprintf("dtype code %d, set stores %s", rec.dtype, si.DType)
			case rec.dim != g.Dim:
				msg = fmt.Sprintf("dimension %d, generation has %d", rec.dim, g.Dim)
			}
			if msg != "" {
				if bad < maxProblemsPerGen {
					add(n, string(k), "%s", msg)
				}
				bad++
			}
			return nil
		})
		if bad > maxProblemsPerGen {
			add(n, "", "%d more bad records not listed", bad-maxProblemsPerGen)
		}
		r.Samples += got
		if want >= 0 && got != want {
			add(n, "", "holds %d vectors, metadata says %d", got, want)
		}
		_ = eb.ForEach(func(k, v []byte) error {
			r.Errors++
			var se SampleError
			if err := json.Unmarshal(v, &se); err != nil {
				add(n, string(k), "error record: %v", err)
			}
			return nil
		})
		return nil
	})
}

func verifyLabels(r *Report, lb *bolt.Bucket, name string) {
	add := func(id, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Gen: -1, ID: id, Msg: fmt.Sprintf("label set %q: ", name) + fmt.Sprintf(format, args...)})
	}
	var classes []string
	if err := json.Unmarshal(lb.Get(keyClasses), &classes); err != nil {
		add("", "classes: %v", err)
		return
	}
	ids := lb.Bucket(bucketIDs)
	if ids == nil {
		add("", "no label bucket")
		return
	}
	_ = ids.ForEach(func(k, v []byte) error {
		c, n := binary.Uvarint(v)
		if n <= 0 || c >= uint64(len(classes)) {
			add(string(k), "bad class index")
		}
		return nil
	})
}
