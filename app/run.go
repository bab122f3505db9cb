package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/atomicfile"
	"github.com/vqgen/vqgen/internal/crashpoint"
	"github.com/vqgen/vqgen/internal/memguard"
	"github.com/vqgen/vqgen/internal/rundir"
	"github.com/vqgen/vqgen/sampler/evaluate"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// Files of a pipeline folder (besides those of TrainVQVAE, which trains in
// it, and the prior's training folder PriorDir).
const (
	RunStateFile   = "run-state.json"
	CodesTrainFile = "codes-train.vqc"
	CodesTestFile  = "codes-test.vqc"
	PriorDir       = "prior"
	SamplesPNG     = "samples.png"
	TestReconPNG   = "test-recon.png"
	NeighboursPNG  = "neighbours.png"
	ByClassPNG     = "samples-by-class.png"
	EditsPNG       = "edits.png"
	ReportMD       = "report.md"
	ReportJSON     = "report.json"
)

// editExamples is how many test images the run's edit picture shows.
const editExamples = 4

// reportImages is how many test images test-recon.png shows, and how many
// samples neighbours.png puts beside their nearest training images.
const reportImages = 16

// RunOptions configure the whole pipeline.
type RunOptions struct {
	// Config is a config file or a built-in name; "" is DefaultConfig.
	// Loaded, when set, is used instead (Config then only names it in
	// the report).
	Config string          `json:"config"`
	Loaded *configs.Config `json:"-"`
	// DataFlags name the data over the config's data.train and
	// data.test; the config the folder records (config.toml) holds the
	// data used, so continuing a run with other data is refused as a
	// changed config.
	DataFlags
	// Out is the run folder.
	Out string `json:"out"`
	// Force deletes an earlier run in Out (only a folder vqgen made) and
	// starts over; without it a folder made with another config, or any
	// other non-empty folder, is refused.
	Force bool `json:"force"`
	// CacheDir overrides the user cache folder of the sample judge.
	CacheDir string `json:"-"`
}

// RunResult says what a pipeline run did.
type RunResult struct {
	Dir     string   `json:"dir"`
	Ran     []string `json:"ran"` // stages this call ran; none when all were done
	Seconds float64  `json:"seconds"`
	Report  string   `json:"report"` // report.md
	JSON    string   `json:"json"`   // report.json
}

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
	outputs     []string
	run         func(p *pipeline) (any, error)
}

// Stages names the pipeline's stages in order, as RunResult.Ran lists them.
func Stages() []string {
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.name
	}
	return names
}

var stages = []stage{
	{"stage1", "train the VQ-VAE", []string{VQVAEFile, TestReconPNG}, (*pipeline).stage1},
	{"encode", "encode the train and test splits", []string{CodesTrainFile, CodesTestFile}, (*pipeline).encode},
	{"prior", "train the prior", []string{PriorFile}, (*pipeline).prior},
	{"sample", "draw samples", []string{SamplesPNG, NeighboursPNG}, (*pipeline).sample},
	{"edit", "edit test images", []string{EditsPNG}, (*pipeline).edit},
	{"eval", "judge samples", nil, (*pipeline).eval},
	{"report", "write the report", []string{ReportMD, ReportJSON}, (*pipeline).report},
}

// pipeline is one Run in progress.
type pipeline struct {
	ctx  context.Context
	prog Progress
	opt  RunOptions
	cfg  *configs.Config
	// resolved is cfg with what the data decides filled in
	// (prior.conditional = "auto").
	resolved *configs.Config
	dir      string
	state    *runState
}

func (p *pipeline) path(name string) string { return filepath.Join(p.dir, name) }

