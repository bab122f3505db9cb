package nn

import "fmt"

// KVCache holds the keys and values of the positions seen so far, for
// generating one position at a time without recomputing the past. Per
// sequence and head, keys are stored transposed (one row of MaxT per head
// dimension) and values as rows, so that a query's scores and its output
// are each one vector-matrix product over contiguous rows
// (Numerics.Attend).
type KVCache struct {
	B, MaxT, C, H int
	T             int       // positions filled
	K             []float32 // [B, H, C/H, MaxT]: keys, transposed per head
	V             []float32 // [B, H, MaxT, C/H]
	scores        [][]float32
}

// NewKVCache returns an empty cache for batch sequences of up to maxT
// positions of attention a.
func (a *CausalSelfAttention) NewKVCache(batch, maxT int) *KVCache {
	return &KVCache{B: batch, MaxT: maxT, C: a.C, H: a.H,
		K: make([]float32, batch*maxT*a.C), V: make([]float32, batch*maxT*a.C)}
}

// Reset empties the cache for a new batch of sequences.
func (c *KVCache) Reset() { c.T = 0 }

// Truncate forgets every position from t on, so that the next ForwardStep
// continues after position t-1: a sampler that scored some continuations
// of a prefix returns to it this way.
func (c *KVCache) Truncate(t int) {
	if t < 0 || t > c.T {
		panic(fmt.Sprintf("nn: KVCache.Truncate(%d) of a cache holding %d positions", t, c.T))
	}
	c.T = t
}

// Resize makes c a cache of b sequences (b no more than its storage was
// made for) and empties it; the storage of a cache of fewer sequences is
// a prefix of the full one.
func (c *KVCache) Resize(b int) {
	if b < 1 || b*c.MaxT*c.C > cap(c.K) {
		panic(fmt.Sprintf("nn: KVCache.Resize(%d): storage for %d sequences", b, cap(c.K)/(c.MaxT*c.C)))
	}
	c.B, c.T = b, 0
	c.K, c.V = c.K[:b*c.MaxT*c.C], c.V[:b*c.MaxT*c.C]
}

// head returns sequence b's keys [hs, MaxT] and values [MaxT, hs] for head h.
func (c *KVCache) head(b, h int) (kt, v []float32) {
	hs := c.C / c.H
	o := (b*c.H + h) * hs * c.MaxT
	return c.K[o : o+hs*c.MaxT], c.V[o : o+hs*c.MaxT]
}

// attnStepBlocked is the number of new positions from which ForwardStep,
// under FastNumerics, attends with the blocked GEMMs of Forward instead of
// one query at a time (the same bits either way on the AVX-512 path).
const attnStepBlocked = 8

// stepSerial is the attention work (multiply-adds of scores and outputs)
// below which ForwardStep stays on the calling goroutine: handing a few
// microseconds of work to the pool costs more than it saves.
const stepSerial = 1 << 18

// ForwardStep runs attention on n new positions x [B, n, C] that follow the
// cache.T positions already in cache, appends their keys and values, and
// returns [B, n, C] equal to the matching rows of Forward on the whole
// sequence (to rounding). It computes in the active Numerics and does not
// disturb Forward's caches; its output is reused by the next ForwardStep.
func (a *CausalSelfAttention) ForwardStep(x *Tensor, cache *KVCache) *Tensor {
	if len(x.Shape) != 3 || x.Shape[0] != cache.B || x.Shape[2] != a.C || cache.C != a.C || cache.H != a.H {
		panic(fmt.Sprintf("nn: attention %s: ForwardStep input %v, want [%d, n, %d]", a.CAttn.Weight.Name, x.Shape, cache.B, a.C))
	}
	n := x.Shape[1]
	if cache.T+n > cache.MaxT {
		panic(fmt.Sprintf("nn: attention %s: KV cache holds %d positions, %d + %d requested", a.CAttn.Weight.Name, cache.MaxT, cache.T, n))
	}
	B, C, hs := cache.B, a.C, a.C/a.H
	a.sqkv = Ensure(a.sqkv, dims(&a.shape, B, n, 3*C)...)
	a.CAttn.Infer(a.sqkv.Data, x.Data, B*n)
	for b := range B {
		for h := range a.H {
			kt, v := cache.head(b, h)
			for i := range n {
				src := a.sqkv.Data[(b*n+i)*3*C:]
				t := cache.T + i
				for d, kv := range src[C+h*hs:][:hs] {
					kt[d*cache.MaxT+t] = kv
				}
				copy(v[t*hs:(t+1)*hs], src[2*C+h*hs:][:hs])
			}
		}
	}
	tile := cache.MaxT
	if n >= attnStepBlocked && numerics == FastNumerics {
		tile = attnBlock * cache.MaxT
	}
	cache.scores = workerScratch(cache.scores, tile, true)
	a.sout = Ensure(a.sout, dims(&a.shape, B, n, C)...)
	a.cache, a.n = cache, n
	if B*n*(cache.T+n)*C < stepSerial {
		a.step(0, 0, B*a.H)
	} else {
		ParallelFor(B*a.H, a.step)
	}
	cache.T += n
	a.cache = nil
	a.sy = Ensure(a.sy, dims(&a.shape, B, n, C)...)
	a.CProj.Infer(a.sy.Data, a.sout.Data, B*n)
	return a.sy
}

// stepHeads attends the new queries of (sequence, head) pairs [lo, hi)
// over the cached keys up to and including their own positions.
func (a *CausalSelfAttention) stepHeads(worker, lo, hi int) {
	c, n, C, hs := a.cache, a.n, a.C, a.C/a.H
	sc := c.scores[worker]
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		kt, v := c.head(b, h)
		q := a.sqkv.Data[b*n*3*C+h*hs:]
		o := a.sout.Data[b*n*C+h*hs:]
		if n >= attnStepBlocked && numerics == FastNumerics {
			a.stepBlocked(q, o, kt, v, sc)
			continue
		}
		for i := range n {
			numerics.Attend(o[i*C:][:hs], q[i*3*C:][:hs], kt, c.MaxT, v, hs, c.T+i+1, a.scale(), sc)
		}
	}
}

// stepBlocked is Forward's blocked attention for new queries q (row stride
// 3C) at positions c.T.. against the cached keys, into o (row stride C).
func (a *CausalSelfAttention) stepBlocked(q, o, kt, v, tiles []float32) {
	c, n, C, hs := a.cache, a.n, a.C, a.C/a.H
	for i0 := 0; i0 < n; i0 += attnBlock {
		i1 := min(i0+attnBlock, n)
		keys := c.T + i1 // the last query of the block sees them all
		p := tiles[:(i1-i0)*keys]
		Sgemm(false, false, i1-i0, keys, hs, a.scale(), q[i0*3*C:], 3*C, kt, c.MaxT, 0, p, keys)
		for i := i0; i < i1; i++ {
			row := p[(i-i0)*keys:][:keys]
			softmaxRow(row[:c.T+i+1])
			clear(row[c.T+i+1:])
		}
		Sgemm(false, false, i1-i0, hs, keys, 1, p, keys, v, hs, 0, o[i0*C:], C)
	}
}
