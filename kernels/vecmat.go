package kernels

import "fmt"

// VecMat sets y = a^T X, the product of a row vector a (len(a) = rows) and
// a row-major matrix X of rows rows with row stride ld:
//
//	y[j] = sum_{r < rows} a[r] * x[r*ld+j]   for j < len(y).
//
// It is a GEMM with one row, for products the micro-kernels would pad to
// their 8 or 14 rows: attention over a key/value cache, one query at a
// time. On the AVX-512 path each y[j] is one FMA chain over r in order,
// starting from 0, which is the SGEMM micro-kernel's arithmetic: VecMat
// then gives the bits Sgemm gives for the same row. Elsewhere it is a
// portable loop (a multiply and an add per term, r in order).
func VecMat(y, a, x []float32, ld int) {
	n, rows := len(y), len(a)
	if n == 0 {
		return
	}
	if rows == 0 {
		clear(y)
		return
	}
	if ld < n || len(x) < (rows-1)*ld+n {
		panic(fmt.Sprintf("kernels: VecMat: %d rows of %d (stride %d) outside x of %d floats", rows, n, ld, len(x)))
	}
	if active != nil && active.name == "avx512" {
		vecMatAVX512(n, rows, &a[0], &x[0], ld, &y[0])
		return
	}
	clear(y)
	for r, ar := range a {
		row := x[r*ld:][:n]
		for j, v := range row {
			y[j] += ar * v
		}
	}
}
