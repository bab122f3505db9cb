package vqvae

import (
	"fmt"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
)

// DataOptions say where decoded image folders are cached and whom to tell
// about decoding progress. The zero value decodes without a cache, quietly.
type DataOptions struct {
	// CacheDir holds decoded image folders between runs (see package
	// datasets); "" for none.
	CacheDir string
	// Progress, if set, is told how many images of spec are decoded.
	Progress func(spec string, done, total int)
}

// DatasetOptions are the loading options cfg implies for spec.
func DatasetOptions(cfg *configs.Config, spec string, o DataOptions) datasets.Options {
	opt := datasets.Options{Size: cfg.Data.ImageSize, Channels: cfg.Data.Channels, Labels: cfg.Data.Labels, CacheDir: o.CacheDir}
	if o.Progress != nil {
		opt.Progress = func(done, total int) { o.Progress(spec, done, total) }
	}
	return opt
}

func dataOptions(opts []DataOptions) DataOptions {
	if len(opts) > 0 {
		return opts[0]
	}
	return DataOptions{}
}

// CheckData looks at the data cfg names (listing files, not decoding them)
// and checks the whole configuration against it before any training:
// configs.CheckData names every key at fault. It returns the configuration
// with prior.conditional = "auto" resolved, and what it found.
func CheckData(cfg *configs.Config) (*configs.Config, configs.DataFacts, error) {
	var facts configs.DataFacts
	for _, s := range []struct {
		key, spec string
		dst       *configs.DataSplit
	}{{"data.train", cfg.Data.Train, &facts.Train}, {"data.test", cfg.Data.Test, &facts.Test}} {
		info, err := datasets.Describe(s.spec, DatasetOptions(cfg, s.spec, DataOptions{}))
		if err != nil {
			return nil, facts, fmt.Errorf("%s: %w", s.key, err)
		}
		*s.dst = configs.DataSplit{Spec: info.Spec, Images: info.N, Classes: info.Classes, H: info.H, W: info.W, C: info.C}
	}
	r, err := cfg.CheckData(facts)
	return r, facts, err
}

// PixelBytes is the memory the decoded images of facts take at cfg's image
// size: one byte per value of every training and test image (train_limit
// and test_limit applied).
func PixelBytes(cfg *configs.Config, facts configs.DataFacts) int64 {
	per := int64(cfg.Data.Channels) * int64(cfg.Data.ImageSize) * int64(cfg.Data.ImageSize)
	n := func(s configs.DataSplit, limit int) int64 {
		p, k := per, s.Images
		if s.C > 0 { // MNIST/IDX keep their own shape
			p = int64(s.C) * int64(s.H) * int64(s.W)
		}
		if limit > 0 {
			k = min(k, limit)
		}
		return p * int64(k)
	}
	return n(facts.Train, cfg.Data.TrainLimit) + n(facts.Test, cfg.Data.TestLimit)
}

// LoadTrain loads the whole configured training split (validation part
// included) with train_limit applied: what stage one's encode writes out.
func LoadTrain(cfg *configs.Config, opts ...DataOptions) (*datasets.Dataset, error) {
	full, err := datasets.Load(cfg.Data.Train, DatasetOptions(cfg, cfg.Data.Train, dataOptions(opts)))
	if err != nil {
		return nil, fmt.Errorf("data.train: %w", err)
	}
	if l := cfg.Data.TrainLimit; l > 0 && l < full.N {
		full = full.Slice(0, l)
	}
	return full, nil
}

// LoadData loads the configured training and test splits, applies
// train_limit and test_limit, and carves the validation split from the end
// of the training split. The test split is only ever reported on; model
// selection uses val. At most one DataOptions may be given.
func LoadData(cfg *configs.Config, opts ...DataOptions) (train, val, test *datasets.Dataset, err error) {
	full, err := LoadTrain(cfg, opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	if train, val, err = datasets.Split(full, cfg.Data.ValCount); err != nil {
		return nil, nil, nil, fmt.Errorf("data.val_count: %w", err)
	}
	if test, err = LoadTest(cfg, opts...); err != nil {
		return nil, nil, nil, err
	}
	return train, val, test, nil
}

// LoadTest loads the configured test split with test_limit applied. At
// most one DataOptions may be given.
func LoadTest(cfg *configs.Config, opts ...DataOptions) (*datasets.Dataset, error) {
	test, err := datasets.Load(cfg.Data.Test, DatasetOptions(cfg, cfg.Data.Test, dataOptions(opts)))
	if err != nil {
		return nil, fmt.Errorf("data.test: %w", err)
	}
	if l := cfg.Data.TestLimit; l > 0 && l < test.N {
		test = test.Slice(0, l)
	}
	return test, nil
}

// nextBatch puts the next training batch in t.x: the batcher's images as
// float32, mirrored where data.flip draws a flip for (seed, epoch, image),
// shifted to the networks' [-0.5, 0.5].
func (t *Trainer) nextBatch() {
	idx, epoch := t.batcher.Next()
	t.x, _ = t.Train.Batch(idx, t.x, nil)
	if t.Cfg.Data.Flip {
		datasets.FlipBatch(t.x, idx, t.Cfg.Seed, epoch)
	}
	shift(t.x)
}
