//go:build (amd64 || arm64) && !race

package tensor

// MisalignedViewsOK says whether a tensor may view raw bytes at an address that is not a multiple
// of its element size. amd64 and arm64 load floats from any address at full speed, and weights in an
// ONNX file sit at arbitrary offsets, so viewing them in place saves copying the whole model. The race
// detector's pointer checks forbid it, so race builds (and other architectures) copy instead.
const MisalignedViewsOK = true
