package prior

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/trainloop"
	"github.com/vqgen/vqgen/nn"
)

// Files a prior training run writes into its directory.
const (
	BestFile = "prior.safetensors"      // best on validation: the sampler's prior
	LastFile = "prior-last.safetensors" // everything needed to resume
)

// Codes is a set of code grids in memory, with optional class labels.
type Codes struct {
	Name        string // for messages: the file, with [lo:hi] for a slice
	Path        string // the code file it was read from ("" if none)
	N           int
	Info        Info    // K, H, W and Classes (0 without labels)
	Grids       []int32 // N*H*W
	Labels      []int32 // N, or nil
	Fingerprint string  // of the VQ-VAE that made them
}

// LoadCodes reads a whole code file.
func LoadCodes(path string) (*Codes, error) {
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, labels, err := f.LoadAll()
	if err != nil {
		return nil, err
	}
	h := f.Header()
	c := &Codes{Name: path, Path: path, N: int(h.Count), Info: Info{K: h.K, H: h.GridH, W: h.GridW}, Grids: make([]int32, len(raw)),
		Fingerprint: h.Fingerprint.String()}
	for i, v := range raw {
		c.Grids[i] = int32(v)
	}
	if h.Labels {
		c.Labels, c.Info.Classes = labels, h.NumClasses
	}
	return c, nil
}

// Slice returns grids [lo, hi) sharing c's arrays.
func (c *Codes) Slice(lo, hi int) *Codes {
	s := *c
	p := c.Info.Positions()
	s.N, s.Grids = hi-lo, c.Grids[lo*p:hi*p]
	if c.Labels != nil {
		s.Labels = c.Labels[lo:hi]
	}
	s.Name = fmt.Sprintf("%s[%d:%d]", c.Name, lo, hi)
	return &s
}

// Unigram is the baseline any prior must beat: every code drawn
// independently from the add-one-smoothed code frequencies of the training
// codes.
type Unigram struct{ LogProb []float64 } // log2 p(code)

// NewUnigram counts the codes of c with add-one smoothing.
func NewUnigram(c *Codes) Unigram {
	counts := make([]float64, c.Info.K)
	for _, v := range c.Grids {
		counts[v]++
	}
	total := float64(len(c.Grids) + c.Info.K)
	u := Unigram{LogProb: make([]float64, c.Info.K)}
	for k, n := range counts {
		u.LogProb[k] = math.Log2((n + 1) / total)
	}
	return u
}

// BitsPerImage is the mean NLL of c's grids under the unigram model.
func (u Unigram) BitsPerImage(c *Codes) float64 {
	var s float64
	for _, v := range c.Grids {
		s -= u.LogProb[v]
	}
	return s / float64(c.N)
}

// NLL is a prior's negative log-likelihood on a set of grids.
type NLL struct {
	BitsPerCode  float64 `json:"bits_per_code"`
	BitsPerImage float64 `json:"bits_per_image"`
	Grids        int     `json:"grids"`
}

// Evaluate returns p's mean NLL on the first limit grids of c (all if
// limit <= 0), in batches.
func Evaluate(p Prior, c *Codes, limit, batch int) NLL {
	n := c.N
	if limit > 0 && limit < n {
		n = limit
	}
	pos := c.Info.Positions()
	var ce nn.CrossEntropy
	var nats float64
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		var classes []int32
		if p.Info().Classes > 0 {
			classes = c.Labels[lo:hi]
		}
		grids := c.Grids[lo*pos : hi*pos]
		logits := p.Forward(grids, classes, hi-lo)
		nats += float64(ce.Forward(logits, grids)) * float64((hi-lo)*pos)
	}
	bpc := nats / float64(n*pos) / math.Ln2
	return NLL{BitsPerCode: bpc, BitsPerImage: bpc * float64(pos), Grids: n}
}

// Event is what the training loop reports after each step.
type Event struct {
	Step, Steps int
	BitsPerCode float64 // this batch's training loss
	GridsPerSec float64
	LR          float32
	Eval        *NLL // validation, on evaluation steps
	Best        bool
	Elapsed     time.Duration
}

// Trainer fits a prior to code grids by teacher-forced cross-entropy with
// AdamW (Adam when weight_decay is 0), warm-up and cosine decay.
type Trainer struct {
	Cfg         *configs.Config
	Dir         string
	Prior       Prior
	Opt         *nn.Adam
	Train, Val  *Codes
	Step        int
	Best        float64
	Fingerprint string

	batcher *datasets.Batcher
	grids   []int32
	classes []int32
	ce      nn.CrossEntropy
	drop    rand.PCG // class dropout, reseeded every step
}

