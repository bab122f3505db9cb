package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// refGemm is the product in float64 (the reference every path is judged
// against), together with sum_k |a||b| per element, the scale of the
// rounding error any float32 summation order can make.
func refGemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, scale []float64) {
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			w := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				sc += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j], scale[i*n+j] = w, sc
		}
	}
	return want, scale
}

type gemmCase struct {
	tA, tB      bool
	m, n, k     int
	alpha, beta float32
}

func gemmCases() []gemmCase {
	var cs []gemmCase
	sizes := [][3]int{{1, 1, 1}, {1, 7, 3}, {2, 3, 4}, {5, 1, 9}, {13, 17, 11}, {14, 32, 5}, {15, 33, 70},
		{28, 64, 64}, {29, 65, 1}, {37, 19, 53}, {64, 48, 31}, {70, 70, 70}, {6, 16, 8}, {7, 17, 2}, {3, 70, 40}}
	ab := [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {2, -1}}
	i := 0
	for _, s := range sizes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				v := ab[i%len(ab)]
				i++
				cs = append(cs, gemmCase{tA, tB, s[0], s[1], s[2], v[0], v[1]})
			}
		}
	}
	// Larger ones cross k, m and n block boundaries (kcMax, mcMax, ncMax).
	for _, s := range [][3]int{{200, 700, 400}, {1030, 90, 385}, {64, 576, 256}, {30, 70, 1030}} {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				v := ab[i%len(ab)]
				i++
				cs = append(cs, gemmCase{tA, tB, s[0], s[1], s[2], v[0], v[1]})
			}
		}
	}
	return cs
}

// TestSgemmPaths checks every path this machine supports against a float64
// reference. Tolerance: |got-want| <= 4*eps32*sqrt(k+2)*scale + tiny, where
// scale = |alpha|*sum|a*b| + |beta*c|. A float32 sum of k terms in any order
// has error bounded by k*eps*scale in the worst case and ~sqrt(k)*eps*scale
// typically (random rounding); the factor 4 leaves room for the final
// alpha/beta steps. A wrong index or a missing k step is off by O(scale/k)
// or more, far above this.
func TestSgemmPaths(t *testing.T) {
	for _, path := range Paths() {
		t.Run(path, func(t *testing.T) {
			defer SetPath(path)()
			if Path() != path {
				t.Fatalf("Path() = %q after SetPath(%q)", Path(), path)
			}
			r := rand.New(rand.NewPCG(1, 2))
			worst := 0.0
			for _, tc := range gemmCases() {
				ar, ac := tc.m, tc.k
				if tc.tA {
					ar, ac = tc.k, tc.m
				}
				br, bc := tc.k, tc.n
				if tc.tB {
					br, bc = tc.n, tc.k
				}
				// Leading dimensions larger than the width catch stride bugs.
				lda, ldb, ldc := ac+3, bc+1, tc.n+5
				a := randSlice(r, (ar-1)*lda+ac)
				b := randSlice(r, (br-1)*ldb+bc)
				c := randSlice(r, (tc.m-1)*ldc+tc.n)
				want, scale := refGemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				orig := append([]float32(nil), c...)
				Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				tol := 4 * 0x1p-23 * math.Sqrt(float64(tc.k+2))
				for i := 0; i < tc.m; i++ {
					for j := 0; j < ldc && i*ldc+j < len(c); j++ {
						got := float64(c[i*ldc+j])
						if j >= tc.n {
							if c[i*ldc+j] != orig[i*ldc+j] {
								t.Fatalf("%+v: wrote outside C at (%d,%d)", tc, i, j)
							}
							continue
						}
						e := math.Abs(got - want[i*tc.n+j])
						if e > tol*scale[i*tc.n+j]+1e-30 {
							t.Fatalf("%+v: C[%d][%d] = %g, want %g (err %g > tol %g)", tc, i, j, got, want[i*tc.n+j], e, tol*scale[i*tc.n+j])
						}
						if scale[i*tc.n+j] > 0 {
							worst = max(worst, e/scale[i*tc.n+j]/math.Sqrt(float64(tc.k+2)))
						}
					}
				}
			}
			t.Logf("%s: worst error / (scale*sqrt(k+2)) = %.3g eps32", path, worst/0x1p-23)
		})
	}
}

// TestSgemmMatchesGonum compares a big product with gonum's implementation
// on each path: relative error of the whole matrix (Frobenius) below 1e-5
// for K = 1024.
func TestSgemmMatchesGonum(t *testing.T) {
	const m, n, k = 97, 130, 1024
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, want, n)
	for _, path := range Paths() {
		restore := SetPath(path)
		got := make([]float32, m*n)
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
		restore()
		var num, den float64
		for i := range got {
			d := float64(got[i] - want[i])
			num += d * d
			den += float64(want[i]) * float64(want[i])
		}
		rel := math.Sqrt(num / den)
		t.Logf("%s: relative error vs gonum %.3g", path, rel)
		if rel > 1e-5 {
			t.Errorf("%s: relative error vs gonum %g > 1e-5", path, rel)
		}
	}
}

