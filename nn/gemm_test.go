package nn

import (
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Layers give the same results (to float32 rounding) with gonum's pure-Go
// BLAS installed as with our kernels: the matrix products really go through
// the interface, the packed-weight convolution path included.
func TestSetBLASSwapsTheImplementation(t *testing.T) {
	rng := NewRNG(9)
	conv := NewConv2d("c", 3, 5, 3, 2, 1, true, rng)
	convT := NewConvTranspose2d("t", 5, 2, 4, 2, 1, true, rng)
	lin := NewLinear("l", 7, 6, true, rng)
	x := randTensor(rng, 2, 3, 9, 9)
	xl := randTensor(rng, 4, 7)
	run := func() []float32 {
		y := convT.Forward(conv.Forward(x))
		d := conv.Backward(convT.Backward(y))
		out := append(append([]float32(nil), y.Data...), d.Data...)
		yl := lin.Forward(xl)
		return append(append(out, yl.Data...), lin.Backward(yl).Data...)
	}
	ours := run()
	calls := &countingBLAS{}
	restore := SetBLAS(calls)
	theirs := run()
	restore()
	if calls.n == 0 {
		t.Fatal("no product went through the installed BLAS")
	}
	for i := range ours {
		if d := ours[i] - theirs[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("value %d: kernels %v, gonum %v", i, ours[i], theirs[i])
		}
	}
	t.Logf("%d products went through the swapped implementation", calls.n)
}

type countingBLAS struct {
	gonum.Implementation
	n int
}

func (c *countingBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cc []float32, ldc int) {
	c.n++
	c.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc)
}
