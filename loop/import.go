package loop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/embeddings"
	"github.com/asvp-dev/asvp/features"
)

// Import file formats.
const (
	ImportNPY     = "npy"
	ImportParquet = "parquet"
)

// DefaultImportOutput is the output name of an imported set when none is
// given.
const DefaultImportOutput = "embedding"

// ImportFeaturesOptions says which embedding file ImportFeatures brings into a cache.
type ImportFeaturesOptions struct {
	Cache string // cache file, created when missing
	File  string // the .npy or .parquet file
	// Format is ImportNPY or ImportParquet ("": from File's extension).
	Format string
	// IDs is the text file of an .npy's sample IDs, one per line in row
	// order ("": File + ".ids.txt", as `asvp cache export` writes it).
	IDs string
	// Parquet names a Parquet file's columns.
	Parquet embeddings.ParquetOptions
	// Labels is an id,label CSV of (some of) the samples' classes, stored
	// as the set's oracle labels for simulate and probe ("": none, or the
	// Parquet label column).
	Labels string
	// Model names what computed the vectors (for example "clip-vit-b32");
	// it is part of the set's key, so vectors of two models never mix.
	Model string
	// Name makes the set's dataset spec "import:NAME", by which commands
	// name it ("": File's base name without its extension).
	Name string
	// Output is the set's output name ("": DefaultImportOutput).
	Output string
	// Copy keeps an .npy's vectors in the cache. Without it the cache
	// refers to the .npy and its IDs file where they are (absolute
	// paths), and every read of the set reads and checks them again: the
	// import then costs about one read of the file, and the cache does not
	// grow by its size, but the set is lost with the file. A Parquet
	// file's vectors are always copied.
	Copy bool
	Log  io.Writer // progress; nil for none
}

// Where an imported set's vectors are (ImportFeaturesResult.Stored).
const (
	StoredReference = "reference"
	StoredCache     = "cache"
)

// ImportFeaturesResult is what ImportFeatures did.
type ImportFeaturesResult struct {
	Cache   string `json:"cache"`
	Set     string `json:"set"`
	Dataset string `json:"dataset"`
	Output  string `json:"output"`
	Model   string `json:"model"`
	File    string `json:"file"`
	Format  string `json:"format"`
	// Hash is the file's content hash (embeddings.Hash).
	Hash string `json:"hash"`
	// Stored says where the set's vectors are: StoredReference (the file
	// itself, Reference names it) or StoredCache.
	Stored    string   `json:"stored"`
	Reference string   `json:"reference,omitempty"`
	Rows      int      `json:"rows"`
	Dim       int      `json:"dim"`
	DType     string   `json:"dtype"`
	Written   int      `json:"written"`
	Already   bool     `json:"already_imported"`
	Labels    int      `json:"labels"`
	Classes   []string `json:"classes,omitempty"`
	// Seconds is the time of reading and checking the file ("read") and
	// of writing the cache ("write").
	Seconds map[string]float64 `json:"seconds"`
}

func (o *ImportFeaturesOptions) normalize() error {
	if o.Model == "" {
		return optionErr("model", "is required: name what computed the vectors (it keys the feature set)")
	}
	if strings.ContainsAny(o.Model, "\n\r") {
		return optionErr("model", "%q holds a line break", o.Model)
	}
	if o.Format == "" {
		switch strings.ToLower(filepath.Ext(o.File)) {
		case ".npy":
			o.Format = ImportNPY
		case ".parquet", ".pq":
			o.Format = ImportParquet
		default:
			return optionErr("format", "not given and %s ends in neither .npy nor .parquet", o.File)
		}
	}
	switch o.Format {
	case ImportNPY:
		if o.IDs == "" {
			o.IDs = o.File + ".ids.txt"
		}
		if o.Parquet != (embeddings.ParquetOptions{}) {
			return optionErr("format", "npy takes no Parquet column names")
		}
	case ImportParquet:
		if o.IDs != "" {
			return optionErr("ids", "a Parquet file holds its IDs (name the column with --id-column)")
		}
		if o.Labels != "" && o.Parquet.LabelColumn != "" {
			return optionErr("labels", "give a labels file or a label column, not both")
		}
	default:
		return optionErr("format", "%q: want npy or parquet", o.Format)
	}
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(o.File), filepath.Ext(o.File))
	}
	if err := embeddings.CheckID(o.Name); err != nil {
		return optionErr("name", "%v", err)
	}
	if o.Output == "" {
		o.Output = DefaultImportOutput
	}
	return nil
}

