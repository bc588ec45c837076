// Package onnxbuild builds small ONNX models in code, for tests and fixtures.
//
//	b := onnxbuild.New(13)
//	x := b.Input("x", tensor.Float, 1, 8, 4, 4)
//	w := b.Init("w", tensor.FromFloat32(weights, 10, 128))
//	f := b.Node("Flatten", []string{x}, graph.IntAttr("axis", 1))
//	y := b.Node("Gemm", []string{f, w}, graph.IntAttr("transB", 1))
//	b.Output(y, tensor.Float, 1, 10)
//	m := b.Model() // a *graph.Model
package onnxbuild

import (
	"fmt"
	"math/rand"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// Builder accumulates a model.
type Builder struct {
	mp    *onnxpb.ModelProto
	count int
}

// New starts a model importing the default domain at the given opset (IR version 8).
func New(opset int64) *Builder {
	return &Builder{mp: &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("fcconv-test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph:        &onnxpb.GraphProto{Name: proto.String("test")},
	}}
}

// ValueInfo makes a tensor ValueInfoProto; a dim < 0 becomes a symbolic dim named "d<axis>".
func ValueInfo(name string, dt tensor.DType, shape ...int) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		if d < 0 {
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("d%d", i)}}
		} else {
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// Input declares a graph input and returns its name.
func (b *Builder) Input(name string, dt tensor.DType, shape ...int) string {
	b.mp.Graph.Input = append(b.mp.Graph.Input, ValueInfo(name, dt, shape...))
	return name
}

// Output declares a graph output.
func (b *Builder) Output(name string, dt tensor.DType, shape ...int) {
	b.mp.Graph.Output = append(b.mp.Graph.Output, ValueInfo(name, dt, shape...))
}

// Init adds an initializer and returns its name.
func (b *Builder) Init(name string, t *tensor.Tensor) string {
	b.mp.Graph.Initializer = append(b.mp.Graph.Initializer, t.ToProto(name))
	return name
}

// Node adds a node with one output (named after the op and a counter) and returns the output name.
func (b *Builder) Node(op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	b.count++
	out := fmt.Sprintf("%s_%d", op, b.count)
	b.NodeOut(op, inputs, []string{out}, attrs...)
	return out
}

// NodeOut adds a node with the given outputs.
func (b *Builder) NodeOut(op string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) {
	b.count++
	b.mp.Graph.Node = append(b.mp.Graph.Node, &onnxpb.NodeProto{
		Name:      proto.String(fmt.Sprintf("%s_node_%d", op, b.count)),
		OpType:    proto.String(op),
		Input:     inputs,
		Output:    outputs,
		Attribute: attrs,
	})
}

// Proto returns the model message built so far.
func (b *Builder) Proto() *onnxpb.ModelProto { return b.mp }

// Model indexes the built model; it panics on an invalid graph, as tests want.
func (b *Builder) Model() *graph.Model {
	m, err := graph.NewModel(proto.Clone(b.mp).(*onnxpb.ModelProto), "")
	if err != nil {
		panic(err)
	}
	return m
}

// Random returns a float32 tensor of normal values with the given seed and shape.
func Random(seed int64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewSource(seed))
	t := tensor.New(tensor.Float, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(r.NormFloat64())
	}
	return t
}
