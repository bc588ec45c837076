package fctoconv

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/zoo"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
)

// TestFCToConvZoo runs the pass on every model of the zoo (FCCONV_ZOO=/work/shared/zoo).
func TestFCToConvZoo(t *testing.T) {
	dirs := zoo.Models(t)
	// Models whose heads must be fully converted in the default scope.
	headsClean := map[string]bool{"resnet18": true, "googlenet": true, "mobilenet_v2": true, "mobilenet_v3_small": true,
		"efficientnet_b0": true, "shufflenet_v2_x1_0": true, "squeezenet1_1": true}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		name := filepath.Base(dir)
		custom := strings.HasPrefix(name, "custom_")
		for _, scope := range []string{"heads", "all", "spatial", "all-spatial"} {
			if scope != "heads" && !custom && !headsClean[name] {
				continue
			}
			t.Run(name+"/"+scope, func(t *testing.T) {
				orig, err := graph.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				m, err := graph.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				opts := Options{Scope: scope}
				switch scope {
				case "spatial":
					opts = Options{Spatial: true}
				case "all-spatial":
					opts = Options{Scope: "all", Spatial: true}
				}
				out, err := runFC(m, opts, engine.Options{Dims: map[string]int{"batch": 1}}, false)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				report := out.Report
				var before, after int64
				for _, a := range report.Applied {
					before += a.MACsBefore
					after += a.MACsAfter
					t.Logf("applied %s: %s", strings.Join(a.Replaced, ","), a.Detail)
				}
				for _, d := range report.Declined {
					t.Logf("declined %s %s: %s", d.Op, d.Node, d.Reason)
				}
				left := constantFCs(m.Graph)
				inHeads := headsLeft(m.Graph, left)
				if (custom || headsClean[name]) && len(inHeads) > 0 {
					t.Errorf("FCs left in heads: %v", inHeads)
				}
				if custom && strings.HasPrefix(scope, "all") && len(left) > 0 {
					t.Errorf("FCs with constant weights left with --scope all: %v", left)
				}
				in, _, err := tensor.ReadProtoFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
				if err != nil {
					t.Fatal(err)
				}
				eng := engine.Options{Dims: map[string]int{"batch": in.Shape[0], "height": in.Shape[len(in.Shape)-2], "width": in.Shape[len(in.Shape)-1]}}
				feeds := map[string]*tensor.Tensor{orig.Graph.InputNames()[0]: in}
				rep, err := compareModels(orig, m, verify.Options{Engine: eng, Inputs: []map[string]*tensor.Tensor{feeds}})
				skipIfUnsupported(t, err)
				if err != nil {
					t.Fatal(err)
				}
				var diff, scale float64
				for _, o := range rep.Outputs {
					diff, scale = max(diff, o.MaxAbsError), max(scale, o.RefMaxAbs)
				}
				t.Logf("%s %s: %d FCs converted, MACs %d -> %d, max diff %.3g (magnitude %.3g)", name, scope, len(report.Applied), before, after, diff, scale)
				fmt.Printf("ZOO %-28s %-8s converted %d  MACs %d -> %d  left %d  maxdiff %.3g (rel %.2g)\n", name, scope, len(report.Applied), before, after, len(left), diff, diff/scale)
				expectEquivalent(t, rep)
			})
		}
	}
}

// headsLeft keeps the FCs that read a pooled or flattened map (through the ops allowed between
// FCs), i.e. those the heads scope must convert.
func headsLeft(g *graph.Graph, left []string) []string {
	var out []string
	for _, name := range left {
		var n *graph.Node
		for _, c := range g.Nodes {
			if c.DisplayName() == name {
				n = c
			}
		}
		if n == nil {
			continue
		}
		x := n.Input(0)
		for range 20 {
			p := g.Producer(x)
			if p == nil {
				break
			}
			op := p.OpType()
			if op == "Flatten" || op == "GlobalAveragePool" || op == "ReduceMean" || op == "Squeeze" || op == "Reshape" {
				out = append(out, name)
				break
			}
			if !carriable(p) && op != "Gemm" && op != "MatMul" {
				break
			}
			x = p.Input(0)
		}
	}
	return out
}
