package nn

import (
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/kernels"
)

// adamRef is Adam/AdamW written directly from the paper's formulas in
// float64, independent of the float32 implementation's operation order.
type adamRef struct {
	b1, b2, eps, wd float64
	decoupled       bool
	t               int
	m, v            []float64
}

func (r *adamRef) step(p, g []float64, lr float64) {
	if r.m == nil {
		r.m = make([]float64, len(p))
		r.v = make([]float64, len(p))
	}
	r.t++
	for i := range p {
		gi := g[i]
		if r.decoupled {
			p[i] *= 1 - lr*r.wd
		} else {
			gi += r.wd * p[i]
		}
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*gi
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*gi*gi
		mh := r.m[i] / (1 - math.Pow(r.b1, float64(r.t)))
		vh := r.v[i] / (1 - math.Pow(r.b2, float64(r.t)))
		p[i] -= lr * mh / (math.Sqrt(vh) + r.eps)
	}
}

func testParams(rng *RNG, shapes ...[]int) []*Param {
	ps := make([]*Param, len(shapes))
	for i, s := range shapes {
		ps[i] = NewParam(string(rune('a'+i))+".weight", s...)
		rng.Normal(ps[i].Data.Data, 0, 1)
	}
	return ps
}

// fillGrads sets gradients that depend on the step and the current values,
// like a real loss would, so restored runs must reproduce both.
func fillGrads(ps []*Param, rng *RNG) {
	for _, p := range ps {
		for j := range p.Grad.Data {
			p.Grad.Data[j] = 0.5*p.Data.Data[j] + rng.Norm()
		}
	}
}

func TestAdamMatchesReference(t *testing.T) {
	cases := []struct {
		name      string
		b1, wd    float64
		decoupled bool
	}{
		{"adam", 0.9, 0, false},
		{"adam-l2", 0.9, 0.1, false},
		{"adamw", 0.9, 0.1, true},
		{"adam-low-beta1", 0.3, 0, false}, // exercises torch's other lerp formula
	}
	for _, c := range cases {
		rng := NewRNG(1)
		ps := testParams(rng, []int{3, 5}, []int{7})
		opt := &Adam{Beta1: c.b1, Beta2: 0.999, Eps: 1e-8, WeightDecay: c.wd, Decoupled: c.decoupled}
		ref := make([]*adamRef, len(ps))
		refP := make([][]float64, len(ps))
		for i, p := range ps {
			ref[i] = &adamRef{b1: c.b1, b2: 0.999, eps: 1e-8, wd: c.wd, decoupled: c.decoupled}
			for _, x := range p.Data.Data {
				refP[i] = append(refP[i], float64(x))
			}
		}
		var worst float64
		for step := 0; step < 5; step++ {
			fillGrads(ps, rng)
			lr := float32(1e-2 * float64(step+1))
			opt.Step(ps, lr)
			for i, p := range ps {
				g := make([]float64, len(p.Grad.Data))
				for j, x := range p.Grad.Data {
					g[j] = float64(x)
				}
				ref[i].step(refP[i], g, float64(lr))
				for j, x := range p.Data.Data {
					// resync so float32 rounding does not compound
					d := math.Abs(float64(x) - refP[i][j])
					worst = math.Max(worst, d)
					refP[i][j] = float64(x)
				}
			}
		}
		t.Logf("%s: max |param - float64 reference| over 5 steps = %.3g", c.name, worst)
		if worst > 1e-6 {
			t.Errorf("%s: parameters differ from the float64 reference by %g", c.name, worst)
		}
	}
}

// The first Adam step moves every parameter by about lr against the sign of
// its gradient, whatever the gradient's size: m_hat/sqrt(v_hat) = g/|g|.
func TestAdamFirstStepIsSignStep(t *testing.T) {
	p := NewParam("w", 4)
	copy(p.Grad.Data, []float32{1e-3, -5, 20, -0.25})
	NewAdam(0.9, 0.999, 1e-8, 0).Step([]*Param{p}, 0.1)
	want := []float32{-0.1, 0.1, -0.1, 0.1}
	for j := range want {
		if math.Abs(float64(p.Data.Data[j]-want[j])) > 1e-5 {
			t.Fatalf("param[%d] = %g after one step, want %g", j, p.Data.Data[j], want[j])
		}
	}
}

