package prior

import (
	"math"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
)

func benchPixelCNN(b *testing.B) *PixelCNN {
	return newTestPixelCNN(b, configs.Default().Prior.PixelCNN, Info{K: 512, H: 7, W: 7, Classes: 10}, 1)
}

// BenchmarkPixelCNNTrainStep: forward + cross-entropy + backward, batch
// 128 of 7x7 grids, default config.
func BenchmarkPixelCNNTrainStep(b *testing.B) {
	m := benchPixelCNN(b)
	rng := nn.NewRNG(2)
	n := 128
	codes := randomCodes(rng, n*49, 512)
	cls := randomCodes(rng, n, 10)
	var ce nn.CrossEntropy
	step := func() {
		nn.ZeroGrad(m.Params())
		ce.Forward(m.Forward(codes, cls, n), codes)
		m.Backward(ce.Backward())
	}
	step()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuSeconds()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "grids/s")
	b.ReportMetric((cpuSeconds()-cpu)/float64(b.N), "cpu-s/op")
}

// draw samples one code per grid from logits [n, K] (inverse CDF).
func draw(rng *nn.RNG, logits []float32, k int, codes []int32, pos, hw int, probs []float64) {
	for g := range len(logits) / k {
		row := logits[g*k : (g+1)*k]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for j, v := range row {
			probs[j] = math.Exp(float64(v - mx))
			s += probs[j]
		}
		u := rng.Float64() * s
		j := 0
		for ; j < k-1 && u >= probs[j]; j++ {
			u -= probs[j]
		}
		codes[g*hw+pos] = int32(j)
	}
}

// BenchmarkPixelCNNSample64 draws 64 7x7 grids with the default config:
// the incremental stepper against recomputing the full forward pass at
// every position.
func BenchmarkPixelCNNSample64(b *testing.B) {
	m := benchPixelCNN(b)
	n, K, HW := 64, 512, 49
	cls := randomCodes(nn.NewRNG(3), n, 10)
	codes := make([]int32, n*HW)
	probs := make([]float64, K)
	b.Run("stepper", func(b *testing.B) {
		st := m.NewStepper(n)
		rng := nn.NewRNG(4)
		st.Reset(n, cls)
		st.Next(codes, 0)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuSeconds()
		for range b.N {
			st.Reset(n, cls)
			for pos := range HW {
				draw(rng, st.Next(codes, pos).Data, K, codes, pos, HW, probs)
			}
		}
		b.ReportMetric((cpuSeconds()-cpu)/float64(b.N), "cpu-s/op")
	})
	b.Run("recompute", func(b *testing.B) {
		rng := nn.NewRNG(4)
		logits := make([]float32, n*K)
		m.Forward(codes, cls, n)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuSeconds()
		for range b.N {
			clear(codes)
			for pos := range HW {
				y := m.Forward(codes, cls, n)
				for g := range n {
					copy(logits[g*K:(g+1)*K], y.Data[(g*HW+pos)*K:])
				}
				draw(rng, logits, K, codes, pos, HW, probs)
			}
		}
		b.ReportMetric((cpuSeconds()-cpu)/float64(b.N), "cpu-s/op")
	})
}
