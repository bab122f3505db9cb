package nn

import (
	"fmt"
	"math"
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
		logSoftmax(dst[r:r+k], src[r:r+k], 1, k)
	}
}

// logSoftmax writes log softmax over the k values x[0], x[stride], ... into
// dst at the same offsets and returns the log-sum-exp. The max is
// subtracted before exponentiating, so every exp argument is <= 0: no
// overflow however large the logits, and at least one term is exactly 1, so
// the log never sees 0.
func logSoftmax(dst, x []float32, stride, k int) float64 {
	m := float64(x[0])
	for j := 1; j < k; j++ {
		m = max(m, float64(x[j*stride]))
	}
	var s float64
	for j := range k {
		s += float64(Exp32(x[j*stride] - float32(m)))
	}
	lse := m + math.Log(s)
	for j := range k {
		dst[j*stride] = float32(float64(x[j*stride]) - lse)
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
	c.par.do(len(targets), rowChunk, c.fwd)
	var s float64
	for _, l := range c.RowLoss {
		s += float64(l)
	}
	return float32(s / float64(max(1, len(targets))))
}

// base returns the offset of class 0 for position p; classes are inner apart.
func (c *CrossEntropy) base(p int) int { return (p/c.inner)*c.k*c.inner + p%c.inner }

func (c *CrossEntropy) forwardPos(lo, hi int) {
	for p := lo; p < hi; p++ {
		b := c.base(p)
		logSoftmax(c.LogProbs.Data[b:], c.logits.Data[b:], c.inner, c.k)
		c.RowLoss[p] = -c.LogProbs.Data[b+int(c.targets[p])*c.inner]
	}
}

// Backward returns dL/dlogits = (softmax - onehot(target)) / positions.
func (c *CrossEntropy) Backward() *Tensor {
	if c.logits == nil {
		panic("nn: CrossEntropy Backward before Forward")
	}
	c.dlogits = Ensure(c.dlogits, c.logits.Shape...)
	c.par.do(len(c.targets), rowChunk, c.bwd)
	return c.dlogits
}

func (c *CrossEntropy) backwardPos(lo, hi int) {
	sc := 1 / float64(len(c.targets))
	for p := lo; p < hi; p++ {
		b := c.base(p)
		for j := range c.k {
			i := b + j*c.inner
			c.dlogits.Data[i] = Exp32(c.LogProbs.Data[i]) * float32(sc)
		}
		c.dlogits.Data[b+int(c.targets[p])*c.inner] -= float32(sc)
	}
}
