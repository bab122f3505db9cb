// The causal Transformer prior: a decoder-only Transformer in the style of
// GPT-2/nanoGPT over the raster-ordered code grid.
//
// # Model
//
// A grid of T = H*W codes x_0 .. x_{T-1} is read as a sequence. The input at
// position t is a token s_t with
//
//	s_0 = start token,  s_t = x_{t-1} for t >= 1,
//
// so the sequence is shifted right by one. One embedding table wte holds
// the codes in rows 0..K-1 and the start tokens after them: row K is the
// start token of an unconditional prior (K+1 rows in all), and a prior with
// C classes has C+1 start tokens, row K+c for class c in 0..C, where class
// C is the null class, "no class given" (K+C+1 rows). Training replaces a
// grid's class by the null class at random (prior.train.class_dropout), so
// one model learns both p(x | y) and p(x); the sampler's classifier-free
// guidance contrasts the two. The embedding of position t = r*W + c
// adds a learned row and a learned column vector and, in a conditional
// prior, the class vector wcls[y] of the grid's class y:
//
//	h_t = wte[s_t] + wpe_row[r] + wpe_col[c] (+ wcls[y]),
//
// The row and column vectors tell the model the 2-D location with H + W
// vectors instead of H*W. The class vector goes into every position, not
// only the start token, because a class seen once at position 0 has to be
// fetched back by attention at every later position and fades under 49
// positions of codes: with the start token alone, 6% of the default run's
// class-conditional samples were judged as another class. Each of the L blocks is pre-LayerNorm,
//
//	h = h + attn(ln_1(h)),   h = h + mlp(ln_2(h)),   mlp(u) = c_proj(GELU(c_fc(u))),
//
// with causal multi-head self-attention (nn.CausalSelfAttention) and an MLP
// of width MLPMult*Dim; a final LayerNorm ln_f and a bias-free head
// lm_head: Dim -> K give the logits of p(x_t | x_<t, y) at row t.
//
// # Why it is causal
//
// LayerNorm, the MLP and the head act on each position alone; attention at
// position t mixes positions 0..t only (the mask). So the output at t is a
// function of the tokens s_0..s_t, which are the start/class token and the
// codes x_0..x_{t-1}: never x_t or anything after it. The dependency-set
// test (perturb each code, record which logits move) checks exactly this.
//
// # Sampling
//
// Because position t only looks back, generating position t needs the keys
// and values of positions < t in every block and nothing else. The stepper
// from NewStepper keeps them in a key/value cache (nn.KVCache) and pushes
// one token per call through every block: O(t*Dim) attention work per
// position instead of re-running the whole prefix, which NewStepperNoCache
// does for comparison.
//
// # Initialisation
//
// GPT-2's: every Linear weight and the embedding tables N(0, 0.02), biases
// 0, LayerNorms weight 1 bias 0, and the two projections that write into
// the residual stream (attn.c_proj and mlp.c_proj) N(0, 0.02/sqrt(2L)) so
// the residual variance does not grow with depth. With such small weights
// the initial logits are near 0 and the initial loss is close to log K.
//
// Parameter names follow nanoGPT ("transformer.wte.weight",
// "transformer.h.0.attn.c_attn.weight", "transformer.ln_f.bias",
// "lm_head.weight"), with "transformer.wpe_row.weight" [H, Dim] and
// "transformer.wpe_col.weight" [W, Dim] in place of nanoGPT's wpe.

