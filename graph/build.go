package graph

import (
	"fmt"
	"strings"

	"github.com/fcconv/fcconv/onnxpb"
)

// NewModel indexes a ModelProto. dir is the folder its external data lives in ("" for none).
// It checks what every later step relies on: a graph, values produced at most once, every node
// input defined somewhere, no cycle.
func NewModel(mp *onnxpb.ModelProto, dir string) (*Model, error) {
	if mp.Graph == nil {
		return nil, fmt.Errorf("the model has no graph")
	}
	if err := checkVersions(mp); err != nil {
		return nil, err
	}
	m := &Model{Proto: mp, Dir: dir}
	g, err := newGraph(mp.Graph, m, nil, nil)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	return m, nil
}

func newGraph(gp *onnxpb.GraphProto, m *Model, parent *Graph, owner *Node) (*Graph, error) {
	g := &Graph{Proto: gp, Model: m, Parent: parent, Owner: owner}
	if err := g.reindex(); err != nil {
		return nil, err
	}
	return g, nil
}

// reindex rebuilds nodes, values and subgraphs from the protobuf message.
func (g *Graph) reindex() error {
	g.free = freeNamesCache{}
	if g.Model != nil {
		g.Model.names = nil // rebuilt from the new index when next needed
	}
	g.values = map[string]*Value{}
	g.inits = map[string]*onnxpb.TensorProto{}
	g.constCache = map[string]constEntry{}
	for _, t := range g.Proto.Initializer {
		g.inits[t.GetName()] = t
		g.value(t.GetName()).Initializer = t
	}
	for _, in := range g.Proto.Input {
		g.value(in.GetName()).Input = in
	}
	g.Nodes = make([]*Node, len(g.Proto.Node))
	for i, np := range g.Proto.Node {
		n := &Node{Proto: np, Graph: g}
		g.Nodes[i] = n
		if err := g.setProducer(n); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		if err := n.buildSubgraphs(); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		if err := g.linkInputs(n); err != nil {
			return err
		}
	}
	if err := g.checkOutputsUnique(); err != nil {
		return err
	}
	for _, o := range g.Proto.Output {
		v := g.Value(o.GetName())
		if v == nil {
			return fmt.Errorf("graph output %q is not produced by any node and is not an input or initializer", o.GetName())
		}
		if _, own := g.values[o.GetName()]; own {
			v.IsOutput = true
		}
	}
	if g.Parent == nil {
		if _, err := g.TopoOrder(); err != nil {
			return err
		}
	}
	return nil
}

func (g *Graph) value(name string) *Value {
	v, ok := g.values[name]
	if !ok {
		v = &Value{Name: name}
		g.values[name] = v
		g.names().add(name)
	}
	return v
}

// names is the model's name set when it is being tracked, else nil.
func (g *Graph) names() *nameSet {
	if g.Model == nil {
		return nil
	}
	return g.Model.names
}

// deleteValue drops a value of this graph from the index.
func (g *Graph) deleteValue(name string) {
	if _, ok := g.values[name]; ok {
		delete(g.values, name)
		g.names().remove(name)
	}
}

func (g *Graph) setProducer(n *Node) error {
	for _, out := range n.Outputs() {
		if out == "" {
			continue
		}
		v := g.value(out)
		if v.Producer != nil {
			return fmt.Errorf("value %q is produced twice: by %v and by %v", out, v.Producer, n)
		}
		if v.Initializer != nil {
			return fmt.Errorf("value %q is both an initializer and the output of %v", out, n)
		}
		v.Producer = n
	}
	return nil
}

