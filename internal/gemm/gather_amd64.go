package gemm

// Hand-written packers for B matrices given as a table of row starts (see SgemmPackedAGather).

//go:noescape
func packGather32AVX512(dst, src *float32, rows *int, depth int)

//go:noescape
func packGather16AVX2(dst, src *float32, rows *int, depth int)
