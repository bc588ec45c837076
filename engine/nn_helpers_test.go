package engine

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// Test helpers of the neural-network ops: build one node, compile it with its builder and run
// its kernel, without a graph around it.

// nnCase describes one node run: its op, opset, attributes and inputs. constant marks inputs
// that the builder sees as compile-time constants (weights); nil inputs are absent.
type nnCase struct {
	op       string
	opset    int64
	attrs    []*onnxpb.AttributeProto
	inputs   []*tensor.Tensor
	constant []bool
	outputs  int // number of outputs requested (default 1)
}

// nnRun builds and runs the case, returning its outputs and its build, whose Kernel is then the
// kernel it ran.
func nnRun(c nnCase) ([]*tensor.Tensor, *Build, error) {
	np := &onnxpb.NodeProto{OpType: proto.String(c.op), Attribute: c.attrs}
	infos := make([]Info, len(c.inputs))
	for i, t := range c.inputs {
		if t == nil {
			np.Input = append(np.Input, "")
			infos[i] = Info{Absent: true}
			continue
		}
		np.Input = append(np.Input, fmt.Sprintf("in%d", i))
		infos[i] = Info{DType: t.DType, Shape: t.Shape}
		if i < len(c.constant) && c.constant[i] {
			infos[i].Const = t
		}
	}
	outs := max(c.outputs, 1)
	for i := 0; i < outs; i++ {
		np.Output = append(np.Output, fmt.Sprintf("out%d", i))
	}
	opset := c.opset
	if opset == 0 {
		opset = 13
	}
	b, err := builders[c.op](&Node{Node: &graph.Node{Proto: np}, Opset: opset, Threads: runtime.GOMAXPROCS(0)}, infos)
	if err != nil {
		return nil, nil, err
	}
	results := make([]*tensor.Tensor, outs)
	for i := range results {
		results[i] = tensor.New(b.Outputs[i].DType, b.Outputs[i].Shape...)
		if results[i].DType == tensor.Float {
			for j := range results[i].F32 {
				results[i].F32[j] = float32(math.NaN()) // kernels must write every element
			}
		}
	}
	b.Kernel, b.Prepare = b.kernel(), nil
	if err := b.Kernel(nil, c.inputs, results); err != nil {
		return nil, nil, err
	}
	return results, b, nil
}

func nnRandom(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(r.NormFloat64())
	}
	return t
}

func nnInts64(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// nnAttrInts makes an INTS attribute from ints.
func nnAttrInts(name string, v ...int) *onnxpb.AttributeProto {
	return graph.IntsAttr(name, nnInts64(v...)...)
}

func nnAttrFloats(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: v}
}

func nnAttrStrings(name string, v ...string) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRINGS.Enum()}
	for _, s := range v {
		a.Strings = append(a.Strings, []byte(s))
	}
	return a
}

// nnCheckClose compares got with want (float64) within a relative tolerance of the largest |want|.
func nnCheckClose(t *testing.T, what string, got *tensor.Tensor, wantShape []int, want []float64, tol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, wantShape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, wantShape)
	}
	scale := 1e-6
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	worst, at := 0.0, -1
	for i, v := range want {
		d := math.Abs(got.At(i) - v)
		if math.IsNaN(got.At(i)) {
			d = math.Inf(1)
		}
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol*scale {
		t.Fatalf("%s: max error %g at %d (got %g, want %g), tolerance %g", what, worst, at, got.At(at), want[at], tol*scale)
	}
}
