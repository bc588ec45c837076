package graph_test

import (
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

func TestEditKeepsIndexInStep(t *testing.T) {
	m := smallModel().Model()
	g := m.Graph
	gemm := g.Producer("y")
	relu := g.Producer(gemm.Input(0))

	// Insert a Sigmoid between Relu and Gemm.
	sig, err := g.AddNode(gemm, "Sigmoid", "sig", []string{relu.Output(0)}, []string{"sig_out"})
	if err != nil {
		t.Fatal(err)
	}
	// Redirect Relu's other readers (Gemm) to the Sigmoid; the Sigmoid itself keeps reading Relu.
	if err := g.ReplaceUses(relu.Output(0), "sig_out"); err != nil {
		t.Fatal(err)
	}
	if gemm.Input(0) != "sig_out" || sig.Input(0) != relu.Output(0) {
		t.Fatalf("after ReplaceUses: Gemm reads %q, Sigmoid reads %q", gemm.Input(0), sig.Input(0))
	}
	if got := g.Consumers(relu.Output(0)); len(got) != 1 || got[0] != sig {
		t.Fatalf("relu consumers = %v, want [sig]", got)
	}
	if !g.IsSorted() {
		t.Fatal("AddNode before the consumer left the graph unsorted")
	}
	// Replace the weight with a new initializer; the old one becomes unused and is removed.
	w2 := g.AddInitializer("w", onnxbuild.Random(9, 3, 4))
	if w2 == "w" {
		t.Fatal("AddInitializer reused an existing name")
	}
	if err := g.SetInput(gemm, 1, w2); err != nil {
		t.Fatal(err)
	}
	nodes, inits := g.RemoveUnused()
	if nodes != 0 || inits != 1 || g.Initializer("w") != nil {
		t.Fatalf("RemoveUnused removed %d nodes, %d initializers", nodes, inits)
	}
	if len(m.Proto.Graph.Node) != 3 || len(m.Proto.Graph.Initializer) != 1 {
		t.Fatalf("protobuf not in step: %d nodes, %d initializers", len(m.Proto.Graph.Node), len(m.Proto.Graph.Initializer))
	}
}

func TestReplaceUsesOfGraphOutputKeepsTheName(t *testing.T) {
	m := smallModel().Model()
	g := m.Graph
	gemm := g.Producer("y")
	n, err := g.AddNode(nil, "Identity", "id", []string{gemm.Input(0)}, []string{"id_out"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.ReplaceUses("y", "id_out"); err != nil {
		t.Fatal(err)
	}
	if g.Producer("y") != n || n.Output(0) != "y" {
		t.Fatalf("graph output y is produced by %v", g.Producer("y"))
	}
	if _, removed := g.RemoveUnused(); g.Producer("y") == nil || removed != 1 {
		t.Fatalf("after RemoveUnused: y producer %v, %d initializers removed", g.Producer("y"), removed)
	}
}

func TestConstantNodesAreConstants(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4)
	w := onnxbuild.Random(1, 3, 4)
	b.NodeOut("Constant", nil, []string{"w"}, graph.TensorAttr("value", w))
	b.NodeOut("Gemm", []string{x, "w"}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 3)
	g := b.Model().Graph
	c, ok := g.Constant("w")
	if !ok || c.F32[3] != w.F32[3] {
		t.Fatalf("Constant(w) = %v, %v", c, ok)
	}
	if _, ok := g.Constant("x"); ok {
		t.Fatal("a graph input is not a constant")
	}
}

func TestInitializerListedAsInputIsOverridable(t *testing.T) {
	b := smallModel()
	b.Proto().IrVersion = proto.Int64(3)
	b.Proto().Graph.Input = append(b.Proto().Graph.Input, onnxbuild.ValueInfo("w", tensor.Float, 3, 4))
	m := b.Model()
	if _, ok := m.Graph.Constant("w"); ok {
		t.Fatal("an initializer that is also a graph input must not count as a constant by default")
	}
	m.InputDefaultsAreConstant = true
	if _, ok := m.Graph.Constant("w"); !ok {
		t.Fatal("InputDefaultsAreConstant did not make it a constant")
	}
}

func TestSubgraphsSeeOuterValues(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4)
	cond := b.Input("cond", tensor.Bool)
	branch := func(op string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:   proto.String(op),
			Node:   []*onnxpb.NodeProto{{OpType: proto.String(op), Input: []string{x}, Output: []string{op + "_out"}}},
			Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo(op+"_out", tensor.Float, 1, 4)},
		}
	}
	then := &onnxpb.AttributeProto{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch("Relu")}
	els := &onnxpb.AttributeProto{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch("Sigmoid")}
	b.NodeOut("If", []string{cond}, []string{"y"}, then, els)
	b.Output("y", tensor.Float, 1, 4)
	g := b.Model().Graph
	ifNode := g.Producer("y")
	if len(ifNode.Subgraphs["then_branch"]) != 1 {
		t.Fatal("If subgraph not indexed")
	}
	found := false
	for _, c := range g.Consumers("x") {
		if c == ifNode {
			found = true
		}
	}
	if !found {
		t.Fatal("the If node is not recorded as reading x through its branches")
	}
	count := 0
	g.Walk(func(*graph.Node) { count++ })
	if count != 3 {
		t.Fatalf("Walk visited %d nodes, want 3", count)
	}
}

func TestUniqueNameFollowsEdits(t *testing.T) {
	m := smallModel().Model()
	g := m.Graph
	if got := g.UniqueName("fresh"); got != "fresh" {
		t.Fatalf("UniqueName(fresh) = %q", got)
	}
	// An input name is taken; the next free suffix is used, and names added by edits count.
	if got := g.UniqueName("x"); got != "x_2" {
		t.Fatalf("UniqueName(x) = %q, want x_2", got)
	}
	n, err := g.AddNode(nil, "Relu", "x_2", []string{"x"}, []string{"x_3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.UniqueName("x"); got != "x_4" {
		t.Fatalf("after adding node x_2 with output x_3, UniqueName(x) = %q, want x_4", got)
	}
	// Removing the node frees both its name and its output's.
	if err := g.RemoveNode(n); err != nil {
		t.Fatal(err)
	}
	if got := g.UniqueName("x"); got != "x_2" {
		t.Fatalf("after removing them, UniqueName(x) = %q, want x_2", got)
	}
	name := g.AddInitializer("w", tensor.FromFloat32([]float32{1}, 1))
	if name != "w_2" || g.UniqueName("w") != "w_3" {
		t.Fatalf("AddInitializer(w) = %q, then UniqueName(w) = %q; want w_2, w_3", name, g.UniqueName("w"))
	}
}