// NewTrainer builds a fresh prior for the codes, or with resume restores
// dir/prior-last.safetensors. The codes' K and grid must match the config.
func NewTrainer(cfg *configs.Config, codes *Codes, dir string, resume bool) (*Trainer, error) {
	g := cfg.GridSize()
	if codes.Info.K != cfg.VQVAE.K || codes.Info.H != g || codes.Info.W != g {
		return nil, fmt.Errorf("%s holds %dx%d grids of K=%d codes, but the config's VQ-VAE makes %dx%d grids of K=%d (vqvae.k, data.image_size / vqvae.downsample)",
			codes.Name, codes.Info.H, codes.Info.W, codes.Info.K, g, g, cfg.VQVAE.K)
	}
	info := codes.Info
	if !cfg.Prior.Conditional {
		info.Classes = 0
	} else if info.Classes == 0 {
		return nil, fmt.Errorf("prior.conditional = true, but %s has no labels", codes.Name)
	}
	if cfg.Prior.ValCount >= codes.N {
		return nil, fmt.Errorf("prior.val_count = %d: %s has only %d grids", cfg.Prior.ValCount, codes.Name, codes.N)
	}
	p, err := New(cfg, info, nn.NewRNG(cfg.Seed^0x7072696f72))
	if err != nil {
		return nil, err
	}
	tc := cfg.Prior.Train
	trainN := codes.N - cfg.Prior.ValCount
	b, err := datasets.NewBatcher(trainN, min(tc.Batch, trainN), cfg.Seed^0x62617463, true)
	if err != nil {
		return nil, fmt.Errorf("prior.train.batch: %w", err)
	}
	opt := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	if tc.WeightDecay > 0 {
		opt = nn.NewAdamW(0.9, 0.999, 1e-8, tc.WeightDecay)
	}
	t := &Trainer{Cfg: cfg, Dir: dir, Prior: p, Opt: opt, Train: codes.Slice(0, trainN), Val: codes.Slice(trainN, codes.N),
		Best: math.Inf(1), Fingerprint: codes.Fingerprint, batcher: b}
	if resume {
		if err := t.restore(filepath.Join(dir, LastFile)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Trainer) saveLast() error {
	ts := nn.ParamTensors(t.Prior.Params())
	opt, meta := t.Opt.State()
	ts = append(ts, opt...)
	for k, v := range infoMeta(t.Prior.Info(), t.Fingerprint) {
		meta[k] = v
	}
	s, err := t.Cfg.Encode()
	if err != nil {
		return err
	}
	t.batcher.State().PutMeta(meta)
	meta[MetaConfig] = string(s)
	meta[MetaStep] = strconv.Itoa(t.Step)
	meta["vqgen.best_bits"] = strconv.FormatFloat(t.Best, 'g', -1, 64)
	return nn.SaveSafetensors(filepath.Join(t.Dir, LastFile), ts, meta)
}

func (t *Trainer) restore(path string) error {
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	m := f.Metadata
	if m[MetaFingerprint] != t.Fingerprint {
		return fmt.Errorf("resume: %s was trained on codes of VQ-VAE %s, these codes come from %s: %w", path, m[MetaFingerprint], t.Fingerprint, trainloop.ErrConfigChanged)
	}
	saved, err := configs.Parse([]byte(m[MetaConfig]), path+" (stored config)")
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if saved.Prior != t.Cfg.Prior || saved.Seed != t.Cfg.Seed {
		return fmt.Errorf("resume: %s was trained with a different [prior] section or seed than the config given now: %w", path, trainloop.ErrConfigChanged)
	}
	if err := assignParams(f, t.Prior); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := t.Opt.LoadState(t.Prior.Params(), f.Tensors(), m); err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if t.Step, err = strconv.Atoi(m[MetaStep]); err != nil {
		return fmt.Errorf("resume: %s: metadata %s = %q is not an integer", path, MetaStep, m[MetaStep])
	}
	bs, err := datasets.BatcherStateFromMeta(m)
	if err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if t.Best, err = strconv.ParseFloat(m["vqgen.best_bits"], 64); err != nil {
		return fmt.Errorf("resume: %s: metadata vqgen.best_bits = %q is not a number", path, m["vqgen.best_bits"])
	}
	return t.batcher.Restore(bs)
}

// ErrNonFinite reports a NaN or Inf loss; training stops and the last good
// checkpoint stays.
var ErrNonFinite = trainloop.ErrNonFinite

// Run trains to the configured number of steps, reporting each one. When ctx
// is cancelled it saves a checkpoint and returns ctx's error.
func (t *Trainer) Run(ctx context.Context, report func(Event)) error {
	tc := t.Cfg.Prior.Train
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	params := t.Prior.Params()
	pos := t.Train.Info.Positions()
	conditional := t.Prior.Info().Classes > 0
	start, startStep := time.Now(), t.Step
	for t.Step < tc.Steps {
		if err := ctx.Err(); err != nil {
			if serr := t.saveLast(); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("%w at step %d; state saved to %s: %w", trainloop.ErrInterrupted, t.Step, filepath.Join(t.Dir, LastFile), err)
		}
		idx, _ := t.batcher.Next()
		t.grids = t.grids[:0]
		t.classes = t.classes[:0]
		for _, i := range idx {
			t.grids = append(t.grids, t.Train.Grids[i*pos:(i+1)*pos]...)
			if conditional {
				t.classes = append(t.classes, t.Train.Labels[i])
			}
		}
		var classes []int32
		if conditional {
			classes = t.classes
			DropClasses(classes, t.Prior.Info().NullClass(), tc.ClassDropout, &t.drop, t.Cfg.Seed, t.Step)
		}
		logits := t.Prior.Forward(t.grids, classes, len(idx))
		loss := t.ce.Forward(logits, t.grids)
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return fmt.Errorf("step %d: %w; the last good checkpoint is %s", t.Step+1, ErrNonFinite, filepath.Join(t.Dir, LastFile))
		}
		nn.ZeroGrad(params)
		t.Prior.Backward(t.ce.Backward())
		if tc.GradClip > 0 {
			nn.ClipGradNorm(params, float32(tc.GradClip))
		}
		lr := nn.WarmupCosine(t.Step, tc.Warmup, tc.Steps, float32(tc.LR), float32(tc.LRMin))
		t.Opt.Step(params, lr)
		t.Step++

		ev := Event{Step: t.Step, Steps: tc.Steps, BitsPerCode: float64(loss) / math.Ln2, LR: lr}
		ev.Elapsed = time.Since(start)
		ev.GridsPerSec = float64((t.Step-startStep)*len(idx)) / ev.Elapsed.Seconds()
		last := t.Step == tc.Steps
		if (tc.EvalEvery > 0 && t.Step%tc.EvalEvery == 0) || last {
			e := Evaluate(t.Prior, t.Val, 0, 500)
			ev.Eval = &e
			if e.BitsPerCode < t.Best {
				t.Best, ev.Best = e.BitsPerCode, true
				if err := Save(filepath.Join(t.Dir, BestFile), t.Prior, t.Cfg, t.Fingerprint, t.Train.Path, t.Step); err != nil {
					return err
				}
			}
		}
		if (tc.CheckpointEvery > 0 && t.Step%tc.CheckpointEvery == 0) || last {
			if err := t.saveLast(); err != nil {
				return err
			}
		}
		if report != nil {
			report(ev)
		}
	}
	return nil
}

// DropClasses replaces each class of one training batch by the null class
// with probability p (prior.train.class_dropout) and returns how many it
// replaced. The draws come from pcg reseeded from (seed, step), so a
// training run resumed at any step drops exactly the classes an
// uninterrupted one does, without keeping RNG state in the checkpoint, and
// nothing is allocated.
func DropClasses(classes []int32, null int32, p float64, pcg *rand.PCG, seed uint64, step int) int {
	if p <= 0 {
		return 0
	}
	// Hashed, because PCG streams from nearby raw seeds are correlated.
	pcg.Seed(splitmix64(seed^0x636c61737364726f), splitmix64(uint64(step))) // "classdro"
	n := 0
	for i := range classes {
		// 53 random bits, as rand.Float64 makes them: u uniform in [0, 1).
		if u := float64(pcg.Uint64()>>11) * 0x1p-53; u < p {
			classes[i] = null
			n++
		}
	}
	return n
}

// splitmix64 is SplitMix64's output function: a bijection that scatters
// nearby inputs over all 64 bits.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
