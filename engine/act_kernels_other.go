//go:build !amd64

package engine

func bestVecKernels() *vecKernels { return genericVecKernels }

func availableVecKernels() []*vecKernels { return []*vecKernels{genericVecKernels} }
