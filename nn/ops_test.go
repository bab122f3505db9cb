package nn

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
)

// gradTol bounds the relative error of a finite-difference check of float32
// layers with eps 1e-2; typical errors are 1e-4 to 1e-3.
const gradTol = 1e-2

// checkGrads runs GradCheck on targets and fails above gradTol. It then
// flips the sign of each target's analytic gradient in turn and requires the
// check to fail, so a passing check is known to be able to fail.
func checkGrads(t *testing.T, name string, loss func() float64, targets []GradTarget) {
	t.Helper()
	for i := range targets {
		targets[i].G = slices.Clone(targets[i].G) // layers reuse their buffers
	}
	res := GradCheck(loss, targets, NewRNG(7), 40, 1e-2)
	t.Logf("%-28s max rel err %.2e  (%s)", name, res.MaxRelErr, res.Worst)
	if !(res.MaxRelErr <= gradTol) {
		t.Errorf("%s: max rel err %.3g > %g: %s", name, res.MaxRelErr, gradTol, res.Worst)
	}
	for i := range targets {
		g := targets[i].G
		neg := make([]float32, len(g))
		for j, v := range g {
			neg[j] = -v
		}
		flipped := []GradTarget{{Name: targets[i].Name, X: targets[i].X, G: neg}}
		if r := GradCheck(loss, flipped, NewRNG(7), 40, 1e-2); r.MaxRelErr < 0.5 {
			t.Errorf("%s: sign-flipped gradient of %s still passes (rel err %.3g)", name, targets[i].Name, r.MaxRelErr)
		}
	}
}

func paramTargets(ps []*Param) []GradTarget {
	var ts []GradTarget
	for _, p := range ps {
		ts = append(ts, GradTarget{Name: p.Name, X: p.Data.Data, G: p.Grad.Data})
	}
	return ts
}

func TestLinearGrad(t *testing.T) {
	for _, tc := range []struct {
		shape   []int
		out     int
		useBias bool
	}{
		{[]int{3, 5}, 7, true},
		{[]int{2, 3, 5}, 7, false},
		{[]int{3, 47, 5}, 37, true}, // several row and feature chunks
	} {
		name := fmt.Sprintf("Linear%v->%d bias=%v", tc.shape, tc.out, tc.useBias)
		t.Run(name, func(t *testing.T) {
			rng := NewRNG(1)
			l := NewLinear("fc", tc.shape[len(tc.shape)-1], tc.out, tc.useBias, rng)
			x := randTensor(rng, tc.shape...)
			y := l.Forward(x)
			if want := append(slices.Clone(tc.shape[:len(tc.shape)-1]), tc.out); !slices.Equal(y.Shape, want) {
				t.Fatalf("output shape %v, want %v", y.Shape, want)
			}
			proj := randTensor(rng, y.Shape...)
			ZeroGrad(l.Params())
			dx := l.Backward(proj)
			loss := func() float64 { return Dot64(l.Forward(x).Data, proj.Data) }
			checkGrads(t, name, loss, append([]GradTarget{{"x", x.Data, dx.Data}}, paramTargets(l.Params())...))
		})
	}
}

func TestLinearMatchesNaive(t *testing.T) {
	rng := NewRNG(2)
	l := NewLinear("fc", 5, 3, true, rng)
	x := randTensor(rng, 4, 5)
	y := l.Forward(x)
	for r := range 4 {
		for o := range 3 {
			want := float64(l.Bias.Data.Data[o])
			for i := range 5 {
				want += float64(x.Data[r*5+i]) * float64(l.Weight.Data.Data[o*5+i])
			}
			if got := y.Data[r*3+o]; math.Abs(float64(got)-want) > 1e-5 {
				t.Errorf("y[%d,%d] = %g, want %g", r, o, got, want)
			}
		}
	}
	bound := float32(1 / math.Sqrt(5))
	for _, p := range l.Params() {
		for _, v := range p.Data.Data {
			if v < -bound || v >= bound {
				t.Errorf("%s init %g outside [-%g, %g)", p.Name, v, bound, bound)
			}
		}
	}
}

