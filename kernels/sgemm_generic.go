//go:build noasm || !amd64

package kernels

// fmaPeak has nothing to measure without assembly.
func fmaPeak(n int) float64 { return 0 }

// hasRows is false without assembly: RowsGather and RowsScatterAdd use their
// portable loops.
var hasRows = false

func rowsGatherAVX512(dst *float32, dstStride, dstPlane int, src *float32, off, srcStride, srcPlane, planes, before, rows, after, loadMask, compressMask, storeMask int) {
	panic("kernels: no assembly row movers in this build")
}

func rowsScatterAddAVX512(dst *float32, off, dstStride, dstPlane int, src *float32, srcStride, srcPlane, planes, rows, loadMask, expandMask, addMask int) {
	panic("kernels: no assembly row movers in this build")
}

func reluAVX512(n int, x, y *float32) { panic("kernels: no assembly ReLU in this build") }

func reluBackwardAVX512(n int, x, dy, dx *float32) {
	panic("kernels: no assembly ReLU in this build")
}

func panelGatherAVX512(n int, src *float32, chStride int, offs *int32, masks *uint32, taps int, t int, dst *float32) {
	panic("kernels: no assembly panel gather in this build")
}

func biasRowsAVX512(rows int, n int, src *float32, srcStride int, dst *float32, dstStride int, res *float32, bias float32, flags int) {
	panic("kernels: no assembly epilogue in this build")
}

func panelLoadAVX512(n int, src *float32, chStride int, tbl *int32, taps int, t int, dst *float32) {
	panic("kernels: no assembly panel loads in this build")
}

func argminColsAVX512(k int, dist *float32, ld int, norms *float32, mask int, best *float32, bestK *int32) {
	panic("kernels: no assembly argmin in this build")
}

func panelGridAVX512(n int, src *float32, rows *int32, masks *uint32, lanes *int32, dst *float32) {
	panic("kernels: no assembly panel grid in this build")
}

func vecMatAVX512(n, rows int, a, x *float32, ld int, y *float32) {
	panic("kernels: no assembly VecMat in this build")
}

func rowSums16AVX512(blocks int, src *float32, ld int, dst *float32) {
	panic("kernels: no assembly row sums in this build")
}

func transpose16AVX512(src *float32, lds int, dst *float32, ldd int) {
	panic("kernels: no assembly transpose in this build")
}
