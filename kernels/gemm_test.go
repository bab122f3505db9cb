package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmPartsMatchSgemm requires bit-identical results from Gemm, cut
// into parts every way (by count and by rows, each part run on its own, in
// reverse order), and from SgemmPackedB, against Sgemm on the whole product,
// on every path and gemmCases shape.
func TestGemmPartsMatchSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var pb PackedB
	var g Gemm
	for _, path := range Paths() {
		restore := SetPath(path)
		for _, c := range gemmCases() {
			lda, ldb := c.lds()
			a, b := randSlice(r, c.m*c.k), randSlice(r, c.k*c.n)
			c0 := randSlice(r, c.m*c.n)
			want := append([]float32(nil), c0...)
			Sgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, want, c.n)
			check := func(how string, got []float32) {
				t.Helper()
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v %s: [%d] = %v, Sgemm gives %v", path, c, how, i, got[i], want[i])
					}
				}
			}
			pb.Pack(c.tB, c.k, c.n, b, ldb)
			got := append([]float32(nil), c0...)
			SgemmPackedB(c.tA, c.m, c.alpha, a, lda, &pb, c.beta, got, c.n)
			check("SgemmPackedB", got)
			for _, packed := range []bool{false, true} {
				for _, parts := range []int{1, 2, 3, 7, 1000} {
					got := append([]float32(nil), c0...)
					if packed {
						g.SetPackedB(c.tA, c.m, c.alpha, a, lda, &pb, c.beta, got, c.n)
						if want := !c.tA && g.p.kern != nil && g.p.kern.fnRaw != nil && c.n <= g.p.kern.nr; g.p.rawA != want {
							t.Fatalf("%s %+v: rawA %v", path, c, g.p.rawA)
						}
					} else {
						g.Set(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, got, c.n)
					}
					if parts == 1000 {
						g.SplitRows(17)
					} else {
						g.Split(parts)
					}
					covered := 0
					for i := g.Parts() - 1; i >= 0; i-- {
						i0, i1, j0, j1 := g.Part(i)
						covered += (i1 - i0) * (j1 - j0)
						g.Run(i)
					}
					if covered != c.m*c.n && !(c.m == 0 || c.n == 0) {
						t.Fatalf("%s %+v: parts cover %d elements of %d", path, c, covered, c.m*c.n)
					}
					check("Gemm", got)
				}
			}
		}
		restore()
	}
}

// TestRawAStridedRows requires the kernels that read A in place to give
// the packed path's bits for rows further apart than their length, row
// counts around the panels (a last, partial panel is packed) and k across
// blocks.
func TestRawAStridedRows(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var pb PackedB
	var g Gemm
	for _, s := range [][3]int{{14, 32, 128}, {29, 20, 100}, {8, 32, 513}, {100, 32, 1030}, {3, 7, 16}} {
		m, n, k := s[0], s[1], s[2]
		lda := k + 5
		a, b := randSlice(r, m*lda), randSlice(r, k*n)
		pb.Pack(false, k, n, b, n)
		var res [2][]float32
		for i, raw := range []bool{false, true} {
			rawAOn = raw
			res[i] = make([]float32, m*n)
			g.SetPackedB(false, m, 1.5, a, lda, &pb, 0, res[i], n)
			for p := range g.Split(2) {
				g.Run(p)
			}
		}
		rawAOn = true
		for i := range res[0] {
			if math.Float32bits(res[1][i]) != math.Float32bits(res[0][i]) {
				t.Fatalf("%dx%dx%d: [%d] = %v reading A in place, %v packed", m, n, k, i, res[1][i], res[0][i])
			}
		}
	}
}

// TestPackedBAfterPathChange: a packing made for one path still gives the
// right product after SetPath switched to another (the source is used).
func TestPackedBAfterPathChange(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := 37, 45, 29
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	for _, from := range Paths() {
		for _, to := range Paths() {
			restore := SetPath(from)
			var pb PackedB
			pb.Pack(false, k, n, b, n)
			SetPath(to)
			want, got := make([]float32, m*n), make([]float32, m*n)
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
			SgemmPackedB(false, m, 1, a, k, &pb, 0, got, n)
			restore()
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s->%s: [%d] = %v, want %v", from, to, i, got[i], want[i])
				}
			}
		}
	}
}

// TestGemmNoAllocs: a warmed-up Gemm set, split and run allocates nothing.
func TestGemmNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 300, 130, 70
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	var g Gemm
	var pb PackedB
	run := func() {
		pb.Pack(true, k, n, b, k)
		g.SetPackedB(false, m, 1, a, k, &pb, 0, c, n)
		for i := range g.SplitRows(64) {
			g.Run(i)
		}
	}
	run()
	if allocs := testing.AllocsPerRun(10, run); allocs != 0 {
		t.Errorf("%v allocations per product", allocs)
	}
}

// TestGemmBias: a bias fused into the tile stores equals adding it after
// the product, bit for bit when k fits one block, to rounding beyond.
func TestGemmBias(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	var g Gemm
	var pb PackedB
	for _, path := range Paths() {
		restore := SetPath(path)
		for _, c := range gemmCases() {
			lda, ldb := c.lds()
			a, b, bias := randSlice(r, c.m*c.k), randSlice(r, c.k*c.n), randSlice(r, c.n)
			want := make([]float32, c.m*c.n)
			Sgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, 0, want, c.n)
			for i := range want {
				want[i] += bias[i%max(1, c.n)]
			}
			for _, packed := range []bool{false, true} {
				got := randSlice(r, c.m*c.n) // overwritten, never read
				if packed {
					pb.Pack(c.tB, c.k, c.n, b, ldb)
					g.SetPackedB(c.tA, c.m, c.alpha, a, lda, &pb, 0, got, c.n)
				} else {
					g.Set(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, 0, got, c.n)
				}
				g.SetBias(bias)
				for i := range g.SplitRows(29) {
					g.Run(i)
				}
				for i := range want {
					exact := math.Float32bits(got[i]) == math.Float32bits(want[i])
					if c.k <= kcMax && !exact || math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%s %+v packed=%v: [%d] = %v, product + bias %v", path, c, packed, i, got[i], want[i])
					}
				}
			}
		}
		restore()
	}
}

// lds returns the leading dimensions of dense A and B for the case.
func (c gemmCase) lds() (lda, ldb int) {
	lda, ldb = c.k, c.n
	if c.tA {
		lda = c.m
	}
	if c.tB {
		ldb = c.k
	}
	return lda, ldb
}
