package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The bad-input table of issue 18: each case generates a broken or hostile input in a temporary
// folder and runs the real CLI on it in a child process (this test binary, re-executed as fcconv:
// see TestMain), so that a fatal runtime error, a hang or a memory blow-up shows as what it is
// rather than killing the test run. Every case must exit 2 with a one-line message naming the file,
// node or op, with no Go trace, within a time limit and a memory ceiling.

const (
	badInputTimeout = 30 * time.Second
	badInputMaxRSS  = 1 << 30 // bytes
	// runAsCLI in the environment makes the test binary behave as fcconv.
	runAsCLI = "FCCONV_TEST_RUN_AS_CLI"
)

func TestMain(m *testing.M) {
	if os.Getenv(runAsCLI) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// badCase makes its input under dir and returns the fcconv arguments and the words the error must
// contain.
type badCase struct {
	name  string
	setup func(t *testing.T, dir string) (args []string, want []string)
}

func TestBadInputsFailCleanly(t *testing.T) {
	cases := badInputCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases; the issue asks for at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args, want := c.setup(t, dir)
			stdout, stderr, code, rss := runCLI(t, dir, args)
			t.Logf("exit %d, peak RSS %d MiB: %s", code, rss>>20, strings.TrimSpace(stderr))
			all := stdout + stderr
			if code != exitBadInput {
				t.Errorf("fcconv %v exited %d, want %d\nstdout: %s\nstderr: %s", args, code, exitBadInput, stdout, stderr)
			}
			msg := strings.TrimSpace(stderr)
			if msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("want a one-line message on stderr, got %q", stderr)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			for _, trace := range []string{"goroutine ", "panic", "runtime.", ".go:", "internal error"} {
				if strings.Contains(all, trace) {
					t.Errorf("output shows a Go trace or internal error (%q): %s", trace, all)
				}
			}
			if rss > badInputMaxRSS {
				t.Errorf("peak RSS %d MiB, over the %d MiB ceiling", rss>>20, badInputMaxRSS>>20)
			}
		})
	}
}

// runCLI runs fcconv with args in dir in a child process and returns its output, exit code and peak
// resident memory in bytes.
func runCLI(t *testing.T, dir string, args []string) (stdout, stderr string, code int, rss int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), badInputTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runAsCLI+"=1", "FCCONV_DEBUG=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("fcconv %v did not finish within %v (a hang)", args, badInputTimeout)
	}
	if cmd.ProcessState == nil {
		t.Fatalf("fcconv %v did not start: %v", args, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode(), rss
}

// --- model builders ---------------------------------------------------------------------------

// headModel is x[1,8] -> Gemm(w[4,8], transB) -> y[1,4].
func headModel() *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 8)
	w := b.Init("w", onnxbuild.Random(1, 4, 8))
	b.NodeOut("Gemm", []string{x, w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 4)
	return b
}

// unaryModel is x -> op -> y with the given input shape and attributes.
func unaryModel(op string, shape []int, attrs ...*onnxpb.AttributeProto) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, shape...)
	b.NodeOut(op, []string{x}, []string{"y"}, attrs...)
	b.Output("y", tensor.Float)
	return b
}

// save writes a model into dir under name and returns name.
func save(t *testing.T, dir, name string, mp *onnxpb.ModelProto) string {
	t.Helper()
	data, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name), data)
	return name
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
}

// externalHead is headModel with its weight w in an external file at location (offset, length as
// given; the file itself is written only when data is not nil).
func externalHead(t *testing.T, dir, location, offset, length string, data []byte) string {
	t.Helper()
	b := headModel()
	w := b.Proto().Graph.Initializer[0]
	if data != nil {
		writeFile(t, filepath.Join(dir, location), data)
	}
	w.RawData, w.DataLocation = nil, onnxpb.TensorProto_EXTERNAL.Enum()
	w.ExternalData = []*onnxpb.StringStringEntryProto{
		{Key: proto.String("location"), Value: proto.String(location)},
		{Key: proto.String("offset"), Value: proto.String(offset)},
		{Key: proto.String("length"), Value: proto.String(length)},
	}
	return save(t, dir, "model.onnx", b.Proto())
}

// withWeight is headModel with its weight replaced by tp (named w).
func withWeight(t *testing.T, dir string, tp *onnxpb.TensorProto) string {
	b := headModel()
	tp.Name = proto.String("w")
	b.Proto().Graph.Initializer[0] = tp
	return save(t, dir, "model.onnx", b.Proto())
}

