package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"math"

	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("BatchNormalization", buildBatchNormalization)
	register("LayerNormalization", buildLayerNormalization)
	register("InstanceNormalization", buildInstanceNormalization)
}

// buildBatchNormalization compiles BatchNormalization. Inference computes
// y = (x - mean) / sqrt(var + epsilon) * scale + B per channel; with training_mode (opset 14+)
// the batch's own statistics replace mean and var, and the updated running statistics are
// output. Before opset 9, spatial=0 gives the parameters one value per element of X's
// [C, D1, ...] instead of per channel.
func buildBatchNormalization(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 5, 5); err != nil {
		return nil, err
	}
	for i, name := range []string{"X", "scale", "B", "input_mean", "input_var"} {
		if err := nnFloatInput(in, i, name); err != nil {
			return nil, err
		}
	}
	x := in[0].Shape
	if len(x) < 2 {
		return nil, fmt.Errorf("input X has shape %v; it needs at least [N, C]", x)
	}
	training := n.Opset >= 14 && n.AttrInt("training_mode", 0) != 0
	outputs := 0
	for _, name := range n.Outputs() {
		if name != "" {
			outputs++
		}
	}
	if outputs > 1 && !training {
		return nil, fmt.Errorf("the training outputs (running mean and variance, saved statistics) are only supported with training_mode=1 (opset 14 and later)")
	}
	// Parameters are per channel, or per element of [C, D1, ...] (spatial=0, before opset 9).
	channels, inner := x[1], tensor.NumElements(x[2:])
	paramLen := channels
	if n.Opset < 9 && n.AttrInt("spatial", 1) == 0 {
		paramLen = channels * inner
	}
	for i := 1; i < 5; i++ {
		if tensor.NumElements(in[i].Shape) != paramLen {
			return nil, fmt.Errorf("input %d has shape %v; it needs %d values", i, in[i].Shape, paramLen)
		}
	}
	if training && paramLen != channels {
		return nil, fmt.Errorf("training_mode needs per-channel parameters")
	}
	epsilon := float64(n.AttrFloat("epsilon", 1e-5))
	momentum := float64(n.AttrFloat("momentum", 0.9))
	outs := []Info{{DType: tensor.Float, Shape: x}}
	for len(outs) < len(n.Outputs()) {
		outs = append(outs, Info{DType: tensor.Float, Shape: []int{channels}})
	}
	batch := x[0]
	return &Build{
		Outputs: outs,
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			scale, bias, mean, variance := ins[1].F32, ins[2].F32, ins[3].F32, ins[4].F32
			if training {
				m, v := batchNormStatistics(ins[0].F32, batch, channels, inner)
				batchNormApply(n.Threads, ins[0].F32, outs[0].F32, batch, paramLen, inner/(paramLen/channels), scale, bias, m, v, epsilon)
				for i, out := range outs[1:] {
					if out == nil {
						continue
					}
					running, current := mean, m
					if i == 1 {
						running, current = variance, v
					}
					for c := range out.F32 {
						out.F32[c] = float32(float64(running[c])*momentum + current[c]*(1-momentum))
					}
				}
				return nil
			}
			m, v := make([]float64, paramLen), make([]float64, paramLen)
			for i := range m {
				m[i], v[i] = float64(mean[i]), float64(variance[i])
			}
			batchNormApply(n.Threads, ins[0].F32, outs[0].F32, batch, paramLen, inner/(paramLen/channels), scale, bias, m, v, epsilon)
			return nil
		},
	}, nil
}

// batchNormApply computes y = x*a + b with a = scale/sqrt(var+eps), b = B - mean*a, for
// parameters that each cover `run` contiguous elements of every image.
func batchNormApply(threads int, x, y []float32, batch, params, run int, scale, bias []float32, mean, variance []float64, epsilon float64) {
	a, b := make([]float32, params), make([]float32, params)
	for i := range a {
		s := float64(scale[i]) / math.Sqrt(variance[i]+epsilon)
		a[i], b[i] = float32(s), float32(float64(bias[i])-mean[i]*s)
	}
	workers.ForRange(threads, batch*params, max(1, 16384/max(run, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := i % params
			src, dst := x[i*run:(i+1)*run], y[i*run:(i+1)*run]
			for j, v := range src {
				dst[j] = v*a[p] + b[p]
			}
		}
	})
}

// batchNormStatistics computes each channel's mean and (biased) variance over the batch and the
// spatial dims.
func batchNormStatistics(x []float32, batch, channels, inner int) (mean, variance []float64) {
	mean, variance = make([]float64, channels), make([]float64, channels)
	count := float64(batch * inner)
	for c := 0; c < channels; c++ {
		var s float64
		for img := 0; img < batch; img++ {
			for _, v := range x[(img*channels+c)*inner : (img*channels+c+1)*inner] {
				s += float64(v)
			}
		}
		mean[c] = s / count
		var q float64
		for img := 0; img < batch; img++ {
			for _, v := range x[(img*channels+c)*inner : (img*channels+c+1)*inner] {
				d := float64(v) - mean[c]
				q += d * d
			}
		}
		variance[c] = q / count
	}
	return mean, variance
}

