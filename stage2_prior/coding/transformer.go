package coding

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// detTransformer is a Transformer prior's inference under deterministic
// numerics (nn.NumericsDeterministic): the same model as
// prior.Transformer's cached stepper (embeddings, pre-LayerNorm blocks of
// attention and a GELU MLP, final LayerNorm, head), with every arithmetic
// step in nn's Det* layers. It is built from the model's parameters by
// their checkpoint names, so it depends only on the checkpoint format, and
// it copies them: the coder's probabilities cannot change under it. It is
// safe for concurrent use by separate steppers.
type detTransformer struct {
	info   prior.Info
	cfg    configs.Transformer
	wte    []float32 // [K + start tokens, D]
	wpeRow []float32 // [H, D]
	wpeCol []float32 // [W, D]
	wcls   []float32 // [Classes+1, D]; nil for an unconditional prior
	blocks []detBlock
	lnF    *nn.LayerNorm
	head   *nn.DetLinear
	fp     [32]byte
}

type detBlock struct {
	ln1, ln2 *nn.LayerNorm
	attn     *nn.DetAttention
	fc, proj *nn.DetLinear
}

// lnEps is nn.NewLayerNorm's epsilon, which every LayerNorm of the
// Transformer prior uses; it is part of the numerics.
const lnEps = 1e-5

// newDetTransformer builds the deterministic inference of m.
func newDetTransformer(m *prior.Transformer) (*detTransformer, error) {
	info, cfg := m.Info(), m.Config()
	params := map[string]*nn.Param{}
	for _, p := range m.Params() {
		params[p.Name] = p
	}
	d := cfg.Dim
	get := func(name string, shape ...int) (*nn.Param, error) {
		p, ok := params[name]
		if !ok {
			return nil, fmt.Errorf("transformer prior: no parameter %q", name)
		}
		n := 1
		for _, s := range shape {
			n *= s
		}
		if len(p.Data.Data) != n {
			return nil, fmt.Errorf("transformer prior: parameter %q has %d values, want %v", name, len(p.Data.Data), shape)
		}
		return p, nil
	}
	var err error
	must := func(name string, shape ...int) *nn.Param {
		p, e := get(name, shape...)
		if e != nil && err == nil {
			err = e
		}
		return p
	}
	copyOf := func(p *nn.Param) []float32 {
		if p == nil {
			return nil
		}
		return append([]float32(nil), p.Data.Data...)
	}
	linear := func(name string, in, out int, bias bool) *nn.DetLinear {
		l := &nn.Linear{In: in, Out: out, Weight: must(name+".weight", out, in)}
		if bias {
			l.Bias = must(name+".bias", out)
		}
		if err != nil {
			return nil
		}
		return nn.NewDetLinear(l)
	}
	norm := func(name string) *nn.LayerNorm {
		w, b := must(name+".weight", d), must(name+".bias", d)
		if err != nil {
			return nil
		}
		return &nn.LayerNorm{D: d, Eps: lnEps, Weight: &nn.Param{Name: w.Name, Data: &nn.Tensor{Data: copyOf(w), Shape: []int{d}}},
			Bias: &nn.Param{Name: b.Name, Data: &nn.Tensor{Data: copyOf(b), Shape: []int{d}}}}
	}
	starts := 1
	if info.Classes > 0 {
		starts = info.Classes + 1
	}
	t := &detTransformer{info: info, cfg: cfg,
		wte:    copyOf(must("transformer.wte.weight", info.K+starts, d)),
		wpeRow: copyOf(must("transformer.wpe_row.weight", info.H, d)),
		wpeCol: copyOf(must("transformer.wpe_col.weight", info.W, d)),
	}
	if info.Classes > 0 {
		t.wcls = copyOf(must("transformer.wcls.weight", info.Classes+1, d))
	}
	md := cfg.MLPMult * d
	for i := range cfg.Layers {
		name := fmt.Sprintf("transformer.h.%d", i)
		b := detBlock{ln1: norm(name + ".ln_1"), ln2: norm(name + ".ln_2"),
			fc: linear(name+".mlp.c_fc", d, md, true), proj: linear(name+".mlp.c_proj", md, d, true)}
		cattn := &nn.Linear{In: d, Out: 3 * d, Weight: must(name+".attn.c_attn.weight", 3*d, d), Bias: must(name+".attn.c_attn.bias", 3*d)}
		cproj := linear(name+".attn.c_proj", d, d, true)
		if err != nil {
			return nil, err
		}
		b.attn = nn.NewDetAttentionFrom(d, cfg.Heads, cattn, cproj)
		t.blocks = append(t.blocks, b)
	}
	t.lnF = norm("transformer.ln_f")
	t.head = linear("lm_head", d, info.K, false)
	if err != nil {
		return nil, err
	}
	t.fp = fingerprint(m)
	return t, nil
}