// npyFile writes a .npy file with the given header dictionary and data.
func npyFile(t *testing.T, path, header string, data []byte) {
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	buf.Write(data)
	writeFile(t, path, buf.Bytes())
}

// sequencePB encodes a SequenceProto holding one tensor (fields name=1, elem_type=2,
// tensor_values=3).
func sequencePB(tp *onnxpb.TensorProto) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "seq")
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	enc, _ := proto.Marshal(tp)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, enc)
}

// verifyWith is the verify command comparing a model with itself, so the engine compiles and
// runs it whatever the rewrite passes would make of it.
func verifyWith(model string, flags ...string) []string {
	return append([]string{"verify", model, model}, flags...)
}

func float32Bytes(n int) []byte { return make([]byte, 4*n) }

// --- the cases ----------------------------------------------------------------------------------

func badInputCases() []badCase {
	return append(append(append(fileCases(), externalDataCases()...), engineCases()...), inputFileCases()...)
}

// fileCases are model files that are not valid models.
func fileCases() []badCase {
	valid := func() []byte { b, _ := proto.Marshal(headModel().Proto()); return b }
	return []badCase{
		{"truncated model", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "m.onnx"), valid()[:len(valid())/2])
			return []string{"convert", "m.onnx"}, []string{"m.onnx", "truncated or corrupt"}
		}},
		{"random bytes", func(t *testing.T, dir string) ([]string, []string) {
			junk := make([]byte, 4096)
			for i := range junk {
				junk[i] = byte(i*7919 + i/13)
			}
			writeFile(t, filepath.Join(dir, "m.onnx"), junk)
			return []string{"convert", "m.onnx"}, []string{"m.onnx"}
		}},
		{"empty file", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "m.onnx"), nil)
			return []string{"inspect", "m.onnx"}, []string{"m.onnx", "empty"}
		}},
		{"text file", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "m.onnx"), []byte("this is not a model\n"))
			return []string{"inspect", "m.onnx"}, []string{"m.onnx"}
		}},
		{"missing file", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", "absent.onnx"}, []string{"absent.onnx", "no such file"}
		}},
		{"model is a FIFO", func(t *testing.T, dir string) ([]string, []string) {
			mkfifo(t, filepath.Join(dir, "m.onnx"))
			return []string{"inspect", "m.onnx"}, []string{"m.onnx", "named pipe"}
		}},
		{"duplicate graph outputs", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			g := b.Proto().Graph
			g.Output = append(g.Output, g.Output[0])
			return []string{"convert", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", `"y"`, "twice"}
		}},
		{"opset 0", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			b.Proto().OpsetImport[0].Version = proto.Int64(0)
			return []string{"convert", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", "version 0"}
		}},
		{"IR version 0", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			b.Proto().IrVersion = proto.Int64(0)
			return []string{"inspect", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", "ir_version"}
		}},
		{"dangling node input", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			b.Proto().Graph.Node[0].Input[0] = "never_made"
			return []string{"convert", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", "never_made", "Gemm"}
		}},
		{"cycle", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 4)
			b.NodeOut("Add", []string{x, "b"}, []string{"a"})
			b.NodeOut("Relu", []string{"a"}, []string{"b"})
			b.Output("a", tensor.Float, 1, 4)
			return []string{"convert", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", "cycle"}
		}},
		{"value produced twice", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			b.NodeOut("Relu", []string{"x"}, []string{"y"})
			return []string{"convert", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", `"y"`, "twice"}
		}},
		{"subgraphs nested beyond protobuf's limit", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", save(t, dir, "m.onnx", nestedIfModel(5000).Proto())}, []string{"m.onnx", "deeper than protobuf"}
		}},
		{"huge declared initializer", func(t *testing.T, dir string) ([]string, []string) {
			tp := &onnxpb.TensorProto{Dims: []int64{1 << 20, 1 << 20}, DataType: proto.Int32(int32(tensor.Float)), RawData: float32Bytes(32)}
			return verifyWith(withWeight(t, dir, tp)), []string{"model.onnx", `"w"`, "raw data"}
		}},
		{"overflowing initializer dims", func(t *testing.T, dir string) ([]string, []string) {
			tp := &onnxpb.TensorProto{Dims: []int64{1 << 32, 1 << 32, 1 << 32}, DataType: proto.Int32(int32(tensor.Float)), RawData: float32Bytes(32)}
			return verifyWith(withWeight(t, dir, tp)), []string{"model.onnx", `"w"`, "64-bit"}
		}},
		{"negative initializer dim", func(t *testing.T, dir string) ([]string, []string) {
			tp := &onnxpb.TensorProto{Dims: []int64{-4, 8}, DataType: proto.Int32(int32(tensor.Float)), RawData: float32Bytes(32)}
			return verifyWith(withWeight(t, dir, tp)), []string{"model.onnx", `"w"`, "negative"}
		}},
		{"typed values fewer than dims", func(t *testing.T, dir string) ([]string, []string) {
			tp := &onnxpb.TensorProto{Dims: []int64{1 << 40}, DataType: proto.Int32(int32(tensor.Float)), FloatData: []float32{1, 2}}
			return verifyWith(withWeight(t, dir, tp)), []string{"model.onnx", `"w"`, "2 values"}
		}},
	}
}

