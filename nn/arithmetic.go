package nn

import (
	"fmt"
	"sync"

	"github.com/vqgen/vqgen/kernels"
)

// Arithmetic is the floating-point work of the inference paths under
// NumericsFast: Linear.Infer, LayerNorm.Infer, GELUInfer and the attention
// of a key/value-cache step (CausalSelfAttention.ForwardStep) call these
// functions and nothing else for their floating-point work, so that
// installing another Arithmetic (SetArithmetic) changes how every inference
// pass of every model rounds, in one place. The training passes (Forward, Backward) do not use it.
//
// The default, FastArithmetic, runs on package kernels' fastest path: its
// bits depend on the CPU's kernels (AVX-512, AVX2, the portable loops),
// not on GOMAXPROCS or on how many rows a call holds, since every output
// element reduces over its inputs in a fixed order. An Arithmetic whose
// functions are bit-reproducible across machines makes the inference path
// so (what an entropy coder needs from a prior); today NumericsDeterministic
// has its own layers instead (DetLinear, DetAttention in det.go).
type Arithmetic struct {
	Name string
	// Linear sets y[r*out+o] = b[o] + sum_i x[r*in+i]*w[o*in+i] for
	// r < rows, o < out (b nil: no bias).
	Linear func(y, x, w, b []float32, rows, in, out int)
	// LayerNorm sets each row of d values y = (x - mean) * rstd * w + b,
	// rstd = 1/sqrt(var + eps) with the biased variance.
	LayerNorm func(y, x, w, b []float32, rows, d int, eps float32)
	// GELU sets y[i] = x[i] Phi(x[i]), the exact-erf GELU.
	GELU func(y, x []float32)
	// Attend is one query q of one head against n cached positions:
	// s_j = scale * sum_d q[d] kt[d*ldk+j] (keys stored transposed, one
	// row per head dimension), p = softmax(s), o[d] = sum_j p_j v[j*ldv+d].
	// scores is scratch of at least n floats.
	Attend func(o, q, kt []float32, ldk int, v []float32, ldv, n int, scale float32, scores []float32)
}

// FastArithmetic is the default Arithmetic: kernels' GEMM (the training
// forward pass's bits, as one k block rounds the same for any number of
// rows), the training LayerNorm and the vector GELU; attention by
// kernels.VecMat, the one-row GEMM.
var FastArithmetic = &Arithmetic{
	Name:      "fast",
	Linear:    fastLinear,
	LayerNorm: fastLayerNorm,
	GELU:      fastGELU,
	Attend:    fastAttend,
}

var arith = FastArithmetic

// SetArithmetic installs n for every inference path and returns a function
// that restores the previous one. It is not safe to call while models run.
func SetArithmetic(n *Arithmetic) (restore func()) {
	if n == nil || n.Linear == nil || n.LayerNorm == nil || n.GELU == nil || n.Attend == nil {
		panic(fmt.Sprintf("nn: SetArithmetic: incomplete Arithmetic %+v", n))
	}
	prev := arith
	arith = n
	return func() { arith = prev }
}

// ActiveArithmetic returns the Arithmetic the inference paths use.
func ActiveArithmetic() *Arithmetic { return arith }

// GELUInfer is GELU(x) into y for inference, in the active Arithmetic.
func GELUInfer(y, x []float32) { arith.GELU(y, x) }

// fastLinear: the GEMM adds the bias as it stores, as in Linear.Forward.
// Products big enough to share (a batch of many positions) are cut into
// bands of rows for the worker pool; each element's sum is the same
// either way.
func fastLinear(y, x, w, b []float32, rows, in, out int) {
	if !blasDefault {
		Sgemm(false, true, rows, out, in, 1, x, in, w, in, 0, y, out)
		addBiasRows(y, b, rows)
		return
	}
	p := gemmPars.Get().(*gemmPar)
	if rows*in*out < 1<<20 || Parallelism() == 1 {
		p.g.Set(false, true, rows, out, in, 1, x, in, w, in, 0, y, out)
		p.g.SetBias(b)
		p.g.Split(1)
		p.g.Run(0)
	} else {
		// Bands share the weight, packed once.
		p.pb.Pack(true, in, out, w, in)
		p.g.SetPackedB(false, rows, 1, x, in, &p.pb, 0, y, out)
		p.g.SetBias(b)
		p.g.SplitRows(linearBand)
		p.do(nil, nil)
	}
	gemmPars.Put(p)
}

var gemmPars = sync.Pool{New: func() any { return new(gemmPar) }}

// rowsJob spreads an inference pass over rows (LayerNorm, GELU) on the
// worker pool; pooled, with its method values made once, so a call
// allocates nothing.
type rowsJob struct {
	y, x, w, b []float32
	d          int
	eps        float32
	ln, gelu   func(lo, hi int)
	ch         chunker
}

var rowsJobs = sync.Pool{New: func() any {
	j := new(rowsJob)
	j.ln, j.gelu = j.lnRows, j.geluElems
	return j
}}

func (j *rowsJob) lnRows(lo, hi int) {
	layerNormRows(j.y[lo*j.d:hi*j.d], j.x[lo*j.d:hi*j.d], j.w, j.b, hi-lo, j.d, j.eps)
}

func (j *rowsJob) geluElems(lo, hi int) { kernels.GELU(j.y[lo:hi], j.x[lo:hi]) }

