package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// The ONNX backend node tests (Debian's libonnx-testdata): one small model per folder with inputs
// and expected outputs. TestConformance runs every test whose ops are all in conformanceOps and
// supported by the engine, and compares with the suite's tolerance.

const onnxNodeTests = "/usr/share/libonnx-testdata/data/node"

// conformanceOps are the ops whose tests run here: the elementwise, shape, reduction, softmax,
// control and quantization ops, and the NN ops (their tests run once those ops are registered).
var conformanceOps = strings.Fields(`
	Add Sub Mul Div Pow Sqrt Exp Log Neg Erf Tanh Sigmoid HardSigmoid HardSwish Relu LeakyRelu PRelu
	Clip Max Min Sum Mean Not Equal Greater GreaterOrEqual Less LessOrEqual And Or Xor Where
	Abs Reciprocal Floor Ceil Round Elu Softplus Cast CastLike Softmax LogSoftmax
	Flatten Reshape Transpose Concat Split Slice Squeeze Unsqueeze Gather Shape Size Expand
	ConstantOfShape Constant Identity Dropout ReduceMean ReduceMax ReduceMin ReduceSum ReduceProd If
	DynamicQuantizeLinear QuantizeLinear DequantizeLinear
	Conv ConvTranspose ConvInteger Gemm MatMul MaxPool AveragePool GlobalAveragePool GlobalMaxPool
	BatchNormalization LayerNormalization Pad Resize Upsample LSTM`)

// knownFailures are tests that cannot pass, with the reason. A listed test that passes fails
// TestConformance, so that the list stays honest.
var knownFailures = map[string]string{
	"test_cast_FLOAT_to_STRING":                "string tensors are not engine types",
	"test_cast_STRING_to_FLOAT":                "string tensors are not engine types",
	"test_castlike_FLOAT_to_STRING":            "string tensors are not engine types",
	"test_castlike_STRING_to_FLOAT":            "string tensors are not engine types",
	"test_castlike_FLOAT_to_STRING_expanded":   "string tensors are not engine types",
	"test_castlike_STRING_to_FLOAT_expanded":   "string tensors are not engine types",
	"test_training_dropout":                    "Dropout in training mode is random",
	"test_training_dropout_default":            "Dropout in training mode is random",
	"test_training_dropout_default_mask":       "Dropout in training mode is random",
	"test_training_dropout_mask":               "Dropout in training mode is random",
	"test_identity_opt":                        "optional values are not tensors",
	"test_identity_sequence":                   "sequences are not tensors",
	"test_cast_FLOAT_to_BFLOAT16":              "the 1.12 suite truncates to bfloat16; ONNX 1.13 on and ONNX Runtime round to nearest even, as the engine does",
	"test_castlike_FLOAT_to_BFLOAT16":          "the 1.12 suite truncates to bfloat16; ONNX 1.13 on and ONNX Runtime round to nearest even, as the engine does",
	"test_castlike_FLOAT_to_BFLOAT16_expanded": "the 1.12 suite truncates to bfloat16; ONNX 1.13 on and ONNX Runtime round to nearest even, as the engine does",
	"test_max_int16":                           "int16 tensors are not engine types",
	"test_min_int16":                           "int16 tensors are not engine types",
	"test_max_uint16":                          "uint16 tensors are not engine types",
	"test_min_uint16":                          "uint16 tensors are not engine types",
	"test_max_uint32":                          "uint32 tensors are not engine types",
	"test_min_uint32":                          "uint32 tensors are not engine types",
	"test_max_uint64":                          "uint64 tensors are not engine types",
	"test_min_uint64":                          "uint64 tensors are not engine types",
	"test_pow_types_float32_uint32":            "uint32 tensors are not engine types",
	"test_pow_types_float32_uint64":            "uint64 tensors are not engine types",
	// Bugs to fix in other files; listed so the suite stays green, and flagged when fixed.
}

// shapeInputs are, per op, the inputs that decide output shapes. The suite feeds them as graph
// inputs; the engine needs them at compile time (as real models have them: initializers or values
// folded from constants), so the test turns such graph inputs into initializers.
var shapeInputs = map[string][]int{
	"Reshape": {1}, "Slice": {1, 2, 3, 4}, "Squeeze": {1}, "Unsqueeze": {1}, "Expand": {1},
	"ConstantOfShape": {0}, "Split": {1}, "Tile": {1}, "Pad": {1, 3}, "Resize": {1, 2, 3},
	"Upsample": {1}, "ReduceSum": {1}, "ReduceMean": {1}, "ReduceMax": {1}, "ReduceMin": {1},
	"ReduceProd": {1}, "Dropout": {1, 2},
}