// Run does everything in one folder: trains the VQ-VAE, encodes the train
// and test splits, trains the prior, draws samples, edits test images,
// judges samples and writes report.md and report.json. Run it again on the
// same folder to continue: finished stages (recorded in run-state.json, with
// their outputs present) are skipped, an interrupted training resumes from
// its last checkpoint, and every stage after one that ran runs again.
func Run(ctx context.Context, o RunOptions, prog Progress) (*RunResult, error) {
	prog = nop(prog)
	cfg, err := resolveConfig(o.Loaded, o.Config)
	if err != nil {
		return nil, err
	}
	if o.Config == "" {
		o.Config = DefaultConfig
	}
	if cfg, err = withData(cfg, o.Config, o.DataFlags); err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, optionErr("out", `"": give the run folder`)
	}
	// Every stage's config against the data, and the memory it needs,
	// before any work.
	resolved, err := checkData(cfg)
	if err != nil {
		return nil, err
	}
	if err := memguard.Check(memguard.Run(resolved)...); err != nil {
		return nil, err
	}
	text, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	st, err := openRunDir(o.Out, string(text), o.Force)
	if err != nil {
		return nil, err
	}
	p := &pipeline{ctx: ctx, prog: crashProgress{prog}, opt: o, cfg: cfg, resolved: resolved, dir: o.Out, state: st}
	if err := p.saveState(); err != nil {
		return nil, err
	}
	res := &RunResult{Dir: p.dir, Report: p.path(ReportMD), JSON: p.path(ReportJSON)}
	start := time.Now()
	redo := false // a stage ran, so every later one must run again
	for i, s := range stages {
		if !redo && p.done(s) {
			prog.Note(fmt.Sprintf("[%d/%d] %s: done earlier, skipped", i+1, len(stages), s.title))
			continue
		}
		redo = true
		crashpoint.Enter(s.name)
		// Mark it unfinished first, so a crash mid-stage is not
		// mistaken for a finished stage with stale outputs.
		delete(p.state.Stages, s.name)
		if err := p.saveState(); err != nil {
			return nil, err
		}
		prog.Note(fmt.Sprintf("[%d/%d] %s", i+1, len(stages), s.title))
		t0 := time.Now()
		out, err := s.run(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.title, err)
		}
		raw, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		p.state.Stages[s.name] = &stageState{Done: true, Seconds: time.Since(t0).Seconds(), Result: raw}
		res.Ran = append(res.Ran, s.name)
		if err := p.saveState(); err != nil {
			return nil, err
		}
	}
	crashpoint.Enter("")
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// crashProgress makes every progress update of the pipeline a moment at
// which a crash test may kill it (see internal/crashpoint).
type crashProgress struct{ Progress }

func (c crashProgress) Update(done int, fields ...Field) {
	c.Progress.Update(done, fields...)
	crashpoint.Hit()
}

