package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGatherPatternMatchesDefinition fills panels through random patterns
// (tap counts that do and do not divide the rows, partial masks, rows that
// start mid-channel) and compares every float with the definition. The
// assembly runs for 32 lanes where the CPU has it; other widths and noasm
// builds test the portable loop.
func TestGatherPatternMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var g GatherPattern
	loadTrials := 0
	for trial := 0; trial < 300; trial++ {
		taps := 1 + r.IntN(17)
		nr := []int{32, 32, 16, 7, 32}[trial%5]
		runs := trial%5 == 4 // offsets in runs of consecutive floats, as a stride-1 conv reads
		chStride := 1 + r.IntN(60)
		g.Reset(taps, nr)
		type lane struct {
			on  bool
			off int
		}
		want := make([]lane, taps*nr)
		for tp := 0; tp < taps; tp++ {
			for l := 0; l < nr; l++ {
				if r.IntN(4) == 0 {
					continue // padding
				}
				off := r.IntN(3 * chStride)
				if runs {
					// Two runs per 16 lanes, split at a random lane.
					split := 16*(l/16) + r.IntN(17)
					off = 2*chStride + 9 + tp - 16*(l/16) + l
					if l >= split {
						off -= 9
					}
				}
				g.Set(tp, l, off)
				want[tp*nr+l] = lane{true, off}
			}
		}
		g.Finish()
		if runs {
			if !g.loads {
				t.Fatalf("trial %d: a pattern of two runs per half did not switch to loads", trial)
			}
			loadTrials++
		}
		q0, n := r.IntN(3*taps), 1+r.IntN(4*taps)
		src := randSlice(r, ((q0+n-1)/taps)*chStride+3*chStride+48)
		dst := make([]float32, n*nr+5)
		for i := range dst {
			dst[i] = float32(math.NaN())
		}
		g.Gather(dst, src, chStride, q0, n)
		for row := 0; row < n; row++ {
			q := q0 + row
			for l := 0; l < nr; l++ {
				w := want[(q%taps)*nr+l]
				var v float32
				if w.on {
					v = src[q/taps*chStride+w.off]
				}
				if got := dst[row*nr+l]; math.Float32bits(got) != math.Float32bits(v) {
					t.Fatalf("trial %d (taps %d, nr %d, q0 %d): row %d lane %d = %v, want %v", trial, taps, nr, q0, row, l, got, v)
				}
			}
		}
		for i := n * nr; i < len(dst); i++ {
			if !math.IsNaN(float64(dst[i])) {
				t.Fatalf("trial %d: wrote dst[%d] past the %d rows", trial, i, n)
			}
		}
	}
	if loadTrials == 0 {
		t.Fatal("no trial had a pattern of runs")
	}
}

// TestGatherPatternRefusesOutOfRange checks that a read past src panics
// instead of reaching memory the slice does not own.
func TestGatherPatternRefusesOutOfRange(t *testing.T) {
	var g GatherPattern
	g.Reset(2, 32)
	g.Set(1, 31, 9)
	g.Finish()
	src := make([]float32, 2*10) // two channels of 10
	g.Gather(make([]float32, 4*32), src, 10, 0, 4)
	defer func() {
		if recover() == nil {
			t.Fatal("a third channel's read did not panic")
		}
	}()
	g.Gather(make([]float32, 5*32), src, 10, 0, 5)
}

// funcSource packs op(B)[r][c] = at(r, c) the way packB lays panels out,
// one float at a time: the reference layout for PanelSource.
type funcSource struct{ at func(r, c int) float32 }

func (s funcSource) PackPanels(dst []float32, p0, kb, j0, nb, nr int) {
	for jr := 0; jr < nb; jr += nr {
		panel := dst[jr*kb : jr*kb+nr*kb]
		for q := 0; q < kb; q++ {
			for c := 0; c < nr; c++ {
				var v float32
				if jr+c < nb {
					v = s.at(p0+q, j0+jr+c)
				}
				panel[q*nr+c] = v
			}
		}
	}
}

