package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/sampler"
	"github.com/vqgen/vqgen/sampler/evaluate"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Score returns -log2 p(codes) of each image's code grid under the prior,
// in bits: how typical an image is for the model (lower is more typical).
// classes holds one class per image for a conditional prior, nil for an
// unconditional one.
func (m *Models) Score(ctx context.Context, images [][]float32, classes []int32) ([]float64, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("score: no images")
	}
	codes, err := m.VQVAE.Encode(images)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return sampler.NLLBits(m.ck.Prior, codes, classes, len(images), 256)
}

// ScoreOptions choose the images to score and the class they are scored
// under.
type ScoreOptions struct {
	Source ImageSource `json:"source"`
	// Class scores every image under this class (a conditional prior);
	// -1 uses the dataset's labels.
	Class int `json:"class"`
}

// Scores are per-image NLLs.
type Scores struct {
	Names []string  `json:"names"` // the file (an image folder's: relative to it), or the index within the dataset
	Bits  []float64 `json:"bits"`
}

// ScoreImages loads the images of o and scores them (Score).
func (m *Models) ScoreImages(ctx context.Context, o ScoreOptions) (*Scores, error) {
	names, ims, labels, err := m.VQVAE.LoadImages(o.Source)
	if err != nil {
		return nil, err
	}
	if err := m.checkClass("class", o.Class); err != nil {
		return nil, err
	}
	var classes []int32
	if m.ck.Prior.Info().Classes > 0 {
		switch {
		case o.Class >= 0:
			classes = make([]int32, len(ims))
			for i := range classes {
				classes[i] = int32(o.Class)
			}
		case labels != nil:
			classes = labels
		default:
			return nil, optionErr("class", "-1: the prior is class-conditional: give the class to score %s under", describe(names[:min(1, len(names))]))
		}
	}
	bits, err := m.Score(ctx, ims, classes)
	if err != nil {
		return nil, err
	}
	return &Scores{Names: names, Bits: bits}, nil
}

// VQVAEEval is a VQ-VAE's reconstruction error and code usage on a dataset.
type VQVAEEval = vqvae.Eval

// EvalVQVAEOptions name the model and the images to score.
type EvalVQVAEOptions struct {
	VQVAE string `json:"vqvae"`
	Data  string `json:"data"`  // dataset spec, or train / test for the model's own splits
	Limit int    `json:"limit"` // score the first Limit images only (0: all)
}

// EvalVQVAE reconstructs every image of the data and reports the mean
// squared error per pixel, the PSNR, the perplexity of the code
// distribution and how many codes occur.
func EvalVQVAE(ctx context.Context, o EvalVQVAEOptions) (*VQVAEEval, error) {
	v, ds, err := loadVQVAEData(o.VQVAE, o.Data, o.Limit)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.m.Evaluate(ds, 0, 500)
	return &e, nil
}

// PriorEval is a prior's NLL on a code file beside the unigram baseline.
type PriorEval struct {
	Arch                string  `json:"arch"`
	BitsPerCode         float64 `json:"bits_per_code"`
	BitsPerImage        float64 `json:"bits_per_image"`
	UnigramBitsPerImage float64 `json:"unigram_bits_per_image"`
	Grids               int     `json:"grids"`
	TrainCodes          string  `json:"train_codes"` // the file the baseline was fitted on
}

// EvalPriorOptions name the prior and the codes to score.
type EvalPriorOptions struct {
	Prior string `json:"prior"`
	Codes string `json:"codes"` // code file to score (e.g. codes-test.vqc)
	// TrainCodes is the prior's training code file, for the unigram
	// baseline; "" looks for the file the prior recorded (by name and
	// SHA-256) beside it and in the folder above.
	TrainCodes string `json:"train_codes"`
	// CodesPrior is the prior checkpoint that reads Codes and TrainCodes
	// when they are prior-coded; "" uses Prior itself.
	CodesPrior string `json:"codes_prior,omitempty"`
}

