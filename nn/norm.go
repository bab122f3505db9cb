package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// LayerNorm normalises over the last axis, like torch.nn.LayerNorm(D):
// y = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + eps) with the
// biased variance.
type LayerNorm struct {
	D      int
	Eps    float32
	Weight *Param // ones
	Bias   *Param // zeros

	x, y, dx, dy *Tensor
	mean, rstd   []float32
	rows         int
	fwd, bwd, dw func(lo, hi int)
	par          chunker
}

// NewLayerNorm returns a LayerNorm over d features with eps 1e-5.
func NewLayerNorm(name string, d int) *LayerNorm {
	if d <= 0 {
		panic(fmt.Sprintf("nn: NewLayerNorm %s: d=%d must be positive", name, d))
	}
	ln := &LayerNorm{D: d, Eps: 1e-5, Weight: NewParam(name+".weight", d), Bias: NewParam(name+".bias", d)}
	for i := range ln.Weight.Data.Data {
		ln.Weight.Data.Data[i] = 1
	}
	return ln
}

// Params returns weight and bias.
func (ln *LayerNorm) Params() []*Param { return []*Param{ln.Weight, ln.Bias} }

// Forward caches x by reference and the per-row mean and rstd.
func (ln *LayerNorm) Forward(x *Tensor) *Tensor {
	if x.Dim(-1) != ln.D {
		panic(fmt.Sprintf("nn: LayerNorm %s: input %v, want last dim %d", ln.Weight.Name, x.Shape, ln.D))
	}
	if ln.fwd == nil {
		ln.fwd, ln.bwd, ln.dw = ln.forwardRows, ln.backwardRows, ln.backwardParams
	}
	ln.x, ln.rows = x, x.Len()/ln.D
	ln.y = Ensure(ln.y, x.Shape...)
	ln.mean = Scratch(ln.mean, ln.rows)
	ln.rstd = Scratch(ln.rstd, ln.rows)
	ln.par.do(ln.rows, rowChunk, ln.fwd)
	return ln.y
}

func (ln *LayerNorm) forwardRows(lo, hi int) {
	d, w, b := ln.D, ln.Weight.Data.Data, ln.Bias.Data.Data
	for r := lo; r < hi; r++ {
		ln.mean[r], ln.rstd[r] = layerNormRow(ln.y.Data[r*d:(r+1)*d], ln.x.Data[r*d:(r+1)*d], w, b, ln.Eps)
	}
}

// layerNormRow normalises one row x into y and returns its mean and rstd
// (kernels.LayerNormRow: the mean and the centred variance in float64,
// which avoids the cancellation of E[x^2] - E[x]^2).
func layerNormRow(y, x, w, b []float32, eps float32) (mean, rstd float32) {
	return kernels.LayerNormRow(y, x, w, b, eps)
}

// layerNormRows is FastArithmetic' LayerNorm: Forward's arithmetic.
func layerNormRows(y, x, w, b []float32, rows, d int, eps float32) {
	for r := range rows {
		layerNormRow(y[r*d:(r+1)*d], x[r*d:(r+1)*d], w, b, eps)
	}
}

// Infer normalises rows rows of x into y without touching Forward's
// caches, in the arithmetic of the active Arithmetic (inference paths).
func (ln *LayerNorm) Infer(y, x []float32, rows int) {
	arith.LayerNorm(y[:rows*ln.D], x[:rows*ln.D], ln.Weight.Data.Data, ln.Bias.Data.Data, rows, ln.D, ln.Eps)
}

// Backward: with xhat = (x-mean)*rstd and g = dy*weight,
// dx = rstd * (g - mean(g) - xhat*mean(g*xhat)); dweight += sum dy*xhat,
// dbias += sum dy over rows.
func (ln *LayerNorm) Backward(dy *Tensor) *Tensor {
	if ln.x == nil || dy.Len() != ln.x.Len() {
		panic(fmt.Sprintf("nn: LayerNorm %s: Backward got %v, want the Forward shape", ln.Weight.Name, dy.Shape))
	}
	ln.dy = dy
	ln.dx = Ensure(ln.dx, ln.x.Shape...)
	ln.par.do(ln.rows, rowChunk, ln.bwd)
	// Parameter gradients: each task owns a block of features and sums over
	// all rows in order, so the result does not depend on the split.
	ln.par.do(ln.D, colChunk, ln.dw)
	return ln.dx
}

func (ln *LayerNorm) backwardRows(lo, hi int) {
	d, w := ln.D, ln.Weight.Data.Data
	for r := lo; r < hi; r++ {
		kernels.LayerNormGradRow(ln.dx.Data[r*d:(r+1)*d], ln.dy.Data[r*d:(r+1)*d], ln.x.Data[r*d:(r+1)*d], w, ln.mean[r], ln.rstd[r])
	}
}

func (ln *LayerNorm) backwardParams(lo, hi int) {
	kernels.LayerNormParamGrad(ln.Weight.Grad.Data[lo:hi], ln.Bias.Grad.Data[lo:hi],
		ln.dy.Data[lo:], ln.x.Data[lo:], ln.D, ln.rows, ln.mean, ln.rstd)
}
