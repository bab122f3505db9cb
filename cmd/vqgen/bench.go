package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// benchmark is one figure that `vqgen bench` measures. The names are stable:
// scripts read them from the --json lines.
type benchmark struct {
	name, unit, what string
	run              func(minDur time.Duration) (float64, error)
}

// benchResult is one JSON line of `vqgen bench --json`.
type benchResult struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

func sgemmBench(m, n, k int) func(time.Duration) (float64, error) {
	return func(d time.Duration) (float64, error) { return kernels.BenchSgemm(m, n, k, 1, d), nil }
}

var coreBenchmarks = []benchmark{
	{"fma_peak_1t", "GFLOP/s", "register-only FMA loop: this core's peak", func(d time.Duration) (float64, error) { return kernels.PeakGFLOPS(d), nil }},
	{"sgemm_1024_1t", "GFLOP/s", "SGEMM 1024x1024x1024, 1 thread", sgemmBench(1024, 1024, 1024)},
	{"sgemm_64x576x4096_1t", "GFLOP/s", "SGEMM M=64 K=576 N=4096, 1 thread", sgemmBench(64, 4096, 576)},
	{"sgemm_4096x576x64_1t", "GFLOP/s", "SGEMM M=4096 K=576 N=64, 1 thread", sgemmBench(4096, 64, 576)},
	{"conv3x3_64c_16x16_b32_fwdbwd", "ms", "conv 64->64 3x3 16x16 batch 32, fwd+bwd, all cores", func(d time.Duration) (float64, error) {
		ms, _ := nn.BenchConv3x3(d)
		return ms, nil
	}},
}

// pipelineBenchmarks are appended by the file that defines them.
var pipelineBenchmarks []benchmark

func runBenchmarks(w io.Writer, list []benchmark, minDur time.Duration, asJSON bool) error {
	var tw *tabwriter.Writer
	if !asJSON {
		fmt.Fprintf(w, "kernel path %s, GOMAXPROCS %d, %s/%s\n\n", kernels.Path(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVALUE\tUNIT\tWHAT")
	}
	enc := json.NewEncoder(w)
	for _, b := range list {
		v, err := b.run(minDur)
		if err != nil {
			return fmt.Errorf("benchmark %s: %w", b.name, err)
		}
		if asJSON {
			if err := enc.Encode(benchResult{b.name, v, b.unit}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\n", b.name, v, b.unit, b.what)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func init() {
	var asJSON bool
	var minDur time.Duration
	var only []string
	var cpuProfile string
	bench := &cobra.Command{
		Use:   "bench [core|pipeline]",
		Short: "Measure the speed of the numeric core and of the pipeline's stages",
		Long: `bench measures how fast vqgen runs on this machine.

  core      SGEMM GFLOP/s on one thread next to the core's FMA peak, and a
            3x3 convolution's forward+backward time on all cores
  pipeline  stage-one training and encoding images/s, prior training
            grids/s and sampling images/s for each architecture

With no argument it runs both. --json prints one object per line:
{"name": ..., "value": ..., "unit": ...}.`,
		Example: `  vqgen bench core
  vqgen bench --json > bench.jsonl
  vqgen bench pipeline --only encode_img_s --cpuprofile cpu.out`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"core", "pipeline"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []benchmark
			what := "all"
			if len(args) == 1 {
				what = args[0]
			}
			switch what {
			case "core":
				list = coreBenchmarks
			case "pipeline":
				list = pipelineBenchmarks
			case "all":
				list = append(append(list, coreBenchmarks...), pipelineBenchmarks...)
			default:
				return fmt.Errorf("unknown benchmark set %q: want core or pipeline", what)
			}
			if len(only) > 0 {
				keep := map[string]bool{}
				for _, n := range only {
					keep[n] = true
				}
				var sel []benchmark
				found := map[string]bool{}
				for _, b := range list {
					base := strings.TrimSuffix(b.name, "_gflops")
					if keep[b.name] || keep[base] {
						sel = append(sel, b)
						found[b.name], found[base] = true, true
					}
				}
				for _, n := range only {
					if !found[n] {
						return fmt.Errorf("--only %s: no such benchmark in %s", n, what)
					}
				}
				list = sel
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runBenchmarks(cmd.OutOrStdout(), list, minDur, asJSON)
		},
	}
	bench.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	bench.Flags().DurationVar(&minDur, "time", 2*time.Second, "minimum time spent on each benchmark")
	bench.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the benchmarks to this file (read it with go tool pprof)")
	bench.Flags().StringSliceVar(&only, "only", nil, "run only these benchmarks (comma-separated names)")
	rootCmd.AddCommand(bench)
}

// startCPUProfile starts a CPU profile written to path (refusing to replace
// an existing file) and returns the function that finishes it.
func startCPUProfile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