// fingerprint is the SHA-256 of what the probabilities depend on: the
// architecture and every parameter's name, shape and bits, in Params order.
func fingerprint(m *prior.Transformer) [32]byte {
	info, cfg := m.Info(), m.Config()
	h := sha256.New()
	fmt.Fprintf(h, "vqgen prior\narch=%s k=%d grid=%dx%d classes=%d layers=%d dim=%d heads=%d mlp_mult=%d\n",
		info.Arch, info.K, info.H, info.W, info.Classes, cfg.Layers, cfg.Dim, cfg.Heads, cfg.MLPMult)
	var b []byte
	for _, p := range m.Params() {
		fmt.Fprintf(h, "%s %v\n", p.Name, p.Data.Shape)
		b = b[:0]
		for _, v := range p.Data.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		h.Write(b)
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}

// embed sets x [D] to the input of position pos of a grid whose token
// there is tok (the start token, or the code before pos) and whose class
// is cls: wte[tok] + wpe_row[row] + wpe_col[col] (+ wcls[cls]), added in
// that order.
func (m *detTransformer) embed(x []float32, tok int32, pos int, cls int32) {
	d, w := m.cfg.Dim, m.info.W
	e := m.wte[int(tok)*d:][:d]
	row := m.wpeRow[(pos/w)*d:][:d]
	col := m.wpeCol[(pos%w)*d:][:d]
	if m.wcls == nil {
		for i := range x {
			x[i] = e[i] + row[i] + col[i]
		}
		return
	}
	c := m.wcls[int(cls)*d:][:d]
	for i := range x {
		x[i] = e[i] + row[i] + col[i] + c[i]
	}
}

// startToken is the wte row of position 0 of a grid of class cls.
func (m *detTransformer) startToken(cls int32) int32 {
	if m.wcls == nil {
		return int32(m.info.K)
	}
	return int32(m.info.K) + cls
}

// detStepper runs one position of n grids per call, all grids in
// lockstep, against per-layer key/value caches.
type detStepper struct {
	m       *detTransformer
	max, n  int
	pos     int
	classes []int32 // start-token class per grid (the null class where none)
	caches  []*nn.DetKVCache
	x, h, f []float32 // residual [n, D], normed [n, D], MLP hidden [n, MD]
	logits  []float32 // [n, K]
}

func (m *detTransformer) newStepper(n int) *detStepper {
	d := m.cfg.Dim
	s := &detStepper{m: m, max: n, pos: -1,
		x: make([]float32, n*d), h: make([]float32, n*d), f: make([]float32, n*m.cfg.MLPMult*d),
		logits: make([]float32, n*m.info.K), classes: make([]int32, n)}
	for _, b := range m.blocks {
		s.caches = append(s.caches, b.attn.NewKVCache(n, m.info.Positions()))
	}
	return s
}

// reset starts n grids; classes (one per grid) selects a conditional
// prior's start token and class vector, and is ignored by an
// unconditional one.
func (s *detStepper) reset(n int, classes []int32) {
	if n < 1 || n > s.max {
		panic(fmt.Sprintf("coding: stepper reset(%d): made for 1..%d grids", n, s.max))
	}
	s.n, s.pos = n, 0
	copy(s.classes, classes[:n])
	for _, c := range s.caches {
		c.Reset(n)
	}
}

// next returns the logits [n, K] of position pos = 0, 1, ... given
// prev[i], grid i's code at pos-1 (ignored at pos 0).
func (s *detStepper) next(prev []int32) []float32 {
	m := s.m
	d, n, k := m.cfg.Dim, s.n, m.info.K
	pos := s.pos
	for b := range n {
		tok := m.startToken(s.classes[b])
		if pos > 0 {
			tok = prev[b]
		}
		m.embed(s.x[b*d:(b+1)*d], tok, pos, s.classes[b])
	}
	x, h, f := s.x[:n*d], s.h[:n*d], s.f[:n*m.cfg.MLPMult*d]
	for li, blk := range m.blocks {
		nn.DetLayerNormRows(h, x, blk.ln1, n)
		blk.attn.StepAdd(x, h, s.caches[li])
		nn.DetLayerNormRows(h, x, blk.ln2, n)
		blk.fc.Forward(f, h, n)
		nn.DetGELU(f)
		blk.proj.ForwardAdd(x, f, n)
	}
	nn.DetLayerNormRows(h, x, m.lnF, n)
	m.head.Forward(s.logits[:n*k], h, n)
	s.pos++
	return s.logits[:n*k]
}

// detPass runs the model over whole grids at once (teacher forcing), up
// to max grids a call. Every row is computed by the same kernels on the
// same values as detStepper computes that position, so its logits are the
// stepper's bit for bit; it is the encoder's path, where all codes are
// known and each grid's keys and values stay in cache.
type detPass struct {
	m       *detTransformer
	max     int
	x, h, f []float32 // [rows, D], [rows, D], [rows, MD]
	logits  []float32 // [rows, K]
	attn    nn.DetAttnBuffers
}

func (m *detTransformer) newPass(max int) *detPass {
	rows, d := max*m.info.Positions(), m.cfg.Dim
	return &detPass{m: m, max: max, x: make([]float32, rows*d), h: make([]float32, rows*d),
		f: make([]float32, rows*m.cfg.MLPMult*d), logits: make([]float32, rows*m.info.K)}
}

// run returns the logits [n*T, K] of n grids (codes: n grids back to back;
// classes: each grid's conditioning class, ignored by an unconditional
// prior); row i*T+p is position p of grid i.
func (s *detPass) run(codes []uint16, classes []int32, n int) []float32 {
	m := s.m
	d, k, t := m.cfg.Dim, m.info.K, m.info.Positions()
	if n < 1 || n > s.max {
		panic(fmt.Sprintf("coding: pass over %d grids: made for 1..%d", n, s.max))
	}
	rows := n * t
	for b := range n {
		for pos := range t {
			tok := m.startToken(classes[b])
			if pos > 0 {
				tok = int32(codes[b*t+pos-1])
			}
			m.embed(s.x[(b*t+pos)*d:(b*t+pos+1)*d], tok, pos, classes[b])
		}
	}
	x, h, f := s.x[:rows*d], s.h[:rows*d], s.f[:rows*m.cfg.MLPMult*d]
	for _, blk := range m.blocks {
		nn.DetLayerNormRows(h, x, blk.ln1, rows)
		blk.attn.ForwardAdd(x, h, n, t, &s.attn)
		nn.DetLayerNormRows(h, x, blk.ln2, rows)
		blk.fc.Forward(f, h, rows)
		nn.DetGELU(f)
		blk.proj.ForwardAdd(x, f, rows)
	}
	nn.DetLayerNormRows(h, x, m.lnF, rows)
	m.head.Forward(s.logits[:rows*k], h, rows)
	return s.logits[:rows*k]
}
