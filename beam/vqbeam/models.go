package vqbeam

import (
	"context"
	"errors"
	"fmt"

	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// loadPrior loads a prior checkpoint from any Beam file system.
func loadPrior(ctx context.Context, p string) (*prior.Checkpoint, error) {
	if p == "" {
		return nil, errors.New("no prior checkpoint given")
	}
	local, cleanup, err := localCopy(ctx, p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ck, err := prior.Load(local)
	if err != nil {
		if local != p {
			err = fmt.Errorf("%s: %w", p, err)
		}
		return nil, err
	}
	ck.Path = p
	return ck, nil
}

// loadPair loads a VQ-VAE and a prior and checks that the prior was
// trained on that VQ-VAE's codes, as vqgen's sample and score do.
func loadPair(ctx context.Context, vqPath, priorPath string) (*vqvae.Model, *prior.Checkpoint, error) {
	m, err := loadVQVAE(ctx, vqPath)
	if err != nil {
		return nil, nil, err
	}
	ck, err := loadPrior(ctx, priorPath)
	if err != nil {
		return nil, nil, err
	}
	gh, gw := m.GridSize()
	if err := ck.CheckMatches(m.FingerprintHex(), m.Cfg.K, gh, gw); err != nil {
		return nil, nil, err
	}
	return m, ck, nil
}
