package kernels

import "fmt"

// Relu sets y[i] = max(x[i], 0) with Go's max semantics (NaN stays NaN,
// -0 becomes +0), 16 floats per AVX-512 step where available: the Go loop
// runs at about a float per nanosecond, slower than memory.
func Relu(y, x []float32) {
	if len(y) != len(x) {
		panic(fmt.Sprintf("kernels: Relu: len(y)=%d, len(x)=%d", len(y), len(x)))
	}
	if len(x) == 0 {
		return
	}
	if hasRows {
		reluAVX512(len(x), &x[0], &y[0])
		return
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// ReluBackward sets dx[i] = dy[i] where x[i] > 0 and 0 elsewhere (NaN x
// included), ReLU's gradient with PyTorch's choice of 0 at 0.
func ReluBackward(dx, x, dy []float32) {
	if len(dx) != len(x) || len(dy) != len(x) {
		panic(fmt.Sprintf("kernels: ReluBackward: len(dx)=%d, len(x)=%d, len(dy)=%d", len(dx), len(x), len(dy)))
	}
	if len(x) == 0 {
		return
	}
	if hasRows {
		reluBackwardAVX512(len(x), &x[0], &dy[0], &dx[0])
		return
	}
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// BiasRows sets, for r < rows and j < n,
//
//	dst[r*dstStride+j] = f(src[r*srcStride+j])
//
// where f adds bias when addBias, then rectifies like Relu when relu, then
// adds res[r*dstStride+j] when res is not nil (a skip connection, laid out
// like dst). With none of these it is a strided copy. It is the epilogue
// that moves a convolution's GEMM output into its NCHW tensor, and gives
// the same bits as the float32 additions and Relu done one by one.
func BiasRows(dst []float32, dstStride int, src []float32, srcStride, rows, n int, bias float32, addBias, relu bool, res []float32) {
	if rows <= 0 || n <= 0 {
		return
	}
	last := (rows-1)*dstStride + n
	if srcStride < 0 || dstStride < 0 || (rows-1)*srcStride+n > len(src) || last > len(dst) || (res != nil && last > len(res)) {
		panic(fmt.Sprintf("kernels: BiasRows: %d rows of %d (strides %d, %d) outside src %d / dst %d / res %d floats",
			rows, n, srcStride, dstStride, len(src), len(dst), len(res)))
	}
	if hasRows {
		flags := 0
		if addBias {
			flags |= 1
		}
		if relu {
			flags |= 2
		}
		var rp *float32
		if res != nil {
			flags |= 4
			rp = &res[0]
		}
		biasRowsAVX512(rows, n, &src[0], srcStride, &dst[0], dstStride, rp, bias, flags)
		return
	}
	for r := 0; r < rows; r++ {
		d, s := dst[r*dstStride:r*dstStride+n], src[r*srcStride:r*srcStride+n]
		for j, v := range s {
			if addBias {
				v += bias
			}
			if relu {
				v = max(v, 0)
			}
			if res != nil {
				v += res[r*dstStride+j]
			}
			d[j] = v
		}
	}
}
