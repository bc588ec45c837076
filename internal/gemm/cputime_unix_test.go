//go:build unix

package gemm

import (
	"syscall"
	"time"
)

// processCPUTime returns the user+system CPU time the process has used. On a
// shared machine, GFLOPS per CPU second is steadier than per wall second.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
