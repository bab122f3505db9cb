package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/internal/atomicfile"
	"github.com/vqgen/vqgen/internal/metrics"
	"github.com/vqgen/vqgen/internal/plots"
	"github.com/vqgen/vqgen/internal/rundir"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// loadConfig reads a config file, or a built-in one by name ("mnist",
// "tiny") when no such file exists, so the binary works outside the source
// tree.
func loadConfig(path string) (*configs.Config, error) {
	if _, err := os.Stat(path); err == nil {
		return configs.Load(path)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".toml")
	for _, b := range configs.BuiltinNames() {
		if name == b && (path == b || path == filepath.Join("configs", b+".toml") || path == b+".toml") {
			return configs.Builtin(b)
		}
	}
	return nil, fmt.Errorf("config %s: no such file (built-in configs: %s)", path, strings.Join(configs.BuiltinNames(), ", "))
}

// runDirFlags are the flags every training verb shares.
type runDirFlags struct {
	config, out   string
	resume, force bool
}

func (f *runDirFlags) register(cmd *cobra.Command, defaultOut string) {
	cmd.Flags().StringVar(&f.config, "config", "configs/mnist.toml", "TOML config file (or a built-in name: "+strings.Join(configs.BuiltinNames(), ", ")+")")
	cmd.Flags().StringVar(&f.out, "out", defaultOut, "output directory")
	cmd.Flags().BoolVar(&f.resume, "resume", false, "continue an interrupted run in --out from its last checkpoint")
	cmd.Flags().BoolVar(&f.force, "force", false, "delete an earlier run in --out and start over")
}

// prepare checks the run directory policy and returns whether a checkpoint
// exists to resume from.
func (f *runDirFlags) prepare(lastFile string) (resume bool, err error) {
	mode, err := rundir.ModeFromFlags(f.resume, f.force)
	if err != nil {
		return false, err
	}
	if err := rundir.Prepare(f.out, mode); err != nil {
		return false, err
	}
	if mode != rundir.Resume {
		return false, nil
	}
	_, err = os.Stat(filepath.Join(f.out, lastFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// writeResolvedConfig saves the config a run actually uses as DIR/config.toml.
func writeResolvedConfig(dir string, cfg *configs.Config) error {
	b, err := cfg.Encode()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "config.toml"), b, true)
}

// openMetrics starts DIR/metrics.jsonl, or on resume keeps the lines up to
// step.
func openMetrics(dir string, resume bool, step int) (*metrics.Writer, error) {
	if resume {
		w, _, err := metrics.Resume(dir, step)
		return w, err
	}
	return metrics.Create(dir)
}

// plotMetrics draws one PNG per chart from DIR/metrics.jsonl: for each
// chart, the named keys against "step" (entries lacking a key are skipped).
type chart struct {
	file, title, ylabel string
	keys                []string
	logY                bool
}

func plotMetrics(dir string, charts []chart) ([]string, error) {
	entries, err := metrics.ReadFile(filepath.Join(dir, metrics.FileName))
	if err != nil {
		return nil, err
	}
	var written []string
	for _, c := range charts {
		var series []plots.Series
		for _, k := range c.keys {
			s := plots.Series{Name: k}
			for _, e := range entries {
				step, ok := e.Step()
				v, ok2 := e[k].(float64)
				if ok && ok2 {
					s.X = append(s.X, float64(step))
					s.Y = append(s.Y, v)
				}
			}
			if len(s.X) > 0 {
				series = append(series, s)
			}
		}
		if len(series) == 0 {
			continue
		}
		path := filepath.Join(dir, c.file)
		if err := plots.LinePNG(path, c.title, "step", c.ylabel, series, plots.Options{LogY: c.logY}); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// gcForData lowers the garbage collector's headroom when the decoded
// images are large. Go lets the heap grow to twice what is live before it
// collects, and the pixels count as live: 600 MB of photos would let 600 MB
// of garbage pile up on top. They hold no pointers, so collecting more
// often costs little; with at most 256 MiB of headroom over the pixels, a
// 50,000-image 64x64 folder trains within 1.5 GiB.
func gcForData(pixelBytes int64) {
	const headroom = 256 << 20
	if pixelBytes > headroom {
		debug.SetGCPercent(max(20, int(100*headroom/pixelBytes)))
	}
}

// dataOptions caches decoded image folders beside the run folder out (in
// its parent's .vqgen-cache, so the cache outlives --force and serves every
// run made there) and draws a progress bar per decoded dataset.
func dataOptions(cmd *cobra.Command, out string) vqvae.DataOptions {
	var bar *progress
	return vqvae.DataOptions{
		CacheDir: filepath.Join(filepath.Dir(filepath.Clean(out)), ".vqgen-cache"),
		Progress: func(spec string, done, total int) {
			if bar == nil {
				bar = newProgress(cmd.ErrOrStderr(), "decode "+spec, total)
				bar.startAt(done)
				bar.setRate(1, "img")
			}
			bar.Update(done)
			if done == total {
				bar.Done()
				bar = nil
			}
		},
	}
}
