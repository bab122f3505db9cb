package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVecMatMatchesSgemm: on every path VecMat equals a one-row Sgemm to
// float32 rounding, and on the AVX-512 path bit for bit (the same FMA
// chain), for widths that exercise the 64- and 16-column blocks and the
// masked tail.
func TestVecMatMatchesSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, path := range Paths() {
		restore := SetPath(path)
		for _, n := range []int{1, 5, 16, 17, 32, 63, 64, 65, 100, 257} {
			for _, rows := range []int{1, 2, 7, 32, 300} {
				ld := n + 3
				a, x := randSlice(r, rows), randSlice(r, rows*ld)
				y := randSlice(r, n) // overwritten, never read
				VecMat(y, a, x, ld)
				want := make([]float32, n)
				Sgemm(false, false, 1, n, rows, 1, a, rows, x, ld, 0, want, n)
				for j := range want {
					if path == "avx512" && math.Float32bits(y[j]) != math.Float32bits(want[j]) {
						t.Fatalf("%s n=%d rows=%d: y[%d] = %v, Sgemm %v", path, n, rows, j, y[j], want[j])
					}
					if d := math.Abs(float64(y[j] - want[j])); d > 1e-5*float64(rows) {
						t.Fatalf("%s n=%d rows=%d: y[%d] = %v, Sgemm %v", path, n, rows, j, y[j], want[j])
					}
				}
			}
		}
		restore()
	}
}
