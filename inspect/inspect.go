// Package inspect summarises a model for `fcconv inspect`: format facts, inputs and outputs, an op
// histogram, parameters, MACs per node and op type, every fully-connected layer with whether
// fc-to-conv converts it (and why not), and every convolution's geometry.
package inspect

import (
	"fmt"
	"sort"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/rewrite/fctoconv"
	"github.com/fcconv/fcconv/tensor"
)

// Summary is the result of inspecting a model; it is also the JSON of `inspect --json`.
type Summary struct {
	Path            string           `json:"path"`
	IRVersion       int64            `json:"ir_version"`
	Opsets          map[string]int64 `json:"opsets"`
	Producer        string           `json:"producer"`
	ProducerVersion string           `json:"producer_version,omitempty"`
	Inputs          []IO             `json:"inputs"`
	Outputs         []IO             `json:"outputs"`
	Nodes           int              `json:"nodes"`
	OpHistogram     map[string]int   `json:"op_histogram"`
	Parameters      int64            `json:"parameters"`
	ParameterBytes  int64            `json:"parameter_bytes"`
	MACs            int64            `json:"macs"`
	MACsByOp        map[string]int64 `json:"macs_by_op"`
	NodeMACs        []NodeMACs       `json:"node_macs"`
	FCLayers        []FCLayer        `json:"fc_layers"`
	Convs           []ConvLayer      `json:"convs"`
	// AssumedDims are symbolic input dims no flag bound, inferred as 1.
	AssumedDims []string `json:"assumed_dims,omitempty"`
	// ShapeError is set when shapes could not be inferred (MACs and shapes are then missing).
	ShapeError string `json:"shape_error,omitempty"`
}

// IO is a graph input or output with its declared and inferred shapes.
type IO struct {
	Name     string   `json:"name"`
	DType    string   `json:"dtype"`
	Declared []string `json:"declared_shape"`
	Shape    []int    `json:"shape,omitempty"`
}

// NodeMACs is one compute node's cost.
type NodeMACs struct {
	Node string `json:"node"`
	Op   string `json:"op"`
	MACs int64  `json:"macs"`
}

