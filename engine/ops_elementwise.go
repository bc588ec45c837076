package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"math"

	"github.com/fcconv/fcconv/tensor"
)

// This file holds the elementwise ops: arithmetic with numpy broadcasting (Add, Sub, Mul, Div, Pow,
// variadic Max, Min, Sum, Mean), comparisons and logic, Where, PRelu, Clip, and the unary math
// and activation functions. Float32 is the compute type and has the fast loops; int64 matters for
// shape arithmetic, which the engine folds at compile time; other types take simpler paths.

func init() {
	for name, op := range map[string]arithOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv} {
		register(name, halfAsFloat(buildArith(op)))
	}
	register("Pow", halfAsFloat(buildPow))
	for name, op := range map[string]arithOp{"Max": opMax, "Min": opMin, "Sum": opAdd, "Mean": opMean} {
		register(name, halfAsFloat(buildVariadic(op)))
	}
	for name, op := range map[string]cmpOp{"Equal": cmpEq, "Greater": cmpGt, "Less": cmpLt, "GreaterOrEqual": cmpGe, "LessOrEqual": cmpLe} {
		register(name, halfAsFloat(buildCompare(op)))
	}
	for name, f := range map[string]func(a, b bool) bool{
		"And": func(a, b bool) bool { return a && b },
		"Or":  func(a, b bool) bool { return a || b },
		"Xor": func(a, b bool) bool { return a != b },
	} {
		register(name, buildLogic(f))
	}
	register("Not", buildNot)
	register("Where", buildWhere)
	register("PRelu", halfAsFloat(buildPRelu))
	register("Clip", halfAsFloat(buildClip))
	for name, op := range unaryOps {
		register(name, halfAsFloat(buildUnary(op)))
	}
	for name, newOp := range paramUnaryOps {
		register(name, halfAsFloat(buildParamUnary(newOp)))
	}
}

// numericTypes are the types arithmetic runs on (float16 and bfloat16 through halfAsFloat).
var numericTypes = []tensor.DType{tensor.Float, tensor.Double, tensor.Int64, tensor.Int32, tensor.Int8, tensor.Uint8}

// operandShapes returns the shapes of the two inputs of a binary op as broadcasting sees them. Before
// opset 7 the second input only broadcast with attribute broadcast=1, aligned at attribute axis
// (default: its trailing dims); padding it with trailing 1s expresses that as numpy broadcasting.
// twoNumbers checks the inputs of a binary op: two, of one number type, which it returns.
func twoNumbers(n *Node, in []Info) (tensor.DType, error) {
	if err := needInputs(n, in, 2, 2); err != nil {
		return 0, err
	}
	dt, err := sameTypes(n, in, 0, 1)
	if err != nil {
		return 0, err
	}
	return dt, typeIn(n, dt, "the input", numericTypes...)
}

func operandShapes(n *Node, a, b Info) ([]int, []int) {
	if n.Opset >= 7 || n.AttrInt("broadcast", 0) == 0 || n.Attr("axis") == nil {
		return a.Shape, b.Shape
	}
	axis := int(n.AttrInt("axis", 0))
	if axis < 0 {
		axis += len(a.Shape)
	}
	bs := cloneShape(b.Shape)
	for len(bs) < len(a.Shape)-axis {
		bs = append(bs, 1)
	}
	return a.Shape, bs
}

type arithOp int

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMax
	opMin
	opMean // sums, then divides by the number of inputs
)

func buildArith(op arithOp) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		dt, err := twoNumbers(n, in)
		if err != nil {
			return nil, err
		}
		aShape, bShape := operandShapes(n, in[0], in[1])
		out, err := broadcastShapes(aShape, bShape)
		if err != nil {
			return nil, err
		}
		p := newBcastPlan(n.Threads, out, aShape, bShape)
		return &Build{Outputs: []Info{{DType: dt, Shape: out}}, Kernel: arithKernel(dt, op, p)}, nil
	}
}

