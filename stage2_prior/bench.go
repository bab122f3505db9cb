package prior

import (
	"fmt"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
)

// Benchmark bodies for `vqgen bench`: each returns one unit of work to
// time, on the default config's models with random weights and codes
// (speed does not depend on what the weights learned).

// BenchPrior returns the default config's prior of the given architecture
// ("transformer" or "pixelcnn") for grid x grid codes of the default
// codebook, conditional on 10 classes, initialised from seed 1.
func BenchPrior(arch string, grid int) (Prior, error) {
	cfg := configs.Default()
	cfg.Prior.Arch = arch
	if grid < 1 {
		return nil, fmt.Errorf("prior benchmark: grid %d", grid)
	}
	return New(cfg, Info{K: cfg.VQVAE.K, H: grid, W: grid, Classes: 10}, nn.NewRNG(1))
}

// BenchGrids returns n random grids of p's shape and a class for each.
func BenchGrids(p Prior, n int, seed uint64) (codes, classes []int32) {
	rng := nn.NewRNG(seed)
	info := p.Info()
	codes = make([]int32, n*info.Positions())
	for i := range codes {
		codes[i] = int32(rng.Intn(info.K))
	}
	classes = make([]int32, n)
	for i := range classes {
		classes[i] = int32(rng.Intn(max(1, info.Classes)))
	}
	return codes, classes
}

// BenchTrainStep returns one training step of the default prior of arch
// on batch random grid x grid grids: forward, cross-entropy, backward and
// an AdamW update, as the trainer runs it.
func BenchTrainStep(arch string, grid, batch int) (step func() error, err error) {
	p, err := BenchPrior(arch, grid)
	if err != nil {
		return nil, err
	}
	codes, classes := BenchGrids(p, batch, 5)
	opt := nn.NewAdamW(0.9, 0.999, 1e-8, 0.01)
	var ce nn.CrossEntropy
	return func() error {
		ce.Forward(p.Forward(codes, classes, batch), codes)
		nn.ZeroGrad(p.Params())
		p.Backward(ce.Backward())
		opt.Step(p.Params(), 3e-4)
		return nil
	}, nil
}
