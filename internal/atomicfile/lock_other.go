//go:build !unix

package atomicfile

// LockDir is a no-op where folders cannot be locked: two processes renaming files of the same
// output at the same moment are then not kept apart.
func LockDir(dir string) (unlock func()) {
	return func() {}
}

// lockable says LockDir really locks here.
const lockable = false
