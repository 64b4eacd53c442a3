package extractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/asvp-dev/asvp/datasets"
)

// Failure is one sample that could not be turned into features.
type Failure struct {
	ID     string
	Path   string
	Reason string
}

// Sink receives features. The extractor calls Missing once, then Put once per
// batch in dataset order. A Sink that makes each Put atomic (all of the batch
// or none of it) makes extraction resumable.
type Sink interface {
	// Missing returns those of ids that have neither features nor a recorded failure, in the given order.
	Missing(ids []string) ([]string, error)
	// Put stores one batch: the vector of ids[i] for output k is
	// vecs[k][i*dims[k]:(i+1)*dims[k]]. failed lists samples of the batch that could not be read.
	Put(ids []string, vecs [][]float32, failed []Failure) error
}

// Config says how to run an extraction.
type Config struct {
	// BatchSize is the number of images per runtime call; default 32.
	BatchSize int
	// Workers is the number of goroutines decoding and resizing images; default GOMAXPROCS.
	Workers int
	// OnError is "skip" (default: record the failure, go on) or "fail" (stop at the first bad sample).
	OnError string
	// Progress receives a status line every ProgressEvery (default 2s) and at the end; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Stats summarises one Run.
type Stats struct {
	Requested int           // samples asked for
	Cached    int           // already in the sink, skipped
	Done      int           // samples whose features were stored
	Failed    int           // samples recorded as failures
	Batches   int           // runtime calls
	Elapsed   time.Duration // wall time of the run
	Decode    time.Duration // summed worker time decoding and preprocessing
	Infer     time.Duration // time inside the runtime
}

// ImagesPerSecond is the stored-sample throughput of the run.
func (s Stats) ImagesPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done+s.Failed) / s.Elapsed.Seconds()
}

// ErrBadSample is wrapped by the error Run returns when OnError is "fail" and a sample cannot be read.
var ErrBadSample = errors.New("bad sample")

// Extractor runs a Session over datasets.
type Extractor struct {
	sess *Session
	cfg  Config
}

// New returns an Extractor over sess. The Session stays owned by the caller.
func New(sess *Session, cfg Config) (*Extractor, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 32
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.OnError == "" {
		cfg.OnError = "skip"
	}
	if cfg.OnError != "skip" && cfg.OnError != "fail" {
		return nil, fmt.Errorf("extractor: OnError %q: want skip or fail", cfg.OnError)
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 2 * time.Second
	}
	return &Extractor{sess: sess, cfg: cfg}, nil
}

type batch struct {
	seq    int
	ids    []string // samples in the batch, in dataset order
	ok     []string // the subset that decoded, in order; their tensors are packed in input
	input  []float32
	buf    *[]float32 // pooled backing store of input
	failed []Failure
	vecs   [][]float32
	decode time.Duration
	infer  time.Duration
}

