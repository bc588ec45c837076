// This file splits a kernel's work over goroutines.

package engine

import (
	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/internal/workers"
)

// nnThreads is the number of goroutines the ops split work over.
func nnThreads() int { return gemm.Threads() }

// nnMinParallelWork is the least work (in multiply-adds or element operations, a few
// nanoseconds each) worth waking another goroutine for: below it the wake-up costs more than it
// saves, which matters on models made of many small layers.
const nnMinParallelWork = 1 << 16

// nnParallel runs body(i) for every i in [0, tasks) on up to nnThreads() goroutines, handing out
// tasks one at a time so uneven tasks balance. workPerTask estimates each task's work; it runs
// inline when the total is small or one goroutine is enough.
func nnParallel(tasks, workPerTask int, body func(i int)) {
	workers.Run(tasks, min(nnThreads(), max(1, tasks*workPerTask/nnMinParallelWork)), body)
}

// nnParallelRange splits [0, n) into contiguous chunks of at least grain items, one chunk per
// goroutine, and runs body on each. Callers pick grain so a chunk is worth a goroutine.
func nnParallelRange(n, grain int, body func(lo, hi int)) {
	chunks := min(nnThreads(), max(1, n/max(grain, 1)))
	if chunks <= 1 {
		body(0, n)
		return
	}
	nnParallel(chunks, nnMinParallelWork, func(i int) { body(i*n/chunks, (i+1)*n/chunks) })
}
