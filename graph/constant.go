package graph

import (
	"fmt"

	"github.com/fcconv/fcconv/graph/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

type constEntry struct {
	t   *tensor.Tensor
	err error
}

// Constant returns the value of name when it is a constant: an initializer (unless it is also a graph
// input the caller may override) or the output of a Constant node, in this graph or an outer one.
// Some exporters put every weight in Constant nodes, so passes must not look at initializers alone.
// The tensor may alias the model's bytes: do not modify it.
func (g *Graph) Constant(name string) (*tensor.Tensor, bool) {
	t, err := g.ConstantErr(name)
	return t, err == nil && t != nil
}

// ConstantErr is Constant with the reason a constant could not be decoded (nil, nil: not a constant).
func (g *Graph) ConstantErr(name string) (*tensor.Tensor, error) {
	for s := g; s != nil; s = s.Parent {
		v, ok := s.values[name]
		if !ok {
			continue
		}
		if c, ok := s.constCache[name]; ok {
			return c.t, c.err
		}
		t, err := s.decodeConstant(v)
		if t != nil || err != nil {
			s.constCache[name] = constEntry{t, err}
		}
		return t, err
	}
	return nil, nil
}

// IsConstant reports whether name is a constant, without decoding it.
func (g *Graph) IsConstant(name string) bool {
	v := g.Value(name)
	if v == nil {
		return false
	}
	if v.Initializer != nil {
		return v.Input == nil || (g.Model != nil && g.Model.InputDefaultsAreConstant)
	}
	return v.Producer != nil && v.Producer.OpType() == "Constant" && v.Producer.Domain() == ""
}

func (g *Graph) decodeConstant(v *Value) (*tensor.Tensor, error) {
	if v.Initializer != nil {
		if v.Input != nil && !(g.Model != nil && g.Model.InputDefaultsAreConstant) {
			return nil, nil
		}
		t, err := tensor.FromProto(v.Initializer, g.externalReader())
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", v.Name, err)
		}
		return t, nil
	}
	if v.Producer != nil && v.Producer.OpType() == "Constant" && v.Producer.Domain() == "" {
		t, err := ConstantNodeValue(v.Producer, g.externalReader())
		if err != nil {
			return nil, fmt.Errorf("%v: %w", v.Producer, err)
		}
		return t, nil
	}
	return nil, nil
}

func (g *Graph) externalReader() tensor.ExternalReader {
	if g.Model == nil {
		return nil
	}
	return g.Model.ReadExternal
}

// ConstantNodeValue decodes the value of a Constant node from whichever attribute holds it.
func ConstantNodeValue(n *Node, ext tensor.ExternalReader) (*tensor.Tensor, error) {
	for _, a := range n.Proto.Attribute {
		switch a.GetName() {
		case "value":
			if a.T == nil {
				return nil, fmt.Errorf("attribute value holds no tensor")
			}
			return tensor.FromProto(a.T, ext)
		case "value_float":
			return tensor.FromFloat32([]float32{a.GetF()}), nil
		case "value_floats":
			return tensor.FromFloat32(append([]float32{}, a.Floats...), len(a.Floats)), nil
		case "value_int":
			return tensor.FromInt64([]int64{a.GetI()}), nil
		case "value_ints":
			return tensor.FromInt64(append([]int64{}, a.Ints...), len(a.Ints)), nil
		case "sparse_value", "value_string", "value_strings":
			return nil, fmt.Errorf("Constant with attribute %s is not supported", a.GetName())
		}
	}
	return nil, fmt.Errorf("Constant node has no value attribute")
}

// Attr returns the node's attribute of that name, or nil.
func (n *Node) Attr(name string) *onnxpb.AttributeProto {
	for _, a := range n.Proto.Attribute {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// AttrInt returns an INT attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloat returns a FLOAT attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns a STRING attribute, or def when absent.
func (n *Node) AttrString(name string, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.S)
	}
	return def
}

// AttrInts returns an INTS attribute, or def when absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return def
}

// AttrFloats returns a FLOATS attribute, or def when absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil {
		return a.Floats
	}
	return def
}

// AttrStrings returns a STRINGS attribute as Go strings, or nil when absent.
func (n *Node) AttrStrings(name string) []string {
	a := n.Attr(name)
	if a == nil {
		return nil
	}
	out := make([]string, len(a.Strings))
	for i, s := range a.Strings {
		out[i] = string(s)
	}
	return out
}

// Opset is the opset version the node binds to (its domain's import in the model).
func (n *Node) Opset() int64 {
	if n.Graph == nil || n.Graph.Model == nil {
		return 0
	}
	return n.Graph.Model.Opset(n.Domain())
}
