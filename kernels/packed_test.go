package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmPackedAMatchesSgemm requires bit-identical results from
// SgemmPackedA and Sgemm on every path and gemmCases shape (which cross the
// k, m and n block boundaries), with one packing reused for two different
// B, as a layer reuses its weights.
func TestSgemmPackedAMatchesSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var pa PackedA
	for _, path := range Paths() {
		restore := SetPath(path)
		for _, c := range gemmCases() {
			lda := c.k
			if c.tA {
				lda = c.m
			}
			ldb := c.n
			if c.tB {
				ldb = c.k
			}
			a := randSlice(r, c.m*c.k)
			pa.Pack(c.tA, c.m, c.k, a, lda)
			for rep := 0; rep < 2; rep++ {
				b := randSlice(r, c.k*c.n)
				c0 := randSlice(r, c.m*c.n)
				want := append([]float32(nil), c0...)
				Sgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, want, c.n)
				got := append([]float32(nil), c0...)
				SgemmPackedA(&pa, c.tB, c.n, c.alpha, b, ldb, c.beta, got, c.n)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v rep %d: [%d] = %v, Sgemm gives %v", path, c, rep, i, got[i], want[i])
					}
				}
			}
		}
		restore()
	}
}

// TestSgemmPackedAAfterPathChange checks that a packing made for one path
// still gives the right product after SetPath switched to another.
func TestSgemmPackedAAfterPathChange(t *testing.T) {
	paths := Paths()
	r := rand.New(rand.NewPCG(5, 6))
	m, n, k := 37, 45, 29
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	for _, from := range paths {
		for _, to := range paths {
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				restore := SetPath(from)
				var pa PackedA
				pa.Pack(false, m, k, a, k)
				SetPath(to)
				defer restore()
				want, got := make([]float32, m*n), make([]float32, m*n)
				Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
				SgemmPackedA(&pa, false, n, 1, b, n, 0, got, n)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("[%d] = %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}
