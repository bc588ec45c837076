//go:build !amd64

package gemm

// availableKernels lists the kernels this CPU can run, best first.
func availableKernels() []*kernel { return []*kernel{genericKernel} }

func bestKernel() *kernel { return genericKernel }