// externalDataCases are weights whose external reference is out of range, escapes the folder or
// names something other than a regular file.
func externalDataCases() []badCase {
	const weightBytes = 4 * 4 * 8
	return []badCase{
		{"external data past the end", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", externalHead(t, dir, "w.bin", "64", "128", make([]byte, weightBytes))}, []string{"model.onnx", `"w"`, "past its end"}
		}},
		{"external offset near 2^63", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", externalHead(t, dir, "w.bin", "9223372036854775800", "128", make([]byte, weightBytes))}, []string{"model.onnx", `"w"`, "offset"}
		}},
		{"external length near 2^63", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", externalHead(t, dir, "w.bin", "64", "9223372036854775800", make([]byte, weightBytes))}, []string{"model.onnx", `"w"`, "past its end"}
		}},
		{"external length not the tensor's", func(t *testing.T, dir string) ([]string, []string) {
			return verifyWith(externalHead(t, dir, "w.bin", "0", "64", make([]byte, weightBytes))), []string{"model.onnx", `"w"`, "64 bytes"}
		}},
		{"external offset not a number", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", externalHead(t, dir, "w.bin", "twelve", "128", make([]byte, weightBytes))}, []string{"model.onnx", `"w"`, "offset"}
		}},
		{"external negative length", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", externalHead(t, dir, "w.bin", "0", "-5", make([]byte, weightBytes))}, []string{"model.onnx", `"w"`, "length"}
		}},
		{"external file missing", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"convert", externalHead(t, dir, "gone.bin", "0", "128", nil)}, []string{"model.onnx", "gone.bin"}
		}},
		{"external location escapes", func(t *testing.T, dir string) ([]string, []string) {
			sub := filepath.Join(dir, "m")
			os.Mkdir(sub, 0o755)
			writeFile(t, filepath.Join(dir, "secret.bin"), make([]byte, weightBytes))
			externalHead(t, sub, "../secret.bin", "0", "128", nil)
			return []string{"convert", "m/model.onnx"}, []string{"m/model.onnx", "escapes"}
		}},
		{"external absolute location", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "abs.bin"), make([]byte, weightBytes))
			return []string{"convert", externalHead(t, dir, filepath.Join(dir, "abs.bin"), "0", "128", nil)}, []string{"model.onnx", "escapes"}
		}},
		{"external symlink out", func(t *testing.T, dir string) ([]string, []string) {
			sub := filepath.Join(dir, "m")
			os.Mkdir(sub, 0o755)
			writeFile(t, filepath.Join(dir, "secret.bin"), make([]byte, weightBytes))
			os.Symlink(filepath.Join(dir, "secret.bin"), filepath.Join(sub, "link.bin"))
			externalHead(t, sub, "link.bin", "0", "128", nil)
			return []string{"convert", "m/model.onnx"}, []string{"m/model.onnx", "symlink"}
		}},
		{"external data is a FIFO", func(t *testing.T, dir string) ([]string, []string) {
			mkfifo(t, filepath.Join(dir, "pipe.bin"))
			return []string{"convert", externalHead(t, dir, "pipe.bin", "0", "128", nil)}, []string{"model.onnx", `"w"`, "named pipe"}
		}},
		{"external data is a directory", func(t *testing.T, dir string) ([]string, []string) {
			os.Mkdir(filepath.Join(dir, "weights"), 0o755)
			return []string{"convert", externalHead(t, dir, "weights", "0", "128", nil)}, []string{"model.onnx", `"w"`, "directory"}
		}},
	}
}

