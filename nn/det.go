package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// Numerics selects the arithmetic of an inference path.
//
// NumericsFast runs the fastest kernels: results agree across CPUs and
// kernel paths to rounding, not bit for bit. NumericsDeterministic runs the
// kernels.Det* kernels through the Det* layers below: every value is the
// same bits on every machine, kernel path, GOMAXPROCS and batch size, which
// prior coding needs (the decoder must rebuild the encoder's
// probabilities exactly), at some cost in speed.
type Numerics uint8

const (
	NumericsFast Numerics = iota
	NumericsDeterministic
)

func (n Numerics) String() string {
	switch n {
	case NumericsFast:
		return "fast"
	case NumericsDeterministic:
		return "deterministic"
	}
	return fmt.Sprintf("numerics(%d)", uint8(n))
}

// DetLinear is a Linear's inference under deterministic numerics: its
// weights copied and packed for kernels.DetLinear. It is safe for
// concurrent use.
type DetLinear struct {
	In, Out int
	w       *kernels.DetWeights
}

// NewDetLinear copies l's weights (later changes to l do not show).
func NewDetLinear(l *Linear) *DetLinear {
	var b []float32
	if l.Bias != nil {
		b = l.Bias.Data.Data
	}
	return &DetLinear{In: l.In, Out: l.Out, w: kernels.NewDetWeights(l.Weight.Data.Data, b, l.Out, l.In)}
}

// Forward sets y [rows, Out] = x [rows, In] W^T + b.
func (d *DetLinear) Forward(y, x []float32, rows int) {
	kernels.DetLinear(y, d.Out, x, d.In, rows, d.w, nil, 0)
}

// ForwardAdd adds x W^T + b to y [rows, Out] (a residual connection): y =
// y + (x W^T + b).
func (d *DetLinear) ForwardAdd(y, x []float32, rows int) {
	kernels.DetLinear(y, d.Out, x, d.In, rows, d.w, y, d.Out)
}

// DetLayerNormRows is ln's forward pass on rows rows of x into y (y may be
// x) under deterministic numerics.
func DetLayerNormRows(y, x []float32, ln *LayerNorm, rows int) {
	kernels.DetLayerNorm(y, x, rows, ln.D, ln.Weight.Data.Data, ln.Bias.Data.Data, ln.Eps)
}

// DetGELU applies the exact-erf GELU to x in place under deterministic
// numerics.
func DetGELU(x []float32) { kernels.DetGELU(x, x) }

// DetAttention is a CausalSelfAttention's inference under deterministic
// numerics: new positions of a batch of sequences against a DetKVCache
// (SpanAdd). It is safe for concurrent use with separate caches.
type DetAttention struct {
	C, H int
	// CAttn's rows for q, k and v as three products, so that k and v are
	// written straight into the cache (each output element is computed
	// the same way whichever rows share a product).
	q, k, v *DetLinear
	CProj   *DetLinear
	scale   float32
}

// NewDetAttention copies a's weights.
func NewDetAttention(a *CausalSelfAttention) *DetAttention {
	c, h, cattn := a.C, a.H, a.CAttn
	part := func(i int) *DetLinear {
		var b []float32
		if cattn.Bias != nil {
			b = cattn.Bias.Data.Data[i*c : (i+1)*c]
		}
		return &DetLinear{In: c, Out: c, w: kernels.NewDetWeights(cattn.Weight.Data.Data[i*c*c:(i+1)*c*c], b, c, c)}
	}
	return &DetAttention{C: c, H: h, q: part(0), k: part(1), v: part(2), CProj: NewDetLinear(a.CProj), scale: a.scale()}
}

// DetKVCache holds the keys and values of the positions seen so far, in
// half precision (kernels.DetHalf), each sequence's [MaxT, C] back to back:
// 4 bytes per channel and position per layer. It also holds the scratch
// of the spans that use it.
type DetKVCache struct {
	B, MaxT, C int
	T          int // positions filled
	max        int // sequences allocated
	k, v       []uint16
	q, kv, out []float32
	p          []float32
}

// NewKVCache returns an empty cache for up to batch sequences of up to
// maxT positions.
func (a *DetAttention) NewKVCache(batch, maxT int) *DetKVCache {
	return &DetKVCache{B: batch, MaxT: maxT, C: a.C, max: batch,
		k: make([]uint16, batch*maxT*a.C), v: make([]uint16, batch*maxT*a.C),
		p: make([]float32, a.H*(maxT+15)/16*16)}
}

// Reset empties the cache for batch (at most the size it was made for)
// new sequences.
func (c *DetKVCache) Reset(batch int) {
	if batch < 1 || batch > c.max {
		panic(fmt.Sprintf("nn: DetKVCache.Reset(%d): made for 1..%d sequences", batch, c.max))
	}
	c.B, c.T = batch, 0
}

// Truncate forgets every position from t on.
func (c *DetKVCache) Truncate(t int) {
	if t < 0 || t > c.T {
		panic(fmt.Sprintf("nn: DetKVCache.Truncate(%d) of a cache holding %d positions", t, c.T))
	}
	c.T = t
}

// SpanAdd runs attention for l new positions of each of c.B sequences,
// after the c.T in cache: h [B, l, C] holds their (normalised) inputs and
// x [B, l, C] the residual stream, which gets x + CProj(attention). Their
// keys and values join the cache. Every output is computed by the same
// kernels on the same values whatever l is and however the positions are
// split into spans, so one span of a whole sequence and one position at a
// time agree bit for bit; a long span reads each sequence's keys and
// values while they are in cache, the faster way when all inputs are
// known.
func (a *DetAttention) SpanAdd(x, h []float32, l int, c *DetKVCache) {
	B, C, T := c.B, a.C, c.T
	rows := B * l
	if c.C != C || l < 1 || len(x) < rows*C || len(h) < rows*C {
		panic(fmt.Sprintf("nn: DetAttention.SpanAdd: %d, %d floats for %d sequences of %d positions of %d channels (cache of %d)", len(x), len(h), B, l, C, c.C))
	}
	if T+l > c.MaxT {
		panic(fmt.Sprintf("nn: DetAttention.SpanAdd: cache holds %d positions, %d + %d requested", c.MaxT, T, l))
	}
	c.q = Scratch(c.q, rows*C)
	c.kv = Scratch(c.kv, 2*rows*C)
	c.out = Scratch(c.out, rows*C)
	kv, kv2 := c.kv[:rows*C], c.kv[rows*C:]
	a.q.Forward(c.q, h, rows)
	a.k.Forward(kv, h, rows)
	a.v.Forward(kv2, h, rows)
	ld := c.MaxT * C // a sequence's cache
	for b := range B {
		o := b*ld + T*C
		kernels.DetHalf(c.k[o:o+l*C], kv[b*l*C:(b+1)*l*C])
		kernels.DetHalf(c.v[o:o+l*C], kv2[b*l*C:(b+1)*l*C])
		kb, vb := c.k[b*ld:b*ld+(T+l)*C], c.v[b*ld:b*ld+(T+l)*C]
		for i := range l {
			r := (b*l + i) * C
			kernels.DetAttention(c.out[r:r+C], c.q[r:r+C], kb, vb, T+i+1, a.H, C/a.H, C, C, a.scale, c.p)
		}
	}
	c.T += l
	a.CProj.ForwardAdd(x, c.out, rows)
}
