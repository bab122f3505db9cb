package nn

import (
	"fmt"
	"math"
)

// CausalSelfAttention is nanoGPT's multi-head causal self-attention:
// x [B, T, C] -> CAttn (C -> 3C, q|k|v) -> per head softmax(q k^T/sqrt(hs)
// + causal mask) v -> CProj (C -> C).
type CausalSelfAttention struct {
	C, H         int
	CAttn, CProj *Linear

	b, t    int
	qkv     *Tensor // CAttn output [B, T, 3C]
	att     *Tensor // softmax probabilities [B, H, T, T], zero above the diagonal
	out     *Tensor // heads merged [B, T, C]
	dqkv    *Tensor
	dout    *Tensor
	scratch [][]float32 // per worker [T, T] for dP
	fwd     func(worker, lo, hi int)
	bwd     func(worker, lo, hi int)

	// inference (ForwardStep) buffers, separate from the training caches
	sqkv, sout, sy *Tensor
	cache          *KVCache
	n              int
	step           func(worker, lo, hi int)
	shape          []int
}

// NewCausalSelfAttention returns attention over c channels with h heads;
// params are named name+".c_attn.*" and name+".c_proj.*".
func NewCausalSelfAttention(name string, c, h int, rng *RNG) *CausalSelfAttention {
	if c <= 0 || h <= 0 || c%h != 0 {
		panic(fmt.Sprintf("nn: NewCausalSelfAttention %s: %d channels do not split into %d heads", name, c, h))
	}
	a := &CausalSelfAttention{C: c, H: h,
		CAttn: NewLinear(name+".c_attn", c, 3*c, true, rng),
		CProj: NewLinear(name+".c_proj", c, c, true, rng)}
	a.fwd, a.bwd, a.step = a.forwardHeads, a.backwardHeads, a.stepHeads
	return a
}

// Params returns c_attn's then c_proj's parameters.
func (a *CausalSelfAttention) Params() []*Param {
	return append(a.CAttn.Params(), a.CProj.Params()...)
}

func (a *CausalSelfAttention) scale() float32 { return float32(1 / math.Sqrt(float64(a.C/a.H))) }

// Forward caches the attention probabilities for Backward.
func (a *CausalSelfAttention) Forward(x *Tensor) *Tensor {
	if len(x.Shape) != 3 || x.Shape[2] != a.C {
		panic(fmt.Sprintf("nn: attention %s: input %v, want [B, T, %d]", a.CAttn.Weight.Name, x.Shape, a.C))
	}
	a.b, a.t = x.Shape[0], x.Shape[1]
	a.qkv = a.CAttn.Forward(x)
	a.att = Ensure(a.att, dims(&a.shape, a.b, a.H, a.t, a.t)...)
	a.out = Ensure(a.out, dims(&a.shape, a.b, a.t, a.C)...)
	ParallelFor(a.b*a.H, a.fwd)
	return a.CProj.Forward(a.out)
}

// forwardHeads handles (batch, head) pairs [lo, hi): S = q k^T * scale as
// one GEMM, masked row-wise softmax, then out_h = P v.
func (a *CausalSelfAttention) forwardHeads(_, lo, hi int) {
	T, C, hs := a.t, a.C, a.C/a.H
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		qkv := a.qkv.Data[b*T*3*C:]
		q, k, v := qkv[h*hs:], qkv[C+h*hs:], qkv[2*C+h*hs:]
		p := a.att.Data[bh*T*T : (bh+1)*T*T]
		Sgemm(false, true, T, T, hs, a.scale(), q, 3*C, k, 3*C, 0, p, T)
		for i := range T {
			causalSoftmax(p[i*T:(i+1)*T], i+1)
		}
		Sgemm(false, false, T, hs, T, 1, p, T, v, 3*C, 0, a.out.Data[b*T*C+h*hs:], C)
	}
}

// causalSoftmax turns row[:n] into softmax probabilities (max subtracted,
// float32 storage, float64 sum) and zeroes the masked row[n:].
func causalSoftmax(row []float32, n int) {
	m := row[0]
	for _, v := range row[1:n] {
		m = max(m, v)
	}
	var s float64
	for j, v := range row[:n] {
		e := Exp32(v - m)
		row[j] = e
		s += float64(e)
	}
	inv := float32(1 / s)
	for j := range row[:n] {
		row[j] *= inv
	}
	clear(row[n:])
}

// Backward: with dP = dout_h v^T, the softmax gives
// dS_ij = P_ij (dP_ij - sum_l P_il dP_il); then dq = scale dS k,
// dk = scale dS^T q, dv = P^T dout_h.
func (a *CausalSelfAttention) Backward(dy *Tensor) *Tensor {
	if a.qkv == nil || dy.Len() != a.b*a.t*a.C {
		panic(fmt.Sprintf("nn: attention %s: Backward got %v, want the Forward shape", a.CAttn.Weight.Name, dy.Shape))
	}
	a.dout = a.CProj.Backward(dy)
	a.dqkv = Ensure(a.dqkv, dims(&a.shape, a.b, a.t, 3*a.C)...)
	for w := len(a.scratch); w < Workers(); w++ {
		a.scratch = append(a.scratch, nil)
	}
	for w := range a.scratch {
		a.scratch[w] = Scratch(a.scratch[w], a.t*a.t)
	}
	ParallelFor(a.b*a.H, a.bwd)
	return a.CAttn.Backward(a.dqkv)
}

