package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// TestNarrowKernelSameBits requires the narrow sibling kernel, which
// kernelFor picks for small m that it tiles with less padding, to give
// the same bits as the wide kernel, through Sgemm and SgemmPackedA.
func TestNarrowKernelSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ran := 0
	for _, path := range Paths() {
		restore := SetPath(path)
		if active == nil || active.narrow == nil {
			restore()
			continue
		}
		for _, m := range []int{8, 16, 24, 32, 64, 96, 128, 200, 256} {
			n, k := 45+m%7, 70+m%13
			if kernelFor(m) != active.narrow {
				t.Fatalf("%s: m=%d does not take the narrow kernel", path, m)
			}
			a, b, c0 := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
			run := func() (plain, packed []float32) {
				plain = append([]float32(nil), c0...)
				Sgemm(false, false, m, n, k, 1.5, a, k, b, n, 0.5, plain, n)
				var pa PackedA
				pa.Pack(true, m, k, transposed(a, m, k), m)
				packed = append([]float32(nil), c0...)
				SgemmPackedA(&pa, false, n, 1.5, b, n, 0.5, packed, n)
				return plain, packed
			}
			narrowPlain, narrowPacked := run()
			narrow := active.narrow
			active.narrow = nil
			widePlain, widePacked := run()
			active.narrow = narrow
			for i := range widePlain {
				if math.Float32bits(narrowPlain[i]) != math.Float32bits(widePlain[i]) ||
					math.Float32bits(narrowPacked[i]) != math.Float32bits(widePacked[i]) {
					t.Fatalf("%s m=%d: [%d] narrow %v/%v, wide %v/%v", path, m, i,
						narrowPlain[i], narrowPacked[i], widePlain[i], widePacked[i])
				}
			}
			ran++
		}
		restore()
	}
	if ran == 0 && slices.Contains(Paths(), "avx512") {
		t.Fatal("no case ran on the AVX-512 path")
	}
}

// transposed returns the k x m transpose of the m x k row-major a.
func transposed(a []float32, m, k int) []float32 {
	t := make([]float32, len(a))
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			t[j*m+i] = a[i*k+j]
		}
	}
	return t
}

// TestRowsView: a view over rows already in panel layout gives Sgemm's
// bits on every path where it applies, and refuses the layouts it cannot
// stand for.
func TestRowsView(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, path := range Paths() {
		restore := SetPath(path)
		nr := PanelWidth()
		var pb PackedB
		if nr == 0 {
			if pb.RowsView(3, 32, make([]float32, 96), 32) {
				t.Errorf("%s: a view without panels", path)
			}
			restore()
			continue
		}
		for _, c := range []struct{ m, k int }{{14, 1}, {14, 220}, {5, 37}, {56, 512}, {1, 9}} {
			a, b := randSlice(r, c.m*c.k), randSlice(r, c.k*nr)
			want := randSlice(r, c.m*nr)
			got := slices.Clone(want)
			Sgemm(false, false, c.m, nr, c.k, 0.5, a, c.k, b, nr, 0, want, nr)
			if !pb.RowsView(c.k, nr, b, nr) {
				t.Fatalf("%s: no view of %dx%d rows", path, c.k, nr)
			}
			SgemmPackedB(false, c.m, 0.5, a, c.k, &pb, 0, got, nr)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s m=%d k=%d: [%d] = %v, Sgemm gives %v", path, c.m, c.k, i, got[i], want[i])
				}
			}
		}
		for _, bad := range []struct{ k, n, ld int }{{4, nr + 1, nr + 1}, {4, nr, nr + 3}, {kcMax + 1, nr, nr}, {0, nr, nr}} {
			if pb.RowsView(bad.k, bad.n, make([]float32, (bad.k+1)*bad.ld), bad.ld) {
				t.Errorf("%s: a view of %d rows of %d (stride %d)", path, bad.k, bad.n, bad.ld)
			}
		}
		restore()
	}
}