func TestAdamWDiffersFromAdam(t *testing.T) {
	run := func(opt *Adam) []float32 {
		p := NewParam("w", 3)
		copy(p.Data.Data, []float32{2, -2, 0.5})
		for i := 0; i < 3; i++ {
			copy(p.Grad.Data, []float32{0.1, 0.1, -0.1})
			opt.Step([]*Param{p}, 0.01)
		}
		return p.Data.Data
	}
	plain := run(NewAdam(0.9, 0.999, 1e-8, 0))
	l2 := run(NewAdam(0.9, 0.999, 1e-8, 0.5))
	w := run(NewAdamW(0.9, 0.999, 1e-8, 0.5))
	w0 := run(NewAdamW(0.9, 0.999, 1e-8, 0))
	for j := range plain {
		if plain[j] != w0[j] {
			t.Errorf("AdamW with wd=0 differs from Adam at %d: %g vs %g", j, w0[j], plain[j])
		}
		if w[j] == plain[j] || l2[j] == plain[j] || w[j] == l2[j] {
			t.Errorf("weight decay had no distinct effect at %d: adam %g, adam+l2 %g, adamw %g", j, plain[j], l2[j], w[j])
		}
		// Decoupled decay shrinks towards 0 by a factor (1-lr*wd) per step on
		// top of the plain update, so AdamW = plain update on a decayed param.
		if math.Abs(float64(w[j])) >= math.Abs(float64(plain[j])) {
			t.Errorf("AdamW did not shrink param %d: %g vs Adam %g", j, w[j], plain[j])
		}
	}
	// With a gradient of constant sign, Adam's L2 term enters the normalised
	// update, so for |p| large it can flip the step direction; AdamW's can't.
	// Check the exact AdamW relation for the first step instead.
	p := NewParam("w", 1)
	p.Data.Data[0] = 2
	p.Grad.Data[0] = 0.1
	NewAdamW(0.9, 0.999, 1e-8, 0.5).Step([]*Param{p}, 0.01)
	want := float32(2*(1-0.01*0.5)) - 0.01
	if math.Abs(float64(p.Data.Data[0]-want)) > 1e-6 {
		t.Errorf("AdamW first step: %g, want (1-lr*wd)*p - lr = %g", p.Data.Data[0], want)
	}
}

func TestAdamStateResumeBitIdentical(t *testing.T) {
	for _, decoupled := range []bool{false, true} {
		mk := func() *Adam {
			return &Adam{Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01, Decoupled: decoupled}
		}
		shapes := [][]int{{4, 3, 3, 3}, {4}, {1000}}
		// uninterrupted run
		ps := testParams(NewRNG(7), shapes...)
		opt := mk()
		grng := NewRNG(8)
		for s := 0; s < 10; s++ {
			fillGrads(ps, grng)
			opt.Step(ps, WarmupCosine(s, 3, 10, 1e-2, 1e-4))
		}
		// interrupted at step 4, saved through a file, resumed in fresh objects
		qs := testParams(NewRNG(7), shapes...)
		opt2 := mk()
		grng2 := NewRNG(8)
		for s := 0; s < 4; s++ {
			fillGrads(qs, grng2)
			opt2.Step(qs, WarmupCosine(s, 3, 10, 1e-2, 1e-4))
		}
		st, meta := opt2.State()
		meta["note"] = "resume test"
		path := filepath.Join(t.TempDir(), "ckpt.safetensors")
		if err := SaveSafetensors(path, append(ParamTensors(qs), st...), meta); err != nil {
			t.Fatal(err)
		}
		rs := testParams(NewRNG(99), shapes...) // different values, overwritten by the load
		f, err := LoadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.AssignParams(rs); err != nil {
			t.Fatal(err)
		}
		opt3 := mk()
		if err := opt3.LoadState(rs, f.Tensors(), f.Metadata); err != nil {
			t.Fatal(err)
		}
		if opt3.Steps() != 4 {
			t.Fatalf("restored step count %d, want 4", opt3.Steps())
		}
		for s := 4; s < 10; s++ {
			fillGrads(rs, grng2)
			opt3.Step(rs, WarmupCosine(s, 3, 10, 1e-2, 1e-4))
		}
		for i := range ps {
			for j := range ps[i].Data.Data {
				a, b := ps[i].Data.Data[j], rs[i].Data.Data[j]
				if math.Float32bits(a) != math.Float32bits(b) {
					t.Fatalf("decoupled=%v: %s[%d] = %g after resume, %g uninterrupted", decoupled, ps[i].Name, j, b, a)
				}
			}
		}
	}
}

