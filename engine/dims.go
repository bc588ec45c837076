package engine

import "github.com/fcconv/fcconv/graph"

// BindDefaultDims gives every symbolic dim of the graph's inputs that opts does not bind (through
// Dims or InputShapes) the size def, and returns the names it bound, so a caller can tell the user.
// Tools like onnxsim and Polygraphy do the same with 1; the names let the user see what was assumed.
func BindDefaultDims(g *graph.Graph, opts *Options, def int) []string {
	var bound []string
	if opts.Dims == nil {
		opts.Dims = map[string]int{}
	}
	for _, name := range g.InputNames() {
		if _, given := opts.InputShapes[name]; given {
			continue
		}
		for _, d := range g.ValueInfo(name).GetType().GetTensorType().GetShape().GetDim() {
			p := d.GetDimParam()
			if p == "" || d.GetDimValue() > 0 {
				continue
			}
			if _, ok := opts.Dims[p]; !ok {
				opts.Dims[p] = def
				bound = append(bound, p)
			}
		}
	}
	return bound
}
