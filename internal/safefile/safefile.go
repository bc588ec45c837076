// Package safefile opens files named by untrusted input (a model's external-data location, a
// test-data .pb, an --input .npy) only when they are regular files. Opening a FIFO blocks until a
// writer appears, reading a character device such as /dev/zero never ends, and a directory has no
// bytes: none of them can be model data, and each would otherwise hang fcconv or give a confusing
// error.
package safefile

import (
	"fmt"
	"io"
	"os"
)

// OpenRegular opens path for reading if it is a regular file (symlinks followed), and returns it
// with its file info. The open itself never blocks: it is non-blocking where the system has such a
// mode (which changes nothing for reads of a regular file), and the type is checked again on the
// opened file, so a file swapped for a FIFO between the two checks is refused too.
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := requireRegular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlocking, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err = f.Stat()
	if err == nil {
		err = requireRegular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ReadRegular reads a whole regular file (see OpenRegular).
func ReadRegular(path string) ([]byte, error) {
	f, st, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("%s: %v (did the file change while it was read?)", path, err)
	}
	return buf, nil
}

// requireRegular says what the file is when it is not a regular file.
func requireRegular(path string, st os.FileInfo) error {
	mode := st.Mode()
	if mode.IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch {
	case mode.IsDir():
		kind = "a directory"
	case mode&os.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case mode&os.ModeDevice != 0 || mode&os.ModeCharDevice != 0:
		kind = "a device"
	case mode&os.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("%s is %s, not a regular file", path, kind)
}
