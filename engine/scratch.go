// This file keeps the per-run scratch buffers of compiled nodes.

package engine

import (
	"sync"
)

// nnScratch is a pool of float32 buffers of one fixed size, for per-run scratch of a compiled node.
// It keeps its buffers for the program's life (one per goroutine that used it at once): a
// sync.Pool would drop them at every garbage collection, and each run would then page-fault
// fresh ones in.
type nnScratch struct {
	size int
	mu   sync.Mutex
	free []*[]float32
}

func newNNScratch(size int) *nnScratch { return &nnScratch{size: size} }

func (s *nnScratch) get() *[]float32 {
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		s.mu.Unlock()
		return b
	}
	s.mu.Unlock()
	b := make([]float32, s.size)
	return &b
}

func (s *nnScratch) put(b *[]float32) {
	s.mu.Lock()
	s.free = append(s.free, b)
	s.mu.Unlock()
}
