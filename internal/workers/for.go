// This file holds the parallel loops of the engine's kernels and the GEMM: one threshold decides
// when work is worth another goroutine, and the caller's thread budget (the engine's
// Options.Threads) bounds how many it gets.

package workers

// MinParallelWork is the least work (in multiply-adds or element operations, a few nanoseconds
// each) worth waking another goroutine for: below it the wake-up costs more than it saves, which
// matters on models made of many small layers. Each goroutine of For and ForRange gets at least
// this much.
const MinParallelWork = 1 << 16

// For calls body(i) for every i in [0, tasks) on up to threads goroutines, handing out tasks one
// at a time so uneven tasks balance. workPerTask estimates each task's work; the loop runs inline
// when the total is small or one goroutine is enough.
func For(threads, tasks, workPerTask int, body func(i int)) {
	Run(tasks, min(threads, max(1, tasks*workPerTask/MinParallelWork)), body)
}

// ForRange splits [0, n) into contiguous chunks of at least grain items, at most threads of
// them, and calls body on each, one chunk per goroutine. Grain gives the grain of items of equal
// work; callers whose items are not work units (bytes to copy) pick their own.
func ForRange(threads, n, grain int, body func(lo, hi int)) {
	chunks := min(threads, max(1, n/max(grain, 1)))
	if chunks <= 1 {
		if n > 0 {
			body(0, n)
		}
		return
	}
	Run(chunks, chunks, func(i int) { body(i*n/chunks, (i+1)*n/chunks) })
}

// Grain is how many items of workPerItem each make MinParallelWork: the grain of ForRange.
func Grain(workPerItem int) int { return max(1, MinParallelWork/max(workPerItem, 1)) }
