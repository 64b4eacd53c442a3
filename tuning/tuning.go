// Package tuning is asvp's built-in fine-tuning of a cached feature set:
// the backbone's tail above the cut, fine-tuned in Go (package
// models/finetune) from the activations that extraction cached beside the
// features, and the re-aligned features it computes for every sample.
//
// # Types
//
//   - Source: what fine-tuning a feature set needs. Open finds the set's
//     cached activations (cache.ActivationsOutput), reads the backbone's
//     ONNX file, cuts its tail and calibrates the BatchNorms inserted into it
//     on a fixed sample of the activations. Its Pretrained is the starting
//     point of every fine-tune, so the same labels and seed give the same
//     network whoever asks.
//   - Split turns rows of the activations matrix into the tail's inputs;
//     Embed makes a cache.EmbedFunc of a tuned tail, so that the re-aligned
//     features of every sample go through the cache's one generation writer.
package tuning

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/models/tail"
)

// ErrNoActivations means a feature set has no cached activations to
// fine-tune from: it was extracted without a cut.
var ErrNoActivations = errors.New("tuning: no cached activations")

// DefaultCalibRows is the number of activations, drawn with a fixed seed,
// that calibrate the BatchNorms inserted into the tail and the
// standardisation of the pretrained features.
const DefaultCalibRows = 2000

// Options tune Open. The zero value gives the defaults.
type Options struct {
	// Cut picks the cached activations when a set has several ("" for the
	// only one).
	Cut string
	// CalibRows is the number of calibration activations (DefaultCalibRows
	// when <= 0).
	CalibRows int
}

// Source is the pretrained tail of one feature set and its cached inputs.
type Source struct {
	Set  *cache.Set // the feature set whose features the tail computes
	Acts *cache.Set // the set's cached activations (generation 0)
	Cut  string
	Pre  *finetune.Pretrained
	// sizes of the parts of an activations row: the cut activation, then
	// each frozen input
	sizes []int
}

// FindActivations returns the activations set of set: the set of the same
// dataset, model and preprocessing whose output is
// cache.ActivationsOutput(cut, set's output), for cut when given. The
// error wraps ErrNoActivations when there is none, cache.ErrAmbiguous when
// several cuts are cached and none is named.
func FindActivations(db *cache.DB, set *cache.Set, cut string) (*cache.Set, string, error) {
	info := set.Info()
	infos, err := db.Sets()
	if err != nil {
		return nil, "", err
	}
	var match []cache.SetInfo
	var cuts []string
	for _, si := range infos {
		c, out, ok := cache.ParseActivationsOutput(si.Output)
		if ok && out == info.Output && si.Dataset == info.Dataset && si.ModelSHA256 == info.ModelSHA256 &&
			si.CardHash == info.CardHash && si.Shard == info.Shard && (cut == "" || c == cut) {
			match = append(match, si)
			cuts = append(cuts, c)
		}
	}
	switch len(match) {
	case 0:
		return nil, "", fmt.Errorf("%w of output %s of dataset %s (extract it with a cut to fine-tune it)", ErrNoActivations, info.Output, info.Dataset)
	case 1:
		acts, err := db.Set(match[0].Key)
		return acts, cuts[0], err
	}
	return nil, "", fmt.Errorf("tuning: output %s of dataset %s has activations at several cuts (%v): name one: %w", info.Output, info.Dataset, cuts, cache.ErrAmbiguous)
}

// Open returns the Source of a feature set: its cached activations, and
// the tail above their cut read from the backbone (card, and its ONNX file
// at modelPath, which must be the model and preprocessing the set was
// extracted with), calibrated on a fixed sample of the activations.
func Open(db *cache.DB, set *cache.Set, card models.Card, modelPath string, opts Options) (*Source, error) {
	acts, cut, err := FindActivations(db, set, opts.Cut)
	if err != nil {
		return nil, err
	}
	info := set.Info()
	if card.PreprocessHash() != info.CardHash {
		return nil, fmt.Errorf("tuning: card %s preprocesses otherwise than the features of %s were extracted: %w", card.Name, info.Dataset, cache.ErrMismatch)
	}
	sum, err := models.FileSHA256(modelPath)
	if err != nil {
		return nil, fmt.Errorf("tuning: %w", err)
	}
	if sum != info.ModelSHA256 {
		return nil, fmt.Errorf("tuning: %s has sha256 %s, but the features of %s came from model %s (sha256 %s): %w",
			modelPath, cache.ShortKey(sum), info.Dataset, info.Model, cache.ShortKey(info.ModelSHA256), cache.ErrMismatch)
	}
	m, err := onnxgraph.ReadFile(modelPath)
	if err != nil {
		return nil, err
	}
	tl, err := m.Cut(cut, []string{info.Output})
	if err != nil {
		return nil, fmt.Errorf("tuning: %s above %s: %w", modelPath, cut, err)
	}
	in := []int{-1, card.Height, card.Width, 3}
	if card.Layout == "NCHW" {
		in = []int{-1, 3, card.Height, card.Width}
	}
	var shapes [][]int
	for _, name := range tl.Sources() {
		sh, ok := m.Shape(name, map[string][]int{card.Input: in})
		if !ok || len(sh) < 2 || slices.Contains(sh[1:], -1) {
			return nil, fmt.Errorf("tuning: %s: no fixed shape of %s at input %v", modelPath, name, in)
		}
		shapes = append(shapes, sh[1:])
	}
	s := &Source{Set: set, Acts: acts, Cut: cut}
	total := 0
	for _, sh := range shapes {
		s.sizes = append(s.sizes, prod(sh))
		total += prod(sh)
	}
	if total != acts.Info().Dim {
		return nil, fmt.Errorf("tuning: the cached activations of %s have %d values per sample, the tail above %s takes %d: %w",
			info.Dataset, acts.Info().Dim, cut, total, cache.ErrMismatch)
	}
	net, err := tail.New(tl, shapes[0], shapes[1:])
	if err != nil {
		return nil, err
	}
	calib, err := s.calibration(opts.CalibRows)
	if err != nil {
		return nil, err
	}
	if s.Pre, err = finetune.Prepare(net, calib, finetune.PrepareOptions{}); err != nil {
		return nil, err
	}
	return s, nil
}

