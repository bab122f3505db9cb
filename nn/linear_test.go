package nn

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
)

// TestLinearFusedGrad checks ForwardGELU and ForwardAdd against central
// differences, with enough rows for several bands on the worker pool.
func TestLinearFusedGrad(t *testing.T) {
	for _, tc := range []struct {
		rows, in, out int
		kind          string
	}{
		{5, 7, 9, "gelu"}, {600, 6, 11, "gelu"}, {5, 7, 7, "add"}, {600, 6, 6, "add"},
	} {
		name := fmt.Sprintf("Linear %s %dx%d->%d", tc.kind, tc.rows, tc.in, tc.out)
		t.Run(name, func(t *testing.T) {
			rng := NewRNG(31)
			l := NewLinear("fc", tc.in, tc.out, true, rng)
			x := randTensor(rng, tc.rows, tc.in)
			res := randTensor(rng, tc.rows, tc.out)
			fwd := func() *Tensor {
				if tc.kind == "gelu" {
					return l.ForwardGELU(x)
				}
				return l.ForwardAdd(x, res)
			}
			y := fwd()
			proj := randTensor(rng, y.Shape...)
			ZeroGrad(l.Params())
			dx := l.Backward(proj)
			loss := func() float64 { return Dot64(fwd().Data, proj.Data) }
			targets := append([]GradTarget{{"x", x.Data, dx.Data}}, paramTargets(l.Params())...)
			if tc.kind == "add" {
				targets = append(targets, GradTarget{"res", res.Data, proj.Data})
			}
			checkGrads(t, name, loss, targets)
		})
	}
}

// TestLinearFusedMatchesLayers: ForwardGELU and ForwardAdd give the bits
// of Forward followed by the GELU layer or an addition.
func TestLinearFusedMatchesLayers(t *testing.T) {
	rng := NewRNG(32)
	l := NewLinear("fc", 40, 300, true, rng)
	x := randTensor(rng, 700, 40)
	res := randTensor(rng, 700, 300)
	plain := l.Forward(x).Clone()
	var g GELU
	want := g.Forward(plain)
	if got := l.ForwardGELU(x); !slices.Equal(got.Data, want.Data) {
		t.Error("ForwardGELU differs from Forward + GELU")
	}
	got := l.ForwardAdd(x, res)
	for i, v := range got.Data {
		if v != plain.Data[i]+res.Data[i] {
			t.Fatalf("ForwardAdd[%d] = %v, want %v", i, v, plain.Data[i]+res.Data[i])
		}
	}
	// Infer is the inference path: the same bits as Forward here.
	y := make([]float32, 700*300)
	l.Infer(y, x.Data, 700)
	if !slices.Equal(y, plain.Data) {
		t.Error("Infer differs from Forward")
	}
}

// TestLinearDeterministic: outputs and gradients do not depend on
// GOMAXPROCS, with rows enough for many bands and blocks.
func TestLinearDeterministic(t *testing.T) {
	rng := NewRNG(33)
	x := randTensor(rng, 1500, 64)
	dy := randTensor(rng, 1500, 96)
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		l := NewLinear("fc", 64, 96, true, NewRNG(34))
		y := l.ForwardGELU(x).Clone()
		dx := l.Backward(dy)
		return [][]float32{y.Data, dx.Data, l.Weight.Grad.Data, l.Bias.Grad.Data}
	}
	a, b := run(1), run(3)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Errorf("result %d differs between GOMAXPROCS 1 and 3", i)
		}
	}
}

// TestArithmeticSwitch: SetArithmetic reroutes every inference primitive (a
// KV-cache step's Linear, attention and a LayerNorm's Infer), and only
// those: Forward keeps the fast kernels.
func TestArithmeticSwitch(t *testing.T) {
	calls := map[string]int{}
	f := FastArithmetic
	counting := &Arithmetic{Name: "counting",
		Linear: func(y, x, w, b []float32, rows, in, out int) {
			calls["linear"]++
			f.Linear(y, x, w, b, rows, in, out)
		},
		LayerNorm: func(y, x, w, b []float32, rows, d int, eps float32) {
			calls["layernorm"]++
			f.LayerNorm(y, x, w, b, rows, d, eps)
		},
		GELU: func(y, x []float32) { calls["gelu"]++; f.GELU(y, x) },
		Attend: func(o, q, kt []float32, ldk int, v []float32, ldv, n int, scale float32, scores []float32) {
			calls["attend"]++
			f.Attend(o, q, kt, ldk, v, ldv, n, scale, scores)
		},
	}
	rng := NewRNG(35)
	a := NewCausalSelfAttention("attn", 8, 2, rng)
	ln := NewLayerNorm("ln", 8)
	x := randTensor(rng, 3, 5, 8)
	restore := SetArithmetic(counting)
	a.Forward(x)
	if len(calls) != 0 {
		t.Errorf("Forward used the inference numerics: %v", calls)
	}
	cache := a.NewKVCache(3, 5)
	a.ForwardStep(x, cache) // 5 new positions: below the blocked size
	ln.Infer(make([]float32, 8), x.Data[:8], 1)
	GELUInfer(x.Data[:8], x.Data[:8])
	restore()
	if calls["linear"] != 2 || calls["attend"] != 3*2*5 || calls["layernorm"] != 1 || calls["gelu"] != 1 {
		t.Errorf("inference calls %v, want 2 linear, 30 attend, 1 layernorm, 1 gelu", calls)
	}
	if ActiveArithmetic() != FastArithmetic {
		t.Error("restore did not reinstate FastArithmetic")
	}
}

