package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/atomicfile"
	"github.com/vqgen/vqgen/internal/memguard"
	"github.com/vqgen/vqgen/internal/metrics"
	"github.com/vqgen/vqgen/internal/rundir"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Files of a training folder.
const (
	VQVAEFile     = vqvae.BestFile // best VQ-VAE on validation: the one later stages use
	VQVAELastFile = vqvae.LastFile // everything needed to resume stage one
	PriorFile     = prior.BestFile // best prior on validation: the sampler's
	PriorLastFile = prior.LastFile // everything needed to resume stage two
	ConfigFile    = "config.toml"  // the resolved config a folder was trained with
	MetricsFile   = metrics.FileName
)

// TrainFolder says where a training writes and what to do with a folder
// that already holds files.
type TrainFolder struct {
	// Out is the folder; it gets the checkpoints, metrics.jsonl, the
	// resolved config.toml and plots.
	Out string `json:"out"`
	// Resume continues the run in Out from its last checkpoint (a folder
	// without one starts afresh).
	Resume bool `json:"resume"`
	// Force deletes an earlier run in Out (only a folder vqgen made) and
	// starts over. Resume and Force exclude each other.
	Force bool `json:"force"`
}

// prepare applies the folder policy and reports whether a checkpoint named
// lastFile exists to resume from.
func (f TrainFolder) prepare(lastFile string) (resume bool, err error) {
	if f.Out == "" {
		return false, optionErr("out", `"": give the output folder`)
	}
	mode := rundir.Fresh
	switch {
	case f.Resume && f.Force:
		return false, optionErr("resume", "and force both set: resume continues a run, force deletes it")
	case f.Resume:
		mode = rundir.Resume
	case f.Force:
		mode = rundir.Force
	}
	if err := rundir.Prepare(f.Out, mode); err != nil {
		return false, err
	}
	if mode != rundir.Resume {
		return false, nil
	}
	_, err = os.Stat(filepath.Join(f.Out, lastFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// writeConfig saves the config a run uses as DIR/config.toml.
func writeConfig(dir string, cfg *configs.Config) error {
	b, err := cfg.Encode()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ConfigFile), b, true)
}

// TrainVQVAEOptions configure stage one.
type TrainVQVAEOptions struct {
	// Config is a config file or a built-in name (see BuiltinConfigs); "" is
	// DefaultConfig. Loaded, when set, is used instead.
	Config string          `json:"config"`
	Loaded *configs.Config `json:"-"`
	// DataFlags name the data over the config's data.train and data.test.
	DataFlags
	TrainFolder
}

// VQVAETraining is what a stage-one training produced.
type VQVAETraining struct {
	Best    string     `json:"best"`    // the best checkpoint on validation
	Val     *VQVAEEval `json:"val"`     // the last validation score
	Resumed int        `json:"resumed"` // the step it resumed at (0: fresh)
}

// TrainVQVAE trains the stage-one VQ-VAE: every eval_every steps it is
// scored on the validation split (carved from the end of the training
// split; the test split is never used to choose), the best model so far is
// Out/vqvae.safetensors and Out/last.safetensors holds everything needed to
// resume. Cancelling ctx saves a checkpoint and returns an error matching
// ErrInterrupted. Out also gets metrics.jsonl, config.toml, loss.png,
// psnr.png, perplexity.png and recon.png (validation originals above their
// reconstructions).
func TrainVQVAE(ctx context.Context, o TrainVQVAEOptions, prog Progress) (*VQVAETraining, error) {
	prog = nop(prog)
	cfg, err := resolveConfig(o.Loaded, o.Config)
	if err != nil {
		return nil, err
	}
	if cfg, err = withData(cfg, cmp.Or(o.Config, DefaultConfig), o.DataFlags); err != nil {
		return nil, err
	}
	if err := memguard.Check(memguard.TrainVQVAE(cfg)); err != nil {
		return nil, err
	}
	resume, err := o.prepare(vqvae.LastFile)
	if err != nil {
		return nil, err
	}
	if _, err := checkData(cfg); err != nil {
		return nil, err
	}
	train, val, _, err := vqvae.LoadData(cfg, dataOptions(o.Out, prog))
	if err != nil {
		return nil, err
	}
	tr, err := vqvae.NewTrainer(cfg, train, val, o.Out, resume)
	if err != nil {
		return nil, err
	}
	if err := writeConfig(o.Out, cfg); err != nil {
		return nil, err
	}
	tc := cfg.VQVAE.Train
	res := &VQVAETraining{Best: filepath.Join(o.Out, vqvae.BestFile), Resumed: tr.Step}
	if resume {
		prog.Note(fmt.Sprintf("resuming %s at step %d of %d", o.Out, tr.Step, tc.Steps))
	}
	prog.Note(fmt.Sprintf("training VQ-VAE on %s (%d images, %d for validation): K=%d, d=%d, %d steps of %d",
		cfg.Data.Train, train.N, val.N, cfg.VQVAE.K, cfg.VQVAE.D, tc.Steps, tc.Batch))
	if err := tr.Run(ctx, prog); err != nil {
		return nil, err
	}
	res.Val = tr.LastEval
	best, err := LoadVQVAE(res.Best)
	if err != nil {
		return nil, err
	}
	if err := best.writeRecon(val, spread(16, val.N), filepath.Join(o.Out, "recon.png"), true); err != nil {
		return nil, err
	}
	return res, nil
}

// writeRecon saves images idx of ds in one row and their reconstructions
// in the row below.
func (v *VQVAE) writeRecon(ds *datasets.Dataset, idx []int, path string, force bool) error {
	n := len(idx)
	x, _ := ds.Batch(idx, nil, nil)
	orig := x.Clone()
	s := v.Shape()
	codes := make([]int32, n*s.Cells())
	v.mu.Lock()
	v.m.Encode(x, codes)
	rec, err := v.m.Decode(codes, n)
	v.mu.Unlock()
	if err != nil {
		return err
	}
	both := nn.NewTensor(2*n, ds.C, ds.H, ds.W)
	copy(both.Data, orig.Data)
	copy(both.Data[len(orig.Data):], rec.Data)
	ims, c, h, _, err := datasets.TensorImages(both)
	if err != nil {
		return err
	}
	return WriteGridPNG(path, ims, c, h, n, force)
}

// TrainPriorOptions configure stage two.
type TrainPriorOptions struct {
	// Config is a config file or a built-in name; "" is DefaultConfig.
	// Loaded, when set, is used instead.
	Config string          `json:"config"`
	Loaded *configs.Config `json:"-"`
	// Codes is the training code file (written by Encode). Its last
	// prior.val_count grids are held out for validation.
	Codes string `json:"codes"`
	// Prior is the prior checkpoint that reads Codes when it is
	// prior-coded (not the prior being trained).
	Prior string `json:"prior,omitempty"`
	// Arch and Steps override prior.arch and prior.train.steps when set.
	Arch  string `json:"arch,omitempty"`
	Steps int    `json:"steps,omitempty"`
	TrainFolder
}

// PriorTraining is what a stage-two training produced.
type PriorTraining struct {
	Best           string  `json:"best"`
	Arch           string  `json:"arch"`
	Val            NLL     `json:"val"`                    // the last validation score
	UnigramVal     float64 `json:"unigram_bits_per_image"` // the baseline on the validation grids
	GridsPerSecond float64 `json:"grids_per_s"`
	Resumed        int     `json:"resumed"`
}

// NLL is a prior's negative log-likelihood on a set of grids.
type NLL = prior.NLL

// TrainPrior fits the autoregressive prior over a code file. The best prior
// on validation is Out/prior.safetensors, Out/prior-last.safetensors holds
// everything needed to resume; cancelling ctx saves it and returns an error
// matching ErrInterrupted. Out also gets metrics.jsonl, config.toml and
// loss.png.
func TrainPrior(ctx context.Context, o TrainPriorOptions, prog Progress) (*PriorTraining, error) {
	prog = nop(prog)
	cfg, err := resolveConfig(o.Loaded, o.Config)
	if err != nil {
		return nil, err
	}
	if o.Arch != "" || o.Steps != 0 {
		c := *cfg
		cfg = &c
		if o.Arch != "" {
			cfg.Prior.Arch = o.Arch
		}
		if o.Steps != 0 {
			cfg.Prior.Train.Steps = o.Steps
		}
		if err := cfg.Validate(); err != nil {
			return nil, optionErr("arch", "%s / steps %d: %v", o.Arch, o.Steps, err)
		}
	}
	if o.Codes == "" {
		return nil, optionErr("codes", `"": give the training code file (codes-train.vqc)`)
	}
	r := codeReader{path: o.Prior}
	codes, err := r.read(ctx, o.Codes, prog)
	if err != nil {
		return nil, err
	}
	if err := memguard.Check(memguard.TrainPrior(cfg, codes.N, codes.Info.Classes)); err != nil {
		return nil, err
	}
	resume, err := o.prepare(prior.LastFile)
	if err != nil {
		return nil, err
	}
	tr, err := prior.NewTrainer(cfg, codes, o.Out, resume)
	if err != nil {
		return nil, err
	}
	if err := writeConfig(o.Out, cfg); err != nil {
		return nil, err
	}
	tc := cfg.Prior.Train
	if resume {
		prog.Note(fmt.Sprintf("resuming %s at step %d of %d", o.Out, tr.Step, tc.Steps))
	}
	info := tr.Prior.Info()
	prog.Note(fmt.Sprintf("training %s prior on %s (%d grids, %d for validation; %dx%d, K=%d, classes %d): %d steps of %d; unigram baseline %.1f bits/image",
		info.Arch, o.Codes, tr.Train.N, tr.Val.N, info.H, info.W, info.K, info.Classes, tc.Steps, tc.Batch, tr.Unigram))
	res := &PriorTraining{Best: filepath.Join(o.Out, prior.BestFile), Arch: info.Arch, UnigramVal: tr.Unigram, Resumed: tr.Step}
	if err := tr.Run(ctx, prog); err != nil {
		return nil, err
	}
	res.Val, res.GridsPerSecond = tr.LastEval, tr.Rate
	return res, nil
}
