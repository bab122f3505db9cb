package prior

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/progress"
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
	return ReadCodes(f)
}

// ReadCodes reads every grid of an open code file (a prior-coded one needs
// its chunk codec set).
func ReadCodes(f *datasets.CodeFile) (*Codes, error) {
	raw, labels, err := f.LoadAll()
	if err != nil {
		return nil, err
	}
	h := f.Header()
	path := f.Name()
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

// evalCodes bounds the codes a prior scores in one pass. Layers keep
// buffers for the largest batch they have seen, and a Transformer's grow
// with every code and its attention with the square of the grid: by
// internal/memguard's model of them, scoring 500 grids at once holds
// 1.1 GB for the mnist preset's Transformer (7x7 grids) but 7.3 GB for
// photos64's (16x16). 256 grids of 7x7 hold 0.55 GB; as many codes are 49
// grids of 16x16, 0.7 GB, less than training at photos64's batch holds.
const evalCodes = 256 * 7 * 7

// EvalBatch is the number of grids of info scored in one pass: as many as
// hold evalCodes codes.
func EvalBatch(info Info) int { return max(1, evalCodes/info.Positions()) }

// metaBestBits is the last checkpoint's best validation bits per code.
const metaBestBits = "vqgen.best_bits"

// Trainer fits a prior to code grids by teacher-forced cross-entropy with
// AdamW (Adam when weight_decay is 0), warm-up and cosine decay. The shared
// training loop is the embedded Loop; the Trainer is its Task.
type Trainer struct {
	*trainloop.Loop
	Cfg         *configs.Config
	Prior       Prior
	Train, Val  *Codes
	Fingerprint string
	// Unigram is the baseline on the validation grids: the code
	// frequencies of the training grids, in bits per image.
	Unigram float64
	// LastEval is the latest validation score.
	LastEval NLL

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
	if !cfg.Prior.Conditional.On(info.Classes > 0) {
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
	batch := min(tc.Batch, trainN)
	b, err := datasets.NewBatcher(trainN, batch, cfg.Seed^0x62617463, true)
	if err != nil {
		return nil, fmt.Errorf("prior.train.batch: %w", err)
	}
	opt := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	if tc.WeightDecay > 0 {
		opt = nn.NewAdamW(0.9, 0.999, 1e-8, tc.WeightDecay)
	}
	t := &Trainer{Cfg: cfg, Prior: p, Train: codes.Slice(0, trainN), Val: codes.Slice(trainN, codes.N),
		Fingerprint: codes.Fingerprint, batcher: b}
	t.Unigram = NewUnigram(t.Train).BitsPerImage(t.Val)
	t.Loop = &trainloop.Loop{
		Task: t, Opt: opt, Dir: dir, BestFile: BestFile, LastFile: LastFile, BestKey: metaBestBits,
		Schedule: trainloop.Schedule{Steps: tc.Steps, Warmup: tc.Warmup, LR: tc.LR, LRMin: tc.LRMin, GradClip: tc.GradClip,
			EvalEvery: tc.EvalEvery, CheckpointEvery: tc.CheckpointEvery, LogEvery: tc.LogEvery},
		Name: cfg.Prior.Arch, Item: "grids", Batch: batch, RateKey: "grids_per_s",
		Show: []trainloop.Show{{Key: "train_bits_per_code", Label: "bits/code"}, {Key: "lr", Label: "lr"}},
		Charts: []trainloop.Chart{{File: "loss.png", Title: "Prior NLL", YLabel: "bits per code",
			Keys: []string{"train_bits_per_code", "val_bits_per_code"}}},
		Best: math.Inf(1),
	}
	if resume {
		if err := t.Resume(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Params are the prior's.
func (t *Trainer) Params() []*nn.Param { return t.Prior.Params() }

// Forward scores the next batch of training grids, with a conditional
// prior's classes dropped to the null class at prior.train.class_dropout.
func (t *Trainer) Forward(step int) (float32, trainloop.Record) {
	pos := t.Train.Info.Positions()
	conditional := t.Prior.Info().Classes > 0
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
		DropClasses(classes, t.Prior.Info().NullClass(), t.Cfg.Prior.Train.ClassDropout, &t.drop, t.Cfg.Seed, step)
	}
	loss := t.ce.Forward(t.Prior.Forward(t.grids, classes, len(idx)), t.grids)
	return loss, trainloop.Record{progress.F("train_bits_per_code", float64(loss)/math.Ln2)}
}

// Backward puts the cross-entropy's gradients into the prior.
func (t *Trainer) Backward() {
	nn.ZeroGrad(t.Prior.Params())
	t.Prior.Backward(t.ce.Backward())
}

// AfterUpdate has nothing to do for a prior.
func (t *Trainer) AfterUpdate(int) trainloop.Record { return nil }

// Evaluate scores every validation grid; bits per code choose the best
// prior.
func (t *Trainer) Evaluate() (float64, trainloop.Record, string) {
	e := Evaluate(t.Prior, t.Val, 0, EvalBatch(t.Val.Info))
	t.LastEval = e
	rec := trainloop.Record{progress.F("val_bits_per_code", e.BitsPerCode), progress.F("val_bits_per_image", e.BitsPerImage),
		progress.F("unigram_bits_per_image", t.Unigram)}
	return e.BitsPerCode, rec, fmt.Sprintf("validation %.4f bits/code, %.1f bits/image (unigram %.1f, %.1f%% below)",
		e.BitsPerCode, e.BitsPerImage, t.Unigram, 100*(1-e.BitsPerImage/t.Unigram))
}

// SaveBest writes the prior with its config and its training codes.
func (t *Trainer) SaveBest(path string, step int) error {
	return Save(path, t.Prior, t.Cfg, t.Fingerprint, t.Train.Path, step)
}

// State is the prior's parameters, the batch order and the identity of
// the run, for the last checkpoint.
func (t *Trainer) State() ([]nn.NamedTensor, map[string]string, error) {
	s, err := t.Cfg.Encode()
	if err != nil {
		return nil, nil, err
	}
	meta := infoMeta(t.Prior.Info(), t.Fingerprint)
	meta[MetaConfig] = string(s)
	t.batcher.State().PutMeta(meta)
	return nn.ParamTensors(t.Prior.Params()), meta, nil
}

// Restore reads State's part back, refusing a checkpoint of other codes or
// settings.
func (t *Trainer) Restore(f *nn.SafetensorsFile) error {
	path, m := f.Path, f.Metadata
	if m[MetaFingerprint] != t.Fingerprint {
		return fmt.Errorf("%s was trained on codes of VQ-VAE %s, these codes come from %s: %w", path, m[MetaFingerprint], t.Fingerprint, trainloop.ErrConfigChanged)
	}
	saved, err := configs.Parse([]byte(m[MetaConfig]), path+" (stored config)")
	if err != nil {
		return err
	}
	if saved.Prior != t.Cfg.Prior || saved.Seed != t.Cfg.Seed {
		return fmt.Errorf("%s was trained with a different [prior] section or seed than the config given now: %w", path, trainloop.ErrConfigChanged)
	}
	if err := assignParams(f, t.Prior); err != nil {
		return err
	}
	bs, err := datasets.BatcherStateFromMeta(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return t.batcher.Restore(bs)
}

// ErrNonFinite reports a NaN or Inf loss; training stops and the last good
// checkpoint stays.
var ErrNonFinite = trainloop.ErrNonFinite

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