// engineCases are models that load but cannot be compiled or run: sizes beyond any memory,
// mistyped attributes, unknown ops, impossible shapes.
func engineCases() []badCase {
	return []badCase{
		{"graph input of 2^40 elements", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("Relu", []int{1 << 20, 1 << 20}).Proto())
			return verifyWith(m), []string{"m.onnx", `graph input "x"`, "--max-memory"}
		}},
		{"graph input with overflowing dims", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("Relu", []int{1 << 32, 1 << 32, 1 << 32}).Proto())
			return verifyWith(m), []string{"m.onnx", `graph input "x"`, "64-bit"}
		}},
		{"MaxPool on an overflowing shape", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("MaxPool", []int{1, 1, 1 << 31, 1 << 31}, graph.IntsAttr("kernel_shape", 2, 2)).Proto())
			return verifyWith(m), []string{"m.onnx", `"x"`, "64-bit"}
		}},
		{"MaxPool with pads of 2^30", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("MaxPool", []int{1, 1, 4, 4}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("pads", 1<<30, 1<<30, 1<<30, 1<<30)).Proto())
			return verifyWith(m), []string{"m.onnx", "MaxPool", "pads"}
		}},
		{"MaxPool kernel of 2^40", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("MaxPool", []int{1, 1, 4, 4}, graph.IntsAttr("kernel_shape", 1<<40, 1<<40), graph.IntsAttr("pads", 1<<40, 1<<40, 1<<40, 1<<40)).Proto())
			return verifyWith(m), []string{"m.onnx", "MaxPool", "kernel_shape"}
		}},
		{"1-D pooling window too large to plan", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("AveragePool", []int{1, 1, 4}, graph.IntsAttr("kernel_shape", 1<<31), graph.IntsAttr("pads", 1<<31-1, 1<<31-1)).Proto())
			return verifyWith(m), []string{"m.onnx", "AveragePool", "window steps"}
		}},
		{"Conv dilation of 2^62", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 1, 4, 4)
			w := b.Init("w", onnxbuild.Random(1, 1, 1, 2, 2))
			b.NodeOut("Conv", []string{x, w}, []string{"y"}, graph.IntsAttr("dilations", 1<<62, 1<<62))
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Conv", "dilations"}
		}},
		{"Pad by 2^62", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 2, 3)
			p := b.Init("p", tensor.FromInt64([]int64{0, 0, 1 << 62, 0}, 4))
			b.NodeOut("Pad", []string{x, p}, []string{"y"})
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Pad", "pads"}
		}},
		{"Resize to 2^62 wide", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 1, 1, 1)
			sz := b.Init("sz", tensor.FromInt64([]int64{1, 1, 1, 1 << 62}, 4))
			b.NodeOut("Resize", []string{x, "", "", sz}, []string{"y"}, graph.StringAttr("mode", "cubic"))
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Resize", "axis 3"}
		}},
		{"Expand to terabytes", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 1)
			s := b.Init("s", tensor.FromInt64([]int64{1 << 15, 1 << 15, 1 << 15}, 3))
			b.NodeOut("Expand", []string{x, s}, []string{"y"})
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Expand", "--max-memory"}
		}},
		{"over a small --max-memory", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("Relu", []int{1, 1024}).Proto())
			return verifyWith(m, "--max-memory", "1KiB"), []string{"m.onnx", "memory budget"}
		}},
		{"bad --max-memory", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", headModel().Proto())
			return []string{"convert", m, "--max-memory", "lots"}, []string{"--max-memory", "lots"}
		}},
		{"symbolic dim bound huge", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("Relu", []int{-1, 1 << 20}).Proto())
			return verifyWith(m, "--dim", "d0=1099511627776"), []string{"m.onnx", `graph input "x"`, "--max-memory"}
		}},
		{"graph input of an unknown element type", func(t *testing.T, dir string) ([]string, []string) {
			b := unaryModel("Identity", []int{1, 4})
			b.Proto().Graph.Input[0].Type.GetTensorType().ElemType = proto.Int32(48)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", `"x"`, "dtype(48)"}
		}},
		{"transB as a float", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			b.Proto().Graph.Node[0].Attribute[0] = graph.FloatAttr("transB", 1)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Gemm", "transB", "float"}
		}},
		{"axis as a string", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("Flatten", []int{2, 3}, graph.StringAttr("axis", "1")).Proto())
			return verifyWith(m), []string{"m.onnx", "Flatten", "axis", "string"}
		}},
		{"kernel_shape as a float", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("MaxPool", []int{1, 1, 4, 4}, graph.FloatAttr("kernel_shape", 2)).Proto())
			return verifyWith(m), []string{"m.onnx", "MaxPool", "kernel_shape"}
		}},
		{"unknown op", func(t *testing.T, dir string) ([]string, []string) {
			m := save(t, dir, "m.onnx", unaryModel("FooBar", []int{1, 4}).Proto())
			return verifyWith(m), []string{"m.onnx", "FooBar"}
		}},
		{"incompatible Add shapes", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 3)
			c := b.Init("c", onnxbuild.Random(1, 1, 4))
			b.NodeOut("Add", []string{x, c}, []string{"y"})
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Add"}
		}},
		{"Reshape to another element count", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 2, 3)
			s := b.Init("s", tensor.FromInt64([]int64{4, 2}, 2))
			b.NodeOut("Reshape", []string{x, s}, []string{"y"})
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Reshape"}
		}},
		{"Gemm inner dims disagree", func(t *testing.T, dir string) ([]string, []string) {
			b := headModel()
			b.Proto().Graph.Input[0] = onnxbuild.ValueInfo("x", tensor.Float, 1, 5)
			return []string{"convert", save(t, dir, "m.onnx", b.Proto())}, []string{"m.onnx", "Gemm"}
		}},
		{"Conv channels disagree", func(t *testing.T, dir string) ([]string, []string) {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 3, 8, 8)
			w := b.Init("w", onnxbuild.Random(1, 4, 2, 3, 3))
			b.NodeOut("Conv", []string{x, w}, []string{"y"})
			b.Output("y", tensor.Float)
			return verifyWith(save(t, dir, "m.onnx", b.Proto())), []string{"m.onnx", "Conv"}
		}},
	}
}