// calibration reads n activations of the set (DefaultCalibRows when n <=
// 0) drawn with a fixed seed: the same for every run on the same set.
func (s *Source) calibration(n int) (finetune.Activations, error) {
	if n <= 0 {
		n = DefaultCalibRows
	}
	all, err := s.Acts.ReadMatrix(0)
	if err != nil {
		return finetune.Activations{}, err
	}
	ids := slices.Clone(all.IDs)
	slices.Sort(ids) // the draw does not depend on the file's order
	if n < len(ids) {
		perm := rand.New(rand.NewPCG(0, 0x63616c6962)).Perm(len(ids))[:n] // stream "calib"
		pick := make([]string, n)
		for k, i := range perm {
			pick[k] = ids[i]
		}
		ids = pick
	}
	row := make(map[string]int, all.Rows)
	for i, id := range all.IDs {
		row[id] = i
	}
	rows := make([]int, len(ids))
	for k, id := range ids {
		rows[k] = row[id]
	}
	return s.Split(all, rows), nil
}

// Split returns the tail's inputs for rows of m, a matrix of the
// activations set (all rows, in order, when rows is nil). The values are
// copied.
func (s *Source) Split(m *features.Matrix, rows []int) finetune.Activations {
	if rows == nil {
		rows = make([]int, m.Rows)
		for i := range rows {
			rows[i] = i
		}
	}
	a := finetune.Activations{Rows: len(rows)}
	parts := make([][]float32, len(s.sizes))
	for k, size := range s.sizes {
		parts[k] = make([]float32, 0, len(rows)*size)
	}
	for _, i := range rows {
		off := 0
		row := m.Row(i)
		for k, size := range s.sizes {
			parts[k] = append(parts[k], row[off:off+size]...)
			off += size
		}
	}
	a.X, a.Frozen = parts[0], parts[1:]
	return a
}

// Embed returns the cache.EmbedFunc of a tuned tail: rows of the
// activations set in, the tuned features (the re-aligned features, in the
// space of the set's own) out.
func (s *Source) Embed(t *finetune.Tuned) cache.EmbedFunc {
	return func(src []float32, rows int, dst []float32) {
		m := &features.Matrix{Rows: rows, Cols: len(src) / max(rows, 1), Data: src}
		f, err := t.Features(s.Split(m, nil))
		if err != nil {
			panic(fmt.Sprintf("tuning: features of %d rows: %v", rows, err)) // shapes were checked by Open
		}
		copy(dst, f)
	}
}

func prod(v []int) int {
	p := 1
	for _, d := range v {
		p *= d
	}
	return p
}

// featureBatch is the number of samples Features computes at a time, to
// bound the memory of the split activations.
const featureBatch = 2048

// Features returns the features of a tuned tail (or, with t nil, the
// pretrained ones) of every row of acts, a matrix of the activations set,
// with acts' IDs.
func (s *Source) Features(t *finetune.Tuned, acts *features.Matrix) (*features.Matrix, error) {
	dim := s.Pre.Dim()
	out := features.NewMatrix(acts.Rows, dim)
	copy(out.IDs, acts.IDs)
	for lo := 0; lo < acts.Rows; lo += featureBatch {
		hi := min(lo+featureBatch, acts.Rows)
		rows := make([]int, hi-lo)
		for i := range rows {
			rows[i] = lo + i
		}
		a := s.Split(acts, rows)
		var f []float32
		var err error
		if t == nil {
			f, err = s.Pre.Features(a)
		} else {
			f, err = t.Features(a)
		}
		if err != nil {
			return nil, err
		}
		copy(out.Data[lo*dim:hi*dim], f)
	}
	return out, nil
}
