package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas/gonum"
)

// microKernel is one assembly tile kernel and its tile shape. fn computes
// C[0:mr][0:nr] = alpha*Apanel*Bpanel + beta*C for k steps, where a holds k
// groups of mr floats and b holds k groups of nr floats; beta == 0 never
// reads C, and then adds the row vector bias[0:nr] to every row when bias
// is not nil.
type microKernel struct {
	name   string
	mr, nr int
	fn     func(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32)
	// fnRaw, when not nil, is fn reading A's mr rows in place (lda floats
	// apart) instead of from a packed panel: the same bits.
	fnRaw func(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32, bias *float32)
	// Optional asm packing for whole panels (nil: plain Go). copyB packs a
	// non-transposed B panel of width nr; gather(k, src, idx, mask, dst,
	// step) packs up to 16 strided rows (see packGatherAVX512).
	copyB  func(k int, src *float32, ld int, dst *float32)
	gather func(k int, src *float32, idx *[16]int32, mask int, dst *float32, step int)
	// packRows packs a transposed A (contiguous panel rows of mr floats);
	// packTrans packs mr rows of a plain A, k a multiple of 16.
	packRows  func(k int, src *float32, ld int, dst *float32, mr int)
	packTrans func(k int, src *float32, ld int, dst *float32)
	// narrow is a sibling with fewer rows (same nr, packing and per-element
	// operations, so the same bits) for products whose m it tiles with
	// less padding; see kernelFor.
	narrow *microKernel
}

// kernelFor returns the micro-kernel for a product with m rows on the
// active path: its narrow sibling when that pads m to fewer rows and m is
// small. A 14-row kernel spends 140 rows' work on the 128 of a typical
// conv layer; the 8-row one none, and on such products (k x n up to
// ~1152 x 392) it measured 5-25% faster. On large m it loses (1024^3:
// 75-108 against 140-146 GFLOP/s), as each B panel is streamed from L2
// for every 8 rows instead of every 14.
func kernelFor(m int) *microKernel {
	k := active
	if k == nil || k.narrow == nil || m > narrowMaxM {
		return k
	}
	pad := func(mr int) int { return (m + mr - 1) / mr * mr }
	if pad(k.narrow.mr) < pad(k.mr) {
		return k.narrow
	}
	return k
}

const narrowMaxM = 256

// Block sizes (floats). A kcMax x mr micro-panel of A (28 KiB for 14 rows)
// stays in the 48 KiB L1 while the kernel streams the packed B slab
// (kc x ncMax, 1.3 MiB) from the 2 MiB L2. Each k block reads and writes
// the C tile once; on a 1024-wide C its 14 rows are 4 KiB apart and share
// one L1 set, so fewer, longer k blocks pay: kcMax 512 measured 127-144
// GFLOP/s at 1024^3 against 112-123 for 384 (same core, interleaved runs).
const (
	kcMax  = 512
	ncMax  = 640
	mcMax  = 1008
	maxTil = 32 * 16 // largest mr*nr of any kernel
)

var (
	kernelsAvail []*microKernel // the paths this CPU supports, best first
	active       *microKernel   // nil means gonum
	fallback     gonum.Implementation
)

// Path names the implementation Sgemm uses: "avx512", "avx2" or "generic".
func Path() string {
	if active == nil {
		return "generic"
	}
	return active.name
}

// Paths lists the implementations this CPU and build support, best first;
// "generic" is always last.
func Paths() []string {
	var p []string
	for _, k := range kernelsAvail {
		p = append(p, k.name)
	}
	return append(p, "generic")
}

