package nn

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestAttentionGrad(t *testing.T) {
	for _, tc := range []struct{ b, t, c, h int }{{1, 1, 4, 2}, {2, 5, 12, 3}, {3, 7, 10, 1}} {
		name := fmt.Sprintf("Attention B%d T%d C%d H%d", tc.b, tc.t, tc.c, tc.h)
		rng := NewRNG(15)
		a := NewCausalSelfAttention("attn", tc.c, tc.h, rng)
		x := randTensor(rng, tc.b, tc.t, tc.c)
		y := a.Forward(x)
		proj := randTensor(rng, y.Shape...)
		ZeroGrad(a.Params())
		dx := a.Backward(proj)
		loss := func() float64 { return Dot64(a.Forward(x).Data, proj.Data) }
		checkGrads(t, name, loss, append([]GradTarget{{"x", x.Data, dx.Data}}, paramTargets(a.Params())...))
	}
}

func TestAttentionParamNames(t *testing.T) {
	a := NewCausalSelfAttention("h.0.attn", 8, 2, NewRNG(1))
	var names []string
	for _, p := range a.Params() {
		names = append(names, p.Name)
	}
	want := "[h.0.attn.c_attn.weight h.0.attn.c_attn.bias h.0.attn.c_proj.weight h.0.attn.c_proj.bias]"
	if fmt.Sprint(names) != want {
		t.Errorf("params %v, want %s", names, want)
	}
}

// TestAttentionCausality perturbs each input position j and records which
// output positions move: output t must depend on exactly inputs 0..t.
func TestAttentionCausality(t *testing.T) {
	for _, T := range []int{1, 2, 5, 9, attnBlock + 6} {
		t.Run(fmt.Sprint("T", T), func(t *testing.T) {
			rng := NewRNG(16)
			a := NewCausalSelfAttention("attn", 6, 2, rng)
			x := randTensor(rng, 2, T, 6)
			base := a.Forward(x).Clone()
			for j := range T {
				xp := x.Clone()
				for b := range 2 {
					for c := range 6 {
						xp.Data[(b*T+j)*6+c] += 0.5
					}
				}
				y := a.Forward(xp)
				for b := range 2 {
					for i := range T {
						moved := false
						for c := range 6 {
							if y.Data[(b*T+i)*6+c] != base.Data[(b*T+i)*6+c] {
								moved = true
							}
						}
						if moved != (j <= i) {
							t.Errorf("batch %d: output %d moved=%v when input %d changed", b, i, moved, j)
						}
					}
				}
			}
		})
	}
}

// TestKVCacheMatchesFull feeds the sequence through ForwardStep in pieces
// and compares with one full Forward.
func TestKVCacheMatchesFull(t *testing.T) {
	for _, steps := range [][]int{{1, 1, 1, 1, 1, 1, 1}, {3, 1, 3}, {7}} {
		rng := NewRNG(17)
		B, T, C := 2, 7, 12
		a := NewCausalSelfAttention("attn", C, 3, rng)
		x := randTensor(rng, B, T, C)
		full := a.Forward(x).Clone()
		cache := a.NewKVCache(B, T)
		var maxErr float64
		t0 := 0
		for _, n := range steps {
			xs := NewTensor(B, n, C)
			for b := range B {
				copy(xs.Data[b*n*C:(b+1)*n*C], x.Data[(b*T+t0)*C:(b*T+t0+n)*C])
			}
			y := a.ForwardStep(xs, cache)
			for b := range B {
				for i := range n * C {
					d := math.Abs(float64(y.Data[b*n*C+i] - full.Data[(b*T+t0)*C+i]))
					maxErr = max(maxErr, d)
				}
			}
			t0 += n
		}
		t.Logf("steps %v: max |cached - full| = %.2e", steps, maxErr)
		if maxErr > 1e-5 || cache.T != T {
			t.Errorf("steps %v: max diff %g, cache at %d of %d", steps, maxErr, cache.T, T)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("ForwardStep past MaxT accepted")
				}
			}()
			a.ForwardStep(NewTensor(B, 1, C), cache)
		}()
		// ForwardStep must not disturb Forward's caches.
		if y := a.Forward(x); !y.SameShape(full) {
			t.Fatal("Forward after ForwardStep has the wrong shape")
		}
	}
}

// TestAttentionGradBlocks runs the gradient check on sequences longer
// than one block of query rows, so dk and dv sum over several blocks.
func TestAttentionGradBlocks(t *testing.T) {
	rng := NewRNG(18)
	a := NewCausalSelfAttention("attn", 6, 2, rng)
	x := randTensor(rng, 2, attnBlock+attnBlock/2+3, 6)
	res := randTensor(rng, x.Shape...)
	y := a.ForwardAdd(x, res)
	proj := randTensor(rng, y.Shape...)
	ZeroGrad(a.Params())
	dx := a.Backward(proj)
	loss := func() float64 { return Dot64(a.ForwardAdd(x, res).Data, proj.Data) }
	checkGrads(t, "Attention blocks", loss, append([]GradTarget{{"x", x.Data, dx.Data}, {"res", res.Data, proj.Data}}, paramTargets(a.Params())...))
}

// TestForwardStepKeyed: remembering projections by key gives ForwardStep's
// bits through spans, truncations, changed and repeated keys, unkeyed
// steps in between and resets, and does reuse rows.
func TestForwardStepKeyed(t *testing.T) {
	rng := NewRNG(41)
	B, T, C, V := 3, 40, 16, 4
	a := NewCausalSelfAttention("attn", C, 2, rng)
	emb, pos := randTensor(rng, V, C), randTensor(rng, T, C)
	plain, keyed := a.NewKVCache(B, T), a.NewKVCache(B, T)
	last := make([]int32, B*T) // the keys a position was last fed
	reused := 0
	for round := range 60 {
		if round == 30 {
			plain.Reset()
			keyed.Reset()
		}
		from := rng.Intn(plain.T + 1)
		plain.Truncate(from)
		keyed.Truncate(from)
		n := 1 + rng.Intn(T-from)
		x := NewTensor(B, n, C)
		keys := make([]int32, B*n)
		for r := range keys {
			b, p := r/n, from+r%n
			k := last[b*T+p]
			if rng.Intn(3) == 0 {
				k = int32(rng.Intn(V))
			}
			keys[r], last[b*T+p] = k, k
			for i := range C {
				x.Data[r*C+i] = emb.Data[int(k)*C+i] + pos.Data[p*C+i]
			}
		}
		want := a.ForwardStep(x, plain).Clone()
		var got *Tensor
		if round%7 == 3 {
			got = a.ForwardStep(x, keyed) // forgets what it overwrites
		} else {
			got = a.ForwardStepKeyed(x, keys, keyed)
			reused += B*n - len(keyed.missing)
		}
		if !slices.Equal(got.Data, want.Data) {
			t.Fatalf("round %d (positions %d..%d): keyed step differs from ForwardStep", round, from, from+n-1)
		}
	}
	if reused == 0 {
		t.Error("no row was taken from memory")
	}
}
