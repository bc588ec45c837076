//go:build unix

package atomicfile

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// LockDir takes an exclusive lock on a folder (flock on the folder itself, so no lock file is
// left behind) and returns its release. Writers that replace several related files in the folder
// hold it around their renames, so two processes never interleave them.
func LockDir(dir string) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot lock %s: %v", dir, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cannot lock %s: %v", dir, err)
	}
	return func() { unix.Close(fd) }, nil // closing the descriptor releases the lock
}

// lockable says LockDir really locks here.
const lockable = true
