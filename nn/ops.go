package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// Work sizes for splitting loops over goroutines. They are fixed numbers of
// items, never derived from GOMAXPROCS, so every GEMM call and every
// reduction sees the same operands whatever the machine: results are bitwise
// reproducible. They are also large enough that small tensors stay on the
// calling goroutine.
const (
	rowChunk  = 64    // rows of a Linear or LayerNorm per task
	colChunk  = 32    // output features per weight-gradient task
	elemChunk = 16384 // elements per task in element-wise ops
)

// chunker runs fn over the fixed chunks [c*size, min((c+1)*size, n)) of
// [0, n), spread over goroutines by ParallelFor. Layers embed one and pass
// method values they stored once, so a call allocates nothing on our side.
type chunker struct {
	n, size int
	fn      func(lo, hi int)
	run     func(worker, c0, c1 int)
}

func (c *chunker) do(n, size int, fn func(lo, hi int)) {
	chunks := FixedChunks(n, size)
	if chunks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	if c.run == nil {
		c.run = c.runChunks
	}
	c.n, c.size, c.fn = n, size, fn
	ParallelFor(chunks, c.run)
	c.fn = nil
}

// dims copies d into *buf and returns it. Ensure's variadic shape escapes
// to the heap, so a literal Ensure(t, a, b) costs an allocation per call;
// passing a slice the layer keeps does not.
func dims(buf *[]int, d ...int) []int {
	*buf = append((*buf)[:0], d...)
	return *buf
}

func (c *chunker) runChunks(_, c0, c1 int) {
	for k := c0; k < c1; k++ {
		c.fn(k*c.size, min((k+1)*c.size, c.n))
	}
}

// ------------------------------------------------------------- Embedding

// Embedding maps indices to rows of Weight [Num, D], like torch.nn.Embedding.
type Embedding struct {
	Num, D int
	Weight *Param

	idx   []int32
	y     *Tensor
	shape []int
}

// NewEmbedding returns an embedding initialised N(0, 1) as in PyTorch.
func NewEmbedding(name string, num, d int, rng *RNG) *Embedding {
	if num <= 0 || d <= 0 {
		panic(fmt.Sprintf("nn: NewEmbedding %s: num=%d d=%d must be positive", name, num, d))
	}
	e := &Embedding{Num: num, D: d, Weight: NewParam(name+".weight", num, d)}
	rng.Normal(e.Weight.Data.Data, 0, 1)
	return e
}

// Params returns the weight.
func (e *Embedding) Params() []*Param { return []*Param{e.Weight} }

// CheckIndices reports the first index outside [0, num): callers holding
// user data (code files) validate with it before Forward, which panics.
func CheckIndices(idx []int32, num int) error {
	for i, v := range idx {
		if v < 0 || int(v) >= num {
			return fmt.Errorf("index %d at position %d is outside [0, %d)", v, i, num)
		}
	}
	return nil
}

// Forward returns [len(idx), D]; it caches idx by reference.
func (e *Embedding) Forward(idx []int32) *Tensor {
	if err := CheckIndices(idx, e.Num); err != nil {
		panic(fmt.Sprintf("nn: Embedding %s: %v", e.Weight.Name, err))
	}
	e.idx = idx
	e.y = Ensure(e.y, dims(&e.shape, len(idx), e.D)...)
	w := e.Weight.Data.Data
	for i, v := range idx {
		copy(e.y.Data[i*e.D:(i+1)*e.D], w[int(v)*e.D:(int(v)+1)*e.D])
	}
	return e.y
}

// Backward scatters dy into the weight gradient, in index order so
// repeated indices sum deterministically.
func (e *Embedding) Backward(dy *Tensor) {
	if dy.Len() != len(e.idx)*e.D {
		panic(fmt.Sprintf("nn: Embedding %s: Backward got %v for %d indices", e.Weight.Name, dy.Shape, len(e.idx)))
	}
	g := e.Weight.Grad.Data
	for i, v := range e.idx {
		gr := g[int(v)*e.D : (int(v)+1)*e.D]
		for j, d := range dy.Data[i*e.D : (i+1)*e.D] {
			gr[j] += d
		}
	}
}

