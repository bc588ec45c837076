package workers

import (
	"sync"
	"testing"
)

// TestForRangeCoversOnce checks that the chunks of ForRange cover [0, n) once, that there are no
// more of them than threads, and that each holds at least grain items unless there is only one.
func TestForRangeCoversOnce(t *testing.T) {
	for _, c := range []struct{ threads, n, grain, wantChunks int }{
		{4, 1000, 100, 4},
		{4, 250, 100, 2},
		{4, 99, 100, 1},
		{1, 1000, 1, 1},
		{0, 1000, 1, 1},
		{3, 10, 1, 3},
		{4, 0, 1, 0},
	} {
		var mu sync.Mutex
		seen := make([]int, c.n)
		chunks := 0
		ForRange(c.threads, c.n, c.grain, func(lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			chunks++
			if chunks > 1 && hi-lo < c.grain {
				t.Errorf("%+v: chunk [%d, %d) is smaller than the grain", c, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		if chunks != c.wantChunks {
			t.Errorf("%+v: %d chunks, want %d", c, chunks, c.wantChunks)
		}
		for i, k := range seen {
			if k != 1 {
				t.Fatalf("%+v: item %d done %d times", c, i, k)
			}
		}
	}
}

func TestGrain(t *testing.T) {
	if g := Grain(1); g != MinParallelWork {
		t.Errorf("Grain(1) = %d, want %d", g, MinParallelWork)
	}
	if g := Grain(2 * MinParallelWork); g != 1 {
		t.Errorf("Grain of items worth twice the threshold = %d, want 1", g)
	}
	if g := Grain(0); g != MinParallelWork {
		t.Errorf("Grain(0) = %d, want %d", g, MinParallelWork)
	}
}
