package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// KVCache holds the keys and values of the positions seen so far, for
// generating one position at a time without recomputing the past. Per
// sequence and head, keys are stored transposed (one row of MaxT per head
// dimension) and values as rows, so that a query's scores and its output
// are each one vector-matrix product over contiguous rows
// (Arithmetic.Attend).
//
// A cache also holds the scratch of the steps that use it, so steppers with
// caches of their own may run concurrently on the same layers, and the
// layer's projection weights packed for the GEMM when it is made, reset or
// resized: the weights must not change in between (see PackedLinear).
type KVCache struct {
	B, MaxT, C, H int
	T             int       // positions filled
	K             []float32 // [B, H, C/H, MaxT]: keys, transposed per head
	V             []float32 // [B, H, MaxT, C/H]

	att          *CausalSelfAttention // the layer it was made for
	cattn, cproj PackedLinear         // its projections' weights, packed at NewKVCache, Reset and Resize

	// ForwardStepKeyed's memory, per sequence and position [cap B, MaxT]:
	// the key its row was last projected with (-1: none) and its query
	// [cap B, MaxT, C]; the key and value are in K and V.
	memoKey     []int32
	memoQ       []float32
	xg, qkvg    []float32         // the rows projected afresh, gathered
	missing     []int32           // their rows
	scores      [][]float32       // per worker
	views       []kernels.PackedB // per worker: the values of a head, as the GEMM's operand
	qkv, out, y Tensor            // ForwardStep's [B, n, 3C], [B, n, C], [B, n, C]
	n           int               // new positions of the running step
	step        func(worker, lo, hi int)
	shape       []int
}

// NewKVCache returns an empty cache for batch sequences of up to maxT
// positions of attention a.
func (a *CausalSelfAttention) NewKVCache(batch, maxT int) *KVCache {
	c := &KVCache{B: batch, MaxT: maxT, C: a.C, H: a.H, att: a,
		K: make([]float32, batch*maxT*a.C), V: make([]float32, batch*maxT*a.C)}
	c.step = c.stepHeads
	c.pack()
	return c
}

// pack packs the layer's projection weights once for the steps until the
// next Reset or Resize, instead of at every step.
func (c *KVCache) pack() {
	c.cattn.Pack(c.att.CAttn)
	c.cproj.Pack(c.att.CProj)
	for i := range c.memoKey {
		c.memoKey[i] = -1
	}
}

// Reset empties the cache for a new batch of sequences.
func (c *KVCache) Reset() {
	c.T = 0
	c.pack()
}

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
	c.pack()
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

// attnStepBlock is how many new queries ForwardStep's blocked attention
// takes at a time: a multiple of the widest GEMM kernel's 14 rows, which
// kernels picks for it (for 64 rows it would take the 8-row kernel, whose
// fewer rows per load of the other operand ran the attention of a gibbs
// edit slower).
const attnStepBlock = 56

// attnStepRows is the rows of that kernel: how many queries of a block
// stepBlocked weighs values for at a time.
const attnStepRows = 14

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
	return a.forwardStep(x, nil, cache)
}

// ForwardStepKeyed is ForwardStep for inputs that come back. keys (B*n,
// one per row of x, each >= 0) name the rows' inputs among those their
// sequence positions can hold: equal keys at one position mean equal rows,
// as a token does for a Transformer's first layer. Where a row's key is
// the one its position was last computed with (by ForwardStepKeyed, since
// the cache was made, reset or resized), its query, key and value are
// taken from then instead of being projected again. A sampler that scores
// continuations of a prefix differing in one token (a gibbs edit) thus
// projects one new row per continuation. The result is ForwardStep's, bit
// for bit.
func (a *CausalSelfAttention) ForwardStepKeyed(x *Tensor, keys []int32, cache *KVCache) *Tensor {
	if len(x.Shape) == 3 && len(keys) != x.Shape[0]*x.Shape[1] {
		panic(fmt.Sprintf("nn: attention %s: ForwardStepKeyed with %d keys for input %v", a.CAttn.Weight.Name, len(keys), x.Shape))
	}
	return a.forwardStep(x, keys, cache)
}

func (a *CausalSelfAttention) forwardStep(x *Tensor, keys []int32, cache *KVCache) *Tensor {
	if len(x.Shape) != 3 || x.Shape[0] != cache.B || x.Shape[2] != a.C || cache.att != a {
		panic(fmt.Sprintf("nn: attention %s: ForwardStep input %v, want [%d, n, %d] and a cache of this layer", a.CAttn.Weight.Name, x.Shape, cache.B, a.C))
	}
	c := cache
	n := x.Shape[1]
	if c.T+n > c.MaxT {
		panic(fmt.Sprintf("nn: attention %s: KV cache holds %d positions, %d + %d requested", a.CAttn.Weight.Name, c.MaxT, c.T, n))
	}
	B, C := c.B, a.C
	qkv := ensureTensor(&c.qkv, &c.shape, B, n, 3*C)
	if keys == nil {
		c.cattn.Infer(qkv.Data, x.Data, B*n)
		for b := range B {
			c.storeRows(b, c.T, qkv.Data[b*n*3*C:][:n*3*C])
			if c.memoKey != nil {
				for t := range n {
					c.memoKey[b*c.MaxT+c.T+t] = -1
				}
			}
		}
	} else {
		c.projectKeyed(qkv.Data, x.Data, keys, n)
	}
	tile := c.MaxT
	if n >= attnStepBlocked && arith == FastArithmetic {
		tile = attnStepBlock * c.MaxT
	}
	c.scores = workerScratch(c.scores, tile, true)
	for len(c.views) < Workers() {
		c.views = append(c.views, kernels.PackedB{})
	}
	out := ensureTensor(&c.out, &c.shape, B, n, C)
	c.n = n
	if B*n*(c.T+n)*C < stepSerial {
		c.step(0, 0, B*a.H)
	} else {
		ParallelFor(B*a.H, c.step)
	}
	c.T += n
	y := ensureTensor(&c.y, &c.shape, B, n, C)
	c.cproj.Infer(y.Data, out.Data, B*n)
	return y
}