// ----------------------------------------------------------- Activations

// pointwise is the shared machinery of the activations: an element-wise
// map with a cached input and output.
type pointwise struct {
	x, y, dx, dy *Tensor
	fwd, bwd     func(lo, hi int) // set by the concrete type's Forward
	par          chunker
}

func (p *pointwise) forward(x *Tensor) *Tensor {
	p.x = x
	p.y = Ensure(p.y, x.Shape...)
	p.par.do(x.Len(), elemChunk, p.fwd)
	return p.y
}

func (p *pointwise) backward(dy *Tensor) *Tensor {
	if p.x == nil || dy.Len() != p.x.Len() {
		panic(fmt.Sprintf("nn: activation Backward got %v, want the Forward shape", dy.Shape))
	}
	p.dy = dy
	p.dx = Ensure(p.dx, p.x.Shape...)
	p.par.do(dy.Len(), elemChunk, p.bwd)
	return p.dx
}

// ReLU is max(x, 0); its gradient at 0 is taken as 0, like PyTorch.
type ReLU struct{ pointwise }

func (a *ReLU) Forward(x *Tensor) *Tensor {
	if a.fwd == nil {
		a.fwd, a.bwd = a.f, a.b
	}
	return a.forward(x)
}

func (a *ReLU) Backward(dy *Tensor) *Tensor { return a.backward(dy) }

// f and b run in kernels (AVX-512 where available): the Go loops took 5-9%
// of a VQ-VAE training step.
func (a *ReLU) f(lo, hi int) { kernels.Relu(a.y.Data[lo:hi], a.x.Data[lo:hi]) }
func (a *ReLU) b(lo, hi int) {
	kernels.ReluBackward(a.dx.Data[lo:hi], a.x.Data[lo:hi], a.dy.Data[lo:hi])
}

// GELU is the exact x * Phi(x) = x/2 (1 + erf(x/sqrt 2)), PyTorch's default;
// its derivative is Phi(x) + x phi(x).
type GELU struct{ pointwise }

func (a *GELU) Forward(x *Tensor) *Tensor {
	if a.fwd == nil {
		a.fwd, a.bwd = a.f, a.b
	}
	return a.forward(x)
}

func (a *GELU) Backward(dy *Tensor) *Tensor { return a.backward(dy) }
func (a *GELU) f(lo, hi int)                { kernels.GELU(a.y.Data[lo:hi], a.x.Data[lo:hi]) }
func (a *GELU) b(lo, hi int) {
	kernels.GELUGrad(a.dx.Data[lo:hi], a.dy.Data[lo:hi], a.x.Data[lo:hi])
}

// Tanh is tanh(x); dy/dx = 1 - y^2.
type Tanh struct{ pointwise }

func (a *Tanh) Forward(x *Tensor) *Tensor {
	if a.fwd == nil {
		a.fwd, a.bwd = a.f, a.b
	}
	return a.forward(x)
}

func (a *Tanh) Backward(dy *Tensor) *Tensor { return a.backward(dy) }
func (a *Tanh) f(lo, hi int)                { kernels.Tanh(a.y.Data[lo:hi], a.x.Data[lo:hi]) }
func (a *Tanh) b(lo, hi int) {
	for i, y := range a.y.Data[lo:hi] {
		a.dx.Data[lo+i] = a.dy.Data[lo+i] * (1 - y*y)
	}
}

// Sigmoid is 1/(1+exp(-x)); dy/dx = y(1-y).
type Sigmoid struct{ pointwise }

func (a *Sigmoid) Forward(x *Tensor) *Tensor {
	if a.fwd == nil {
		a.fwd, a.bwd = a.f, a.b
	}
	return a.forward(x)
}

func (a *Sigmoid) Backward(dy *Tensor) *Tensor { return a.backward(dy) }
func (a *Sigmoid) f(lo, hi int)                { kernels.Sigmoid(a.y.Data[lo:hi], a.x.Data[lo:hi]) }
func (a *Sigmoid) b(lo, hi int) {
	for i, y := range a.y.Data[lo:hi] {
		a.dx.Data[lo+i] = a.dy.Data[lo+i] * y * (1 - y)
	}
}