func arithKernel(dt tensor.DType, op arithOp, p *walkPlan) Kernel {
	switch dt {
	case tensor.Float:
		return binaryKernel(p, arithRows[float32](op))
	case tensor.Double:
		return binaryKernel(p, arithRows[float64](op))
	case tensor.Int64:
		return binaryKernel(p, arithRows[int64](op))
	case tensor.Int32:
		return binaryKernel(p, arithRows[int32](op))
	case tensor.Int8:
		return binaryKernel(p, arithRows[int8](op))
	case tensor.Uint8:
		return binaryKernel(p, arithRows[uint8](op))
	}
	panic(fmt.Sprintf("engine: no arithmetic on %v", dt))
}

func binaryKernel[T, O any](p *walkPlan, r binaryRows[T, O]) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		applyBinary(p, dataOf[T](in[0]), dataOf[T](in[1]), dataOf[O](out[0]), r)
		return nil
	}
}

func isInteger[T number]() bool {
	var zero T
	switch any(zero).(type) {
	case float32, float64:
		return false
	}
	return true
}

// arithRows returns the loops of op for element type T, written out so each compiles to a tight
// loop without a call per element.
func arithRows[T number](op arithOp) binaryRows[T, T] {
	var zero T
	if _, isFloat32 := any(zero).(float32); isFloat32 {
		if rows, ok := vecArithRows(op); ok {
			return any(rows).(binaryRows[T, T])
		}
	}
	switch op {
	case opAdd, opMean:
		return binaryRows[T, T]{
			vv: func(o, a, b []T) {
				o, b = o[:len(a)], b[:len(a)]
				for i := range a {
					o[i] = a[i] + b[i]
				}
			},
			vs: func(o, a []T, b T) {
				o = o[:len(a)]
				for i := range a {
					o[i] = a[i] + b
				}
			},
			sv: func(o []T, a T, b []T) {
				o = o[:len(b)]
				for i := range b {
					o[i] = a + b[i]
				}
			},
		}
	case opSub:
		return binaryRows[T, T]{
			vv: func(o, a, b []T) {
				o, b = o[:len(a)], b[:len(a)]
				for i := range a {
					o[i] = a[i] - b[i]
				}
			},
			vs: func(o, a []T, b T) {
				o = o[:len(a)]
				for i := range a {
					o[i] = a[i] - b
				}
			},
			sv: func(o []T, a T, b []T) {
				o = o[:len(b)]
				for i := range b {
					o[i] = a - b[i]
				}
			},
		}
	case opMul:
		return binaryRows[T, T]{
			vv: func(o, a, b []T) {
				o, b = o[:len(a)], b[:len(a)]
				for i := range a {
					o[i] = a[i] * b[i]
				}
			},
			vs: func(o, a []T, b T) {
				o = o[:len(a)]
				for i := range a {
					o[i] = a[i] * b
				}
			},
			sv: func(o []T, a T, b []T) {
				o = o[:len(b)]
				for i := range b {
					o[i] = a * b[i]
				}
			},
		}
	case opDiv:
		if isInteger[T]() {
			// Go panics on integer division by zero; numpy gives 0, and so do we.
			return rowsOf(func(a, b T) T {
				if b == 0 {
					return 0
				}
				return a / b
			})
		}
		return binaryRows[T, T]{
			vv: func(o, a, b []T) {
				o, b = o[:len(a)], b[:len(a)]
				for i := range a {
					o[i] = a[i] / b[i]
				}
			},
			vs: func(o, a []T, b T) {
				o = o[:len(a)]
				for i := range a {
					o[i] = a[i] / b
				}
			},
			sv: func(o []T, a T, b []T) {
				o = o[:len(b)]
				for i := range b {
					o[i] = a / b[i]
				}
			},
		}
	case opMax:
		return binaryRows[T, T]{
			vv: func(o, a, b []T) {
				o, b = o[:len(a)], b[:len(a)]
				for i := range a {
					o[i] = max(a[i], b[i]) // NaN wins, as in numpy.maximum
				}
			},
			vs: func(o, a []T, b T) {
				o = o[:len(a)]
				for i := range a {
					o[i] = max(a[i], b)
				}
			},
			sv: func(o []T, a T, b []T) {
				o = o[:len(b)]
				for i := range b {
					o[i] = max(a, b[i])
				}
			},
		}
	case opMin:
		return binaryRows[T, T]{
			vv: func(o, a, b []T) {
				o, b = o[:len(a)], b[:len(a)]
				for i := range a {
					o[i] = min(a[i], b[i])
				}
			},
			vs: func(o, a []T, b T) {
				o = o[:len(a)]
				for i := range a {
					o[i] = min(a[i], b)
				}
			},
			sv: func(o []T, a T, b []T) {
				o = o[:len(b)]
				for i := range b {
					o[i] = min(a, b[i])
				}
			},
		}
	}
	panic(fmt.Sprintf("engine: unknown arithmetic op %d", op))
}

