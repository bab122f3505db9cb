package sampler

import (
	"fmt"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Benchmark bodies for `vqgen bench`, on the default config's models with
// random weights (speed does not depend on what they learned).

// BenchEditGibbs returns one gibbs edit of a random grid x grid grid by the
// default prior of arch: the centred hole x hole cells redrawn, variants
// edits, 4 sweeps of 4 proposals per cell, temperature 1.
func BenchEditGibbs(arch string, grid, hole, variants int) (func() error, error) {
	if hole < 1 || hole > grid {
		return nil, fmt.Errorf("sampler benchmark: hole %d in a grid of %d", hole, grid)
	}
	p, err := prior.BenchPrior(arch, grid)
	if err != nil {
		return nil, err
	}
	codes, _ := prior.BenchGrids(p, 1, 7)
	keep := make([]bool, grid*grid)
	r0 := (grid - hole) / 2
	for i := range keep {
		r, c := i/grid, i%grid
		keep[i] = r < r0 || r >= r0+hole || c < r0 || c >= r0+hole
	}
	opt := EditOptions{N: variants, Method: MethodGibbs, Sweeps: 4, Proposals: 4, Classes: []int32{3},
		Temperature: 1, TopP: 1, Seed: 1}
	return func() error {
		_, err := Edit(p, codes, keep, opt, nil)
		return err
	}, nil
}

// BenchSample returns drawing n class-conditional grid x grid grids from
// the default prior of arch (temperature 1, no filtering or guidance) and
// decoding them with the default VQ-VAE architecture for RGB images of
// 4*grid pixels.
func BenchSample(arch string, grid, n int) (func() error, error) {
	p, err := prior.BenchPrior(arch, grid)
	if err != nil {
		return nil, err
	}
	cfg := configs.Default()
	cfg.Data.ImageSize, cfg.Data.Channels = 4*grid, 3
	cfg.VQVAE.Downsample = 4
	m, err := vqvae.New(cfg.VQVAE, cfg.Data, nn.NewRNG(1))
	if err != nil {
		return nil, err
	}
	return func() error {
		g, err := Sample(p, Options{N: n, Temperature: 1, TopP: 1, Seed: 1}, nil)
		if err != nil {
			return err
		}
		_, err = m.Decode(g.Codes, g.N)
		return err
	}, nil
}
