package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print fcconv's module version and build info (Go version, VCS revision)",
		Long: `Print the module version fcconv was built from ("(devel)" for a build from a checkout), the
Go version, the platform and, when the build recorded them, the VCS revision, its time and whether
the checkout had uncommitted changes. Quote it in a bug report.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, _ := debug.ReadBuildInfo()
			writeVersion(cmd.OutOrStdout(), info)
			return nil
		},
	}
}

// writeVersion prints the build info; info may be nil (a binary built without module support).
func writeVersion(w io.Writer, info *debug.BuildInfo) {
	version, module, goVersion := "(devel)", "github.com/fcconv/fcconv", runtime.Version()
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		if info.Main.Path != "" {
			module = info.Main.Path
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
	}
	fmt.Fprintf(w, "fcconv %s\n", version)
	fmt.Fprintf(w, "module    %s\n", module)
	fmt.Fprintf(w, "go        %s\n", goVersion)
	fmt.Fprintf(w, "platform  %s/%s\n", runtime.GOOS, runtime.GOARCH)
	if info == nil {
		return
	}
	// The vcs.* settings are there when the binary was built in a checkout with -buildvcs on (the
	// default for go build; go install module@version records the version instead).
	for _, s := range []struct{ key, label string }{
		{"vcs.revision", "revision"}, {"vcs.time", "time"}, {"vcs.modified", "modified"},
	} {
		if v := buildSetting(info, s.key); v != "" {
			fmt.Fprintf(w, "%-9s %s\n", s.label, v)
		}
	}
}

func buildSetting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