// linkInputs records n as a consumer of each input, here or in the outer scope that defines it.
func (g *Graph) linkInputs(n *Node) error {
	seen := map[string]bool{}
	for _, in := range n.Inputs() {
		if in == "" || seen[in] {
			continue
		}
		seen[in] = true
		v := g.Value(in)
		if v == nil {
			return fmt.Errorf("%v reads %q, which no node produces and which is neither a graph input nor an initializer", n, in)
		}
		v.Consumers = append(v.Consumers, n)
	}
	// A node owning subgraphs also depends on every outer value its subgraphs read.
	for _, name := range n.outerScopeReads() {
		if seen[name] {
			continue
		}
		seen[name] = true
		if v := g.Value(name); v != nil {
			v.Consumers = append(v.Consumers, n)
		}
	}
	return nil
}

func (n *Node) buildSubgraphs() error {
	for _, a := range n.Proto.Attribute {
		var gps []*onnxpb.GraphProto
		if a.G != nil {
			gps = append(gps, a.G)
		}
		gps = append(gps, a.Graphs...)
		for _, gp := range gps {
			sub, err := newGraph(gp, n.Graph.Model, n.Graph, n)
			if err != nil {
				return fmt.Errorf("in subgraph %q of %v: %w", a.GetName(), n, err)
			}
			if n.Subgraphs == nil {
				n.Subgraphs = map[string][]*Graph{}
			}
			n.Subgraphs[a.GetName()] = append(n.Subgraphs[a.GetName()], sub)
		}
	}
	return nil
}

// TopoOrder returns the nodes in a topological order that keeps file order wherever the file is
// already sorted (Kahn's algorithm, always taking the earliest ready node). A cycle is an error
// naming one of its nodes.
func (g *Graph) TopoOrder() ([]*Node, error) {
	index := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n] = i
	}
	pending := make([]int, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, p := range g.producersOf(n) {
			if _, own := index[p]; own {
				pending[i]++
			}
		}
	}
	ready := &minHeap{}
	for i, c := range pending {
		if c == 0 {
			ready.push(i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	for ready.len() > 0 {
		i := ready.pop()
		n := g.Nodes[i]
		order = append(order, n)
		for _, c := range g.consumersOf(n) {
			j, own := index[c]
			if !own {
				continue
			}
			if pending[j]--; pending[j] == 0 {
				ready.push(j)
			}
		}
	}
	if len(order) != len(g.Nodes) {
		for i, c := range pending {
			if c > 0 {
				return nil, fmt.Errorf("the graph has a cycle through %v", g.Nodes[i])
			}
		}
	}
	return order, nil
}

// producersOf lists the distinct producers of n's inputs (including outer-scope reads of its
// subgraphs), one entry per edge so that counting matches consumersOf.
func (g *Graph) producersOf(n *Node) []*Node {
	var ps []*Node
	seen := map[string]bool{}
	names := append(append([]string{}, n.Inputs()...), n.outerScopeReads()...)
	for _, in := range names {
		if in == "" || seen[in] {
			continue
		}
		seen[in] = true
		if v := g.values[in]; v != nil && v.Producer != nil {
			ps = append(ps, v.Producer)
		}
	}
	return ps
}

// consumersOf lists, once per edge, the consumers of n's outputs.
func (g *Graph) consumersOf(n *Node) []*Node {
	var cs []*Node
	for _, out := range n.Outputs() {
		if v := g.values[out]; out != "" && v != nil {
			cs = append(cs, v.Consumers...)
		}
	}
	return cs
}

// IsSorted reports whether file order is already topological.
func (g *Graph) IsSorted() bool {
	order, err := g.TopoOrder()
	if err != nil {
		return false
	}
	for i, n := range order {
		if g.Nodes[i] != n {
			return false
		}
	}
	return true
}

type minHeap struct{ a []int }

func (h *minHeap) len() int { return len(h.a) }
func (h *minHeap) push(x int) {
	h.a = append(h.a, x)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}
func (h *minHeap) pop() int {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.a[l] < h.a[m] {
			m = l
		}
		if r < last && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			break
		}
		h.a[m], h.a[i] = h.a[i], h.a[m]
		i = m
	}
	return top
}

// describe is used in error messages about a model file.
func describe(path string) string {
	if path == "" {
		return "model"
	}
	return strings.TrimSpace(path)
}