// inputFileCases are bad tensor files given as inputs: .pb files that are not tensors or declare
// more than they hold, and broken .npy files.
func inputFileCases() []badCase {
	model := func(t *testing.T, dir string) string { return save(t, dir, "m.onnx", headModel().Proto()) }
	pb := func(t *testing.T, dir string, data []byte) []string {
		writeFile(t, filepath.Join(dir, "input_0.pb"), data)
		return verifyWith(model(t, dir), "--input", "x=input_0.pb")
	}
	npy := func(t *testing.T, dir, header string, data []byte) []string {
		npyFile(t, filepath.Join(dir, "x.npy"), header, data)
		return verifyWith(model(t, dir), "--input", "x=x.npy")
	}
	x := tensor.FromFloat32(make([]float32, 8), 1, 8)
	return []badCase{
		{"sequence .pb input", func(t *testing.T, dir string) ([]string, []string) {
			return pb(t, dir, sequencePB(x.ToProto("x"))), []string{"input_0.pb", "SequenceProto"}
		}},
		{".pb declaring 2^40 elements", func(t *testing.T, dir string) ([]string, []string) {
			tp := &onnxpb.TensorProto{Name: proto.String("x"), Dims: []int64{1 << 40}, DataType: proto.Int32(int32(tensor.Float)), RawData: float32Bytes(8)}
			b, _ := proto.Marshal(tp)
			return pb(t, dir, b), []string{"input_0.pb", "raw data"}
		}},
		{".pb with overflowing dims", func(t *testing.T, dir string) ([]string, []string) {
			tp := &onnxpb.TensorProto{Name: proto.String("x"), Dims: []int64{1 << 62, 4}, DataType: proto.Int32(int32(tensor.Float)), RawData: float32Bytes(8)}
			b, _ := proto.Marshal(tp)
			return pb(t, dir, b), []string{"input_0.pb", "64-bit"}
		}},
		{".pb of random bytes", func(t *testing.T, dir string) ([]string, []string) {
			return pb(t, dir, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}), []string{"input_0.pb"}
		}},
		{".pb is a FIFO", func(t *testing.T, dir string) ([]string, []string) {
			mkfifo(t, filepath.Join(dir, "input_0.pb"))
			return verifyWith(model(t, dir), "--input", "x=input_0.pb"), []string{"input_0.pb", "named pipe"}
		}},
		{"test data set with a sequence", func(t *testing.T, dir string) ([]string, []string) {
			set := filepath.Join(dir, "test_data_set_0")
			os.Mkdir(set, 0o755)
			writeFile(t, filepath.Join(set, "input_0.pb"), sequencePB(x.ToProto("x")))
			y, _ := proto.Marshal(tensor.FromFloat32(make([]float32, 4), 1, 4).ToProto("y"))
			writeFile(t, filepath.Join(set, "output_0.pb"), y)
			return []string{"verify", model(t, dir), "--inputs", "test_data_set_0"}, []string{"input_0.pb", "SequenceProto"}
		}},
		{".npy without magic", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "x.npy"), []byte("PK\x03\x04 a zip, not an array"))
			return verifyWith(model(t, dir), "--input", "x=x.npy"), []string{"x.npy", "magic"}
		}},
		{".npy declaring 2^40 elements", func(t *testing.T, dir string) ([]string, []string) {
			return npy(t, dir, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }\n", float32Bytes(8)), []string{"x.npy", "raw data"}
		}},
		{".npy with overflowing shape", func(t *testing.T, dir string) ([]string, []string) {
			return npy(t, dir, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }\n", float32Bytes(8)), []string{"x.npy", "64-bit"}
		}},
		{".npy with a non-numeric shape", func(t *testing.T, dir string) ([]string, []string) {
			return npy(t, dir, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, many), }\n", float32Bytes(8)), []string{"x.npy", "shape"}
		}},
		{".npy header longer than the file", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "x.npy"), []byte("\x93NUMPY\x01\x00\xff\xff{'descr'"))
			return verifyWith(model(t, dir), "--input", "x=x.npy"), []string{"x.npy", "truncated"}
		}},
		{".npy of an unsupported type", func(t *testing.T, dir string) ([]string, []string) {
			return npy(t, dir, "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 8), }\n", make([]byte, 64)), []string{"x.npy", "<c8"}
		}},
		{".npy in Fortran order", func(t *testing.T, dir string) ([]string, []string) {
			return npy(t, dir, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 8), }\n", float32Bytes(8)), []string{"x.npy", "Fortran"}
		}},
	}
}