func (a *CausalSelfAttention) backwardHeads(worker, lo, hi int) {
	T, C, hs := a.t, a.C, a.C/a.H
	dp := a.scratch[worker]
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		qkv := a.qkv.Data[b*T*3*C:]
		q, k, v := qkv[h*hs:], qkv[C+h*hs:], qkv[2*C+h*hs:]
		dqkv := a.dqkv.Data[b*T*3*C:]
		dq, dk, dv := dqkv[h*hs:], dqkv[C+h*hs:], dqkv[2*C+h*hs:]
		dout := a.dout.Data[b*T*C+h*hs:]
		p := a.att.Data[bh*T*T : (bh+1)*T*T]
		Sgemm(false, true, T, T, hs, 1, dout, C, v, 3*C, 0, dp, T)
		Sgemm(true, false, T, hs, T, 1, p, T, dout, C, 0, dv, 3*C)
		for i := range T {
			pr, dr := p[i*T:(i+1)*T], dp[i*T:(i+1)*T]
			var s float32
			for j := range i + 1 {
				s += pr[j] * dr[j]
			}
			for j := range i + 1 {
				dr[j] = pr[j] * (dr[j] - s)
			}
			clear(dr[i+1:])
		}
		Sgemm(false, false, T, hs, T, a.scale(), dp, T, k, 3*C, 0, dq, 3*C)
		Sgemm(true, false, T, hs, T, a.scale(), dp, T, q, 3*C, 0, dk, 3*C)
	}
}

// KVCache holds the keys and values of the positions seen so far, for
// generating one position at a time without recomputing the past.
type KVCache struct {
	B, MaxT, C int
	T          int       // positions filled
	K, V       []float32 // [B, MaxT, C]
	scores     [][]float32
}

// NewKVCache returns an empty cache for batch sequences of up to maxT
// positions of attention a.
func (a *CausalSelfAttention) NewKVCache(batch, maxT int) *KVCache {
	return &KVCache{B: batch, MaxT: maxT, C: a.C,
		K: make([]float32, batch*maxT*a.C), V: make([]float32, batch*maxT*a.C)}
}

// Reset empties the cache for a new batch of sequences.
func (c *KVCache) Reset() { c.T = 0 }

// ForwardStep runs attention on n new positions x [B, n, C] that follow the
// cache.T positions already in cache, appends their keys and values, and
// returns [B, n, C] equal to the matching rows of Forward on the whole
// sequence. It does not disturb Forward's caches; its output is reused by
// the next ForwardStep.
func (a *CausalSelfAttention) ForwardStep(x *Tensor, cache *KVCache) *Tensor {
	if len(x.Shape) != 3 || x.Shape[0] != cache.B || x.Shape[2] != a.C || cache.C != a.C {
		panic(fmt.Sprintf("nn: attention %s: ForwardStep input %v, want [%d, n, %d]", a.CAttn.Weight.Name, x.Shape, cache.B, a.C))
	}
	n := x.Shape[1]
	if cache.T+n > cache.MaxT {
		panic(fmt.Sprintf("nn: attention %s: KV cache holds %d positions, %d + %d requested", a.CAttn.Weight.Name, cache.MaxT, cache.T, n))
	}
	B, C := cache.B, a.C
	a.sqkv = Ensure(a.sqkv, dims(&a.shape, B, n, 3*C)...)
	a.CAttn.apply(a.sqkv.Data, x.Data, B*n)
	for b := range B {
		for i := range n {
			src := a.sqkv.Data[(b*n+i)*3*C:]
			dst := (b*cache.MaxT + cache.T + i) * C
			copy(cache.K[dst:dst+C], src[C:2*C])
			copy(cache.V[dst:dst+C], src[2*C:3*C])
		}
	}
	for w := len(cache.scores); w < Workers(); w++ {
		cache.scores = append(cache.scores, nil)
	}
	for w := range cache.scores {
		cache.scores[w] = Scratch(cache.scores[w], cache.MaxT) // full size once, not growing per step
	}
	a.sout = Ensure(a.sout, dims(&a.shape, B, n, C)...)
	a.cache, a.n = cache, n
	ParallelFor(B*a.H, a.step)
	cache.T += n
	a.cache = nil
	a.sy = Ensure(a.sy, dims(&a.shape, B, n, C)...)
	a.CProj.apply(a.sy.Data, a.sout.Data, B*n)
	return a.sy
}

// stepHeads computes, for each new query, softmax over the cached keys up
// to and including its own position, in the same arithmetic as Forward
// (float32 dot products, max subtracted) so both agree to rounding.
func (a *CausalSelfAttention) stepHeads(worker, lo, hi int) {
	c, n, C, hs := a.cache, a.n, a.C, a.C/a.H
	sc := c.scores[worker]
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		keys := c.K[b*c.MaxT*C:]
		vals := c.V[b*c.MaxT*C:]
		for i := range n {
			q := a.sqkv.Data[(b*n+i)*3*C+h*hs:][:hs]
			m := c.T + i + 1
			for j := range m {
				kj := keys[j*C+h*hs:][:hs]
				var s float32
				for d, qd := range q {
					s += qd * kj[d]
				}
				sc[j] = s * a.scale()
			}
			causalSoftmax(sc[:m], m)
			o := a.sout.Data[(b*n+i)*C+h*hs:][:hs]
			clear(o)
			for j := range m {
				vj, pj := vals[j*C+h*hs:][:hs], sc[j]
				for d := range o {
					o[d] += pj * vj[d]
				}
			}
		}
	}
}
