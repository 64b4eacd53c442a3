// Package cache stores extracted feature vectors in a single bbolt file.
// A new file has 16 KiB pages, which hold seven 512- or 576-dimensional
// float32 vectors where a 4 KiB page held one; an existing file keeps its
// own page size.
//
// There are few types: a DB is one cache file; a Set is one feature set in it,
// the vectors of one dataset under one model output and preprocessing. Reads
// return a features.Matrix, a dense block of vectors. GenInfo, SetInfo,
// SampleError and KV describe what is stored.
//
// # Feature sets and generations
//
// A feature set is keyed by Fingerprint(model SHA-256, output name,
// preprocessing card hash, dataset identity), so a set never mixes models or
// preprocessing. In format 2 the dataset identity of an extracted set is
// its normalised spec (SpecDatasetID; EnsureDatasetSet), not its file
// list, so one dataset keeps one set as its files change: the set's view
// (View, ApplyView, PutViewBatch) maps each sample ID to the SHA-256 of its
// content and the stat of its file, and a content index per feature space
// (model, output, card, dtype) maps each content hash to a (set, ID)
// holding its generation-0 vector, so that equal content is copied between
// sets instead of extracted again. GC drops the sets no dataset
// references; Compact shrinks the file. Opening a format-1 file for writing
// migrates it (a copy is kept as FILE.v1.bak; see Migrated). Shards of one extraction ("i/n") share the key, which is what
// lets Merge join shard files. A set holds generations: generation 0 holds the
// pre-trained features and exists as soon as EnsureSet returns; later
// generations hold re-aligned features, each with its own dimension and a
// free-form provenance. A simulation marks the generations it writes with the
// provenance key ProvenanceSimulation (see GenInfo.Simulation).
//
// An imported set (SetInfo.Import says from which file) holds vectors
// computed elsewhere: its key covers the file's content hash and the model
// name the user gave, and its generation 0 has the source SourceImport.
// ImportSet copies the vectors into the cache; the set counts as complete
// only once every row is written, so FindSet and PickGeneration refuse an
// interrupted import (ErrIncomplete). ImportReference records an .npy file
// instead (ImportInfo.Ref), complete at once: every read of the set reads,
// hashes and checks the file again, and refuses it (ErrSourceChanged) when
// it is gone or changed.
//
// Within a generation every sample is keyed by its stable string ID. Samples
// whose extraction failed are recorded as SampleError values instead, so that
// skipping bad inputs loses no information; Missing reports the IDs that are
// neither stored nor recorded as failed, which is what a resumed extraction
// still has to do.
//
// A later generation has one life cycle, whoever writes it (the built-in
// fine-tune, re-extraction with another model, the simulator):
// EnsureGeneration finds it by its source and provenance or adds it;
// WriteEmbedded writes the rows it still misses, one transaction per batch,
// so a killed writer resumes where it stopped; Finish checks the count and
// marks it complete. Readers that need whole generations use
// PickGeneration, Complete and LatestComplete, so that a generation left
// half-written is never taken for a whole one; FindAligned finds the
// generation of another set written the same way. FindSet finds a set by
// dataset and output.
//
// # Labels and experiment records
//
// Named label sets map sample IDs to class indices of a class list
// (PutLabels, AddLabels, Labels); a dataset's own labels are its oracle set
// (PutOracleLabels, OracleLabels). Every other stored record has one typed
// owner here: the wall time of extractions (AddExtractionSeconds,
// ExtractionSeconds), generation completion (MarkComplete), the live
// indicator's history (PutIndicatorPoint, IndicatorHistory) and a
// simulation's settings and rounds (PutSimSettings, SimSettings,
// PutSimRound, SimRounds, DeleteSimRounds). Underneath, records are opaque
// values in namespaces ordered by key (PutRecord, Record, Records), whose
// names no other package spells.
//
// # Checking, joining, exporting
//
// ReadMatrix, ReadMatrixInto (which reuses a caller's Matrix across reads)
// and ReadRows verify every record's checksum. Verify checks a whole file, bbolt's page
// structure first, and lists problems by set, generation and sample ID.
// Merge joins shard files; Export writes a generation as NumPy .npy or CSV.
//
// bbolt trusts the file it maps and panics, or reads outside the mapping,
// when its page structure is damaged. This package turns that into errors:
// Open, reads and writes on a damaged file fail with an error wrapping
// ErrCorrupt that names the file (a write is rolled back), and Verify reports
// the damage as problems. A child-page pointer that forms a cycle makes
// bbolt's cursors loop: Verify detects it without walking the cycle, and
// ReadMatrix stops once a generation yields more records than the file has
// room for; other reads (Errors, Labels, Records) may still loop until
// memory runs out on such a file.
//
// # Transactions and lifetimes
//
// Every write method is one bbolt read-write transaction: PutBatch stores all
// of its samples or none of them, so a crash loses at most the batch in
// flight. Values handed out (matrices, records, labels) are copies that the
// caller owns; nothing returned aliases the memory-mapped file.
//
// # File layout
//
// The root holds the buckets "meta" (a magic string and the format version),
// "sets", "labels", "records" and (format 2) "content", the content index:
// one bucket per feature space, content hash -> set key and sample ID. A
// set's bucket holds "info", "gens" and (format 2) "view": sample ID ->
// content hash, file size, modification time (ns) and inode. A stored vector is one record: a format
// byte, a dtype byte, the dimension as a uvarint, the CRC-32C of the payload,
// and the little-endian payload. Opening a file that
// is not an asvp cache fails with ErrNotCache; a cache written by a newer
// format version fails with ErrVersion.
//
// A DB is safe for concurrent use by several goroutines. Only one process
// may open a cache for writing at a time; a second one fails after a second
// with an error saying the cache is in use.
package cache
