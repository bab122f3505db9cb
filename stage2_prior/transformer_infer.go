package prior

import (
	"fmt"

	"github.com/vqgen/vqgen/nn"
)

// inferOps is the arithmetic an inference pass runs the model's layers
// in. A block's step and the stepper's embedding, final LayerNorm and head
// are written once against it, so sampling, editing, scoring and prior
// coding run one definition of the model: fastOps runs the layers' own
// inference paths (the fastest kernels of this machine), detOps runs nn's
// Det* layers, whose every value is the same bits on every machine, kernel
// path, batch size and GOMAXPROCS (nn.NumericsDeterministic). Each stepper
// has its own ops, which hold its key/value caches and scratch.
type inferOps interface {
	norm(ln *nn.LayerNorm, y, x []float32, rows int)
	linear(l *nn.Linear, y, x []float32, rows int)     // y = x W^T + b
	linearGELU(l *nn.Linear, y, x []float32, rows int) // y = GELU(x W^T + b), an MLP's first layer
	linearAdd(l *nn.Linear, y, x []float32, rows int)  // y += x W^T + b, a residual join
	// attendAdd adds layer li's attention over h [n, l, D], l new
	// positions after those in its cache, to x [n, l, D], and caches the
	// positions' keys and values. keys, when not nil, name h's rows as
	// nn's ForwardStepKeyed takes them (ops may ignore them).
	attendAdd(li int, x, h []float32, n, l int, keys []int32)
	resize(n int)     // empty caches for n sequences
	truncate(pos int) // forget positions pos and after
}

// fastOps runs the layers' Infer paths against nn.KVCache, with the MLPs'
// and the head's weights packed at Reset (as the caches pack the
// attention's).
type fastOps struct {
	m      *Transformer
	caches []*nn.KVCache
	packed map[*nn.Linear]*nn.PackedLinear
	hv     nn.Tensor // h viewed as [n, l, D]
	shape  []int
	tmp    []float32 // a residual branch's output before it joins
}

func (m *Transformer) newFastOps(n int) *fastOps {
	o := &fastOps{m: m, packed: map[*nn.Linear]*nn.PackedLinear{m.head: new(nn.PackedLinear)}}
	for _, b := range m.blocks {
		o.caches = append(o.caches, b.attn.NewKVCache(n, m.t))
		o.packed[b.fc] = new(nn.PackedLinear)
		o.packed[b.proj] = new(nn.PackedLinear)
	}
	o.pack()
	return o
}

func (o *fastOps) pack() {
	for l, p := range o.packed {
		p.Pack(l)
	}
}

func (o *fastOps) norm(ln *nn.LayerNorm, y, x []float32, rows int) { ln.Infer(y, x, rows) }
func (o *fastOps) linear(l *nn.Linear, y, x []float32, rows int)   { o.packed[l].Infer(y, x, rows) }
func (o *fastOps) linearGELU(l *nn.Linear, y, x []float32, rows int) {
	o.packed[l].InferGELU(y, x, rows)
}

func (o *fastOps) linearAdd(l *nn.Linear, y, x []float32, rows int) {
	o.tmp = nn.Scratch(o.tmp, rows*l.Out)
	o.packed[l].InferAdd(y, o.tmp, x, rows)
}

func (o *fastOps) attendAdd(li int, x, h []float32, n, l int, keys []int32) {
	d := o.m.cfg.Dim
	view(&o.hv, h[:n*l*d], dims(&o.shape, n, l, d))
	var y *nn.Tensor
	if keys != nil {
		y = o.m.blocks[li].attn.ForwardStepKeyed(&o.hv, keys, o.caches[li])
	} else {
		y = o.m.blocks[li].attn.ForwardStep(&o.hv, o.caches[li])
	}
	nn.AddInto(x[:n*l*d], x, y.Data)
}

func (o *fastOps) resize(n int) {
	for _, c := range o.caches {
		c.Resize(n)
	}
	o.pack()
}

