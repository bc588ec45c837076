package graph

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Of several writers moving files to the same path at once, all but the first must learn that they
// replaced a file, and the path must hold one whole file.
func TestMoveIntoPlaceReportsEveryReplacementOfConcurrentWriters(t *testing.T) {
	const writers = 8
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		target := filepath.Join(dir, "out")
		var sources []string
		for w := 0; w < writers; w++ {
			src := filepath.Join(dir, "src"+string(rune('a'+w)))
			if err := os.WriteFile(src, []byte{byte(w)}, 0o644); err != nil {
				t.Fatal(err)
			}
			sources = append(sources, src)
		}
		var wg sync.WaitGroup
		replaced := make([]bool, writers)
		for w := range sources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if replaced[w], err = moveIntoPlace(sources[w], target); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		count := 0
		for _, r := range replaced {
			if r {
				count++
			}
		}
		if count != writers-1 {
			t.Fatalf("round %d: %d of %d writers say they replaced a file, want %d", round, count, writers, writers-1)
		}
		if data, err := os.ReadFile(target); err != nil || len(data) != 1 {
			t.Fatalf("round %d: the target holds %v (%v), want one writer's byte", round, data, err)
		}
	}
}
