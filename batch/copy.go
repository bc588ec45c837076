package batch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/graph/onnxpb"
)

// testDataPrefix names the model-zoo folders of reference inputs and outputs beside a model.
const testDataPrefix = "test_data_set_"

// copyUnchanged copies a model that needed no rewrite into the output folder byte for byte, with
// the external data files it references, so the output folder is a complete zoo.
func copyUnchanged(src, dst string) error {
	locations, err := externalLocations(src)
	if err != nil {
		return err
	}
	for _, loc := range locations {
		from, err := graph.ResolveExternalPath(filepath.Dir(src), loc)
		if err != nil {
			return err
		}
		to := filepath.Join(filepath.Dir(dst), filepath.Clean(filepath.FromSlash(loc)))
		if err := copyFile(from, to); err != nil {
			return err
		}
	}
	// The model last: its presence is what --skip-existing trusts.
	return copyFile(src, dst)
}

// externalLocations lists the distinct external-data files a model references.
func externalLocations(path string) ([]string, error) {
	m, err := graph.Load(path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, tp := range graphTensors(m.Proto.Graph) {
		if tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			continue
		}
		for _, kv := range tp.ExternalData {
			if kv.GetKey() == "location" && !seen[kv.GetValue()] {
				seen[kv.GetValue()] = true
				out = append(out, kv.GetValue())
			}
		}
	}
	return out, nil
}

// graphTensors lists every tensor of a graph and its subgraphs that can hold data.
func graphTensors(g *onnxpb.GraphProto) []*onnxpb.TensorProto {
	if g == nil {
		return nil
	}
	out := append([]*onnxpb.TensorProto{}, g.Initializer...)
	for _, s := range g.SparseInitializer {
		out = append(out, s.Values, s.Indices)
	}
	for _, n := range g.Node {
		for _, a := range n.Attribute {
			if a.T != nil {
				out = append(out, a.T)
			}
			out = append(out, a.Tensors...)
			out = append(out, graphTensors(a.G)...)
			for _, sub := range a.Graphs {
				out = append(out, graphTensors(sub)...)
			}
		}
	}
	return out
}

// copyTestData copies the test_data_set_* folders beside a model to the folder of its output.
func copyTestData(modelPath, outPath string) error {
	srcDir, dstDir := filepath.Dir(modelPath), filepath.Dir(outPath)
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), testDataPrefix) {
			if err := copyTree(filepath.Join(srcDir, e.Name()), filepath.Join(dstDir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTree copies the regular files of a folder tree.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

// copyFile copies through a temporary file and a rename: two models sharing a folder copy the same
// test data at the same time, and neither may see the other's half-written file.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return fmt.Errorf("copying %s: %v", src, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
