package vqvae

import (
	"fmt"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
)

// LoadData loads the configured training and test splits, applies
// train_limit and test_limit, and carves the validation split from the end
// of the training split. The test split is only ever reported on; model
// selection uses val.
func LoadData(cfg *configs.Config) (train, val, test *datasets.Dataset, err error) {
	opt := datasets.Options{Size: cfg.Data.ImageSize, Channels: cfg.Data.Channels}
	full, err := datasets.Load(cfg.Data.Train, opt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data.train: %w", err)
	}
	if l := cfg.Data.TrainLimit; l > 0 && l < full.N {
		full = full.Slice(0, l)
	}
	if train, val, err = datasets.Split(full, cfg.Data.ValCount); err != nil {
		return nil, nil, nil, fmt.Errorf("data.val_count: %w", err)
	}
	if test, err = LoadTest(cfg); err != nil {
		return nil, nil, nil, err
	}
	return train, val, test, nil
}

// LoadTest loads the configured test split with test_limit applied.
func LoadTest(cfg *configs.Config) (*datasets.Dataset, error) {
	opt := datasets.Options{Size: cfg.Data.ImageSize, Channels: cfg.Data.Channels}
	test, err := datasets.Load(cfg.Data.Test, opt)
	if err != nil {
		return nil, fmt.Errorf("data.test: %w", err)
	}
	if l := cfg.Data.TestLimit; l > 0 && l < test.N {
		test = test.Slice(0, l)
	}
	return test, nil
}
