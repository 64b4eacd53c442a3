package selector

import (
	"encoding/binary"
	"hash/fnv"
)

// Purposes of the random streams RoundSeed derives.
const (
	PurposeSelect  = "select"  // a strategy's own random choices (ties, sampling, seeding)
	PurposeProxy   = "proxy"   // a proxy's initial weights and batch order
	PurposeModel   = "model"   // the reported (or standard AL's selecting) model of a round
	PurposeRealign = "realign" // the fine-tune of a re-alignment
)

// RoundSeed derives the seed of one random stream from a run's seed, the
// selection round (0 for the initial batch; round r buys the r-th batch)
// and the stream's purpose. `asvp select` and the simulator both use it, so
// a live selection with a simulation's seed and round, on the same labeled
// set, picks what that round picked.
func RoundSeed(seed uint64, round int, purpose string) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(round))
	h.Write(b[:])
	h.Write([]byte(purpose))
	return h.Sum64()
}

// NeedsProxy reports whether the strategy called name scores samples with a
// trained model (a proxy); random, kcenter and typiclust do not, so they can
// pick a first batch before any label exists.
func NeedsProxy(name string) bool {
	switch name {
	case "random", "kcenter", "typiclust":
		return false
	}
	return true
}