// buildVariadic builds Max, Min, Sum and Mean: any number of inputs, broadcast together.
func buildVariadic(op arithOp) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 1, -1); err != nil {
			return nil, err
		}
		idx := make([]int, len(in))
		shapes := make([][]int, len(in))
		for i := range in {
			idx[i] = i
			shapes[i] = in[i].Shape
		}
		dt, err := sameTypes(n, in, idx...)
		if err != nil {
			return nil, err
		}
		allowed := numericTypes
		if op == opAdd || op == opMean {
			allowed = []tensor.DType{tensor.Float, tensor.Double} // Sum and Mean are float-only
		}
		if err := typeIn(n, dt, "the input", allowed...); err != nil {
			return nil, err
		}
		out, err := broadcastShapes(shapes...)
		if err != nil {
			return nil, err
		}
		v := &variadic{op: op, count: len(in), plans: make([]*walkPlan, len(in)), threads: n.Threads}
		if len(in) >= 2 {
			if pair, _ := broadcastShapes(shapes[0], shapes[1]); tensor.SameShape(pair, out) {
				v.pair = newBcastPlan(n.Threads, out, shapes[0], shapes[1])
			}
		}
		for i := 1; i < len(in); i++ {
			v.plans[i] = newBcastPlan(n.Threads, out, out, shapes[i])
		}
		return &Build{Outputs: []Info{{DType: dt, Shape: out}}, Kernel: v.kernel(dt)}, nil
	}
}

// variadic folds the inputs into the output one at a time: out = op(in0, in1) (or in0 broadcast
// when the first two do not span the output shape), then out = op(out, in_k).
type variadic struct {
	op      arithOp
	count   int
	pair    *walkPlan   // plan for op(in0, in1) when they broadcast to the output shape
	plans   []*walkPlan // plans[k]: op(out, in_k)
	threads int
}

func (v *variadic) kernel(dt tensor.DType) Kernel {
	switch dt {
	case tensor.Float:
		return variadicKernel[float32](v)
	case tensor.Double:
		return variadicKernel[float64](v)
	case tensor.Int64:
		return variadicKernel[int64](v)
	case tensor.Int32:
		return variadicKernel[int32](v)
	case tensor.Int8:
		return variadicKernel[int8](v)
	case tensor.Uint8:
		return variadicKernel[uint8](v)
	}
	panic(fmt.Sprintf("engine: no variadic op on %v", dt))
}

func variadicKernel[T number](v *variadic) Kernel {
	rows := arithRows[T](v.op)
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		o := dataOf[T](out[0])
		next := 1
		if v.pair != nil {
			applyBinary(v.pair, dataOf[T](in[0]), dataOf[T](in[1]), o, rows)
			next = 2
		} else {
			expandInto(v.threads, in[0], out[0])
		}
		for k := next; k < len(in); k++ {
			applyBinary(v.plans[k], o, dataOf[T](in[k]), o, rows)
		}
		if v.op == opMean {
			count := T(v.count)
			for i := range o {
				o[i] /= count
			}
		}
		return nil
	}
}

