package atomicfile

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTempNamesSayWhoWroteThem(t *testing.T) {
	saved := host
	defer func() { host = saved }()
	host = "node-7.cluster-a"
	name := filepath.Base(TempPath("/x/model.v2-final.onnx"))
	if !strings.HasPrefix(name, ".model.v2-final.onnx.tmp-node-7.cluster-a-") {
		t.Fatalf("temporary name %q", name)
	}
	h, pid, ok := parseTemp(name)
	if !ok || h != "node-7.cluster-a" || pid != os.Getpid() {
		t.Fatalf("parseTemp(%q) = %q, %d, %v", name, h, pid, ok)
	}
	for _, notTemp := range []string{"model.onnx", ".model.onnx.tmp-", ".model.onnx.tmp-host-x-abc", "model.onnx.tmp-h-1-a"} {
		if IsTemp(notTemp) {
			t.Errorf("%q taken for a temporary name", notTemp)
		}
	}
}

// tempBy returns a temporary name of path as host and pid would write it.
func tempBy(path, h string, pid int) string {
	return filepath.Join(filepath.Dir(path), tempPrefix(path)+h+"-"+strconv.Itoa(pid)+"-0a1b2c")
}

func TestRemoveStaleKeepsWhatALiveWriterMayStillWrite(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	old := time.Now().Add(-2 * staleAge)
	files := map[string]bool{ // path -> removed
		tempBy(out, host, dead):                          true,  // this host, process gone
		tempBy(out, host, os.Getpid()):                   false, // this host, running
		tempBy(out, "elsewhere", dead):                   false, // another host, fresh: may be running there
		tempBy(out, "far", dead) + "-old":                false, // not a temporary name
		filepath.Join(dir, ".out.onnx.tmp123456"):        false, // an older fcconv's, fresh
		filepath.Join(dir, ".out.onnx.tmp987654"):        true,  // an older fcconv's, untouched for hours
		tempBy(out, "elsewhere2", dead) + "":             true,  // another host, untouched for hours
		tempBy(filepath.Join(dir, "b.onnx"), host, dead): false, // another output's
	}
	for p := range files {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	os.Chtimes(filepath.Join(dir, ".out.onnx.tmp987654"), old, old)
	os.Chtimes(tempBy(out, "elsewhere2", dead), old, old)
	RemoveStale(out)
	for p, removed := range files {
		if _, err := os.Stat(p); (err != nil) != removed {
			t.Errorf("%s: removed %v, want %v", filepath.Base(p), err != nil, removed)
		}
	}
	// A folder too, and anything in a folder a program owns.
	folder := tempBy(filepath.Join(dir, "test_data_set_0"), host, dead)
	os.MkdirAll(filepath.Join(folder, "sub"), 0o755)
	RemoveStaleIn(dir)
	if _, err := os.Stat(folder); err == nil {
		t.Error("a dead writer's temporary folder was left")
	}
	if _, err := os.Stat(tempBy(filepath.Join(dir, "b.onnx"), host, dead)); err == nil {
		t.Error("RemoveStaleIn left a dead writer's temporary")
	}
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("old"), 0o644)
	err := WriteFile(path, func(w io.Writer) error {
		w.Write([]byte("half"))
		return io.ErrUnexpectedEOF
	})
	if err == nil {
		t.Fatal("a failed write succeeded")
	}
	if data, _ := os.ReadFile(path); string(data) != "old" {
		t.Errorf("the file is %q after a failed write", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files after a failed write, want 1", len(entries))
	}
}

func TestLockDirKeepsWritersApart(t *testing.T) {
	dir := t.TempDir()
	unlock := LockDir(dir)
	got := make(chan struct{})
	go func() {
		LockDir(dir)()
		close(got)
	}()
	select {
	case <-got:
		if lockable {
			t.Fatal("a second writer took the folder's lock while the first held it")
		}
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	<-got
}
