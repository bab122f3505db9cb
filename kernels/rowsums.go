package kernels

import "fmt"

// RowSums sets dst[r] to the sum of row r of x (len(dst) rows of n values,
// ld floats apart), or adds it to dst[r] when add. Each row is summed in
// order from its first value, starting from 0, as a scalar loop
// (s += x[j]) does, so the bits are that loop's whatever the path: a
// convolution's bias gradient, which must not depend on the machine.
//
// A scalar sum waits on each addition before the next; with AVX-512,
// sixteen rows go at once, a 16x16 block transposed in registers so that
// each lane adds its own row's values in order (the columns past the last
// whole block go on in scalar loops). Elsewhere four rows' loops are
// interleaved.
func RowSums(dst, x []float32, n, ld int, add bool) {
	rows := len(dst)
	if rows == 0 || n == 0 {
		if !add {
			clear(dst)
		}
		return
	}
	if n < 0 || ld < n || (rows-1)*ld+n > len(x) {
		panic(fmt.Sprintf("kernels: RowSums of %d rows of %d, %d apart, from %d floats", rows, n, ld, len(x)))
	}
	r := 0
	if hasRows && n >= 16 {
		var s [16]float32
		blocks := n / 16
		for ; r+16 <= rows; r += 16 {
			rowSums16AVX512(blocks, &x[r*ld], ld, &s[0])
			for i, v := range s {
				row := x[(r+i)*ld : (r+i)*ld+n]
				for _, w := range row[16*blocks:] {
					v += w
				}
				if add {
					v = dst[r+i] + v
				}
				dst[r+i] = v
			}
		}
	}
	for ; r+4 <= rows; r += 4 {
		a := x[r*ld : r*ld+n]
		b := x[(r+1)*ld : (r+1)*ld+n][:len(a)]
		c := x[(r+2)*ld : (r+2)*ld+n][:len(a)]
		d := x[(r+3)*ld : (r+3)*ld+n][:len(a)]
		var s0, s1, s2, s3 float32
		for j, v := range a {
			s0 += v
			s1 += b[j]
			s2 += c[j]
			s3 += d[j]
		}
		if add {
			s0, s1, s2, s3 = dst[r]+s0, dst[r+1]+s1, dst[r+2]+s2, dst[r+3]+s3
		}
		dst[r], dst[r+1], dst[r+2], dst[r+3] = s0, s1, s2, s3
	}
	for ; r < rows; r++ {
		var s float32
		for _, v := range x[r*ld : r*ld+n] {
			s += v
		}
		if add {
			s = dst[r] + s
		}
		dst[r] = s
	}
}
