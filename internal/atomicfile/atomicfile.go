// Package atomicfile writes files so that neither a reader nor a killed writer ever leaves a
// half-written file under its real name, and cleans up the temporary files a killed writer leaves.
//
// A file is written under a temporary name beside its destination and renamed into place when
// complete. Temporary names say who wrote them: ".NAME.tmp-HOST-PID-RANDOM". A later writer of the
// same NAME removes the temporaries whose writer is gone: written on this host by a PID that no
// longer runs, or untouched for an hour (a writer on another host, a PID since reused, a system
// that cannot tell whether a PID runs). A temporary a running process is writing is never removed.
// Temporaries of earlier fcconv versions (".NAME.tmp" and digits) go when untouched for an hour.
package atomicfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// staleAge is how long a temporary file must be untouched before it is removed whoever wrote it.
// Writers here keep a temporary only while they stream into it and for the few renames after.
const staleAge = time.Hour

const tempMarker = ".tmp-"

// host is this machine's name as it appears in temporary names: letters, digits, '.', '-' and '_'.
var host = func() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
}()

// tempPrefix is the start of every temporary name of path: ".NAME.tmp-".
func tempPrefix(path string) string {
	return "." + filepath.Base(path) + tempMarker
}

// TempPath returns a fresh temporary path beside path, naming this host and process.
func TempPath(path string) string {
	var r [6]byte
	rand.Read(r[:])
	name := fmt.Sprintf("%s%s-%d-%s", tempPrefix(path), host, os.Getpid(), hex.EncodeToString(r[:]))
	return filepath.Join(filepath.Dir(path), name)
}

// IsTemp reports whether a file name is one of this package's temporary names.
func IsTemp(name string) bool {
	_, _, ok := parseTemp(name)
	return ok
}

// parseTemp splits a temporary name ".NAME.tmp-HOST-PID-RANDOM" into its host and PID.
func parseTemp(name string) (host string, pid int, ok bool) {
	i := strings.LastIndex(name, tempMarker)
	if !strings.HasPrefix(name, ".") || i < 0 {
		return "", 0, false
	}
	rest := name[i+len(tempMarker):]
	j := strings.LastIndexByte(rest, '-')
	if j < 0 {
		return "", 0, false
	}
	rest = rest[:j]
	k := strings.LastIndexByte(rest, '-')
	if k <= 0 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(rest[k+1:])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return rest[:k], pid, true
}

// isLegacyTemp reports whether name is a temporary name of fcconv versions that did not name the
// writer: ".NAME.tmp" and digits (os.CreateTemp's pattern).
func isLegacyTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp")
	if !strings.HasPrefix(name, ".") || i <= 0 || i+4 == len(name) {
		return false
	}
	for _, r := range name[i+4:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// stale reports whether the temporary file (or folder) at path belongs to a writer that is gone.
func stale(path, name string) bool {
	h, pid, ok := parseTemp(name)
	if !ok {
		return isLegacyTemp(name) && untouchedFor(path, staleAge)
	}
	if h == host {
		if alive, known := processAlive(pid); known && !alive {
			return true
		}
	}
	return untouchedFor(path, staleAge)
}

func untouchedFor(path string, age time.Duration) bool {
	st, err := os.Lstat(path)
	return err == nil && time.Since(st.ModTime()) > age
}

// RemoveStale removes the temporary files and folders of path (".NAME.tmp-*" beside it) whose
// writer is gone. Errors are ignored: a leftover it cannot remove is no reason to fail a save.
func RemoveStale(path string) {
	ofPath := "." + filepath.Base(path) + ".tmp" // both naming styles
	removeStale(filepath.Dir(path), func(name string) bool { return strings.HasPrefix(name, ofPath) })
}

// RemoveStaleIn removes every stale temporary file and folder directly inside dir, whatever the
// name it stands for. For folders a program owns (a batch's output folders).
func RemoveStaleIn(dir string) {
	removeStale(dir, func(string) bool { return true })
}

func removeStale(dir string, consider func(name string) bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		if consider(e.Name()) && stale(full, e.Name()) {
			os.RemoveAll(full)
		}
	}
}

// WriteTemp writes a temporary file beside path through write, flushes it to the disk and returns
// its name; the caller renames it into place (or removes it). On error nothing is left behind.
func WriteTemp(path string, write func(io.Writer) error) (_ string, err error) {
	tmp := TempPath(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("cannot write %s: %v", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return "", fmt.Errorf("writing %s: %v", path, err)
	}
	if err = bw.Flush(); err != nil {
		return "", fmt.Errorf("writing %s: %v", path, err)
	}
	// On the disk before the rename, so that a crash of the machine cannot leave the new name
	// pointing at a file whose blocks were never written.
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("writing %s: %v", path, err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %v", path, err)
	}
	return tmp, nil
}

// WriteFile writes path atomically: a temporary file beside it, then a rename. Stale temporaries
// of path are removed first.
func WriteFile(path string, write func(io.Writer) error) error {
	RemoveStale(path)
	tmp, err := WriteTemp(path, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot move the new file into place at %s: %v", path, err)
	}
	SyncDir(filepath.Dir(path))
	return nil
}

// SyncDir flushes a folder's entries (the renames into it) to the disk. Best effort: some file
// systems cannot sync a folder.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
