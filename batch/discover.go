package batch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Job is one model to convert.
type Job struct {
	// Source is the model file as found (a given folder joined with the path below it, or a listed
	// file as listed).
	Source string
	// Rel is the slash-separated path of the model relative to its folder; the output goes to the
	// same path under the output folder, and jobs are sorted (and sharded) by it, so the order does
	// not depend on where the zoo is mounted.
	Rel string
	// Size is the file's size in bytes, for the progress estimate.
	Size int64
}

// OutputPath is where a job's model goes under outDir.
func (j Job) OutputPath(outDir string) string {
	return filepath.Join(outDir, filepath.FromSlash(j.Rel))
}

// ErrNoModels says the folders and lists held no model to convert.
var ErrNoModels = errors.New("no .onnx models found")

// IsOutputName reports whether a file name is one fcconv writes itself (MODEL.fcconv.onnx), so a
// second run over a folder does not convert the first run's outputs.
func IsOutputName(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".fcconv.onnx")
}

// isModelName reports whether a file name is an ONNX model to convert.
func isModelName(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".onnx") && !IsOutputName(name)
}

// Discover lists the models to convert: every .onnx below each folder in roots (mirrored relative to
// that folder), and every file in files (mirrored relative to the deepest folder holding all of
// them; a folder in files counts as a root). Outputs of earlier runs (*.fcconv.onnx), hidden folders
// (when walking) and anything inside outDir are left out. The list is sorted by Rel. Two models that would land on
// the same output are an error; the same file reached twice is converted once.
func Discover(roots, files []string, outDir string) ([]Job, error) {
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return nil, err
	}
	var plainFiles []string
	var jobs []Job
	for _, p := range append(append([]string{}, roots...), files...) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			plainFiles = append(plainFiles, p)
			continue
		}
		found, err := walkRoot(p, absOut)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, found...)
	}
	listed, err := listedJobs(plainFiles, absOut)
	if err != nil {
		return nil, err
	}
	jobs = dedupe(append(jobs, listed...))
	if len(jobs) == 0 {
		return nil, ErrNoModels
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].Rel < jobs[b].Rel })
	return jobs, checkCollisions(jobs)
}

// walkRoot finds the models below one folder.
func walkRoot(root, absOut string) ([]Job, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if absRoot == absOut {
		return nil, fmt.Errorf("the output folder %s is the input folder; fcconv never overwrites its input, choose another -o", root)
	}
	var jobs []Job
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipFolder(path, d.Name(), absOut) {
				return filepath.SkipDir
			}
			return nil
		}
		if !isModelName(d.Name()) {
			return nil
		}
		st, err := os.Stat(path) // follows a symlinked model file
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		jobs = append(jobs, Job{Source: path, Rel: filepath.ToSlash(rel), Size: st.Size()})
		return nil
	})
	return jobs, err
}

// skipFolder leaves out hidden folders (.git, editors' caches) and the output folder when it sits
// inside an input folder, so converting DIR -o DIR/converted twice does not convert the outputs.
func skipFolder(path, name, absOut string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	abs, err := filepath.Abs(path)
	return err == nil && abs == absOut
}

// listedJobs turns listed model files into jobs mirrored relative to their deepest common folder,
// so `find zoo -name '*.onnx' | fcconv convert --from - -o out` lays out out/ as `convert zoo` does.
func listedJobs(files []string, absOut string) ([]Job, error) {
	var abs []string
	var kept []string
	for _, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if within(a, absOut) || IsOutputName(filepath.Base(f)) {
			continue // as when walking a folder: `find zoo -name '*.onnx'` lists earlier outputs too
		}
		abs = append(abs, a)
		kept = append(kept, f)
	}
	base := commonFolder(abs)
	var jobs []Job
	for i, f := range kept {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a model file", f)
		}
		rel, err := filepath.Rel(base, abs[i])
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, Job{Source: f, Rel: filepath.ToSlash(rel), Size: st.Size()})
	}
	return jobs, nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// commonFolder is the deepest folder holding every one of the absolute file paths.
func commonFolder(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	base := filepath.Dir(paths[0])
	for _, p := range paths[1:] {
		for !within(p, base) {
			parent := filepath.Dir(base)
			if parent == base {
				break
			}
			base = parent
		}
	}
	return base
}

// dedupe drops a file reached a second time (a folder and its subfolder both given), keeping the
// first, so the result depends only on the command line.
func dedupe(jobs []Job) []Job {
	seen := map[string]bool{}
	var out []Job
	for _, j := range jobs {
		key, err := filepath.Abs(j.Source)
		if err != nil {
			key = j.Source
		}
		if real, err := filepath.EvalSymlinks(key); err == nil {
			key = real
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, j)
	}
	return out
}

// checkCollisions refuses two models that would be written to the same output (the same relative
// path below two different given folders).
func checkCollisions(sorted []Job) error {
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Rel == sorted[i-1].Rel {
			return fmt.Errorf("%s and %s would both be written to %s below the output folder; convert the folders in separate runs or to separate -o folders",
				sorted[i-1].Source, sorted[i].Source, sorted[i].Rel)
		}
	}
	return nil
}

// ReadList reads model paths (or folders), one a line; blank lines and lines starting with # are
// ignored.
func ReadList(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		paths = append(paths, line)
	}
	return paths, nil
}
