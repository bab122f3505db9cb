package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowsMatchPortable checks the row movers (assembly where the CPU has
// it) against the portable loops bit for bit, on windows that hang over
// both ends of the source, stride-2 compress/expand masks, and partial
// store masks, and checks that floats outside the masks are untouched.
func TestRowsMatchPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	cases := []struct {
		name                  string
		off, stride, rows     int
		planes, before, after int
		load, squeeze, stored uint16
	}{
		{"s1 interior", 0, 9, 7, 1, 0, 0, 0x7f, 0, 0x7f},
		{"s1 left pad", -1, 7, 6, 3, 1, 0, 0x7e, 0, 0x7f},
		{"s1 right pad", 1, 7, 5, 2, 0, 2, 0x3f, 0, 0x7f},
		{"s1 16 wide", 0, 16, 3, 2, 1, 1, 0xffff, 0, 0xffff},
		{"s2 left pad", -1, 28, 7, 1, 0, 1, 0x5554, 0x5555, 0x7f},
		{"s2 right pad", 0, 14, 6, 3, 1, 0, 0x1555, 0x5555, 0x7f},
		{"s2 second half", 0, 28, 4, 2, 0, 0, 0x1555, 0x5555, 0x3f},
		{"empty load", 0, 7, 3, 2, 0, 0, 0, 0, 0x7f},
		{"s1 13 rows overlapping", -1, 7, 13, 3, 0, 0, 0x7e, 0, 0x7f},
		{"s2 17 rows", 0, 9, 17, 2, 1, 1, 0x0555, 0x5555, 0x3f},
	}
	for _, c := range cases {
		for _, asm := range []bool{false, true} {
			if asm && !hasRows {
				continue
			}
			src := make([]float32, 1200)
			for i := range src {
				src[i] = r.Float32()
			}
			base := 20
			want := make([]float32, 900)
			for i := range want {
				want[i] = float32(i) + 0.5
			}
			got := append([]float32(nil), want...)
			total := c.before + c.rows + c.after
			rowsGatherGo(want, 11, 11*total+3, src, base+c.off, c.stride, 170, c.planes, c.before, c.rows, c.after, c.load, c.squeeze, c.stored)
			func() {
				defer func(h bool) { hasRows = h }(hasRows)
				hasRows = asm
				RowsGather(got, 11, 11*total+3, src, base, c.off, c.stride, 170, c.planes, c.before, c.rows, c.after, c.load, c.squeeze, c.stored)
			}()
			same(t, c.name+" gather", got, want)

			// The adjoint: add the middle rows of each plane back.
			img := make([]float32, 1200)
			for i := range img {
				img[i] = r.Float32()
			}
			wantImg := append([]float32(nil), img...)
			mid := got[11*c.before:]
			rowsScatterAddGo(wantImg, base+c.off, c.stride, 170, mid, 11, 11*total+3, c.planes, c.rows, c.stored, c.squeeze, c.load)
			func() {
				defer func(h bool) { hasRows = h }(hasRows)
				hasRows = asm
				RowsScatterAdd(img, base, c.off, c.stride, 170, mid, 11, 11*total+3, c.planes, c.rows, c.stored, c.squeeze, c.load)
			}()
			same(t, c.name+" scatter-add", img, wantImg)
		}
	}
}

func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestRowsGatherSemantics pins the portable loops to hand-worked values: a
// stride-2 window over [1..10] starting one before the row, left lane
// masked off, keeps 0, 2, 4 (the padding and every other float).
func TestRowsGatherSemantics(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	dst := make([]float32, 4)
	rowsGatherGo(dst, 4, 0, src, -1, 10, 0, 1, 0, 1, 0, 0x3e, 0x5555, 0x7)
	for i, w := range []float32{0, 2, 4, 0} {
		if dst[i] != w {
			t.Fatalf("gather: dst = %v, want [0 2 4 0]", dst)
		}
	}
	img := make([]float32, 10)
	rowsScatterAddGo(img, -1, 10, 0, dst, 4, 0, 1, 1, 0x7, 0x5555, 0x3e)
	for i, w := range []float32{0, 2, 0, 4, 0, 0, 0, 0, 0, 0} {
		if img[i] != w {
			t.Fatalf("scatter-add: img = %v, want 2 at 1 and 4 at 3", img)
		}
	}
}
