package graph

import (
	"fmt"
	"slices"

	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// The editing API for passes. Each call keeps Proto.Node / Proto.Initializer and the index in step,
// so a pass may edit and then query producers, consumers and constants again.

func (g *Graph) walkGraphs(fn func(*Graph)) {
	fn(g)
	for _, n := range g.Nodes {
		for _, s := range n.SubgraphsInOrder() {
			s.walkGraphs(fn)
		}
	}
}

// Attribute constructors for NewNode.

// IntAttr makes an INT attribute.
func IntAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// IntsAttr makes an INTS attribute.
func IntsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// FloatAttr makes a FLOAT attribute.
func FloatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// StringAttr makes a STRING attribute.
func StringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// TensorAttr makes a TENSOR attribute.
func TensorAttr(name string, t *tensor.Tensor) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t.ToProto("")}
}

// AddNode creates a node and inserts it before the node `before` (at the end when nil). The name is
// made unique. Its outputs must be new names.
func (g *Graph) AddNode(before *Node, opType, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) (*Node, error) {
	g.edited()
	np := &onnxpb.NodeProto{
		OpType:    proto.String(opType),
		Input:     append([]string{}, inputs...),
		Output:    append([]string{}, outputs...),
		Attribute: attrs,
	}
	if name != "" {
		np.Name = proto.String(g.UniqueName(name))
	}
	n := &Node{Proto: np, Graph: g}
	if err := g.setProducer(n); err != nil {
		return nil, err
	}
	if err := g.linkInputs(n); err != nil {
		for _, out := range n.Outputs() {
			g.deleteValue(out)
		}
		return nil, err
	}
	g.names().add(n.Name())
	at := len(g.Nodes)
	if before != nil {
		at = g.indexOf(before)
	}
	g.Nodes = slices.Insert(g.Nodes, at, n)
	if len(g.Proto.Node) == len(g.Nodes)-1 {
		g.Proto.Node = slices.Insert(g.Proto.Node, at, np) // in step: insert rather than rebuild
	} else {
		g.syncNodes()
	}
	return n, nil
}

func (g *Graph) indexOf(n *Node) int {
	for i, m := range g.Nodes {
		if m == n {
			return i
		}
	}
	panic(fmt.Sprintf("graph: %v is not in this graph", n))
}

func (g *Graph) syncNodes() {
	g.Proto.Node = make([]*onnxpb.NodeProto, len(g.Nodes))
	for i, n := range g.Nodes {
		g.Proto.Node[i] = n.Proto
	}
}

// RemoveNode deletes a node. Its outputs must have no consumers left and must not be graph outputs.
func (g *Graph) RemoveNode(n *Node) error {
	g.edited()
	for _, out := range n.Outputs() {
		if v := g.values[out]; out != "" && v != nil {
			if len(v.Consumers) > 0 {
				return fmt.Errorf("cannot remove %v: %q is still read by %v", n, out, v.Consumers[0])
			}
			if v.IsOutput {
				return fmt.Errorf("cannot remove %v: %q is a graph output", n, out)
			}
		}
	}
	for _, out := range n.Outputs() {
		g.deleteValue(out)
		delete(g.constCache, out)
	}
	g.names().remove(n.Name())
	g.unlinkInputs(n)
	i := g.indexOf(n)
	g.Nodes = slices.Delete(g.Nodes, i, i+1)
	if i < len(g.Proto.Node) && g.Proto.Node[i] == n.Proto {
		g.Proto.Node = slices.Delete(g.Proto.Node, i, i+1) // in step: delete rather than rebuild
	} else {
		g.syncNodes()
	}
	return nil
}

func (g *Graph) unlinkInputs(n *Node) {
	names := append(append([]string{}, n.Inputs()...), n.outerScopeReads()...)
	for _, in := range names {
		v := g.Value(in)
		if in == "" || v == nil {
			continue
		}
		kept := v.Consumers[:0]
		for _, c := range v.Consumers {
			if c != n {
				kept = append(kept, c)
			}
		}
		v.Consumers = kept
	}
}

// SetInput makes input i of n read value name (growing the input list with "" as needed).
func (g *Graph) SetInput(n *Node, i int, name string) error {
	g.edited()
	if name != "" && g.Value(name) == nil {
		return fmt.Errorf("cannot connect %v to %q: no such value", n, name)
	}
	g.unlinkInputs(n)
	for len(n.Proto.Input) <= i {
		n.Proto.Input = append(n.Proto.Input, "")
	}
	n.Proto.Input[i] = name
	return g.linkInputs(n)
}

// ReplaceUses makes every consumer of old (and the graph outputs listing it) read repl instead,
// except the node producing repl itself, so that inserting a node after old and redirecting the
// other readers to it is one call.
// A graph output keeps its name: when old is a graph output, the producer of repl is renamed to
// produce old instead, which needs repl to be produced by a node of this graph.
func (g *Graph) ReplaceUses(old, repl string) error {
	v := g.Value(old)
	if v == nil {
		return fmt.Errorf("no value %q", old)
	}
	replProducer := g.Producer(repl)
	for _, c := range append([]*Node{}, v.Consumers...) {
		if c.Graph != g || c == replProducer {
			continue
		}
		for i, in := range c.Inputs() {
			if in == old {
				if err := g.SetInput(c, i, repl); err != nil {
					return err
				}
			}
		}
	}
	if v.IsOutput {
		return g.renameOutputProducer(old, repl)
	}
	return nil
}