// sigmoid evaluates exp only on non-positive arguments so it never
// overflows.

// ------------------------------------------------------------ Add and Mul

// Add is y = a + b for tensors of equal shape, on all cores.
type Add struct {
	y, da, db *Tensor
	a, b      *Tensor // operands of the running Forward
	fwd       func(lo, hi int)
	par       chunker
}

func (o *Add) Forward(a, b *Tensor) *Tensor {
	mustSameShape("Add", a, b)
	o.y = Ensure(o.y, a.Shape...)
	if o.fwd == nil {
		o.fwd = o.add
	}
	o.a, o.b = a, b
	o.par.do(o.y.Len(), elemChunk, o.fwd)
	o.a, o.b = nil, nil
	return o.y
}

func (o *Add) add(lo, hi int) {
	y, a, b := o.y.Data[lo:hi], o.a.Data[lo:hi], o.b.Data[lo:hi]
	for i := range y {
		y[i] = a[i] + b[i]
	}
}

// Accumulate adds src into dst element-wise (dst += src) on all cores: the
// gradient of a skip connection joining the gradient of the branch.
type Accumulate struct {
	dst, src *Tensor
	fn       func(lo, hi int)
	par      chunker
}

// Into adds src into dst; the shapes must match.
func (o *Accumulate) Into(dst, src *Tensor) {
	mustSameShape("Accumulate", dst, src)
	if o.fn == nil {
		o.fn = o.add
	}
	o.dst, o.src = dst, src
	o.par.do(dst.Len(), elemChunk, o.fn)
	o.dst, o.src = nil, nil
}

func (o *Accumulate) add(lo, hi int) {
	d, s := o.dst.Data[lo:hi], o.src.Data[lo:hi]
	for i, v := range s {
		d[i] += v
	}
}

// Backward returns copies of dy (owned by o) for both inputs, so callers may
// accumulate into either.
func (o *Add) Backward(dy *Tensor) (da, db *Tensor) {
	o.da = Ensure(o.da, dy.Shape...)
	o.db = Ensure(o.db, dy.Shape...)
	copy(o.da.Data, dy.Data)
	copy(o.db.Data, dy.Data)
	return o.da, o.db
}

// Mul is the element-wise product y = a * b; it caches a and b by reference.
type Mul struct {
	a, b, y, da, db *Tensor
}

func (o *Mul) Forward(a, b *Tensor) *Tensor {
	mustSameShape("Mul", a, b)
	o.a, o.b = a, b
	o.y = Ensure(o.y, a.Shape...)
	for i := range o.y.Data {
		o.y.Data[i] = a.Data[i] * b.Data[i]
	}
	return o.y
}

func (o *Mul) Backward(dy *Tensor) (da, db *Tensor) {
	if o.a == nil || dy.Len() != o.a.Len() {
		panic(fmt.Sprintf("nn: Mul Backward got %v, want the Forward shape", dy.Shape))
	}
	o.da = Ensure(o.da, dy.Shape...)
	o.db = Ensure(o.db, dy.Shape...)
	for i, d := range dy.Data {
		o.da.Data[i] = d * o.b.Data[i]
		o.db.Data[i] = d * o.a.Data[i]
	}
	return o.da, o.db
}

func mustSameShape(op string, a, b *Tensor) {
	if !a.SameShape(b) {
		panic(fmt.Sprintf("nn: %s: shapes %v and %v differ", op, a.Shape, b.Shape))
	}
}

// ------------------------------------------------------- Concat and Split

// axis1 describes tensors [N, C_i, inner...] that are joined along axis 1.
// Gather copies the pieces into the whole; scatter does the reverse.
type axis1 struct {
	n, inner int
	chans    []int
	shape    []int // scratch shape
}

func (a *axis1) total() int {
	t := 0
	for _, c := range a.chans {
		t += c
	}
	return t
}

func (a *axis1) gather(dst []float32, parts []*Tensor) {
	total, off := a.total()*a.inner, 0
	for i, x := range parts {
		w := a.chans[i] * a.inner
		for b := range a.n {
			copy(dst[b*total+off:b*total+off+w], x.Data[b*w:(b+1)*w])
		}
		off += w
	}
}

