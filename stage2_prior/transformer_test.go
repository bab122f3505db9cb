package prior

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// tinyCfg is the gradient-check size: 2 layers, dim 8, 2 heads.
var tinyCfg = configs.Transformer{Layers: 2, Dim: 8, Heads: 2, MLPMult: 2}

func newTestTransformer(t testing.TB, cfg configs.Transformer, info Info, seed uint64) *Transformer {
	t.Helper()
	m, err := NewTransformer(cfg, info, nn.NewRNG(seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrambleParams replaces GPT-2's tiny initial weights by N(0, std) so that
// logits are O(1) and every path through the model carries signal: at
// init the logits are ~0.02 and a comparison would be too easy.
func scrambleParams(m *Transformer, seed uint64, std float32) {
	rng := nn.NewRNG(seed)
	for _, p := range m.Params() {
		for i := range p.Data.Data {
			p.Data.Data[i] += std * rng.Norm()
		}
	}
}

func randCodes(rng *nn.RNG, n, k int) []int32 {
	c := make([]int32, n)
	for i := range c {
		c[i] = int32(rng.Intn(k))
	}
	return c
}

func TestTransformerConfigErrors(t *testing.T) {
	good := Info{K: 5, H: 3, W: 3}
	for _, tc := range []struct {
		cfg  configs.Transformer
		info Info
		want string
	}{
		{configs.Transformer{Layers: 0, Dim: 8, Heads: 2, MLPMult: 2}, good, "prior.transformer.layers = 0"},
		{configs.Transformer{Layers: 1, Dim: 0, Heads: 2, MLPMult: 2}, good, "prior.transformer.dim = 0"},
		{configs.Transformer{Layers: 1, Dim: 8, Heads: 0, MLPMult: 2}, good, "prior.transformer.heads = 0"},
		{configs.Transformer{Layers: 1, Dim: 10, Heads: 4, MLPMult: 2}, good, "not divisible by prior.transformer.heads = 4"},
		{configs.Transformer{Layers: 1, Dim: 8, Heads: 2, MLPMult: 0}, good, "prior.transformer.mlp_mult = 0"},
		{tinyCfg, Info{Arch: "pixelcnn", K: 5, H: 3, W: 3}, `arch "pixelcnn"`},
		{tinyCfg, Info{K: 0, H: 3, W: 3}, "K = 0"},
		{tinyCfg, Info{K: 5, H: 0, W: 3}, "grid 0x3"},
		{tinyCfg, Info{K: 5, H: 3, W: 3, Classes: -1}, "classes = -1"},
	} {
		_, err := NewTransformer(tc.cfg, tc.info, nn.NewRNG(1))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewTransformer(%+v, %+v): error %v, want it to mention %q", tc.cfg, tc.info, err, tc.want)
		}
	}
	m := newTestTransformer(t, tinyCfg, good, 1)
	if m.Info().Arch != "transformer" {
		t.Errorf("Info().Arch = %q, want transformer", m.Info().Arch)
	}
}

func TestTransformerCheckInput(t *testing.T) {
	unc := newTestTransformer(t, tinyCfg, Info{K: 5, H: 3, W: 3}, 1)
	cond := newTestTransformer(t, tinyCfg, Info{K: 5, H: 3, W: 3, Classes: 3}, 1)
	ok := make([]int32, 18)
	bad := slices.Clone(ok)
	bad[13] = 5
	for _, tc := range []struct {
		m       *Transformer
		codes   []int32
		classes []int32
		n       int
		want    string // "" for no error
	}{
		{unc, ok, nil, 2, ""},
		{unc, ok, nil, 0, "0 grids"},
		{unc, ok[:17], nil, 2, "17 codes for 2 grids of 3x3"},
		{unc, bad, nil, 2, "index 5 at position 13"},
		{unc, ok, []int32{0, 1}, 2, "unconditional"},
		{cond, ok, []int32{0, 2}, 2, ""},
		{cond, ok, nil, 2, "0 classes for 2 grids"},
		{cond, ok, []int32{3, 1}, 2, ""}, // the null class
		{cond, ok, []int32{0, 4}, 2, "class 4 of grid 1 is outside 0..3"},
		{cond, ok, []int32{-1, 0}, 2, "class -1 of grid 0 is outside 0..3"},
	} {
		err := tc.m.CheckInput(tc.codes, tc.classes, tc.n)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckInput(n=%d, classes %v): %v, want %q", tc.n, tc.classes, err, tc.want)
		}
	}
}

func TestTransformerParams(t *testing.T) {
	info := Info{K: 5, H: 3, W: 4, Classes: 3}
	m := newTestTransformer(t, tinyCfg, info, 1)
	shapes := map[string][]int{}
	for _, p := range m.Params() {
		if _, dup := shapes[p.Name]; dup {
			t.Errorf("parameter %s listed twice", p.Name)
		}
		shapes[p.Name] = p.Data.Shape
	}
	for name, want := range map[string][]int{
		"transformer.wte.weight":             {5 + 3 + 1, 8}, // codes, 3 class start tokens, the null class's
		"transformer.wpe_row.weight":         {3, 8},
		"transformer.wpe_col.weight":         {4, 8},
		"transformer.wcls.weight":            {3 + 1, 8},
		"transformer.h.0.ln_1.weight":        {8},
		"transformer.h.0.attn.c_attn.weight": {24, 8},
		"transformer.h.1.attn.c_proj.bias":   {8},
		"transformer.h.1.ln_2.bias":          {8},
		"transformer.h.1.mlp.c_fc.weight":    {16, 8},
		"transformer.h.1.mlp.c_proj.weight":  {8, 16},
		"transformer.ln_f.weight":            {8},
		"lm_head.weight":                     {5, 8},
	} {
		if got, ok := shapes[name]; !ok || !slices.Equal(got, want) {
			t.Errorf("%s: shape %v (present %v), want %v", name, got, ok, want)
		}
	}
	// 4 embeddings (wcls for the classes), 12 tensors per block, ln_f (2)
	// and lm_head.
	if len(shapes) != 4+12*2+3 {
		t.Errorf("%d parameters, want %d", len(shapes), 4+12*2+3)
	}
	// Unconditional: one start token after the K codes.
	u := newTestTransformer(t, tinyCfg, Info{K: 5, H: 3, W: 4}, 1)
	if got := u.wte.Weight.Data.Shape[0]; got != 6 {
		t.Errorf("unconditional wte has %d rows, want K+1 = 6", got)
	}
	for _, p := range u.Params() {
		if p.Name == "transformer.wcls.weight" {
			t.Errorf("unconditional prior has a class table %v", p.Data.Shape)
		}
	}
	// GPT-2 init: residual projections use 0.02/sqrt(2L) = 0.01 for L = 2.
	big := newTestTransformer(t, configs.Transformer{Layers: 2, Dim: 64, Heads: 4, MLPMult: 4}, info, 2)
	for _, tc := range []struct {
		p   *nn.Param
		std float64
	}{
		{big.blocks[0].attn.CAttn.Weight, 0.02},
		{big.wcls, 0.02},
		{big.blocks[0].attn.CProj.Weight, 0.01},
		{big.blocks[1].proj.Weight, 0.01},
		{big.wte.Weight, 0.02},
	} {
		var s float64
		for _, v := range tc.p.Data.Data {
			s += float64(v) * float64(v)
		}
		std := math.Sqrt(s / float64(tc.p.Data.Len()))
		if math.Abs(std-tc.std) > 0.1*tc.std {
			t.Errorf("%s: init std %.4f, want %.4f", tc.p.Name, std, tc.std)
		}
	}
}

// TestTransformerCausality perturbs each code of grid 0 and records which
// logit rows move: row i must depend on exactly the positions j < i, and
// the other grid must not move at all.
func TestTransformerCausality(t *testing.T) {
	for _, info := range []Info{{K: 5, H: 3, W: 3}, {K: 7, H: 2, W: 4, Classes: 2}} {
		t.Run(fmt.Sprintf("%dx%d_c%d", info.H, info.W, info.Classes), func(t *testing.T) {
			m := newTestTransformer(t, tinyCfg, info, 3)
			scrambleParams(m, 4, 0.3)
			T, K, n := info.Positions(), info.K, 2
			rng := nn.NewRNG(5)
			codes := randCodes(rng, n*T, K)
			var classes []int32
			if info.Classes > 0 {
				classes = []int32{1, int32(info.Classes)} // grid 1: the null class
			}
			base := m.Forward(codes, classes, n).Clone()
			deps := make([][]int, T) // deps[i]: positions row i moved for
			for j := range T {
				pc := slices.Clone(codes)
				pc[j] = (pc[j] + 1) % int32(K)
				y := m.Forward(pc, classes, n)
				for r := range n * T {
					moved := !slices.Equal(y.Data[r*K:(r+1)*K], base.Data[r*K:(r+1)*K])
					if r >= T && moved {
						t.Errorf("grid 1 row %d moved when grid 0 position %d changed", r-T, j)
					}
					if r < T && moved {
						deps[r] = append(deps[r], j)
					}
				}
			}
			for i := range T {
				want := []int{}
				for j := range i {
					want = append(want, j)
				}
				if !slices.Equal(append([]int{}, deps[i]...), want) {
					t.Errorf("row %d depends on positions %v, want %v", i, deps[i], want)
				}
			}
		})
	}
}

// TestTransformerClassConditioning: with the same codes, a different class
// must change the logits of every position (the class token is visible to
// all of them), and a different class on grid 1 must leave grid 0 alone.
func TestTransformerClassConditioning(t *testing.T) {
	info := Info{K: 5, H: 3, W: 3, Classes: 3}
	m := newTestTransformer(t, tinyCfg, info, 6)
	T, K := info.Positions(), info.K
	codes := randCodes(nn.NewRNG(7), 2*T, K)
	a := m.Forward(codes, []int32{0, 1}, 2).Clone()
	b := m.Forward(codes, []int32{3, 1}, 2) // the null class differs from class 0 too
	for r := range 2 * T {
		same := slices.Equal(a.Data[r*K:(r+1)*K], b.Data[r*K:(r+1)*K])
		if r < T && same {
			t.Errorf("grid 0 position %d: logits unchanged when the class changed", r)
		}
		if r >= T && !same {
			t.Errorf("grid 1 position %d: logits changed with grid 0's class", r-T)
		}
	}
}

// TestTransformerStepperMatchesForward runs both steppers position by
// position and compares every row with one full Forward.
func TestTransformerStepperMatchesForward(t *testing.T) {
	for _, tc := range []struct {
		cfg     configs.Transformer
		info    Info
		max, n  int
		noCache bool
		classes []int32
	}{
		{tinyCfg, Info{K: 5, H: 3, W: 3}, 3, 3, false, nil},
		{tinyCfg, Info{K: 5, H: 3, W: 3}, 3, 3, true, nil},
		{configs.Transformer{Layers: 3, Dim: 24, Heads: 3, MLPMult: 4}, Info{K: 11, H: 4, W: 5, Classes: 4}, 5, 2, false, []int32{3, 4}},
		{configs.Transformer{Layers: 3, Dim: 24, Heads: 3, MLPMult: 4}, Info{K: 11, H: 4, W: 5, Classes: 4}, 5, 2, true, []int32{3, 4}},
		// 81 positions: attention in two blocks of query rows.
		{tinyCfg, Info{K: 6, H: 9, W: 9, Classes: 2}, 3, 3, false, []int32{0, 1, 2}},
	} {
		name := fmt.Sprintf("%dx%d_n%d_of_%d_nocache=%v", tc.info.H, tc.info.W, tc.n, tc.max, tc.noCache)
		t.Run(name, func(t *testing.T) {
			m := newTestTransformer(t, tc.cfg, tc.info, 8)
			scrambleParams(m, 9, 0.2)
			T, K := tc.info.Positions(), tc.info.K
			codes := randCodes(nn.NewRNG(10), tc.n*T, K)
			full := m.Forward(codes, tc.classes, tc.n).Clone()
			var s Stepper
			if tc.noCache {
				s = m.NewStepperNoCache(tc.max)
			} else {
				s = m.NewStepper(tc.max)
			}
			// Run twice: the second pass checks that Reset clears the cache.
			for pass := range 2 {
				s.Reset(tc.n, tc.classes)
				var worst, scale float64
				for pos := range T {
					// Codes at and after pos are garbage to the stepper.
					masked := slices.Clone(codes)
					for b := range tc.n {
						for p := pos; p < T; p++ {
							masked[b*T+p] = int32((p * 7) % K)
						}
					}
					y := s.Next(masked, pos)
					if !slices.Equal(y.Shape, []int{tc.n, K}) {
						t.Fatalf("Next shape %v, want [%d %d]", y.Shape, tc.n, K)
					}
					for b := range tc.n {
						for k := range K {
							f := float64(full.Data[(b*T+pos)*K+k])
							worst = max(worst, math.Abs(float64(y.Data[b*K+k])-f))
							scale = max(scale, math.Abs(f))
						}
					}
				}
				t.Logf("pass %d: max |step - full| %.2e over logits up to %.2f", pass, worst, scale)
				if worst > 1e-5*max(1, scale) {
					t.Errorf("pass %d: stepper differs from Forward by %.3g (logit scale %.3g)", pass, worst, scale)
				}
			}
		})
	}
}

// TestTransformerGradCheck compares the analytic gradient of the whole
// model with central differences for a sample of every parameter tensor.
func TestTransformerGradCheck(t *testing.T) {
	info := Info{K: 5, H: 3, W: 3, Classes: 3}
	m := newTestTransformer(t, tinyCfg, info, 11)
	scrambleParams(m, 12, 0.3)
	n := 3
	rng := nn.NewRNG(13)
	codes := randCodes(rng, n*info.Positions(), info.K)
	classes := []int32{2, 0, 3} // 3: the null class

	y := m.Forward(codes, classes, n)
	proj := nn.NewTensor(y.Shape...)
	rng.Normal(proj.Data, 0, 1)
	nn.ZeroGrad(m.Params())
	m.Backward(proj)
	loss := func() float64 { return nn.Dot64(m.Forward(codes, classes, n).Data, proj.Data) }
	var targets []nn.GradTarget
	d := tinyCfg.Dim
	for _, p := range m.Params() {
		g := slices.Clone(p.Grad.Data)
		if !strings.HasSuffix(p.Name, ".attn.c_attn.bias") {
			targets = append(targets, nn.GradTarget{Name: p.Name, X: p.Data.Data, G: g})
			continue
		}
		// The key bias adds q.b to every score of a row, which the
		// softmax cancels: its gradient is exactly 0, and central
		// differences would measure only float32 noise. Check that it is
		// 0 and the query and value biases by differences.
		for i, v := range g[d : 2*d] {
			if math.Abs(float64(v)) > 1e-6 {
				t.Errorf("%s: key bias %d has gradient %g, want 0", p.Name, i, v)
			}
		}
		targets = append(targets,
			nn.GradTarget{Name: p.Name + "[q]", X: p.Data.Data[:d], G: g[:d]},
			nn.GradTarget{Name: p.Name + "[v]", X: p.Data.Data[2*d:], G: g[2*d:]})
	}
	for _, tg := range targets {
		res := nn.GradCheck(loss, []nn.GradTarget{tg}, nn.NewRNG(14), 12, 1e-2)
		if !(res.MaxRelErr <= 1e-2) {
			t.Errorf("%s: max rel err %.3g: %s", tg.Name, res.MaxRelErr, res.Worst)
		}
	}
	res := nn.GradCheck(loss, targets, nn.NewRNG(14), 12, 1e-2)
	t.Logf("all %d tensors: max rel err %.2e (%s)", len(targets), res.MaxRelErr, res.Worst)
	// The check must be able to fail: a gradient with its sign flipped is
	// caught for a tensor that certainly has a non-zero gradient.
	neg := slices.Clone(targets[len(targets)-1].G)
	for i := range neg {
		neg[i] = -neg[i]
	}
	flipped := []nn.GradTarget{{Name: "flipped lm_head", X: targets[len(targets)-1].X, G: neg}}
	if r := nn.GradCheck(loss, flipped, nn.NewRNG(14), 12, 1e-2); r.MaxRelErr < 0.5 {
		t.Errorf("sign-flipped lm_head gradient passes (rel err %.3g)", r.MaxRelErr)
	}
}

func bitsPerCode(ce *nn.CrossEntropy, logits *nn.Tensor, codes []int32) float64 {
	return float64(ce.Forward(logits, codes)) / math.Ln2
}

// TestTransformerInitLoss: GPT-2 init gives near-zero logits, so the loss
// on uniform random codes is close to log2 K bits.
func TestTransformerInitLoss(t *testing.T) {
	cfg := configs.Default().Prior.Transformer
	info := Info{K: 512, H: 7, W: 7, Classes: 10}
	m := newTestTransformer(t, cfg, info, 15)
	n := 8
	rng := nn.NewRNG(16)
	codes := randCodes(rng, n*info.Positions(), info.K)
	classes := randCodes(rng, n, info.Classes)
	var ce nn.CrossEntropy
	bits := bitsPerCode(&ce, m.Forward(codes, classes, n), codes)
	t.Logf("init loss %.4f bits/code, log2 K = %.4f", bits, math.Log2(512))
	if math.Abs(bits-9) > 0.9 {
		t.Errorf("init loss %.3f bits per code, want within 10%% of log2(512) = 9", bits)
	}
}

// TestTransformerMemorises trains on 8 fixed grids, one class each, so
// every code is determined by the class and the codes before it: the loss
// must fall below 0.2 bits per code, and greedy decoding with the cached
// stepper must then reproduce the grids.
func TestTransformerMemorises(t *testing.T) {
	info := Info{K: 16, H: 4, W: 4, Classes: 8}
	cfg := configs.Transformer{Layers: 2, Dim: 32, Heads: 2, MLPMult: 2}
	m := newTestTransformer(t, cfg, info, 17)
	n, T := 8, info.Positions()
	codes := randCodes(nn.NewRNG(18), n*T, info.K)
	classes := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	opt := nn.NewAdamW(0.9, 0.999, 1e-8, 0.01)
	var ce nn.CrossEntropy
	var bits float64
	steps := 0
	for steps = 1; steps <= 400; steps++ {
		nn.ZeroGrad(m.Params())
		bits = bitsPerCode(&ce, m.Forward(codes, classes, n), codes)
		if steps == 1 {
			t.Logf("step 1: %.3f bits/code", bits)
		}
		if bits < 0.05 {
			break
		}
		m.Backward(ce.Backward())
		opt.Step(m.Params(), 3e-3)
	}
	t.Logf("step %d: %.4f bits/code", steps, bits)
	if !(bits < 0.2) {
		t.Fatalf("training loss %.3f bits per code after %d steps, want < 0.2", bits, steps)
	}
	s := m.NewStepper(n)
	s.Reset(n, classes)
	got := make([]int32, n*T)
	for pos := range T {
		y := s.Next(got, pos)
		for b := range n {
			row := y.Data[b*info.K : (b+1)*info.K]
			got[b*T+pos] = int32(argmax(row))
		}
	}
	if !slices.Equal(got, codes) {
		t.Errorf("greedy decoding gave\n%v\nwant\n%v", got, codes)
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestTransformerDeterministic: the gradients must not depend on
// GOMAXPROCS (enough rows that the layers split their work).
func TestTransformerDeterministic(t *testing.T) {
	info := Info{K: 9, H: 4, W: 4, Classes: 2}
	cfg := configs.Transformer{Layers: 2, Dim: 16, Heads: 2, MLPMult: 2}
	codes := randCodes(nn.NewRNG(19), 20*info.Positions(), info.K)
	classes := randCodes(nn.NewRNG(20), 20, info.Classes)
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := newTestTransformer(t, cfg, info, 21)
		var ce nn.CrossEntropy
		ce.Forward(m.Forward(codes, classes, 20), codes)
		m.Backward(ce.Backward())
		var g [][]float32
		for _, p := range m.Params() {
			g = append(g, slices.Clone(p.Grad.Data))
		}
		return g
	}
	a, b := run(1), run(4)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Errorf("parameter %d: gradient differs between GOMAXPROCS 1 and 4", i)
		}
	}
}

