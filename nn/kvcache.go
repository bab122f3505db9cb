package nn

import "fmt"

// KVCache holds the keys and values of the positions seen so far, for
// generating one position at a time without recomputing the past. Per
// sequence and head, keys are stored transposed (one row of MaxT per head
// dimension) and values as rows, so that a query's scores and its output
// are each one vector-matrix product over contiguous rows
// (Arithmetic.Attend).
//
// A cache also holds the scratch of the steps that use it, so steppers with
// caches of their own may run concurrently on the same layers.
type KVCache struct {
	B, MaxT, C, H int
	T             int       // positions filled
	K             []float32 // [B, H, C/H, MaxT]: keys, transposed per head
	V             []float32 // [B, H, MaxT, C/H]

	att         *CausalSelfAttention // the layer it was made for
	scores      [][]float32          // per worker
	qkv, out, y Tensor               // ForwardStep's [B, n, 3C], [B, n, C], [B, n, C]
	n           int                  // new positions of the running step
	step        func(worker, lo, hi int)
	shape       []int
}

// NewKVCache returns an empty cache for batch sequences of up to maxT
// positions of attention a.
func (a *CausalSelfAttention) NewKVCache(batch, maxT int) *KVCache {
	c := &KVCache{B: batch, MaxT: maxT, C: a.C, H: a.H, att: a,
		K: make([]float32, batch*maxT*a.C), V: make([]float32, batch*maxT*a.C)}
	c.step = c.stepHeads
	return c
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
// under FastArithmetic, attends with the blocked GEMMs of Forward instead of
// one query at a time (the same bits either way on the AVX-512 path).
const attnStepBlocked = 8

// stepSerial is the attention work (multiply-adds of scores and outputs)
// below which ForwardStep stays on the calling goroutine: handing a few
// microseconds of work to the pool costs more than it saves.
const stepSerial = 1 << 18

// ForwardStep runs attention on n new positions x [B, n, C] that follow the
// cache.T positions already in cache, appends their keys and values, and
// returns [B, n, C] equal to the matching rows of Forward on the whole
// sequence (to rounding). It computes in the active Arithmetic and does not
// disturb Forward's caches; its output lives in cache and is reused by the
// next ForwardStep with it.
func (a *CausalSelfAttention) ForwardStep(x *Tensor, cache *KVCache) *Tensor {
	if len(x.Shape) != 3 || x.Shape[0] != cache.B || x.Shape[2] != a.C || cache.att != a {
		panic(fmt.Sprintf("nn: attention %s: ForwardStep input %v, want [%d, n, %d] and a cache of this layer", a.CAttn.Weight.Name, x.Shape, cache.B, a.C))
	}
	c := cache
	n := x.Shape[1]
	if c.T+n > c.MaxT {
		panic(fmt.Sprintf("nn: attention %s: KV cache holds %d positions, %d + %d requested", a.CAttn.Weight.Name, c.MaxT, c.T, n))
	}
	B, C, hs := c.B, a.C, a.C/a.H
	qkv := ensureTensor(&c.qkv, &c.shape, B, n, 3*C)
	a.CAttn.Infer(qkv.Data, x.Data, B*n)
	for b := range B {
		for h := range a.H {
			kt, v := c.head(b, h)
			for i := range n {
				src := qkv.Data[(b*n+i)*3*C:]
				t := c.T + i
				for d, kv := range src[C+h*hs:][:hs] {
					kt[d*c.MaxT+t] = kv
				}
				copy(v[t*hs:(t+1)*hs], src[2*C+h*hs:][:hs])
			}
		}
	}
	tile := c.MaxT
	if n >= attnStepBlocked && arith == FastArithmetic {
		tile = attnBlock * c.MaxT
	}
	c.scores = workerScratch(c.scores, tile, true)
	out := ensureTensor(&c.out, &c.shape, B, n, C)
	c.n = n
	if B*n*(c.T+n)*C < stepSerial {
		c.step(0, 0, B*a.H)
	} else {
		ParallelFor(B*a.H, c.step)
	}
	c.T += n
	y := ensureTensor(&c.y, &c.shape, B, n, C)
	a.CProj.Infer(y.Data, out.Data, B*n)
	return y
}

// ensureTensor sizes t to shape in place (its storage grows only).
func ensureTensor(t *Tensor, buf *[]int, shape ...int) *Tensor {
	n := numel(dims(buf, shape...))
	t.Data = Scratch(t.Data, n)
	t.Shape = append(t.Shape[:0], *buf...)
	return t
}

// stepHeads attends the new queries of (sequence, head) pairs [lo, hi)
// over the cached keys up to and including their own positions.
func (c *KVCache) stepHeads(worker, lo, hi int) {
	a := c.att
	n, C, hs := c.n, a.C, a.C/a.H
	sc := c.scores[worker]
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		kt, v := c.head(b, h)
		q := c.qkv.Data[b*n*3*C+h*hs:]
		o := c.out.Data[b*n*C+h*hs:]
		if n >= attnStepBlocked && arith == FastArithmetic {
			c.stepBlocked(q, o, kt, v, sc)
			continue
		}
		for i := range n {
			arith.Attend(o[i*C:][:hs], q[i*3*C:][:hs], kt, c.MaxT, v, hs, c.T+i+1, a.scale(), sc)
		}
	}
}

// stepBlocked is Forward's blocked attention for new queries q (row stride
// 3C) at positions c.T.. against the cached keys, into o (row stride C).
func (c *KVCache) stepBlocked(q, o, kt, v, tiles []float32) {
	a := c.att
	n, C, hs := c.n, a.C, a.C/a.H
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