package prior

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// Transformer is the causal Transformer prior. A Transformer is not safe for
// concurrent use; its steppers share the attention layers' inference
// buffers, so one stepper runs at a time.
type Transformer struct {
	cfg  configs.Transformer
	info Info
	t    int // positions per grid, H*W

	wte            *nn.Embedding
	wpeRow, wpeCol *nn.Param
	wcls           *nn.Param // [Classes+1, Dim], the last row the null class; nil for an unconditional prior
	blocks         []*tblock
	lnF            *nn.LayerNorm
	head           *nn.Linear
	params         []*nn.Param

	// state of the last forward pass
	n, l   int     // grids and positions per grid (l < t for prefix passes)
	idx    []int32 // input tokens [n*l]
	cls    []int32 // the classes of the last forward pass (conditional prior)
	zero   []float32
	x0     *nn.Tensor
	dx0    *nn.Tensor
	flat   nn.Tensor // [n*l, Dim] view of ln_f's output, the head's input
	dflat  nn.Tensor // [n, l, Dim] view of the head's input gradient
	logits nn.Tensor // [n*l, K] view of the head's output
	shape  []int
}

// tblock is one pre-LayerNorm Transformer block.
type tblock struct {
	ln1   *nn.LayerNorm
	attn  *nn.CausalSelfAttention
	ln2   *nn.LayerNorm
	fc    *nn.Linear
	gelu  nn.GELU
	proj  *nn.Linear
	r1    *nn.Tensor // x + attn(ln_1(x))
	r2    *nn.Tensor // r1 + mlp(ln_2(r1)): the block's output
	d1    *nn.Tensor // dL/dr1
	d0    *nn.Tensor // dL/dx
	shape []int
}

// NewTransformer builds a Transformer prior for grids described by info
// (info.Arch must be "transformer" or empty) with GPT-2 initialisation drawn
// from rng.
func NewTransformer(cfg configs.Transformer, info Info, rng *nn.RNG) (*Transformer, error) {
	if err := validateTransformer(cfg, &info); err != nil {
		return nil, err
	}
	d, nl := cfg.Dim, cfg.Layers
	m := &Transformer{cfg: cfg, info: info, t: info.Positions()}
	// The null class's rows (the last of wte and of wcls) are drawn after
	// everything else, so that every other tensor gets the draws it got
	// before the null class existed; wte takes NewEmbedding's N(0, 1)
	// draws for its other rows, as NewEmbedding would make them.
	old := info.K + max(1, info.Classes) // wte rows without the null class
	rows := old
	if info.Classes > 0 {
		rows++
	}
	m.wte = &nn.Embedding{Num: rows, D: d, Weight: nn.NewParam("transformer.wte.weight", rows, d)}
	rng.Normal(m.wte.Weight.Data.Data[:old*d], 0, 1)
	m.wpeRow = nn.NewParam("transformer.wpe_row.weight", info.H, d)
	m.wpeCol = nn.NewParam("transformer.wpe_col.weight", info.W, d)
	m.params = append(m.params, m.wte.Weight, m.wpeRow, m.wpeCol)
	if info.Classes > 0 {
		m.wcls = nn.NewParam("transformer.wcls.weight", info.Classes+1, d)
		m.params = append(m.params, m.wcls)
	}
	for i := range nl {
		name := fmt.Sprintf("transformer.h.%d", i)
		b := &tblock{
			ln1:  nn.NewLayerNorm(name+".ln_1", d),
			attn: nn.NewCausalSelfAttention(name+".attn", d, cfg.Heads, rng),
			ln2:  nn.NewLayerNorm(name+".ln_2", d),
			fc:   nn.NewLinear(name+".mlp.c_fc", d, cfg.MLPMult*d, true, rng),
			proj: nn.NewLinear(name+".mlp.c_proj", cfg.MLPMult*d, d, true, rng),
		}
		m.blocks = append(m.blocks, b)
		m.params = append(m.params, b.ln1.Params()...)
		m.params = append(m.params, b.attn.Params()...)
		m.params = append(m.params, b.ln2.Params()...)
		m.params = append(m.params, b.fc.Params()...)
		m.params = append(m.params, b.proj.Params()...)
	}
	m.lnF = nn.NewLayerNorm("transformer.ln_f", d)
	m.head = nn.NewLinear("lm_head", d, info.K, false, rng)
	m.params = append(m.params, m.lnF.Params()...)
	m.params = append(m.params, m.head.Weight)

	// GPT-2 initialisation, replacing the PyTorch defaults the nn
	// constructors drew.
	const std = 0.02
	resid := float32(std / math.Sqrt(2*float64(nl)))
	rng.Normal(m.wte.Weight.Data.Data[:old*d], 0, std)
	rng.Normal(m.wpeRow.Data.Data, 0, std)
	rng.Normal(m.wpeCol.Data.Data, 0, std)
	initLinear := func(l *nn.Linear, s float32) {
		rng.Normal(l.Weight.Data.Data, 0, s)
		if l.Bias != nil {
			l.Bias.Data.Zero()
		}
	}
	for _, b := range m.blocks {
		initLinear(b.attn.CAttn, std)
		initLinear(b.attn.CProj, resid)
		initLinear(b.fc, std)
		initLinear(b.proj, resid)
	}
	initLinear(m.head, std)
	// Drawn last so that every other tensor gets the same draws as in an
	// unconditional model of the same seed; the null class's rows after the
	// real classes' for the same reason.
	if m.wcls != nil {
		c := info.Classes
		rng.Normal(m.wcls.Data.Data[:c*d], 0, std)
		rng.Normal(m.wte.Weight.Data.Data[old*d:], 0, std)
		rng.Normal(m.wcls.Data.Data[c*d:], 0, std)
	}
	return m, nil
}

