// Command roundtrip loads a model with fcconv's graph package and saves it again, for measuring load
// and save time and peak memory on large models (with /usr/bin/time -v), and for checking that the
// result is byte-identical to the input.
//
//	go build -o /tmp/roundtrip ./tools/roundtrip && /usr/bin/time -v /tmp/roundtrip IN.onnx OUT.onnx
package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/fcconv/fcconv/graph"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: roundtrip IN.onnx OUT.onnx")
		os.Exit(2)
	}
	start := time.Now()
	m, err := graph.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	loaded := time.Now()
	if err := m.Save(os.Args[2], graph.SaveOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	saved := time.Now()
	fmt.Printf("load %.3f s, save %.3f s, total %.3f s\n", loaded.Sub(start).Seconds(), saved.Sub(loaded).Seconds(), saved.Sub(start).Seconds())
	if os.Getenv("ROUNDTRIP_COMPARE") != "" {
		a, _ := os.ReadFile(os.Args[1])
		b, _ := os.ReadFile(os.Args[2])
		fmt.Println("byte-identical:", bytes.Equal(a, b))
	}
}
