package kernels

import (
	"fmt"
	"testing"
)

// TestTranspose checks both paths against the definition for sizes around
// the 16x16 blocks and strides beyond the block's width, and that nothing
// outside the block is written.
func TestTranspose(t *testing.T) {
	for _, asm := range []bool{false, true} {
		if asm && !hasRows {
			continue
		}
		for _, c := range []struct{ rows, cols, lds, ldd int }{
			{1, 1, 1, 1}, {16, 16, 16, 16}, {17, 33, 40, 20}, {100, 32, 384, 256}, {5, 40, 40, 7}, {48, 15, 15, 50},
		} {
			t.Run(fmt.Sprintf("asm=%v/%dx%d", asm, c.rows, c.cols), func(t *testing.T) {
				defer func(h bool) { hasRows = h }(hasRows)
				hasRows = asm
				src := make([]float32, (c.rows-1)*c.lds+c.cols)
				for i := range src {
					src[i] = float32(i) + 0.5
				}
				dst := make([]float32, (c.cols-1)*c.ldd+c.rows+3)
				for i := range dst {
					dst[i] = -1
				}
				Transpose(dst, c.ldd, src, c.lds, c.rows, c.cols)
				for i := range dst {
					r, col := i%c.ldd, i/c.ldd
					want := float32(-1)
					if r < c.rows && col < c.cols {
						want = src[r*c.lds+col]
					}
					if dst[i] != want {
						t.Fatalf("dst[%d] (row %d of column %d) = %v, want %v", i, r, col, dst[i], want)
					}
				}
			})
		}
	}
}