// SetPath forces an implementation (one of Paths()) and returns a function
// that restores the previous one. It is for tests and benchmarks and must not
// be called while products are running.
func SetPath(name string) (restore func()) {
	prev := active
	restore = func() { active = prev }
	if name == "generic" {
		active = nil
		return restore
	}
	for _, k := range kernelsAvail {
		if k.name == name {
			active = k
			return restore
		}
	}
	panic(fmt.Sprintf("kernels: SetPath(%q): not supported here (have %v)", name, Paths()))
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices on the
// calling goroutine only, where op(A) is m x k and op(B) is k x n.
// transA/transB select op(X) = X^T. With beta == 0, C is not read.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmThreads(1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmThreads is Sgemm with C split into blocks of whole tiles over threads
// goroutines (threads <= 0 means GOMAXPROCS). Every element is computed by
// one goroutine in the same order, so the result is bit-identical for any
// threads.
func SgemmThreads(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	addFLOPs(m, n, k)
	if trivialProduct(m, n, k, alpha, beta, c, ldc) {
		return
	}
	kern := kernelFor(m)
	if kern == nil {
		if threads != 1 || (m+63)/64*((n+63)/64) < 4 {
			// gonum splits its work over goroutines itself.
			fallback.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
		sgemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	pr := problem{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	// Too little work to pay for a goroutine hand-off (~a few µs).
	if threads == 1 || 2*m*n*k < 1<<19 {
		pr.run(0, m, 0, n)
		return
	}
	// The goroutines share a pooled copy so that the serial path above keeps
	// its problem on the stack.
	p := problemPool.Get().(*problem)
	*p = pr
	defer func() {
		*p = problem{}
		problemPool.Put(p)
	}()
	// Split whichever dimension has more tiles, on tile boundaries.
	mt, nt := (m+kern.mr-1)/kern.mr, (n+kern.nr-1)/kern.nr
	splitM := mt >= nt
	tiles := nt
	if splitM {
		tiles = mt
	}
	if threads > tiles {
		threads = tiles
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for t := threads - 1; t >= 0; t-- {
		lo, hi := t*tiles/threads, (t+1)*tiles/threads
		i0, i1, j0, j1 := 0, m, 0, n
		if splitM {
			i0, i1 = lo*kern.mr, min(hi*kern.mr, m)
		} else {
			j0, j1 = lo*kern.nr, min(hi*kern.nr, n)
		}
		if t == 0 {
			p.run(i0, i1, j0, j1)
			break
		}
		go func() {
			defer wg.Done()
			p.run(i0, i1, j0, j1)
		}()
	}
	wg.Wait()
}

// trivialProduct handles the products with nothing to multiply (an empty C,
// or k == 0 or alpha == 0, where C = beta*C) and reports whether it did.
func trivialProduct(m, n, k int, alpha, beta float32, c []float32, ldc int) bool {
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return true
	}
	return false
}

// scaleC sets C = beta*C (without reading C when beta == 0), which is the
// whole product when k == 0 or alpha == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("a", a, lda, ar, ac)
	checkMatrix("b", b, ldb, br, bc)
	checkMatrix("c", c, ldc, m, n)
}

// checkMatrix panics unless x holds a rows x cols matrix with row stride ld.
func checkMatrix(name string, x []float32, ld, rows, cols int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("kernels: Sgemm: ld%s=%d is less than the %d columns of %s", name, ld, cols, name))
	}
	if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels: Sgemm: len(%s)=%d is shorter than (%d-1)*%d+%d for a %dx%d matrix", name, len(x), rows, ld, cols, rows, cols))
	}
}

// buffers are one goroutine's packing space, pooled so that a warmed-up
// product allocates nothing.
type buffers struct {
	inUse atomic.Bool
	packA []float32
	packB []float32
	tile  [maxTil]float32
	idx   [16]int32
}

// Packing space comes from a sync.Pool first because the pool is per P:
// a goroutine mostly gets back the buffer it used last, whose 2.6 MB may
// still be in its core's cache, where a shared LIFO list can hand each core
// the buffer the other core has just written (no speed-up was measurable
// on this project's noisy host either way). The pool drops its contents at
// GC, so every buffer is also kept in bufAll and found there (inUse false)
// on a pool miss: steady state never reallocates.
var (
	bufPool sync.Pool
	bufMu   sync.Mutex
	bufAll  []*buffers
)

func getBuffers() *buffers {
	for {
		b, ok := bufPool.Get().(*buffers)
		if !ok {
			break
		}
		// A buffer can sit in the pool and be claimed through bufAll too.
		if b.inUse.CompareAndSwap(false, true) {
			return b
		}
	}
	bufMu.Lock()
	defer bufMu.Unlock()
	for _, b := range bufAll {
		if b.inUse.CompareAndSwap(false, true) {
			return b
		}
	}
	b := &buffers{
		packA: make([]float32, kcMax*(mcMax+32)),
		packB: make([]float32, kcMax*(ncMax+32)),
	}
	b.inUse.Store(true)
	bufAll = append(bufAll, b)
	return b
}

func putBuffers(b *buffers) {
	b.inUse.Store(false)
	bufPool.Put(b)
}

var problemPool = sync.Pool{New: func() any { return new(problem) }}

type problem struct {
	kern           *microKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	buf            *buffers    // the running goroutine's; set by run
	pre            *PackedA    // op(A) already packed, or nil
	preB           *PackedB    // op(B) already packed, or nil
	bias           []float32   // added to every row of C by the first k block (beta 0), or nil
	src            PanelSource // packs op(B) in place of b, or nil
	rawA           bool        // whole panels of A are read in place (fnRaw), not packed
}

