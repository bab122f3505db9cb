package prior

import "github.com/vqgen/vqgen/nn"

// tblock is one pre-LayerNorm Transformer block,
//
//	r1 = x + attn(ln_1(x)),   r2 = r1 + c_proj(GELU(c_fc(ln_2(r1)))),
//
// with its training pass (forward, backward) and its inference pass (step)
// side by side: both go through the same layers, the residual joins fused
// into the output projections when training.
type tblock struct {
	ln1  *nn.LayerNorm
	attn *nn.CausalSelfAttention
	ln2  *nn.LayerNorm
	fc   *nn.Linear // c_fc, applied with the GELU
	proj *nn.Linear // c_proj
	d1   *nn.Tensor // dL/dr1
}

func newBlock(name string, d, heads, mlp int, rng *nn.RNG) *tblock {
	return &tblock{
		ln1:  nn.NewLayerNorm(name+".ln_1", d),
		attn: nn.NewCausalSelfAttention(name+".attn", d, heads, rng),
		ln2:  nn.NewLayerNorm(name+".ln_2", d),
		fc:   nn.NewLinear(name+".mlp.c_fc", d, mlp*d, true, rng),
		proj: nn.NewLinear(name+".mlp.c_proj", mlp*d, d, true, rng),
	}
}

func (b *tblock) params() []*nn.Param {
	var ps []*nn.Param
	ps = append(ps, b.ln1.Params()...)
	ps = append(ps, b.attn.Params()...)
	ps = append(ps, b.ln2.Params()...)
	ps = append(ps, b.fc.Params()...)
	return append(ps, b.proj.Params()...)
}

// forward returns r2 for x [n, l, D]; the layers keep what backward needs.
func (b *tblock) forward(x *nn.Tensor) *nn.Tensor {
	r1 := b.attn.ForwardAdd(b.ln1.Forward(x), x)
	return b.proj.ForwardAdd(b.fc.ForwardGELU(b.ln2.Forward(r1)), r1)
}

// backward takes dL/dr2 and returns dL/dx; each residual join adds the
// gradient that skips the branch to the one through it.
func (b *tblock) backward(dy *nn.Tensor) *nn.Tensor {
	g := b.ln2.Backward(b.fc.Backward(b.proj.Backward(dy)))
	b.d1 = nn.Ensure(b.d1, dy.Shape...)
	nn.AddInto(b.d1.Data, dy.Data, g.Data)
	g = b.ln1.Backward(b.attn.Backward(b.d1))
	nn.AddInto(g.Data, b.d1.Data, g.Data) // ln_1's gradient buffer becomes dL/dx
	return g
}

// step runs x [n, l, D] (l new positions of n sequences, after those in
// the caches) through the block in place, in the numerics of ops: the same
// layers and order of operations as forward. h [n*l, D] and f [n*l, MD]
// are scratch.
func (b *tblock) step(li int, x, h, f []float32, n, l int, ops inferOps, keys []int32) {
	rows := n * l
	ops.norm(b.ln1, h, x, rows)
	ops.attendAdd(li, x, h, n, l, keys)
	ops.norm(b.ln2, h, x, rows)
	ops.linearGELU(b.fc, f, h, rows)
	ops.linearAdd(b.proj, x, f, rows)
}
