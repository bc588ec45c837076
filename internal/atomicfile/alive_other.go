//go:build !unix

package atomicfile

// processAlive cannot tell here; temporaries are then judged by age alone.
func processAlive(pid int) (alive, known bool) {
	return false, false
}
