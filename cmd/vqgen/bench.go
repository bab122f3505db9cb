package main

import (
	"encoding/json"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
)

func newBenchCmd() *cobra.Command {
	var asJSON, force bool
	var minDur time.Duration
	var only []string
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench [core|pipeline]",
		Short: "Measure the speed of the numeric core and of the pipeline's stages",
		Long: `bench measures how fast vqgen runs on this machine.

  core      SGEMM GFLOP/s on one thread next to the core's FMA peak, and a
            3x3 convolution's forward+backward time on all cores
  pipeline  stage-one training and encoding images/s, prior training
            grids/s and sampling images/s for each architecture, and
            prior coding's encoding and decoding images/s
            (prior_encode_img_s, prior_decode_img_s: chunks of 512 random
            7x7 grids under the default Transformer, one chunk per core)

With no argument it runs both. --json prints one object per line:
{"name": ..., "value": ..., "unit": ...}; bench/results.sh turns such lines
into bench/RESULTS.md.`,
		Example: `  vqgen bench core
  vqgen bench --json > bench.jsonl
  vqgen bench pipeline --only encode_img_s --cpuprofile cpu.out`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"core", "pipeline"},
		RunE: func(cmd *cobra.Command, args []string) error {
			set := "all"
			if len(args) == 1 {
				set = args[0]
			}
			list, err := app.Benchmarks(set, only)
			if err != nil {
				return err
			}
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
				rows = append(rows, fmt.Sprintf("%s\t%.1f\t%s\t%s", b.Name, v, b.Unit, b.What))
			}
			return table(w, 0, rows...)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	cmd.Flags().DurationVar(&minDur, "time", 2*time.Second, "minimum time spent on each benchmark")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the benchmarks to this file (read it with go tool pprof)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing --cpuprofile")
	cmd.Flags().StringSliceVar(&only, "only", nil, "run only these benchmarks (comma-separated names)")
	return cmd
}
