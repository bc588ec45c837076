package samples

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fcconv/fcconv/engine"
)

// Bindings parses the command line's shape bindings into engine options: dims are --dim NAME=N
// (a symbolic dim's size), shapes are --shape INPUT=d1,d2,... (an input's whole shape).
func Bindings(dims, shapes []string) (engine.Options, error) {
	eo := engine.Options{Dims: map[string]int{}, InputShapes: map[string][]int{}}
	for _, d := range dims {
		name, val, ok := strings.Cut(d, "=")
		n, err := strconv.Atoi(val)
		if !ok || err != nil || n <= 0 || name == "" {
			return eo, fmt.Errorf("bad --dim %q: want NAME=N with N > 0", d)
		}
		eo.Dims[name] = n
	}
	for _, s := range shapes {
		name, val, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return eo, fmt.Errorf("bad --shape %q: want INPUT=d1,d2,...", s)
		}
		var shape []int
		for _, part := range strings.Split(val, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || n <= 0 {
				return eo, fmt.Errorf("bad --shape %q: dims must be positive integers", s)
			}
			shape = append(shape, n)
		}
		eo.InputShapes[name] = shape
	}
	return eo, nil
}

// ReadInputSpecs reads the command line's input values, --input NAME=FILE (a .npy file or an
// ONNX TensorProto), into one sample.
func ReadInputSpecs(specs []string) (Sample, error) {
	out := Sample{}
	for _, spec := range specs {
		name, path, ok := strings.Cut(spec, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("bad --input %q: want NAME=FILE", spec)
		}
		t, err := ReadTensorFile(path)
		if err != nil {
			return nil, fmt.Errorf("--input %s: %v", name, err)
		}
		out[name] = t
	}
	return out, nil
}
