package prior

import (
	"fmt"

	"github.com/vqgen/vqgen/nn"
)

// NewStepper returns the key/value-cached stepper for up to n grids, in
// the fast numerics. It also implements SpanStepper. It packs the model's
// weights for its products at every Reset, so they must not change between
// a Reset and the steps after it.
func (m *Transformer) NewStepper(n int) Stepper {
	if n < 1 {
		panic(fmt.Sprintf("prior: Transformer.NewStepper(%d): need at least 1 grid", n))
	}
	return m.newCachedStepper(n, m.newFastOps(n))
}

func (m *Transformer) newCachedStepper(n int, ops inferOps) *cachedStepper {
	return &cachedStepper{m: m, max: n, pos: -1, ops: ops, classes: make([]int32, 0, n)}
}

// cachedStepper pushes positions of n grids through the model's own layers
// (tblock.step) in the numerics of its ops, attending over the keys and
// values that earlier calls cached. It leaves the training caches alone.
type cachedStepper struct {
	m       *Transformer
	max, n  int
	pos     int // next position; -1 before Reset
	classes []int32
	ops     inferOps

	x, h, f []float32 // residual stream [n, l, D], normed rows [n*l, D], MLP rows [n*l, MD]
	tok     []int32   // each row's input token [n*l]
	// keyed: positions come back (there was a Rewind since Reset), so the
	// first block's attention remembers its projections by input token
	// (nn's ForwardStepKeyed) and projects only the rows whose token
	// changed.
	keyed  bool
	lg     []float32
	logits nn.Tensor
	shape  []int
}

func (s *cachedStepper) Reset(n int, classes []int32) {
	s.classes = s.m.checkReset(n, s.max, classes, s.classes)
	s.n, s.pos, s.keyed = n, 0, false
	s.ops.resize(n)
}

func (s *cachedStepper) Next(codes []int32, pos int) *nn.Tensor {
	s.m.checkNext(s.pos, pos)
	y := s.Span(codes, pos, pos+1)
	view(&s.logits, y.Data, dims(&s.shape, s.n, s.m.info.K))
	return &s.logits
}

// Span returns the logits [n*(to-from), K] of positions from..to-1 of
// every grid (grid-major), where from is the next position; see
// SpanStepper.
func (s *cachedStepper) Span(codes []int32, from, to int) *nn.Tensor {
	m := s.m
	if s.pos < 0 {
		panic("prior: Transformer stepper: Span before Reset")
	}
	if from != s.pos || to <= from || to > m.t {
		panic(fmt.Sprintf("prior: Transformer stepper: Span(%d, %d), want from = %d and from < to <= %d", from, to, s.pos, m.t))
	}
	checkStepCodes(m, codes, s.n, to-1)
	t, d, n, l := m.t, m.cfg.Dim, s.n, to-from
	rows := n * l
	s.x = nn.Scratch(s.x, rows*d)
	s.h = nn.Scratch(s.h, rows*d)
	s.f = nn.Scratch(s.f, rows*m.cfg.MLPMult*d)
	s.lg = nn.Scratch(s.lg, rows*m.info.K)
	if cap(s.tok) < rows {
		s.tok = make([]int32, rows)
	}
	s.tok = s.tok[:rows]
	wte := m.wte.Weight.Data.Data
	for b := range n {
		cls := m.classVector(s.classes, b)
		for i := range l {
			p := from + i
			tok := m.startToken(s.classes, b)
			if p > 0 {
				tok = codes[b*t+p-1]
			}
			s.tok[b*l+i] = tok
			m.embedInto(s.x[(b*l+i)*d:][:d], wte[int(tok)*d:][:d], p, cls)
		}
	}
	for li, blk := range m.blocks {
		var keys []int32
		if li == 0 && s.keyed {
			keys = s.tok[:rows]
		}
		blk.step(li, s.x, s.h, s.f, n, l, s.ops, keys)
	}
	s.ops.norm(m.lnF, s.h, s.x, rows)
	s.ops.linear(m.head, s.lg, s.h, rows)
	s.pos = to
	view(&s.logits, s.lg, dims(&s.shape, rows, m.info.K))
	return &s.logits
}

// Rewind forgets positions pos and after: the next Span or Next starts at
// pos. See SpanStepper.
func (s *cachedStepper) Rewind(pos int) {
	if s.pos < 0 || pos < 0 || pos > s.pos {
		panic(fmt.Sprintf("prior: Transformer stepper: Rewind(%d) at position %d", pos, s.pos))
	}
	s.ops.truncate(pos)
	s.pos, s.keyed = pos, true
}

// checkReset panics unless a stepper made for max grids can start n grids
// of the given classes, and returns the classes copied into buf.
func (m *Transformer) checkReset(n, max int, classes, buf []int32) []int32 {
	if n < 1 || n > max {
		panic(fmt.Sprintf("prior: Transformer stepper Reset(%d): made for 1..%d grids", n, max))
	}
	if err := m.checkClasses(classes, n); err != nil {
		panic(err.Error())
	}
	return append(buf[:0], classes...)
}

// checkNext panics unless pos is the next position of a stepper at next.
func (m *Transformer) checkNext(next, pos int) {
	if next < 0 {
		panic("prior: Transformer stepper: Next before Reset")
	}
	if pos != next || pos >= m.t {
		panic(fmt.Sprintf("prior: Transformer stepper: Next(pos=%d), want %d (calls go 0..%d in order after Reset)", pos, next, m.t-1))
	}
}

// checkStepCodes checks what a step up to position last reads: the codes
// before last.
func checkStepCodes(m *Transformer, codes []int32, n, last int) {
	t := m.t
	if len(codes) < n*t {
		panic(fmt.Sprintf("prior: Transformer stepper: %d codes for %d grids of %d positions", len(codes), n, t))
	}
	if last == 0 {
		return
	}
	for b := range n {
		if err := nn.CheckIndices(codes[b*t:b*t+last], m.info.K); err != nil {
			panic(fmt.Sprintf("prior: Transformer stepper: grid %d: code %v", b, err))
		}
	}
}

// NewStepperNoCache returns a stepper for up to n grids that recomputes
// the full forward pass over positions 0..pos at every call: the baseline
// the key/value cache is measured against. It runs the training Forward,
// so it overwrites the model's Forward caches.
func (m *Transformer) NewStepperNoCache(n int) Stepper {
	if n < 1 {
		panic(fmt.Sprintf("prior: Transformer.NewStepperNoCache(%d): need at least 1 grid", n))
	}
	return &fullStepper{m: m, max: n, pos: -1, classes: make([]int32, 0, n)}
}

type fullStepper struct {
	m       *Transformer
	max, n  int
	pos     int
	classes []int32
	out     nn.Tensor
	shape   []int
}

func (s *fullStepper) Reset(n int, classes []int32) {
	s.classes = s.m.checkReset(n, s.max, classes, s.classes)
	s.n, s.pos = n, 0
	s.out.Data = nn.Scratch(s.out.Data, n*s.m.info.K)
	s.out.Shape = dims(&s.shape, n, s.m.info.K)
}

func (s *fullStepper) Next(codes []int32, pos int) *nn.Tensor {
	s.m.checkNext(s.pos, pos)
	checkStepCodes(s.m, codes, s.n, pos)
	k, l := s.m.info.K, pos+1
	logits := s.m.forward(codes, s.classes, s.n, l)
	for b := range s.n {
		copy(s.out.Data[b*k:(b+1)*k], logits.Data[(b*l+pos)*k:][:k])
	}
	s.pos++
	return &s.out
}
