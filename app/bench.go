package app

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
	"github.com/vqgen/vqgen/stage2_prior/coding"
)

// Benchmark is one figure `vqgen bench` measures. Names are stable: scripts
// (bench/results.sh) read them from the JSON lines.
type Benchmark struct {
	Name, Unit, What string
	// Run measures for at least the given time and returns the figure.
	Run func(minTime time.Duration) (float64, error)
}

// BenchResult is one JSON line of `vqgen bench --json`.
type BenchResult struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Machine describes what the benchmarks run on: the kernel path (the
// assembly the GEMM uses, or portable Go), GOMAXPROCS and the platform.
func Machine() string {
	return fmt.Sprintf("kernel path %s, GOMAXPROCS %d, %s/%s", kernels.Path(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
}

func sgemmBench(m, n, k int) func(time.Duration) (float64, error) {
	return func(d time.Duration) (float64, error) { return kernels.BenchSgemm(m, n, k, 1, d), nil }
}

// coreBenchmarks measure the numeric core.
var coreBenchmarks = []Benchmark{
	{"fma_peak_1t", "GFLOP/s", "register-only FMA loop: this core's peak", func(d time.Duration) (float64, error) { return kernels.PeakGFLOPS(d), nil }},
	{"sgemm_1024_1t", "GFLOP/s", "SGEMM 1024x1024x1024, 1 thread", sgemmBench(1024, 1024, 1024)},
	{"sgemm_64x576x4096_1t", "GFLOP/s", "SGEMM M=64 K=576 N=4096, 1 thread", sgemmBench(64, 4096, 576)},
	{"sgemm_4096x576x64_1t", "GFLOP/s", "SGEMM M=4096 K=576 N=64, 1 thread", sgemmBench(4096, 64, 576)},
	{"conv3x3_64c_16x16_b32_fwdbwd", "ms", "conv 64->64 3x3 16x16 batch 32, fwd+bwd, all cores", func(d time.Duration) (float64, error) {
		ms, _ := nn.BenchConv3x3(d)
		return ms, nil
	}},
}

// stepBench is a pipeline benchmark: build returns one step of work that
// handles per items; the figure is items per second (seconds per step when
// per is 0), and a _gflops line beside it reports the matrix-product work
// per second of the same run.
type stepBench struct {
	name, unit, what string
	per              int
	build            func() (func() error, error)
}

// defaultGrid is the default config's code grid (7: MNIST's 28 pixels).
var defaultGrid = configs.Default().GridSize()

// pipelineSteps run the default config's models at batch 128 on MNIST
// images and on random code grids: speed does not depend on what the
// weights have learned. One line per benchmark.
var pipelineSteps = []stepBench{
	{"train_vqvae_img_s", "images/s", "stage-one training step, default model, batch 128", 128, vqvaeTrainStep},
	{"encode_img_s", "images/s", "stage-one encoding, batches of 500", 500, func() (func() error, error) { return vqvaeEncode(500) }},
	{"train_prior_pixelcnn_grids_s", "grids/s", "PixelCNN prior training step, batch 128", 128, func() (func() error, error) { return priorTrainStep("pixelcnn", defaultGrid) }},
	{"train_prior_transformer_grids_s", "grids/s", "Transformer prior training step, batch 128", 128, func() (func() error, error) { return priorTrainStep("transformer", defaultGrid) }},
	{"sample_pixelcnn_img_s", "images/s", "PixelCNN sampling + decoding, 64 images", 64, func() (func() error, error) { return sampleStep("pixelcnn", defaultGrid, true) }},
	{"sample_transformer_img_s", "images/s", "Transformer sampling with its KV cache + decoding, 64 images", 64, func() (func() error, error) { return sampleStep("transformer", defaultGrid, true) }},
	{"sample_transformer_nocache_img_s", "images/s", "Transformer sampling recomputing the prefix + decoding, 64 images", 64, func() (func() error, error) { return sampleStep("transformer", defaultGrid, false) }},
	{"train_prior_transformer_16x16_grids_s", "grids/s", "Transformer prior training step, 16x16 grids, batch 128", 128, func() (func() error, error) { return priorTrainStep("transformer", 16) }},
	{"train_prior_pixelcnn_16x16_grids_s", "grids/s", "PixelCNN prior training step, 16x16 grids, batch 128", 128, func() (func() error, error) { return priorTrainStep("pixelcnn", 16) }},
	{"edit_gibbs_16x16_8x8hole_4variants_s", "s", "gibbs edit of a centred 8x8 hole in a 16x16 grid, 4 variants, 4 sweeps of 4 proposals (Transformer)", 0, func() (func() error, error) { return editGibbsStep("transformer", 16, 8, 4) }},
	{"sample_transformer_16x16_img_s", "images/s", "Transformer sampling of 64 16x16 grids + decoding to 64x64 RGB", 64, func() (func() error, error) { return sampleStep("transformer", 16, true) }},
}

// codingBenchmarks measure prior coding (docs/prior-coding.md) with the
// default MNIST Transformer on random grids, chunks of 512 images, one
// chunk per core at a time, as a code file's writer and reader run them.
var codingBenchmarks = []Benchmark{
	{"prior_encode_img_s", "images/s", "prior coding of 7x7 grids (vqgen encode --prior), default Transformer, all cores", coding.BenchPriorEncode},
	{"prior_decode_img_s", "images/s", "prior decoding of 7x7 grids (reading a prior-coded file), default Transformer, all cores", coding.BenchPriorDecode},
}

// Benchmarks returns the benchmarks of a set: "core", "pipeline" or "all"
// (""), restricted to the names in only when it is not empty (a name
// selects its _gflops line too).
func Benchmarks(set string, only []string) ([]Benchmark, error) {
	var list []Benchmark
	switch set {
	case "core":
		list = coreBenchmarks
	case "pipeline":
		list = pipelineBenchmarks()
	case "all", "":
		list = append(append(list, coreBenchmarks...), pipelineBenchmarks()...)
	default:
		return nil, fmt.Errorf("unknown benchmark set %q: want core or pipeline", set)
	}
	return SelectBenchmarks(list, only, set)
}

// SelectBenchmarks keeps the benchmarks of list named in only (all of them
// when only is empty; a name selects its _gflops line too), in list's
// order. A name not in list is an error; set names list in it. Front ends
// that add benchmarks of their own (the web server's) select with it.
func SelectBenchmarks(list []Benchmark, only []string, set string) ([]Benchmark, error) {
	if len(only) == 0 {
		return list, nil
	}
	keep, found := map[string]bool{}, map[string]bool{}
	for _, n := range only {
		keep[n] = true
	}
	var sel []Benchmark
	for _, b := range list {
		base := strings.TrimSuffix(b.Name, "_gflops")
		if keep[b.Name] || keep[base] {
			sel = append(sel, b)
			found[b.Name], found[base] = true, true
		}
	}
	for _, n := range only {
		if !found[n] {
			return nil, optionErr("only", "%s: no such benchmark in %s", n, set)
		}
	}
	return sel, nil
}

// pipelineBenchmarks expands pipelineSteps into a throughput and a GFLOP/s
// benchmark each; the second reports what the first measured.
func pipelineBenchmarks() []Benchmark {
	var out []Benchmark
	for _, e := range pipelineSteps {
		var gflops float64
		out = append(out,
			Benchmark{e.name, e.unit, e.what, func(d time.Duration) (float64, error) {
				step, err := e.build()
				if err != nil {
					return 0, err
				}
				calls, secs, gf := timed(d, func() {
					if err == nil {
						err = step()
					}
				})
				gflops = gf
				if e.per == 0 {
					return secs / float64(calls), err
				}
				return float64(calls*e.per) / secs, err
			}},
			Benchmark{e.name + "_gflops", "GFLOP/s", "matrix-product work per second in " + e.name,
				func(time.Duration) (float64, error) { return gflops, nil }})
	}
	return append(out, codingBenchmarks...)
}

// timed runs step until minDur has passed (after one warm-up call) and
// returns the calls made, the seconds they took and the GEMM GFLOP/s
// (counted by package kernels, so the products actually computed: a masked
// convolution's dead taps are not, nor the vector-matrix products of a
// Transformer step's attention over its cache). The products are counted
// during the warm-up call, every call doing the same work: the counter is
// one atomic add per product, which the timed calls would otherwise pay
// (and the cores contend for) where no user's run does.
func timed(minDur time.Duration, step func()) (calls int, secs, gflops float64) {
	f0 := kernels.FLOPs()
	kernels.CountFLOPs(true)
	step()
	kernels.CountFLOPs(false)
	perCall := kernels.FLOPs() - f0
	start := time.Now()
	for time.Since(start) < minDur || calls == 0 {
		step()
		calls++
	}
	secs = time.Since(start).Seconds()
	return calls, secs, float64(perCall) * float64(calls) / secs / 1e9
}

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

func vqvaeTrainStep() (func() error, error) {
	cfg := configs.Default()
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
	cfg := configs.Default()
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

// benchPrior returns the default config's prior of arch for grid x grid
// codes of the default codebook, conditional on 10 classes, from seed 1.
func benchPrior(arch string, grid int) (prior.Prior, error) {
	cfg := configs.Default()
	cfg.Prior.Arch = arch
	return prior.New(cfg, prior.Info{K: cfg.VQVAE.K, H: grid, W: grid, Classes: 10}, nn.NewRNG(1))
}

func randomGrids(p prior.Prior, n int, seed uint64) (codes, classes []int32) {
	rng := nn.NewRNG(seed)
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

// priorTrainStep is one training step of the default prior of arch on 128
// random grid x grid grids: forward, cross-entropy, backward and an AdamW
// update, as the trainer runs it.
func priorTrainStep(arch string, grid int) (func() error, error) {
	p, err := benchPrior(arch, grid)
	if err != nil {
		return nil, err
	}
	codes, classes := randomGrids(p, 128, 5)
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

// sampleStep draws 64 class-conditional grid x grid grids and decodes them
// with the default VQ-VAE architecture: MNIST images at the default grid,
// RGB images of 4*grid pixels at any other.
func sampleStep(arch string, grid int, cache bool) (func() error, error) {
	p, err := benchPrior(arch, grid)
	if err != nil {
		return nil, err
	}
	cfg := configs.Default()
	if grid != cfg.GridSize() {
		cfg.Data.ImageSize, cfg.Data.Channels = cfg.VQVAE.Downsample*grid, 3
	}
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

// editGibbsStep is one gibbs edit of a random grid x grid grid by the
// default prior of arch: the centred hole x hole cells redrawn into
// variants edits by 4 sweeps of 4 proposals per cell (fixed here, not
// taken from the defaults), temperature 1.
func editGibbsStep(arch string, grid, hole, variants int) (func() error, error) {
	p, err := benchPrior(arch, grid)
	if err != nil {
		return nil, err
	}
	codes, _ := randomGrids(p, 1, 7)
	keep := make([]bool, grid*grid)
	r0 := (grid - hole) / 2
	for i := range keep {
		r, c := i/grid, i%grid
		keep[i] = r < r0 || r >= r0+hole || c < r0 || c >= r0+hole
	}
	opt := sampler.EditOptions{N: variants, Method: sampler.MethodGibbs, Sweeps: 4, Proposals: 4,
		Classes: []int32{3}, Temperature: 1, TopP: 1, Seed: 1}
	return func() error {
		_, err := sampler.Edit(p, codes, keep, opt, nil)
		return err
	}, nil
}

// noCache is a Transformer whose stepper recomputes the whole prefix.
type noCache struct{ *prior.Transformer }

func (n noCache) NewStepper(k int) prior.Stepper { return n.Transformer.NewStepperNoCache(k) }
