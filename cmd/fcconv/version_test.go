package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionPrintsBuildInfo(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/fcconv/fcconv", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs.revision", Value: "0123456789abcdef"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	var out bytes.Buffer
	writeVersion(&out, info)
	for _, want := range []string{
		"fcconv v1.2.3\n", "module    github.com/fcconv/fcconv\n", "go        go1.99.1\n",
		"platform  " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
		"revision  0123456789abcdef\n", "time      2026-01-02T03:04:05Z\n", "modified  true\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "buildmode") {
		t.Errorf("version output shows a build setting other than vcs.*:\n%s", out.String())
	}
}

func TestVersionOfACheckoutBuildIsDevel(t *testing.T) {
	var out bytes.Buffer
	writeVersion(&out, &debug.BuildInfo{Main: debug.Module{Path: "github.com/fcconv/fcconv"}})
	if !strings.HasPrefix(out.String(), "fcconv (devel)\n") {
		t.Errorf("a build without a module version should say (devel):\n%s", out.String())
	}
	if strings.Contains(out.String(), "revision") {
		t.Errorf("no vcs settings were recorded, yet a revision is printed:\n%s", out.String())
	}
}

func TestVersionCommandReadsThisBinary(t *testing.T) {
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "go        "+runtime.Version()+"\n") {
		t.Errorf("fcconv version does not report this binary's Go version %s:\n%s", runtime.Version(), out.String())
	}
	if code := run([]string{"version", "extra"}); code != exitBadInput {
		t.Errorf("fcconv version extra exited %d, want %d", code, exitBadInput)
	}
}