// buildPow builds Pow. The exponent may have another numeric type than the base (opset 12 on); the
// result has the base's type. A constant scalar exponent of 2, 0.5, 1 or -1 on floats becomes a
// multiply, square root, copy or reciprocal, which exporters emit a lot (e.g. in decomposed
// LayerNorm).
func buildPow(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 2, 2); err != nil {
		return nil, err
	}
	base, exp := in[0], in[1]
	if err := typeIn(n, base.DType, "the base", tensor.Float, tensor.Double, tensor.Int64, tensor.Int32); err != nil {
		return nil, err
	}
	if err := typeIn(n, exp.DType, "the exponent", numericTypes...); err != nil {
		return nil, err
	}
	aShape, bShape := operandShapes(n, base, exp)
	out, err := broadcastShapes(aShape, bShape)
	if err != nil {
		return nil, err
	}
	outputs := []Info{{DType: base.DType, Shape: out}}
	if base.DType == tensor.Float && exp.Const != nil && exp.Const.Len() == 1 && tensor.SameShape(out, base.Shape) {
		if f := powBySpecialExponent(exp.Const.At(0)); f != nil {
			return &Build{Outputs: outputs, Kernel: unaryF32Kernel(f, 2, n.Threads)}, nil
		}
	}
	p := newBcastPlan(n.Threads, out, aShape, bShape)
	if base.DType == tensor.Float && exp.DType == tensor.Float {
		return &Build{Outputs: outputs, Kernel: binaryKernel(p, rowsOf(func(a, b float32) float32 {
			return float32(math.Pow(float64(a), float64(b)))
		}))}, nil
	}
	// Mixed or integer types: compute in float64 and convert the result to the base's type.
	pow64 := binaryKernel(p, rowsOf(math.Pow))
	return &Build{Outputs: outputs, Kernel: func(rc *RunContext, in, out []*tensor.Tensor) error {
		wide := tensor.New(tensor.Double, out[0].Shape...)
		if err := pow64(rc, []*tensor.Tensor{castTo(n.Threads, in[0], tensor.Double), castTo(n.Threads, in[1], tensor.Double)}, []*tensor.Tensor{wide}); err != nil {
			return err
		}
		castInto(n.Threads, wide, out[0])
		return nil
	}}, nil
}

func powBySpecialExponent(e float64) func(dst, src []float32) {
	switch e {
	case 1:
		return func(dst, src []float32) { copy(dst, src) }
	case 2:
		return func(dst, src []float32) {
			dst = dst[:len(src)]
			for i, v := range src {
				dst[i] = v * v
			}
		}
	case 0.5:
		return func(dst, src []float32) {
			dst = dst[:len(src)]
			for i, v := range src {
				dst[i] = float32(math.Sqrt(float64(v)))
			}
		}
	case -1:
		return func(dst, src []float32) {
			dst = dst[:len(src)]
			for i, v := range src {
				dst[i] = 1 / v
			}
		}
	}
	return nil
}

type cmpOp int

const (
	cmpEq cmpOp = iota
	cmpGt
	cmpLt
	cmpGe
	cmpLe
)

func buildCompare(op cmpOp) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 2, 2); err != nil {
			return nil, err
		}
		dt, err := sameTypes(n, in, 0, 1)
		if err != nil {
			return nil, err
		}
		allowed := numericTypes
		if op == cmpEq {
			allowed = append([]tensor.DType{tensor.Bool}, numericTypes...)
		}
		if err := typeIn(n, dt, "the input", allowed...); err != nil {
			return nil, err
		}
		aShape, bShape := operandShapes(n, in[0], in[1])
		out, err := broadcastShapes(aShape, bShape)
		if err != nil {
			return nil, err
		}
		p := newBcastPlan(n.Threads, out, aShape, bShape)
		var k Kernel
		switch dt {
		case tensor.Bool:
			k = binaryKernel(p, rowsOf(func(a, b bool) bool { return a == b }))
		case tensor.Float:
			k = binaryKernel(p, rowsOf(compareFunc[float32](op)))
		case tensor.Double:
			k = binaryKernel(p, rowsOf(compareFunc[float64](op)))
		case tensor.Int64:
			k = binaryKernel(p, rowsOf(compareFunc[int64](op)))
		case tensor.Int32:
			k = binaryKernel(p, rowsOf(compareFunc[int32](op)))
		case tensor.Int8:
			k = binaryKernel(p, rowsOf(compareFunc[int8](op)))
		case tensor.Uint8:
			k = binaryKernel(p, rowsOf(compareFunc[uint8](op)))
		}
		return &Build{Outputs: []Info{{DType: tensor.Bool, Shape: out}}, Kernel: k}, nil
	}
}

func compareFunc[T number](op cmpOp) func(a, b T) bool {
	switch op {
	case cmpEq:
		return func(a, b T) bool { return a == b }
	case cmpGt:
		return func(a, b T) bool { return a > b }
	case cmpLt:
		return func(a, b T) bool { return a < b }
	case cmpGe:
		return func(a, b T) bool { return a >= b }
	}
	return func(a, b T) bool { return a <= b }
}

