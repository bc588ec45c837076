//go:build unix

package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// processAlive asks the kernel whether a process runs: kill(pid, 0) fails with ESRCH only when
// there is none (EPERM: it runs, as another user).
func processAlive(pid int) (alive, known bool) {
	err := unix.Kill(pid, 0)
	return !errors.Is(err, unix.ESRCH), true
}
