package safefile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOnlyRegularFilesAreRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "data.bin")
	os.WriteFile(regular, []byte("weights"), 0o644)
	link := filepath.Join(dir, "link.bin")
	os.Symlink(regular, link)
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}

	for _, ok := range []string{regular, link} {
		if b, err := ReadRegular(ok); err != nil || string(b) != "weights" {
			t.Errorf("ReadRegular(%s) = %q, %v", ok, b, err)
		}
	}
	for path, kind := range map[string]string{fifo: "named pipe", dir: "directory", "/dev/null": "device"} {
		done := make(chan error, 1)
		go func() { _, err := ReadRegular(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), kind) {
				t.Errorf("ReadRegular(%s) = %v, want an error saying it is a %s", path, err, kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadRegular(%s) blocked", path)
		}
	}
}
