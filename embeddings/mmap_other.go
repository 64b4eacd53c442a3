//go:build !unix

package embeddings

import "os"

// mapFile does not map files on this system: the caller reads them.
func mapFile(*os.File, int64) ([]byte, func() error) { return nil, nil }
