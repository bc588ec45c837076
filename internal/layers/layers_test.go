// Package layers holds the test that keeps fcconv's packages in the one-way order README's
// Architecture section draws: a package may import only packages of lower layers (or of its own
// layer where the list says so), never one above it.
package layers

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/fcconv/fcconv/"

// layers lists the packages from the bottom up. Packages on one line form one layer and may not
// import each other unless sameLayerOK says so. Helpers under internal/ that import nothing of
// fcconv's above the bottom are listed in base.
var layers = [][]string{
	{"onnxpb"},
	{"tensor"},
	{"graph"},
	{"engine"},
	{"samples", "compare"},
	{"rewrite"},
	{"rewrite/fctoconv", "rewrite/bottleneck"},
	{"rewrite/passes", "rewrite/rewritetest"},
	{"verify", "inspect"},
	{"convert"},
	{"batch"},
	{"cmd/fcconv", "tools/benchort", "tools/roundtrip", "deploy", "e2e"},
}

// base are the internal helpers: any layer may use them, and they use only each other and the
// bottom layers (onnxpb, tensor, graph), never the pipeline.
var base = []string{
	"internal/gemm", "internal/workers", "internal/atomicfile", "internal/safefile", "internal/lowrank",
	"internal/units", "internal/zoo", "internal/fuzzseed", "internal/onnxbuild", "internal/mksamples",
	"internal/ortrun", "internal/layers",
}

func TestNoPackageReachesUp(t *testing.T) {
	rank := map[string]int{}
	for i, layer := range layers {
		for _, p := range layer {
			rank[p] = i
		}
	}
	for _, p := range base {
		rank[p] = -1
	}
	root := moduleRoot(t)
	seen := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "interop") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		r, known := rank[rel]
		if !known {
			t.Errorf("package %s is in no layer: add it to layers or base in this test (and to README's Architecture)", rel)
			return nil
		}
		seen++
		for _, imp := range pkg.Imports { // non-test imports only: tests may reach anywhere
			dep, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			dr, ok := rank[dep]
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is in no layer", rel, dep)
			case r == -1 && dr > 2:
				t.Errorf("internal helper %s imports %s of the pipeline (layer %d)", rel, dep, dr)
			case r >= 0 && dr >= r && !(dr == -1):
				t.Errorf("%s (layer %d) imports %s (layer %d): an import must go down", rel, r, dep, dr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 20 {
		t.Fatalf("checked only %d packages: is the module root %s right?", seen, root)
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", dir)
	}
	return dir
}