// FCLayer is a Gemm or MatMul and what fc-to-conv makes of it.
type FCLayer struct {
	Node        string `json:"node"`
	Op          string `json:"op"`
	InputShape  []int  `json:"input_shape,omitempty"`
	WeightShape []int  `json:"weight_shape,omitempty"`
	Convertible bool   `json:"convertible"`
	Becomes     string `json:"becomes,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// ConvLayer is a Conv's geometry.
type ConvLayer struct {
	Node   string `json:"node"`
	CIn    int    `json:"c_in"`
	COut   int    `json:"c_out"`
	Kernel []int  `json:"kernel"`
	Group  int64  `json:"group"`
	MACs   int64  `json:"macs"`
}

// Model inspects a loaded model. eo binds symbolic dims; scope is fc-to-conv's scope for the FC
// verdicts.
func Model(m *graph.Model, eo engine.Options, scope string) (*Summary, error) {
	s := &Summary{
		Path: m.Path, IRVersion: m.Proto.GetIrVersion(), Opsets: map[string]int64{},
		Producer: m.Proto.GetProducerName(), ProducerVersion: m.Proto.GetProducerVersion(),
		OpHistogram: map[string]int{}, MACsByOp: map[string]int64{},
		Inputs: []IO{}, Outputs: []IO{}, NodeMACs: []NodeMACs{}, FCLayers: []FCLayer{}, Convs: []ConvLayer{},
	}
	for _, o := range m.Proto.OpsetImport {
		d := o.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		s.Opsets[d] = o.GetVersion()
	}
	m.Graph.Walk(func(n *graph.Node) {
		op := n.OpType()
		if n.Domain() != "" {
			op = n.Domain() + "." + op
		}
		s.OpHistogram[op]++
		s.Nodes++
	})
	s.countParameters(m.Graph)
	s.AssumedDims = engine.BindDefaultDims(m.Graph, &eo, 1)
	eo.ShapesOnly = true
	prog, err := engine.Compile(m.Graph, eo)
	if err != nil {
		s.ShapeError = err.Error()
	}
	s.describeIO(m.Graph, prog)
	if prog != nil {
		s.countMACs(m.Graph, prog)
		s.describeConvs(m.Graph, prog)
	}
	s.describeFCs(m, eo, scope, prog)
	return s, nil
}

func (s *Summary) countParameters(g *graph.Graph) {
	seen := map[string]bool{}
	g.Walk(func(n *graph.Node) {
		for _, in := range n.Inputs() {
			if in == "" || seen[in] || !n.Graph.IsConstant(in) {
				continue
			}
			seen[in] = true
			if t, ok := n.Graph.Constant(in); ok && isFloatType(t.DType) {
				s.Parameters += int64(t.Len())
				s.ParameterBytes += int64(t.Len() * t.DType.Size())
			}
		}
	})
}

func isFloatType(dt tensor.DType) bool {
	switch dt {
	case tensor.Float, tensor.Double, tensor.Float16, tensor.BFloat16, tensor.Uint8, tensor.Int8:
		return true
	}
	return false
}

func (s *Summary) describeIO(g *graph.Graph, prog *engine.Program) {
	for i, names := range [][]string{g.InputNames(), g.OutputNames()} {
		for _, name := range names {
			io := IO{Name: name}
			vi := g.ValueInfo(name)
			if tt := vi.GetType().GetTensorType(); tt != nil {
				io.DType = tensor.DType(tt.GetElemType()).String()
				for _, d := range tt.GetShape().GetDim() {
					if d.GetDimParam() != "" {
						io.Declared = append(io.Declared, d.GetDimParam())
					} else if d.GetDimValue() > 0 {
						io.Declared = append(io.Declared, fmt.Sprint(d.GetDimValue()))
					} else {
						io.Declared = append(io.Declared, "?")
					}
				}
			}
			if prog != nil {
				if info, ok := prog.Info(name); ok {
					io.Shape = info.Shape
				}
			}
			if i == 0 {
				s.Inputs = append(s.Inputs, io)
			} else {
				s.Outputs = append(s.Outputs, io)
			}
		}
	}
}

func (s *Summary) countMACs(g *graph.Graph, prog *engine.Program) {
	macs := prog.NodeMACs()
	for _, n := range g.Nodes {
		if m := macs[n]; m > 0 {
			s.MACs += m
			s.MACsByOp[n.OpType()] += m
			s.NodeMACs = append(s.NodeMACs, NodeMACs{Node: n.DisplayName(), Op: n.OpType(), MACs: m})
		}
	}
}

func (s *Summary) describeConvs(g *graph.Graph, prog *engine.Program) {
	macs := prog.NodeMACs()
	for _, n := range g.Nodes {
		if n.OpType() != "Conv" {
			continue
		}
		w, ok := prog.Info(n.Input(1))
		x, okx := prog.Info(n.Input(0))
		if !ok || !okx || len(w.Shape) < 3 || len(x.Shape) < 2 {
			continue
		}
		s.Convs = append(s.Convs, ConvLayer{
			Node: n.DisplayName(), CIn: x.Shape[1], COut: w.Shape[0], Kernel: w.Shape[2:],
			Group: n.AttrInt("group", 1), MACs: macs[n],
		})
	}
}

// describeFCs runs fc-to-conv as a dry run and pairs its verdicts with the FC layers.
func (s *Summary) describeFCs(m *graph.Model, eo engine.Options, scope string, prog *engine.Program) {
	verdicts := map[string]FCLayer{}
	if prog != nil {
		step := rewrite.Step{Pass: fctoconv.Pass, Options: fctoconv.Options{Scope: scope}}
		out, err := rewrite.Run(m, []rewrite.Step{step}, rewrite.Input{Engine: eo, Shapes: prog, DryRun: true})
		rep := out.Report
		if err == nil {
			for _, a := range rep.Applied {
				for _, r := range a.Replaced {
					verdicts[r] = FCLayer{Convertible: true, Becomes: a.Detail}
				}
			}
			for _, d := range rep.Declined {
				if _, done := verdicts[d.Node]; !done {
					verdicts[d.Node] = FCLayer{Reason: d.Reason}
				}
			}
		}
	}
	for _, n := range m.Graph.Nodes {
		if n.OpType() != "Gemm" && n.OpType() != "MatMul" {
			continue
		}
		fc, ok := verdicts[n.DisplayName()]
		if !ok {
			fc.Reason = "not a fully-connected layer with constant weights"
			if prog == nil {
				fc.Reason = "shapes unknown: " + s.ShapeError
			}
		}
		fc.Node, fc.Op = n.DisplayName(), n.OpType()
		if prog != nil {
			if info, ok := prog.Info(n.Input(0)); ok {
				fc.InputShape = info.Shape
			}
			if info, ok := prog.Info(n.Input(1)); ok {
				fc.WeightShape = info.Shape
			}
		}
		s.FCLayers = append(s.FCLayers, fc)
	}
}

// TopOps returns op types sorted by MACs, largest first.
func (s *Summary) TopOps() []string {
	var ops []string
	for op := range s.MACsByOp {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return s.MACsByOp[ops[i]] > s.MACsByOp[ops[j]] })
	return ops
}