func buildLogic(f func(a, b bool) bool) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 2, 2); err != nil {
			return nil, err
		}
		for i := range in {
			if err := typeIn(n, in[i].DType, "the input", tensor.Bool); err != nil {
				return nil, err
			}
		}
		aShape, bShape := operandShapes(n, in[0], in[1])
		out, err := broadcastShapes(aShape, bShape)
		if err != nil {
			return nil, err
		}
		p := newBcastPlan(n.Threads, out, aShape, bShape)
		return &Build{Outputs: []Info{{DType: tensor.Bool, Shape: out}}, Kernel: binaryKernel(p, rowsOf(f))}, nil
	}
}

func buildNot(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	if err := typeIn(n, in[0].DType, "the input", tensor.Bool); err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{{DType: tensor.Bool, Shape: cloneShape(in[0].Shape)}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			src, dst := dataOf[bool](in[0]), dataOf[bool](out[0])
			for i, v := range src {
				dst[i] = !v
			}
			return nil
		},
	}, nil
}

// buildWhere builds Where(cond, x, y): x where cond is true, else y, all three broadcast. It only
// moves data, so it works on words of the element size, whatever the type.
func buildWhere(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 3, 3); err != nil {
		return nil, err
	}
	if err := typeIn(n, in[0].DType, "the condition", tensor.Bool); err != nil {
		return nil, err
	}
	dt, err := sameTypes(n, in, 1, 2)
	if err != nil {
		return nil, err
	}
	if err := checkType(n, dt, "the input"); err != nil {
		return nil, err
	}
	out, err := broadcastShapes(in[0].Shape, in[1].Shape, in[2].Shape)
	if err != nil {
		return nil, err
	}
	p := newBcastPlan(n.Threads, out, in[0].Shape, in[1].Shape, in[2].Shape)
	return &Build{
		Outputs: []Info{{DType: dt, Shape: out}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			cond := dataOf[bool](in[0])
			switch dt.Size() {
			case 1:
				whereWords(p, cond, wordsOf[uint8](in[1]), wordsOf[uint8](in[2]), wordsOf[uint8](out[0]))
			case 2:
				whereWords(p, cond, wordsOf[uint16](in[1]), wordsOf[uint16](in[2]), wordsOf[uint16](out[0]))
			case 4:
				whereWords(p, cond, wordsOf[uint32](in[1]), wordsOf[uint32](in[2]), wordsOf[uint32](out[0]))
			case 8:
				whereWords(p, cond, wordsOf[uint64](in[1]), wordsOf[uint64](in[2]), wordsOf[uint64](out[0]))
			}
			return nil
		},
	}, nil
}

func whereWords[W word](p *walkPlan, cond []bool, x, y, out []W) {
	stepC, stepX, stepY := p.innerStep[0], p.innerStep[1], p.innerStep[2]
	p.run(func(o int, offs []int, n int) {
		dst := out[o : o+n]
		ic, ix, iy := offs[0], offs[1], offs[2]
		if stepC == 0 { // one condition for the whole run: copy or fill from one side
			src, i, step := y, iy, stepY
			if cond[ic] {
				src, i, step = x, ix, stepX
			}
			if step == 1 {
				copy(dst, src[i:i+n])
				return
			}
			for j := range dst {
				dst[j] = src[i]
			}
			return
		}
		for j := range dst {
			if cond[ic+j] {
				dst[j] = x[ix]
			} else {
				dst[j] = y[iy]
			}
			ix += stepX
			iy += stepY
		}
	})
}

