// Package graph is fcconv's in-memory ONNX model: the protobuf messages, kept whole so that save is
// lossless, plus an index over them that rewrite passes and the engine need: each value's producer
// and consumers, constants (initializers and Constant nodes alike), a topological order, subgraphs.
//
// The protobuf messages stay the source of truth for everything fcconv does not edit (attributes,
// doc strings, value_info, metadata, unknown fields). Nodes and initializers are edited through the
// methods in edit.go, which keep the index and the messages in step.
package graph

import (
	"fmt"

	"github.com/fcconv/fcconv/onnxpb"
)

// Model is a loaded ONNX model.
type Model struct {
	Proto *onnxpb.ModelProto
	Graph *Graph
	// Path is the file the model was loaded from ("" if from memory); external data is read from its
	// folder.
	Path string
	// Dir is the folder external data is read from.
	Dir string
	// InputDefaultsAreConstant treats initializers that are also graph inputs (IR < 4 style) as
	// constants. Off by default: such an initializer is a default the caller may override.
	InputDefaultsAreConstant bool

	// release unmaps the file the initializers alias (nil when loaded from memory).
	release func()
	// edits counts changes to the model's graphs, so caches derived from them (see scope.go) know
	// when they are stale.
	edits uint64
	// names counts the uses of each value and node name in all graphs, for UniqueName (see
	// names.go); nil until UniqueName is first called.
	names *nameSet
}

// Opset is the imported version of a domain ("" and "ai.onnx" are the default domain), or 0.
func (m *Model) Opset(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.Proto.OpsetImport {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.GetVersion()
		}
	}
	return 0
}

// Graph is one graph: the main graph or a subgraph of an If/Loop/Scan node.
type Graph struct {
	Proto *onnxpb.GraphProto
	Model *Model
	// Parent is the graph that holds the node owning this subgraph (nil for the main graph).
	Parent *Graph
	// Owner is the node whose attribute holds this subgraph (nil for the main graph).
	Owner *Node

	// Nodes in file order; Proto.Node is rewritten from it on save.
	Nodes  []*Node
	values map[string]*Value
	// initializers by name, pointing into Proto.Initializer.
	inits map[string]*onnxpb.TensorProto
	// constCache holds decoded constants, so a weight is decoded once.
	constCache map[string]constEntry
	// free caches the names this graph reads from enclosing graphs (see scope.go).
	free freeNamesCache
}

// Node is one operator application.
type Node struct {
	Proto *onnxpb.NodeProto
	Graph *Graph
	// Subgraphs of this node by attribute name (If: then_branch/else_branch; Loop, Scan: body).
	Subgraphs map[string][]*Graph
}

// Value is a named tensor in a graph.
type Value struct {
	Name string
	// Producer is the node that outputs the value; nil for graph inputs, initializers and values
	// from an outer scope.
	Producer *Node
	// Consumers are the nodes of this graph that read the value, in node order, once per node.
	// Nodes inside subgraphs that read it by outer-scope name are listed too.
	Consumers []*Node
	// Initializer is set when the graph has an initializer of this name.
	Initializer *onnxpb.TensorProto
	// Input is the graph input of this name, if any.
	Input *onnxpb.ValueInfoProto
	// IsOutput is set for graph outputs.
	IsOutput bool
}

// OpType is the node's operator type.
func (n *Node) OpType() string { return n.Proto.GetOpType() }

// Name is the node's name (may be empty).
func (n *Node) Name() string { return n.Proto.GetName() }

// Domain is the node's operator domain ("" is the default ONNX domain).
func (n *Node) Domain() string {
	d := n.Proto.GetDomain()
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// Inputs are the input value names ("" marks an omitted optional input).
func (n *Node) Inputs() []string { return n.Proto.Input }

// Outputs are the output value names ("" marks an omitted optional output).
func (n *Node) Outputs() []string { return n.Proto.Output }

// Input is input i, or "" when absent.
func (n *Node) Input(i int) string {
	if i < len(n.Proto.Input) {
		return n.Proto.Input[i]
	}
	return ""
}

// Output is output i, or "" when absent.
func (n *Node) Output(i int) string {
	if i < len(n.Proto.Output) {
		return n.Proto.Output[i]
	}
	return ""
}

// String names the node for messages: `Gemm node "/fc/Gemm"`, or by its first output when unnamed.
func (n *Node) String() string {
	if n.Name() != "" {
		return fmt.Sprintf("%s node %q", n.OpType(), n.Name())
	}
	return fmt.Sprintf("%s node producing %q", n.OpType(), n.Output(0))
}

// Value returns the value of that name visible in this graph (its own or an outer scope's), or nil.
func (g *Graph) Value(name string) *Value {
	for s := g; s != nil; s = s.Parent {
		if v, ok := s.values[name]; ok {
			return v
		}
	}
	return nil
}

// Values are this graph's own values (not outer-scope ones), keyed by name.
func (g *Graph) Values() map[string]*Value { return g.values }

// Producer is the node of this graph (or an outer one) that outputs name, or nil.
func (g *Graph) Producer(name string) *Node {
	if v := g.Value(name); v != nil {
		return v.Producer
	}
	return nil
}

// Consumers are the nodes that read name.
func (g *Graph) Consumers(name string) []*Node {
	if v := g.Value(name); v != nil {
		return v.Consumers
	}
	return nil
}

// InputNames are the graph's real inputs: graph inputs without an initializer of the same name,
// plus (unless the model treats them as constants) those with one, since the caller may override
// them.
func (g *Graph) InputNames() []string {
	var names []string
	for _, in := range g.Proto.Input {
		if _, isInit := g.inits[in.GetName()]; isInit && (g.Model == nil || g.Model.InputDefaultsAreConstant) {
			continue
		}
		names = append(names, in.GetName())
	}
	return names
}

// RequiredInputNames are the inputs a caller must feed: graph inputs without an initializer default.
func (g *Graph) RequiredInputNames() []string {
	var names []string
	for _, in := range g.Proto.Input {
		if _, isInit := g.inits[in.GetName()]; !isInit {
			names = append(names, in.GetName())
		}
	}
	return names
}

// OutputNames are the graph outputs.
func (g *Graph) OutputNames() []string {
	names := make([]string, len(g.Proto.Output))
	for i, o := range g.Proto.Output {
		names[i] = o.GetName()
	}
	return names
}

// Initializer returns this graph's initializer of that name, or nil.
func (g *Graph) Initializer(name string) *onnxpb.TensorProto { return g.inits[name] }

// Walk calls fn for every node of g and of all its subgraphs, depth first, in node order.
func (g *Graph) Walk(fn func(*Node)) {
	for _, n := range g.Nodes {
		fn(n)
		for _, s := range n.SubgraphsInOrder() {
			s.Walk(fn)
		}
	}
}

// SubgraphsInOrder lists the node's subgraphs in the order of its attributes (then_branch before
// else_branch as the file has them), so that every walk over a model, and so every file written
// from one, is the same from run to run (Subgraphs is a map).
func (n *Node) SubgraphsInOrder() []*Graph {
	if len(n.Subgraphs) == 0 {
		return nil
	}
	var out []*Graph
	seen := map[string]bool{}
	for _, a := range n.Proto.GetAttribute() {
		name := a.GetName()
		if subs, ok := n.Subgraphs[name]; ok && !seen[name] {
			seen[name] = true
			out = append(out, subs...)
		}
	}
	return out
}

// DisplayName names the node for reports: its name, or its first output when it has none.
func (n *Node) DisplayName() string {
	if n.Name() != "" {
		return n.Name()
	}
	return n.Output(0)
}
