package nn

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/kernels"
)

// MSE is the mean squared error over all elements, like
// torch.nn.functional.mse_loss with reduction "mean".
type MSE struct {
	pred, target, dpred *Tensor
}

// Forward returns mean((pred-target)^2), summed in float64 in element order.
func (m *MSE) Forward(pred, target *Tensor) float32 {
	mustSameShape("MSE", pred, target)
	m.pred, m.target = pred, target
	var s float64
	for i, p := range pred.Data {
		d := float64(p) - float64(target.Data[i])
		s += d * d
	}
	return float32(s / float64(max(1, pred.Len())))
}

// Backward returns dL/dpred = 2 (pred - target) / n.
func (m *MSE) Backward() *Tensor {
	if m.pred == nil {
		panic("nn: MSE Backward before Forward")
	}
	m.dpred = Ensure(m.dpred, m.pred.Shape...)
	sc := 2 / float32(max(1, m.pred.Len()))
	for i, p := range m.pred.Data {
		m.dpred.Data[i] = sc * (p - m.target.Data[i])
	}
	return m.dpred
}

// LogSoftmaxRows writes log softmax of each length-k row of src into dst
// (which may alias src).
func LogSoftmaxRows(dst, src []float32, k int) {
	if k <= 0 || len(src)%k != 0 || len(dst) != len(src) {
		panic(fmt.Sprintf("nn: LogSoftmaxRows: %d values into %d, rows of %d", len(src), len(dst), k))
	}
	for r := 0; r < len(src); r += k {
		logSoftmaxRow(dst[r:r+k], src[r:r+k])
	}
}

// logSoftmaxRow writes log softmax of x into dst (which may alias x) and
// returns the log-sum-exp. The max is subtracted before exponentiating, so
// every exp argument is <= 0: no overflow however large the logits, and at
// least one term is exactly 1, so the log never sees 0. kernels.ExpSum
// takes the exponentials 16 at a time and sums them in float64.
func logSoftmaxRow(dst, x []float32) float64 {
	m := kernels.RowMax(x)
	lse := float64(m) + math.Log(kernels.ExpSum(x, m, 1))
	dst = dst[:len(x)]
	for j, v := range x {
		dst[j] = float32(float64(v) - lse)
	}
	return lse
}

// CrossEntropy is softmax cross-entropy, computed in log space, averaged
// over positions, in nats. Forward takes logits [rows, K]; ForwardNCHW takes
// [N, K, H, W] with the class on axis 1, as a PixelCNN emits them.
type CrossEntropy struct {
	// LogProbs holds log softmax of the last Forward's logits, laid out
	// like them: what scoring and sampling read.
	LogProbs *Tensor
	// RowLoss holds -log p(target) per position (row-major over N, H, W).
	RowLoss []float32

	targets         []int32
	outer, k, inner int
	dlogits         *Tensor
	fwd, bwd        func(lo, hi int)
	par             chunker
	logits          *Tensor
	// The row-layout work: the logits, log-probabilities and gradient as
	// [positions, K] (the caller's tensors, or transposed copies of an
	// NCHW layout, so both layouts share one arithmetic).
	src, lp, dl          *Tensor
	rows, rowLP, rowGrad *Tensor
}

// Forward returns the mean cross-entropy of logits [rows, K] against
// targets (len rows, values in [0, K)); it panics on a bad target, so
// check user data with CheckIndices first.
func (c *CrossEntropy) Forward(logits *Tensor, targets []int32) float32 {
	if len(logits.Shape) != 2 {
		panic(fmt.Sprintf("nn: CrossEntropy: logits %v, want [rows, K]", logits.Shape))
	}
	return c.forward(logits, targets, logits.Shape[0], logits.Shape[1], 1)
}