// TestKVCacheBlockedAndTruncate: steps of many positions (the blocked
// path) and single positions agree with Forward, also after Truncate
// rewinds the cache and different inputs continue from there.
func TestKVCacheBlockedAndTruncate(t *testing.T) {
	rng := NewRNG(36)
	B, T, C := 3, 150, 16
	a := NewCausalSelfAttention("attn", C, 2, rng)
	x := randTensor(rng, B, T, C)
	full := a.Forward(x).Clone()
	cache := a.NewKVCache(B, T)
	feed := func(t0, n int, src *Tensor) *Tensor {
		xs := NewTensor(B, n, C)
		for b := range B {
			copy(xs.Data[b*n*C:(b+1)*n*C], src.Data[(b*T+t0)*C:(b*T+t0+n)*C])
		}
		return a.ForwardStep(xs, cache)
	}
	compare := func(what string, y *Tensor, t0, n int, want *Tensor) {
		t.Helper()
		var worst float64
		for b := range B {
			for i := range n * C {
				worst = max(worst, math.Abs(float64(y.Data[b*n*C+i]-want.Data[(b*T+t0)*C+i])))
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s: max |step - full| %.3g", what, worst)
		}
	}
	compare("first 100 (blocked)", feed(0, 100, x), 0, 100, full)
	other := randTensor(rng, B, T, C)
	copy(other.Data, x.Data) // same inputs up to position 100 in grid 0 only
	for b := 0; b < B; b++ {
		copy(other.Data[b*T*C:(b*T+100)*C], x.Data[b*T*C:(b*T+100)*C])
	}
	want := a.Forward(other).Clone()
	compare("50 more of other inputs", feed(100, 50, other), 100, 50, want)
	cache.Truncate(100)
	for t0 := 100; t0 < T; t0++ {
		compare(fmt.Sprint("single step ", t0), feed(t0, 1, x), t0, 1, full)
	}
}

// TestPackedLinearIsInfer: the packed weight gives Linear.Infer's bits for
// any number of rows, serial or shared between cores, with the GELU or the
// residual add fused or not; packing again follows a change of the weight.
func TestPackedLinearIsInfer(t *testing.T) {
	rng := NewRNG(4)
	for _, c := range []struct{ in, out int }{{128, 384}, {37, 5}, {512, 128}} {
		l := NewLinear("l", c.in, c.out, true, rng)
		rng.Normal(l.Bias.Data.Data, 0, 1)
		var p PackedLinear
		p.Pack(l)
		for _, rows := range []int{1, 7, 300, 3000} {
			x := make([]float32, rows*c.in)
			rng.Normal(x, 0, 1)
			want := make([]float32, rows*c.out)
			l.Infer(want, x, rows)
			for _, procs := range []int{1, 2} {
				prev := runtime.GOMAXPROCS(procs)
				got := make([]float32, rows*c.out)
				p.Infer(got, x, rows)
				if !slices.Equal(got, want) {
					t.Errorf("%dx%d, %d rows, GOMAXPROCS %d: packed Infer differs from Infer", c.in, c.out, rows, procs)
				}
				wantG := slices.Clone(want)
				GELUInfer(wantG, wantG)
				gotG := make([]float32, rows*c.out)
				p.InferGELU(gotG, x, rows)
				res := make([]float32, rows*c.out)
				rng.Normal(res, 0, 1)
				wantA := slices.Clone(res)
				AddInto(wantA, wantA, want)
				p.InferAdd(res, make([]float32, rows*c.out), x, rows)
				runtime.GOMAXPROCS(prev)
				if !slices.Equal(gotG, wantG) {
					t.Errorf("%dx%d, %d rows, GOMAXPROCS %d: InferGELU differs from Infer and GELUInfer", c.in, c.out, rows, procs)
				}
				if !slices.Equal(res, wantA) {
					t.Errorf("%dx%d, %d rows, GOMAXPROCS %d: InferAdd differs from Infer and AddInto", c.in, c.out, rows, procs)
				}
			}
		}
		x := make([]float32, 3*c.in)
		rng.Normal(x, 0, 1)
		before := make([]float32, 3*c.out)
		p.Infer(before, x, 3)
		l.Weight.Data.Data[0] += 1
		p.Pack(l)
		want, got := make([]float32, 3*c.out), make([]float32, 3*c.out)
		l.Infer(want, x, 3)
		p.Infer(got, x, 3)
		if !slices.Equal(got, want) || slices.Equal(got, before) {
			t.Errorf("%dx%d: Pack did not take the changed weight", c.in, c.out)
		}
	}
}
