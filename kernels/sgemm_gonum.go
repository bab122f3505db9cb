package kernels

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// The gonum side: gonum's Sgemm is the generic path (no assembly, or
// SetPath("generic")), and Implementation lets code written against
// gonum's blas32 call this package's Sgemm.

// Implementation is gonum's blas.Float32 with Sgemm replaced by this
// package's, so code written against blas32 can use it via blas32.Use.
// Threads is the goroutine count for Sgemm: 0 means GOMAXPROCS, 1 serial.
type Implementation struct {
	gonum.Implementation
	Threads int
}

var _ blas.Float32 = Implementation{}

// Sgemm implements blas.Float32 (row-major, like all of blas32).
func (impl Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmThreads(impl.Threads, isTrans(tA, "tA"), isTrans(tB, "tB"), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func isTrans(t blas.Transpose, name string) bool {
	switch t {
	case blas.NoTrans:
		return false
	case blas.Trans, blas.ConjTrans:
		return true
	}
	panic(fmt.Sprintf("kernels: Sgemm: bad %s %q", name, rune(t)))
}

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// sgemmGeneric is gonum's product on the calling goroutine. gonum goes
// parallel (and allocates) from 4 blocks of 64x64 of C on, and is serial
// below; feeding it one such block at a time keeps it serial. Each element
// sees the same operations either way: gonum's parallel path sums k in
// blocks of 64 too (its transposed-B dot products round per block).
func sgemmGeneric(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const bs = genericTile
	ta, tb := blasTrans(transA), blasTrans(transB)
	for i := 0; i < m; i += bs {
		mb := min(bs, m-i)
		ai := i * lda
		if transA {
			ai = i
		}
		for j := 0; j < n; j += bs {
			nb := min(bs, n-j)
			bj := j
			if transB {
				bj = j * ldb
			}
			for p := 0; p < k; p += bs {
				kb := min(bs, k-p)
				ap, bp, bt := p, p*ldb, beta
				if transA {
					ap = p * lda
				}
				if transB {
					bp = p
				}
				if p > 0 {
					bt = 1
				}
				fallback.Sgemm(ta, tb, mb, nb, kb, alpha, a[ai+ap:], lda, b[bj+bp:], ldb, bt, c[i*ldc+j:], ldc)
			}
		}
	}
}