// buildPRelu builds PRelu: x where x >= 0, else slope*x, with slope broadcast to x's shape
// (unidirectional broadcasting from opset 7).
func buildPRelu(n *Node, in []Info) (*Build, error) {
	dt, err := twoNumbers(n, in)
	if err != nil {
		return nil, err
	}
	x, slope := in[0].Shape, in[1].Shape
	if n.Opset < 7 && len(slope) == 1 && len(x) >= 2 && slope[0] == x[1] && slope[0] != 1 {
		// Before opset 7 a slope of C values is per channel (axis 1), not numpy-aligned.
		slope = append([]int{slope[0]}, make([]int, len(x)-2)...)
		for i := 1; i < len(slope); i++ {
			slope[i] = 1
		}
	}
	if !broadcastsTo(slope, x) {
		return nil, fmt.Errorf("the slope of PRelu has shape %v, which does not broadcast to the input's shape %v (the slope aligns with the input's trailing dims; a per-channel slope for NCHW input needs shape [C,1,1])", slope, x)
	}
	p := newBcastPlan(n.Threads, x, x, slope)
	var k Kernel
	switch dt {
	case tensor.Float:
		rows := preluRows[float32]()
		rows.vs = func(o, a []float32, s float32) { vec.leakyRelu(o, a, s) } // per channel: a LeakyRelu
		k = binaryKernel(p, rows)
	case tensor.Double:
		k = binaryKernel(p, preluRows[float64]())
	case tensor.Int64:
		k = binaryKernel(p, preluRows[int64]())
	case tensor.Int32:
		k = binaryKernel(p, preluRows[int32]())
	case tensor.Int8:
		k = binaryKernel(p, preluRows[int8]())
	case tensor.Uint8:
		k = binaryKernel(p, preluRows[uint8]())
	}
	return &Build{Outputs: []Info{{DType: dt, Shape: cloneShape(x)}}, Kernel: k}, nil
}

func preluRows[T number]() binaryRows[T, T] {
	r := rowsOf(func(x, s T) T {
		if x < 0 {
			return s * x
		}
		return x
	})
	r.vs = func(o, a []T, s T) { // the common per-channel case
		o = o[:len(a)]
		for i, x := range a {
			o[i] = max(x, 0) + s*min(x, 0) // branch-free
		}
	}
	return r
}

// buildClip builds Clip: bounds are attributes min and max before opset 11, optional scalar inputs
// from opset 11 (they may be computed at run time). A missing bound does not clip.
func buildClip(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 3); err != nil {
		return nil, err
	}
	dt := in[0].DType
	if err := typeIn(n, dt, "the input", numericTypes...); err != nil {
		return nil, err
	}
	for i := 1; i < len(in); i++ {
		if !present(in, i) {
			continue
		}
		if in[i].DType != dt {
			return nil, fmt.Errorf("the bounds of Clip must have the input's type %v, got %v", dt, in[i].DType)
		}
		if tensor.NumElements(in[i].Shape) != 1 {
			return nil, fmt.Errorf("the bounds of Clip must be scalars, got shape %v", in[i].Shape)
		}
	}
	c := clipBounds{lo: math.Inf(-1), hi: math.Inf(1)}
	if n.Opset < 11 {
		c.lo = float64(n.AttrFloat("min", float32(math.Inf(-1))))
		c.hi = float64(n.AttrFloat("max", float32(math.Inf(1))))
	}
	var k Kernel
	switch dt {
	case tensor.Float:
		k = clipKernel[float32](c, n.Threads)
	case tensor.Double:
		k = clipKernel[float64](c, n.Threads)
	case tensor.Int64:
		k = clipKernel[int64](c, n.Threads)
	case tensor.Int32:
		k = clipKernel[int32](c, n.Threads)
	case tensor.Int8:
		k = clipKernel[int8](c, n.Threads)
	case tensor.Uint8:
		k = clipKernel[uint8](c, n.Threads)
	}
	return &Build{Outputs: []Info{{DType: dt, Shape: cloneShape(in[0].Shape)}}, Kernel: k}, nil
}

// clipBounds are the attribute bounds (opset < 11); ±Inf means none.
type clipBounds struct{ lo, hi float64 }

func clipKernel[T number](c clipBounds, threads int) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		lo, hi := boundOf[T](c.lo), boundOf[T](c.hi)
		if len(in) > 1 && in[1] != nil {
			lo = dataOf[T](in[1])[0]
		}
		if len(in) > 2 && in[2] != nil {
			hi = dataOf[T](in[2])[0]
		}
		src, dst := dataOf[T](in[0]), dataOf[T](out[0])
		if s, ok := any(src).([]float32); ok {
			d, l, h := any(dst).([]float32), any(lo).(float32), any(hi).(float32)
			workers.ForRange(threads, len(s), workers.Grain(1), func(a, b int) { vec.clip(d[a:b], s[a:b], l, h) })
			return nil
		}
		workers.ForRange(threads, len(src), workers.Grain(1), func(a, b int) {
			d := dst[a:b]
			for i, v := range src[a:b] {
				d[i] = min(max(v, lo), hi) // NaN stays NaN, as in numpy.clip
			}
		})
		return nil
	}
}

