// Package samples provides the input samples models run on: model-zoo test_data_set folders
// (input_N.pb, output_N.pb), single tensor files (.npy or TensorProto .pb), seeded random inputs
// made for a compiled program, and the input shapes those samples bind. verify, convert, inspect
// and the bottleneck pass all take their inputs from here, so every command reads and makes
// inputs the same way.
package samples

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/tensor"
)

// Sample is one set of graph inputs (or outputs), by name.
type Sample = map[string]*tensor.Tensor

var pbFile = regexp.MustCompile(`^(input|output)_(\d+)\.pb$`)

// ReadTestDataSet reads a model-zoo test_data_set folder: input_N.pb are matched to the graph inputs
// by the tensor's name when it has one and by position otherwise; output_N.pb likewise to outputs.
func ReadTestDataSet(dir string, inputNames, outputNames []string) (inputs, outputs Sample, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	type file struct {
		kind string
		idx  int
		path string
	}
	var files []file
	for _, e := range entries {
		if m := pbFile.FindStringSubmatch(e.Name()); m != nil {
			idx, _ := strconv.Atoi(m[2])
			files = append(files, file{m[1], idx, filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].idx < files[j].idx })
	inputs, outputs = Sample{}, Sample{}
	for _, f := range files {
		t, name, err := tensor.ReadProtoFile(f.path)
		if err != nil {
			return nil, nil, err
		}
		names, into := inputNames, inputs
		if f.kind == "output" {
			names, into = outputNames, outputs
		}
		if !contains(names, name) {
			if f.idx >= len(names) {
				return nil, nil, fmt.Errorf("%s: the model has only %d %ss", f.path, len(names), f.kind)
			}
			name = names[f.idx]
		}
		into[name] = t
	}
	if len(inputs) == 0 {
		return nil, nil, fmt.Errorf("%s holds no input_N.pb files", dir)
	}
	return inputs, outputs, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s && s != "" {
			return true
		}
	}
	return false
}

// ReadSets reads input samples from a test_data_set folder (input_N.pb files), a folder of such
// folders, or a comma-separated list of either; one sample per folder.
func ReadSets(spec string, inputNames, outputNames []string) ([]Sample, error) {
	var sets []Sample
	for _, dir := range strings.Split(spec, ",") {
		dir = strings.TrimSpace(dir)
		if dir == "" {
			continue
		}
		folders, err := dataSetFolders(dir)
		if err != nil {
			return nil, err
		}
		for _, f := range folders {
			in, _, err := ReadTestDataSet(f, inputNames, outputNames)
			if err != nil {
				return nil, err
			}
			sets = append(sets, in)
		}
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("no input_N.pb files in %q", spec)
	}
	return sets, nil
}

// dataSetFolders is dir itself when it holds input_N.pb files, else its subfolders that do.
func dataSetFolders(dir string) ([]string, error) {
	if has, err := holdsInputs(dir); err != nil || has {
		return []string{dir}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if has, _ := holdsInputs(sub); e.IsDir() && has {
			out = append(out, sub)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no input_N.pb files, nor folders that do", dir)
	}
	return out, nil
}

func holdsInputs(dir string) (bool, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "input_*.pb"))
	return len(matches) > 0, err
}

// ReadTensorFile reads one tensor from a .npy file or an ONNX TensorProto (.pb, any other name).
func ReadTensorFile(path string) (*tensor.Tensor, error) {
	if strings.HasSuffix(strings.ToLower(path), ".npy") {
		return tensor.ReadNpy(path)
	}
	t, _, err := tensor.ReadProtoFile(path)
	return t, err
}

// Random makes one seeded sample for a compiled program: standard normal floats, small
// non-negative integers, random booleans.
func Random(p *engine.Program, seed int64) (Sample, error) {
	r := rand.New(rand.NewSource(seed))
	in := Sample{}
	for _, name := range p.Inputs() {
		info, _ := p.Info(name)
		if !randomTypes[info.DType] {
			return nil, fmt.Errorf("input %q has type %v, for which fcconv cannot make random inputs; give inputs with --input", name, info.DType)
		}
		if err := p.CheckAllocation(fmt.Sprintf("random input %q", name), info.DType, info.Shape); err != nil {
			return nil, err
		}
		t := tensor.New(info.DType, info.Shape...)
		for i := 0; i < t.Len(); i++ {
			switch info.DType {
			case tensor.Float:
				t.F32[i] = float32(r.NormFloat64())
			case tensor.Double:
				t.F64[i] = r.NormFloat64()
			case tensor.Float16:
				t.U16[i] = tensor.Float32ToHalf(float32(r.NormFloat64()))
			case tensor.Int64:
				t.I64[i] = int64(r.Intn(4))
			case tensor.Int32:
				t.I32[i] = int32(r.Intn(4))
			case tensor.Uint8:
				t.U8[i] = uint8(r.Intn(256))
			case tensor.Int8:
				t.I8[i] = int8(r.Intn(256) - 128)
			case tensor.Bool:
				t.B[i] = r.Intn(2) == 1
			}
		}
		in[name] = t
	}
	return in, nil
}

// randomTypes are the element types Random can fill (checked before allocating: the model may
// declare any type number at all).
var randomTypes = map[tensor.DType]bool{
	tensor.Float: true, tensor.Double: true, tensor.Float16: true, tensor.Int64: true, tensor.Int32: true,
	tensor.Uint8: true, tensor.Int8: true, tensor.Bool: true,
}

// RandomSets makes n samples (at least one) with seeds seed, seed+1, ..., and says so in source.
func RandomSets(p *engine.Program, seed int64, n int) (sets []Sample, source string, err error) {
	for i := 0; i < max(n, 1); i++ {
		in, err := Random(p, seed+int64(i))
		if err != nil {
			return nil, "", err
		}
		sets = append(sets, in)
	}
	return sets, fmt.Sprintf("random (seed %d)", seed), nil
}

// BindShapes returns base with each given input's shape set to its value's shape: a model is
// compiled for the inputs it will run on.
func BindShapes(base map[string][]int, given Sample) map[string][]int {
	out := map[string][]int{}
	for k, v := range base {
		out[k] = v
	}
	for k, t := range given {
		out[k] = t.Shape
	}
	return out
}

// Check reports a sample input the program does not have, or one of another type or shape.
func Check(p *engine.Program, in Sample) error {
	for name, t := range in {
		info, ok := p.Info(name)
		if !ok {
			return fmt.Errorf("the model has no input %q (inputs: %s)", name, strings.Join(p.Inputs(), ", "))
		}
		if t.DType != info.DType || !tensor.SameShape(t.Shape, info.Shape) {
			return fmt.Errorf("input %q is %v%v, the model expects %v%v (bind symbolic dims with --dim or --shape)", name, t.DType, t.Shape, info.DType, info.Shape)
		}
	}
	return nil
}