// TestSgemmPackedASourceMatchesPackedA requires bit-identical products from
// a PanelSource and from the matrix it packs, on every assembly path and
// gemmCases shape (crossing the k and n block boundaries).
func TestSgemmPackedASourceMatchesPackedA(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var pa PackedA
	ran := 0
	for _, path := range Paths() {
		restore := SetPath(path)
		if PanelWidth() == 0 {
			restore()
			continue
		}
		for _, c := range gemmCases() {
			if c.tB {
				continue
			}
			lda := c.k
			if c.tA {
				lda = c.m
			}
			a, b := randSlice(r, c.m*c.k), randSlice(r, c.k*c.n)
			pa.Pack(c.tA, c.m, c.k, a, lda)
			c0 := randSlice(r, c.m*c.n)
			want := append([]float32(nil), c0...)
			SgemmPackedA(&pa, false, c.n, c.alpha, b, c.n, c.beta, want, c.n)
			got := append([]float32(nil), c0...)
			rowMajor := funcSource{func(r, col int) float32 { return b[r*c.n+col] }}
			SgemmPackedASource(&pa, c.n, rowMajor, c.alpha, c.beta, got, c.n)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %+v: [%d] = %v, SgemmPackedA gives %v", path, c, i, got[i], want[i])
				}
			}
			ran++
		}
		restore()
	}
	if PanelWidth() > 0 && ran == 0 {
		t.Fatal("no case ran")
	}
}

// TestGatherGridMatchesDefinition fills panels from random grids (row
// offsets below zero included, lanes masked per row) and compares every
// float with the definition, for 32 lanes (assembly where available) and
// for other widths (the portable loop).
func TestGatherGridMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	var g GatherGrid
	for trial := 0; trial < 200; trial++ {
		nr := []int{32, 32, 16, 5}[trial%4]
		rows := 1 + r.IntN(60)
		g.Reset(rows, nr)
		lanes := make([]int, nr)
		for l := range lanes {
			lanes[l] = 20 + r.IntN(100)
			g.SetLane(l, lanes[l])
		}
		rowOff := make([]int, rows)
		masks := make([]uint32, rows)
		for p := range rowOff {
			rowOff[p] = r.IntN(200) - 20 // lanes start at 20: never below 0
			masks[p] = r.Uint32() & (1<<nr - 1)
			g.SetRow(p, rowOff[p], masks[p])
		}
		g.Finish()
		src := randSlice(r, 320)
		p0 := r.IntN(rows)
		n := 1 + r.IntN(rows-p0)
		dst := make([]float32, n*nr+3)
		for i := range dst {
			dst[i] = float32(math.NaN())
		}
		g.Gather(dst, src, p0, n)
		for row := 0; row < n; row++ {
			p := p0 + row
			for l := 0; l < nr; l++ {
				var v float32
				if masks[p]&(1<<l) != 0 {
					v = src[rowOff[p]+lanes[l]]
				}
				if got := dst[row*nr+l]; math.Float32bits(got) != math.Float32bits(v) {
					t.Fatalf("trial %d (nr %d): row %d lane %d = %v, want %v", trial, nr, p, l, got, v)
				}
			}
		}
		for i := n * nr; i < len(dst); i++ {
			if !math.IsNaN(float64(dst[i])) {
				t.Fatalf("trial %d: wrote dst[%d] past the %d rows", trial, i, n)
			}
		}
	}
}

// TestGatherGridRefusesBadReads checks the panics that keep the
// assembly's reads inside src: an offset below 0 or past the end.
func TestGatherGridRefusesBadReads(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", name)
			}
		}()
		f()
	}
	var g GatherGrid
	g.Reset(2, 32)
	g.SetLane(3, 5)
	g.SetRow(0, -6, 1<<3)
	mustPanic("a read at -1", g.Finish)
	g.SetRow(0, 10, 1<<3)
	g.Finish()
	mustPanic("a read at 15 of 15 floats", func() { g.Gather(make([]float32, 64), make([]float32, 15), 0, 2) })
	g.Gather(make([]float32, 64), make([]float32, 16), 0, 2)
	g.SetRow(1, 0, 1<<4)
	mustPanic("a lane without offset", g.Finish)
}

// TestSgemmSourceMatchesSgemm requires bit-identical products from
// SgemmSource and Sgemm with op(B) = B^T, on every assembly path and
// gemmCases shape.
func TestSgemmSourceMatchesSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, path := range Paths() {
		restore := SetPath(path)
		if PanelWidth() == 0 {
			restore()
			continue
		}
		for _, c := range gemmCases() {
			lda := c.k
			if c.tA {
				lda = c.m
			}
			a, b := randSlice(r, c.m*c.k), randSlice(r, c.n*c.k)
			c0 := randSlice(r, c.m*c.n)
			want := append([]float32(nil), c0...)
			Sgemm(c.tA, true, c.m, c.n, c.k, c.alpha, a, lda, b, c.k, c.beta, want, c.n)
			got := append([]float32(nil), c0...)
			transposed := funcSource{func(r, col int) float32 { return b[col*c.k+r] }}
			SgemmSource(c.tA, c.m, c.n, c.k, c.alpha, a, lda, transposed, c.beta, got, c.n)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %+v: [%d] = %v, Sgemm gives %v", path, c, i, got[i], want[i])
				}
			}
		}
		restore()
	}
}
