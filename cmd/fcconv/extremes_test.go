package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// The valid extremes of issue 18: long chains and deep nesting must convert in time linear-ish in
// their size. The tests assert completion within a generous timeout, not a wall time (a loaded CI
// machine must not fail them); the times are logged (go test -v) for the record.

// chainModel is x -> n nodes alternating Relu and Add(bias) -> Flatten -> Gemm head -> y: a model
// with n+2 nodes whose head fc-to-conv rewrites.
func chainModel(n int) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	v := b.Input("x", tensor.Float, 1, 8)
	bias := b.Init("bias", onnxbuild.Random(2, 1, 8))
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			v = b.Node("Relu", []string{v})
		} else {
			v = b.Node("Add", []string{v, bias})
		}
	}
	w := b.Init("w", onnxbuild.Random(1, 4, 8))
	b.NodeOut("Gemm", []string{v, w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 4)
	return b
}

// gemmChainModel is x -> n Gemm layers of 8x8 -> y: with --scope all each becomes a Conv, and each
// rewrite names its new nodes and weights with UniqueName.
func gemmChainModel(n int) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	v := b.Input("x", tensor.Float, 1, 8)
	w := b.Init("w", onnxbuild.Random(1, 8, 8))
	for i := 0; i < n; i++ {
		v = b.Node("Gemm", []string{v, w}, graph.IntAttr("transB", 1))
	}
	b.NodeOut("Identity", []string{v}, []string{"y"})
	b.Output("y", tensor.Float, 1, 8)
	return b
}

// nestedIfModel is x -> depth nested Ifs (each then-branch holds the next If, each else-branch an
// Identity of x) -> Gemm head -> y.
func nestedIfModel(depth int) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 8)
	cond := b.Init("cond", &tensor.Tensor{DType: tensor.Bool, Shape: []int{}, B: []bool{true}})
	inner := branch("leaf_then", "Relu", x, nil)
	for level := depth; level >= 1; level-- {
		out := fmt.Sprintf("if_%d", level)
		ifNode := &onnxpb.NodeProto{
			OpType: proto.String("If"), Name: proto.String(out), Input: []string{cond}, Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{
				{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: inner},
				{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch(fmt.Sprintf("else_%d", level), "Identity", x, nil)},
			},
		}
		if level == 1 {
			b.Proto().Graph.Node = append(b.Proto().Graph.Node, ifNode)
			break
		}
		inner = branch(fmt.Sprintf("then_%d", level-1), "", x, ifNode)
	}
	w := b.Init("w", onnxbuild.Random(1, 4, 8))
	b.NodeOut("Gemm", []string{"if_1", w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 4)
	return b
}

// branch is a subgraph named name whose one output is op(x), or the output of node when given.
func branch(name, op, x string, node *onnxpb.NodeProto) *onnxpb.GraphProto {
	if node == nil {
		node = &onnxpb.NodeProto{OpType: proto.String(op), Input: []string{x}, Output: []string{name + "_out"}}
	}
	return &onnxpb.GraphProto{
		Name:   proto.String(name),
		Node:   []*onnxpb.NodeProto{node},
		Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo(node.Output[0], tensor.Float, 1, 8)},
	}
}

// convertWithin runs convert on the model and fails if it does not exit 0 within limit.
func convertWithin(t *testing.T, b *onnxbuild.Builder, limit time.Duration, flags ...string) time.Duration {
	t.Helper()
	in := writeBuilt(t, b)
	out := filepath.Join(t.TempDir(), "out.onnx")
	start := time.Now()
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"convert", in, "-o", out, "-q"}, flags...)) }()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("convert exited %d, want 0", code)
		}
	case <-time.After(limit):
		t.Fatalf("convert did not finish within %v", limit)
	}
	return time.Since(start)
}

func TestLongChainConverts(t *testing.T) {
	const nodes = 20000
	took := convertWithin(t, chainModel(nodes), 2*time.Minute)
	t.Logf("a %d-node chain converted in %v", nodes, took)
}

func TestLongFCChainConvertsEveryLayer(t *testing.T) {
	const layers = 20000
	took := convertWithin(t, gemmChainModel(layers), 2*time.Minute, "--scope", "all")
	t.Logf("a chain of %d Gemm layers converted (--scope all) in %v", layers, took)
}

func TestDeepNestingConverts(t *testing.T) {
	const depth = 3000
	took := convertWithin(t, nestedIfModel(depth), 2*time.Minute)
	t.Logf("%d nested Ifs converted in %v", depth, took)
}

func TestWriteExtremeForProfiling(t *testing.T) {
	dir := os.Getenv("FCCONV_EXTREMES_DIR")
	if dir == "" {
		t.Skip()
	}
	for name, b := range map[string]*onnxbuild.Builder{"chain20000": chainModel(20000), "nest3000": nestedIfModel(3000), "gemms20000": gemmChainModel(20000)} {
		data, _ := proto.Marshal(b.Proto())
		os.WriteFile(filepath.Join(dir, name+".onnx"), data, 0o644)
	}
}
