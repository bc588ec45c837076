package graph

import (
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// DimValue is a fixed dim of a declared shape.
func DimValue(v int64) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
}

// DimParam is a symbolic dim of a declared shape, e.g. "height".
func DimParam(name string) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: name}}
}

// TensorValueInfo declares a tensor value of a fixed shape.
func TensorValueInfo(name string, dt tensor.DType, shape []int) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		dims[i] = DimValue(int64(d))
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// SetDims replaces the declared shape of a tensor value info (nothing for a non-tensor value).
func SetDims(vi *onnxpb.ValueInfoProto, dims []*onnxpb.TensorShapeProto_Dimension) {
	if tt := vi.GetType().GetTensorType(); tt != nil {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: dims}
	}
}

// NamedTensor is a constant with the name a model gives it.
type NamedTensor struct {
	Name string
	T    *tensor.Tensor
}

// SingleNodeModel builds a model of one node alone, to run it by itself: a copy of n (its
// attributes, op and domain) reading inputs and writing outputs, where inputs are the graph
// inputs declared in graphInputs or the initializers consts, under the opsets of n's model.
func SingleNodeModel(graphName string, n *Node, inputs, outputs []string, graphInputs []*onnxpb.ValueInfoProto, consts []NamedTensor) (*Model, error) {
	np := proto.Clone(n.Proto).(*onnxpb.NodeProto)
	np.Input, np.Output = inputs, outputs
	gp := &onnxpb.GraphProto{Name: proto.String(graphName), Node: []*onnxpb.NodeProto{np}, Input: graphInputs}
	for _, o := range outputs {
		gp.Output = append(gp.Output, &onnxpb.ValueInfoProto{Name: proto.String(o)})
	}
	for _, c := range consts {
		gp.Initializer = append(gp.Initializer, c.T.ToProto(c.Name))
	}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: gp}
	if n.Graph != nil && n.Graph.Model != nil {
		mp.OpsetImport = n.Graph.Model.Proto.OpsetImport
	}
	return NewModel(mp, "")
}
