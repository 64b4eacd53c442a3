// Command gen writes the data the selector comparison scripts read, and runs
// the Go side of each comparison on the same data.
//
//	gen -out DIR data      writes pool.npy (n×d float32, selector.SyntheticMixture,
//	                       10 components, seed 42), pool_labels.npy (int64) and
//	                       fmnist_{train,test}_{x,y}.npy (first 5,000 train / 2,000
//	                       test Fashion-MNIST images, pixels/255, float32 / int64)
//	gen -out DIR kcenter   runs Go greedy k-center on the pool (first -labeled rows
//	                       labeled, -budget picks), writes go_kcenter.txt, prints JSON
//	gen -out DIR logreg    trains the Go linear proxy on fmnist_train, prints JSON
//	                       with test accuracy and seconds
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/selector"
)

func main() {
	out := flag.String("out", "/tmp/asvp-bench", "data directory")
	n := flag.Int("n", 1_000_000, "pool rows")
	d := flag.Int("d", 512, "pool columns")
	labeled := flag.Int("labeled", 1000, "labeled rows (the first ones)")
	budget := flag.Int("budget", 100, "k-center picks")
	fm := flag.String("fmnist", "/usr/share/datasets/fashion-mnist", "Fashion-MNIST directory")
	maxIter := flag.Int("max-iter", 0, "logreg: L-BFGS iterations (0: the proxy's default)")
	flag.Parse()
	if err := run(flag.Arg(0), *out, *fm, *n, *d, *labeled, *budget, *maxIter); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(mode, out, fm string, n, d, labeled, budget, maxIter int) error {
	switch mode {
	case "data":
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		pool, y := selector.SyntheticMixture(n, d, 10, 42)
		if err := writeNpyF32(filepath.Join(out, "pool.npy"), pool.Data, n, d); err != nil {
			return err
		}
		if err := writeNpyI64(filepath.Join(out, "pool_labels.npy"), y); err != nil {
			return err
		}
		for _, s := range []struct {
			split string
			n     int
		}{{"train", 5000}, {"t10k", 2000}} {
			X, y, err := loadFMNIST(fm, s.split, s.n)
			if err != nil {
				return err
			}
			name := map[string]string{"train": "train", "t10k": "test"}[s.split]
			if err := writeNpyF32(filepath.Join(out, "fmnist_"+name+"_x.npy"), X.Data, X.Rows, X.Cols); err != nil {
				return err
			}
			if err := writeNpyI64(filepath.Join(out, "fmnist_"+name+"_y.npy"), y); err != nil {
				return err
			}
		}
		return nil
	case "kcenter":
		pool, _ := selector.SyntheticMixture(n, d, 10, 42)
		lab := make([]bool, n)
		for i := range labeled {
			lab[i] = true
		}
		s, err := selector.NewStrategy("kcenter", selector.StrategyOptions{})
		if err != nil {
			return err
		}
		t0 := time.Now()
		picks, err := s.Select(context.Background(), selector.Request{Pool: pool, Labeled: lab, Budget: budget, Seed: 1})
		if err != nil {
			return err
		}
		sec := time.Since(t0).Seconds()
		f, err := os.Create(filepath.Join(out, "go_kcenter.txt"))
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		for _, p := range picks {
			fmt.Fprintf(w, "%d %.6f\n", p.Index, p.Score)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": sec, "budget": budget, "last_radius": picks[len(picks)-1].Score})
	case "logreg":
		Xtr, ytr, err := loadFMNIST(fm, "train", 5000)
		if err != nil {
			return err
		}
		Xte, yte, err := loadFMNIST(fm, "t10k", 2000)
		if err != nil {
			return err
		}
		cfg := selector.DefaultProxyConfig("linear")
		cfg.Standardize = false
		if maxIter > 0 {
			cfg.Epochs = maxIter
		}
		t0 := time.Now()
		p, err := selector.TrainProxy(cfg, Xtr, ytr, 10)
		if err != nil {
			return err
		}
		sec := time.Since(t0).Seconds()
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": sec, "accuracy": selector.Accuracy(p, Xte, yte),
			"l2": cfg.L2, "sklearn_C": 1 / (cfg.L2 * float64(Xtr.Rows)), "max_iter": cfg.Epochs})
	}
	return fmt.Errorf("unknown mode %q (want data, kcenter or logreg)", mode)
}

// loadFMNIST returns the first n images of a Fashion-MNIST split ("train"
// or "t10k") in dir as pixels/255, with their labels, read by the datasets
// package.
func loadFMNIST(dir, split string, n int) (*features.Matrix, []int, error) {
	spec := "fashion-mnist:train"
	if split == "t10k" {
		spec = "fashion-mnist:test"
	}
	ds, err := datasets.Open(spec, datasets.Options{FashionMNISTDir: dir})
	if err != nil {
		return nil, nil, err
	}
	px, y, err := datasets.GrayPixels(ds, n)
	if err != nil {
		return nil, nil, err
	}
	m := features.NewMatrix(n, 784)
	for j, p := range px {
		m.Data[j] = float32(p) / 255
	}
	return m, y, nil
}

func npyHeader(descr string, shape string) []byte {
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	pad := 64 - (10+len(h)+1)%64
	for range pad {
		h += " "
	}
	h += "\n"
	b := []byte("\x93NUMPY\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	return append(b, h...)
}

func writeNpyF32(path string, data []float32, rows, cols int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(npyHeader("<f4", fmt.Sprintf("(%d, %d)", rows, cols)))
	if err := binary.Write(w, binary.LittleEndian, data); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func writeNpyI64(path string, v []int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.Write(npyHeader("<i8", fmt.Sprintf("(%d,)", len(v))))
	for _, x := range v {
		binary.Write(w, binary.LittleEndian, int64(x))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
