package vqbeam

import (
	"context"
	"errors"
	"fmt"

	"github.com/vqgen/vqgen/app"
)

// The models are loaded through package app, as vqgen loads them, so a
// worker encodes, scores and samples with the operations the command line
// runs: app.VQVAE.Encode, app.Models.Score and app.Models.SampleRange.

// loadVQVAE loads a VQ-VAE checkpoint from any Beam file system.
func loadVQVAE(ctx context.Context, p string) (*app.VQVAE, error) {
	if p == "" {
		return nil, errors.New("no VQ-VAE checkpoint given")
	}
	local, cleanup, err := localCopy(ctx, p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	v, err := app.LoadVQVAE(local)
	if err != nil {
		if local != p {
			err = fmt.Errorf("%s: %w", p, err)
		}
		return nil, err
	}
	v.Path = p
	return v, nil
}

// loadModels loads a VQ-VAE and a prior from any Beam file system and
// checks that the prior was trained on that VQ-VAE's codes, as vqgen's
// sample and score do.
func loadModels(ctx context.Context, vqPath, priorPath string) (*app.Models, error) {
	if vqPath == "" {
		return nil, errors.New("no VQ-VAE checkpoint given")
	}
	if priorPath == "" {
		return nil, errors.New("no prior checkpoint given")
	}
	vq, cleanVQ, err := localCopy(ctx, vqPath)
	if err != nil {
		return nil, err
	}
	defer cleanVQ()
	pr, cleanPrior, err := localCopy(ctx, priorPath)
	if err != nil {
		return nil, err
	}
	defer cleanPrior()
	m, err := app.LoadModels(vq, pr)
	if err != nil {
		if vq != vqPath || pr != priorPath {
			err = fmt.Errorf("%s, %s: %w", vqPath, priorPath, err)
		}
		return nil, err
	}
	m.VQVAE.Path, m.PriorPath = vqPath, priorPath
	return m, nil
}