// TestTransformerNoAllocs: a warmed-up training step and a warmed-up
// sampling pass allocate nothing.
func TestTransformerNoAllocs(t *testing.T) {
	info := Info{K: 5, H: 3, W: 3, Classes: 3}
	m := newTestTransformer(t, tinyCfg, info, 22)
	n, T := 4, info.Positions()
	codes := randCodes(nn.NewRNG(23), n*T, info.K)
	classes := []int32{0, 1, 2, 0}
	var ce nn.CrossEntropy
	train := func() {
		ce.Forward(m.Forward(codes, classes, n), codes)
		m.Backward(ce.Backward())
	}
	train()
	if a := testing.AllocsPerRun(5, train); a != 0 {
		t.Errorf("training step: %v allocations after warm-up", a)
	}
	s := m.NewStepper(n)
	sample := func() {
		s.Reset(n, classes)
		for pos := range T {
			s.Next(codes, pos)
		}
	}
	sample()
	if a := testing.AllocsPerRun(5, sample); a != 0 {
		t.Errorf("cached sampling: %v allocations after warm-up", a)
	}
}

// TestTransformerNullClassInit: the null class's rows of wte and wcls are
// drawn (last, after every other tensor), not left at zero.
func TestTransformerNullClassInit(t *testing.T) {
	c := newTestTransformer(t, tinyCfg, Info{K: 5, H: 3, W: 4, Classes: 3}, 7)
	for _, row := range [][]float32{c.wte.Weight.Data.Data[(5+3)*8:], c.wcls.Data.Data[3*8:]} {
		if len(row) != 8 || slices.Equal(row, make([]float32, 8)) {
			t.Errorf("a null-class row is %v", row)
		}
	}
}