// openRunDir applies the folder policy and returns the state to continue
// from (fresh when starting over).
func openRunDir(dir string, cfgText string, force bool) (*runState, error) {
	fresh := &runState{Version: 1, Config: cfgText, Stages: map[string]*stageState{}}
	b, err := os.ReadFile(filepath.Join(dir, RunStateFile))
	switch {
	case err == nil:
		var st runState
		if jerr := json.Unmarshal(b, &st); jerr != nil {
			if !force {
				return nil, fmt.Errorf("%s: unreadable run state (%v): %w", filepath.Join(dir, RunStateFile), jerr, ErrConfigChanged)
			}
		} else if st.Config != cfgText && !force {
			return nil, fmt.Errorf("%s holds a run made with a different config (see %s): %w", dir, filepath.Join(dir, ConfigFile), ErrConfigChanged)
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
			return nil, fmt.Errorf("%w and holds no vqgen run (no %s)", err, RunStateFile)
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
	return atomicfile.WriteFile(p.path(RunStateFile), append(b, '\n'), true)
}

// done reports whether a stage finished and its outputs are still there.
func (p *pipeline) done(s stage) bool {
	st := p.state.Stages[s.name]
	if st == nil || !st.Done {
		return false
	}
	for _, o := range s.outputs {
		if _, err := os.Stat(p.path(o)); err != nil {
			return false
		}
	}
	return true
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
	// Recon names the test images of test-recon.png, left to right.
	Recon []ImageRef `json:"test_recon"`
}

// ImageRef names one image of a dataset: its index, and its key (the
// file, relative to the folder) where it has one.
type ImageRef struct {
	Index int    `json:"index"`
	Key   string `json:"key,omitempty"`
}

func (r ImageRef) String() string {
	if r.Key != "" {
		return r.Key
	}
	return fmt.Sprintf("#%d", r.Index)
}

// imageRefs names images idx of ds.
func imageRefs(ds *datasets.Dataset, idx []int) []ImageRef {
	refs := make([]ImageRef, len(idx))
	for i, j := range idx {
		refs[i].Index = j
		if ds.Keys != nil {
			refs[i].Key = ds.Keys[j]
		}
	}
	return refs
}

// spread picks n indices of [0, total) spaced evenly, so a picture shows
// images from across a folder (sorted by file name, neighbouring files
// are often crops of one photograph).
func spread(n, total int) []int {
	n = min(n, total)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i * total / n
	}
	return idx
}

func (p *pipeline) stage1() (any, error) {
	if _, err := TrainVQVAE(p.ctx, TrainVQVAEOptions{Config: p.opt.Config, Loaded: p.cfg, TrainFolder: TrainFolder{Out: p.dir, Resume: true}}, p.prog); err != nil {
		return nil, err
	}
	v, err := LoadVQVAE(p.path(VQVAEFile))
	if err != nil {
		return nil, err
	}
	test, err := vqvae.LoadTest(p.cfg, dataOptions(p.dir, p.prog))
	if err != nil {
		return nil, err
	}
	e := v.m.Evaluate(test, 0, 500)
	p.prog.Note(fmt.Sprintf("test split (%d images): MSE %.5f, PSNR %.2f dB, perplexity %.1f, codes used %d/%d",
		e.Images, e.MSE, e.PSNR, e.Perplexity, e.CodesUsed, e.K))
	idx := spread(reportImages, test.N)
	if err := v.writeRecon(test, idx, p.path(TestReconPNG), true); err != nil {
		return nil, err
	}
	return stage1Result{e.MSE, e.PSNR, e.Perplexity, e.CodesUsed, e.K, e.Images, imageRefs(test, idx)}, nil
}

type encodeResult struct {
	TrainImages   int     `json:"train_images"`
	TestImages    int     `json:"test_images"`
	BytesPerImage float64 `json:"bytes_per_image"`
	RawImageBytes int     `json:"raw_image_bytes"`
}

func (p *pipeline) encode() (any, error) {
	v, err := LoadVQVAE(p.path(VQVAEFile))
	if err != nil {
		return nil, err
	}
	// Stale files from an interrupted stage are replaced: the state says
	// they are not finished results.
	var enc [2]*Encoded
	for i, split := range []struct{ data, file string }{{"train", CodesTrainFile}, {"test", CodesTestFile}} {
		ds, err := v.loadData(split.data, 0, dataOptions(p.dir, p.prog))
		if err != nil {
			return nil, err
		}
		if enc[i], err = v.encodeFile(p.ctx, ds, p.path(split.file), true, p.prog); err != nil {
			return nil, err
		}
		e := enc[i]
		p.prog.Note(fmt.Sprintf("encoded %d images of %s in %.1fs (%.0f images/s): %s, %d bytes (%.1f bytes/image)",
			e.Images, e.Data, e.Seconds, float64(e.Images)/e.Seconds, e.Path, e.Bytes, e.BytesPerImage))
	}
	return encodeResult{enc[0].Images, enc[1].Images, enc[0].BytesPerImage, enc[0].RawImageBytes}, nil
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
	pd := p.path(PriorDir)
	res, err := TrainPrior(p.ctx, TrainPriorOptions{Config: p.opt.Config, Loaded: p.cfg, Codes: p.path(CodesTrainFile),
		TrainFolder: TrainFolder{Out: pd, Resume: true}}, p.prog)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(pd, PriorFile))
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(p.path(PriorFile), b, true); err != nil {
		return nil, err
	}
	// Unigram fitted on the prior's training part, both scored on the
	// test codes.
	ev, err := EvalPrior(p.ctx, EvalPriorOptions{Prior: p.path(PriorFile), Codes: p.path(CodesTestFile), TrainCodes: p.path(CodesTrainFile)}, p.prog)
	if err != nil {
		return nil, err
	}
	p.prog.Note(fmt.Sprintf("test codes: %.2f bits/image (unigram %.2f)", ev.BitsPerImage, ev.UnigramBitsPerImage))
	return priorRunResult{ev.Arch, p.resolved.Prior.Conditional == configs.SwitchOn, ev.BitsPerImage, ev.BitsPerCode, ev.UnigramBitsPerImage,
		res.Val.BitsPerImage, res.GridsPerSecond}, nil
}

// SampleSet records one set of samples a run drew: the file it went to
// ("" for the evaluation set, which is judged, not saved) and the exact
// options, so that Models.Sample (vqgen sample) draws it again.
type SampleSet struct {
	File    string        `json:"file,omitempty"`
	Options SampleOptions `json:"options"`
}

type sampleRunResult struct {
	N            int        `json:"n"`
	ImagesPerSec float64    `json:"images_per_s"`
	PerClass     int        `json:"per_class"`
	Set          SampleSet  `json:"set"`
	ByClass      *SampleSet `json:"by_class,omitempty"`
	// Neighbours are the first samples' nearest training images.
	Neighbours Neighbours `json:"neighbours"`
}

