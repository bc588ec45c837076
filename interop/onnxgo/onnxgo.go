// Package onnxgo runs ONNX models, such as those fcconv writes, on github.com/owulveryck/onnx-go and
// its Gorgonia backend (gorgonnx), with fcconv's tensors in and out.
//
// It lives in a module of its own so that fcconv itself never depends on Gorgonia. onnx-go v0.5.0
// is archived; its gorgonnx backend knows about 40 ops and reads every model as if it were of the
// opset its operators were written for. The tests of this module show which models fcconv writes
// run there with the same outputs as on fcconv's engine, and which do not and why (see the README).
package onnxgo

import (
	"fmt"

	"github.com/fcconv/fcconv/tensor"
	onnx "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	gtensor "gorgonia.org/tensor"
)

// Run decodes a serialized ONNX model with onnx-go, sets its inputs in graph order, runs it on
// gorgonnx and returns its outputs in graph order. Only float32 inputs and outputs are handled, the
// type fcconv's engine computes in. onnx-go panics on some models it cannot handle (shapes it does
// not expect); Run turns that into an error too.
func Run(model []byte, inputs ...*tensor.Tensor) (outputs []*tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go panicked: %v", r)
		}
	}()
	backend := gorgonnx.NewGraph()
	m := onnx.NewModel(backend)
	if err := m.UnmarshalBinary(model); err != nil {
		return nil, fmt.Errorf("onnx-go cannot decode the model: %w", err)
	}
	for i, in := range inputs {
		gt, err := toGorgonia(in)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		if err := m.SetInput(i, gt); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
	}
	if err := backend.Run(); err != nil {
		return nil, fmt.Errorf("gorgonnx cannot run the model: %w", err)
	}
	outs, err := m.GetOutputTensors()
	if err != nil {
		return nil, fmt.Errorf("reading the outputs: %w", err)
	}
	for i, o := range outs {
		t, err := fromGorgonia(o)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		outputs = append(outputs, t)
	}
	return outputs, nil
}

// toGorgonia copies a float32 tensor into a dense Gorgonia tensor of the same shape.
func toGorgonia(t *tensor.Tensor) (gtensor.Tensor, error) {
	if t.DType != tensor.Float {
		return nil, fmt.Errorf("a %v tensor; only float is handled", t.DType)
	}
	data := append([]float32(nil), t.F32...)
	return gtensor.New(gtensor.WithShape(t.Shape...), gtensor.WithBacking(data)), nil
}

// fromGorgonia copies a float32 Gorgonia tensor into an fcconv tensor.
func fromGorgonia(t gtensor.Tensor) (*tensor.Tensor, error) {
	data, ok := t.Data().([]float32)
	if !ok {
		// A one-element result can come back as a scalar.
		v, isScalar := t.Data().(float32)
		if !isScalar {
			return nil, fmt.Errorf("a %v tensor; only float32 is handled", t.Dtype())
		}
		data = []float32{v}
	}
	shape := append([]int(nil), t.Shape()...)
	return tensor.FromFloat32(append([]float32(nil), data...), shape...), nil
}
