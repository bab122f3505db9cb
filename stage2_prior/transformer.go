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
// new positions through every block: O(t*Dim) attention work per position
// instead of re-running the whole prefix, which NewStepperNoCache does for
// comparison. It runs the training model's own layers, through their
// inference paths (tblock.step next to tblock.forward: LayerNorm.Infer,
// Linear.Infer, CausalSelfAttention.ForwardStep), so a change to a block
// reaches training and sampling alike; its arithmetic is nn's active
// Numerics. It also takes several positions at once and rewinds
// (SpanStepper), which is how gibbs edits score many continuations of one
// prefix.
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
	"github.com/vqgen/vqgen/nn"
)

// Transformer is the causal Transformer prior. Forward and Backward keep
// their state in the layers, so one training pass runs at a time; steppers
// keep theirs in their own caches and buffers, so several may run at once
// (not while the weights change).
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

// NewTransformer builds a Transformer prior for grids described by info
// (info.Arch must be "transformer" or empty) with GPT-2 initialisation drawn
// from rng.
func NewTransformer(cfg configs.Transformer, info Info, rng *nn.RNG) (*Transformer, error) {
	if err := validateTransformer(cfg, &info); err != nil {
		return nil, err
	}
	d, nl := cfg.Dim, cfg.Layers
	m := &Transformer{cfg: cfg, info: info, t: info.Positions(), zero: make([]float32, cfg.Dim)}
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
		b := newBlock(name, d, cfg.Heads, cfg.MLPMult, rng)
		m.blocks = append(m.blocks, b)
		m.params = append(m.params, b.params()...)
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
	t, d := m.t, m.cfg.Dim
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
			r := b*l + p
			m.embedInto(m.x0.Data[r*d:][:d], e.Data[r*d:][:d], p, cls)
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

// embedInto sets x = wte[s_p] + wpe_row[r] + wpe_col[c] + cls for
// position p = r*W + c, given the token's row of wte: the training pass and
// the stepper embed alike.
func (m *Transformer) embedInto(x, tok []float32, p int, cls []float32) {
	d, w := m.cfg.Dim, m.info.W
	row := m.wpeRow.Data.Data[(p/w)*d:][:d]
	col := m.wpeCol.Data.Data[(p%w)*d:][:d]
	tok, cls = tok[:len(x)], cls[:len(x)]
	for i := range x {
		x[i] = tok[i] + row[i] + col[i] + cls[i]
	}
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
