package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vqgen's version, commit, Go version and parallelism",
		Long: `Print the module version and the commit the binary was built from (when
built inside a git checkout), the Go release and platform, the build tags
(noasm selects the portable kernels), and GOMAXPROCS, the number of
threads training spreads its work over.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				bi = nil
			}
			writeVersion(cmd.OutOrStdout(), bi, runtime.GOMAXPROCS(0), runtime.NumCPU())
			return nil
		},
	}
}

// writeVersion prints the report; bi may be nil when the binary carries no
// build information.
func writeVersion(w io.Writer, bi *debug.BuildInfo, maxprocs, ncpu int) {
	version, goVersion := "unknown", runtime.Version()
	settings := map[string]string{}
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	fmt.Fprintf(w, "vqgen %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		line := "commit " + rev
		if t := settings["vcs.time"]; t != "" {
			line += " (" + t + ")"
		}
		if settings["vcs.modified"] == "true" {
			line += " with uncommitted changes"
		}
		fmt.Fprintln(w, line)
	}
	goos, goarch := runtime.GOOS, runtime.GOARCH
	if v := settings["GOOS"]; v != "" {
		goos = v
	}
	if v := settings["GOARCH"]; v != "" {
		goarch = v
	}
	fmt.Fprintf(w, "go %s %s/%s\n", goVersion, goos, goarch)
	var build []string
	if v := settings["-tags"]; v != "" {
		build = append(build, "tags="+v)
	}
	if v := settings["CGO_ENABLED"]; v != "" {
		build = append(build, "CGO_ENABLED="+v)
	}
	if v := settings["GOAMD64"]; v != "" {
		build = append(build, "GOAMD64="+v)
	}
	if len(build) > 0 {
		fmt.Fprintf(w, "build %s\n", strings.Join(build, " "))
	}
	fmt.Fprintf(w, "GOMAXPROCS %d (%d CPUs)\n", maxprocs, ncpu)
}
