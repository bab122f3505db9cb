package main

import (
	"fmt"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// The pipeline benchmarks run the default config's models (configs/mnist.toml)
// at batch 128 on MNIST images and on random code grids: speed does not
// depend on what the weights have learned. Each reports its throughput; the
// matrix-product FLOPs it did per second go beside it as a _gflops line
// (counted by package kernels, so they are the work actually done, masked
// taps included).

// timed runs step until minDur has passed (after one warm-up call) and
// returns the calls made, the seconds they took and the GEMM GFLOP/s.
func timed(minDur time.Duration, step func()) (calls int, secs, gflops float64) {
	kernels.CountFLOPs(true)
	defer kernels.CountFLOPs(false)
	step()
	f0 := kernels.FLOPs()
	start := time.Now()
	for time.Since(start) < minDur || calls == 0 {
		step()
		calls++
	}
	secs = time.Since(start).Seconds()
	return calls, secs, float64(kernels.FLOPs()-f0) / secs / 1e9
}

func defaultConfig() *configs.Config { return configs.Default() }

func mnistBatch(n int) (*nn.Tensor, error) {
	ds, err := datasets.Load("mnist:train", datasets.Options{})
	if err != nil {
		return nil, err
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x, _ := ds.Batch(idx, nil, nil)
	return x, nil
}

// gflopsOf remembers the GFLOP/s of the last throughput benchmark so the
// next entry can report it.
var gflopsOf = map[string]float64{}

func throughput(name string, perCall int, step func() error) func(time.Duration) (float64, error) {
	return func(d time.Duration) (float64, error) {
		var err error
		calls, secs, gf := timed(d, func() {
			if err == nil {
				err = step()
			}
		})
		gflopsOf[name] = gf
		if perCall == 0 { // a duration: seconds per call
			return secs / float64(calls), err
		}
		return float64(calls*perCall) / secs, err
	}
}

func gflopsLine(name string) benchmark {
	return benchmark{name + "_gflops", "GFLOP/s", "matrix-product work per second in " + name,
		func(time.Duration) (float64, error) { return gflopsOf[name], nil }}
}

func vqvaeTrainStep() (func() error, error) {
	cfg := defaultConfig()
	m, err := vqvae.New(cfg.VQVAE, cfg.Data, nn.NewRNG(1))
	if err != nil {
		return nil, err
	}
	x, err := mnistBatch(cfg.VQVAE.Train.Batch)
	if err != nil {
		return nil, err
	}
	for i := range x.Data {
		x.Data[i] -= 0.5
	}
	params := append(m.Enc.Params(), m.Dec.Params()...)
	opt := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	var mse nn.MSE
	var step int64
	return func() error {
		q, _ := m.VQ.Forward(m.Enc.Forward(x))
		mse.Forward(m.Dec.Forward(q), x)
		nn.ZeroGrad(params)
		m.Enc.Backward(m.VQ.Backward(m.Dec.Backward(mse.Backward())))
		opt.Step(params, 3e-4)
		step++
		m.VQ.UpdateEMA(step)
		return nil
	}, nil
}

func vqvaeEncode(n int) (func() error, error) {
	cfg := defaultConfig()
	m, err := vqvae.New(cfg.VQVAE, cfg.Data, nn.NewRNG(1))
	if err != nil {
		return nil, err
	}
	x, err := mnistBatch(n)
	if err != nil {
		return nil, err
	}
	orig := append([]float32(nil), x.Data...)
	codes := make([]int32, n*cfg.SeqLen())
	return func() error {
		copy(x.Data, orig) // Encode shifts pixels in place
		m.Encode(x, codes)
		return nil
	}, nil
}

func benchPrior(arch string) (prior.Prior, error) {
	cfg := defaultConfig()
	cfg.Prior.Arch = arch
	g := cfg.GridSize()
	return prior.New(cfg, prior.Info{K: cfg.VQVAE.K, H: g, W: g, Classes: 10}, nn.NewRNG(1))
}

func randomGrids(p prior.Prior, n int) (codes, classes []int32) {
	rng := nn.NewRNG(5)
	info := p.Info()
	codes = make([]int32, n*info.Positions())
	for i := range codes {
		codes[i] = int32(rng.Intn(info.K))
	}
	classes = make([]int32, n)
	for i := range classes {
		classes[i] = int32(rng.Intn(info.Classes))
	}
	return codes, classes
}

func priorTrainStep(arch string) (func() error, error) {
	p, err := benchPrior(arch)
	if err != nil {
		return nil, err
	}
	codes, classes := randomGrids(p, 128)
	opt := nn.NewAdamW(0.9, 0.999, 1e-8, 0.01)
	var ce nn.CrossEntropy
	return func() error {
		ce.Forward(p.Forward(codes, classes, 128), codes)
		nn.ZeroGrad(p.Params())
		p.Backward(ce.Backward())
		opt.Step(p.Params(), 3e-4)
		return nil
	}, nil
}

// sampleStep draws 64 class-conditional grids and decodes them to images.
func sampleStep(arch string, cache bool) (func() error, error) {
	p, err := benchPrior(arch)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	m, err := vqvae.New(cfg.VQVAE, cfg.Data, nn.NewRNG(1))
	if err != nil {
		return nil, err
	}
	if !cache {
		t, ok := p.(*prior.Transformer)
		if !ok {
			return nil, fmt.Errorf("the no-cache stepper exists for the transformer only")
		}
		p = noCache{t}
	}
	return func() error {
		g, err := sampler.Sample(p, sampler.Options{N: 64, Temperature: 1, TopP: 1, Seed: 1}, nil)
		if err != nil {
			return err
		}
		_, err = m.Decode(g.Codes, g.N)
		return err
	}, nil
}

// noCache is a Transformer whose stepper recomputes the whole prefix.
type noCache struct{ *prior.Transformer }

func (n noCache) NewStepper(k int) prior.Stepper { return n.Transformer.NewStepperNoCache(k) }

func lazy(name string, perCall int, build func() (func() error, error)) func(time.Duration) (float64, error) {
	return func(d time.Duration) (float64, error) {
		step, err := build()
		if err != nil {
			return 0, err
		}
		return throughput(name, perCall, step)(d)
	}
}

func init() {
	type entry struct {
		name, unit, what string
		per              int
		build            func() (func() error, error)
	}
	for _, e := range []entry{
		{"train_vqvae_img_s", "images/s", "stage-one training step, default model, batch 128", 128, vqvaeTrainStep},
		{"encode_img_s", "images/s", "stage-one encoding, batches of 500", 500, func() (func() error, error) { return vqvaeEncode(500) }},
		{"train_prior_pixelcnn_grids_s", "grids/s", "PixelCNN prior training step, batch 128", 128, func() (func() error, error) { return priorTrainStep("pixelcnn") }},
		{"train_prior_transformer_grids_s", "grids/s", "Transformer prior training step, batch 128", 128, func() (func() error, error) { return priorTrainStep("transformer") }},
		{"sample_pixelcnn_img_s", "images/s", "PixelCNN sampling + decoding, 64 images", 64, func() (func() error, error) { return sampleStep("pixelcnn", true) }},
		{"sample_transformer_img_s", "images/s", "Transformer sampling with its KV cache + decoding, 64 images", 64, func() (func() error, error) { return sampleStep("transformer", true) }},
		{"sample_transformer_nocache_img_s", "images/s", "Transformer sampling recomputing the prefix + decoding, 64 images", 64, func() (func() error, error) { return sampleStep("transformer", false) }},
		{"train_prior_transformer_16x16_grids_s", "grids/s", "Transformer prior training step, 16x16 grids, batch 128", 128, func() (func() error, error) { return prior.BenchTrainStep("transformer", 16, 128) }},
		{"train_prior_pixelcnn_16x16_grids_s", "grids/s", "PixelCNN prior training step, 16x16 grids, batch 128", 128, func() (func() error, error) { return prior.BenchTrainStep("pixelcnn", 16, 128) }},
		{"edit_gibbs_16x16_8x8hole_4variants_s", "s", "gibbs edit of a centred 8x8 hole in a 16x16 grid, 4 variants, 4 sweeps of 4 proposals (Transformer)", 0, func() (func() error, error) { return sampler.BenchEditGibbs("transformer", 16, 8, 4) }},
		{"sample_transformer_16x16_img_s", "images/s", "Transformer sampling of 64 16x16 grids + decoding to 64x64 RGB", 64, func() (func() error, error) { return sampler.BenchSample("transformer", 16, 64) }},
	} {
		pipelineBenchmarks = append(pipelineBenchmarks,
			benchmark{e.name, e.unit, e.what, lazy(e.name, e.per, e.build)},
			gflopsLine(e.name))
	}
}