// Neighbours put samples beside their nearest training images (by pixel
// distance), and test images beside theirs for comparison: samples much
// nearer to training images than unseen test images are copies, not new
// images.
type Neighbours struct {
	File string `json:"file"` // neighbours.png
	// Samples are the nearest two training images of each of the first
	// samples of samples.png, nearest first.
	Samples [][]Neighbour `json:"samples"`
	// Test are the nearest two training images of test images, spread
	// across the test split (TestImages).
	Test       [][]Neighbour `json:"test"`
	TestImages []ImageRef    `json:"test_images"`
	// SampleMedianRMSE and TestMedianRMSE are the median distances to
	// the nearest training image.
	SampleMedianRMSE float64 `json:"sample_median_rmse"`
	TestMedianRMSE   float64 `json:"test_median_rmse"`
	// Mirrored: training images counted mirrored too (data.flip).
	Mirrored       bool `json:"mirrored"`
	TrainingImages int  `json:"training_images"`
}

func (p *pipeline) models() (*Models, error) {
	return LoadModels(p.path(VQVAEFile), p.path(PriorFile))
}

func (p *pipeline) sample() (any, error) {
	m, err := p.models()
	if err != nil {
		return nil, err
	}
	opt := m.SampleDefaults()
	r, err := m.Sample(p.ctx, opt, p.prog)
	if err != nil {
		return nil, err
	}
	if err := m.SaveSamples(r, SampleFiles{Grid: p.path(SamplesPNG), Force: true}); err != nil {
		return nil, err
	}
	p.prog.Note(fmt.Sprintf("%d samples at %.1f images/s (sampling and decoding)", len(r.Images), r.ImagesPerSec))
	res := sampleRunResult{N: len(r.Images), ImagesPerSec: r.ImagesPerSec, Set: SampleSet{SamplesPNG, r.Options}}
	if res.Neighbours, err = p.neighbours(r.Images[:min(reportImages, len(r.Images))]); err != nil {
		return nil, err
	}
	if pc := p.cfg.Run.PerClass; m.Prior().Classes > 0 && pc > 0 {
		opt.PerClass, opt.Seed = pc, opt.Seed+1
		rc, err := m.Sample(p.ctx, opt, p.prog)
		if err != nil {
			return nil, err
		}
		if err := m.SaveSamples(rc, SampleFiles{Grid: p.path(ByClassPNG), Force: true}); err != nil {
			return nil, err
		}
		res.PerClass, res.ByClass = pc, &SampleSet{ByClassPNG, rc.Options}
	} else {
		os.Remove(p.path(ByClassPNG))
	}
	return res, nil
}

// neighbours finds the nearest training images of samples and of test
// images and draws neighbours.png: each sample, then its nearest and second
// nearest training image (mirrored where they match mirrored).
func (p *pipeline) neighbours(samples [][]float32) (Neighbours, error) {
	do := dataOptions(p.dir, p.prog)
	train, err := vqvae.LoadTrain(p.cfg, do)
	if err != nil {
		return Neighbours{}, err
	}
	test, err := vqvae.LoadTest(p.cfg, do)
	if err != nil {
		return Neighbours{}, err
	}
	flip := p.cfg.Data.Flip
	idx := spread(len(samples), test.N)
	queries := append([][]float32(nil), samples...)
	for _, i := range idx {
		queries = append(queries, test.Image(i))
	}
	p.prog.Note(fmt.Sprintf("nearest training images of %d samples and %d test images among %d", len(samples), len(idx), train.N))
	found := nearestImages(train, queries, 2, flip)
	res := Neighbours{File: NeighboursPNG, Samples: found[:len(samples)], Test: found[len(samples):], TestImages: imageRefs(test, idx),
		Mirrored: flip, TrainingImages: train.N}
	res.SampleMedianRMSE, res.TestMedianRMSE = medianNearest(res.Samples), medianNearest(res.Test)
	var rows [][]float32
	for i, s := range samples {
		rows = append(rows, s)
		for j := range 2 {
			if j >= len(res.Samples[i]) {
				rows = append(rows, make([]float32, len(s)))
				continue
			}
			nb := res.Samples[i][j]
			im := train.Image(nb.Index)
			if nb.Mirrored {
				im = mirrorFloat(im, train.W)
			}
			rows = append(rows, im)
		}
	}
	if err := WriteGridPNG(p.path(NeighboursPNG), rows, train.C, train.H, 3, true); err != nil {
		return Neighbours{}, err
	}
	return res, nil
}

