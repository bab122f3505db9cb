package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSoftmaxRows checks SoftmaxRow, SoftmaxAgain and SoftmaxGrad on every
// activation path against float64 definitions, lengths across the vector
// width and the tail, and that SoftmaxAgain reproduces SoftmaxRow exactly.
func TestSoftmaxRows(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, path := range ActPaths() {
		restore := SetActPath(path)
		for _, n := range []int{1, 2, 15, 16, 17, 33, 64, 100, 257} {
			x := make([]float32, n)
			for j := range x {
				x[j] = float32(r.NormFloat64() * 4)
			}
			x[n/2] = 40 // a large score: the max must be subtracted
			s := append([]float32(nil), x...)
			m, inv := SoftmaxRow(s)
			var mx float64 = math.Inf(-1)
			for _, v := range x {
				mx = math.Max(mx, float64(v))
			}
			if float64(m) != mx {
				t.Fatalf("%s n=%d: max %v, want %v", path, n, m, mx)
			}
			var sum float64
			for _, v := range x {
				sum += math.Exp(float64(v) - mx)
			}
			for j, v := range x {
				want := math.Exp(float64(v)-mx) / sum
				if d := math.Abs(float64(s[j]) - want); d > 1e-6*want+1e-30 && d > 3e-7 {
					t.Fatalf("%s n=%d: p[%d] = %v, want %v", path, n, j, s[j], want)
				}
			}
			again := append([]float32(nil), x...)
			SoftmaxAgain(again, m, inv)
			for j := range s {
				if math.Float32bits(again[j]) != math.Float32bits(s[j]) {
					t.Fatalf("%s n=%d: SoftmaxAgain[%d] = %v, SoftmaxRow %v", path, n, j, again[j], s[j])
				}
			}
			dp := make([]float32, n)
			for j := range dp {
				dp[j] = float32(r.NormFloat64())
			}
			var d float64
			for j := range s {
				d += float64(s[j]) * float64(dp[j])
			}
			g := append([]float32(nil), dp...)
			SoftmaxGrad(s, g)
			for j := range g {
				want := float64(s[j]) * (float64(dp[j]) - d)
				if math.Abs(float64(g[j])-want) > 1e-5*(math.Abs(want)+float64(s[j])) {
					t.Fatalf("%s n=%d: grad[%d] = %v, want %v", path, n, j, g[j], want)
				}
			}
		}
		restore()
	}
}

// TestRowMaxExpSum checks RowMax and ExpSum on every activation path
// against float64 definitions, lengths across the vector width and tail.
func TestRowMaxExpSum(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, path := range ActPaths() {
		restore := SetActPath(path)
		for _, n := range []int{1, 3, 16, 17, 40, 512, 515} {
			x := make([]float32, n)
			for j := range x {
				x[j] = float32(r.NormFloat64() * 5)
			}
			mx := x[0]
			for _, v := range x {
				mx = max(mx, v)
			}
			if got := RowMax(x); got != mx {
				t.Fatalf("%s n=%d: RowMax %v, want %v", path, n, got, mx)
			}
			for _, scale := range []float32{1, 1 / 0.7} {
				var want float64
				for _, v := range x {
					want += math.Exp(float64((v - mx) * scale))
				}
				if got := ExpSum(x, mx, scale); math.Abs(got-want) > 1e-6*want {
					t.Fatalf("%s n=%d scale %v: ExpSum %v, want %v", path, n, scale, got, want)
				}
			}
		}
		restore()
	}
}
