// Package workers runs the parallel parts of a model on helper goroutines that stay awake between
// them.
//
// A model run is a long series of short parallel sections (one per layer, often well under a
// millisecond each). Starting goroutines for each one leaves the helper thread to the Go
// scheduler, which parks it between sections; waking it again costs a futex call and tens of
// microseconds before it starts on the next layer. Here the helpers are started once and, after a
// job, spin for a short while waiting for the next one, as the thread pools of other inference
// engines do; only then do they park. A caller runs its share of the job on its own goroutine.
//
// A call that panics does not take the process down from a helper goroutine, where nothing could
// recover it: the panic is carried back and raised again in the goroutine that called Run, once
// the job's other calls have finished, so the caller's own recover (batch conversion's, per
// model) sees it.
//
// One job runs at a time. A Run that finds the pool busy (two models run side by side, or a
// parallel call made inside a job) falls back to goroutines of its own, so it never waits for the
// pool.
package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinFor is how long an idle helper keeps looking for the next job before it parks: longer than
// the serial gaps between the layers of a run, short enough that an idle process stops using CPU
// at once.
const spinFor = 200 * time.Microsecond

// A job is one Run: calls fn(i) for i in [0, n), handed out one index at a time.
type job struct {
	id    uint64 // jobs are numbered from 1, so helpers remember the last without keeping it
	fn    func(i int)
	n     int64
	next  atomic.Int64 // the next index to hand out
	done  atomic.Int64 // calls finished
	seats atomic.Int64 // helpers that may still join
	// panicked holds the first panic of a call, raised again by Run.
	panicked atomic.Pointer[callPanic]
}

type callPanic struct{ value any }

// work runs the job's calls until none are left.
func (j *job) work() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.call(int(i))
		j.done.Add(1)
	}
}

// call runs fn(i), keeping a panic for Run to raise again.
func (j *job) call(i int) {
	defer func() {
		if r := recover(); r != nil {
			j.panicked.CompareAndSwap(nil, &callPanic{r})
		}
	}()
	j.fn(i)
}

// repanic raises the job's first panic, if a call panicked.
func (j *job) repanic() {
	if p := j.panicked.Load(); p != nil {
		panic(p.value)
	}
}

var pool struct {
	busy    sync.Mutex          // held by the goroutine whose job is running
	current atomic.Pointer[job] // the running job; nil between jobs, so none is kept alive
	lastID  uint64              // under busy
	helpers int                 // started, under busy
	parked  atomic.Int64
	wake    chan struct{}
}

// Run calls fn(i) for every i in [0, n) on up to parallel goroutines (and no more than GOMAXPROCS),
// the caller's included, and returns when all calls have returned. Indices are handed out one at a time, so uneven calls
// balance.
func Run(n, parallel int, fn func(i int)) {
	// More goroutines than Ps would only take turns, and a spinning helper would hold the P its
	// caller needs.
	parallel = min(parallel, n, runtime.GOMAXPROCS(0))
	if parallel <= 1 {
		for i := range n {
			fn(i) // a panic unwinds straight into the caller
		}
		return
	}
	if !pool.busy.TryLock() {
		runOnGoroutines(n, parallel, fn)
		return
	}
	defer pool.busy.Unlock()
	startHelpers(parallel - 1)
	pool.lastID++
	j := &job{id: pool.lastID, fn: fn, n: int64(n)}
	j.seats.Store(int64(parallel - 1))
	pool.current.Store(j)
	defer pool.current.Store(nil)
	for range pool.parked.Load() {
		select {
		case pool.wake <- struct{}{}:
		default:
		}
	}
	j.work()
	// Wait for the calls the helpers took; they are running now, so this is short.
	for spins := 0; j.done.Load() < j.n; spins++ {
		pause()
		if spins%1024 == 1023 {
			runtime.Gosched()
		}
	}
	j.repanic()
}

// startHelpers makes sure at least want helpers exist. The caller holds pool.busy.
func startHelpers(want int) {
	if pool.wake == nil {
		pool.wake = make(chan struct{}, 64)
	}
	for ; pool.helpers < want; pool.helpers++ {
		go helper()
	}
}

// helper runs jobs for as long as the process lives.
func helper() {
	var last uint64
	for {
		j := nextJob(last)
		last = j.id
		if j.seats.Add(-1) >= 0 {
			j.work()
		}
	}
}

// nextJob waits for a job after job number last: spinning for spinFor, then parked until Run
// wakes it.
func nextJob(last uint64) *job {
	for {
		deadline := time.Now().Add(spinFor)
		for spins := 0; ; spins++ {
			if j := pool.current.Load(); j != nil && j.id > last {
				return j
			}
			pause()
			// Checking the clock and yielding (which takes the scheduler's lock) only now and
			// then keeps the spin off the main goroutine's way.
			if spins%1024 == 1023 {
				if time.Now().After(deadline) {
					break
				}
				if spins%8192 == 8191 {
					runtime.Gosched()
				}
			}
		}
		pool.parked.Add(1)
		if j := pool.current.Load(); j != nil && j.id > last {
			pool.parked.Add(-1)
			return j
		}
		<-pool.wake
		pool.parked.Add(-1)
	}
}

// runOnGoroutines is Run on goroutines started for this call.
func runOnGoroutines(n, parallel int, fn func(i int)) {
	j := &job{fn: fn, n: int64(n)}
	var wg sync.WaitGroup
	for range parallel - 1 {
		wg.Go(j.work)
	}
	j.work()
	wg.Wait()
	j.repanic()
}
