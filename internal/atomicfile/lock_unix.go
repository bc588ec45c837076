//go:build unix

package atomicfile

import "golang.org/x/sys/unix"

// LockDir takes an exclusive lock on a folder (flock on the folder itself, so no lock file is
// left behind) and returns its release. Writers that replace several related files in the folder
// hold it around their renames, so two processes never interleave them. Best effort: where the
// folder cannot be opened or locked (some network file systems), it goes on without the lock.
func LockDir(dir string) (unlock func()) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return func() {}
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	return func() { unix.Close(fd) } // closing the descriptor releases the lock
}

// lockable says LockDir really locks here.
const lockable = true
