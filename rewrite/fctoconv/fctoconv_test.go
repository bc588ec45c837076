package fctoconv

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
	"google.golang.org/protobuf/proto"
)

// The fc-to-conv tests, in the manner of analysistest: each case is a small model built with
// onnxbuild and the expectations of what the pass applies and declines, and why. Every case is
// also checked numerically: the original and rewritten graphs run on the engine on random inputs
// and must agree within 1e-4 of the reference's largest magnitude.

type fcWant struct {
	applied int
	// kernels are the expected Conv kernels, one per application, in order ("" to skip).
	kernels []string
	// left: Gemm/MatMul nodes with constant weights expected to remain.
	left int
	// declined: substrings, each of which some decline reason must contain.
	declined []string
	// ops: exact op-type counts in the rewritten graph (only those listed).
	ops map[string]int
	// outShapes: expected declared shapes of graph outputs after the pass ("batch" etc. as -1).
	check func(t *testing.T, m *graph.Model, r *rewrite.Report)
}

type fcCase struct {
	name  string
	build func() *onnxbuild.Builder
	opts  Options
	// engine binds the shapes the pass infers with (and the numeric check's, unless eng is set).
	engine engine.Options
	want   fcWant
	// eng overrides the engine options of the numeric check (e.g. symbolic dims).
	eng engine.Options
}

// Builders of small models. X is the graph input; every weight is random.

// rnd makes a random weight for the model b is building, seeded by how far the model has got: each
// model gets the same weights whichever tests ran before it, and its weights differ from each other.
func rnd(b *onnxbuild.Builder, shape ...int) *tensor.Tensor {
	g := b.Proto().Graph
	seed := int64(2 + len(g.Initializer) + 1000*len(g.Node) + 1000000*len(g.Input))
	return onnxbuild.Random(seed, shape...)
}

func gemmB(b *onnxbuild.Builder, name, in string, k, m int, transB bool, bias []int, attrs ...*onnxpb.AttributeProto) string {
	var w string
	if transB {
		w = b.Init(name+".weight", rnd(b, m, k))
		attrs = append(attrs, graph.IntAttr("transB", 1))
	} else {
		w = b.Init(name+".weight", rnd(b, k, m))
	}
	inputs := []string{in, w}
	if bias != nil {
		inputs = append(inputs, b.Init(name+".bias", rnd(b, bias...)))
	}
	return b.Node("Gemm", inputs, attrs...)
}

// trunk: x[n,3,8,8] -> Conv 3->c (3x3, pad 1) -> Relu, the map the heads read.
func trunk(b *onnxbuild.Builder, n, c int) string {
	x := b.Input("x", tensor.Float, n, 3, 8, 8)
	w := b.Init("trunk.weight", rnd(b, c, 3, 3, 3))
	y := b.Node("Conv", []string{x, w}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
	return b.Node("Relu", []string{y})
}

func gapFlatten(b *onnxbuild.Builder, m string) string {
	return b.Node("Flatten", []string{b.Node("GlobalAveragePool", []string{m})}, graph.IntAttr("axis", 1))
}

func constNode(b *onnxbuild.Builder, t *tensor.Tensor) string {
	return b.Node("Constant", nil, graph.TensorAttr("value", t))
}

func i64(v ...int64) *tensor.Tensor { return tensor.FromInt64(v, len(v)) }

// fcCases are the fixtures of TestFCToConv, one file per kind.
func fcCases() []fcCase {
	var cases []fcCase
	for _, kind := range [][]fcCase{headCases(), scopeAllCases(), spatialCases(), formCases(), declinedCases()} {
		cases = append(cases, kind...)
	}
	return cases
}

func onesPlus(t *tensor.Tensor) *tensor.Tensor {
	for i, v := range t.F32 {
		t.F32[i] = 1 + float32(math.Abs(float64(v)))
	}
	return t
}

func wantDims(t *testing.T, vi *onnxpb.ValueInfoProto, want ...string) {
	t.Helper()
	var got []string
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" {
			got = append(got, d.GetDimParam())
		} else {
			got = append(got, fmt.Sprint(d.GetDimValue()))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%q is declared %v, want %v", vi.GetName(), got, want)
	}
}

// runFC runs fc-to-conv alone on m, with eo binding the shapes it infers.
func runFC(m *graph.Model, opts Options, eo engine.Options, dryRun bool) (*rewrite.Outcome, error) {
	return rewrite.Run(m, []rewrite.Step{{Pass: Pass, Options: opts}}, rewrite.Input{Engine: eo, DryRun: dryRun})
}

func TestFCToConv(t *testing.T) {
	for _, c := range fcCases() {
		t.Run(c.name, func(t *testing.T) {
			b := c.build()
			orig, m := b.Model(), b.Model()
			out, err := runFC(m, c.opts, c.engine, false)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkFCStructure(t, orig, m, out.Report, c.want)
			checkOutputShapes(t, orig, m, c.engine, out)
			if c.want.check != nil {
				c.want.check(t, m, out.Report)
			}
			t.Run("numeric", func(t *testing.T) {
				eng := c.eng
				if eng.Dims == nil {
					eng.Dims = c.engine.Dims
				}
				if c.name == "decline-if-branch" {
					eng.InputShapes = nil
				}
				rep, err := compareModels(orig, m, verify.Options{Engine: eng, Seed: 7})
				skipIfUnsupported(t, err)
				if err != nil {
					t.Fatal(err)
				}
				expectEquivalent(t, rep)
			})
		})
	}
}

