package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// Linear is y = x W^T + b over the last axis, like torch.nn.Linear: x is
// [..., In], y is [..., Out], W is [Out, In].
//
// Training runs each product as one GEMM over every row of the batch,
// with the weights packed once per call and the rows cut into bands that
// the worker pool shares (see gemmPar). A band is finished while it is in
// cache: the GEMM adds the bias as it stores each tile, and ForwardGELU and
// ForwardAdd apply their GELU or residual to a band before the next one.
// Infer is the row-wise inference path, in the arithmetic the package's
// Arithmetic select.
type Linear struct {
	In, Out int
	Weight  *Param
	Bias    *Param // nil without bias

	x, y, dx *Tensor
	pre      *Tensor // ForwardGELU: x W^T + b, before the GELU
	dpre     *Tensor // Backward after ForwardGELU: dL/dpre
	res      *Tensor // ForwardAdd's residual, during the call
	gelu     bool    // the last forward applied the GELU
	dy       *Tensor
	rows     int
	wt, w    kernels.PackedB // W^T for Forward, W for Backward's dx
	mm       gemmPar
	dbFn     func(lo, hi int)
	epiFwd   func(i0, i1 int)
	proBwd   func(i0, i1 int)
	par      chunker
	shape    []int
}

// linearBand is how many rows of a Linear's output one task computes and
// finishes: 256 rows of 512 outputs (0.5 MB) stay in L2 between the GEMM
// and the epilogue.
const linearBand = 256

// NewLinear returns a Linear with PyTorch's default initialisation:
// weight and bias U(-1/sqrt(in), 1/sqrt(in)).
func NewLinear(name string, in, out int, bias bool, rng *RNG) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn: NewLinear %s: in=%d out=%d must be positive", name, in, out))
	}
	l := &Linear{In: in, Out: out}
	l.Weight, l.Bias = newWeightBias(name, in, bias, out, rng, out, in)
	return l
}

// Params returns weight then bias (if any).
func (l *Linear) Params() []*Param { return weightBias(l.Weight, l.Bias) }

func (l *Linear) init() {
	if l.dbFn == nil {
		l.dbFn = l.backwardBias
		l.epiFwd, l.proBwd = l.finish, l.geluGrad
	}
}

func (l *Linear) outShape(x *Tensor) []int {
	if x.Dim(-1) != l.In {
		panic(fmt.Sprintf("nn: Linear %s: input %v, want last dim %d", l.Weight.Name, x.Shape, l.In))
	}
	l.shape = append(append(l.shape[:0], x.Shape[:len(x.Shape)-1]...), l.Out)
	return l.shape
}

// Forward caches x (by reference: keep it unchanged until Backward).
func (l *Linear) Forward(x *Tensor) *Tensor { return l.forward(x, nil, false) }

// ForwardAdd is Forward with res (shaped like the output) added on the way
// out, y = res + x W^T + b: a residual join without a pass of its own. The
// gradient with respect to res is dy itself, which the caller routes.
func (l *Linear) ForwardAdd(x, res *Tensor) *Tensor { return l.forward(x, res, false) }

// ForwardGELU is GELU(x W^T + b) in one pass (an MLP's first layer);
// Backward then takes the gradient of the GELU's output.
func (l *Linear) ForwardGELU(x *Tensor) *Tensor { return l.forward(x, nil, true) }

func (l *Linear) forward(x, res *Tensor, gelu bool) *Tensor {
	l.init()
	shape := l.outShape(x)
	l.y = Ensure(l.y, shape...)
	if res != nil && !res.SameShape(l.y) {
		panic(fmt.Sprintf("nn: Linear %s: residual %v, want %v", l.Weight.Name, res.Shape, l.y.Shape))
	}
	l.x, l.rows, l.res, l.gelu = x, x.Len()/l.In, res, gelu
	out := l.y
	if gelu {
		l.pre = Ensure(l.pre, shape...)
		out = l.pre
	}
	var bias []float32
	if l.Bias != nil {
		bias = l.Bias.Data.Data
	}
	if !blasDefault {
		Sgemm(false, true, l.rows, l.Out, l.In, 1, x.Data, l.In, l.Weight.Data.Data, l.In, 0, out.Data, l.Out)
		addBiasRows(out.Data, bias, l.rows)
		l.finish(0, l.rows)
		l.res = nil
		return l.y
	}
	l.wt.Pack(true, l.In, l.Out, l.Weight.Data.Data, l.In)
	l.mm.g.SetPackedB(false, l.rows, 1, x.Data, l.In, &l.wt, 0, out.Data, l.Out)
	l.mm.g.SetBias(bias)
	l.mm.g.SplitRows(linearBand)
	l.mm.do(nil, l.epiFwd)
	l.res = nil
	return l.y
}

