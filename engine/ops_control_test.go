package engine

import (
	"math"
	"testing"

	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// branchGraph is a subgraph applying op to the outer value x, with output name out.
func branchGraph(op, x, out string, shape ...int) *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:   proto.String(op + "_branch"),
		Node:   []*onnxpb.NodeProto{{OpType: proto.String(op), Input: []string{x}, Output: []string{out}}},
		Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo(out, tensor.Float, shape...)},
	}
}

func graphAttr(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

// ifModel builds y = Relu(x); z = If(cond, then: Neg(y), else: Abs(y)). y is read only inside the
// branches, so it must stay alive until If runs. With constCond, cond is an initializer.
func ifModel(constCond *bool) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 2, 3)
	var cond string
	if constCond != nil {
		c := tensor.New(tensor.Bool)
		c.B[0] = *constCond
		cond = b.Init("cond", c)
	} else {
		cond = b.Input("cond", tensor.Bool)
	}
	y := b.Node("Relu", []string{x})
	b.NodeOut("If", []string{cond}, []string{"z"},
		graphAttr("then_branch", branchGraph("Neg", y, "then_out", 2, 3)),
		graphAttr("else_branch", branchGraph("Sigmoid", y, "else_out", 2, 3)))
	b.Output("z", tensor.Float, 2, 3)
	return b
}

func TestIfReadsOuterValues(t *testing.T) {
	x := tensor.FromFloat32([]float32{-1, 2, -3, 4, 0, 6}, 2, 3)
	for _, taken := range []bool{true, false} {
		for _, constant := range []bool{false, true} {
			var constCond *bool
			feeds := map[string]*tensor.Tensor{"x": x}
			if constant {
				constCond = &taken
			} else {
				c := tensor.New(tensor.Bool)
				c.B[0] = taken
				feeds["cond"] = c
			}
			prog, err := Compile(ifModel(constCond).Model().Graph, Options{})
			if err != nil {
				t.Fatalf("taken=%v constant=%v: compile: %v", taken, constant, err)
			}
			res, err := prog.Run(feeds)
			if err != nil {
				t.Fatalf("taken=%v constant=%v: run: %v", taken, constant, err)
			}
			for i, v := range x.F32 {
				y := max(v, 0)
				want := -y
				if !taken {
					want = float32(sigmoid64(float64(y)))
				}
				// The vector sigmoid is within a few float32 roundings of the float64 one.
				if got := res["z"].F32[i]; math.Abs(float64(got-want)) > 1e-6*math.Abs(float64(want)) {
					t.Errorf("taken=%v constant=%v: z[%d] = %v, want %v", taken, constant, i, got, want)
				}
			}
		}
	}
}

func TestIfBranchShapesMustAgree(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 2, 3)
	cond := b.Input("cond", tensor.Bool)
	other := &onnxpb.GraphProto{
		Name:   proto.String("flatten_branch"),
		Node:   []*onnxpb.NodeProto{{OpType: proto.String("Flatten"), Input: []string{x}, Output: []string{"flat"}, Attribute: []*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(0)}}}},
		Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo("flat", tensor.Float, 1, 6)},
	}
	b.NodeOut("If", []string{cond}, []string{"z"},
		graphAttr("then_branch", branchGraph("Neg", x, "then_out", 2, 3)),
		graphAttr("else_branch", other))
	b.Output("z", tensor.Float, 2, 3)
	_, err := Compile(b.Model().Graph, Options{})
	if err == nil {
		t.Fatal("compiled an If whose branches give different shapes")
	}
	t.Log(err)
}