// validateTransformer checks cfg and info and fills in info.Arch; errors
// name the config field as configs does.
func validateTransformer(cfg configs.Transformer, info *Info) error {
	switch {
	case cfg.Layers < 1:
		return fmt.Errorf("prior.transformer.layers = %d: must be at least 1", cfg.Layers)
	case cfg.Dim < 1:
		return fmt.Errorf("prior.transformer.dim = %d: must be at least 1", cfg.Dim)
	case cfg.Heads < 1:
		return fmt.Errorf("prior.transformer.heads = %d: must be at least 1", cfg.Heads)
	case cfg.Dim%cfg.Heads != 0:
		return fmt.Errorf("prior.transformer.dim = %d: not divisible by prior.transformer.heads = %d", cfg.Dim, cfg.Heads)
	case cfg.MLPMult < 1:
		return fmt.Errorf("prior.transformer.mlp_mult = %d: must be at least 1", cfg.MLPMult)
	case info.Arch != "" && info.Arch != "transformer":
		return fmt.Errorf("prior arch %q: a Transformer prior needs \"transformer\"", info.Arch)
	case info.K < 1:
		return fmt.Errorf("prior codebook size K = %d: must be at least 1", info.K)
	case info.H < 1 || info.W < 1:
		return fmt.Errorf("prior grid %dx%d: both sides must be at least 1", info.H, info.W)
	case info.Classes < 0:
		return fmt.Errorf("prior classes = %d: must be 0 (unconditional) or positive", info.Classes)
	}
	info.Arch = "transformer"
	return nil
}

// Info describes the grids the model is for.
func (m *Transformer) Info() Info { return m.info }

// Config returns the architecture the model was built with.
func (m *Transformer) Config() configs.Transformer { return m.cfg }

// Params returns every parameter: embeddings, then the blocks in order
// (ln_1, attn, ln_2, mlp), then ln_f and lm_head.
func (m *Transformer) Params() []*nn.Param { return m.params }

// CheckInput reports what is wrong with a batch before it reaches Forward,
// which panics on bad input: callers holding user data (code files,
// labels) check with it first.
func (m *Transformer) CheckInput(codes, classes []int32, n int) error {
	if n < 1 {
		return fmt.Errorf("transformer prior: %d grids, need at least 1", n)
	}
	if len(codes) != n*m.t {
		return fmt.Errorf("transformer prior: %d codes for %d grids of %dx%d, want %d", len(codes), n, m.info.H, m.info.W, n*m.t)
	}
	if err := nn.CheckIndices(codes, m.info.K); err != nil {
		return fmt.Errorf("transformer prior: code %v", err)
	}
	return m.checkClasses(classes, n)
}

