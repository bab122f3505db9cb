package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/atomicfile"
	"github.com/vqgen/vqgen/internal/rundir"
	"github.com/vqgen/vqgen/sampler"
	"github.com/vqgen/vqgen/sampler/evaluate"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Files of a pipeline folder.
const (
	stateFile      = "run-state.json"
	codesTrainFile = "codes-train.vqc"
	codesTestFile  = "codes-test.vqc"
	priorDir       = "prior"
	samplesPNG     = "samples.png"
	byClassPNG     = "samples-by-class.png"
	editsPNG       = "edits.png"
	reportMD       = "report.md"
	reportJSON     = "report.json"
)

// editExamples is how many test images the run's edit picture shows.
const editExamples = 4

// runState is DIR/run-state.json: the config the folder was made with and,
// per finished stage, its wall time and results, so a second run skips what
// is done and the report can be rebuilt without redoing any work.
type runState struct {
	Version int                    `json:"version"`
	Config  string                 `json:"config"` // the resolved config, TOML
	Stages  map[string]*stageState `json:"stages"`
}

type stageState struct {
	Done    bool            `json:"done"`
	Seconds float64         `json:"seconds"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// stage is one step of the pipeline: outputs (relative to DIR) must exist
// for it to count as finished.
type stage struct {
	name, title string
	outputs     func(p *pipeline) []string
	run         func(p *pipeline) (any, error)
}

var stages = []stage{
	{"stage1", "train the VQ-VAE", func(*pipeline) []string { return []string{vqvae.BestFile} }, (*pipeline).stage1},
	{"encode", "encode the train and test splits", func(*pipeline) []string { return []string{codesTrainFile, codesTestFile} }, (*pipeline).encode},
	{"prior", "train the prior", func(*pipeline) []string { return []string{prior.BestFile} }, (*pipeline).prior},
	{"sample", "draw samples", func(p *pipeline) []string { return []string{samplesPNG} }, (*pipeline).sample},
	{"edit", "edit test images", func(*pipeline) []string { return []string{editsPNG} }, (*pipeline).edit},
	{"eval", "judge samples", func(*pipeline) []string { return nil }, (*pipeline).eval},
	{"report", "write the report", func(*pipeline) []string { return []string{reportMD, reportJSON} }, (*pipeline).report},
}

// runOptions are the flags of `vqgen run`.
type runOptions struct {
	config, out string
	force       bool
}

// pipeline is one `vqgen run` in progress.
type pipeline struct {
	cmd   *cobra.Command
	opt   runOptions
	cfg   *configs.Config
	dir   string
	state *runState
	ran   []string // stages this invocation ran (not skipped)
}

func (p *pipeline) path(name string) string { return filepath.Join(p.dir, name) }

func init() {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the whole pipeline: VQ-VAE, codes, prior, samples, edits, evaluation and a report",
		Long: `run does everything in one folder (--out):

  1. train the VQ-VAE                    vqvae.safetensors, loss/psnr/perplexity/recon PNGs
  2. encode the train and test splits    codes-train.vqc, codes-test.vqc
  3. train the prior                     prior/ (its run), prior.safetensors
  4. draw samples                        samples.png, samples-by-class.png (conditional prior)
  5. edit test images (a 3x3-cell hole)  edits.png
  6. judge [run] eval_samples samples with an MNIST classifier (0 skips this)
  7. write the report                    report.md, report.json

The test split is only reported on: stage one's MSE, PSNR and codebook
usage and the prior's bits per image (beside the unigram baseline) are
measured on it after training.

Run it again on the same folder to continue: finished stages (recorded in
run-state.json, with their outputs present) are skipped, an interrupted
training resumes from its last checkpoint. A folder made with another config,
or any other non-empty folder, is refused; --force deletes an earlier run
there and starts over.

configs/tiny.toml runs end to end in well under a minute (images are poor
and the sample evaluation is skipped); the default MNIST config takes about
half an hour on two cores.`,
		Example: `  vqgen run --out runs/mnist
  vqgen run --config configs/tiny.toml --out /tmp/tiny
  vqgen run --config configs/mnist.toml --out runs/mnist --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPipeline(cmd, o) },
	}
	cmd.Flags().StringVar(&o.config, "config", "configs/mnist.toml", "TOML config file (or a built-in name: "+strings.Join(configs.BuiltinNames(), ", ")+")")
	cmd.Flags().StringVar(&o.out, "out", "runs/mnist", "output folder")
	cmd.Flags().BoolVar(&o.force, "force", false, "delete an earlier run in --out and start over")
	rootCmd.AddCommand(cmd)
}

