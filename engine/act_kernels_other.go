//go:build !amd64

package engine

func bestVecKernels() *vecKernels { return genericVecKernels }

func availableVecKernels() []*vecKernels { return []*vecKernels{genericVecKernels} }

// hasAVX512 is false off amd64.
var hasAVX512 = false