func TestEmbedding(t *testing.T) {
	rng := NewRNG(3)
	e := NewEmbedding("tok", 7, 5, rng)
	idx := []int32{3, 0, 6, 3, 3, 1} // repeats must accumulate
	y := e.Forward(idx)
	for i, v := range idx {
		if !slices.Equal(y.Data[i*5:(i+1)*5], e.Weight.Data.Data[int(v)*5:(int(v)+1)*5]) {
			t.Fatalf("row %d is not weight row %d", i, v)
		}
	}
	proj := randTensor(rng, y.Shape...)
	ZeroGrad(e.Params())
	e.Backward(proj)
	loss := func() float64 { return Dot64(e.Forward(idx).Data, proj.Data) }
	checkGrads(t, "Embedding", loss, paramTargets(e.Params()))

	if err := CheckIndices([]int32{1, 7}, 7); err == nil {
		t.Error("CheckIndices accepted 7 for 7 rows")
	}
	for _, bad := range []int32{-1, 7} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("Forward accepted index %d", bad)
				}
			}()
			e.Forward([]int32{0, bad})
		}()
	}
}

type unaryLayer interface {
	Forward(*Tensor) *Tensor
	Backward(*Tensor) *Tensor
}

func TestActivationGrads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		layer unaryLayer
		ref   func(float64) float64
	}{
		{"ReLU", &ReLU{}, func(x float64) float64 { return math.Max(x, 0) }},
		{"GELU", &GELU{}, func(x float64) float64 { return x * 0.5 * (1 + math.Erf(x/math.Sqrt2)) }},
		{"Tanh", &Tanh{}, math.Tanh},
		{"Sigmoid", &Sigmoid{}, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := NewRNG(4)
			x := randTensor(rng, 3, 5, 7)
			for i, v := range x.Data { // keep finite differences off ReLU's kink
				if math.Abs(float64(v)) < 0.05 {
					x.Data[i] = 0.3
				}
			}
			x.Data[0], x.Data[1] = 30, -30 // saturation must not give NaN
			y := tc.layer.Forward(x)
			for i, v := range x.Data {
				if want := tc.ref(float64(v)); math.Abs(float64(y.Data[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Fatalf("f(%g) = %g, want %g", v, y.Data[i], want)
				}
			}
			proj := randTensor(rng, x.Shape...)
			dx := tc.layer.Backward(proj)
			loss := func() float64 { return Dot64(tc.layer.Forward(x).Data, proj.Data) }
			checkGrads(t, tc.name, loss, []GradTarget{{"x", x.Data, dx.Data}})
		})
	}
}

func TestAddMulGrad(t *testing.T) {
	rng := NewRNG(5)
	a, b := randTensor(rng, 3, 5, 7), randTensor(rng, 3, 5, 7)
	proj := randTensor(rng, 3, 5, 7)
	add, mul := &Add{}, &Mul{}
	add.Forward(a, b)
	da, db := add.Backward(proj)
	checkGrads(t, "Add", func() float64 { return Dot64(add.Forward(a, b).Data, proj.Data) },
		[]GradTarget{{"a", a.Data, da.Data}, {"b", b.Data, db.Data}})
	mul.Forward(a, b)
	da, db = mul.Backward(proj)
	checkGrads(t, "Mul", func() float64 { return Dot64(mul.Forward(a, b).Data, proj.Data) },
		[]GradTarget{{"a", a.Data, da.Data}, {"b", b.Data, db.Data}})
}

// TestAddAccumulateChunks: Add.Forward and Accumulate.Into over tensors of
// several element chunks (so several goroutines) give exactly a + b.
func TestAddAccumulateChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{1, elemChunk - 1, 3*elemChunk + 17} {
			rng := NewRNG(uint64(n))
			a, b := randTensor(rng, n), randTensor(rng, n)
			var add Add
			y := add.Forward(a, b)
			acc := a.Clone()
			var ac Accumulate
			ac.Into(acc, b)
			for i := range n {
				if want := a.Data[i] + b.Data[i]; y.Data[i] != want || acc.Data[i] != want {
					t.Fatalf("GOMAXPROCS=%d n=%d: element %d: Add %g, Accumulate %g, want %g", procs, n, i, y.Data[i], acc.Data[i], want)
				}
			}
		}
	}
}

