package kernels

import "fmt"

// Packed operands. A layer multiplies the same weights into many blocks of
// activations within one call: packing them into the micro-kernel's panels
// once (PackedA for the left operand, PackedB for the right) instead of
// once per product saves a copy of the weights per block, which on small
// blocks costs as much as a good share of the multiply.

// PackedA is op(A) packed once into the active micro-kernel's panels, for
// many products that share it (a layer's weights across the groups of a
// batch): SgemmPackedA then skips the packing of A, which on small products
// costs as much as a good share of the multiply. It must be packed again
// whenever A changes. The zero value is empty; Pack reuses its storage.
type PackedA struct {
	kern   *microKernel // the kernel it was packed for (nil: gonum)
	transA bool
	m, k   int
	a      []float32 // the source, which the gonum path reads directly
	lda    int
	mp     int // m rounded up to whole micro-panels
	data   []float32
}

// Pack stores op(A) (m x k; A^T when transA) for SgemmPackedA. On the
// generic path it keeps a reference to a instead, so a must then stay
// unchanged while the packing is in use.
func (pa *PackedA) Pack(transA bool, m, k int, a []float32, lda int) {
	checkArgs(transA, false, m, 0, k, a, lda, nil, 1, nil, 1)
	kern := kernelFor(m)
	*pa = PackedA{kern: kern, transA: transA, m: m, k: k, a: a, lda: lda, data: pa.data}
	if kern == nil || m == 0 || k == 0 {
		return
	}
	mr := kern.mr
	pa.mp = (m + mr - 1) / mr * mr
	if cap(pa.data) < pa.mp*k {
		pa.data = make([]float32, pa.mp*k)
	}
	pa.data = pa.data[:pa.mp*k]
	buf := getBuffers()
	defer putBuffers(buf)
	p := problem{kern: kern, transA: transA, m: m, k: k, a: a, lda: lda, buf: buf}
	kc := split(k, kcMax, 1)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		p.packA(pa.data[pa.mp*pc:], 0, m, pc, kb)
	}
}

// SgemmPackedA is Sgemm with op(A) taken from pa (m x k as packed):
// C = alpha*op(A)*op(B) + beta*C with op(B) k x n, on the calling
// goroutine. The result is bit-identical to Sgemm's on the same operands.
func SgemmPackedA(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if pa.kern != kernelFor(pa.m) || pa.kern == nil {
		// Packed for another path (or none): fall back on the source.
		Sgemm(pa.transA, transB, pa.m, n, pa.k, alpha, pa.a, pa.lda, b, ldb, beta, c, ldc)
		return
	}
	m, k := pa.m, pa.k
	checkArgs(pa.transA, transB, m, n, k, pa.a, pa.lda, b, ldb, c, ldc)
	addFLOPs(m, n, k)
	if trivialProduct(m, n, k, alpha, beta, c, ldc) {
		return
	}
	pr := problem{kern: pa.kern, transA: pa.transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: pa.a, lda: pa.lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, pre: pa}
	pr.run(0, m, 0, n)
}

// PackedB is op(B) packed once into the active path's nr-column panels, for
// many products that share it (the weights of a Linear layer, multiplied
// into every block of rows of a batch). It must be packed again whenever B
// changes. The zero value is empty; Pack reuses its storage.
type PackedB struct {
	kern   *microKernel // the path it was packed for (nil: gonum)
	transB bool
	k, n   int
	b      []float32 // the source, which the gonum path reads directly
	ldb    int
	np     int // n rounded up to whole panels
	data   []float32
}

// Pack stores op(B) (k x n; B^T when transB) for SgemmPackedB and
// Gemm.SetPackedB. On the generic path it keeps a reference to b instead,
// so b must then stay unchanged while the packing is in use.
func (pb *PackedB) Pack(transB bool, k, n int, b []float32, ldb int) {
	checkArgs(false, transB, 0, n, k, nil, max(1, k), b, ldb, nil, max(1, n))
	*pb = PackedB{kern: active, transB: transB, k: k, n: n, b: b, ldb: ldb, data: pb.data}
	if active == nil || n == 0 || k == 0 {
		return
	}
	nr := active.nr
	pb.np = (n + nr - 1) / nr * nr
	if cap(pb.data) < pb.np*k {
		pb.data = make([]float32, pb.np*k)
	}
	pb.data = pb.data[:pb.np*k]
	buf := getBuffers()
	defer putBuffers(buf)
	p := problem{kern: active, transB: transB, n: n, k: k, b: b, ldb: ldb, buf: buf}
	kc := split(k, kcMax, 1)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		p.packB(pb.data[pb.np*pc:], pc, kb, 0, n)
	}
}

