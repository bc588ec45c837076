package graph

import "os"

// lookThenRename is moveIntoPlace where the OS or file system cannot refuse to replace: a file
// that appears between the look and the rename is replaced without being reported.
func lookThenRename(from, to string) (replaced bool, err error) {
	_, statErr := os.Lstat(to)
	return statErr == nil, os.Rename(from, to)
}