func TestConformance(t *testing.T) {
	runSuite(t, onnxNodeTests)
}

// TestConformancePyTorch runs the suite's models exported from PyTorch modules and operators, and
// its small multi-node models: the same ops as exporters combine them.
func TestConformancePyTorch(t *testing.T) {
	for _, suite := range []string{"pytorch-converted", "pytorch-operator", "simple"} {
		t.Run(suite, func(t *testing.T) { runSuite(t, filepath.Join(filepath.Dir(onnxNodeTests), suite)) })
	}
}

// runSuite runs each test folder of a suite whose ops are all wanted and supported, then logs how
// many pass per op.
func runSuite(t *testing.T, suite string) {
	if _, err := os.Stat(suite); err != nil {
		t.Skipf("the ONNX backend tests are not installed (%s): install Debian's libonnx-testdata", suite)
	}
	dirs, err := os.ReadDir(suite)
	if err != nil {
		t.Fatal(err)
	}
	wanted := map[string]bool{}
	for _, op := range conformanceOps {
		wanted[op] = true
	}
	type tally struct{ passed, total int }
	perOp := map[string]*tally{}
	passed, total, knownRun := 0, 0, 0
	for _, d := range dirs {
		name := d.Name()
		dir := filepath.Join(suite, name)
		ops, err := modelOps(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Logf("%s: skipped, the model does not load: %v", name, err)
			continue
		}
		if !runnable(ops, wanted) {
			continue
		}
		total++
		reason, known := knownFailures[name]
		ok := t.Run(name, func(t *testing.T) {
			err := runNodeTest(dir)
			switch {
			case err == nil && known:
				t.Errorf("passes now; remove it from knownFailures (listed as: %s)", reason)
			case err != nil && !known:
				t.Error(err)
			case err != nil:
				t.Logf("known failure (%s): %v", reason, err)
				t.SkipNow()
			}
		})
		if known {
			knownRun++
		}
		for _, op := range ops {
			if perOp[op] == nil {
				perOp[op] = &tally{}
			}
			perOp[op].total++
			if ok && !known {
				perOp[op].passed++
			}
		}
		if ok && !known {
			passed++
		}
	}
	names := make([]string, 0, len(perOp))
	for op := range perOp {
		names = append(names, op)
	}
	sort.Strings(names)
	var summary []string
	for _, op := range names {
		summary = append(summary, fmt.Sprintf("%s %d/%d", op, perOp[op].passed, perOp[op].total))
	}
	t.Logf("%s: %d/%d tests pass (%d known failures); per op: %s", filepath.Base(suite), passed, total, knownRun, strings.Join(summary, ", "))
}

// modelOps lists the op types of a model, subgraphs included, sorted and distinct.
func modelOps(path string) ([]string, error) {
	m, err := graph.Load(path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	m.Graph.Walk(func(n *graph.Node) {
		op := n.OpType()
		if n.Domain() != "" {
			op = n.Domain() + "." + op
		}
		seen[op] = true
	})
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops, nil
}

func runnable(ops []string, wanted map[string]bool) bool {
	for _, op := range ops {
		if !wanted[op] || !Supported(op) {
			return false
		}
	}
	return len(ops) > 0
}

// runNodeTest runs every test_data_set of a test folder. A panic is reported as the test's error,
// so that one broken kernel does not stop the whole suite.
func runNodeTest(dir string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test_data_set folders")
	}
	for _, set := range sets {
		if err := runDataSet(dir, set); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(set), err)
		}
	}
	return nil
}

func runDataSet(dir, set string) error {
	data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return err
	}
	m, err := graph.LoadBytes(data, dir)
	if err != nil {
		return err
	}
	// Models of IR version 3 list their weights among the graph inputs; the suite feeds only the
	// real inputs, and treats such initializers as constants, as ONNX Runtime does.
	m.InputDefaultsAreConstant = m.Proto.GetIrVersion() < 4
	if err := checkTensorTypes(m.Graph); err != nil {
		return err
	}
	inputs, err := readTensors(set, "input", m.Graph.InputNames())
	if err != nil {
		return err
	}
	retagBFloat16(m.Graph.Proto.Input, inputs)
	if m, err = bindShapeInputs(m, dir, inputs); err != nil {
		return err
	}
	shapes := map[string][]int{}
	feeds := map[string]*tensor.Tensor{}
	for _, name := range m.Graph.InputNames() {
		t, ok := inputs[name]
		if !ok {
			return fmt.Errorf("no input file for graph input %q", name)
		}
		shapes[name], feeds[name] = t.Shape, t
	}
	prog, err := Compile(m.Graph, Options{InputShapes: shapes})
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	got, err := prog.Run(feeds)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	want, err := readTensors(set, "output", m.Graph.OutputNames())
	if err != nil {
		return err
	}
	retagBFloat16(m.Graph.Proto.Output, want)
	for _, name := range m.Graph.OutputNames() {
		w, ok := want[name]
		if !ok {
			continue // an optional output the suite does not check
		}
		if err := compareTensors(got[name], w); err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
	}
	return nil
}

