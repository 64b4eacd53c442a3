package loop

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
)

// viewStats is what reconcileViews did.
type viewStats struct{ hashed, copied, changed, removed int }

// reconcileViews brings the views of sets (of one dataset) up to date with
// the samples indices of ds before extraction: each sample's content hash,
// taken from the view when its file's stat is unchanged and computed
// (workers at a time) otherwise. Samples of new or changed content get a
// copy of equal content's features when the cache holds some, so that the
// extraction that follows runs only content never seen; a changed sample
// loses its old features. When whole is set (the extraction covers the
// dataset), samples the views hold that the dataset no longer has leave
// them. A sample whose file cannot be read leaves the view too: extraction
// records why.
func reconcileViews(ctx context.Context, ds datasets.Dataset, indices []int, whole bool, sets []*cache.Set, workers int, progress io.Writer) (viewStats, map[string]cache.ViewEntry, error) {
	var st viewStats
	views := make([]map[string]cache.ViewEntry, len(sets))
	for k, s := range sets {
		v, err := s.View()
		if err != nil {
			return st, nil, err
		}
		views[k] = v
	}
	entries := make([]cache.ViewEntry, len(indices))
	ok := make([]bool, len(indices))
	var todo []int // positions in indices whose file must be hashed
	for j, i := range indices {
		id := ds.Sample(i).ID
		fs, has := datasets.SampleStat(ds, i)
		known := has && len(views) > 0
		var e cache.ViewEntry
		for k := range views {
			v, in := views[k][id]
			if !in || !v.SameStat(fs.Size, fs.MtimeNS, fs.Inode) || (k > 0 && v.Hash != e.Hash) {
				known = false
				break
			}
			e = v
		}
		if known {
			entries[j], ok[j] = e, true
			continue
		}
		entries[j] = cache.ViewEntry{Size: fs.Size, MtimeNS: fs.MtimeNS, Inode: fs.Inode}
		todo = append(todo, j)
	}
	if len(todo) > 0 && progress != nil {
		fmt.Fprintf(progress, "extract: hashing %d of %d samples (new or changed files)\n", len(todo), len(indices))
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, len(todo)) {
		wg.Go(func() {
			for j := range next {
				h, err := datasets.SampleHash(ds, indices[j])
				if err == nil {
					entries[j].Hash, ok[j] = h, true
				}
			}
		})
	}
feed:
	for _, j := range todo {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return st, nil, err
	}
	st.hashed = len(todo)
	present := make(map[string]bool, len(indices))
	for k, s := range sets {
		var puts []cache.ViewPut
		var removes []string
		for j, i := range indices {
			id := ds.Sample(i).ID
			present[id] = true
			if !ok[j] {
				// Unreadable: it loses what it had, and extraction
				// records why.
				if _, in := views[k][id]; in {
					removes = append(removes, id)
				}
				continue
			}
			if old, in := views[k][id]; in && old == entries[j] {
				continue
			}
			puts = append(puts, cache.ViewPut{ID: id, Entry: entries[j]})
		}
		if whole {
			for id := range views[k] {
				if !present[id] {
					removes = append(removes, id)
				}
			}
		}
		r, err := s.ApplyView(puts, removes)
		if err != nil {
			return st, nil, err
		}
		st.copied += r.Copied
		st.changed += r.Changed
		st.removed += r.Removed
	}
	if progress != nil && (st.copied+st.changed+st.removed > 0) {
		fmt.Fprintf(progress, "extract: %s: %d samples copied from equal content already cached, %d changed, %d removed (%s)\n",
			ds.Spec(), st.copied, st.changed, st.removed, strings.Join(setKeys(sets), ", "))
	}
	byID := make(map[string]cache.ViewEntry, len(indices))
	for j, i := range indices {
		if ok[j] {
			byID[ds.Sample(i).ID] = entries[j]
		}
	}
	return st, byID, nil
}

func setKeys(sets []*cache.Set) []string {
	out := make([]string, len(sets))
	for k, s := range sets {
		out[k] = s.ShortKey()
	}
	return out
}

// checkDatasetUnchanged refuses a dataset whose samples are not those the
// set of info was extracted from. A set extracted before format 2 is keyed
// by its file list (DatasetID is the dataset's Identity); a later one by
// its spec, and its view says what it holds (extract brings it up to date).
func checkDatasetUnchanged(ds datasets.Dataset, info cache.SetInfo) error {
	if strings.HasPrefix(info.DatasetID, "spec:") || ds.Identity() == info.DatasetID {
		return nil
	}
	return fmt.Errorf("loop: dataset %s has changed since its features were extracted (identity %s, cached %s): extract it again",
		info.Dataset, cache.ShortKey(ds.Identity()), cache.ShortKey(info.DatasetID))
}
