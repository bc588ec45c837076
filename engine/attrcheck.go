package engine

import (
	"fmt"

	"github.com/fcconv/fcconv/onnxpb"
)

// Typed attribute reads. A builder reads attributes through these methods, which shadow
// graph.Node's: an attribute whose declared type is not the one read (an axis given as a string,
// transB as a float) would otherwise read as the default and the node would silently compute
// something else. The first mismatch is recorded on the Node, and the engine turns it into the
// node's compile error (see attrError), whatever the builder went on to do.

// AttrInt returns an INT attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if n.attrIs(name, onnxpb.AttributeProto_INT) {
		return n.Node.AttrInt(name, def)
	}
	return def
}

// AttrFloat returns a FLOAT attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if n.attrIs(name, onnxpb.AttributeProto_FLOAT) {
		return n.Node.AttrFloat(name, def)
	}
	return def
}

// AttrString returns a STRING attribute, or def when absent.
func (n *Node) AttrString(name string, def string) string {
	if n.attrIs(name, onnxpb.AttributeProto_STRING) {
		return n.Node.AttrString(name, def)
	}
	return def
}

// AttrInts returns an INTS attribute, or def when absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if n.attrIs(name, onnxpb.AttributeProto_INTS) {
		return n.Node.AttrInts(name, def)
	}
	return def
}

// AttrFloats returns a FLOATS attribute, or def when absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if n.attrIs(name, onnxpb.AttributeProto_FLOATS) {
		return n.Node.AttrFloats(name, def)
	}
	return def
}

// AttrStrings returns a STRINGS attribute as Go strings, or nil when absent.
func (n *Node) AttrStrings(name string) []string {
	if n.attrIs(name, onnxpb.AttributeProto_STRINGS) {
		return n.Node.AttrStrings(name)
	}
	return nil
}

// attrIs reports whether the attribute is present with the wanted type. A present attribute of
// another type is recorded as the node's error. An attribute without a declared type (written by
// old exporters) is taken as the type read.
func (n *Node) attrIs(name string, want onnxpb.AttributeProto_AttributeType) bool {
	a := n.Node.Attr(name)
	if a == nil {
		return false
	}
	got := a.GetType()
	if got == want || got == onnxpb.AttributeProto_UNDEFINED {
		return true
	}
	if n.attrErr == nil {
		n.attrErr = fmt.Errorf("attribute %s of %s must be %s, but the model gives it as %s", name, n.OpType(), attrTypeName(want), attrTypeName(got))
	}
	return false
}

// attrTypeName names an attribute type for messages ("an int", "a string", ...).
func attrTypeName(t onnxpb.AttributeProto_AttributeType) string {
	switch t {
	case onnxpb.AttributeProto_INT:
		return "an int"
	case onnxpb.AttributeProto_FLOAT:
		return "a float"
	case onnxpb.AttributeProto_STRING:
		return "a string"
	case onnxpb.AttributeProto_INTS:
		return "a list of ints"
	case onnxpb.AttributeProto_FLOATS:
		return "a list of floats"
	case onnxpb.AttributeProto_STRINGS:
		return "a list of strings"
	}
	return "type " + t.String()
}

// attrError is the first attribute type mismatch a builder met, which takes precedence over
// whatever the builder made of the default it read instead.
func (n *Node) attrError() error { return n.attrErr }