func (m *Transformer) checkClasses(classes []int32, n int) error {
	if m.info.Classes == 0 {
		if len(classes) != 0 {
			return fmt.Errorf("transformer prior: %d classes given to an unconditional prior", len(classes))
		}
		return nil
	}
	if len(classes) != n {
		return fmt.Errorf("transformer prior: %d classes for %d grids of a conditional prior", len(classes), n)
	}
	if err := checkClassIndices(classes, m.info.Classes); err != nil {
		return fmt.Errorf("transformer prior: %v", err)
	}
	return nil
}

// startToken is the wte row of position 0 for grid b.
func (m *Transformer) startToken(classes []int32, b int) int32 {
	if m.info.Classes == 0 {
		return int32(m.info.K)
	}
	return int32(m.info.K) + classes[b]
}

// classVector is the class vector added to every position of grid b:
// wcls[classes[b]], or zeros for an unconditional prior.
func (m *Transformer) classVector(classes []int32, b int) []float32 {
	d := m.cfg.Dim
	if m.wcls == nil {
		if len(m.zero) != d {
			m.zero = make([]float32, d)
		}
		return m.zero
	}
	return m.wcls.Data.Data[int(classes[b])*d:][:d]
}

// Forward returns the logits [n*H*W, K] of every position of n grids; it
// panics on input that CheckInput rejects.
func (m *Transformer) Forward(codes, classes []int32, n int) *nn.Tensor {
	if err := m.CheckInput(codes, classes, n); err != nil {
		panic(err.Error())
	}
	return m.forward(codes, classes, n, m.t)
}

// forward runs the model on the first l positions of each grid (codes
// keeps the full-grid stride); logits are [n*l, K].
func (m *Transformer) forward(codes, classes []int32, n, l int) *nn.Tensor {
	t, d, w := m.t, m.cfg.Dim, m.info.W
	m.n, m.l = n, l
	if cap(m.idx) < n*l {
		m.idx = make([]int32, n*l)
	}
	m.idx = m.idx[:n*l]
	m.cls = append(m.cls[:0], classes...)
	for b := range n {
		m.idx[b*l] = m.startToken(classes, b)
		copy(m.idx[b*l+1:(b+1)*l], codes[b*t:b*t+l-1])
	}
	e := m.wte.Forward(m.idx)
	m.x0 = nn.Ensure(m.x0, dims(&m.shape, n, l, d)...)
	for b := range n {
		cls := m.classVector(classes, b)
		for p := range l {
			row := m.wpeRow.Data.Data[(p/w)*d:][:d]
			col := m.wpeCol.Data.Data[(p%w)*d:][:d]
			src := e.Data[(b*l+p)*d:][:d]
			dst := m.x0.Data[(b*l+p)*d:][:d]
			for i := range dst {
				dst[i] = src[i] + row[i] + col[i] + cls[i]
			}
		}
	}
	x := m.x0
	for _, blk := range m.blocks {
		x = blk.forward(x)
	}
	y := m.lnF.Forward(x)
	view(&m.flat, y.Data, dims(&m.shape, n*l, d))
	out := m.head.Forward(&m.flat)
	view(&m.logits, out.Data, dims(&m.shape, n*l, m.info.K))
	return &m.logits
}

