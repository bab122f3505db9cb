package nn

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/kernels"
)

// CausalSelfAttention is nanoGPT's multi-head causal self-attention:
// x [B, T, C] -> CAttn (C -> 3C, q|k|v) -> per head softmax(q k^T/sqrt(hs)
// + causal mask) v -> CProj (C -> C).
//
// Training computes each head in blocks of attnBlock query rows, the way
// flash attention does: a block's scores against the keys it may see are
// one GEMM into a tile of attnBlock x T, softmaxed in place and multiplied
// into v by a second GEMM. No T x T matrix per head is kept: Forward stores
// each row's softmax maximum and normaliser, and Backward recomputes the
// block's probabilities from them, bit for bit, before it forms dP, dS and
// the three gradients with four more GEMMs per block.
type CausalSelfAttention struct {
	C, H         int
	CAttn, CProj *Linear

	b, t  int
	qkv   *Tensor     // CAttn output [B, T, 3C]
	out   *Tensor     // heads merged [B, T, C]
	stat  []float32   // per (batch, head, row): softmax max and 1/sum
	dqkv  *Tensor     // [B, T, 3C]
	dout  *Tensor     // [B, T, C]
	tiles [][]float32 // per worker: two attnBlock x T tiles
	fwd   func(worker, lo, hi int)
	bwd   func(worker, lo, hi int)
	shape []int
}

// attnBlock is the number of query rows a head's tile holds: with T = 1024
// keys a tile is 256 KB, and two of them stay in L2.
const attnBlock = 64

// NewCausalSelfAttention returns attention over c channels with h heads;
// params are named name+".c_attn.*" and name+".c_proj.*".
func NewCausalSelfAttention(name string, c, h int, rng *RNG) *CausalSelfAttention {
	if c <= 0 || h <= 0 || c%h != 0 {
		panic(fmt.Sprintf("nn: NewCausalSelfAttention %s: %d channels do not split into %d heads", name, c, h))
	}
	a := &CausalSelfAttention{C: c, H: h,
		CAttn: NewLinear(name+".c_attn", c, 3*c, true, rng),
		CProj: NewLinear(name+".c_proj", c, c, true, rng)}
	a.fwd, a.bwd = a.forwardHeads, a.backwardHeads
	return a
}

// Params returns c_attn's then c_proj's parameters.
func (a *CausalSelfAttention) Params() []*Param {
	return append(a.CAttn.Params(), a.CProj.Params()...)
}

func (a *CausalSelfAttention) scale() float32 { return float32(1 / math.Sqrt(float64(a.C/a.H))) }

// Forward returns attn(x); Backward needs x unchanged until then.
func (a *CausalSelfAttention) Forward(x *Tensor) *Tensor { return a.ForwardAdd(x, nil) }

// ForwardAdd returns res + attn(x) (res nil: attn(x)), the residual join
// done by the output projection. The gradient with respect to res is the
// output gradient itself, which the caller routes.
func (a *CausalSelfAttention) ForwardAdd(x, res *Tensor) *Tensor {
	if len(x.Shape) != 3 || x.Shape[2] != a.C {
		panic(fmt.Sprintf("nn: attention %s: input %v, want [B, T, %d]", a.CAttn.Weight.Name, x.Shape, a.C))
	}
	a.b, a.t = x.Shape[0], x.Shape[1]
	a.qkv = a.CAttn.Forward(x)
	a.out = Ensure(a.out, dims(&a.shape, a.b, a.t, a.C)...)
	a.stat = Scratch(a.stat, 2*a.b*a.H*a.t)
	a.tiles = workerScratch(a.tiles, 2*attnBlock*a.t, true)
	ParallelFor(a.b*a.H, a.fwd)
	if res == nil {
		return a.CProj.Forward(a.out)
	}
	return a.CProj.ForwardAdd(a.out, res)
}