// fastLayerNorm is Forward's LayerNorm, over the pool for many rows.
func fastLayerNorm(y, x, w, b []float32, rows, d int, eps float32) {
	if rows <= rowChunk || Parallelism() == 1 {
		layerNormRows(y, x, w, b, rows, d, eps)
		return
	}
	j := rowsJobs.Get().(*rowsJob)
	j.y, j.x, j.w, j.b, j.d, j.eps = y, x, w, b, d, eps
	j.ch.do(rows, rowChunk, j.ln)
	j.y, j.x, j.w, j.b = nil, nil, nil, nil
	rowsJobs.Put(j)
}

// fastGELU is the vector GELU, over the pool for many elements.
func fastGELU(y, x []float32) {
	if len(x) <= elemChunk || Parallelism() == 1 {
		kernels.GELU(y, x)
		return
	}
	j := rowsJobs.Get().(*rowsJob)
	j.y, j.x = y, x
	j.ch.do(len(x), elemChunk, j.gelu)
	j.y, j.x = nil, nil
	rowsJobs.Put(j)
}

func fastAttend(o, q, kt []float32, ldk int, v []float32, ldv, n int, scale float32, scores []float32) {
	s := scores[:n]
	kernels.VecMat(s, q, kt, ldk)
	for j := range s {
		s[j] *= scale
	}
	softmaxRow(s)
	kernels.VecMat(o, s, v, ldv)
}

// PackedLinear is a Linear's weight packed for the GEMM once, for the many
// small inference products of a stepper, instead of once per call as
// Linear.Infer packs it; Infer gives Linear.Infer's bits. The weight must
// not change between Pack and Infer: a change needs another Pack (which
// portable builds, keeping a reference to the weight, do not need, and
// fast ones, keeping a copy, do).
type PackedLinear struct {
	l      *Linear
	pb     kernels.PackedB
	packed bool
	// InferGELU's and InferAdd's epilogues, made once, and what they
	// work on during a call.
	geluFn, addFn func(i0, i1 int)
	y, res        []float32
}

// Pack packs l's weight (again, when it is already l's).
func (p *PackedLinear) Pack(l *Linear) {
	p.l = l
	p.packed = blasDefault && arith == FastArithmetic
	if p.packed {
		p.pb.Pack(true, l.In, l.Out, l.Weight.Data.Data, l.In)
	}
}

// Infer is Linear.Infer with the packed weight: y = x W^T + b for rows rows.
// Where the weight was packed for another Arithmetic or SGEMM than the
// active ones, it is Linear.Infer.
func (p *PackedLinear) Infer(y, x []float32, rows int) {
	if !p.fast() {
		p.l.Infer(y, x, rows)
		return
	}
	p.product(y, x, rows, nil)
}

// InferGELU is Infer followed by GELUInfer on y, each band of rows taken
// through the GELU while it is still in cache.
func (p *PackedLinear) InferGELU(y, x []float32, rows int) {
	if !p.fused(rows) {
		p.Infer(y, x, rows)
		GELUInfer(y[:rows*p.l.Out], y[:rows*p.l.Out])
		return
	}
	if p.geluFn == nil {
		p.geluFn = p.geluBand
	}
	p.y = y
	p.product(y, x, rows, p.geluFn)
	p.y = nil
}

// InferAdd adds x W^T + b to res (rows rows), a residual join, computing
// the product into y (scratch of rows*Out) band by band and adding each
// band while it is still in cache: AddInto's bits.
func (p *PackedLinear) InferAdd(res, y, x []float32, rows int) {
	n := rows * p.l.Out
	if !p.fused(rows) {
		p.Infer(y, x, rows)
		AddInto(res[:n], res, y)
		return
	}
	if p.addFn == nil {
		p.addFn = p.addBand
	}
	p.y, p.res = y, res
	p.product(y, x, rows, p.addFn)
	p.y, p.res = nil, nil
}

func (p *PackedLinear) fast() bool { return p.packed && blasDefault && arith == FastArithmetic }

// fused reports whether InferGELU and InferAdd run their epilogue band by
// band: where the product is one band and the cores are free (a sampling
// step of a few grids), a separate GELU pass shares the work between them
// instead.
func (p *PackedLinear) fused(rows int) bool {
	return p.fast() && (rows > linearBand || Parallelism() == 1)
}

// product computes y = x W^T + b with the packed weight, serially when it
// is small or the cores are taken, and runs epi, when given, on each band
// of rows [i0, i1) after computing it. The split into bands does not
// change a bit.
func (p *PackedLinear) product(y, x []float32, rows int, epi func(i0, i1 int)) {
	l := p.l
	var b []float32
	if l.Bias != nil {
		b = l.Bias.Data.Data
	}
	g := gemmPars.Get().(*gemmPar)
	g.g.SetPackedB(false, rows, 1, x[:rows*l.In], l.In, &p.pb, 0, y[:rows*l.Out], l.Out)
	g.g.SetBias(b)
	if epi == nil && (rows*l.In*l.Out < 1<<20 || Parallelism() == 1) {
		g.g.Split(1)
		g.g.Run(0)
	} else {
		g.g.SplitRows(linearBand)
		g.do(nil, epi)
	}
	gemmPars.Put(g)
}

func (p *PackedLinear) geluBand(i0, i1 int) {
	s := p.y[i0*p.l.Out : i1*p.l.Out]
	kernels.GELU(s, s)
}

func (p *PackedLinear) addBand(i0, i1 int) {
	lo, hi := i0*p.l.Out, i1*p.l.Out
	addVec(p.res[lo:hi], p.res[lo:hi], p.y[lo:hi])
}

// AddInto sets dst = a + b element-wise, vectorised (dst may be a or b);
// the bits of the float32 additions done one by one.
func AddInto(dst, a, b []float32) { addVec(dst, a[:len(dst)], b[:len(dst)]) }
