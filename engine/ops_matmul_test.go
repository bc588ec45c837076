package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// matMulReference is numpy's matmul in float64.
func matMulReference(a, b *tensor.Tensor) ([]int, []float64) {
	p, err := newMatMulPlan(a.Shape, b.Shape)
	if err != nil {
		panic(err)
	}
	out := make([]float64, tensor.NumElements(p.outShape))
	for bi := 0; bi < p.batchCount; bi++ {
		ai, bj := p.batchOffsets(bi)
		for i := 0; i < p.m; i++ {
			for j := 0; j < p.n; j++ {
				s := 0.0
				for k := 0; k < p.k; k++ {
					s += float64(a.F32[ai*p.m*p.k+i*p.k+k]) * float64(b.F32[bj*p.k*p.n+k*p.n+j])
				}
				out[(bi*p.m+i)*p.n+j] = s
			}
		}
	}
	return p.outShape, out
}

func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	cases := []struct{ a, b []int }{
		{[]int{3, 4}, []int{4, 5}},
		{[]int{4}, []int{4, 5}},
		{[]int{3, 4}, []int{4}},
		{[]int{4}, []int{4}},
		{[]int{2, 3, 4}, []int{4, 5}},       // flat: one GEMM over all rows
		{[]int{2, 3, 4}, []int{2, 4, 5}},    // batched
		{[]int{2, 1, 3, 4}, []int{5, 4, 6}}, // broadcast batch dims
		{[]int{1, 3, 4}, []int{3, 4, 2}},
		{[]int{6}, []int{2, 6, 3}},
		{[]int{2, 5, 6}, []int{6}},
		{[]int{70, 130}, []int{130, 90}},
		{[]int{1, 200}, []int{200, 300}},
	}
	for _, c := range cases {
		for _, constB := range []bool{false, true} {
			a, b := nnRandom(r, c.a...), nnRandom(r, c.b...)
			outs, build, err := nnRun(nnCase{op: "MatMul", inputs: []*tensor.Tensor{a, b}, constant: []bool{false, constB}})
			if err != nil {
				t.Fatalf("%v x %v: %v", c.a, c.b, err)
			}
			shape, want := matMulReference(a, b)
			nnCheckClose(t, fmt.Sprintf("%v x %v const=%v", c.a, c.b, constB), outs[0], shape, want, 1e-5)
			if build.MACs == 0 {
				t.Fatalf("%v x %v: no MACs", c.a, c.b)
			}
		}
	}
	if _, _, err := nnRun(nnCase{op: "MatMul", inputs: []*tensor.Tensor{nnRandom(r, 2, 3), nnRandom(r, 4, 5)}}); err == nil {
		t.Fatal("mismatched inner dims were accepted")
	}
}

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const m, n, k = 7, 9, 11
	cShapes := [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}}
	for _, transA := range []bool{false, true} {
		for _, transB := range []bool{false, true} {
			for _, cShape := range cShapes {
				for _, ab := range [][2]float32{{1, 1}, {0.5, 2}, {1, 0}, {-1.5, 1}} {
					for _, rows := range []int{m, 1} {
						for _, constB := range []bool{false, true} {
							aShape, bShape := []int{rows, k}, []int{k, n}
							if transA {
								aShape = []int{k, rows}
							}
							if transB {
								bShape = []int{n, k}
							}
							a, b := nnRandom(r, aShape...), nnRandom(r, bShape...)
							inputs := []*tensor.Tensor{a, b}
							var c *tensor.Tensor
							cs := cShape
							if cs != nil && len(cs) == 2 && cs[0] == m {
								cs = []int{rows, cs[1]}
							}
							if cs != nil {
								c = nnRandom(r, cs...)
								inputs = append(inputs, c)
							}
							attrs := []*onnxpb.AttributeProto{graph.FloatAttr("alpha", ab[0]), graph.FloatAttr("beta", ab[1])}
							if transA {
								attrs = append(attrs, graph.IntAttr("transA", 1))
							}
							if transB {
								attrs = append(attrs, graph.IntAttr("transB", 1))
							}
							what := fmt.Sprintf("tA=%v tB=%v C%v alpha,beta=%v rows=%d constB=%v", transA, transB, cs, ab, rows, constB)
							outs, _, err := nnRun(nnCase{op: "Gemm", attrs: attrs, inputs: inputs, constant: []bool{false, constB, true}})
							if err != nil {
								t.Fatalf("%s: %v", what, err)
							}
							want := make([]float64, rows*n)
							for i := 0; i < rows; i++ {
								for j := 0; j < n; j++ {
									s := 0.0
									for p := 0; p < k; p++ {
										av, bv := a.F32[i*k+p], b.F32[p*n+j]
										if transA {
											av = a.F32[p*rows+i]
										}
										if transB {
											bv = b.F32[j*k+p]
										}
										s += float64(av) * float64(bv)
									}
									s *= float64(ab[0])
									if c != nil {
										g := gemmPlan{m: rows, n: n}
										s += float64(ab[1]) * float64(c.F32[g.cIndex(c, i, j)])
									}
									want[i*n+j] = s
								}
							}
							nnCheckClose(t, what, outs[0], []int{rows, n}, want, 1e-5)
						}
					}
				}
			}
		}
	}
}
