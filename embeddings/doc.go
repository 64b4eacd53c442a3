// Package embeddings reads and writes embedding files made by other tools:
// NumPy .npy matrices with their sample IDs beside them, and Parquet tables
// of an ID column and a vector (a list column of floats, or one column per
// dimension). It is how features computed elsewhere (CLIP or DINOv2
// vectors, text or audio embeddings) come into asvp, and how asvp's
// features leave it.
//
// A read returns a features.Matrix, one row per sample with its ID, and the
// content hash (Hash) of every byte read (the vectors and the IDs), so
// that a cache can key the imported set by content; OpenNPY checks and
// hashes an .npy without converting its values, for a cache that refers
// to the file instead of copying it. Reads refuse, naming the row
// (1-based, in the file's row order): a non-finite value, a repeated or
// empty ID, a list whose length differs from the first row's, a null.
// Nothing is returned for a file with any such row.
package embeddings