// RowsView makes pb the k x n matrix whose row r is b[r*ldb:][:n], without
// copying it, and reports whether it could: the rows must already be one
// panel of the active kernel (n == ldb == PanelWidth()) and k within one
// block of the product's k loop. A key/value cache keeps a head's values so
// (its width is the panel's for the default models), and its products with
// them then skip packing. Where it cannot, pb is unchanged.
func (pb *PackedB) RowsView(k, n int, b []float32, ldb int) bool {
	if active == nil || n != active.nr || ldb != n || k < 1 || k > kcMax || len(b) < k*n {
		return false
	}
	*pb = PackedB{kern: active, k: k, n: n, b: b, ldb: ldb, np: n, data: b[:k*n]}
	return true
}

// usable reports whether pb was packed for the active path, whose kernels
// (the narrow sibling included) all share its panel width.
func (pb *PackedB) usable() bool { return pb.kern != nil && pb.kern == active }

// SgemmPackedB is Sgemm with op(B) taken from pb (k x n as packed):
// C = alpha*op(A)*op(B) + beta*C with op(A) m x k, on the calling
// goroutine. The result is bit-identical to Sgemm's on the same operands.
func SgemmPackedB(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	var g Gemm
	g.SetPackedB(transA, m, alpha, a, lda, pb, beta, c, ldc)
	for i := range g.Split(1) {
		g.Run(i)
	}
}

// Gemm is one product C = alpha*op(A)*op(B) + beta*C cut into parts made
// of whole tiles of C, for callers that run the parts on goroutines of
// their own (package nn's worker pool, which allocates nothing per call,
// where SgemmThreads starts goroutines). Set or SetPackedB describes the
// product, Split cuts it, and Run computes one part on the calling
// goroutine; Part tells which rows and columns of C a part covers, so a
// caller can finish them (a bias, an activation) while they are in cache.
//
// Every element of C gets the same operations as from Sgemm on the whole
// product, whatever the cut and whichever goroutine runs its part: the
// result is bit-identical to Sgemm's. A Gemm is reused from call to call;
// its zero value is ready for Set.
type Gemm struct {
	p       problem
	tile    int  // rows (byRows) or columns of C per tile
	per     int  // tiles per part
	byRows  bool // parts are bands of rows, else of columns
	parts   int
	trivial bool
}

// Set describes C = alpha*op(A)*op(B) + beta*C with op(A) m x k and op(B)
// k x n, as Sgemm takes them.
func (g *Gemm) Set(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	g.set(problem{kern: kernelFor(m), transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc})
}

// SetPackedB is Set with op(B) (k x n) taken from pb.
func (g *Gemm) SetPackedB(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	n, k := pb.n, pb.k
	checkArgs(transA, pb.transB, m, n, k, a, lda, pb.b, pb.ldb, c, ldc)
	p := problem{kern: kernelFor(m), transA: transA, transB: pb.transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: pb.b, ldb: pb.ldb, beta: beta, c: c, ldc: ldc}
	if p.kern != nil && pb.usable() {
		p.preB = pb
		// With a single panel of B, each panel of A is read once: packing
		// it would be a pass of its own for nothing (attention's P V).
		p.rawA = rawAOn && !transA && n <= p.kern.nr && p.kern.fnRaw != nil
	}
	g.set(p)
}

// rawAOn lets SetPackedB's single-panel products read A in place (tests
// turn it off to compare).
var rawAOn = true

// SetBias makes the product set by Set or SetPackedB, whose beta must be
// 0, C = alpha*op(A)*op(B) + bias with bias (len n) added to every row as
// the tiles are stored: a Linear layer's bias without a pass of its own,
// and the bits of adding it after the product (each element rounds
// alpha*sum + bias[j] once, when k fits one block of kcMax).
func (g *Gemm) SetBias(bias []float32) {
	if g.p.beta != 0 {
		panic("kernels: Gemm.SetBias needs beta == 0")
	}
	if bias != nil && len(bias) < g.p.n {
		panic(fmt.Sprintf("kernels: Gemm.SetBias: %d values for %d columns", len(bias), g.p.n))
	}
	g.p.bias = bias
}

