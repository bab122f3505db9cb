package nn

import (
	"gonum.org/v1/gonum/blas"

	"github.com/vqgen/vqgen/kernels"
)

// Matrix products go through gonum's blas.Float32 interface, so the
// implementation can be swapped with SetBLAS (gonum's pure-Go one, say, to
// compare results). The default is package kernels' cache-blocked SGEMM on
// the calling goroutine: layers already spread their work over the batch.
//
// Convolutions multiply the same weight matrix into many groups of patches
// per call. With the default installed they pack it once per call
// (kernels.PackedA) instead of once per product, which the conv benchmarks
// show is worth ~15% of a training step; with another implementation
// installed they call it like everything else.
var (
	blasImpl    blas.Float32 = kernels.Implementation{Threads: 1}
	blasDefault              = true
)

// SetBLAS installs impl for every matrix product in nn and returns a function
// that restores the previous one. It is not safe to call while layers run.
func SetBLAS(impl blas.Float32) (restore func()) {
	prev, prevDefault := blasImpl, blasDefault
	blasImpl = impl
	_, blasDefault = impl.(kernels.Implementation)
	return func() { blasImpl, blasDefault = prev, prevDefault }
}

func transpose(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C (row-major; op(X) = X^T
// when transX) with the installed implementation.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blasImpl.Sgemm(transpose(transA), transpose(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// packedWeights is op(A) of a layer's products within one call: packed once
// when our own SGEMM is installed, kept as a plain operand otherwise.
type packedWeights struct {
	kernels.PackedA
	transA bool
	m, k   int
	a      []float32
	lda    int
}

func (p *packedWeights) Pack(transA bool, m, k int, a []float32, lda int) {
	p.transA, p.m, p.k, p.a, p.lda = transA, m, k, a, lda
	if blasDefault {
		p.PackedA.Pack(transA, m, k, a, lda)
	}
}

// gemmPacked computes C = alpha*op(A)*B + beta*C for the packed op(A).
func gemmPacked(p *packedWeights, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmPackedT(p, false, n, alpha, b, ldb, beta, c, ldc)
}

// gemmPackedT is gemmPacked with op(B) = B^T when transB.
func gemmPackedT(p *packedWeights, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if blasDefault {
		kernels.SgemmPackedA(&p.PackedA, transB, n, alpha, b, ldb, beta, c, ldc)
		return
	}
	Sgemm(p.transA, transB, p.m, n, p.k, alpha, p.a, p.lda, b, ldb, beta, c, ldc)
}

// PackedMatrix is the left operand op(A) of many products
// C = alpha*op(A)*op(B) + beta*C, packed once (while package kernels' SGEMM
// is installed) instead of once per product. Mul may run on several
// goroutines at once; Pack may not run concurrently with Mul.
type PackedMatrix struct{ w packedWeights }

// Pack records op(A), rows x k (A^T when transA), and packs it.
func (m *PackedMatrix) Pack(transA bool, rows, k int, a []float32, lda int) {
	m.w.Pack(transA, rows, k, a, lda)
}

// Mul computes C = alpha*op(A)*op(B) + beta*C for op(B) k x n.
func (m *PackedMatrix) Mul(transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmPackedT(&m.w, transB, n, alpha, b, ldb, beta, c, ldc)
}

// gemmPar runs a kernels.Gemm's parts on the worker pool. pro and epi, when
// given, run on the rows [i0, i1) of each part, on the goroutine that
// computes it, before and after its product: they need a split into bands
// of rows (Gemm.SplitRows). A layer keeps one gemmPar and passes method
// values it stored once, so a call allocates nothing.
type gemmPar struct {
	g        kernels.Gemm
	pb       kernels.PackedB // for callers without packed weights of their own
	pro, epi func(i0, i1 int)
	run      func(worker, lo, hi int)
}

func (p *gemmPar) do(pro, epi func(i0, i1 int)) {
	if p.run == nil {
		p.run = p.parts
	}
	p.pro, p.epi = pro, epi
	ParallelFor(p.g.Parts(), p.run)
	p.pro, p.epi = nil, nil
}

func (p *gemmPar) parts(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		i0, i1, _, _ := p.g.Part(i)
		if p.pro != nil {
			p.pro(i0, i1)
		}
		p.g.Run(i)
		if p.epi != nil {
			p.epi(i0, i1)
		}
	}
}

// addVec sets dst = a + b element-wise (AVX-512 where available; dst may
// be a or b).
func addVec(dst, a, b []float32) {
	kernels.BiasRows(dst, len(dst), a, len(dst), 1, len(dst), 0, false, false, b)
}

// addRows adds rows rows of src (row stride ld, len(dst) columns) into dst,
// row after row: a column sum in row order, vectorised across columns.
func addRows(dst, src []float32, ld, rows int) {
	kernels.BiasRows(dst, 0, src, ld, rows, len(dst), 0, false, false, dst)
}
