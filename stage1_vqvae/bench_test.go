package vqvae

import (
	"testing"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// benchSetup builds the default (MNIST) model and the first batch images
// of the MNIST training split.
func benchSetup(b *testing.B, batch int) (*configs.Config, *Model, *datasets.Dataset, []int) {
	b.Helper()
	cfg := configs.Default()
	m, err := New(cfg.VQVAE, cfg.Data, nn.NewRNG(cfg.Seed))
	if err != nil {
		b.Fatal(err)
	}
	ds, err := datasets.MNIST("train")
	if err != nil {
		b.Fatal(err)
	}
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	return cfg, m, ds, idx
}

// BenchmarkTrainStep times one stage-one training step at the default
// config (batch 128): the same work as an iteration of Trainer.Run without
// the per-step statistics, evaluations and checkpoints.
func BenchmarkTrainStep(b *testing.B) {
	cfg, m, ds, idx := benchSetup(b, configs.Default().VQVAE.Train.Batch)
	tc := cfg.VQVAE.Train
	params := append(m.Enc.Params(), m.Dec.Params()...)
	opt := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	var mse nn.MSE
	x, _ := ds.Batch(idx, nil, nil)
	shift(x)
	step := func(s int) {
		z := m.Enc.Forward(x)
		q, _ := m.VQ.Forward(z)
		xr := m.Dec.Forward(q)
		mse.Forward(xr, x)
		nn.ZeroGrad(params)
		m.Enc.Backward(m.VQ.Backward(m.Dec.Backward(mse.Backward())))
		opt.Step(params, float32(tc.LR))
		m.VQ.UpdateEMA(int64(s))
	}
	step(1)
	step(2)
	b.ReportAllocs()
	b.ResetTimer()
	s := 3
	for b.Loop() {
		step(s)
		s++
	}
	b.ReportMetric(float64(b.N*len(idx))/b.Elapsed().Seconds(), "img/s")
}

// BenchmarkEncode times Model.Encode on batches of 500 MNIST images (the
// per-image cost of encoding a dataset, without the code file).
func BenchmarkEncode(b *testing.B) {
	_, m, ds, idx := benchSetup(b, 500)
	codes := make([]int32, 500*49)
	var x *nn.Tensor
	x, _ = ds.Batch(idx, x, nil)
	m.Encode(x, codes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		x, _ = ds.Batch(idx, x, nil)
		b.StartTimer()
		m.Encode(x, codes)
	}
	b.ReportMetric(float64(b.N*len(idx))/b.Elapsed().Seconds(), "img/s")
}

// BenchmarkTrainStepPhases is BenchmarkTrainStep with the wall time of each
// phase reported separately (ms/step), so that runs with GOMAXPROCS=1 and
// 2 show which phases use the second core and which leave it idle.
func BenchmarkTrainStepPhases(b *testing.B) {
	cfg, m, ds, idx := benchSetup(b, configs.Default().VQVAE.Train.Batch)
	tc := cfg.VQVAE.Train
	params := append(m.Enc.Params(), m.Dec.Params()...)
	opt := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	var mse nn.MSE
	x, _ := ds.Batch(idx, nil, nil)
	shift(x)
	names := []string{"enc_fwd", "vq_fwd", "dec_fwd", "dec_bwd", "vq_bwd", "enc_bwd", "adam", "ema"}
	spent := make([]time.Duration, len(names))
	step := func(s int) {
		t0 := time.Now()
		lap := func(i int) {
			t1 := time.Now()
			spent[i] += t1.Sub(t0)
			t0 = t1
		}
		z := m.Enc.Forward(x)
		lap(0)
		q, _ := m.VQ.Forward(z)
		lap(1)
		xr := m.Dec.Forward(q)
		mse.Forward(xr, x)
		lap(2)
		nn.ZeroGrad(params)
		dq := m.Dec.Backward(mse.Backward())
		lap(3)
		dz := m.VQ.Backward(dq)
		lap(4)
		m.Enc.Backward(dz)
		lap(5)
		opt.Step(params, float32(tc.LR))
		lap(6)
		m.VQ.UpdateEMA(int64(s))
		lap(7)
	}
	step(1)
	step(2)
	clear(spent)
	b.ResetTimer()
	s := 3
	for b.Loop() {
		step(s)
		s++
	}
	for i, n := range names {
		b.ReportMetric(float64(spent[i].Microseconds())/1e3/float64(b.N), n+"_ms")
	}
	b.ReportMetric(float64(b.N*len(idx))/b.Elapsed().Seconds(), "img/s")
}