func TestConcatSplit(t *testing.T) {
	rng := NewRNG(6)
	xs := []*Tensor{randTensor(rng, 2, 3, 5, 3), randTensor(rng, 2, 1, 5, 3), randTensor(rng, 2, 4, 5, 3)}
	cat := &Concat{}
	y := cat.Forward(xs...)
	if !slices.Equal(y.Shape, []int{2, 8, 5, 3}) {
		t.Fatalf("Concat shape %v", y.Shape)
	}
	// y[n, c] for c in piece i's range is piece i's channel c - offset.
	for n := range 2 {
		off := 0
		for _, x := range xs {
			for c := range x.Shape[1] {
				got := y.Data[(n*8+off+c)*15 : (n*8+off+c+1)*15]
				want := x.Data[(n*x.Shape[1]+c)*15 : (n*x.Shape[1]+c+1)*15]
				if !slices.Equal(got, want) {
					t.Fatalf("Concat n=%d channel %d wrong", n, off+c)
				}
			}
			off += x.Shape[1]
		}
	}
	proj := randTensor(rng, y.Shape...)
	dxs := cat.Backward(proj)
	var targets []GradTarget
	for i, x := range xs {
		targets = append(targets, GradTarget{fmt.Sprintf("x%d", i), x.Data, dxs[i].Data})
	}
	checkGrads(t, "Concat", func() float64 { return Dot64(cat.Forward(xs...).Data, proj.Data) }, targets)

	y = cat.Forward(xs...).Clone() // the checks left a perturbed value in y
	sp := &Split{Sizes: []int{3, 1, 4}}
	parts := sp.Forward(y)
	for i := range xs {
		if !slices.Equal(parts[i].Data, xs[i].Data) || !parts[i].SameShape(xs[i]) {
			t.Fatalf("Split piece %d differs from the concatenated input", i)
		}
	}
	projs := []*Tensor{randTensor(rng, 2, 3, 5, 3), randTensor(rng, 2, 1, 5, 3), randTensor(rng, 2, 4, 5, 3)}
	dy := sp.Backward(projs...)
	splitLoss := func() float64 {
		var s float64
		for i, p := range sp.Forward(y) {
			s += Dot64(p.Data, projs[i].Data)
		}
		return s
	}
	checkGrads(t, "Split", splitLoss, []GradTarget{{"x", y.Data, dy.Data}})
}

// TestDeterministicAcrossGOMAXPROCS runs forward and backward of the
// parallel layers with 1 and 4 goroutines and requires identical bits.
func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		rng := NewRNG(8)
		l := NewLinear("fc", 24, 37, true, rng)
		ln := NewLayerNorm("ln", 37)
		rng.Normal(ln.Weight.Data.Data, 1, 0.5)
		att := NewCausalSelfAttention("att", 36, 4, rng)
		x := randTensor(rng, 5, 41, 24)
		h := ln.Forward(l.Forward(x))
		proj := randTensor(rng, h.Shape...)
		dx := l.Backward(ln.Backward(proj))
		xa := randTensor(rng, 3, 29, 36)
		ya := att.Forward(xa)
		dxa := att.Backward(randTensor(rng, ya.Shape...))
		out := [][]float32{slices.Clone(h.Data), slices.Clone(dx.Data), slices.Clone(ya.Data), slices.Clone(dxa.Data)}
		for _, p := range append(append(l.Params(), ln.Params()...), att.Params()...) {
			out = append(out, slices.Clone(p.Grad.Data))
		}
		return out
	}
	a, b := run(1), run(4)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Errorf("result %d differs between GOMAXPROCS 1 and 4", i)
		}
	}
}
