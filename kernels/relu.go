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
