package ortrun

import (
	"testing"
)

func TestRunSampleModel(t *testing.T) {
	if _, err := Script(); err != nil {
		t.Skipf("ONNX Runtime is not available: %v", err)
	}
	res, err := Run("../../testdata/sample/classifier.onnx", Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	in, out := res.Inputs["image"], res.Outputs["logits"]
	if in == nil || out == nil || out.Len() != 10 || in.Len() != 3*32*32 {
		t.Fatalf("unexpected result: inputs %v outputs %v", res.Inputs, res.Outputs)
	}
	if !(res.MedianMS > 0) {
		t.Fatalf("no timing: %v", res.MedianMS)
	}
}