// TestBatchSurvivesAModelBeyondMemory: a model declaring a batch of 2^24 images fails on its own
// with the budget named, and the models after it still convert (a fatal out-of-memory used to end
// the whole batch).
func TestBatchSurvivesAModelBeyondMemory(t *testing.T) {
	requireEngine(t)
	zoo, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copySample(t, zoo, "a_huge/classifier.onnx")
	copySample(t, zoo, "b_good/classifier.onnx")
	hugePath := filepath.Join(zoo, "a_huge", "classifier.onnx")
	data, _ := os.ReadFile(hugePath)
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		t.Fatal(err)
	}
	mp.Graph.Input[0].Type.GetTensorType().Shape.Dim[0] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1 << 24}}
	os.RemoveAll(filepath.Join(zoo, "a_huge", "test_data_set_0")) // its inputs no longer fit the shape
	save(t, filepath.Dir(hugePath), "classifier.onnx", &mp)
	report := filepath.Join(t.TempDir(), "report.jsonl")

	stdout, stderr, code, rss := runCLI(t, zoo, []string{"convert", zoo, "-o", out, "-j", "1", "--report", report, "-q"})
	if code != exitMismatch {
		t.Fatalf("exit %d, want %d (one model failed)\n%s%s", code, exitMismatch, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "goroutine ") || strings.Contains(stdout+stderr, "panic") {
		t.Errorf("output shows a Go trace: %s%s", stdout, stderr)
	}
	if rss > badInputMaxRSS {
		t.Errorf("peak RSS %d MiB, over the %d MiB ceiling", rss>>20, badInputMaxRSS>>20)
	}
	recs := readReport(t, report)
	t.Logf("peak RSS %d MiB; huge model: %s", rss>>20, recs["a_huge/classifier.onnx"].Reason)
	if r := recs["a_huge/classifier.onnx"]; r.Outcome != "failed" || !strings.Contains(r.Reason, "--max-memory") {
		t.Errorf("huge model: %+v, want a failure naming --max-memory", r)
	}
	if r := recs["b_good/classifier.onnx"]; r.Outcome != "converted" {
		t.Errorf("the model after the huge one: %+v, want converted", r)
	}
}