// checkOutputShapes: every graph output keeps its shape, except those the pass reshaped on purpose.
func checkOutputShapes(t *testing.T, orig, m *graph.Model, eo engine.Options, out *rewrite.Outcome) {
	t.Helper()
	before, err := rewrite.InferShapes(orig.Graph, eo)
	if err != nil {
		t.Fatal(err)
	}
	after, err := rewrite.InferShapes(m.Graph, out.Engine)
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatalf("the rewritten model does not infer with the dims the pass bound: %v", err)
	}
	if err := rewrite.CheckOutputShapes(before, after, out.Reshaped); err != nil {
		t.Error(err)
	}
}

func checkFCStructure(t *testing.T, orig, m *graph.Model, report *rewrite.Report, want fcWant) {
	t.Helper()
	var applied []rewrite.Application
	for _, a := range report.Applied {
		if a.Pass == Pass.Name {
			applied = append(applied, a)
		}
	}
	for _, a := range applied {
		t.Logf("applied: %s: %s (MACs %d -> %d) new %v", strings.Join(a.Replaced, ","), a.Detail, a.MACsBefore, a.MACsAfter, a.NewNodes)
	}
	for _, d := range report.Declined {
		t.Logf("declined: %s %s: %s", d.Op, d.Node, d.Reason)
	}
	if len(applied) != want.applied {
		t.Errorf("%d applications, want %d", len(applied), want.applied)
	}
	for i, k := range want.kernels {
		if i < len(applied) && k != "" && !strings.Contains(applied[i].Detail, "Conv "+k+" ") {
			t.Errorf("application %d: %q, want a Conv %s", i, applied[i].Detail, k)
		}
	}
	for _, a := range applied {
		if a.MACsBefore <= 0 || a.MACsAfter <= 0 {
			t.Errorf("%v: MACs %d -> %d", a.Replaced, a.MACsBefore, a.MACsAfter)
		}
		if len(a.NewNodes) == 0 || !strings.HasSuffix(a.NewNodes[0], "_conv") {
			t.Errorf("%v: new nodes %v, want a *_conv", a.Replaced, a.NewNodes)
		}
		for _, n := range a.NewNodes {
			if !slices.ContainsFunc(m.Graph.Nodes, func(c *graph.Node) bool { return c.Name() == n }) {
				t.Errorf("%v: reported new node %q is not in the graph", a.Replaced, n)
			}
		}
	}
	for _, w := range want.declined {
		found := false
		for _, d := range report.Declined {
			if strings.Contains(d.Reason, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no decline says %q", w)
		}
	}
	if left := constantFCs(m.Graph); len(left) != want.left {
		t.Errorf("%d FCs with constant weights left (%v), want %d", len(left), left, want.left)
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Nodes {
		ops[n.OpType()]++
	}
	for op, n := range want.ops {
		if ops[op] != n {
			t.Errorf("%d %s nodes, want %d (ops: %v)", ops[op], op, n, ops)
		}
	}
	// Graph outputs keep their names; every node input is defined; the graph is sorted.
	if !slices.Equal(orig.Graph.OutputNames(), m.Graph.OutputNames()) {
		t.Errorf("outputs %v, want %v", m.Graph.OutputNames(), orig.Graph.OutputNames())
	}
	if !m.Graph.IsSorted() {
		t.Error("the rewritten graph is not topologically sorted")
	}
	// A saved-and-reloaded model indexes cleanly (no dangling names).
	if _, err := graph.NewModel(proto.Clone(m.Proto).(*onnxpb.ModelProto), ""); err != nil {
		t.Errorf("rewritten model does not reload: %v", err)
	}
	for _, vi := range m.Graph.Proto.ValueInfo {
		if m.Graph.Value(vi.GetName()) == nil {
			t.Errorf("stale value_info %q", vi.GetName())
		}
	}
}

// constantFCs lists the Gemm/MatMul nodes of g (and its subgraphs) whose weight is a constant.
func constantFCs(g *graph.Graph) []string {
	var out []string
	g.Walk(func(n *graph.Node) {
		if (n.OpType() == "Gemm" || n.OpType() == "MatMul") && isConstChain(n.Graph, n.Input(1)) {
			out = append(out, n.DisplayName())
		}
	})
	return out
}

func skipIfUnsupported(t *testing.T, err error) {
	t.Helper()
	var u *engine.UnsupportedOpError
	if errors.As(err, &u) {
		t.Skipf("numeric check skipped until the engine runs it: %v", u)
	}
}

// compareModels runs both models on the same inputs with verify.Models, comparing outputs element
// by element whatever their shapes (--spatial makes [N,K] outputs [N,K,1,1]), each within 1e-4 of
// its largest magnitude.
func compareModels(ref, got *graph.Model, opts verify.Options) (*verify.Report, error) {
	opts.FlattenOutputs = true
	opts.Tolerances = verify.Tolerances{Default: verify.Tolerance{Rtol: 1e-4}}
	return verify.Models(ref, got, opts)
}

// expectEquivalent fails the test when an output of the comparison differs.
func expectEquivalent(t *testing.T, rep *verify.Report) {
	t.Helper()
	for _, o := range rep.Outputs {
		if !o.Pass {
			t.Errorf("output %q: %s; differs by %g (reference magnitude %g)", o.Name, o.Problem, o.MaxAbsError, o.RefMaxAbs)
		}
	}
}