// Backward takes dL/dlogits [n*H*W, K] of the last Forward and adds every
// parameter's gradient.
func (m *Transformer) Backward(dlogits *nn.Tensor) {
	if m.x0 == nil || dlogits.Len() != m.n*m.l*m.info.K {
		panic(fmt.Sprintf("prior: Transformer.Backward got %v, want [%d, %d] from the last Forward", dlogits.Shape, m.n*m.l, m.info.K))
	}
	d, w := m.cfg.Dim, m.info.W
	dh := m.head.Backward(dlogits)
	view(&m.dflat, dh.Data, dims(&m.shape, m.n, m.l, d))
	dx := m.lnF.Backward(&m.dflat)
	for i := len(m.blocks) - 1; i >= 0; i-- {
		dx = m.blocks[i].backward(dx)
	}
	// dx is dL/dh for h = wte[s] + wpe_row[r] + wpe_col[c] + wcls[y];
	// each table gets the rows that used it, summed in batch then position
	// order.
	m.wte.Backward(dx)
	gr, gc := m.wpeRow.Grad.Data, m.wpeCol.Grad.Data
	for b := range m.n {
		var cls []float32
		if m.wcls != nil {
			cls = m.wcls.Grad.Data[int(m.cls[b])*d:][:d]
		}
		for p := range m.l {
			g := dx.Data[(b*m.l+p)*d:][:d]
			row, col := gr[(p/w)*d:][:d], gc[(p%w)*d:][:d]
			for i, v := range g {
				row[i] += v
				col[i] += v
			}
			if cls != nil {
				for i, v := range g {
					cls[i] += v
				}
			}
		}
	}
}

func (b *tblock) forward(x *nn.Tensor) *nn.Tensor {
	a := b.attn.Forward(b.ln1.Forward(x))
	b.r1 = nn.Ensure(b.r1, dims(&b.shape, x.Shape...)...)
	addInto(b.r1.Data, x.Data, a.Data)
	f := b.proj.Forward(b.gelu.Forward(b.fc.Forward(b.ln2.Forward(b.r1))))
	b.r2 = nn.Ensure(b.r2, dims(&b.shape, x.Shape...)...)
	addInto(b.r2.Data, b.r1.Data, f.Data)
	return b.r2
}

// backward takes dL/dr2 and returns dL/dx; each residual connection adds
// the gradient that skips the branch to the one through it.
func (b *tblock) backward(dy *nn.Tensor) *nn.Tensor {
	g := b.ln2.Backward(b.fc.Backward(b.gelu.Backward(b.proj.Backward(dy))))
	b.d1 = nn.Ensure(b.d1, dims(&b.shape, dy.Shape...)...)
	addInto(b.d1.Data, dy.Data, g.Data)
	g = b.ln1.Backward(b.attn.Backward(b.d1))
	b.d0 = nn.Ensure(b.d0, dims(&b.shape, dy.Shape...)...)
	addInto(b.d0.Data, b.d1.Data, g.Data)
	return b.d0
}

