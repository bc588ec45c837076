package batch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/atomicfile"
)

// testDataPrefix names the model-zoo folders of reference inputs and outputs beside a model.
const testDataPrefix = "test_data_set_"

// copyUnchanged copies a model that needed no rewrite into the output folder byte for byte, with
// the external data files it references and its test data, so the output folder is a complete zoo.
// The model comes last: its presence is what --skip-existing trusts.
func copyUnchanged(src, dst string) error {
	files, err := graph.ExternalDataFiles(src)
	if err != nil {
		return err
	}
	if err := refuseSameFile(src, dst); err != nil {
		return err
	}
	if len(files) > 0 {
		// The data files are replaced in place, one by one: an earlier copy of the model must not
		// stay beside them, or an interrupted copy would pair it with the new data.
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, f := range files {
		to := filepath.Join(filepath.Dir(dst), filepath.Clean(filepath.FromSlash(f.Location)))
		if err := refuseSameFile(f.Path, to); err != nil {
			return err
		}
		if err := copyFile(f.Path, to); err != nil {
			return err
		}
	}
	if err := copyTestData(src, dst); err != nil {
		return err
	}
	return copyFile(src, dst)
}

// refuseSameFile makes sure a copy never goes onto its own source (an output folder reached
// through a symlink into the zoo).
func refuseSameFile(src, dst string) error {
	a, errA := os.Stat(src)
	b, errB := os.Stat(dst)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return fmt.Errorf("the output %s is the input file %s; choose an output folder outside the models' folders", dst, src)
	}
	return nil
}

// testDataSets lists the names of the test_data_set_* folders in dir.
func testDataSets(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), testDataPrefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// copyTestData copies the test_data_set_* folders beside a model to the folder of its output.
func copyTestData(modelPath, outPath string) error {
	srcDir, dstDir := filepath.Dir(modelPath), filepath.Dir(outPath)
	sets, err := testDataSets(srcDir)
	if err != nil {
		return err
	}
	for _, name := range sets {
		src, dst := filepath.Join(srcDir, name), filepath.Join(dstDir, name)
		if err := refuseSameFile(src, dst); err != nil {
			return err
		}
		if err := copyFolder(src, dst); err != nil {
			return fmt.Errorf("copying the test data %s: %v", src, err)
		}
	}
	return nil
}

// copyFolder copies a folder tree. A folder the output lacks is copied under a temporary name and
// renamed into place whole; one already there (from an earlier run, or another model of the same
// folder copying it at the same time) has each file replaced, each atomically.
func copyFolder(src, dst string) error {
	atomicfile.RemoveStale(dst)
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		tmp := atomicfile.TempPath(dst)
		if err := copyTree(src, tmp); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		if err := os.Rename(tmp, dst); err == nil {
			return nil
		}
		os.RemoveAll(tmp) // another writer put it in place meanwhile: refresh its files below
	}
	return copyTree(src, dst)
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
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// testDataComplete reports whether every file of the test_data_set_* folders beside a model is
// beside its output too, with the same size.
func testDataComplete(modelPath, outPath string) bool {
	srcDir, dstDir := filepath.Dir(modelPath), filepath.Dir(outPath)
	sets, err := testDataSets(srcDir)
	if err != nil {
		return false
	}
	for _, name := range sets {
		err := filepath.WalkDir(filepath.Join(srcDir, name), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(srcDir, path)
			a, errA := d.Info()
			b, errB := os.Stat(filepath.Join(dstDir, rel))
			if errA != nil || errB != nil || a.Size() != b.Size() {
				return errIncomplete
			}
			return nil
		})
		if err != nil {
			return false
		}
	}
	return true
}

var errIncomplete = errors.New("incomplete")

// removeStaleTemps removes what killed runs left in an output's folders: temporary files and
// folders whose writer is gone, beside the model and inside its test data folders.
func removeStaleTemps(outPath string) {
	dir := filepath.Dir(outPath)
	atomicfile.RemoveStaleIn(dir)
	sets, _ := testDataSets(dir)
	for _, name := range sets {
		atomicfile.RemoveStaleIn(filepath.Join(dir, name))
	}
}