// buildLayerNormalization compiles LayerNormalization (opset 17): each run of the dims from axis
// on is normalised to zero mean and unit variance, then scaled and shifted. The optional outputs
// are the mean and 1/sqrt(variance + epsilon) of each run.
func buildLayerNormalization(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 2, 3); err != nil {
		return nil, err
	}
	for i, name := range []string{"X", "Scale", "B"} {
		if i < len(in) && !in[i].Absent {
			if err := nnFloatInput(in, i, name); err != nil {
				return nil, err
			}
		}
	}
	x := in[0].Shape
	axis := int(n.AttrInt("axis", -1))
	if axis < 0 {
		axis += len(x)
	}
	if axis < 0 || axis >= len(x) {
		return nil, fmt.Errorf("axis %d is out of range for X of shape %v", n.AttrInt("axis", -1), x)
	}
	normShape := x[axis:]
	for i, name := range []string{"Scale", "B"} {
		if nnOptional(in, i+1) && !normBroadcastsTo(in[i+1].Shape, normShape) {
			return nil, fmt.Errorf("%s has shape %v, which does not broadcast to the normalised shape %v", name, in[i+1].Shape, normShape)
		}
	}
	epsilon := float64(n.AttrFloat("epsilon", 1e-5))
	rows, size := tensor.NumElements(x[:axis]), tensor.NumElements(normShape)
	statShape := append([]int{}, x[:axis]...)
	for range normShape {
		statShape = append(statShape, 1)
	}
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: x}, {DType: tensor.Float, Shape: statShape}, {DType: tensor.Float, Shape: statShape}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			scale := normExpand(ins[1], normShape)
			var bias []float32
			if len(ins) > 2 && ins[2] != nil {
				bias = normExpand(ins[2], normShape)
			}
			var meanOut, invStdOut []float32
			if len(outs) > 1 && outs[1] != nil {
				meanOut = outs[1].F32
			}
			if len(outs) > 2 && outs[2] != nil {
				invStdOut = outs[2].F32
			}
			xs, ys := ins[0].F32, outs[0].F32
			workers.ForRange(n.Threads, rows, max(1, 16384/max(size, 1)), func(lo, hi int) {
				for r := lo; r < hi; r++ {
					mean, invStd := normRow(xs[r*size:(r+1)*size], ys[r*size:(r+1)*size], scale, bias, epsilon)
					if meanOut != nil {
						meanOut[r] = mean
					}
					if invStdOut != nil {
						invStdOut[r] = invStd
					}
				}
			})
			return nil
		},
	}, nil
}

// normRow normalises one run: y = (x - mean) * invStd * scale + bias (bias may be nil).
func normRow(x, y, scale, bias []float32, epsilon float64) (mean, invStd float32) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(len(x))
	var q float64
	for _, v := range x {
		d := float64(v) - m
		q += d * d
	}
	inv := 1 / math.Sqrt(q/float64(len(x))+epsilon)
	mean, invStd = float32(m), float32(inv)
	for i, v := range x {
		out := (v - mean) * invStd * scale[i]
		if bias != nil {
			out += bias[i]
		}
		y[i] = out
	}
	return mean, invStd
}

// normBroadcastsTo reports whether shape broadcasts unidirectionally to target.
func normBroadcastsTo(shape, target []int) bool {
	if len(shape) > len(target) {
		return false
	}
	off := len(target) - len(shape)
	for i, d := range shape {
		if d != 1 && d != target[off+i] {
			return false
		}
	}
	return true
}

// normExpand returns t's values broadcast to shape (t itself when it already has that size).
func normExpand(t *tensor.Tensor, shape []int) []float32 {
	size := tensor.NumElements(shape)
	if t.Len() == size {
		return t.F32
	}
	out := make([]float32, size)
	off := len(shape) - len(t.Shape)
	for i := range out {
		rem, src, stride := i, 0, 1
		for d := len(shape) - 1; d >= off; d-- {
			c := rem % shape[d]
			rem /= shape[d]
			td := t.Shape[d-off]
			if td != 1 {
				src += c * stride
			}
			stride *= td
		}
		out[i] = t.F32[src]
	}
	return out
}

// buildInstanceNormalization compiles InstanceNormalization: each channel of each image is
// normalised over its spatial dims, then scaled and shifted per channel.
func buildInstanceNormalization(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 3, 3); err != nil {
		return nil, err
	}
	for i, name := range []string{"input", "scale", "B"} {
		if err := nnFloatInput(in, i, name); err != nil {
			return nil, err
		}
	}
	x := in[0].Shape
	if len(x) < 3 {
		return nil, fmt.Errorf("input has shape %v; it needs [N, C, spatial...]", x)
	}
	channels := x[1]
	for i := 1; i < 3; i++ {
		if tensor.NumElements(in[i].Shape) != channels {
			return nil, fmt.Errorf("input %d has shape %v; it needs one value per channel (%d)", i, in[i].Shape, channels)
		}
	}
	epsilon := float64(n.AttrFloat("epsilon", 1e-5))
	planes, size := x[0]*channels, tensor.NumElements(x[2:])
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: x}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			xs, ys, scale, bias := ins[0].F32, outs[0].F32, ins[1].F32, ins[2].F32
			workers.ForRange(n.Threads, planes, max(1, 16384/max(size, 1)), func(lo, hi int) {
				one, b := make([]float32, size), make([]float32, size)
				for p := lo; p < hi; p++ {
					c := p % channels
					for i := range one {
						one[i], b[i] = scale[c], bias[c]
					}
					normRow(xs[p*size:(p+1)*size], ys[p*size:(p+1)*size], one, b, epsilon)
				}
			})
			return nil
		},
	}, nil
}
