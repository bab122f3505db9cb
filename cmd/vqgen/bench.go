package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/internal/server"
)

func newBenchCmd() *cobra.Command {
	var asJSON, force bool
	var minDur time.Duration
	var only []string
	var cpuProfile, run string
	cmd := &cobra.Command{
		Use:   "bench [core|pipeline|serve]",
		Short: "Measure the speed of the numeric core and of the pipeline's stages",
		Long: `bench measures how fast vqgen runs on this machine.

  core      SGEMM GFLOP/s on one thread next to the core's FMA peak, and a
            3x3 convolution's forward+backward time on all cores
  pipeline  stage-one training and encoding images/s, prior training
            grids/s and sampling images/s for each architecture, and
            prior coding's encoding and decoding images/s
            (prior_encode_img_s, prior_decode_img_s: chunks of 512 random
            7x7 grids under the default Transformer, one chunk per core)
  serve     seconds per request of vqgen serve over a trained run (--run),
            through its HTTP API, warm: an edit of a 3x3-cell hole with 8
            variants, and 16 samples

With no argument it runs all three (serve only with --run). --json prints one object per line:
{"name": ..., "value": ..., "unit": ...}; bench/results.sh turns such lines
into bench/RESULTS.md.`,
		Example: `  vqgen bench core
  vqgen bench --json > bench.jsonl
  vqgen bench pipeline --only encode_img_s --cpuprofile cpu.out
  vqgen bench serve --run runs/mnist`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"core", "pipeline", "serve"},
		RunE: func(cmd *cobra.Command, args []string) error {
			set := "all"
			if len(args) == 1 {
				set = args[0]
			}
			list, stop, err := benchList(cmd, set, only, run)
			if err != nil {
				return err
			}
			defer stop()
			if cpuProfile != "" {
				f, err := app.CreateOutput(cpuProfile, force)
				if err != nil {
					return err
				}
				defer f.Abort()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile %s: %w", cpuProfile, err)
				}
				defer func() {
					pprof.StopCPUProfile()
					f.Commit()
				}()
			}
			w := cmd.OutOrStdout()
			var rows []string
			if !asJSON {
				fmt.Fprintf(w, "%s\n\n", app.Machine())
				rows = append(rows, "NAME\tVALUE\tUNIT\tWHAT")
			}
			enc := json.NewEncoder(w)
			for _, b := range list {
				v, err := b.Run(minDur)
				if err != nil {
					return fmt.Errorf("benchmark %s: %w", b.Name, err)
				}
				if asJSON {
					if err := enc.Encode(app.BenchResult{Name: b.Name, Value: v, Unit: b.Unit}); err != nil {
						return err
					}
					continue
				}
				prec := 1
				if b.Unit == "s" { // request latencies: milliseconds matter
					prec = 3
				}
				rows = append(rows, fmt.Sprintf("%s\t%.*f\t%s\t%s", b.Name, prec, v, b.Unit, b.What))
			}
			return table(w, 0, rows...)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	cmd.Flags().DurationVar(&minDur, "time", 2*time.Second, "minimum time spent on each benchmark")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the benchmarks to this file (read it with go tool pprof)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing --cpuprofile")
	cmd.Flags().StringSliceVar(&only, "only", nil, "run only these benchmarks (comma-separated names)")
	cmd.Flags().StringVar(&run, "run", "", "run folder (vqvae.safetensors and prior.safetensors) whose models the serve benchmarks serve")
	return cmd
}

// benchList is the benchmarks of a set: app's, and the web server's over
// the models of run when the set includes them.
func benchList(cmd *cobra.Command, set string, only []string, run string) ([]app.Benchmark, func(), error) {
	var list []app.Benchmark
	switch set {
	case "core", "pipeline", "all":
		l, err := app.Benchmarks(set, nil)
		if err != nil {
			return nil, nil, err
		}
		list = l
	case "serve":
	default:
		return nil, nil, fmt.Errorf("unknown benchmark set %q: want core, pipeline or serve (or none for all)", set)
	}
	stop := func() {}
	if set == "serve" || set == "all" {
		serve, stopServe := server.Benchmarks(func() (server.Backend, error) { return server.Open(runPair(run)) })
		var names []string
		for _, b := range serve {
			names = append(names, b.Name)
		}
		needRun := fmt.Sprintf("%s measure vqgen serve over a trained pair: give --run DIR, a folder vqgen run made (e.g. runs/mnist)", strings.Join(names, " and "))
		switch {
		case run != "":
			list, stop = append(list, serve...), stopServe
		case set == "serve" || slices.ContainsFunc(only, func(n string) bool { return slices.Contains(names, n) }):
			return nil, nil, errors.New(needRun)
		case len(only) == 0:
			fmt.Fprintf(cmd.ErrOrStderr(), "skipped: %s\n", needRun)
		}
	}
	list, err := app.SelectBenchmarks(list, only, set)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return list, stop, nil
}