// medianNearest is the median distance to the nearest neighbour.
func medianNearest(found [][]Neighbour) float64 {
	var d []float64
	for _, f := range found {
		if len(f) > 0 {
			d = append(d, f[0].RMSE)
		}
	}
	if len(d) == 0 {
		return math.NaN()
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// mirrorFloat flips a CHW image left to right.
func mirrorFloat(im []float32, w int) []float32 {
	out := make([]float32, len(im))
	for row := 0; row < len(im); row += w {
		for x := 0; x < w; x++ {
			out[row+x] = im[row+w-1-x]
		}
	}
	return out
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
	// Options are the first row's; row i is drawn with seed + i and its
	// image's own label as the class.
	Options EditOptions `json:"options"`
	// Edited names the test images edited, one row each, spread across
	// the test split (neighbouring files of a folder are often crops of
	// one photograph).
	Edited []ImageRef `json:"edited"`
}

func (p *pipeline) edit() (any, error) {
	m, err := p.models()
	if err != nil {
		return nil, err
	}
	test, err := vqvae.LoadTest(p.cfg, dataOptions(p.dir, p.prog))
	if err != nil {
		return nil, err
	}
	s := m.VQVAE.Shape()
	keep, hole := s.CentreHole()
	base := m.EditDefaults("")
	res := editRunResult{Method: base.Method, Sweeps: base.Sweeps, N: base.N, Hole: hole}
	if base.Method == MethodRaster {
		res.Sweeps = 0
	}
	classes := m.Prior().Classes
	var rows [][]float32
	for i, j := range spread(editExamples, test.N) {
		opt := base
		opt.Seed += uint64(i)
		if classes > 0 {
			if test.Labels == nil {
				return nil, fmt.Errorf("the prior is class-conditional but %s has no labels", p.cfg.Data.Test)
			}
			opt.Class = int(test.Labels[j])
		}
		im := test.Image(j)
		grid, err := m.VQVAE.Encode([][]float32{im})
		if err != nil {
			return nil, err
		}
		r, err := m.Edit(p.ctx, grid, keep, opt, p.prog)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			res.FirstSeconds, res.Options = r.Seconds, opt
			p.prog.Note(fmt.Sprintf("%d %s edits of a %s-cell hole in %.2fs", opt.N, opt.Method, hole, r.Seconds))
		}
		rows = append(rows, EditPanel(im, keep, r.Images, s)...)
		res.Images++
		res.Edited = append(res.Edited, imageRefs(test, []int{j})...)
	}
	if err := WriteGridPNG(p.path(EditsPNG), rows, 3, s.Size, 2+base.N, true); err != nil {
		return nil, err
	}
	return res, nil
}

// evalRunResult is the sample evaluation, or Skipped with a reason.
type evalRunResult struct {
	Skipped      string      `json:"skipped,omitempty"`
	Eval         *SampleEval `json:"eval,omitempty"`
	ImagesPerSec float64     `json:"images_per_s,omitempty"`
	Set          *SampleSet  `json:"set,omitempty"`
}

func (p *pipeline) eval() (any, error) {
	skip := func(why string) (any, error) {
		p.prog.Note("sample evaluation skipped: " + why)
		return evalRunResult{Skipped: why}, nil
	}
	// The judge is a digit classifier: on other images its confidence
	// and classes say nothing. Image folders are photos or drawings of
	// the user's, never taken for digits; IDX files are MNIST's format.
	if sp, err := datasets.ParseSpec(p.cfg.Data.Train); err == nil && sp.Kind == "images" {
		return skip(fmt.Sprintf("the judge is an MNIST digit classifier and data.train = %s is a folder of your own images; %s shows each sample beside its nearest training images instead", p.cfg.Data.Train, NeighboursPNG))
	}
	n := p.cfg.Run.EvalSamples
	if n == 0 {
		return skip("[run] eval_samples = 0")
	}
	m, err := p.models()
	if err != nil {
		return nil, err
	}
	if s := m.VQVAE.Shape(); s.Size != evaluate.ImageSize || s.Channels != 1 {
		return skip(fmt.Sprintf("the judge is an MNIST digit classifier for 28x28 grey images, the VQ-VAE makes %dx%dx%d", s.Size, s.Size, s.Channels))
	}
	c, path, err := loadJudge(p.ctx, "", p.opt.CacheDir, p.prog)
	if err != nil {
		return nil, err
	}
	// One set serves every figure: with a conditional prior the sampler
	// draws each class uniformly, so the set follows the unconditional
	// model sum_y p(y) p(x|y) and its classes give cond_accuracy.
	opt := m.SampleDefaults()
	opt.N, opt.Seed = n, opt.Seed+2
	r, err := m.Sample(p.ctx, opt, p.prog)
	if err != nil {
		return nil, err
	}
	e, err := judge(c, path, r.Images, r.Classes)
	if err != nil {
		return nil, err
	}
	p.prog.Note(fmt.Sprintf("%d samples: share judged with confidence >= 0.9 %.3f (real digits %.3f)", n, e.ShareConf09, e.Reference.ShareConf09))
	return evalRunResult{Eval: e, ImagesPerSec: r.ImagesPerSec, Set: &SampleSet{Options: r.Options}}, nil
}