func addInto(dst, a, b []float32) {
	b = b[:len(dst)]
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// dims copies d into *buf: a shape passed to nn.Ensure from a literal
// would escape and allocate on every call.
func dims(buf *[]int, d ...int) []int {
	*buf = append((*buf)[:0], d...)
	return *buf
}

// view points t at data with the given shape, reusing t's shape slice.
func view(t *nn.Tensor, data []float32, shape []int) {
	t.Shape = append(t.Shape[:0], shape...)
	t.Data = data
}

// ------------------------------------------------------------ sampling

// NewStepper returns the key/value-cached stepper for up to n grids.
func (m *Transformer) NewStepper(n int) Stepper {
	if n < 1 {
		panic(fmt.Sprintf("prior: Transformer.NewStepper(%d): need at least 1 grid", n))
	}
	s := &cachedStepper{m: m, max: n}
	for _, b := range m.blocks {
		c := b.attn.NewKVCache(n, m.t)
		s.caches = append(s.caches, c)
		s.kv = append(s.kv, [2][]float32{c.K, c.V})
	}
	s.classes = make([]int32, 0, n)
	s.pos = -1
	return s
}

// cachedStepper runs one position of n grids through the model per call,
// attending over the keys and values cached by earlier calls. It computes
// LayerNorm, GELU and the Linears itself, with the same arithmetic as the
// nn layers, so that sampling leaves the training caches alone.
type cachedStepper struct {
	m       *Transformer
	max, n  int
	pos     int // next position; -1 before Reset
	classes []int32
	caches  []*nn.KVCache
	kv      [][2][]float32 // each cache's full K and V storage

	x, h, f, y nn.Tensor // residual [n,1,D], normed [n,1,D], MLP hidden [n,MD], branch out [n,D]
	logits     nn.Tensor
	shape      []int
}

func (s *cachedStepper) Reset(n int, classes []int32) {
	if n < 1 || n > s.max {
		panic(fmt.Sprintf("prior: Transformer stepper Reset(%d): made for 1..%d grids", n, s.max))
	}
	if err := s.m.checkClasses(classes, n); err != nil {
		panic(err.Error())
	}
	s.n, s.pos = n, 0
	s.classes = append(s.classes[:0], classes...)
	t, d := s.m.t, s.m.cfg.Dim
	for i, c := range s.caches {
		// A cache of fewer grids is a prefix of the full storage, which
		// is laid out [B, MaxT, C].
		c.B, c.K, c.V = n, s.kv[i][0][:n*t*d], s.kv[i][1][:n*t*d]
		c.Reset()
	}
	md := s.m.cfg.MLPMult * d
	ensureData(&s.x, n*d, dims(&s.shape, n, 1, d))
	ensureData(&s.h, n*d, dims(&s.shape, n, 1, d))
	ensureData(&s.f, n*md, dims(&s.shape, n, md))
	ensureData(&s.y, n*d, dims(&s.shape, n, d))
	ensureData(&s.logits, n*s.m.info.K, dims(&s.shape, n, s.m.info.K))
}

func ensureData(t *nn.Tensor, n int, shape []int) {
	t.Data = nn.Scratch(t.Data, n)
	t.Shape = append(t.Shape[:0], shape...)
}

func (s *cachedStepper) Next(codes []int32, pos int) *nn.Tensor {
	m := s.m
	t, d, w, n := m.t, m.cfg.Dim, m.info.W, s.n
	s.checkNext(codes, pos)
	wte := m.wte.Weight.Data.Data
	row := m.wpeRow.Data.Data[(pos/w)*d:][:d]
	col := m.wpeCol.Data.Data[(pos%w)*d:][:d]
	for b := range n {
		tok := m.startToken(s.classes, b)
		if pos > 0 {
			tok = codes[b*t+pos-1]
		}
		e := wte[int(tok)*d:][:d]
		cls := m.classVector(s.classes, b)
		x := s.x.Data[b*d:][:d]
		for i := range x {
			x[i] = e[i] + row[i] + col[i] + cls[i]
		}
	}
	for li, blk := range m.blocks {
		layerNormRows(s.h.Data, s.x.Data, blk.ln1, n)
		a := blk.attn.ForwardStep(&s.h, s.caches[li])
		addInto(s.x.Data, s.x.Data, a.Data)
		layerNormRows(s.h.Data, s.x.Data, blk.ln2, n)
		linearRows(s.f.Data, s.h.Data, blk.fc, n)
		geluInPlace(s.f.Data)
		linearRows(s.y.Data, s.f.Data, blk.proj, n)
		addInto(s.x.Data, s.x.Data, s.y.Data)
	}
	layerNormRows(s.h.Data, s.x.Data, m.lnF, n)
	linearRows(s.logits.Data, s.h.Data, m.head, n)
	s.pos++
	return &s.logits
}

func (s *cachedStepper) checkNext(codes []int32, pos int) {
	if s.pos < 0 {
		panic("prior: Transformer stepper: Next before Reset")
	}
	if pos != s.pos || pos >= s.m.t {
		panic(fmt.Sprintf("prior: Transformer stepper: Next(pos=%d), want %d (calls go 0..%d in order after Reset)", pos, s.pos, s.m.t-1))
	}
	checkStepCodes(s.m, codes, s.n, pos)
}

// checkStepCodes checks what Next reads: the codes before pos.
func checkStepCodes(m *Transformer, codes []int32, n, pos int) {
	t := m.t
	if len(codes) < n*t {
		panic(fmt.Sprintf("prior: Transformer stepper: %d codes for %d grids of %d positions", len(codes), n, t))
	}
	if pos == 0 {
		return
	}
	for b := range n {
		if err := nn.CheckIndices(codes[b*t:b*t+pos], m.info.K); err != nil {
			panic(fmt.Sprintf("prior: Transformer stepper: grid %d: code %v", b, err))
		}
	}
}

// layerNormRows is nn.LayerNorm's forward arithmetic without its caches.
func layerNormRows(dst, src []float32, ln *nn.LayerNorm, rows int) {
	d, w, bias := ln.D, ln.Weight.Data.Data, ln.Bias.Data.Data
	for r := range rows {
		x, y := src[r*d:][:d], dst[r*d:][:d]
		var s float64
		for _, v := range x {
			s += float64(v)
		}
		mean := s / float64(d)
		var v2 float64
		for _, v := range x {
			c := float64(v) - mean
			v2 += c * c
		}
		m, rs := float32(mean), float32(1/math.Sqrt(v2/float64(d)+float64(ln.Eps)))
		for i, v := range x {
			y[i] = (v-m)*rs*w[i] + bias[i]
		}
	}
}

// linearRows is y = x W^T + b for rows rows, as nn.Linear computes it,
// split over goroutines by the kernel (bit-identical for any split).
func linearRows(y, x []float32, l *nn.Linear, rows int) {
	kernels.SgemmThreads(0, false, true, rows, l.Out, l.In, 1, x, l.In, l.Weight.Data.Data, l.In, 0, y, l.Out)
	if l.Bias != nil {
		bias := l.Bias.Data.Data
		for r := range rows {
			yr := y[r*l.Out:][:l.Out]
			for o := range yr {
				yr[o] += bias[o]
			}
		}
	}
}

// geluInPlace is nn.GELU's exact-erf form, with the same kernel.
func geluInPlace(x []float32) {
	kernels.GELU(x, x)
}

// NewStepperNoCache returns a stepper for up to n grids that recomputes
// the full forward pass over positions 0..pos at every call: the baseline
// the key/value cache is measured against. It runs the training Forward,
// so it overwrites the model's Forward caches.
func (m *Transformer) NewStepperNoCache(n int) Stepper {
	if n < 1 {
		panic(fmt.Sprintf("prior: Transformer.NewStepperNoCache(%d): need at least 1 grid", n))
	}
	return &fullStepper{m: m, max: n, pos: -1, classes: make([]int32, 0, n)}
}

type fullStepper struct {
	m       *Transformer
	max, n  int
	pos     int
	classes []int32
	out     nn.Tensor
	shape   []int
}

func (s *fullStepper) Reset(n int, classes []int32) {
	if n < 1 || n > s.max {
		panic(fmt.Sprintf("prior: Transformer stepper Reset(%d): made for 1..%d grids", n, s.max))
	}
	if err := s.m.checkClasses(classes, n); err != nil {
		panic(err.Error())
	}
	s.n, s.pos = n, 0
	s.classes = append(s.classes[:0], classes...)
	ensureData(&s.out, n*s.m.info.K, dims(&s.shape, n, s.m.info.K))
}

func (s *fullStepper) Next(codes []int32, pos int) *nn.Tensor {
	if s.pos < 0 {
		panic("prior: Transformer stepper: Next before Reset")
	}
	if pos != s.pos || pos >= s.m.t {
		panic(fmt.Sprintf("prior: Transformer stepper: Next(pos=%d), want %d (calls go 0..%d in order after Reset)", pos, s.pos, s.m.t-1))
	}
	checkStepCodes(s.m, codes, s.n, pos)
	k, l := s.m.info.K, pos+1
	logits := s.m.forward(codes, s.classes, s.n, l)
	for b := range s.n {
		copy(s.out.Data[b*k:(b+1)*k], logits.Data[(b*l+pos)*k:][:k])
	}
	s.pos++
	return &s.out
}
