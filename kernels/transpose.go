package kernels

import "fmt"

// Transpose sets dst[c*ldd+r] = src[r*lds+c] for r < rows and c < cols:
// a block of a row-major matrix written transposed into another. With
// AVX-512 each whole 16x16 block is 16 loads, an in-register transpose and
// 16 stores, so both sides move whole cache lines; the edges go in Go.
func Transpose(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if lds < cols || ldd < rows || (rows-1)*lds+cols > len(src) || (cols-1)*ldd+rows > len(dst) {
		panic(fmt.Sprintf("kernels: Transpose of %dx%d (lds %d, ldd %d) from %d into %d floats", rows, cols, lds, ldd, len(src), len(dst)))
	}
	r16, c16 := 0, 0
	if hasRows {
		r16, c16 = rows&^15, cols&^15
		for r := 0; r < r16; r += 16 {
			for c := 0; c < c16; c += 16 {
				transpose16AVX512(&src[r*lds+c], lds, &dst[c*ldd+r], ldd)
			}
		}
	}
	// The rest: columns past the blocks for every row, then rows past them.
	for r := 0; r < r16; r++ {
		for c, v := range src[r*lds+c16 : r*lds+cols] {
			dst[(c16+c)*ldd+r] = v
		}
	}
	for r := r16; r < rows; r++ {
		for c, v := range src[r*lds : r*lds+cols] {
			dst[c*ldd+r] = v
		}
	}
}