// ImportFeatures reads an embedding file (a 2-D float32 or float16 .npy
// with its IDs file, or a Parquet table), checks every row, and records it
// as a feature set of the dataset "import:NAME", keyed by the file's
// content hash, the IDs' and the model name: importing the same file again
// writes nothing, a changed file makes a new set. An .npy is imported by
// reference unless opts.Copy says otherwise (see Copy); a Parquet file's
// vectors are copied into the cache. Labels become the dataset's oracle
// labels. A file with a bad row (a non-finite value, a repeated ID, a
// ragged vector) is refused naming the row before the cache is opened, so
// nothing of it is written.
func ImportFeatures(opts ImportFeaturesOptions) (res *ImportFeaturesResult, err error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	say := func(format string, a ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "import: "+format+"\n", a...)
		}
	}
	secs := map[string]float64{}
	t0 := time.Now()
	var src *importSource
	if opts.Format == ImportNPY && !opts.Copy {
		src, err = openNPYReference(opts)
	} else {
		src, err = readImportFile(opts)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := src.close(); err == nil {
			err = cerr
		}
	}()
	spec := cache.ImportDataset(opts.Name)
	classes, labels, err := importLabels(opts, src.ids, src.labels)
	if err != nil {
		return nil, err
	}
	secs["read"] = time.Since(t0).Seconds()
	say("%s: %d x %d %s, %s, %d labels", opts.File, src.rows, src.dim, src.dtype, src.imp.Hash, len(labels))
	datasetID := src.imp.Hash
	if src.imp.IDsHash != "" {
		datasetID += ",ids-" + src.imp.IDsHash
	}
	info := cache.SetInfo{Model: opts.Model, Output: opts.Output, CardHash: "import:" + opts.Model,
		Dataset: spec, DatasetID: datasetID, DType: src.dtype, Dim: src.dim, Import: src.imp}
	db, err := cache.Open(opts.Cache, nil)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	t0 = time.Now()
	var set *cache.Set
	written, already := 0, false
	if src.imp.Ref != nil {
		set, already, err = db.ImportReference(info)
	} else {
		var last time.Time
		set, written, err = db.ImportSet(info, src.matrix, func(done, total int) {
			if time.Since(last) > 2*time.Second || done == total {
				last = time.Now()
				say("wrote %d/%d rows", done, total)
			}
		})
		already = written == 0
	}
	if err != nil {
		return nil, err
	}
	if len(labels) > 0 {
		if err := db.PutOracleLabels(spec, classes, labels); err != nil {
			return nil, err
		}
	}
	secs["write"] = time.Since(t0).Seconds()
	res = &ImportFeaturesResult{Cache: opts.Cache, Set: set.Key(), Dataset: spec, Output: opts.Output, Model: opts.Model,
		File: opts.File, Format: opts.Format, Hash: src.imp.Hash, Stored: StoredCache, Rows: src.rows, Dim: src.dim, DType: src.dtype,
		Written: written, Already: already, Labels: len(labels), Classes: classes, Seconds: secs}
	if set.ByReference(0) {
		res.Stored, res.Reference = StoredReference, set.Info().Import.Ref.Path
	} else if src.imp.Ref != nil {
		say("the cache already holds this file's vectors (an import with --copy): it keeps them")
	}
	// A set of the same name and output from another file makes commands
	// that name the dataset ask which one: say so now.
	if sets, err := db.Sets(); err == nil {
		for _, si := range sets {
			if si.Dataset == spec && si.Output == opts.Output && si.Key != set.Key() {
				say("note: %s output %s now holds another set too (%s, from %s): give each file its own --name so commands can tell them apart",
					spec, opts.Output, cache.ShortKey(si.Key), importFile(si))
			}
		}
	}
	return res, nil
}

// importSource is an embedding file read and checked for an import: its
// shape, IDs and labels, the ImportInfo of the set, and either its
// matrix (to copy) or, for an import by reference, the open file.
type importSource struct {
	rows, dim int
	dtype     string
	ids       []string
	labels    []string // a Parquet label column, row i's in labels[i]
	imp       *cache.ImportInfo
	matrix    *features.Matrix
	close     func() error
}

