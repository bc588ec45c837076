package convert_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/verify"
)

// Convert the bundled sample classifier (two Gemm layers after a Flatten) into convolutions. Convert
// verifies the rewrite on random inputs before it writes anything; a rewrite that changed the
// outputs would come back as convert.NotEquivalent with nothing written.
func ExampleConvert() {
	dir, err := os.MkdirTemp("", "fcconv-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	res, err := convert.Convert("../testdata/sample/classifier.onnx", convert.Options{
		Output:     filepath.Join(dir, "classifier.conv.onnx"),
		Passes:     "fc-to-conv",
		Samples:    2,
		Seed:       7,
		Tolerances: verify.Tolerances{Default: verify.DefaultTolerance},
	})
	if err != nil {
		log.Fatal(err) // bad input, an unsupported op or an I/O error
	}
	fmt.Println("status:", res.Status)
	fmt.Println("MACs before:", res.MACsBefore, "after:", res.MACsAfter)
	for _, a := range res.Rewrites.Applied {
		fmt.Printf("%s %v: %s\n", a.Op, a.Replaced, a.Detail)
	}
	fmt.Println("verified on", res.Verification.Samples, "samples:", res.Verified)
	_, err = os.Stat(res.Output)
	fmt.Println("written:", err == nil)
	// Output:
	// status: converted
	// MACs before: 582272 after: 582272
	// Gemm [Gemm_node_16]: Gemm 1024->64 became Conv 16x8x8 -> 64; input: Flatten of a 16x8x8 map
	// Gemm [Gemm_node_19]: Gemm 64->10 became Conv 64x1x1 -> 10
	// verified on 2 samples: true
	// written: true
}
