// Package deploy holds the recipes for converting a zoo on many machines (Kubernetes, SLURM, one
// big machine); its tests check that they parse and hand fcconv the arguments they promise.
package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// job is the part of a Kubernetes Job manifest the recipes rely on.
type job struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Env     []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readJob(t *testing.T, path string) job {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j job
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&j); err != nil {
		t.Fatalf("%s does not parse as YAML: %v", path, err)
	}
	if j.APIVersion != "batch/v1" || j.Kind != "Job" {
		t.Fatalf("%s is %s %s, want a batch/v1 Job", path, j.APIVersion, j.Kind)
	}
	if len(j.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s has %d containers, want 1", path, len(j.Spec.Template.Spec.Containers))
	}
	return j
}

func TestKubernetesJobIsAnIndexedJobOfShards(t *testing.T) {
	j := readJob(t, "kubernetes/fcconv-job.yaml")
	spec := j.Spec
	if spec.CompletionMode != "Indexed" {
		t.Errorf("completionMode is %q, want Indexed (pods learn their shard from JOB_COMPLETION_INDEX)", spec.CompletionMode)
	}
	if spec.Completions < 1 || spec.Parallelism < 1 || spec.Parallelism > spec.Completions {
		t.Errorf("completions %d, parallelism %d: want 1 <= parallelism <= completions", spec.Completions, spec.Parallelism)
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != "Never" {
		t.Errorf("restartPolicy is %q; an Indexed Job's retries per index need Never", pod.RestartPolicy)
	}
	c := pod.Containers[0]
	shards := ""
	for _, e := range c.Env {
		if e.Name == "SHARDS" {
			shards = e.Value
		}
	}
	if shards != strconv.Itoa(spec.Completions) {
		t.Errorf("SHARDS is %q, completions %d: they must be equal", shards, spec.Completions)
	}
	requireSharedVolume(t, j)

	// Run the container's script for the first and the last index, with a stand-in fcconv that
	// records its arguments, and a scratch folder in place of the volume at /data.
	if len(c.Command) != 2 || len(c.Args) != 1 {
		t.Fatalf("command %q args %q: want a shell, -c, and one script", c.Command, c.Args)
	}
	for _, index := range []int{0, spec.Completions - 1} {
		data := t.TempDir()
		pod := "fcconv-zoo-" + strconv.Itoa(index) + "-abcde"
		env := map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(index), "SHARDS": shards, "HOSTNAME": pod}
		args := runWithFakeFcconv(t, c.Command, strings.ReplaceAll(c.Args[0], "/data", data), env)
		requireArgs(t, args, []string{
			"convert", data + "/zoo", "-o", data + "/out",
			"--shard", strconv.Itoa(index+1) + "/" + shards,
			"--report", data + "/reports/shard-" + strconv.Itoa(index) + "." + pod + ".jsonl",
			"--skip-existing",
		})
	}
}

func TestKubernetesMergeJobRunsTheMergeScript(t *testing.T) {
	j := readJob(t, "kubernetes/fcconv-merge-job.yaml")
	requireSharedVolume(t, j)
	c := j.Spec.Template.Spec.Containers[0]
	if script := strings.Join(c.Args, " "); !strings.Contains(script, "merge-reports.sh /data/reports") {
		t.Errorf("the merge job runs %q, want merge-reports.sh on /data/reports", script)
	}
	if err := exec.Command("bash", "-n", "-c", strings.Join(c.Args, "\n")).Run(); err != nil {
		t.Errorf("the merge job's script does not parse: %v", err)
	}
}

// requireSharedVolume checks that the pods mount one claim at /data, where the zoo, the outputs
// and the reports are.
func requireSharedVolume(t *testing.T, j job) {
	t.Helper()
	pod := j.Spec.Template.Spec
	mounts := pod.Containers[0].VolumeMounts
	if len(mounts) != 1 || mounts[0].MountPath != "/data" {
		t.Fatalf("volume mounts %+v, want one at /data", mounts)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].Name != mounts[0].Name || pod.Volumes[0].PersistentVolumeClaim.ClaimName == "" {
		t.Fatalf("volumes %+v: want the mounted one, from a persistent volume claim", pod.Volumes)
	}
}

