// Package atomicfile writes files so that readers, and a process killed
// midway, see either the old file or the whole new one, never a part.
package atomicfile
