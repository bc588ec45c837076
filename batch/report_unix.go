//go:build unix

package batch

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// reportLock coordinates the batch processes writing one report with two POSIX record locks on
// it (advisory, also honoured over NFS): byte 0, held shared by every writer for its whole run,
// says "in use"; byte 1, held exclusively around each line, keeps lines whole. (flock has only
// one lock per file, and a process converting its shared lock to an exclusive one for a line
// would let go of the "in use" mark meanwhile.) Where the file system cannot lock, the report is
// written without locks, as on systems without them.
type reportLock struct {
	f        *os.File
	unlocked bool // locking failed: go on without
}

const (
	inUseByte = 0
	lineByte  = 1
)

// join marks the report as in use by this process. With truncate, the file is emptied first when
// no other process has it in use.
func (l *reportLock) join(truncate bool) error {
	if truncate {
		err := l.set(unix.F_SETLK, unix.F_WRLCK, inUseByte)
		othersWriting := errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES)
		if err != nil && !othersWriting {
			l.unlocked = true // this file system cannot lock
		}
		if !othersWriting {
			if err := l.f.Truncate(0); err != nil {
				return err
			}
		}
	}
	// Turns this process's exclusive lock into a shared one at once, or waits for another
	// process emptying the file to finish.
	if !l.unlocked && l.set(unix.F_SETLKW, unix.F_RDLCK, inUseByte) != nil {
		l.unlocked = true
	}
	return nil
}

// line takes the line lock and returns its release.
func (l *reportLock) line() (unlock func(), err error) {
	if l.unlocked || l.set(unix.F_SETLKW, unix.F_WRLCK, lineByte) != nil {
		return func() {}, nil
	}
	return func() { l.set(unix.F_SETLK, unix.F_UNLCK, lineByte) }, nil
}

func (l *reportLock) set(cmd int, typ int16, offset int64) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: offset, Len: 1}
	for {
		err := unix.FcntlFlock(l.f.Fd(), cmd, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}