// openNPYReference reads and checks an .npy and its IDs for an import by
// reference: nothing of the values is converted or copied.
func openNPYReference(opts ImportFeaturesOptions) (*importSource, error) {
	path, err := filepath.Abs(opts.File)
	if err != nil {
		return nil, optionErr("from", "%v", err)
	}
	ids, err := filepath.Abs(opts.IDs)
	if err != nil {
		return nil, optionErr("ids", "%v", err)
	}
	n, err := embeddings.OpenNPY(path, ids)
	if err != nil {
		return nil, err
	}
	return &importSource{rows: n.Rows, dim: n.Cols, dtype: n.DType, ids: n.IDs, close: n.Close,
		imp: &cache.ImportInfo{File: opts.File, Format: ImportNPY, Hash: n.Hash, IDs: opts.IDs, IDsHash: n.IDsHash, Rows: n.Rows,
			Ref: &cache.ImportRef{Path: path, IDs: ids}}}, nil
}

// readImportFile reads an .npy or Parquet file whole, for an import that
// copies its vectors into the cache.
func readImportFile(opts ImportFeaturesOptions) (*importSource, error) {
	var f *embeddings.File
	var err error
	if opts.Format == ImportNPY {
		f, err = embeddings.ReadNPY(opts.File, opts.IDs)
	} else {
		f, err = embeddings.ReadParquet(opts.File, opts.Parquet)
	}
	if err != nil {
		return nil, err
	}
	m := f.Matrix
	imp := &cache.ImportInfo{File: opts.File, Format: opts.Format, Hash: f.Hash, Rows: m.Rows}
	if opts.Format == ImportNPY {
		imp.IDs, imp.IDsHash = opts.IDs, f.IDsHash
	}
	return &importSource{rows: m.Rows, dim: m.Cols, dtype: f.DType, ids: m.IDs, labels: f.Labels, imp: imp, matrix: m, close: f.Close}, nil
}

// refuseImported returns an error for an imported set: command needs the
// backbone that computed a set's features, or its images, and imported
// vectors come with neither.
func refuseImported(si cache.SetInfo, command string) error {
	if si.Import == nil {
		return nil
	}
	return fmt.Errorf("loop: %s needs the backbone that computed the features and the images behind them; %s holds embeddings imported from %s (model %s) without either: %w",
		command, si.Dataset, si.Import.File, si.Model, ErrImported)
}

// ErrImported means a step that needs a backbone or images was given an
// imported feature set.
var ErrImported = errors.New("imported features have no backbone")

func importFile(si cache.SetInfo) string {
	if si.Import == nil {
		return "an extraction"
	}
	return si.Import.File
}

// importLabels returns the classes and the labels of the imported rows,
// from the labels CSV or the Parquet label column. Classes are the
// distinct labels sorted, numerically when all are integers. A labelled ID
// that the file does not hold is an error naming its line.
func importLabels(opts ImportFeaturesOptions, ids, column []string) ([]string, map[string]int, error) {
	names := map[string]string{} // id -> class name
	if opts.Labels != "" {
		raw, err := os.ReadFile(opts.Labels)
		if err != nil {
			return nil, nil, &OptionError{Option: "labels", Err: err}
		}
		rows, err := datasets.ReadLabels(bytes.NewReader(raw), opts.Labels)
		if err != nil {
			return nil, nil, err
		}
		have := make(map[string]bool, len(ids))
		for _, id := range ids {
			have[id] = true
		}
		for _, r := range rows {
			if !have[r.ID] {
				return nil, nil, optionErr("labels", "%s line %d: id %q is not in %s", opts.Labels, r.Line, r.ID, opts.File)
			}
			names[r.ID] = r.Label
		}
	}
	for i, l := range column {
		if l != "" {
			names[ids[i]] = l
		}
	}
	if len(names) == 0 {
		return nil, nil, nil
	}
	classes, labels, err := classesOf(names)
	if err != nil {
		return nil, nil, optionErr("labels", "%v", err)
	}
	return classes, labels, nil
}

// classesOf returns the distinct class names of names (ID -> class name),
// sorted, numerically when all are integers, and the labels as indices.
func classesOf(names map[string]string) ([]string, map[string]int, error) {
	seen := map[string]bool{}
	var classes []string
	for _, c := range names {
		if !seen[c] {
			seen[c] = true
			classes = append(classes, c)
		}
	}
	numeric := true
	for _, c := range classes {
		if _, err := strconv.Atoi(c); err != nil {
			numeric = false
		}
	}
	slices.SortFunc(classes, func(a, b string) int {
		if numeric {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x - y
		}
		return strings.Compare(a, b)
	})
	if len(classes) < 2 {
		return nil, nil, fmt.Errorf("one class (%q): a classifier needs at least 2", classes[0])
	}
	index := make(map[string]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	labels := make(map[string]int, len(names))
	for id, c := range names {
		labels[id] = index[c]
	}
	return classes, labels, nil
}