// addBiasRows adds b to each of rows rows of y (the fused epilogue's
// arithmetic, for products run outside package kernels).
func addBiasRows(y, b []float32, rows int) {
	if b == nil {
		return
	}
	for r := range rows {
		yr := y[r*len(b) : (r+1)*len(b)]
		for o, v := range b {
			yr[o] += v
		}
	}
}

// finish applies the GELU or adds the residual to rows [i0, i1).
func (l *Linear) finish(i0, i1 int) {
	lo, hi := i0*l.Out, i1*l.Out
	switch {
	case l.gelu:
		kernels.GELU(l.y.Data[lo:hi], l.pre.Data[lo:hi])
	case l.res != nil:
		addVec(l.y.Data[lo:hi], l.y.Data[lo:hi], l.res.Data[lo:hi])
	}
}

// Backward adds dW = dy^T x and db = sum_rows dy, and returns dx = dy W.
// After ForwardGELU, dy is the gradient of the GELU's output.
func (l *Linear) Backward(dy *Tensor) *Tensor {
	l.init()
	if l.x == nil || dy.Len() != l.rows*l.Out {
		panic(fmt.Sprintf("nn: Linear %s: Backward got %v after Forward of %v", l.Weight.Name, dy.Shape, l.x.Shape))
	}
	l.dy = dy
	if l.gelu {
		l.dpre = Ensure(l.dpre, dy.Shape...)
	}
	l.dx = Ensure(l.dx, l.x.Shape...)
	if !blasDefault {
		l.geluGrad(0, l.rows)
		Sgemm(false, false, l.rows, l.In, l.Out, 1, l.grad().Data, l.Out, l.Weight.Data.Data, l.In, 0, l.dx.Data, l.In)
		Sgemm(true, false, l.Out, l.In, l.rows, 1, l.grad().Data, l.Out, l.x.Data, l.In, 1, l.Weight.Grad.Data, l.In)
		l.backwardBias(0, l.Out)
		return l.dx
	}
	// dx = dy W, band by band; after ForwardGELU each band first turns
	// its rows of dy into dL/dpre.
	l.w.Pack(false, l.Out, l.In, l.Weight.Data.Data, l.In)
	l.mm.g.SetPackedB(false, l.rows, 1, l.grad().Data, l.Out, &l.w, 0, l.dx.Data, l.In)
	l.mm.g.SplitRows(linearBand)
	l.mm.do(l.proBwd, nil)
	// dW += dy^T x: one GEMM over all rows, cut into blocks of C, so each
	// element sums the batch in the GEMM's fixed order whatever the split.
	l.mm.g.Set(true, false, l.Out, l.In, l.rows, 1, l.grad().Data, l.Out, l.x.Data, l.In, 1, l.Weight.Grad.Data, l.In)
	l.mm.g.Split(2 * Workers())
	l.mm.do(nil, nil)
	if l.Bias != nil {
		l.par.do(l.Out, colChunk, l.dbFn)
	}
	return l.dx
}

// grad is dL/d(x W^T + b): dy, or dL/dpre after ForwardGELU.
func (l *Linear) grad() *Tensor {
	if l.gelu {
		return l.dpre
	}
	return l.dy
}

// geluGrad sets rows [i0, i1) of dpre = dy * GELU'(pre) after ForwardGELU.
func (l *Linear) geluGrad(i0, i1 int) {
	if !l.gelu {
		return
	}
	lo, hi := i0*l.Out, i1*l.Out
	kernels.GELUGrad(l.dpre.Data[lo:hi], l.dy.Data[lo:hi], l.pre.Data[lo:hi])
}

// backwardBias adds the bias gradient of output features [lo, hi), summing
// rows in order.
func (l *Linear) backwardBias(lo, hi int) {
	if l.Bias == nil {
		return
	}
	g := l.grad().Data
	db := l.Bias.Grad.Data[lo:hi]
	addRows(db, g[lo:], l.Out, l.rows)
}

// Infer computes y = x W^T + b for rows rows of x into y without touching
// Forward's caches, in the arithmetic of the active Arithmetic: the
// inference paths (a KV-cache step) use it.
func (l *Linear) Infer(y, x []float32, rows int) {
	var b []float32
	if l.Bias != nil {
		b = l.Bias.Data.Data
	}
	arith.Linear(y[:rows*l.Out], x[:rows*l.In], l.Weight.Data.Data, b, rows, l.In, l.Out)
}
