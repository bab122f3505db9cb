package prior

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	// MetaTrainCodesName and MetaTrainCodesSHA256 identify the code file
	// the prior was trained on by base name and content, not location, so
	// that scoring finds its unigram baseline by itself after the run
	// folder was moved or shared (see CodesRef).
	MetaTrainCodesName   = "vqgen.prior.train_codes_name"
	MetaTrainCodesSHA256 = "vqgen.prior.train_codes_sha256"
	// MetaTrainCodesLegacy is the absolute path that checkpoints written
	// before names and hashes recorded instead; it is still read.
	MetaTrainCodesLegacy = "vqgen.prior.train_codes"
	MetaFingerprint      = "vqgen.vqvae_fingerprint"
	MetaConfig           = "vqgen.config"
	MetaStep             = "vqgen.step"
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
	TrainCodes  CodesRef // the training code file as recorded
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
// if not empty, is the code file it was trained on, recorded by base name
// and SHA-256 (never by location, so the folder can move).
func Save(path string, p Prior, cfg *configs.Config, fingerprint, trainCodes string, step int) error {
	meta := infoMeta(p.Info(), fingerprint)
	if trainCodes != "" {
		sum, err := FileSHA256(trainCodes)
		if err != nil {
			return fmt.Errorf("recording the training codes: %w", err)
		}
		meta[MetaTrainCodesName], meta[MetaTrainCodesSHA256] = filepath.Base(trainCodes), sum
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
	ref := CodesRef{Name: m[MetaTrainCodesName], SHA256: m[MetaTrainCodesSHA256], Legacy: m[MetaTrainCodesLegacy]}
	if ref.Name == "" && ref.Legacy != "" {
		ref.Name = filepath.Base(ref.Legacy)
	}
	return &Checkpoint{Prior: p, Config: cfg, Fingerprint: m[MetaFingerprint], Step: step, Path: f.Path, TrainCodes: ref}, nil
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

// CodesRef identifies a code file without saying where it is: its base name
// and the SHA-256 of its bytes.
type CodesRef struct {
	Name   string // base name, e.g. "codes-train.vqc"
	SHA256 string // hex digest of the whole file; "" when not recorded
	// Legacy is the absolute path a checkpoint written before names and
	// hashes recorded, or "".
	Legacy string
}

// ErrTrainCodesNotFound: no file matching a prior's recorded training codes
// was found where they are looked for.
var ErrTrainCodesNotFound = errors.New("the prior's training code file was not found")

// FileSHA256 returns the hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FindTrainCodes returns the path of the code file the prior was trained
// on. An explicit path is checked against the recorded hash; otherwise the
// recorded name is looked for beside the checkpoint and in the folder above
// it (a pipeline folder holds prior/prior.safetensors, prior.safetensors
// and codes-train.vqc), and an old checkpoint's absolute path is tried
// first. A candidate counts only if its hash matches the recorded one.
func (c *Checkpoint) FindTrainCodes(explicit string) (string, error) {
	ref := c.TrainCodes
	if explicit != "" {
		if ref.SHA256 == "" {
			return explicit, nil
		}
		sum, err := FileSHA256(explicit)
		if err != nil {
			return "", err
		}
		if sum != ref.SHA256 {
			return "", fmt.Errorf("%s is not the code file %s was trained on (its SHA-256 is %s, the prior recorded %s for %s)", explicit, c.Path, sum, ref.SHA256, ref.Name)
		}
		return explicit, nil
	}
	if ref.Name == "" {
		return "", fmt.Errorf("%s records no training code file: %w", c.Path, ErrTrainCodesNotFound)
	}
	dir := filepath.Dir(c.Path)
	var tried []string
	for _, cand := range []string{ref.Legacy, filepath.Join(dir, ref.Name), filepath.Join(filepath.Dir(dir), ref.Name)} {
		if cand == "" || slices.Contains(tried, cand) {
			continue
		}
		tried = append(tried, cand)
		if _, err := os.Stat(cand); err != nil {
			continue
		}
		if ref.SHA256 == "" {
			return cand, nil
		}
		if sum, err := FileSHA256(cand); err == nil && sum == ref.SHA256 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%s was trained on %s (SHA-256 %s); no such file in %s: %w", c.Path, ref.Name, ref.SHA256, strings.Join(tried, ", "), ErrTrainCodesNotFound)
}
