package prior

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
)

// Metadata keys of a prior checkpoint. The VQ-VAE fingerprint ties a prior to
// the codes it was trained on; the sampler refuses a prior and a VQ-VAE that
// do not belong together.
const (
	MetaKind    = "vqgen.kind" // "prior"
	MetaArch    = "vqgen.prior.arch"
	MetaK       = "vqgen.prior.k"
	MetaGridH   = "vqgen.prior.grid_h"
	MetaGridW   = "vqgen.prior.grid_w"
	MetaClasses = "vqgen.prior.classes"
	// MetaTrainCodes is the absolute path of the code file the prior was
	// trained on, so that scoring finds its unigram baseline by itself.
	MetaTrainCodes  = "vqgen.prior.train_codes"
	MetaFingerprint = "vqgen.vqvae_fingerprint"
	MetaConfig      = "vqgen.config"
	MetaStep        = "vqgen.step"
)

// New builds the prior that cfg.Prior.Arch names.
func New(cfg *configs.Config, info Info, rng *nn.RNG) (Prior, error) {
	info.Arch = cfg.Prior.Arch
	switch cfg.Prior.Arch {
	case "pixelcnn":
		return NewPixelCNN(cfg.Prior.PixelCNN, info, rng)
	case "transformer":
		return NewTransformer(cfg.Prior.Transformer, info, rng)
	}
	return nil, fmt.Errorf("prior.arch = %q: want pixelcnn or transformer", cfg.Prior.Arch)
}

// Checkpoint is a loaded prior with what its file records.
type Checkpoint struct {
	Prior       Prior
	Config      *configs.Config
	Fingerprint string // of the VQ-VAE whose codes trained it
	Step        int
	Path        string
	TrainCodes  string // the training code file as recorded, or ""
}

func infoMeta(info Info, fingerprint string) map[string]string {
	return map[string]string{
		MetaKind:        "prior",
		MetaArch:        info.Arch,
		MetaK:           strconv.Itoa(info.K),
		MetaGridH:       strconv.Itoa(info.H),
		MetaGridW:       strconv.Itoa(info.W),
		MetaClasses:     strconv.Itoa(info.Classes),
		MetaFingerprint: fingerprint,
	}
}

// Save writes p's parameters and identity to path (atomically); trainCodes,
// if not empty, is the code file it was trained on, recorded as an absolute
// path.
func Save(path string, p Prior, cfg *configs.Config, fingerprint, trainCodes string, step int) error {
	meta := infoMeta(p.Info(), fingerprint)
	if trainCodes != "" {
		if abs, err := filepath.Abs(trainCodes); err == nil {
			meta[MetaTrainCodes] = abs
		}
	}
	s, err := cfg.Encode()
	if err != nil {
		return err
	}
	meta[MetaConfig] = string(s)
	meta[MetaStep] = strconv.Itoa(step)
	return nn.SaveParams(path, p.Params(), meta)
}

// Load reads a prior checkpoint written by Save.
func Load(path string) (*Checkpoint, error) {
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		return nil, err
	}
	return fromFile(f)
}

func fromFile(f *nn.SafetensorsFile) (*Checkpoint, error) {
	m := f.Metadata
	if m[MetaKind] != "prior" {
		return nil, fmt.Errorf("%s: not a prior checkpoint (metadata %s = %q)", f.Path, MetaKind, m[MetaKind])
	}
	cfg, err := configs.Parse([]byte(m[MetaConfig]), f.Path+" (stored config)")
	if err != nil {
		return nil, err
	}
	info := Info{Arch: m[MetaArch]}
	for key, dst := range map[string]*int{MetaK: &info.K, MetaGridH: &info.H, MetaGridW: &info.W, MetaClasses: &info.Classes} {
		v, err := strconv.Atoi(m[key])
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: metadata %s = %q is not a count", f.Path, key, m[key])
		}
		*dst = v
	}
	if info.Arch != cfg.Prior.Arch {
		return nil, fmt.Errorf("%s: metadata says arch %q but its config says %q", f.Path, info.Arch, cfg.Prior.Arch)
	}
	p, err := New(cfg, info, nn.NewRNG(0))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	if err := assignParams(f, p); err != nil {
		return nil, err
	}
	step, _ := strconv.Atoi(m[MetaStep])
	return &Checkpoint{Prior: p, Config: cfg, Fingerprint: m[MetaFingerprint], Step: step, Path: f.Path, TrainCodes: m[MetaTrainCodes]}, nil
}

// CheckMatches refuses a prior trained on codes of another VQ-VAE, or one
// whose K or grid differ from the VQ-VAE's.
func (c *Checkpoint) CheckMatches(vqFingerprint string, k, h, w int) error {
	info := c.Prior.Info()
	if c.Fingerprint != vqFingerprint {
		return fmt.Errorf("%s was trained on codes of the VQ-VAE with fingerprint %s, not %s: use the prior and VQ-VAE of the same run", c.Path, c.Fingerprint, vqFingerprint)
	}
	if info.K != k || info.H != h || info.W != w {
		return fmt.Errorf("%s models %dx%d grids of K=%d codes; the VQ-VAE makes %dx%d grids of K=%d", c.Path, info.H, info.W, info.K, h, w, k)
	}
	return nil
}

// assignParams loads f's tensors into p. A conditional prior written before
// the null class existed has class tables of Classes rows instead of
// Classes+1; it gets an error that says so rather than a bare shape
// mismatch.
func assignParams(f *nn.SafetensorsFile, p Prior) error {
	if c := p.Info().Classes; c > 0 {
		for _, q := range p.Params() {
			if !strings.HasSuffix(q.Name, "wcls.weight") && !strings.HasSuffix(q.Name, ".cond.weight") {
				continue
			}
			e, ok := f.Entry(q.Name)
			if ok && len(e.Shape) == 2 && e.Shape[0] == c && len(q.Data.Shape) == 2 && q.Data.Shape[0] == c+1 {
				return fmt.Errorf("%s: tensor %q has shape %v, this version wants %v: the checkpoint predates the null class (class %d, \"no class given\") that classifier-free guidance needs; retrain the prior", f.Path, q.Name, e.Shape, q.Data.Shape, c)
			}
		}
	}
	return f.AssignParams(p.Params())
}
