package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowSums requires every path to give each row the bits of a scalar
// loop summing it in order, set or added, for row counts and lengths
// around the 16x16 blocks, rows further apart than their length, and
// values of every magnitude (so that the order of the additions shows).
func TestRowSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, asm := range []bool{false, true} {
		if asm && !hasRows {
			continue
		}
		for _, c := range []struct{ rows, n, ld int }{
			{1, 5, 5}, {3, 1, 1}, {16, 16, 16}, {16, 17, 20}, {17, 49, 49}, {32, 392, 6272}, {128, 15, 15}, {35, 100, 131},
		} {
			t.Run(fmt.Sprintf("asm=%v/%dx%d/%d", asm, c.rows, c.n, c.ld), func(t *testing.T) {
				defer func(h bool) { hasRows = h }(hasRows)
				hasRows = asm
				x := make([]float32, (c.rows-1)*c.ld+c.n)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
				}
				base := make([]float32, c.rows)
				for i := range base {
					base[i] = float32(rng.NormFloat64())
				}
				set, added := make([]float32, c.rows), append([]float32(nil), base...)
				RowSums(set, x, c.n, c.ld, false)
				RowSums(added, x, c.n, c.ld, true)
				for r := range c.rows {
					var s float32
					for _, v := range x[r*c.ld : r*c.ld+c.n] {
						s += v
					}
					if math.Float32bits(set[r]) != math.Float32bits(s) || math.Float32bits(added[r]) != math.Float32bits(base[r]+s) {
						t.Fatalf("row %d: %v and %v, the loop gives %v and %v", r, set[r], added[r], s, base[r]+s)
					}
				}
			})
		}
	}
}

func BenchmarkRowSums(b *testing.B) {
	x := make([]float32, 128*6272)
	for i := range x {
		x[i] = float32(i%13) - 6
	}
	dst := make([]float32, 128)
	for _, asm := range []bool{false, true} {
		if asm && !hasRows {
			continue
		}
		b.Run(fmt.Sprintf("asm=%v/128x392", asm), func(b *testing.B) {
			defer func(h bool) { hasRows = h }(hasRows)
			hasRows = asm
			b.SetBytes(4 * 128 * 392)
			for b.Loop() {
				RowSums(dst, x, 392, 6272, true)
			}
		})
	}
}
