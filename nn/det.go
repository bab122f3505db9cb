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

// DetAttention is a CausalSelfAttention's stepped inference under
// deterministic numerics: one new position per sequence per Step, against
// a DetKVCache. It is safe for concurrent use with separate caches.
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
	return NewDetAttentionFrom(a.C, a.H, a.CAttn, NewDetLinear(a.CProj))
}

// NewDetAttentionFrom is the DetAttention of c channels in h heads with
// the input projection cattn (c -> 3c: q, k, v) and the output projection
// cproj (c -> c), for callers that hold the weights rather than a
// CausalSelfAttention.
func NewDetAttentionFrom(c, h int, cattn *Linear, cproj *DetLinear) *DetAttention {
	if c < 1 || h < 1 || c%h != 0 || cattn.In != c || cattn.Out != 3*c || cproj.In != c || cproj.Out != c {
		panic(fmt.Sprintf("nn: NewDetAttentionFrom: %d channels, %d heads, projections %dx%d and %dx%d", c, h, cattn.In, cattn.Out, cproj.In, cproj.Out))
	}
	part := func(i int) *DetLinear {
		var b []float32
		if cattn.Bias != nil {
			b = cattn.Bias.Data.Data[i*c : (i+1)*c]
		}
		return &DetLinear{In: c, Out: c, w: kernels.NewDetWeights(cattn.Weight.Data.Data[i*c*c:(i+1)*c*c], b, c, c)}
	}
	return &DetAttention{C: c, H: h, q: part(0), k: part(1), v: part(2), CProj: cproj,
		scale: (&CausalSelfAttention{C: c, H: h}).scale()}
}

// DetKVCache holds the keys and values of the positions seen so far, in
// half precision (kernels.DetHalf), each sequence's [MaxT, C] back to back:
// 4 bytes per channel and position per layer.
type DetKVCache struct {
	B, MaxT, C int
	T          int // positions filled
	max        int // sequences allocated
	k, v       []uint16
	q, out, p  []float32
	kv, kv2    []float32 // the new position's keys and values before rounding
}

// NewKVCache returns an empty cache for up to batch sequences of up to
// maxT positions.
func (a *DetAttention) NewKVCache(batch, maxT int) *DetKVCache {
	return &DetKVCache{B: batch, MaxT: maxT, C: a.C, max: batch,
		k: make([]uint16, batch*maxT*a.C), v: make([]uint16, batch*maxT*a.C),
		q: make([]float32, batch*a.C), out: make([]float32, batch*a.C), p: make([]float32, a.H*(maxT+15)/16*16),
		kv: make([]float32, batch*a.C), kv2: make([]float32, batch*a.C)}
}

// Reset empties the cache for batch (at most the size it was made for)
// new sequences.
func (c *DetKVCache) Reset(batch int) {
	if batch < 1 || batch > c.max {
		panic(fmt.Sprintf("nn: DetKVCache.Reset(%d): made for 1..%d sequences", batch, c.max))
	}
	c.B, c.T = batch, 0
}

// StepAdd runs attention for the next position of each of c.B sequences:
// h [B, C] is the (normalised) input at that position and x [B, C] the
// residual stream, which gets x + CProj(attention). The position's key
// and value join the cache.
func (a *DetAttention) StepAdd(x, h []float32, c *DetKVCache) {
	B, C, T := c.B, a.C, c.T
	if c.C != C || len(x) < B*C || len(h) < B*C {
		panic(fmt.Sprintf("nn: DetAttention.StepAdd: %d, %d floats for %d sequences of %d channels (cache of %d)", len(x), len(h), B, C, c.C))
	}
	if T >= c.MaxT {
		panic(fmt.Sprintf("nn: DetAttention.StepAdd: cache holds %d positions, all used", c.MaxT))
	}
	ld := c.MaxT * C // a sequence's cache
	kernels.DetLinear(c.q, C, h, C, B, a.q.w, nil, 0)
	a.k.Forward(c.kv, h, B)
	a.v.Forward(c.kv2, h, B)
	// Each sequence's new key and value join its cache just before its
	// attention reads them, while their cache lines are hot: the caches of
	// a large batch do not fit in the processor's caches.
	for b := range B {
		kernels.DetHalf(c.k[b*ld+T*C:b*ld+(T+1)*C], c.kv[b*C:(b+1)*C])
		kernels.DetHalf(c.v[b*ld+T*C:b*ld+(T+1)*C], c.kv2[b*C:(b+1)*C])
		kb, vb := c.k[b*ld:b*ld+(T+1)*C], c.v[b*ld:b*ld+(T+1)*C]
		kernels.DetAttention(c.out[b*C:(b+1)*C], c.q[b*C:(b+1)*C], kb, vb, T+1, a.H, C/a.H, C, C, a.scale, c.p)
	}
	c.T++
	a.CProj.ForwardAdd(x, c.out, B)
}

// DetAttnBuffers is DetAttention.ForwardAdd's scratch, reused across calls.
type DetAttnBuffers struct {
	q, kv, out, p []float32
	k, v          []uint16
}

// ForwardAdd runs attention over whole sequences: h [B, T, C] holds the
// normalised inputs of B sequences of T positions, and x [B, T, C] gets x
// + CProj(attention). Row t of a sequence is computed by the same kernels
// on the same values as StepAdd computes position t, so a full pass and a
// stepped one agree bit for bit; the full pass reads each sequence's keys
// and values while they are in cache, which makes it the faster way to
// get every position's output when all inputs are known.
func (a *DetAttention) ForwardAdd(x, h []float32, B, T int, buf *DetAttnBuffers) {
	C, rows := a.C, B*T
	if len(x) < rows*C || len(h) < rows*C {
		panic(fmt.Sprintf("nn: DetAttention.ForwardAdd: %d, %d floats for %d sequences of %d positions of %d channels", len(x), len(h), B, T, C))
	}
	buf.q = Scratch(buf.q, rows*C)
	buf.kv = Scratch(buf.kv, rows*C)
	buf.out = Scratch(buf.out, rows*C)
	buf.p = Scratch(buf.p, a.H*(T+15)/16*16)
	if cap(buf.k) < rows*C {
		buf.k, buf.v = make([]uint16, rows*C), make([]uint16, rows*C)
	}
	buf.k, buf.v = buf.k[:rows*C], buf.v[:rows*C]
	a.q.Forward(buf.q, h, rows)
	a.k.Forward(buf.kv, h, rows)
	kernels.DetHalf(buf.k, buf.kv)
	a.v.Forward(buf.kv, h, rows)
	kernels.DetHalf(buf.v, buf.kv)
	for b := range B {
		kb, vb := buf.k[b*T*C:(b+1)*T*C], buf.v[b*T*C:(b+1)*T*C]
		for t := range T {
			r := (b*T + t) * C
			kernels.DetAttention(buf.out[r:r+C], buf.q[r:r+C], kb, vb, t+1, a.H, C/a.H, C, C, a.scale, buf.p)
		}
	}
	a.CProj.ForwardAdd(x, buf.out, rows)
}