// openRunDir applies the folder policy and returns the state to continue
// from (fresh when starting over).
func openRunDir(dir string, cfgText string, force bool) (*runState, error) {
	fresh := &runState{Version: 1, Config: cfgText, Stages: map[string]*stageState{}}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case err == nil:
		var st runState
		if jerr := json.Unmarshal(b, &st); jerr != nil {
			if !force {
				return nil, fmt.Errorf("%s: unreadable run state (%v); use --force to start over", filepath.Join(dir, stateFile), jerr)
			}
		} else if st.Config != cfgText && !force {
			return nil, fmt.Errorf("%s holds a run made with a different config (see %s); use another --out, or --force to delete it and start over",
				dir, filepath.Join(dir, "config.toml"))
		} else if !force {
			if st.Stages == nil {
				st.Stages = map[string]*stageState{}
			}
			return &st, rundir.Prepare(dir, rundir.Resume)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	mode := rundir.Fresh
	if force {
		mode = rundir.Force
	}
	if err := rundir.Prepare(dir, mode); err != nil {
		if errors.Is(err, rundir.ErrNotEmpty) {
			return nil, fmt.Errorf("%s is not empty and holds no vqgen run (no %s); choose another --out (or --force, which clears only folders vqgen made)", dir, stateFile)
		}
		return nil, err
	}
	return fresh, nil
}

func (p *pipeline) saveState() error {
	b, err := json.MarshalIndent(p.state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(p.path(stateFile), append(b, '\n'), true)
}

// done reports whether a stage finished and its outputs are still there.
func (p *pipeline) done(s stage) bool {
	st := p.state.Stages[s.name]
	if st == nil || !st.Done {
		return false
	}
	for _, o := range s.outputs(p) {
		if _, err := os.Stat(p.path(o)); err != nil {
			return false
		}
	}
	return true
}

func runPipeline(cmd *cobra.Command, o runOptions) error {
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	// Every stage's config against the data, before any work.
	if _, _, err := vqvae.CheckData(cfg); err != nil {
		return err
	}
	text, err := cfg.Encode()
	if err != nil {
		return err
	}
	st, err := openRunDir(o.out, string(text), o.force)
	if err != nil {
		return err
	}
	p := &pipeline{cmd: cmd, opt: o, cfg: cfg, dir: o.out, state: st}
	if err := p.saveState(); err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	start := time.Now()
	redo := false // a stage ran, so every later one must run again
	for i, s := range stages {
		if !redo && p.done(s) {
			fmt.Fprintf(w, "[%d/%d] %s: done earlier, skipped\n", i+1, len(stages), s.title)
			continue
		}
		redo = true
		// Mark it unfinished first, so a crash mid-stage is not
		// mistaken for a finished stage with stale outputs.
		delete(p.state.Stages, s.name)
		if err := p.saveState(); err != nil {
			return err
		}
		fmt.Fprintf(w, "[%d/%d] %s\n", i+1, len(stages), s.title)
		t0 := time.Now()
		res, err := s.run(p)
		if err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		raw, err := json.Marshal(res)
		if err != nil {
			return err
		}
		p.state.Stages[s.name] = &stageState{Done: true, Seconds: time.Since(t0).Seconds(), Result: raw}
		p.ran = append(p.ran, s.name)
		if err := p.saveState(); err != nil {
			return err
		}
	}
	if len(p.ran) == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: every stage was already done; report in %s\n", p.dir, p.path(reportMD))
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "done in %.1fs: report in %s and %s\n", time.Since(start).Seconds(), p.path(reportMD), p.path(reportJSON))
	return nil
}

// result decodes a finished stage's result into v.
func (p *pipeline) result(name string, v any) error {
	st := p.state.Stages[name]
	if st == nil || !st.Done {
		return fmt.Errorf("stage %s has not finished", name)
	}
	return json.Unmarshal(st.Result, v)
}

type stage1Result struct {
	TestMSE    float64 `json:"test_mse"`
	TestPSNR   float64 `json:"test_psnr_db"`
	Perplexity float64 `json:"perplexity"`
	CodesUsed  int     `json:"codes_used"`
	K          int     `json:"k"`
	TestImages int     `json:"test_images"`
}

func (p *pipeline) stage1() (any, error) {
	if _, err := trainVQVAE(p.cmd, &runDirFlags{config: p.opt.config, out: p.dir, resume: true}); err != nil {
		return nil, err
	}
	m, _, err := vqvae.Load(p.path(vqvae.BestFile))
	if err != nil {
		return nil, err
	}
	test, err := vqvae.LoadTest(p.cfg, dataOptions(p.cmd, p.dir))
	if err != nil {
		return nil, err
	}
	e := m.Evaluate(test, 0, 500)
	fmt.Fprintf(p.cmd.ErrOrStderr(), "test split (%d images): MSE %.5f, PSNR %.2f dB, perplexity %.1f, codes used %d/%d\n",
		e.Images, e.MSE, e.PSNR, e.Perplexity, e.CodesUsed, e.K)
	return stage1Result{e.MSE, e.PSNR, e.Perplexity, e.CodesUsed, e.K, e.Images}, nil
}

type encodeResult struct {
	TrainImages   int     `json:"train_images"`
	TestImages    int     `json:"test_images"`
	BytesPerImage float64 `json:"bytes_per_image"`
	RawImageBytes int     `json:"raw_image_bytes"`
}

func (p *pipeline) encode() (any, error) {
	m, _, err := vqvae.Load(p.path(vqvae.BestFile))
	if err != nil {
		return nil, err
	}
	// The whole training split (validation part included): the prior
	// carves its own validation grids from the end.
	train, err := vqvae.LoadTrain(p.cfg, dataOptions(p.cmd, p.dir))
	if err != nil {
		return nil, err
	}
	test, err := vqvae.LoadTest(p.cfg, dataOptions(p.cmd, p.dir))
	if err != nil {
		return nil, err
	}
	// Stale files from an interrupted stage are replaced: the state says
	// they are not finished results.
	if err := encodeWithProgress(p.cmd, m, train, p.path(codesTrainFile), true); err != nil {
		return nil, err
	}
	if err := encodeWithProgress(p.cmd, m, test, p.path(codesTestFile), true); err != nil {
		return nil, err
	}
	f, err := datasets.OpenCodeFile(p.path(codesTrainFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := f.Header()
	return encodeResult{train.N, test.N, float64(f.Size()) / float64(h.Count), h.ImageH * h.ImageW * h.Channels}, nil
}

type priorRunResult struct {
	Arch                string  `json:"arch"`
	Conditional         bool    `json:"conditional"`
	TestBitsPerImage    float64 `json:"test_bits_per_image"`
	TestBitsPerCode     float64 `json:"test_bits_per_code"`
	UnigramBitsPerImage float64 `json:"unigram_bits_per_image"`
	ValBitsPerImage     float64 `json:"val_bits_per_image"`
	TrainGridsPerSec    float64 `json:"train_grids_per_s"`
}

func (p *pipeline) prior() (any, error) {
	pd := p.path(priorDir)
	res, err := trainPrior(p.cmd, &runDirFlags{config: p.opt.config, out: pd, resume: true}, p.path(codesTrainFile), "", 0)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(pd, prior.BestFile))
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(p.path(prior.BestFile), b, true); err != nil {
		return nil, err
	}
	// Unigram fitted on the prior's training part, both scored on the
	// test codes.
	ev, err := evalPrior(p.path(prior.BestFile), p.path(codesTestFile), p.path(codesTrainFile))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(p.cmd.ErrOrStderr(), "test codes: %.2f bits/image (unigram %.2f)\n", ev.BitsPerImage, ev.UnigramBitsPerImage)
	ck, err := prior.Load(p.path(prior.BestFile))
	if err != nil {
		return nil, err
	}
	return priorRunResult{ev.Arch, ck.Prior.Info().Classes > 0, ev.BitsPerImage, ev.BitsPerCode, ev.UnigramBitsPerImage,
		res.Val.BitsPerImage, res.GridsPerSecond}, nil
}

type sampleRunResult struct {
	N            int     `json:"n"`
	ImagesPerSec float64 `json:"images_per_s"`
	PerClass     int     `json:"per_class"`
}

// sampleOptions are the [sample] settings for n grids of a prior described
// by info; sample.guidance applies to a conditional prior only, since an
// unconditional one has no class to guide towards.
func (p *pipeline) sampleOptions(info prior.Info, n int, seed uint64) sampler.Options {
	s := p.cfg.Sample
	opt := sampler.Options{N: n, Temperature: float32(s.Temperature), TopK: s.TopK, TopP: float32(s.TopP), Seed: seed}
	if info.Classes > 0 {
		opt.Guidance = float32(s.Guidance)
	}
	return opt
}

func (p *pipeline) sample() (any, error) {
	m, ck, err := loadPair(p.path(vqvae.BestFile), p.path(prior.BestFile))
	if err != nil {
		return nil, err
	}
	c, s := m.Image.Channels, m.Image.ImageSize
	r, err := drawImages(p.cmd, "sample", m, ck.Prior, p.sampleOptions(ck.Prior.Info(), p.cfg.Sample.N, p.cfg.Sample.Seed))
	if err != nil {
		return nil, err
	}
	if err := datasets.WriteGridPNG(p.path(samplesPNG), r.Images, c, s, s, gridCols(len(r.Images))); err != nil {
		return nil, err
	}
	fmt.Fprintf(p.cmd.ErrOrStderr(), "%d samples at %.1f images/s (sampling and decoding)\n", r.Grids.N, r.ImagesPerSec)
	res := sampleRunResult{N: r.Grids.N, ImagesPerSec: r.ImagesPerSec}
	info := ck.Prior.Info()
	if pc := p.cfg.Run.PerClass; info.Classes > 0 && pc > 0 {
		opt := p.sampleOptions(info, info.Classes*pc, p.cfg.Sample.Seed+1)
		opt.Classes = make([]int32, opt.N)
		for i := range opt.Classes {
			opt.Classes[i] = int32(i / pc)
		}
		rc, err := drawImages(p.cmd, "sample by class", m, ck.Prior, opt)
		if err != nil {
			return nil, err
		}
		if err := datasets.WriteGridPNG(p.path(byClassPNG), rc.Images, c, s, s, pc); err != nil {
			return nil, err
		}
		res.PerClass = pc
	} else {
		os.Remove(p.path(byClassPNG))
	}
	return res, nil
}

type editRunResult struct {
	Method string `json:"method"`
	Sweeps int    `json:"sweeps"`
	N      int    `json:"n"`
	Hole   string `json:"hole_cells"` // r0,c0,r1,c1
	Images int    `json:"images"`
	// FirstSeconds is the sampler's time for the n edits of the first
	// image, the figure to quote for one edit call.
	FirstSeconds float64 `json:"first_image_seconds"`
}

// holeRect is a centred square of side min(3, grid) cells.
func holeRect(gh, gw int) sampler.Rect {
	side := min(3, gh, gw)
	r0, c0 := (gh-side)/2, (gw-side)/2
	return sampler.Rect{R0: r0, C0: c0, R1: r0 + side - 1, C1: c0 + side - 1}
}

func (p *pipeline) edit() (any, error) {
	m, ck, err := loadPair(p.path(vqvae.BestFile), p.path(prior.BestFile))
	if err != nil {
		return nil, err
	}
	test, err := vqvae.LoadTest(p.cfg, dataOptions(p.cmd, p.dir))
	if err != nil {
		return nil, err
	}
	info := ck.Prior.Info()
	gh, gw := m.GridSize()
	hole := holeRect(gh, gw)
	keep, err := sampler.RectKeep("cells", hole, gh, gw)
	if err != nil {
		return nil, err
	}
	e := p.cfg.Edit
	res := editRunResult{Method: e.Method, Sweeps: e.Sweeps, N: e.N, Hole: fmt.Sprintf("%d,%d,%d,%d", hole.R0, hole.C0, hole.R1, hole.C1)}
	if e.Method == sampler.MethodRaster {
		res.Sweeps = 0
	}
	s := m.Image.ImageSize
	var rows [][]float32
	for i := 0; i < min(editExamples, test.N); i++ {
		opt := sampler.EditOptions{N: e.N, Method: e.Method, Sweeps: e.Sweeps, Temperature: float32(p.cfg.Sample.Temperature),
			TopK: 0, TopP: 1, Seed: p.cfg.Sample.Seed + uint64(i)}
		if e.Method == sampler.MethodRaster {
			opt.TopK, opt.TopP = p.cfg.Sample.TopK, float32(p.cfg.Sample.TopP)
		}
		if info.Classes > 0 {
			if test.Labels == nil {
				return nil, fmt.Errorf("the prior is class-conditional but %s has no labels", p.cfg.Data.Test)
			}
			opt.Classes = []int32{test.Labels[i]}
		}
		im := test.Image(i)
		r, err := runEditOn(p.cmd, m, ck.Prior, encodeOne(m, im), keep, opt)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			res.FirstSeconds = r.Seconds
			fmt.Fprintf(p.cmd.ErrOrStderr(), "%d %s edits of a %dx%d-cell hole in %.2fs\n", e.N, e.Method, hole.R1-hole.R0+1, hole.C1-hole.C0+1, r.Seconds)
		}
		rows = append(rows, editPanel(im, keep, r.Images, m.Image.Channels, s, gh, gw)...)
		res.Images++
	}
	if err := datasets.WriteGridPNG(p.path(editsPNG), rows, 3, s, s, 2+e.N); err != nil {
		return nil, err
	}
	return res, nil
}

// evalRunResult is the sample evaluation, or Skipped with a reason.
type evalRunResult struct {
	Skipped      string      `json:"skipped,omitempty"`
	Eval         *sampleEval `json:"eval,omitempty"`
	ImagesPerSec float64     `json:"images_per_s,omitempty"`
}

// UnmarshalJSON reads back what sampleEval.MarshalJSON flattened.
func (s *sampleEval) UnmarshalJSON(b []byte) error {
	var aux struct {
		Reference  evaluate.Metrics `json:"reference"`
		Classifier classifierCard   `json:"classifier"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s.Metrics); err != nil {
		return err
	}
	s.Reference, s.Classifier = aux.Reference, aux.Classifier
	return nil
}

func (p *pipeline) eval() (any, error) {
	n := p.cfg.Run.EvalSamples
	if n == 0 {
		fmt.Fprintln(p.cmd.ErrOrStderr(), "[run] eval_samples = 0: sample evaluation skipped")
		return evalRunResult{Skipped: "[run] eval_samples = 0"}, nil
	}
	m, ck, err := loadPair(p.path(vqvae.BestFile), p.path(prior.BestFile))
	if err != nil {
		return nil, err
	}
	if m.Image.ImageSize != evaluate.ImageSize || m.Image.Channels != 1 {
		msg := fmt.Sprintf("the MNIST judge needs 28x28 grayscale images, the VQ-VAE makes %dx%dx%d", m.Image.ImageSize, m.Image.ImageSize, m.Image.Channels)
		fmt.Fprintln(p.cmd.ErrOrStderr(), msg+": sample evaluation skipped")
		return evalRunResult{Skipped: msg}, nil
	}
	c, path, err := loadJudge(p.cmd, "")
	if err != nil {
		return nil, err
	}
	// One set serves every figure: with a conditional prior the sampler
	// draws each class uniformly, so the set follows the unconditional
	// model sum_y p(y) p(x|y) and its classes give cond_accuracy.
	r, err := drawImages(p.cmd, "eval samples", m, ck.Prior, p.sampleOptions(ck.Prior.Info(), n, p.cfg.Sample.Seed+2))
	if err != nil {
		return nil, err
	}
	e, err := judge(c, path, r.Images, r.Grids.Classes)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	printSampleEval(&buf, e, fmt.Sprintf("%d samples", n))
	p.cmd.ErrOrStderr().Write(buf.Bytes())
	return evalRunResult{Eval: e, ImagesPerSec: r.ImagesPerSec}, nil
}