func TestAdamLoadStateErrors(t *testing.T) {
	ps := testParams(NewRNG(1), []int{2, 3})
	opt := NewAdam(0.9, 0.999, 1e-8, 0)
	fillGrads(ps, NewRNG(2))
	opt.Step(ps, 0.1)
	good, meta := opt.State()
	tensors := func() map[string]*Tensor {
		m := map[string]*Tensor{}
		for _, nt := range good {
			m[nt.Name] = nt.Tensor
		}
		return m
	}
	cases := []struct {
		name   string
		edit   func(map[string]*Tensor, map[string]string)
		opt    *Adam
		substr string
	}{
		{"missing m", func(m map[string]*Tensor, _ map[string]string) { delete(m, "adam.m.a.weight") }, nil, `"adam.m.a.weight"`},
		{"missing v", func(m map[string]*Tensor, _ map[string]string) { delete(m, "adam.v.a.weight") }, nil, `"adam.v.a.weight"`},
		{"wrong shape", func(m map[string]*Tensor, _ map[string]string) { m["adam.v.a.weight"] = NewTensor(3, 2) }, nil, "shape [3 2]"},
		{"no step", func(_ map[string]*Tensor, md map[string]string) { delete(md, "adam.step") }, nil, "adam.step"},
		{"bad step", func(_ map[string]*Tensor, md map[string]string) { md["adam.step"] = "-3" }, nil, `"-3"`},
		{"wrong kind", func(map[string]*Tensor, map[string]string) {}, NewAdamW(0.9, 0.999, 1e-8, 0), "saved by adam, loading into adamw"},
	}
	for _, c := range cases {
		m := tensors()
		md := map[string]string{}
		for k, v := range meta {
			md[k] = v
		}
		c.edit(m, md)
		o := c.opt
		if o == nil {
			o = NewAdam(0.9, 0.999, 1e-8, 0)
		}
		err := o.LoadState(ps, m, md)
		if err == nil || !contains(err.Error(), c.substr) {
			t.Errorf("%s: error %v, want one mentioning %s", c.name, err, c.substr)
		}
		if o.Steps() != 0 || o.params != nil {
			t.Errorf("%s: failed LoadState changed the optimizer", c.name)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestAdamIndependentOfGOMAXPROCS(t *testing.T) {
	run := func(procs int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		ps := testParams(NewRNG(3), []int{70000}, []int{3}, []int{50001})
		opt := NewAdamW(0.9, 0.999, 1e-8, 0.01)
		g := NewRNG(4)
		for s := 0; s < 3; s++ {
			fillGrads(ps, g)
			opt.Step(ps, 1e-3)
		}
		var out []float32
		for _, p := range ps {
			out = append(out, p.Data.Data...)
		}
		return out
	}
	a, b := run(1), run(4)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("element %d: %g with GOMAXPROCS=1, %g with 4", i, a[i], b[i])
		}
	}
}

func TestAdamStepAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // force the pooled path
	ps := testParams(NewRNG(5), []int{200000}, []int{17})
	opt := NewAdam(0.9, 0.999, 1e-8, 0)
	opt.Step(ps, 1e-3)
	if n := testing.AllocsPerRun(20, func() { opt.Step(ps, 1e-3) }); n != 0 {
		t.Errorf("Adam.Step allocates %v times per step after warm-up", n)
	}
}

