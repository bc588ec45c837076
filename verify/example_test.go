package verify_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
)

// Assert in a test or a service that a rewritten model still computes what the original did:
// Models runs both on the same inputs (here 4 random samples) and compares every output by name.
// An element agrees when |got - want| <= atol + rtol * max|want| of that output. The second
// comparison is against a deliberately broken copy (the classifier's last bias dropped), which the
// report rejects and names the output that diverged, although every sample's top class still agrees:
// top-1 agreement alone would not have caught it.
func ExampleModels() {
	dir, err := os.MkdirTemp("", "fcconv-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	const original = "../testdata/sample/classifier.onnx"
	converted := filepath.Join(dir, "classifier.conv.onnx")
	if _, err := convert.Convert(original, convert.Options{Output: converted, NoVerify: true}); err != nil {
		log.Fatal(err)
	}
	a, err := graph.Load(original)
	if err != nil {
		log.Fatal(err)
	}
	b, err := graph.Load(converted)
	if err != nil {
		log.Fatal(err)
	}
	opts := verify.Options{
		Tolerances: verify.Tolerances{
			Default:   verify.DefaultTolerance,
			PerOutput: map[string]verify.Tolerance{"logits": {Atol: 1e-6, Rtol: 1e-5}},
		},
		Samples: 4,
		Seed:    1,
	}
	rep, err := verify.Models(a, b, opts)
	if err != nil {
		log.Fatal(err)
	}
	printReport("converted:", rep)

	if err := dropLastBias(b); err != nil {
		log.Fatal(err)
	}
	rep, err = verify.Models(a, b, opts)
	if err != nil {
		log.Fatal(err)
	}
	printReport("bias dropped:", rep)
	// Output:
	// converted: equivalent=true on 4 samples
	//   logits [1 10] pass=true top-1 agreement 100%
	// bias dropped: equivalent=false on 4 samples
	//   logits [1 10] pass=false top-1 agreement 100%
	//   worst output: logits
}

func printReport(label string, rep *verify.Report) {
	fmt.Printf("%s equivalent=%v on %d samples\n", label, rep.Equivalent, rep.Samples)
	for _, o := range rep.Outputs {
		// The error figures themselves (o.MaxAbsError, o.MaxRelError, o.Cosine) depend on the CPU's
		// kernels in the last bits; the verdicts do not.
		fmt.Printf("  %s %v pass=%v top-1 agreement %.0f%%\n", o.Name, o.Shape, o.Pass, 100**o.Top1Agreement)
	}
	if worst := rep.Worst(); worst != nil {
		fmt.Println("  worst output:", worst.Name)
	}
}

// dropLastBias replaces the bias of the model's last Conv with zeros: the kind of bug a rewrite
// pass could have.
func dropLastBias(m *graph.Model) error {
	var last *graph.Node
	m.Graph.Walk(func(n *graph.Node) {
		if n.OpType() == "Conv" {
			last = n
		}
	})
	if last == nil || len(last.Inputs()) < 3 {
		return fmt.Errorf("no Conv with a bias")
	}
	zeros := m.Graph.AddInitializer("zero_bias", tensor.New(tensor.Float, 10))
	return m.Graph.SetInput(last, 2, zeros)
}