// EvalPrior reports the NLL of every grid of a code file under the prior, in
// bits per code and per image, next to the unigram baseline: add-one
// smoothed code frequencies of the prior's own training codes.
func EvalPrior(ctx context.Context, o EvalPriorOptions, prog Progress) (*PriorEval, error) {
	p, err := prior.Load(o.Prior)
	if err != nil {
		return nil, err
	}
	r := codeReader{path: o.CodesPrior}
	if o.CodesPrior == "" {
		r.ck = p
	}
	c, err := r.read(ctx, o.Codes, prog)
	if err != nil {
		return nil, err
	}
	info := p.Prior.Info()
	if c.Info.K != info.K || c.Info.H != info.H || c.Info.W != info.W {
		return nil, fmt.Errorf("%s holds %dx%d grids of K=%d; the prior models %dx%d grids of K=%d", o.Codes, c.Info.H, c.Info.W, c.Info.K, info.H, info.W, info.K)
	}
	if c.Fingerprint != p.Fingerprint {
		return nil, fmt.Errorf("%s was made by VQ-VAE %s but the prior was trained on codes of %s", o.Codes, c.Fingerprint, p.Fingerprint)
	}
	if info.Classes > 0 && c.Labels == nil {
		return nil, fmt.Errorf("the prior is class-conditional but %s has no labels", o.Codes)
	}
	trainCodes, err := p.FindTrainCodes(o.TrainCodes)
	if err != nil {
		return nil, fmt.Errorf("unigram baseline: %w", err)
	}
	tr, err := r.read(ctx, trainCodes, prog)
	if err != nil {
		return nil, fmt.Errorf("unigram baseline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nll := prior.Evaluate(p.Prior, c, 0, prior.EvalBatch(c.Info))
	return &PriorEval{Arch: info.Arch, BitsPerCode: nll.BitsPerCode, BitsPerImage: nll.BitsPerImage,
		UnigramBitsPerImage: prior.NewUnigram(tr.Slice(0, tr.N-p.Config.Prior.ValCount)).BitsPerImage(c), Grids: nll.Grids,
		TrainCodes: trainCodes}, nil
}

// SampleEval is the judgement of a set of images: the samples' metrics at
// the top level of its JSON, real digits' metrics under "reference", the
// judge's own report card under "classifier".
type SampleEval struct {
	evaluate.Metrics
	Reference  evaluate.Metrics `json:"reference"`
	Classifier ClassifierCard   `json:"classifier"`
}

// MarshalJSON flattens the embedded Metrics (whose own MarshalJSON would
// otherwise swallow the other fields).
func (s SampleEval) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(s.Metrics)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["reference"] = s.Reference
	m["classifier"] = s.Classifier
	return json.Marshal(m)
}

// UnmarshalJSON reads back what MarshalJSON flattened.
func (s *SampleEval) UnmarshalJSON(b []byte) error {
	var aux struct {
		Reference  evaluate.Metrics `json:"reference"`
		Classifier ClassifierCard   `json:"classifier"`
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

// ClassifierCard is what the judge scores on real test digits.
type ClassifierCard struct {
	Path            string  `json:"path"`
	TestImages      int     `json:"test_images"`
	TestAccuracy    float64 `json:"test_accuracy"`
	ECE             float64 `json:"ece"`
	ECEUncalibrated float64 `json:"ece_uncalibrated"`
	Temperature     float64 `json:"temperature"`
}

// EvalSamplesOptions name the images to judge.
type EvalSamplesOptions struct {
	// Images is a folder of .png files (sorted by name), the way
	// Samples.Save writes them.
	Images string `json:"images,omitempty"`
	// Data is a dataset spec instead of Images; its labels, if any, are
	// the requested classes.
	Data string `json:"data,omitempty"`
	// Labels is a file of requested classes, one 0-9 per line in sorted
	// file-name order (Images only).
	Labels string `json:"labels,omitempty"`
	// Classifier is a saved judge; "" uses the cached one, trained on
	// first use.
	Classifier string `json:"classifier,omitempty"`
	// CacheDir overrides the user cache folder the judge is kept in.
	CacheDir string `json:"-"`
}

// EvalSamples judges generated digits with a small MNIST classifier (see
// package sampler/evaluate for the metrics).
func EvalSamples(ctx context.Context, o EvalSamplesOptions, prog Progress) (*SampleEval, error) {
	prog = nop(prog)
	var ims [][]float32
	var labels []int32
	switch {
	case o.Images != "" && o.Data != "":
		return nil, optionErr("images", "and data both given: give one")
	case o.Images != "":
		var names []string
		var note string
		var err error
		if ims, names, note, err = evaluate.LoadImageDir(o.Images); err != nil {
			return nil, asOption("images", err)
		}
		if o.Labels != "" {
			if labels, err = evaluate.ReadLabels(o.Labels, len(names)); err != nil {
				return nil, err
			}
		}
		if note != "" {
			prog.Note("note: " + note)
		}
	case o.Data != "":
		if o.Labels != "" {
			return nil, optionErr("labels", "%s: a dataset brings its own labels; labels go with a folder of images", o.Labels)
		}
		ds, err := loadJudgeData(o.Data)
		if err != nil {
			return nil, err
		}
		ims, labels = make([][]float32, ds.N), ds.Labels
		for i := range ims {
			ims[i] = ds.Image(i)
		}
	default:
		return nil, optionErr("images", "not given: give a folder of images or a dataset spec (data)")
	}
	c, path, err := loadJudge(ctx, o.Classifier, o.CacheDir, prog)
	if err != nil {
		return nil, err
	}
	return judge(c, path, ims, labels)
}

// loadJudge returns the classifier at path, or the cached default one,
// training it (reporting progress) on first use.
func loadJudge(ctx context.Context, path, cacheDir string, prog Progress) (*evaluate.Classifier, string, error) {
	if path != "" {
		c, err := evaluate.Load(path)
		return c, path, err
	}
	cache, err := evaluate.CachePath(cacheDir)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	begun := false
	c, err := evaluate.Default(cacheDir, func(step, total int) {
		if !begun {
			prog.Note(fmt.Sprintf("training the MNIST judge once (cached as %s)", cache))
			prog.Begin(Phase{Name: "classifier", Total: total})
			begun = true
		}
		prog.Update(step)
	})
	if begun {
		prog.End()
	}
	return c, cache, err
}

// judge scores images (and requested classes, nil for none) and adds the
// judge's calibration report.
func judge(c *evaluate.Classifier, path string, images [][]float32, labels []int32) (*SampleEval, error) {
	met, err := evaluate.Report(c, images, labels)
	if err != nil {
		return nil, err
	}
	cal, err := c.CalibrationReport()
	if err != nil {
		return nil, err
	}
	return &SampleEval{Metrics: met, Reference: cal.Reference, Classifier: ClassifierCard{
		Path: path, TestImages: cal.N, TestAccuracy: cal.Accuracy, ECE: cal.ECE,
		ECEUncalibrated: cal.ECEUncalibrated, Temperature: cal.Temperature}}, nil
}

// loadJudgeData loads a dataset spec at the judge's 28x28 grayscale.
func loadJudgeData(spec string) (*datasets.Dataset, error) {
	return datasets.Load(spec, datasets.Options{Size: evaluate.ImageSize, Channels: 1})
}
