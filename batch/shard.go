package batch

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is the K-th of N slices of the sorted model list; the zero value is the whole list.
//
// Slices are taken round-robin (the model at index i, counting from 0, belongs to shard i%N + 1)
// rather than as contiguous ranges: a zoo sorted by path tends to keep a family of big models
// together, and round-robin spreads them over the shards. Every machine of a job array lists the
// same models in the same order (they are sorted by their path relative to the given folder), so
// shards 1/N..N/N together cover every model exactly once with no coordinator.
type Shard struct {
	K, N int
}

// ParseShard reads "K/N" with 1 <= K <= N.
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	ki, errK := strconv.Atoi(strings.TrimSpace(k))
	ni, errN := strconv.Atoi(strings.TrimSpace(n))
	if !ok || errK != nil || errN != nil || ni < 1 || ki < 1 || ki > ni {
		return Shard{}, fmt.Errorf("bad --shard %q: want K/N with 1 <= K <= N, e.g. 2/8", s)
	}
	return Shard{K: ki, N: ni}, nil
}

// Select returns the shard's share of a sorted job list.
func (s Shard) Select(jobs []Job) []Job {
	if s.N <= 1 {
		return jobs
	}
	var out []Job
	for i, j := range jobs {
		if i%s.N == s.K-1 {
			out = append(out, j)
		}
	}
	return out
}

func (s Shard) String() string {
	if s.N <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}