// boundOf converts an attribute bound to T; an infinite bound means no bound, which for integers
// is their whole range.
func boundOf[T number](v float64) T {
	switch {
	case math.IsInf(v, -1):
		return lowest[T]()
	case math.IsInf(v, 1):
		return highest[T]()
	}
	return T(v)
}

// unaryOp is a unary math function: a float32 loop (the fast path), a float64 function for double
// tensors, and optionally an integer function for the ops defined on integers.
type unaryOp struct {
	f32  func(dst, src []float32)
	f64  func(float64) float64
	ints func(int64) int64
	cost int // rough cost per element relative to an add, to decide when to go parallel
}

// The float32 loops below pass their function to mapSlice as a literal, which the compiler inlines
// into the loop; a function value (as mapFloat32 takes) would cost a call per element, four to
// five times the time of a cheap op such as Abs.
var unaryOps = map[string]unaryOp{
	"Neg": {
		f32: func(dst, src []float32) { mapSlice(dst, src, func(v float32) float32 { return -v }) },
		f64: func(x float64) float64 { return -x }, ints: func(x int64) int64 { return -x }, cost: 1,
	},
	"Abs": {
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(math.Abs(float64(v))) })
		},
		f64: math.Abs, ints: func(x int64) int64 { return max(x, -x) }, cost: 1,
	},
	"Relu": {
		f32: func(dst, src []float32) { vec.relu(dst, src) },
		f64: func(x float64) float64 { return max(x, 0) }, ints: func(x int64) int64 { return max(x, 0) }, cost: 1,
	},
	"Sqrt": { // correctly rounded: float64 has room to spare
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(math.Sqrt(float64(v))) })
		},
		f64: math.Sqrt, cost: 2,
	},
	"Reciprocal": {
		f32: func(dst, src []float32) { mapSlice(dst, src, func(v float32) float32 { return 1 / v }) },
		f64: func(x float64) float64 { return 1 / x }, cost: 2,
	},
	"Exp": {
		f32: func(dst, src []float32) { vec.exp(dst, src) },
		f64: math.Exp, cost: 2,
	},
	"Log": {
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(math.Log(float64(v))) })
		},
		f64: math.Log, cost: 8,
	},
	"Erf": {
		f32: func(dst, src []float32) { mapSlice(dst, src, erf32) },
		f64: math.Erf, cost: 8,
	},
	"Tanh": {
		f32: func(dst, src []float32) { vec.tanh(dst, src) },
		f64: math.Tanh, cost: 2,
	},
	"Sigmoid": {
		f32: func(dst, src []float32) { vec.sigmoid(dst, src) },
		f64: sigmoid64, cost: 2, // vectorised: about as fast as a copy
	},
	"Softplus": {
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(softplus64(float64(v))) })
		},
		f64: softplus64, cost: 10,
	},
	"Floor": {
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(math.Floor(float64(v))) })
		},
		f64: math.Floor, cost: 1,
	},
	"Ceil": {
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(math.Ceil(float64(v))) })
		},
		f64: math.Ceil, cost: 1,
	},
	"Round": { // half to even, as ONNX specifies
		f32: func(dst, src []float32) {
			mapSlice(dst, src, func(v float32) float32 { return float32(math.RoundToEven(float64(v))) })
		},
		f64: math.RoundToEven, cost: 1,
	},
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softplus64 is log(1+e^x), arranged so that large x does not overflow.
func softplus64(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// paramUnaryOps are unary ops with float attributes: each builds its unaryOp from the node.
var paramUnaryOps = map[string]func(n *Node) unaryOp{
	"LeakyRelu": func(n *Node) unaryOp {
		alpha := n.AttrFloat("alpha", 0.01)
		return unaryOp{
			f32: func(dst, src []float32) { vec.leakyRelu(dst, src, alpha) },
			f64: func(x float64) float64 {
				if x < 0 {
					return x * float64(alpha)
				}
				return x
			},
			cost: 1,
		}
	},
	"HardSigmoid": func(n *Node) unaryOp {
		alpha, beta := n.AttrFloat("alpha", 0.2), n.AttrFloat("beta", 0.5)
		return hardSigmoidOp(alpha, beta, false)
	},
	"HardSwish": func(n *Node) unaryOp {
		return hardSigmoidOp(1.0/6, 0.5, true)
	},
	"Elu": func(n *Node) unaryOp {
		alpha := float64(n.AttrFloat("alpha", 1))
		f := func(x float64) float64 {
			if x < 0 {
				return alpha * math.Expm1(x)
			}
			return x
		}
		return unaryOp{f32: mapFloat32(f), f64: f, cost: 8}
	},
}

// hardSigmoidOp is max(0, min(1, alpha*x + beta)), times x for HardSwish.
func hardSigmoidOp(alpha, beta float32, timesX bool) unaryOp {
	f32 := func(dst, src []float32) { vec.hardSigmoid(dst, src, alpha, beta) }
	if timesX {
		f32 = func(dst, src []float32) { vec.hardSwish(dst, src, alpha, beta) }
	}
	f64 := func(x float64) float64 {
		y := min(max(float64(alpha)*x+float64(beta), 0), 1)
		if timesX {
			y *= x
		}
		return y
	}
	return unaryOp{f32: f32, f64: f64, cost: 1}
}

// mapFloat32 makes the float32 loop of a function computed in float64.
func mapFloat32(f func(float64) float64) func(dst, src []float32) {
	return func(dst, src []float32) {
		mapSlice(dst, src, func(v float32) float32 { return float32(f(float64(v))) })
	}
}

// mapSlice sets dst[i] = f(src[i]): the one loop of the unary ops. Called with a function literal,
// it inlines into a loop with f's body inside.
func mapSlice[S, D any](dst []D, src []S, f func(S) D) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = f(v)
	}
}