// renameOutputProducer makes the producer of repl write the graph output old directly.
func (g *Graph) renameOutputProducer(old, repl string) error {
	g.edited()
	rv := g.values[repl]
	if rv == nil || rv.Producer == nil {
		return fmt.Errorf("graph output %q can only be replaced by a node output of the same graph", old)
	}
	if len(rv.Consumers) > 0 {
		return fmt.Errorf("cannot rename %q to graph output %q: it has other readers", repl, old)
	}
	ov := g.values[old]
	if ov.Producer != nil && ov.Producer != rv.Producer {
		for i, out := range ov.Producer.Outputs() {
			if out == old {
				// The old producer's output becomes dead; give it a fresh name.
				fresh := g.UniqueName(old + "_replaced")
				ov.Producer.Proto.Output[i] = fresh
				g.value(fresh).Producer = ov.Producer
			}
		}
	}
	for i, out := range rv.Producer.Outputs() {
		if out == repl {
			rv.Producer.Proto.Output[i] = old
		}
	}
	ov.Producer = rv.Producer
	g.deleteValue(repl)
	return nil
}

// AddInitializer adds a constant under a unique name derived from base and returns the name.
func (g *Graph) AddInitializer(base string, t *tensor.Tensor) string {
	g.edited()
	name := g.UniqueName(base)
	tp := t.ToProto(name)
	g.Proto.Initializer = append(g.Proto.Initializer, tp)
	g.inits[name] = tp
	g.value(name).Initializer = tp
	return name
}

// RemoveInitializer deletes an initializer that nothing reads any more.
func (g *Graph) RemoveInitializer(name string) error {
	g.edited()
	v := g.values[name]
	if v == nil || v.Initializer == nil {
		return fmt.Errorf("no initializer %q", name)
	}
	if len(v.Consumers) > 0 || v.IsOutput || v.Input != nil {
		return fmt.Errorf("initializer %q is still in use", name)
	}
	kept := g.Proto.Initializer[:0]
	for _, t := range g.Proto.Initializer {
		if t != v.Initializer {
			kept = append(kept, t)
		}
	}
	g.Proto.Initializer = kept
	delete(g.inits, name)
	g.deleteValue(name)
	delete(g.constCache, name)
	return nil
}

// RemoveUnused deletes nodes (other than those with subgraphs) and initializers whose results
// nothing reads, repeatedly, and returns how many of each went.
func (g *Graph) RemoveUnused() (nodes, inits int) {
	for changed := true; changed; {
		changed = false
		for i := len(g.Nodes) - 1; i >= 0; i-- {
			n := g.Nodes[i]
			if g.isDead(n) && g.RemoveNode(n) == nil {
				nodes++
				changed = true
			}
		}
	}
	for _, t := range append([]*onnxpb.TensorProto{}, g.Proto.Initializer...) {
		if g.RemoveInitializer(t.GetName()) == nil {
			inits++
		}
	}
	return nodes, inits
}

func (g *Graph) isDead(n *Node) bool {
	for _, out := range n.Outputs() {
		if v := g.values[out]; out != "" && v != nil && (len(v.Consumers) > 0 || v.IsOutput) {
			return false
		}
	}
	return true
}

// ValueInfo returns the declared value_info / input / output entry for name, or nil.
func (g *Graph) ValueInfo(name string) *onnxpb.ValueInfoProto {
	for _, list := range [][]*onnxpb.ValueInfoProto{g.Proto.Input, g.Proto.Output, g.Proto.ValueInfo} {
		for _, vi := range list {
			if vi.GetName() == name {
				return vi
			}
		}
	}
	return nil
}

// DropValueInfo removes value_info entries for names no longer in the graph, so a saved model
// carries no stale shapes.
func (g *Graph) DropValueInfo(names ...string) {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	kept := g.Proto.ValueInfo[:0]
	for _, vi := range g.Proto.ValueInfo {
		if !drop[vi.GetName()] {
			kept = append(kept, vi)
		}
	}
	g.Proto.ValueInfo = kept
}

// Sort puts the nodes in topological order (keeping file order where it already is one).
func (g *Graph) Sort() error {
	g.edited()
	order, err := g.TopoOrder()
	if err != nil {
		return err
	}
	g.Nodes = order
	g.syncNodes()
	return nil
}

// SetMetadata sets (or adds) a model metadata_props entry.
func (m *Model) SetMetadata(key, value string) {
	for _, p := range m.Proto.MetadataProps {
		if p.GetKey() == key {
			p.Value = proto.String(value)
			return
		}
	}
	m.Proto.MetadataProps = append(m.Proto.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
}

// Copy makes an editable copy of the model: nodes, value infos and metadata are cloned; initializer
// messages are shared, because edits never modify an initializer in place (they add new ones), so a
// copy of a 500 MB model costs little memory. The copy reads external data from the same folder.
func (m *Model) Copy() (*Model, error) {
	src := m.Proto
	g := src.Graph
	src.Graph = nil
	mp := proto.Clone(src).(*onnxpb.ModelProto)
	src.Graph = g
	inits := g.Initializer
	g.Initializer = nil
	gp := proto.Clone(g).(*onnxpb.GraphProto)
	g.Initializer = inits
	gp.Initializer = append([]*onnxpb.TensorProto{}, inits...)
	mp.Graph = gp
	c, err := NewModel(mp, m.Dir)
	if err != nil {
		return nil, err
	}
	c.Path, c.InputDefaultsAreConstant = m.Path, m.InputDefaultsAreConstant
	return c, nil
}
