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
	C, H         int
	CAttn, CProj *DetLinear
	scale        float32
}

// NewDetAttention copies a's weights.
func NewDetAttention(a *CausalSelfAttention) *DetAttention {
	return NewDetAttentionFrom(a.C, a.H, NewDetLinear(a.CAttn), NewDetLinear(a.CProj))
}

// NewDetAttentionFrom is the DetAttention of c channels in h heads with
// the given projections (c -> 3c, c -> c), for callers that hold the
// weights rather than a CausalSelfAttention.
func NewDetAttentionFrom(c, h int, cattn, cproj *DetLinear) *DetAttention {
	if c < 1 || h < 1 || c%h != 0 || cattn.In != c || cattn.Out != 3*c || cproj.In != c || cproj.Out != c {
		panic(fmt.Sprintf("nn: NewDetAttentionFrom: %d channels, %d heads, projections %dx%d and %dx%d", c, h, cattn.In, cattn.Out, cproj.In, cproj.Out))
	}
	return &DetAttention{C: c, H: h, CAttn: cattn, CProj: cproj, scale: (&CausalSelfAttention{C: c, H: h}).scale()}
}

// DetKVCache holds the keys (transposed: per sequence, one row of TPad
// positions per channel, as kernels.DetAttention reads them) and values of
// the positions seen so far.
type DetKVCache struct {
	B, MaxT, TPad, C int
	T                int // positions filled
	max              int // sequences allocated
	kt, v            []float32
	qkv, out, p      []float32
}

// NewKVCache returns an empty cache for up to batch sequences of up to
// maxT positions.
func (a *DetAttention) NewKVCache(batch, maxT int) *DetKVCache {
	tpad := (maxT + 15) / 16 * 16
	return &DetKVCache{B: batch, MaxT: maxT, TPad: tpad, C: a.C, max: batch,
		kt: make([]float32, batch*a.C*tpad), v: make([]float32, batch*maxT*a.C),
		qkv: make([]float32, batch*3*a.C), out: make([]float32, batch*a.C), p: make([]float32, a.H*tpad)}
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
	a.CAttn.Forward(c.qkv, h, B)
	hs := C / a.H
	for b := range B {
		qkv := c.qkv[b*3*C : (b+1)*3*C]
		kt := c.kt[b*C*c.TPad : (b+1)*C*c.TPad]
		for i, k := range qkv[C : 2*C] {
			kt[i*c.TPad+T] = k
		}
		v := c.v[b*c.MaxT*C : (b+1)*c.MaxT*C]
		copy(v[T*C:(T+1)*C], qkv[2*C:])
		kernels.DetAttention(c.out[b*C:(b+1)*C], qkv[:C], kt, v, T+1, a.H, hs, c.TPad, C, a.scale, c.p)
	}
	c.T++
	a.CProj.ForwardAdd(x, c.out, B)
}
