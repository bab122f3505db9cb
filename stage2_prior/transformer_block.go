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
	addInto(b.d1.Data, dy.Data, g.Data)
	g = b.ln1.Backward(b.attn.Backward(b.d1))
	addInto(g.Data, b.d1.Data, g.Data) // ln_1's gradient buffer becomes dL/dx
	return g
}

// step runs x [n, l, D] (l new positions of n sequences, after those in
// cache) through the block in place, in the inference numerics: the same
// layers and order of operations as forward.
func (b *tblock) step(x *nn.Tensor, cache *nn.KVCache, buf *stepBuffers) {
	rows := x.Len() / b.ln1.D
	h, f := buf.h.Data[:x.Len()], buf.f.Data[:rows*b.fc.Out]
	b.ln1.Infer(h, x.Data, rows)
	addInto(x.Data, x.Data, b.attn.ForwardStep(buf.view(x.Shape), cache).Data)
	b.ln2.Infer(h, x.Data, rows)
	b.fc.Infer(f, h, rows)
	nn.GELUInfer(f, f)
	b.proj.Infer(h, f, rows)
	addInto(x.Data, x.Data, h)
}

// stepBuffers is a stepper's scratch for step: the normalised rows, the
// MLP's hidden rows, and a tensor header viewing h with x's shape.
type stepBuffers struct {
	h, f nn.Tensor
	hv   nn.Tensor
}

func (s *stepBuffers) view(shape []int) *nn.Tensor {
	s.hv.Shape = append(s.hv.Shape[:0], shape...)
	n := 1
	for _, d := range shape {
		n *= d
	}
	s.hv.Data = s.h.Data[:n]
	return &s.hv
}

func addInto(dst, a, b []float32) {
	b = b[:len(dst)]
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}
