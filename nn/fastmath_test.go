package nn

import (
	"math"
	"testing"
)

func TestFastMathAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      func(float32) float32
		ref    func(float64) float64
		lo, hi float64
		absTol float64 // error bound: absTol + relTol*|ref|
		relTol float64
	}{
		{"Exp32", Exp32, math.Exp, -87.29, 88.72, 0, 4e-7}, // up to just below ln(MaxFloat32)
		{"Erf32", Erf32, math.Erf, -6, 6, 5e-7, 0},
		{"Tanh32", Tanh32, math.Tanh, -12, 12, 3e-7, 0},
		{"Sigmoid32", Sigmoid32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -30, 30, 1e-7, 4e-7},
	} {
		worst, at := 0.0, 0.0
		const n = 200001
		for i := 0; i < n; i++ {
			x := float32(tc.lo + (tc.hi-tc.lo)*float64(i)/(n-1))
			got, want := float64(tc.f(x)), tc.ref(float64(x))
			if err := math.Abs(got-want) / (tc.absTol + tc.relTol*math.Abs(want)); err > worst {
				worst, at = err, float64(x)
			}
		}
		t.Logf("%s: worst error %.2f of the bound (at x=%.6g)", tc.name, worst, at)
		if worst > 1 {
			t.Errorf("%s: error %.2fx the bound at x=%g", tc.name, worst, at)
		}
	}
	if Exp32(100) != float32(math.Inf(1)) || Exp32(88.73) != float32(math.Inf(1)) || Exp32(-100) != 0 || Tanh32(-50) != -1 || Sigmoid32(-200) != 0 {
		t.Error("saturation wrong")
	}
}

func BenchmarkGELUForward(b *testing.B) {
	rng := NewRNG(1)
	x := randTensor(rng, 128*49, 512)
	var g GELU
	b.SetBytes(int64(4 * x.Len()))
	for i := 0; i < b.N; i++ {
		g.Forward(x)
	}
}

// BenchmarkGELUFwdBwd is one forward and one backward pass over the
// Transformer prior's MLP activations (3.2M elements); ns/elem is per
// element for the pair.
func BenchmarkGELUFwdBwd(b *testing.B) {
	rng := NewRNG(1)
	x := randTensor(rng, 128*49, 512)
	dy := randTensor(rng, 128*49, 512)
	var g GELU
	g.Forward(x)
	g.Backward(dy)
	for b.Loop() {
		g.Forward(x)
		g.Backward(dy)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(x.Len()), "ns/elem")
}