func buildUnary(op unaryOp) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 1, 1); err != nil {
			return nil, err
		}
		return unaryBuild(n, in[0], op)
	}
}

func buildParamUnary(newOp func(n *Node) unaryOp) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 1, 1); err != nil {
			return nil, err
		}
		return unaryBuild(n, in[0], newOp(n))
	}
}

func unaryBuild(n *Node, x Info, op unaryOp) (*Build, error) {
	var k Kernel
	switch dt := x.DType; {
	case dt == tensor.Float:
		k = unaryF32Kernel(op.f32, op.cost, n.Threads)
	case dt == tensor.Double:
		k = mapKernel(op.f64)
	case op.ints != nil && (dt == tensor.Int64 || dt == tensor.Int32 || dt == tensor.Int8 || dt == tensor.Uint8):
		k = func(_ *RunContext, in, out []*tensor.Tensor) error {
			wide := castTo(n.Threads, in[0], tensor.Int64)
			res := tensor.New(tensor.Int64, wide.Shape...)
			mapSlice(res.I64, wide.I64, op.ints)
			castInto(n.Threads, res, out[0])
			return nil
		}
	default:
		kinds := "float, float16, bfloat16 and double"
		if op.ints != nil {
			kinds += " and integer"
		}
		return nil, fmt.Errorf("the input of %s is %v; the engine runs this op on %s tensors", n.OpType(), dt, kinds)
	}
	return &Build{Outputs: []Info{{DType: x.DType, Shape: cloneShape(x.Shape)}}, Kernel: k}, nil
}

// unaryF32Kernel runs a float32 loop over the input, split across goroutines when large.
func unaryF32Kernel(f func(dst, src []float32), cost, threads int) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		src, dst := dataOf[float32](in[0]), dataOf[float32](out[0])
		workers.ForRange(threads, len(src), workers.Grain(cost), func(lo, hi int) { f(dst[lo:hi], src[lo:hi]) })
		return nil
	}
}

func mapKernel(f func(float64) float64) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		mapSlice(dataOf[float64](out[0]), dataOf[float64](in[0]), f)
		return nil
	}
}