func (a *axis1) scatter(parts []*Tensor, src *Tensor) []*Tensor {
	for len(parts) < len(a.chans) {
		parts = append(parts, nil)
	}
	parts = parts[:len(a.chans)]
	a.shape = append(a.shape[:0], src.Shape...)
	total, off := a.total()*a.inner, 0
	for i, ch := range a.chans {
		a.shape[1] = ch
		parts[i] = Ensure(parts[i], a.shape...)
		w := ch * a.inner
		for b := range a.n {
			copy(parts[i].Data[b*w:(b+1)*w], src.Data[b*total+off:b*total+off+w])
		}
		off += w
	}
	return parts
}

// Concat joins tensors [N, C_i, ...] along axis 1 (channels for NCHW).
type Concat struct {
	ax  axis1
	y   *Tensor
	dxs []*Tensor
}

func (c *Concat) Forward(xs ...*Tensor) *Tensor {
	if len(xs) == 0 || len(xs[0].Shape) < 2 {
		panic("nn: Concat needs at least one tensor of rank >= 2")
	}
	x0 := xs[0]
	c.ax.n = x0.Shape[0]
	c.ax.inner = x0.Len() / max(1, x0.Shape[0]*x0.Shape[1])
	c.ax.chans = c.ax.chans[:0]
	for _, x := range xs {
		if len(x.Shape) != len(x0.Shape) || x.Shape[0] != c.ax.n || x.Len() != x.Shape[0]*x.Shape[1]*c.ax.inner {
			panic(fmt.Sprintf("nn: Concat: %v does not match %v outside axis 1", x.Shape, x0.Shape))
		}
		c.ax.chans = append(c.ax.chans, x.Shape[1])
	}
	c.ax.shape = append(c.ax.shape[:0], x0.Shape...)
	c.ax.shape[1] = c.ax.total()
	c.y = Ensure(c.y, c.ax.shape...)
	c.ax.gather(c.y.Data, xs)
	return c.y
}

// Backward slices dy back into one gradient per input (owned by c).
func (c *Concat) Backward(dy *Tensor) []*Tensor {
	if c.y == nil || !dy.SameShape(c.y) {
		panic(fmt.Sprintf("nn: Concat Backward got %v, want the Forward output shape", dy.Shape))
	}
	c.dxs = c.ax.scatter(c.dxs, dy)
	return c.dxs
}

// Split cuts [N, C, ...] along axis 1 into pieces of Sizes channels: the
// inverse of Concat.
type Split struct {
	Sizes []int
	ax    axis1
	ys    []*Tensor
	dx    *Tensor
}

func (s *Split) Forward(x *Tensor) []*Tensor {
	if len(x.Shape) < 2 {
		panic(fmt.Sprintf("nn: Split: input %v has rank < 2", x.Shape))
	}
	s.ax.chans = append(s.ax.chans[:0], s.Sizes...)
	if s.ax.total() != x.Shape[1] {
		panic(fmt.Sprintf("nn: Split: sizes %v do not sum to the %d channels of %v", s.Sizes, x.Shape[1], x.Shape))
	}
	s.ax.n = x.Shape[0]
	s.ax.inner = x.Len() / max(1, x.Shape[0]*x.Shape[1])
	s.dx = Ensure(s.dx, x.Shape...)
	s.ys = s.ax.scatter(s.ys, x)
	return s.ys
}

// Backward concatenates the piece gradients into dx (owned by s).
func (s *Split) Backward(dys ...*Tensor) *Tensor {
	if len(dys) != len(s.ax.chans) || s.dx == nil {
		panic(fmt.Sprintf("nn: Split Backward got %d gradients for %d pieces", len(dys), len(s.ax.chans)))
	}
	for i, d := range dys {
		if !d.SameShape(s.ys[i]) {
			panic(fmt.Sprintf("nn: Split Backward: gradient %d is %v, want %v", i, d.Shape, s.ys[i].Shape))
		}
	}
	s.ax.gather(s.dx.Data, dys)
	return s.dx
}