// split cuts total into the fewest blocks of at most maxBlock, of nearly
// equal size rounded up to a multiple of unit, so that no block is a thin
// remainder.
func split(total, maxBlock, unit int) int {
	nb := (total + maxBlock - 1) / maxBlock
	bs := (total + nb - 1) / nb
	return (bs + unit - 1) / unit * unit
}

// run computes rows [i0,i1) and columns [j0,j1) of C. i0 and j0 are on the
// global tile grid, and the k blocks depend only on k, so each element gets
// the same operations whichever region it falls in.
func (p *problem) run(i0, i1, j0, j1 int) {
	buf := getBuffers()
	defer putBuffers(buf)
	q := *p // each goroutine has its own copy to hold its buffers
	q.buf = buf
	p = &q
	mr, nr := p.kern.mr, p.kern.nr
	kc := split(p.k, kcMax, 1)
	nc := split(p.n, ncMax, nr)
	mc := split(p.m, mcMax, mr)
	for jc := j0; jc < j1; jc += nc {
		nb := min(nc, j1-jc)
		for pc := 0; pc < p.k; pc += kc {
			kb := min(kc, p.k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			pb := buf.packB
			switch {
			case p.preB != nil:
				pb = p.preB.data[p.preB.np*pc+jc*kb:]
			case p.src != nil:
				p.src.PackPanels(pb, pc, kb, jc, nb, nr)
			default:
				p.packB(pb, pc, kb, jc, nb)
			}
			for ic := i0; ic < i1; ic += mc {
				mb := min(mc, i1-ic)
				pa := buf.packA
				switch {
				case p.pre != nil:
					pa = p.pre.data[p.pre.mp*pc+ic*kb:]
				case p.rawA:
					// macro packs only a last, partial panel.
				default:
					p.packA(pa, ic, mb, pc, kb)
				}
				var bias []float32
				if pc == 0 && p.bias != nil {
					bias = p.bias[jc : jc+nb]
				}
				p.macro(buf, pa, pb, ic, mb, jc, nb, pc, kb, beta, bias)
			}
		}
	}
}

// macro runs the micro-kernel over an mb x nb block of C from packed
// panels: each A micro-panel stays in L1 while B micro-panels stream by.
func (p *problem) macro(buf *buffers, packA, packB []float32, ic, mb, jc, nb, pc, kb int, beta float32, bias []float32) {
	mr, nr := p.kern.mr, p.kern.nr
	ldc := p.ldc
	for ir := 0; ir < mb; ir += mr {
		mrEff := min(mr, mb-ir)
		raw := p.rawA && mrEff == mr
		if p.rawA && !raw {
			p.packA(packA[ir*kb:], ic+ir, mrEff, pc, kb)
		}
		for jr := 0; jr < nb; jr += nr {
			pb := &packB[jr*kb]
			nrEff := min(nr, nb-jr)
			ci := (ic+ir)*ldc + jc + jr
			var bj []float32
			var bp *float32
			if bias != nil {
				bj = bias[jr : jr+nrEff]
				bp = &bj[0]
			}
			// An edge tile goes to buf.tile first, finished by finishTile.
			cp, cld, al, be := &p.c[ci], ldc, p.alpha, beta
			edge := mrEff < mr || nrEff < nr
			if edge {
				cp, cld, al, be, bp = &buf.tile[0], nr, 1, 0, nil
			}
			if raw {
				p.kern.fnRaw(kb, &p.a[(ic+ir)*p.lda+pc], p.lda, pb, cp, cld, al, be, bp)
			} else {
				p.kern.fn(kb, &packA[ir*kb], pb, cp, cld, al, be, bp)
			}
			if edge {
				p.finishTile(buf.tile[:mr*nr], ci, mrEff, nrEff, beta, bj)
			}
		}
	}
}

// finishTile stores the rows x cols corner of an edge tile computed into t
// (row stride nr, alpha 1, beta 0) at C[ci:], applying alpha, beta and the
// bias as the kernel's store would.
func (p *problem) finishTile(t []float32, ci, rows, cols int, beta float32, bj []float32) {
	nr, ldc, alpha := p.kern.nr, p.ldc, p.alpha
	for r := 0; r < rows; r++ {
		crow := p.c[ci+r*ldc : ci+r*ldc+cols]
		trow := t[r*nr : r*nr+cols]
		switch {
		case bj != nil:
			for j, v := range trow {
				crow[j] = alpha*v + bj[j]
			}
		case beta == 0 && alpha == 1:
			copy(crow, trow) // 1*v is v
		case beta == 0:
			for j, v := range trow {
				crow[j] = alpha * v
			}
		default:
			for j, v := range trow {
				crow[j] = alpha*v + beta*crow[j]
			}
		}
	}
}

// packA copies op(A)[i0:i0+mb][p0:p0+kb] into mr-row micro-panels, each
// stored k-major (kb groups of mr floats), zero-padding the last one.
func (p *problem) packA(dst []float32, i0, mb, p0, kb int) {
	mr := p.kern.mr
	a, lda := p.a, p.lda
	for ir := 0; ir < mb; ir += mr {
		panel := dst[ir*kb : ir*kb+mr*kb]
		rows := min(mr, mb-ir)
		if !p.transA && rows == mr && mr <= 16 && p.kern.gather != nil && fitsInt32(mr*lda) {
			src := a[(i0+ir)*lda+p0:]
			q := 0
			if p.kern.packTrans != nil {
				// Whole blocks of 16 columns by in-register transposes.
				q = kb &^ 15
				if q > 0 {
					p.kern.packTrans(q, &src[0], lda, &panel[0])
				}
			}
			if q < kb {
				buf := p.idx(lda, mr)
				p.kern.gather(kb-q, &src[q], buf, 1<<mr-1, &panel[q*mr], mr)
			}
			continue
		}
		if !p.transA {
			// op(A)[i][q] = a[i*lda+q]: read rows, scatter with stride mr.
			for r := 0; r < rows; r++ {
				src := a[(i0+ir+r)*lda+p0:][:kb]
				d := panel[r:]
				for q, v := range src {
					d[q*mr] = v
				}
			}
			for r := rows; r < mr; r++ {
				for q := 0; q < kb; q++ {
					panel[q*mr+r] = 0
				}
			}
			continue
		}
		// op(A)[i][q] = a[q*lda+i]: rows of the panel are contiguous.
		src := a[p0*lda+i0+ir:]
		if rows == mr && mr <= 16 && p.kern.packRows != nil {
			p.kern.packRows(kb, &src[0], lda, &panel[0], mr)
			continue
		}
		for q := 0; q < kb; q++ {
			d := panel[q*mr : q*mr+mr]
			copy(d, src[q*lda:][:rows])
			clear(d[rows:])
		}
	}
}

func fitsInt32(x int) bool { return x < 1<<31 }

// idx fills the gather indices l*ld for l < lanes in the goroutine's buffer.
func (p *problem) idx(ld, lanes int) *[16]int32 {
	ix := &p.buf.idx
	for l := range ix {
		ix[l] = 0
		if l < lanes {
			ix[l] = int32(l * ld)
		}
	}
	return ix
}

// packB copies op(B)[p0:p0+kb][j0:j0+nb] into nr-column micro-panels, each
// stored k-major (kb groups of nr floats), zero-padding the last one.
func (p *problem) packB(dst []float32, p0, kb, j0, nb int) {
	nr := p.kern.nr
	b, ldb := p.b, p.ldb
	for jr := 0; jr < nb; jr += nr {
		panel := dst[jr*kb : jr*kb+nr*kb]
		cols := min(nr, nb-jr)
		if p.transB && cols == nr && nr%16 == 0 && p.kern.gather != nil && fitsInt32(nr*ldb) {
			buf := p.idx(ldb, 16)
			for h := 0; h < nr; h += 16 {
				p.kern.gather(kb, &b[(j0+jr+h)*ldb+p0], buf, 0xffff, &panel[h], nr)
			}
			continue
		}
		if p.transB {
			// op(B)[q][j] = b[j*ldb+q]: read rows of b, scatter with stride nr.
			for c := 0; c < cols; c++ {
				src := b[(j0+jr+c)*ldb+p0:][:kb]
				d := panel[c:]
				for q, v := range src {
					d[q*nr] = v
				}
			}
			for c := cols; c < nr; c++ {
				for q := 0; q < kb; q++ {
					panel[q*nr+c] = 0
				}
			}
			continue
		}
		if cols == nr && p.kern.copyB != nil {
			p.kern.copyB(kb, &b[p0*ldb+j0+jr], ldb, &panel[0])
			continue
		}
		for q := 0; q < kb; q++ {
			d := panel[q*nr : q*nr+nr]
			copy(d, b[(p0+q)*ldb+j0+jr:][:cols])
			clear(d[cols:])
		}
	}
}