func (g *Gemm) set(p problem) {
	addFLOPs(p.m, p.n, p.k)
	g.p = p
	g.trivial = p.m == 0 || p.n == 0 || p.k == 0 || p.alpha == 0
	g.byRows, g.tile, g.per, g.parts = true, max(1, p.m), 1, 1
}

// genericTile is the block the gonum path works in (see SgemmThreads).
const genericTile = 64

// Split cuts the product into at most parts parts (at least one) of whole
// tiles along whichever of m and n has more tiles, and returns how many
// it made.
func (g *Gemm) Split(parts int) int {
	mr, nr := genericTile, genericTile
	if g.p.kern != nil {
		mr, nr = g.p.kern.mr, g.p.kern.nr
	}
	mt, nt := (g.p.m+mr-1)/mr, (g.p.n+nr-1)/nr
	if mt >= nt {
		return g.cut(true, mr, mt, parts)
	}
	return g.cut(false, nr, nt, parts)
}

// SplitRows cuts the product into bands of about rows rows of C each (at
// least one tile), and returns how many it made. Small bands let a caller
// finish each while it is still in cache.
func (g *Gemm) SplitRows(rows int) int {
	mr := genericTile
	if g.p.kern != nil {
		mr = g.p.kern.mr
	}
	mt := (g.p.m + mr - 1) / mr
	return g.cut(true, mr, mt, (g.p.m+rows-1)/max(1, rows))
}

func (g *Gemm) cut(byRows bool, tile, tiles, parts int) int {
	parts = max(1, min(parts, tiles))
	if g.trivial {
		parts = 1
	}
	g.byRows, g.tile, g.per = byRows, tile, (tiles+parts-1)/parts
	g.parts = (tiles + g.per - 1) / g.per
	return g.parts
}

// Parts returns the number of parts of the last Split.
func (g *Gemm) Parts() int { return g.parts }

// Part returns the rows [i0, i1) and columns [j0, j1) of C that part i
// covers.
func (g *Gemm) Part(i int) (i0, i1, j0, j1 int) {
	if i < 0 || i >= g.parts {
		panic(fmt.Sprintf("kernels: Gemm part %d of %d", i, g.parts))
	}
	lo, hi := i*g.per*g.tile, (i+1)*g.per*g.tile
	if g.byRows {
		return lo, min(hi, g.p.m), 0, g.p.n
	}
	return 0, g.p.m, lo, min(hi, g.p.n)
}

// Run computes part i. Parts may run concurrently on different goroutines.
func (g *Gemm) Run(i int) {
	i0, i1, j0, j1 := g.Part(i)
	p := &g.p
	if g.trivial {
		scaleC(i1-i0, j1-j0, p.beta, p.c[i0*p.ldc+j0:], p.ldc)
		addBias(p.bias, i0, i1, j0, j1, p.c, p.ldc)
		return
	}
	if p.kern != nil {
		q := *p
		q.run(i0, i1, j0, j1)
		return
	}
	// gonum on the sub-block of C, taking the path Sgemm takes for the
	// whole product, so every element sums k the same way.
	ai, bj := i0*p.lda, j0
	if p.transA {
		ai = i0
	}
	if p.transB {
		bj = j0 * p.ldb
	}
	m, n := i1-i0, j1-j0
	if (p.m+63)/64*((p.n+63)/64) < 4 {
		fallback.Sgemm(blasTrans(p.transA), blasTrans(p.transB), m, n, p.k, p.alpha, p.a[ai:], p.lda, p.b[bj:], p.ldb, p.beta, p.c[i0*p.ldc+j0:], p.ldc)
	} else {
		sgemmGeneric(p.transA, p.transB, m, n, p.k, p.alpha, p.a[ai:], p.lda, p.b[bj:], p.ldb, p.beta, p.c[i0*p.ldc+j0:], p.ldc)
	}
	addBias(p.bias, i0, i1, j0, j1, p.c, p.ldc)
}

// addBias adds bias[j] to C[i][j] over the block (the gonum path and
// trivial products, which have no fused epilogue).
func addBias(bias []float32, i0, i1, j0, j1 int, c []float32, ldc int) {
	if bias == nil {
		return
	}
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		for j, b := range bias[j0:j1] {
			row[j] += b
		}
	}
}
