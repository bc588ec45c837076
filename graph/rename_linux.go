package graph

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// moveIntoPlace renames from to to, replacing any file there, and reports whether one was there.
// The first try refuses to replace (RENAME_NOREPLACE), so of two processes saving the same path at
// once exactly the later one learns that it replaced the other's file; no window lies between
// looking and renaming. File systems without the flag fall back to a look, then a rename.
func moveIntoPlace(from, to string) (replaced bool, err error) {
	err = unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, unix.EEXIST):
		return true, os.Rename(from, to)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return lookThenRename(from, to)
	}
	return false, &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}
