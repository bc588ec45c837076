package workers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkRun runs n calls on parallel goroutines and checks each index ran exactly once.
func checkRun(t *testing.T, n, parallel int) {
	t.Helper()
	counts := make([]atomic.Int32, n)
	Run(n, parallel, func(i int) { counts[i].Add(1) })
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Fatalf("Run(%d, %d): index %d ran %d times", n, parallel, i, c)
		}
	}
}

func TestRunCoversEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 17, 1000} {
		for _, p := range []int{1, 2, 4, 8} {
			checkRun(t, n, p)
		}
	}
}

// TestRunAfterHelpersPark runs jobs with pauses longer than the helpers' spin, so they park and
// must be woken.
func TestRunAfterHelpersPark(t *testing.T) {
	for range 3 {
		checkRun(t, 64, 4)
		time.Sleep(3 * spinFor)
	}
}

// TestRunConcurrentAndNested runs jobs from several goroutines at once (all but one fall back to
// their own goroutines) and jobs inside jobs.
func TestRunConcurrentAndNested(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 50 {
				var total atomic.Int64
				Run(8, 3, func(i int) {
					Run(5, 2, func(k int) { total.Add(int64(i*10 + k)) })
				})
				// sum over i<8, k<5 of 10i+k = 5*10*28 + 8*10
				if got := total.Load(); got != 1480 {
					t.Errorf("goroutine %d: nested sum %d, want 1480", g, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestRunWaitsForSlowCalls checks that Run returns only after every call, including ones a helper
// is still running.
func TestRunWaitsForSlowCalls(t *testing.T) {
	var finished atomic.Int32
	Run(4, 4, func(i int) {
		time.Sleep(time.Duration(i) * time.Millisecond)
		finished.Add(1)
	})
	if f := finished.Load(); f != 4 {
		t.Fatalf("Run returned with %d of 4 calls finished", f)
	}
}

// TestRunRaisesPanicsInCaller checks that a call panicking on a helper (or on a fallback
// goroutine) panics in Run's caller, after the other calls, and that the pool still works after.
func TestRunRaisesPanicsInCaller(t *testing.T) {
	for _, busy := range []bool{false, true} {
		if busy {
			pool.busy.Lock() // force the fallback to goroutines of Run's own
		}
		var ran atomic.Int32
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("busy=%v: recovered %v, want boom", busy, r)
				}
			}()
			Run(16, 4, func(i int) {
				ran.Add(1)
				if i == 5 {
					panic("boom")
				}
			})
			t.Errorf("busy=%v: Run returned normally", busy)
		}()
		if busy {
			pool.busy.Unlock()
		}
		if n := ran.Load(); n != 16 {
			t.Errorf("busy=%v: %d of 16 calls ran", busy, n)
		}
		checkRun(t, 100, 4)
	}
}