// forwardHeads handles (batch, head) pairs [lo, hi), block by block: S =
// q k^T * scale against keys [0, i1) as one GEMM, the causal softmax of
// each row in place, then out = P v.
func (a *CausalSelfAttention) forwardHeads(worker, lo, hi int) {
	T, C, hs := a.t, a.C, a.C/a.H
	tile := a.tiles[worker]
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		qkv := a.qkv.Data[b*T*3*C:]
		q, k, v := qkv[h*hs:], qkv[C+h*hs:], qkv[2*C+h*hs:]
		out := a.out.Data[b*T*C+h*hs:]
		stat := a.stat[2*bh*T:]
		for i0 := 0; i0 < T; i0 += attnBlock {
			i1 := min(i0+attnBlock, T)
			p := tile[:(i1-i0)*i1]
			Sgemm(false, true, i1-i0, i1, hs, a.scale(), q[i0*3*C:], 3*C, k, 3*C, 0, p, i1)
			for i := i0; i < i1; i++ {
				row := p[(i-i0)*i1:][:i1]
				stat[2*i], stat[2*i+1] = softmaxRow(row[:i+1])
				clear(row[i+1:])
			}
			Sgemm(false, false, i1-i0, hs, i1, 1, p, i1, v, 3*C, 0, out[i0*C:], C)
		}
	}
}

// softmaxRow turns s into softmax(s) (kernels.SoftmaxRow) and returns the
// maximum and normaliser from which softmaxAgain recomputes the same bits.
func softmaxRow(s []float32) (m, inv float32) { return kernels.SoftmaxRow(s) }

func softmaxAgain(s []float32, m, inv float32) { kernels.SoftmaxAgain(s, m, inv) }

// Backward: with dP = dout v^T, the softmax gives
// dS_ij = P_ij (dP_ij - sum_l P_il dP_il); then dq = scale dS k,
// dk = scale dS^T q, dv = P^T dout, dk and dv summed over the blocks.
func (a *CausalSelfAttention) Backward(dy *Tensor) *Tensor {
	if a.qkv == nil || dy.Len() != a.b*a.t*a.C {
		panic(fmt.Sprintf("nn: attention %s: Backward got %v, want the Forward shape", a.CAttn.Weight.Name, dy.Shape))
	}
	a.dout = a.CProj.Backward(dy)
	a.dqkv = Ensure(a.dqkv, dims(&a.shape, a.b, a.t, 3*a.C)...)
	a.tiles = workerScratch(a.tiles, 2*attnBlock*a.t, true)
	ParallelFor(a.b*a.H, a.bwd)
	return a.CAttn.Backward(a.dqkv)
}

func (a *CausalSelfAttention) backwardHeads(worker, lo, hi int) {
	T, C, hs := a.t, a.C, a.C/a.H
	sc := a.scale()
	tile := a.tiles[worker]
	for bh := lo; bh < hi; bh++ {
		b, h := bh/a.H, bh%a.H
		qkv := a.qkv.Data[b*T*3*C:]
		q, k, v := qkv[h*hs:], qkv[C+h*hs:], qkv[2*C+h*hs:]
		dqkv := a.dqkv.Data[b*T*3*C:]
		dq, dk, dv := dqkv[h*hs:], dqkv[C+h*hs:], dqkv[2*C+h*hs:]
		dout := a.dout.Data[b*T*C+h*hs:]
		stat := a.stat[2*bh*T:]
		for t := range T {
			clear(dk[t*3*C:][:hs])
			clear(dv[t*3*C:][:hs])
		}
		for i0 := 0; i0 < T; i0 += attnBlock {
			i1 := min(i0+attnBlock, T)
			br := i1 - i0
			p, dp := tile[:br*i1], tile[attnBlock*T:][:br*i1]
			Sgemm(false, true, br, i1, hs, sc, q[i0*3*C:], 3*C, k, 3*C, 0, p, i1)
			for i := i0; i < i1; i++ {
				row := p[(i-i0)*i1:][:i1]
				softmaxAgain(row[:i+1], stat[2*i], stat[2*i+1])
				clear(row[i+1:])
			}
			Sgemm(false, true, br, i1, hs, 1, dout[i0*C:], C, v, 3*C, 0, dp, i1)
			Sgemm(true, false, i1, hs, br, 1, p, i1, dout[i0*C:], C, 1, dv, 3*C)
			for i := i0; i < i1; i++ {
				dr := dp[(i-i0)*i1:][:i1]
				kernels.SoftmaxGrad(p[(i-i0)*i1:][:i+1], dr[:i+1])
				clear(dr[i+1:])
			}
			Sgemm(false, false, br, hs, i1, sc, dp, i1, k, 3*C, 0, dq[i0*3*C:], 3*C)
			Sgemm(true, false, i1, hs, br, sc, dp, i1, q[i0*3*C:], 3*C, 1, dk, 3*C)
		}
	}
}
