package engine

import (
	"math"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

func TestBatchNormalization(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	x := nnRandom(r, 2, 3, 4, 5)
	scale, bias, mean := nnRandom(r, 3), nnRandom(r, 3), nnRandom(r, 3)
	variance := nnRandom(r, 3)
	for i := range variance.F32 {
		variance.F32[i] = float32(math.Abs(float64(variance.F32[i]))) + 0.1
	}
	eps := float32(1e-3)
	attrs := []*onnxpb.AttributeProto{graph.FloatAttr("epsilon", eps)}
	outs, _, err := nnRun(nnCase{op: "BatchNormalization", attrs: attrs, inputs: []*tensor.Tensor{x, scale, bias, mean, variance}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, x.Len())
	for i := range want {
		c := i / 20 % 3
		want[i] = (float64(x.F32[i])-float64(mean.F32[c]))/math.Sqrt(float64(variance.F32[c])+float64(eps))*float64(scale.F32[c]) + float64(bias.F32[c])
	}
	nnCheckClose(t, "BatchNormalization", outs[0], x.Shape, want, 1e-5)

	// Training mode: normalise with the batch statistics and update the running ones.
	attrs = append(attrs, graph.IntAttr("training_mode", 1))
	outs, _, err = nnRun(nnCase{op: "BatchNormalization", opset: 15, attrs: attrs, inputs: []*tensor.Tensor{x, scale, bias, mean, variance}, outputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	bm, bv := batchNormStatistics(x.F32, 2, 3, 20)
	for i := range want {
		c := i / 20 % 3
		want[i] = (float64(x.F32[i])-bm[c])/math.Sqrt(bv[c]+float64(eps))*float64(scale.F32[c]) + float64(bias.F32[c])
	}
	nnCheckClose(t, "BatchNormalization training", outs[0], x.Shape, want, 1e-5)
	runningMean := make([]float64, 3)
	for c := range runningMean {
		runningMean[c] = float64(mean.F32[c])*0.9 + bm[c]*0.1
	}
	nnCheckClose(t, "running mean", outs[1], []int{3}, runningMean, 1e-6)
}

func TestLayerNormalization(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	x := nnRandom(r, 2, 3, 4)
	for _, axis := range []int{-1, 1, 0} {
		norm := x.Shape[(axis+3)%3:]
		scale, bias := nnRandom(r, norm...), nnRandom(r, norm[len(norm)-1])
		attrs := []*onnxpb.AttributeProto{graph.IntAttr("axis", int64(axis))}
		outs, _, err := nnRun(nnCase{op: "LayerNormalization", opset: 17, attrs: attrs, inputs: []*tensor.Tensor{x, scale, bias}, outputs: 3})
		if err != nil {
			t.Fatal(err)
		}
		size := tensor.NumElements(norm)
		rows := x.Len() / size
		want, wantMean := make([]float64, x.Len()), make([]float64, rows)
		for row := 0; row < rows; row++ {
			v := x.F32[row*size : (row+1)*size]
			m, q := 0.0, 0.0
			for _, e := range v {
				m += float64(e)
			}
			m /= float64(size)
			for _, e := range v {
				q += (float64(e) - m) * (float64(e) - m)
			}
			inv := 1 / math.Sqrt(q/float64(size)+1e-5)
			wantMean[row] = m
			for i, e := range v {
				want[row*size+i] = (float64(e)-m)*inv*float64(scale.F32[i]) + float64(bias.F32[i%norm[len(norm)-1]])
			}
		}
		nnCheckClose(t, "LayerNormalization", outs[0], x.Shape, want, 1e-5)
		nnCheckClose(t, "LayerNormalization mean", outs[1], outs[1].Shape, wantMean, 1e-5)
	}
}

func TestInstanceNormalization(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	x, scale, bias := nnRandom(r, 2, 3, 5), nnRandom(r, 3), nnRandom(r, 3)
	outs, _, err := nnRun(nnCase{op: "InstanceNormalization", inputs: []*tensor.Tensor{x, scale, bias}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, x.Len())
	for p := 0; p < 6; p++ {
		v := x.F32[p*5 : (p+1)*5]
		m, q := 0.0, 0.0
		for _, e := range v {
			m += float64(e) / 5
		}
		for _, e := range v {
			q += (float64(e) - m) * (float64(e) - m) / 5
		}
		for i, e := range v {
			want[p*5+i] = (float64(e)-m)/math.Sqrt(q+1e-5)*float64(scale.F32[p%3]) + float64(bias.F32[p%3])
		}
	}
	nnCheckClose(t, "InstanceNormalization", outs[0], x.Shape, want, 1e-5)
}