func (o *fastOps) truncate(pos int) {
	for _, c := range o.caches {
		c.Truncate(pos)
	}
}

// Frozen is a Transformer prior's inference on a copy of its weights in
// fixed numerics: its steppers' logits do not change when the model it
// was made from trains on. Under nn.NumericsDeterministic they are the
// same bits on every machine vqgen runs on, which prior coding needs (the
// decoder must rebuild the encoder's probabilities exactly); a span of
// whole grids and one position at a time give the same bits too.
type Frozen struct {
	m   *Transformer // the copy
	num nn.Numerics
	lin map[*nn.Linear]*nn.DetLinear
	att []*nn.DetAttention
}

// Freeze copies m's weights into a Frozen inference in numerics num.
func (m *Transformer) Freeze(num nn.Numerics) (*Frozen, error) {
	c, err := NewTransformer(m.cfg, m.info, nn.NewRNG(0))
	if err != nil {
		return nil, err
	}
	for i, p := range m.params {
		copy(c.params[i].Data.Data, p.Data.Data)
	}
	f := &Frozen{m: c, num: num}
	switch num {
	case nn.NumericsFast:
	case nn.NumericsDeterministic:
		f.lin = map[*nn.Linear]*nn.DetLinear{c.head: nn.NewDetLinear(c.head)}
		for _, b := range c.blocks {
			f.lin[b.fc] = nn.NewDetLinear(b.fc)
			f.lin[b.proj] = nn.NewDetLinear(b.proj)
			f.att = append(f.att, nn.NewDetAttention(b.attn))
		}
	default:
		return nil, fmt.Errorf("prior: no numerics %v", num)
	}
	return f, nil
}

// Model returns the frozen copy: its Info, Config and Params, which must
// not be changed.
func (f *Frozen) Model() *Transformer { return f.m }

// Numerics returns the arithmetic the steppers run in.
func (f *Frozen) Numerics() nn.Numerics { return f.num }

// NewStepper returns a key/value-cached stepper for up to n grids; see
// Transformer.NewStepper. Steppers of one Frozen may run concurrently.
func (f *Frozen) NewStepper(n int) SpanStepper {
	if f.num == nn.NumericsFast {
		return f.m.NewStepper(n).(SpanStepper)
	}
	if n < 1 {
		panic(fmt.Sprintf("prior: Frozen.NewStepper(%d): need at least 1 grid", n))
	}
	o := &detOps{f: f}
	for _, a := range f.att {
		o.caches = append(o.caches, a.NewKVCache(n, f.m.t))
	}
	return f.m.newCachedStepper(n, o)
}

// detOps runs nn's Det* layers (copies made by Freeze) against
// nn.DetKVCache; LayerNorm and GELU read the frozen model's own layers.
type detOps struct {
	f      *Frozen
	caches []*nn.DetKVCache
}

func (o *detOps) norm(ln *nn.LayerNorm, y, x []float32, rows int) {
	nn.DetLayerNormRows(y, x, ln, rows)
}
func (o *detOps) linear(l *nn.Linear, y, x []float32, rows int) { o.f.lin[l].Forward(y, x, rows) }

func (o *detOps) linearGELU(l *nn.Linear, y, x []float32, rows int) {
	o.f.lin[l].Forward(y, x, rows)
	nn.DetGELU(y[:rows*l.Out])
}

func (o *detOps) linearAdd(l *nn.Linear, y, x []float32, rows int) {
	o.f.lin[l].ForwardAdd(y, x, rows)
}

func (o *detOps) attendAdd(li int, x, h []float32, n, l int, _ []int32) {
	o.f.att[li].SpanAdd(x, h, l, o.caches[li])
}

func (o *detOps) resize(n int) {
	for _, c := range o.caches {
		c.Reset(n)
	}
}

func (o *detOps) truncate(pos int) {
	for _, c := range o.caches {
		c.Truncate(pos)
	}
}
