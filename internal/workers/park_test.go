package workers

import (
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleHelpersPark checks that helpers stop using CPU soon after the last job.
func TestIdleHelpersPark(t *testing.T) {
	Run(64, 4, func(int) {})
	time.Sleep(10 * spinFor)
	start := cpuTime()
	time.Sleep(300 * time.Millisecond)
	if used := cpuTime() - start; used > 60*time.Millisecond {
		t.Fatalf("idle process used %v of CPU in 300ms: helpers still spinning", used)
	}
}