// TestTransformerStepperReproducible: a grid's stepped logits do not
// depend on how many grids step with it or on GOMAXPROCS (the entropy
// coder's requirement, under the default numerics, on any kernel path);
// on the AVX-512 path not on whether positions come one at a time or in
// spans either (one query's VecMat chains are a GEMM row's).
func TestTransformerStepperReproducible(t *testing.T) {
	info := Info{K: 13, H: 4, W: 5, Classes: 3}
	cfg := configs.Transformer{Layers: 2, Dim: 24, Heads: 3, MLPMult: 2}
	m := newTestTransformer(t, cfg, info, 31)
	scrambleParams(m, 32, 0.2)
	T, K := info.Positions(), info.K
	codes := randCodes(nn.NewRNG(33), 9*T, K)
	classes := []int32{0, 1, 2, 3, 0, 1, 2, 3, 1}
	run := func(n, procs int, spans []int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		s := m.NewStepper(9).(SpanStepper)
		s.Reset(n, classes[:n])
		out := make([]float32, n*T*K)
		pos := 0
		for _, l := range spans {
			y := s.Span(codes[:n*T], pos, pos+l)
			for b := range n {
				copy(out[(b*T+pos)*K:(b*T+pos+l)*K], y.Data[b*l*K:(b+1)*l*K])
			}
			pos += l
		}
		return out
	}
	ones := make([]int, T)
	for i := range ones {
		ones[i] = 1
	}
	want := run(2, 1, ones)
	for _, tc := range []struct {
		n, procs int
		spans    []int
	}{{9, 1, ones}, {2, 4, ones}, {9, 4, ones}, {2, 1, []int{3, 9, 8}}, {9, 2, []int{12, 8}}} {
		if len(tc.spans) != T && kernels.Path() != "avx512" {
			continue
		}
		got := run(tc.n, tc.procs, tc.spans)
		if !slices.Equal(got[:2*T*K], want) {
			t.Errorf("n=%d GOMAXPROCS=%d spans %v: the first two grids' logits differ", tc.n, tc.procs, tc.spans)
		}
	}
}

// TestTransformerConcurrentSteppers: steppers of one model, each with its
// own caches, run at the same time and give what they give alone.
func TestTransformerConcurrentSteppers(t *testing.T) {
	info := Info{K: 7, H: 3, W: 4, Classes: 2}
	m := newTestTransformer(t, configs.Transformer{Layers: 2, Dim: 16, Heads: 2, MLPMult: 2}, info, 41)
	scrambleParams(m, 42, 0.2)
	T, K := info.Positions(), info.K
	codes := randCodes(nn.NewRNG(43), 3*T, K)
	classes := []int32{0, 1, 2}
	run := func(s Stepper) []float32 {
		s.Reset(3, classes)
		var out []float32
		for pos := range T {
			out = append(out, s.Next(codes, pos).Data...)
		}
		return out
	}
	want := run(m.NewStepper(3))
	got := make([][]float32, 4)
	var wg sync.WaitGroup
	for i := range got {
		s := m.NewStepper(3)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = run(s)
		}()
	}
	wg.Wait()
	for i := range got {
		if !slices.Equal(got[i], want) {
			t.Errorf("concurrent stepper %d gave other logits", i)
		}
	}
}