func TestClipGradNorm(t *testing.T) {
	cases := []struct {
		name      string
		grads     [][]float32
		maxNorm   float32
		wantNorm  float64
		wantScale float64
	}{
		{"below max untouched", [][]float32{{3}, {4}}, 10, 5, 1},
		{"clipped to max", [][]float32{{3}, {4}}, 1, 5, 1 / (5 + 1e-6)},
		{"across params", [][]float32{{1, 1, 1, 1, 1}, {2}, {}}, 2, 3, 2 / (3 + 1e-6)},
		{"equal to max untouched", [][]float32{{0, 2}}, 2, 2, 1},
		{"all zero", [][]float32{{0, 0}}, 1, 0, 1},
	}
	for _, c := range cases {
		var ps []*Param
		for i, g := range c.grads {
			p := NewParam(string(rune('a'+i)), len(g))
			copy(p.Grad.Data, g)
			ps = append(ps, p)
		}
		norm := ClipGradNorm(ps, c.maxNorm)
		if math.Abs(float64(norm)-c.wantNorm) > 1e-6 {
			t.Errorf("%s: norm %g, want %g", c.name, norm, c.wantNorm)
		}
		for i, g := range c.grads {
			for j := range g {
				want := float64(g[j]) * c.wantScale
				if got := ps[i].Grad.Data[j]; math.Abs(float64(got)-want) > 1e-6 {
					t.Errorf("%s: grad %d[%d] = %g, want %g", c.name, i, j, got, want)
				}
			}
		}
	}
}

func TestGradsFinite(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct {
		name   string
		grads  [][]float32
		bad    string
		wantOK bool
	}{
		{"finite", [][]float32{{1, -2}, {3e38}}, "", true},
		{"nan in second", [][]float32{{1}, {0, nan}}, "b", false},
		{"inf in first", [][]float32{{-inf}, {nan}}, "a", false},
		{"empty", nil, "", true},
	}
	for _, c := range cases {
		var ps []*Param
		for i, g := range c.grads {
			p := NewParam(string(rune('a'+i)), len(g))
			copy(p.Grad.Data, g)
			ps = append(ps, p)
		}
		name, ok := GradsFinite(ps)
		if ok != c.wantOK || name != c.bad {
			t.Errorf("%s: GradsFinite = (%q, %v), want (%q, %v)", c.name, name, ok, c.bad, c.wantOK)
		}
	}
}

func BenchmarkAdamStep1M(b *testing.B) {
	ps := testParams(NewRNG(1), []int{512, 64}, []int{256, 256, 3, 3}, []int{64, 256, 4, 4}, []int{1 << 18})
	n := 0
	for _, p := range ps {
		n += p.Data.Len()
	}
	fillGrads(ps, NewRNG(2))
	opt := NewAdamW(0.9, 0.999, 1e-8, 0.01)
	opt.Step(ps, 1e-3)
	b.SetBytes(int64(n) * 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opt.Step(ps, 1e-3)
	}
	b.ReportMetric(float64(n), "params")
}

// TestAdamStepKernelIsScalarLoop requires the vectorised AdamW step
// (kernels.AdamStep) to give the bits of the scalar loop it replaces, with
// and without decoupled decay.
func TestAdamStepKernelIsScalarLoop(t *testing.T) {
	for _, decay := range []bool{false, true} {
		rng := NewRNG(21)
		const n = 999
		p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		rng.Normal(p, 0, 1)
		rng.Normal(g, 0, 0.01)
		rng.Normal(m, 0, 0.001)
		rng.Normal(v, 0, 1e-5)
		for i := range v {
			v[i] = v[i] * v[i]
		}
		k := adamCoef{w1: 0.1, b2: 0.999, c2: 1 - 0.999, bc2s: 0.0547, eps: 1e-8, negStep: -0.0037, decayOn: decay, decay: 0.99999}
		k.vec = kernels.AdamCoefs{Decay: 1, W1: k.w1, B2: k.b2, C2: k.c2, Bc2s: k.bc2s, Eps: k.eps, NegStep: k.negStep}
		if decay {
			k.vec.Decay = k.decay
		}
		scalar := [][]float32{slices.Clone(p), slices.Clone(m), slices.Clone(v)}
		adamUpdate(&k, scalar[0], g, scalar[1], scalar[2])
		k.useVec = true
		vec := [][]float32{slices.Clone(p), slices.Clone(m), slices.Clone(v)}
		adamUpdate(&k, vec[0], g, vec[1], vec[2])
		for j := range scalar {
			for i := range scalar[j] {
				if math.Float32bits(vec[j][i]) != math.Float32bits(scalar[j][i]) {
					t.Fatalf("decay=%v: state %d elem %d: %v vectorised, %v scalar", decay, j, i, vec[j][i], scalar[j][i])
				}
			}
		}
	}
}