// Run extracts the samples of ds at indices (nil: all) that sink still
// misses. It returns when every batch is stored, on the first error, or when
// ctx is cancelled; batches already stored stay stored.
func (e *Extractor) Run(ctx context.Context, ds datasets.Dataset, indices []int, sink Sink) (Stats, error) {
	start := time.Now()
	if indices == nil {
		indices = make([]int, ds.Len())
		for i := range indices {
			indices[i] = i
		}
	}
	ids := make([]string, len(indices))
	where := make(map[string]int, len(indices))
	for k, i := range indices {
		ids[k] = ds.Sample(i).ID
		where[ids[k]] = i
	}
	missing, err := sink.Missing(ids)
	if err != nil {
		return Stats{}, fmt.Errorf("extractor: find missing samples: %w", err)
	}
	todo := make([]int, len(missing))
	for k, id := range missing {
		todo[k] = where[id]
	}
	st := Stats{Requested: len(indices), Cached: len(indices) - len(todo)}
	if err := e.sess.clearTerminate(); err != nil { // a cancelled earlier Run may have set it
		return st, fmt.Errorf("extractor: reset run options: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	prepared := make(chan *batch, 1)
	inferred := make(chan *batch, 1)
	bufs := sync.Pool{New: func() any {
		b := make([]float32, e.cfg.BatchSize*e.sess.card.Height*e.sess.card.Width*3)
		return &b
	}}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // producer: decode and preprocess batch k+1 while batch k runs
		defer wg.Done()
		// One preprocessor per decoding worker for the whole run, so its
		// scratch memory and axes carry over from batch to batch.
		pps := make([]*preprocessor, e.cfg.Workers)
		for w := range pps {
			pps[w] = newPreprocessor(e.sess.card)
		}
		defer close(prepared)
		for seq, lo := 0, 0; lo < len(todo); seq, lo = seq+1, lo+e.cfg.BatchSize {
			chunk := todo[lo:min(lo+e.cfg.BatchSize, len(todo))]
			b, err := e.prepare(ctx, ds, chunk, bufs.Get().(*[]float32), pps)
			if err != nil {
				cancel(err)
				return
			}
			b.seq = seq
			select {
			case prepared <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // inference: one runtime call at a time
		defer wg.Done()
		defer close(inferred)
		stop := context.AfterFunc(ctx, func() { e.sess.Terminate() })
		defer stop()
		for b := range prepared {
			if ctx.Err() != nil {
				continue // drain
			}
			if len(b.ok) > 0 {
				t0 := time.Now()
				vecs, err := e.sess.Run(b.input, len(b.ok))
				b.infer = time.Since(t0)
				if err != nil {
					cancel(err)
					continue
				}
				b.vecs = vecs
			}
			bufs.Put(b.buf)
			b.input, b.buf = nil, nil
			select {
			case inferred <- b:
			case <-ctx.Done():
			}
		}
	}()
	prog := newProgress(e.cfg.Progress, e.cfg.ProgressEvery, len(todo), st.Cached)
	for b := range inferred { // writer: batches arrive in order
		if ctx.Err() != nil {
			continue // drain
		}
		if err := sink.Put(b.ok, b.vecs, b.failed); err != nil {
			cancel(fmt.Errorf("extractor: store batch %d (%d samples from %s): %w", b.seq, len(b.ids), b.ids[0], err))
			continue
		}
		st.Batches++
		st.Done += len(b.ok)
		st.Failed += len(b.failed)
		st.Decode += b.decode
		st.Infer += b.infer
		prog.update(st.Done+st.Failed, st.Failed, false)
	}
	wg.Wait()
	st.Elapsed = time.Since(start)
	prog.update(st.Done+st.Failed, st.Failed, true)
	if err := context.Cause(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// prepare decodes and preprocesses the samples at chunk into buf with
// e.cfg.Workers goroutines, worker w using pps[w].
func (e *Extractor) prepare(ctx context.Context, ds datasets.Dataset, chunk []int, buf *[]float32, pps []*preprocessor) (*batch, error) {
	card := e.sess.card
	per := card.Height * card.Width * 3
	tmp := make([][]float32, len(chunk)) // per-sample tensors, nil on failure
	errs := make([]error, len(chunk))
	var next sync.Mutex
	k := 0
	var wg sync.WaitGroup
	var decode time.Duration
	var mu sync.Mutex
	for w := range min(e.cfg.Workers, len(chunk)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w0 := time.Now()
			pp := pps[w]
			for ctx.Err() == nil {
				next.Lock()
				j := k
				k++
				next.Unlock()
				if j >= len(chunk) {
					break
				}
				img, err := ds.Image(chunk[j])
				if err != nil {
					errs[j] = err
					continue
				}
				t := (*buf)[j*per : (j+1)*per]
				pp.run(img, t)
				tmp[j] = t
			}
			mu.Lock()
			decode += time.Since(w0)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	b := &batch{ids: make([]string, len(chunk)), decode: decode}
	n := 0
	for j, i := range chunk {
		s := ds.Sample(i)
		b.ids[j] = s.ID
		if errs[j] != nil {
			if e.cfg.OnError == "fail" {
				return nil, fmt.Errorf("extractor: sample %s (%s): %w: %w", s.ID, s.Path, ErrBadSample, errs[j])
			}
			b.failed = append(b.failed, Failure{ID: s.ID, Path: s.Path, Reason: reason(errs[j])})
			continue
		}
		if n != j { // pack the good tensors to the front, in order
			copy((*buf)[n*per:(n+1)*per], tmp[j])
		}
		b.ok = append(b.ok, s.ID)
		n++
	}
	b.input, b.buf = *buf, buf
	return b, nil
}

func reason(err error) string {
	var se *datasets.SampleError
	if errors.As(err, &se) && se.Err != nil {
		return se.Err.Error()
	}
	return err.Error()
}