// storeRows puts the keys and values of rows (3C each: query, key, value)
// into sequence b's positions t0, t0+1, ...; the keys transposed in 16x16
// blocks (kernels.Transpose).
func (c *KVCache) storeRows(b, t0 int, rows []float32) {
	C, hs := c.C, c.C/c.H
	n := len(rows) / (3 * C)
	for h := range c.H {
		kt, v := c.head(b, h)
		if n == 1 { // a sampling step
			for d, kv := range rows[C+h*hs:][:hs] {
				kt[d*c.MaxT+t0] = kv
			}
		} else {
			kernels.Transpose(kt[t0:], c.MaxT, rows[C+h*hs:], 3*C, n, hs)
		}
		for i := range n {
			copy(v[(t0+i)*hs:][:hs], rows[i*3*C+2*C+h*hs:][:hs])
		}
	}
}

// projectKeyed fills qkv's query rows for ForwardStepKeyed: remembered
// rows from memory (their keys and values are in the cache already), the
// others projected together (each row's sums do not depend on which rows
// share the product) and remembered.
func (c *KVCache) projectKeyed(qkv, x []float32, keys []int32, n int) {
	C := c.C
	if c.memoKey == nil {
		seqs := cap(c.K) / (c.MaxT * C)
		c.memoKey = make([]int32, seqs*c.MaxT)
		for i := range c.memoKey {
			c.memoKey[i] = -1
		}
		c.memoQ = make([]float32, seqs*c.MaxT*C)
	}
	c.missing = c.missing[:0]
	for r, k := range keys {
		if k < 0 {
			panic(fmt.Sprintf("nn: attention %s: ForwardStepKeyed key %d < 0", c.att.CAttn.Weight.Name, k))
		}
		at := (r/n)*c.MaxT + c.T + r%n
		if c.memoKey[at] == k {
			copy(qkv[r*3*C:][:C], c.memoQ[at*C:][:C])
		} else {
			c.missing = append(c.missing, int32(r))
		}
	}
	m := len(c.missing)
	if m == 0 {
		return
	}
	c.xg = Scratch(c.xg, m*C)
	c.qkvg = Scratch(c.qkvg, m*3*C)
	for j, r := range c.missing {
		copy(c.xg[j*C:][:C], x[int(r)*C:][:C])
	}
	c.cattn.Infer(c.qkvg, c.xg, m)
	for j, r := range c.missing {
		b, t := int(r)/n, c.T+int(r)%n
		row := c.qkvg[j*3*C:][:3*C]
		copy(qkv[int(r)*3*C:][:3*C], row)
		c.storeRows(b, t, row)
		at := b*c.MaxT + t
		c.memoKey[at] = keys[r]
		copy(c.memoQ[at*C:][:C], row[:C])
	}
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
			c.stepBlocked(q, o, kt, v, sc, &c.views[worker])
			continue
		}
		for i := range n {
			arith.Attend(o[i*C:][:hs], q[i*3*C:][:hs], kt, c.MaxT, v, hs, c.T+i+1, a.scale(), sc)
		}
	}
}

// stepBlocked is Forward's blocked attention for new queries q (row stride
// 3C) at positions c.T.. against the cached keys, into o (row stride C).
//
// Where a head's values already are the GEMM's packed operand (one panel
// wide: kernels.PackedB.RowsView), the weighted sums of values take the
// block's queries attnStepRows at a time, each group over the keys its
// last query sees: the products skip packing the values, and the zero
// weights of the keys after a query's own position that a whole block
// would multiply. The sums run over the keys in the same order either way,
// and the skipped terms are zeros at the end, so the bits are the same.
func (c *KVCache) stepBlocked(q, o, kt, v, tiles []float32, view *kernels.PackedB) {
	a := c.att
	n, C, hs := c.n, a.C, a.C/a.H
	for i0 := 0; i0 < n; i0 += attnStepBlock {
		i1 := min(i0+attnStepBlock, n)
		keys := c.T + i1 // the last query of the block sees them all
		p := tiles[:(i1-i0)*keys]
		Sgemm(false, false, i1-i0, keys, hs, a.scale(), q[i0*3*C:], 3*C, kt, c.MaxT, 0, p, keys)
		for i := i0; i < i1; i++ {
			row := p[(i-i0)*keys:][:keys]
			softmaxRow(row[:c.T+i+1])
			clear(row[c.T+i+1:])
		}
		if !blasDefault || !view.RowsView(keys, hs, v, hs) {
			Sgemm(false, false, i1-i0, hs, keys, 1, p, keys, v, hs, 0, o[i0*C:], C)
			continue
		}
		for s0 := i0; s0 < i1; s0 += attnStepRows {
			s1 := min(s0+attnStepRows, i1)
			view.RowsView(c.T+s1, hs, v, hs)
			kernels.SgemmPackedB(false, s1-s0, 1, p[(s0-i0)*keys:], keys, view, 0, o[s0*C:], C)
		}
	}
}
