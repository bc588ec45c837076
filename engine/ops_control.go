package engine

import (
	"fmt"

	"github.com/fcconv/fcconv/tensor"
)

// This file holds If. Both branches are compiled in the node's scope (they may read the enclosing
// graph's values); at run time the condition picks one, which runs and whose outputs are copied
// into the node's. Output shapes must be known at compile time, so the branches must agree on them
// unless the condition is a compile-time constant, in which case only the taken branch is compiled
// (the other is often dead code that would not even compile, e.g. for another input size).

func init() {
	register("If", buildIf)
}

func buildIf(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	cond := in[0]
	if cond.DType != tensor.Bool || tensor.NumElements(cond.Shape) != 1 {
		return nil, fmt.Errorf("the condition of If must be a single bool, got %v%v", cond.DType, cond.Shape)
	}
	branches := map[bool]*Program{}
	for _, taken := range []bool{true, false} {
		if cond.Const != nil && cond.Const.B[0] != taken {
			continue
		}
		prog, err := compileBranch(n, taken)
		if err != nil {
			return nil, err
		}
		branches[taken] = prog
	}
	outputs, err := ifOutputs(n, branches)
	if err != nil {
		return nil, err
	}
	return &Build{Outputs: outputs, Kernel: func(rc *RunContext, in, out []*tensor.Tensor) error {
		taken := in[0].B[0]
		prog := branches[taken]
		if prog == nil {
			return fmt.Errorf("the condition of If is %v at run time, but it was %v at compile time", taken, !taken)
		}
		res, err := prog.RunSubgraph(rc)
		if err != nil {
			return fmt.Errorf("%s: %w", branchName(taken), err)
		}
		for i, name := range prog.Outputs() {
			if out[i] != nil {
				copy(bytesOf(out[i]), bytesOf(res[name]))
			}
		}
		return nil
	}}, nil
}

func branchName(taken bool) string {
	if taken {
		return "then_branch"
	}
	return "else_branch"
}

func compileBranch(n *Node, taken bool) (*Program, error) {
	name := branchName(taken)
	graphs := n.Subgraphs[name]
	if len(graphs) != 1 {
		return nil, fmt.Errorf("If has no attribute %s holding a graph", name)
	}
	prog, err := n.CompileSubgraph(graphs[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if got, want := len(prog.Outputs()), len(n.Outputs()); got != want {
		return nil, fmt.Errorf("%s has %d outputs, the If node %d", name, got, want)
	}
	for _, o := range prog.Outputs() {
		info, _ := prog.Info(o)
		if err := checkType(n, info.DType, fmt.Sprintf("output %q of %s", o, name)); err != nil {
			return nil, err
		}
	}
	return prog, nil
}

// ifOutputs are the node's output infos: those of the only compiled branch, or those both branches
// agree on.
func ifOutputs(n *Node, branches map[bool]*Program) ([]Info, error) {
	then, els := branches[true], branches[false]
	if then == nil || els == nil {
		only := then
		if only == nil {
			only = els
		}
		outs := make([]Info, len(only.Outputs()))
		for i, o := range only.Outputs() {
			outs[i], _ = only.Info(o)
		}
		return outs, nil
	}
	outs := make([]Info, len(then.Outputs()))
	for i := range outs {
		a, _ := then.Info(then.Outputs()[i])
		b, _ := els.Info(els.Outputs()[i])
		if a.DType != b.DType {
			return nil, fmt.Errorf("output %d of If is %v in then_branch but %v in else_branch", i, a.DType, b.DType)
		}
		if !tensor.SameShape(a.Shape, b.Shape) {
			return nil, fmt.Errorf("output %d of If has shape %v in then_branch but %v in else_branch, and the condition is only known at run time; fcconv's engine needs shapes known at compile time", i, a.Shape, b.Shape)
		}
		outs[i] = Info{DType: a.DType, Shape: cloneShape(a.Shape)}
	}
	return outs, nil
}
