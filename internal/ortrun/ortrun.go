// Package ortrun runs a model on ONNX Runtime (through ../shared/tools/ort-run.js and
// onnxruntime-node) so tests and benchmarks can compare fcconv's engine, and the models it writes,
// with a second, independent runtime on the same inputs.
package ortrun

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/fcconv/fcconv/tensor"
)

// Script finds ort-run.js and checks that node and onnxruntime-node are there. The shared folder
// comes from FCCONV_SHARED, or is found as ../shared above the working directory; onnxruntime-node
// from ORT_NODE_DIR (default $HOME/ort).
func Script() (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("node is not installed")
	}
	ortDir := os.Getenv("ORT_NODE_DIR")
	if ortDir == "" {
		home, _ := os.UserHomeDir()
		ortDir = filepath.Join(home, "ort")
	}
	if _, err := os.Stat(filepath.Join(ortDir, "node_modules", "onnxruntime-node")); err != nil {
		return "", fmt.Errorf("onnxruntime-node is not installed in ORT_NODE_DIR=%s", ortDir)
	}
	os.Setenv("ORT_NODE_DIR", ortDir)
	if shared := os.Getenv("FCCONV_SHARED"); shared != "" {
		return filepath.Join(shared, "tools", "ort-run.js"), nil
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "..", "shared", "tools", "ort-run.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("../shared/tools/ort-run.js not found (set FCCONV_SHARED)")
		}
	}
}

// Result is one ONNX Runtime run: its seeded inputs and its outputs, by name, and the timing summary.
type Result struct {
	Inputs   map[string]*tensor.Tensor
	Outputs  map[string]*tensor.Tensor
	Order    []string // output names in session order
	MedianMS float64
}

// Options of a run.
type Options struct {
	Seed    int
	Runs    int
	Threads int
	Shapes  map[string][]int
}

type manifestTensor struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type manifest struct {
	Inputs  []manifestTensor `json:"inputs"`
	Outputs []manifestTensor `json:"outputs"`
}

// Run runs model on ONNX Runtime and returns inputs, outputs and the median time.
func Run(model string, opts Options) (*Result, error) {
	script, err := Script()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ortrun")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if opts.Runs <= 0 {
		opts.Runs = 1
	}
	if opts.Threads <= 0 {
		opts.Threads = 2
	}
	args := []string{script, model, "--save", dir, "--json", "--seed", strconv.Itoa(opts.Seed),
		"--runs", strconv.Itoa(opts.Runs), "--threads", strconv.Itoa(opts.Threads)}
	for name, shape := range opts.Shapes {
		args = append(args, "--shape", name+"="+joinInts(shape))
	}
	out, err := exec.Command("node", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("onnxruntime on %s: %v: %s", model, err, ee.Stderr)
		}
		return nil, err
	}
	res := &Result{Inputs: map[string]*tensor.Tensor{}, Outputs: map[string]*tensor.Tensor{}}
	var summary map[string]any
	if json.Unmarshal(out, &summary) == nil {
		res.MedianMS = findMedian(summary)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var man manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		return nil, err
	}
	for _, mt := range man.Inputs {
		if res.Inputs[mt.Name], err = readRaw(dir, mt); err != nil {
			return nil, err
		}
	}
	for _, mt := range man.Outputs {
		if res.Outputs[mt.Name], err = readRaw(dir, mt); err != nil {
			return nil, err
		}
		res.Order = append(res.Order, mt.Name)
	}
	return res, nil
}

// findMedian digs the median run time (ms) out of ort-run.js's JSON summary.
func findMedian(summary map[string]any) float64 {
	for _, key := range []string{"runMsMedian", "median_ms"} {
		if v, ok := summary[key].(float64); ok {
			return v
		}
	}
	return math.NaN()
}

func readRaw(dir string, mt manifestTensor) (*tensor.Tensor, error) {
	b, err := os.ReadFile(filepath.Join(dir, mt.File))
	if err != nil {
		return nil, err
	}
	n := tensor.NumElements(mt.Shape)
	switch mt.DType {
	case "float32":
		t := tensor.New(tensor.Float, mt.Shape...)
		for i := 0; i < n; i++ {
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return t, nil
	case "int64":
		t := tensor.New(tensor.Int64, mt.Shape...)
		for i := 0; i < n; i++ {
			t.I64[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return t, nil
	case "bool(uint8)":
		t := tensor.New(tensor.Bool, mt.Shape...)
		for i := 0; i < n; i++ {
			t.B[i] = b[i] != 0
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s: dtype %s not handled", mt.File, mt.DType)
}

func joinInts(v []int) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(x)
	}
	return s
}
