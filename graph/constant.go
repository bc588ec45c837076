package graph

import (
	"fmt"

	"github.com/fcconv/fcconv/onnxpb"
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

// ResolvedConstant is a constant found by ResolveConstant.
type ResolvedConstant struct {
	T *tensor.Tensor
	// Name is the value the constant was found at (for naming and caching what is made from it).
	Name string
	// Transposed: the value is T transposed (2-D), it was found through Transpose(perm [1,0]).
	Transposed bool
}

// NotConstantError says why a value is not a constant (as opposed to a constant that cannot be
// decoded, which ResolveConstant reports with the decoding error).
type NotConstantError struct{ Reason string }

func (e *NotConstantError) Error() string { return e.Reason }

func notConstant(format string, args ...any) error {
	return &NotConstantError{Reason: fmt.Sprintf(format, args...)}
}

// ResolveConstant is the constant resolver every rewrite pass uses, so that they agree on what a
// constant is: an initializer or Constant node (see Constant), or the same through Identity,
// Transpose of a 2-D constant with perm [1,0] (reported as Transposed, not copied), or Cast to
// float (converted), or else a value folded names (the engine's compile-time constants; nil for
// none). Exporters that skip constant folding leave weights behind such chains.
func (g *Graph) ResolveConstant(name string, folded func(string) *tensor.Tensor) (*ResolvedConstant, error) {
	t, err := g.ConstantErr(name)
	if err != nil {
		return nil, err
	}
	if t != nil {
		return &ResolvedConstant{T: t, Name: name}, nil
	}
	v := g.Value(name)
	if v == nil {
		return nil, notConstant("no value %q", name)
	}
	if v.Initializer != nil && v.Input != nil {
		return nil, notConstant("%q is a graph input whose initializer is only a default (an IR < 4 export): "+
			"callers may override it, so it is not a constant; re-export with IR >= 4, or load the model "+
			"treating input defaults as constants", name)
	}
	prod := v.Producer
	if prod == nil {
		return nil, notConstant("%q is a graph input, fed at run time", name)
	}
	if prod.Domain() == "" {
		switch prod.OpType() {
		case "Identity":
			return g.ResolveConstant(prod.Input(0), folded)
		case "Transpose":
			inner, err := g.ResolveConstant(prod.Input(0), folded)
			if inner == nil {
				return nil, err
			}
			perm := prod.AttrInts("perm", nil)
			if inner.T.Rank() == 2 && (perm == nil || (len(perm) == 2 && perm[0] == 1 && perm[1] == 0)) {
				c := *inner
				c.Transposed = !c.Transposed
				return &c, nil
			}
		case "Cast":
			inner, err := g.ResolveConstant(prod.Input(0), folded)
			if inner == nil {
				return nil, err
			}
			if tensor.DType(prod.AttrInt("to", 0)) == tensor.Float {
				c := *inner
				c.T = tensor.FromFloat32(inner.T.AsFloat32(), inner.T.Shape...)
				return &c, nil
			}
		}
	}
	if folded != nil {
		if t := folded(name); t != nil {
			return &ResolvedConstant{T: t, Name: name}, nil
		}
	}
	return nil, notConstant("it is computed at run time by %v", prod)
}