// ForwardNCHW is Forward for logits [N, K, H, W] and targets [N*H*W].
func (c *CrossEntropy) ForwardNCHW(logits *Tensor, targets []int32) float32 {
	if len(logits.Shape) != 4 {
		panic(fmt.Sprintf("nn: CrossEntropy: logits %v, want [N, K, H, W]", logits.Shape))
	}
	s := logits.Shape
	return c.forward(logits, targets, s[0], s[1], s[2]*s[3])
}

func (c *CrossEntropy) forward(logits *Tensor, targets []int32, outer, k, inner int) float32 {
	if len(targets) != outer*inner {
		panic(fmt.Sprintf("nn: CrossEntropy: %d targets for logits %v", len(targets), logits.Shape))
	}
	if err := CheckIndices(targets, k); err != nil {
		panic(fmt.Sprintf("nn: CrossEntropy: target %v", err))
	}
	if c.fwd == nil {
		c.fwd, c.bwd = c.forwardPos, c.backwardPos
	}
	c.logits, c.targets, c.outer, c.k, c.inner = logits, targets, outer, k, inner
	c.LogProbs = Ensure(c.LogProbs, logits.Shape...)
	c.RowLoss = Scratch(c.RowLoss, len(targets))
	c.src, c.lp = logits, c.LogProbs
	if inner != 1 {
		c.rows = Ensure(c.rows, len(targets), k)
		c.rowLP = Ensure(c.rowLP, len(targets), k)
		transposeInner(c.rows.Data, logits.Data, outer, k, inner, true)
		c.src, c.lp = c.rows, c.rowLP
	}
	c.par.do(len(targets), rowChunk, c.fwd)
	if inner != 1 {
		transposeInner(c.rowLP.Data, c.LogProbs.Data, outer, k, inner, false)
	}
	var s float64
	for _, l := range c.RowLoss {
		s += float64(l)
	}
	return float32(s / float64(max(1, len(targets))))
}

// transposeInner moves [outer, k, inner] (NCHW logits) to [outer*inner, k]
// rows when toRows, and back otherwise.
func transposeInner(rows, nchw []float32, outer, k, inner int, toRows bool) {
	for o := range outer {
		for j := range k {
			for s := range inner {
				r, n := (o*inner+s)*k+j, (o*k+j)*inner+s
				if toRows {
					rows[r] = nchw[n]
				} else {
					nchw[n] = rows[r]
				}
			}
		}
	}
}

func (c *CrossEntropy) forwardPos(lo, hi int) {
	k := c.k
	for p := lo; p < hi; p++ {
		lp := c.lp.Data[p*k : (p+1)*k]
		logSoftmaxRow(lp, c.src.Data[p*k:(p+1)*k])
		c.RowLoss[p] = -lp[c.targets[p]]
	}
}

// Backward returns dL/dlogits = (softmax - onehot(target)) / positions.
func (c *CrossEntropy) Backward() *Tensor {
	if c.logits == nil {
		panic("nn: CrossEntropy Backward before Forward")
	}
	c.dlogits = Ensure(c.dlogits, c.logits.Shape...)
	c.dl = c.dlogits
	if c.inner != 1 {
		c.rowGrad = Ensure(c.rowGrad, len(c.targets), c.k)
		c.dl = c.rowGrad
	}
	c.par.do(len(c.targets), rowChunk, c.bwd)
	if c.inner != 1 {
		transposeInner(c.rowGrad.Data, c.dlogits.Data, c.outer, c.k, c.inner, false)
	}
	return c.dlogits
}

// backwardPos: softmax = e^logprob, 16 at a time, scaled by 1/positions.
func (c *CrossEntropy) backwardPos(lo, hi int) {
	s := float32(1 / float64(len(c.targets)))
	d := c.dl.Data[lo*c.k : hi*c.k]
	kernels.Exp(d, c.lp.Data[lo*c.k:hi*c.k])
	for i := range d {
		d[i] *= s
	}
	for p := lo; p < hi; p++ {
		d[(p-lo)*c.k+int(c.targets[p])] -= s
	}
}