// checkTensorTypes rejects graphs with sequence or optional inputs and outputs, whose .pb files are
// not TensorProtos.
func checkTensorTypes(g *graph.Graph) error {
	for _, vi := range append(append([]*onnxpb.ValueInfoProto{}, g.Proto.Input...), g.Proto.Output...) {
		if vi.GetType().GetTensorType() == nil {
			return fmt.Errorf("graph input or output %q is not a tensor (a sequence or optional)", vi.GetName())
		}
	}
	return nil
}

// retagBFloat16 marks as bfloat16 the uint16 tensors of values declared bfloat16: numpy has no
// bfloat16, so the suite stores their bits as uint16.
func retagBFloat16(decl []*onnxpb.ValueInfoProto, vals map[string]*tensor.Tensor) {
	for _, vi := range decl {
		t := vals[vi.GetName()]
		if t != nil && t.DType == tensor.Uint16 && tensor.DType(vi.GetType().GetTensorType().GetElemType()) == tensor.BFloat16 {
			t.DType = tensor.BFloat16
		}
	}
}

// readTensors reads prefix_N.pb files, matched to names by position (the files' own names are
// often empty).
func readTensors(set, prefix string, names []string) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for i, name := range names {
		path := filepath.Join(set, fmt.Sprintf("%s_%d.pb", prefix, i))
		t, _, err := tensor.ReadProtoFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// bindShapeInputs turns the graph inputs that feed shape-deciding inputs (see shapeInputs) into
// initializers holding the data set's values, and reloads the model.
func bindShapeInputs(m *graph.Model, dir string, inputs map[string]*tensor.Tensor) (*graph.Model, error) {
	isInput := map[string]bool{}
	for _, name := range m.Graph.InputNames() {
		isInput[name] = true
	}
	bind := map[string]bool{}
	m.Graph.Walk(func(n *graph.Node) {
		for _, i := range shapeInputs[n.OpType()] {
			if name := n.Input(i); isInput[name] && inputs[name] != nil {
				bind[name] = true
			}
		}
	})
	if len(bind) == 0 {
		return m, nil
	}
	g := m.Proto.Graph
	kept := g.Input[:0]
	for _, vi := range g.Input {
		if bind[vi.GetName()] {
			g.Initializer = append(g.Initializer, inputs[vi.GetName()].ToProto(vi.GetName()))
			continue
		}
		kept = append(kept, vi)
	}
	g.Input = kept
	bound, err := graph.NewModel(m.Proto, dir)
	if err != nil {
		return nil, err
	}
	bound.InputDefaultsAreConstant = m.InputDefaultsAreConstant
	return bound, nil
}

// compareTensors checks dtype, shape and values: floats within |got-want| <= atol + rtol*|want|
// (NaN equals NaN), everything else exactly.
func compareTensors(got, want *tensor.Tensor) error {
	const rtol, atol = 1e-3, 1e-7
	if got == nil {
		return fmt.Errorf("missing")
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !tensor.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	isFloat := want.DType == tensor.Float || want.DType == tensor.Double || isHalf(want.DType)
	bad, first := 0, -1
	for i := 0; i < want.Len(); i++ {
		var ok bool
		switch {
		case want.DType == tensor.Int64:
			ok = got.I64[i] == want.I64[i]
		case isFloat:
			g, w := got.At(i), want.At(i)
			ok = (math.IsNaN(g) && math.IsNaN(w)) || g == w || math.Abs(g-w) <= atol+rtol*math.Abs(w)
		default:
			ok = got.At(i) == want.At(i)
		}
		if !ok {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d values differ; first at flat index %d: got %v, want %v", bad, want.Len(), first, got.At(first), want.At(first))
	}
	return nil
}
