package prior

import (
	"math"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
)

// mnistInfo is the MNIST prior's shape: 7x7 grids of K = 512 codes, 10
// classes.
var mnistInfo = Info{K: 512, H: 7, W: 7, Classes: 10}

// BenchmarkTransformerTrainStep is forward, cross-entropy and backward on
// a batch of 128 grids with the default config (no optimizer step).
func BenchmarkTransformerTrainStep(b *testing.B) {
	cfg := configs.Default().Prior.Transformer
	m := newTestTransformer(b, cfg, mnistInfo, 1)
	const n = 128
	rng := nn.NewRNG(2)
	codes := randCodes(rng, n*mnistInfo.Positions(), mnistInfo.K)
	classes := randCodes(rng, n, mnistInfo.Classes)
	var ce nn.CrossEntropy
	step := func() {
		nn.ZeroGrad(m.Params())
		ce.Forward(m.Forward(codes, classes, n), codes)
		m.Backward(ce.Backward())
	}
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "grids/s")
}

// BenchmarkTransformerSample draws 64 grids position by position (softmax
// sampling from the logits) with and without the key/value cache.
func BenchmarkTransformerSample(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache bool
	}{{"cached", true}, {"nocache", false}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := configs.Default().Prior.Transformer
			m := newTestTransformer(b, cfg, mnistInfo, 1)
			const n = 64
			var s Stepper
			if bc.cache {
				s = m.NewStepper(n)
			} else {
				s = m.NewStepperNoCache(n)
			}
			rng := nn.NewRNG(3)
			classes := randCodes(rng, n, mnistInfo.Classes)
			codes := make([]int32, n*mnistInfo.Positions())
			probs := make([]float64, mnistInfo.K)
			sample := func() {
				sampleGrids(s, rng, codes, classes, n, mnistInfo, probs)
			}
			sample()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sample()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// sampleGrids fills codes with n grids drawn from the prior through s.
func sampleGrids(s Stepper, rng *nn.RNG, codes, classes []int32, n int, info Info, probs []float64) {
	T, K := info.Positions(), info.K
	s.Reset(n, classes)
	for pos := range T {
		y := s.Next(codes, pos)
		for b := range n {
			row := y.Data[b*K : (b+1)*K]
			mx := row[0]
			for _, v := range row {
				mx = max(mx, v)
			}
			var sum float64
			for k, v := range row {
				probs[k] = math.Exp(float64(v - mx))
				sum += probs[k]
			}
			u := rng.Float64() * sum
			k := 0
			for ; k < K-1; k++ {
				u -= probs[k]
				if u < 0 {
					break
				}
			}
			codes[b*T+pos] = int32(k)
		}
	}
}
