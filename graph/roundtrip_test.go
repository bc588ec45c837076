package graph

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fcconv/fcconv/internal/zoo"

	"github.com/fcconv/fcconv/onnxpb"
	"google.golang.org/protobuf/proto"
)

func saveToBytes(t *testing.T, m *Model) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.onnx")
	if err := m.Save(out, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestZooRoundTripIsByteIdentical(t *testing.T) {
	for _, path := range zoo.Models(t) {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := saveToBytes(t, m); !bytes.Equal(got, orig) {
				t.Fatalf("load+save changed the file: %d bytes in, %d out", len(orig), len(got))
			}
		})
	}
}

func TestZooEditLeavesInitializersUntouched(t *testing.T) {
	for _, path := range zoo.Models(t) {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			before := map[string][]byte{}
			for _, tp := range m.Graph.Proto.Initializer {
				b, _ := proto.Marshal(tp)
				before[tp.GetName()] = b
			}
			// Edit one node: rename it and add an attribute.
			n := m.Graph.Nodes[len(m.Graph.Nodes)/2]
			n.Proto.Name = proto.String(n.Name() + "_edited")
			n.Proto.Attribute = append(n.Proto.Attribute, StringAttr("fcconv_test", "x"))
			saved := saveToBytes(t, m)
			var back onnxpb.ModelProto
			if err := proto.Unmarshal(saved, &back); err != nil {
				t.Fatal(err)
			}
			if len(back.Graph.Initializer) != len(before) {
				t.Fatalf("%d initializers after the edit, %d before", len(back.Graph.Initializer), len(before))
			}
			for _, tp := range back.Graph.Initializer {
				b, _ := proto.Marshal(tp)
				if !bytes.Equal(b, before[tp.GetName()]) {
					t.Fatalf("initializer %q changed", tp.GetName())
				}
			}
			if back.Graph.Node[len(back.Graph.Node)/2].GetName() != n.Name() {
				t.Fatalf("the edit was not saved")
			}
		})
	}
}
