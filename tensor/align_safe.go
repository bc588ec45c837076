//go:build !(amd64 || arm64) || race

package tensor

// MisalignedViewsOK: see align_fast.go. Here misaligned raw data is copied.
const MisalignedViewsOK = false
