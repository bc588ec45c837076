//go:build linux

package graph

import (
	"github.com/fcconv/fcconv/internal/safefile"
	"syscall"
	"unsafe"
)

// mapFile maps the file read-only and pre-faults it (MAP_POPULATE: one bulk read is much cheaper than
// a page fault per 4 KiB). Pages of non-initializer data are dropped again by dropPages once decoded.
func mapFile(path string) ([]byte, func(), error) {
	f, st, err := safefile.OpenRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if st.Size() == 0 {
		return nil, func() {}, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_POPULATE)
	if err != nil {
		return readWhole(path)
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}

// dropPages tells the kernel that the whole pages inside b will not be read again, so they leave
// this process's resident set (they stay in the page cache).
func dropPages(b []byte) {
	if len(b) == 0 {
		return
	}
	const page = 4096
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	first := (start + page - 1) &^ (page - 1)
	last := (start + uintptr(len(b))) &^ (page - 1)
	if last <= first {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, first, last-first, syscall.MADV_DONTNEED)
}