func TestSlurmArrayScriptShardsByTaskID(t *testing.T) {
	if err := exec.Command("bash", "-n", "slurm/fcconv-array.sbatch").Run(); err != nil {
		t.Fatalf("bash -n: %v", err)
	}
	script, err := os.ReadFile("slurm/fcconv-array.sbatch")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_JOB_ID": "1234",
		"ZOO": filepath.Join(dir, "zoo"), "OUT": filepath.Join(dir, "out"), "REPORTS": filepath.Join(dir, "reports")}
	args := runWithFakeFcconv(t, []string{"bash", "-c"}, string(script), env)
	requireArgs(t, args, []string{"convert", env["ZOO"], "-o", env["OUT"], "--shard", "3/4",
		"--report", filepath.Join(dir, "reports", "shard-2.1234.jsonl"), "--skip-existing"})
}

// TestOneMachineScriptConvertsAZoo runs deploy/one-machine.sh for real: two shard processes of
// the fcconv command over three copies of the sample classifier, and the merged report.
func TestOneMachineScriptConvertsAZoo(t *testing.T) {
	if err := exec.Command("bash", "-n", "one-machine.sh").Run(); err != nil {
		t.Fatalf("bash -n: %v", err)
	}
	binDir := t.TempDir()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(goTool, "build", "-o", filepath.Join(binDir, "fcconv"), "../cmd/fcconv").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	zoo, out := t.TempDir(), t.TempDir()
	sample, err := os.ReadFile("../testdata/sample/classifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	models := []string{"a/model.onnx", "b/model.onnx", "c/model.onnx"}
	for _, rel := range models {
		path := filepath.Join(zoo, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, sample, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "one-machine.sh", zoo, out, "2")
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("one-machine.sh: %v\n%s", err, msg)
	}
	f, err := os.Open(filepath.Join(out, "report.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var paths []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec struct{ Path, Outcome string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad report line %q: %v", sc.Text(), err)
		}
		if rec.Outcome != "converted" {
			t.Errorf("%s: outcome %s, want converted", rec.Path, rec.Outcome)
		}
		if _, err := os.Stat(filepath.Join(out, rec.Path)); err != nil {
			t.Errorf("%s: reported, but %v", rec.Path, err)
		}
		paths = append(paths, rec.Path)
	}
	if strings.Join(paths, " ") != strings.Join(models, " ") {
		t.Errorf("the merged report lists %v, want %v in that order", paths, models)
	}
}

// runWithFakeFcconv runs a recipe's shell script (command: the shell and its -c) with env set and a
// stand-in fcconv first on PATH, and returns the arguments fcconv was called with.
func runWithFakeFcconv(t *testing.T, command []string, script string, env map[string]string) []string {
	t.Helper()
	bin := t.TempDir()
	record := filepath.Join(bin, "args")
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + record + "\n"
	if err := os.WriteFile(filepath.Join(bin, "fcconv"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(command[0], append(command[1:], script)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running the recipe: %v\n%s", err, out)
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the recipe did not run fcconv: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// requireArgs checks that fcconv was called with each of want's flags followed by its value (and
// the positional arguments in order at the start).
func requireArgs(t *testing.T, got, want []string) {
	t.Helper()
	joined := "\x00" + strings.Join(got, "\x00") + "\x00"
	if !strings.HasPrefix(joined, "\x00"+strings.Join(want[:4], "\x00")+"\x00") {
		t.Errorf("fcconv was called with %q, want it to start with %q", got, want[:4])
	}
	for i := 4; i < len(want); i++ {
		if strings.HasPrefix(want[i], "--") && i+1 < len(want) && !strings.HasPrefix(want[i+1], "--") {
			pair := "\x00" + want[i] + "\x00" + want[i+1] + "\x00"
			if !strings.Contains(joined, pair) {
				t.Errorf("fcconv was called with %q, want %s %s", got, want[i], want[i+1])
			}
			i++
			continue
		}
		if !strings.Contains(joined, "\x00"+want[i]+"\x00") {
			t.Errorf("fcconv was called with %q, want %s", got, want[i])
		}
	}
}