func TestBetaZeroIgnoresNaN(t *testing.T) {
	for _, path := range Paths() {
		for _, k := range []int{0, 5, 300} {
			t.Run(fmt.Sprintf("%s/k=%d", path, k), func(t *testing.T) {
				defer SetPath(path)()
				const m, n = 17, 35 // full and edge tiles on every path
				r := rand.New(rand.NewPCG(5, 6))
				a, b := randSlice(r, m*max(k, 1)), randSlice(r, max(k, 1)*n)
				c := make([]float32, m*n)
				for i := range c {
					c[i] = float32(math.NaN())
				}
				Sgemm(false, false, m, n, k, 1, a, max(k, 1), b, n, 0, c, n)
				for i, v := range c {
					if v != v {
						t.Fatalf("C[%d] is NaN after beta=0", i)
					}
				}
			})
		}
	}
}

func TestThreadsBitIdentical(t *testing.T) {
	shapes := []gemmCase{{false, false, 301, 77, 129, 1.5, 0.5}, {true, false, 64, 1000, 200, 1, 0},
		{false, true, 900, 64, 576, 1, 1}, {true, true, 45, 45, 45, -1, 2}}
	for _, path := range Paths() {
		defer SetPath(path)()
		for _, s := range shapes {
			r := rand.New(rand.NewPCG(7, 8))
			a, b := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n)
			c0 := randSlice(r, s.m*s.n)
			lda, ldb := s.k, s.n
			if s.tA {
				lda = s.m
			}
			if s.tB {
				ldb = s.k
			}
			var ref []float32
			for _, th := range []int{1, 2, 3, 5, 8} {
				c := append([]float32(nil), c0...)
				SgemmThreads(th, s.tA, s.tB, s.m, s.n, s.k, s.alpha, a, lda, b, ldb, s.beta, c, s.n)
				if ref == nil {
					ref = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("%s %+v: threads=%d differs from threads=1 at %d: %g vs %g", path, s, th, i, c[i], ref[i])
					}
				}
			}
		}
	}
}

func TestImplementationThroughBlas32(t *testing.T) {
	defer func(prev blas.Float32) { blas32.Use(prev) }(blas32.Implementation())
	blas32.Use(Implementation{Threads: 2})
	a := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	b := blas32.General{Rows: 3, Cols: 2, Stride: 2, Data: []float32{1, 0, 0, 1, 1, 1}}
	c := blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 4)}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
	want := []float32{4, 5, 10, 11}
	for i, v := range want {
		if c.Data[i] != v {
			t.Fatalf("blas32.Gemm via Implementation: got %v, want %v", c.Data, want)
		}
	}
}

func TestBadArgsPanic(t *testing.T) {
	s := make([]float32, 100)
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"lda", func() { Sgemm(false, false, 2, 2, 3, 1, s, 2, s, 2, 0, s, 2) }, "lda=2"},
		{"ldb trans", func() { Sgemm(false, true, 2, 2, 3, 1, s, 3, s, 2, 0, s, 2) }, "ldb=2"},
		{"ldc", func() { Sgemm(false, false, 2, 4, 3, 1, s, 3, s, 4, 0, s, 3) }, "ldc=3"},
		{"short c", func() { Sgemm(false, false, 20, 20, 1, 1, s, 1, s, 20, 0, s[:50], 20) }, "len(c)=50"},
		{"negative", func() { Sgemm(false, false, -1, 2, 3, 1, s, 3, s, 2, 0, s, 2) }, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !containsStr(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic %v, want one mentioning %q", r, tc.want)
				}
			}()
			tc.fn()
		})
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestNoAllocs(t *testing.T) {
	const m, n, k = 64, 256, 576
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, path := range Paths() {
		restore := SetPath(path)
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		runtime.GC() // a collection must not cost the packing buffers
		allocs := testing.AllocsPerRun(5, func() { Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) })
		restore()
		if path != "generic" && allocs > 0 {
			t.Errorf("%s: %v allocations per Sgemm after warm-up", path, allocs)
		}
	}
}

func TestFLOPCounter(t *testing.T) {
	a, b, c := make([]float32, 6), make([]float32, 12), make([]float32, 8)
	before := FLOPs()
	Sgemm(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 4)
	if FLOPs() != before {
		t.Fatal("counted while counting is off")
	}
	CountFLOPs(true)
	defer CountFLOPs(false)
	Sgemm(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 4)
	if got := FLOPs() - before; got != 2*2*4*3 {
		t.Fatalf("counted %d FLOPs, want 48", got)
	}
}
