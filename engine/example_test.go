package engine_test

import (
	"fmt"
	"log"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// Compile a model once for its declared input shapes, then Run it (as often as you like, from
// several goroutines at once) on a map from input name to tensor. This runs the bundled sample
// classifier on the image of its test_data_set_0 folder and picks the top class.
func ExampleProgram_Run() {
	model, err := graph.Load("../testdata/sample/classifier.onnx")
	if err != nil {
		log.Fatal(err)
	}
	program, err := engine.Compile(model.Graph, engine.Options{})
	if err != nil {
		log.Fatal(err)
	}
	image, _, err := tensor.ReadProtoFile("../testdata/sample/test_data_set_0/input_0.pb")
	if err != nil {
		log.Fatal(err)
	}
	outputs, err := program.Run(map[string]*tensor.Tensor{program.Inputs()[0]: image})
	if err != nil {
		log.Fatal(err)
	}
	logits := outputs[program.Outputs()[0]]
	fmt.Println("inputs:", program.Inputs(), "outputs:", program.Outputs())
	fmt.Println("logits shape:", logits.Shape)
	fmt.Println("top class:", argmax(logits.F32))
	// Output:
	// inputs: [image] outputs: [logits]
	// logits shape: [1 10]
	// top class: 3
}

// Compile for another batch size: InputShapes overrides the declared shape of an input (Dims binds
// a symbolic dim such as "batch" by name instead). ShapesOnly skips preparing the kernels when only
// shapes and MACs are wanted.
func ExampleCompile() {
	model, err := graph.Load("../testdata/sample/classifier.onnx")
	if err != nil {
		log.Fatal(err)
	}
	program, err := engine.Compile(model.Graph, engine.Options{
		InputShapes: map[string][]int{"image": {4, 3, 32, 32}},
		ShapesOnly:  true,
	})
	if err != nil {
		log.Fatal(err)
	}
	info, _ := program.Info("logits")
	var macs int64
	for _, m := range program.NodeMACs() {
		macs += m
	}
	fmt.Println("logits:", info.DType, info.Shape)
	fmt.Println("MACs for a batch of 4:", macs)
	// Output:
	// logits: float [4 10]
	// MACs for a batch of 4: 2329088
}

// argmax is the index of the largest value.
func argmax(values []float32) int {
	best := 0
	for i, v := range values {
		if v > values[best] {
			best = i
		}
	}
	return best
}
