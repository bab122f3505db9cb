package sampler

import (
	"math"
	"testing"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// tabPrior is an exact autoregressive prior for tests: the logits of
// p(x_p | x_<p, y) are an explicit table row indexed by the class and the
// whole prefix x_<p, so every probability is known and tiny grids can be
// enumerated. A conditional table has a block for the null class after the
// classes' blocks, as the real priors do.
type tabPrior struct {
	info  prior.Info
	off   []int     // first row of position p within a class's block
	rows  int       // rows per class
	table []float32 // [classes+1 or 1][rows][K]
	out   *nn.Tensor
	calls int // Forward calls
}

func newTabPrior(seed uint64, k, h, w, classes int, scale float32) *tabPrior {
	t := &tabPrior{info: prior.Info{Arch: "table", K: k, H: h, W: w, Classes: classes}}
	pow := 1
	for p := 0; p < h*w; p++ {
		t.off = append(t.off, t.rows)
		t.rows += pow
		pow *= k
	}
	blocks := 1
	if classes > 0 {
		blocks = classes + 1
	}
	t.table = make([]float32, blocks*t.rows*k)
	nn.NewRNG(seed).Normal(t.table, 0, scale)
	return t
}

// row returns the logits of position p of grid x (only x[:p] is read).
func (t *tabPrior) row(x []int32, class int32, p int) []float32 {
	k := t.info.K
	idx := 0
	for q := p - 1; q >= 0; q-- {
		idx = idx*k + int(x[q])
	}
	r := int(class)*t.rows + t.off[p] + idx
	return t.table[r*k : (r+1)*k]
}

func (t *tabPrior) class(classes []int32, i int) int32 {
	if classes == nil {
		return 0
	}
	return classes[i]
}

func (t *tabPrior) Info() prior.Info    { return t.info }
func (t *tabPrior) Params() []*nn.Param { return nil }
func (t *tabPrior) Backward(*nn.Tensor) {}

func (t *tabPrior) Forward(codes, classes []int32, n int) *nn.Tensor {
	t.calls++
	k, hw := t.info.K, t.info.Positions()
	t.out = nn.Ensure(t.out, n*hw, k)
	for i := 0; i < n; i++ {
		for p := 0; p < hw; p++ {
			copy(t.out.Data[(i*hw+p)*k:], t.row(codes[i*hw:(i+1)*hw], t.class(classes, i), p))
		}
	}
	return t.out
}

func (t *tabPrior) NewStepper(n int) prior.Stepper {
	return &tabStepper{t: t, max: n, out: nn.NewTensor(n, t.info.K)}
}

type tabStepper struct {
	t       *tabPrior
	max, n  int
	classes []int32
	next    int
	out     *nn.Tensor
}

func (s *tabStepper) Reset(n int, classes []int32) {
	if n > s.max {
		panic("tabStepper: Reset beyond capacity")
	}
	s.n, s.classes, s.next = n, classes, 0
}

func (s *tabStepper) Next(codes []int32, pos int) *nn.Tensor {
	if pos != s.next {
		panic("tabStepper: positions out of order")
	}
	s.next++
	k, hw := s.t.info.K, s.t.info.Positions()
	s.out = nn.Ensure(s.out, s.n, k)
	for i := 0; i < s.n; i++ {
		copy(s.out.Data[i*k:], s.t.row(codes[i*hw:(i+1)*hw], s.t.class(s.classes, i), pos))
	}
	return s.out
}

// softmax64 returns softmax(l / T) in float64.
func softmax64(l []float32, temperature float64) []float64 {
	m := math.Inf(-1)
	for _, v := range l {
		m = math.Max(m, float64(v))
	}
	p := make([]float64, len(l))
	s := 0.0
	for i, v := range l {
		p[i] = math.Exp((float64(v) - m) / temperature)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// jointProb is prod_p softmax(l_p / T)[x_p] of one grid.
func (t *tabPrior) jointProb(x []int32, class int32, temperature float64) float64 {
	pr := 1.0
	for p := range x {
		pr *= softmax64(t.row(x, class, p), temperature)[x[p]]
	}
	return pr
}

// allGrids enumerates every grid of the prior's size, in base-K order.
func (t *tabPrior) allGrids() [][]int32 {
	hw, k := t.info.Positions(), t.info.K
	total := 1
	for range hw {
		total *= k
	}
	out := make([][]int32, total)
	for i := range out {
		x := make([]int32, hw)
		v := i
		for p := range x {
			x[p] = int32(v % k)
			v /= k
		}
		out[i] = x
	}
	return out
}

func gridIndex(x []int32, k int) int {
	idx := 0
	for p := len(x) - 1; p >= 0; p-- {
		idx = idx*k + int(x[p])
	}
	return idx
}

// tvBound is the threshold for the total variation distance between a
// distribution p and the empirical distribution of n independent draws
// from it. Each count is Binomial(n, p_i), so by Jensen
// E|phat_i - p_i| <= sqrt(Var phat_i) = sqrt(p_i(1-p_i)/n), and
//
//	E[TV] = 0.5 sum_i E|phat_i - p_i| <= B = c/sqrt(n),  c = 0.5 sum_i sqrt(p_i(1-p_i)).
//
// The threshold is 5B. TV changes by at most 1/n when one draw changes, so
// McDiarmid gives P(TV >= E[TV] + t) <= exp(-2 n t^2); with t >= 4B that is
// at most exp(-32 c^2), below 0.6% when c >= 0.4 (tvBound insists on that:
// no outcome may dominate). Seeds are fixed, so the outcome is reproducible;
// the bound shows the threshold was derived, not tuned to pass.
func tvBound(tb testing.TB, p []float64, n int) float64 {
	c := 0.0
	for _, v := range p {
		c += 0.5 * math.Sqrt(v*(1-v))
	}
	if c < 0.4 {
		tb.Fatalf("tvBound: c = %.3f < 0.4 for %v; the tail bound does not hold", c, p)
	}
	return 5 * c / math.Sqrt(float64(n))
}

func tv(p, q []float64) float64 {
	s := 0.0
	for i := range p {
		s += math.Abs(p[i] - q[i])
	}
	return s / 2
}

// spanTab is a tabPrior whose stepper takes spans of positions and
// rewinds (prior.SpanStepper), so that gibbs edits take the span path.
type spanTab struct{ *tabPrior }

func (t spanTab) NewStepper(n int) prior.Stepper {
	return &tabSpanStepper{tabStepper: tabStepper{t: t.tabPrior, max: n, out: nn.NewTensor(n, t.info.K)}}
}

type tabSpanStepper struct {
	tabStepper
	buf   *nn.Tensor
	spans int
}

func (s *tabSpanStepper) Span(codes []int32, from, to int) *nn.Tensor {
	if from != s.next || to <= from || to > s.t.info.Positions() {
		panic("tabSpanStepper: bad span")
	}
	s.spans++
	k, hw, l := s.t.info.K, s.t.info.Positions(), to-from
	s.buf = nn.Ensure(s.buf, s.n*l, k)
	for i := 0; i < s.n; i++ {
		for p := from; p < to; p++ {
			copy(s.buf.Data[(i*l+p-from)*k:], s.t.row(codes[i*hw:(i+1)*hw], s.t.class(s.classes, i), p))
		}
	}
	s.next = to
	return s.buf
}

func (s *tabSpanStepper) Rewind(pos int) {
	if pos < 0 || pos > s.next {
		panic("tabSpanStepper: rewind past the next position")
	}
	s.next = pos
}
