package nn

import (
	"math"
	"testing"

	"github.com/vqgen/vqgen/kernels"
)

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func TestDetLinearMatchesLinear(t *testing.T) {
	rng := NewRNG(1)
	l := NewLinear("l", 37, 70, true, rng)
	x := NewTensor(5, 37)
	rng.Normal(x.Data, 0, 1)
	want := l.Forward(x)
	d := NewDetLinear(l)
	y := make([]float32, 5*70)
	d.Forward(y, x.Data, 5)
	closeTo(t, "DetLinear", y, want.Data, 1e-5)
	// ForwardAdd adds onto y.
	res := make([]float32, 5*70)
	for i := range res {
		res[i] = float32(i)
	}
	d.ForwardAdd(res, x.Data, 5)
	for i := range res {
		res[i] -= float32(i)
	}
	closeTo(t, "DetLinear.ForwardAdd", res, want.Data, 1e-4)
}

func TestDetLayerNormMatchesLayerNorm(t *testing.T) {
	rng := NewRNG(2)
	ln := NewLayerNorm("ln", 128)
	rng.Normal(ln.Weight.Data.Data, 1, 0.1)
	rng.Normal(ln.Bias.Data.Data, 0, 0.1)
	x := NewTensor(6, 128)
	rng.Normal(x.Data, 3, 2)
	want := ln.Forward(x)
	y := make([]float32, len(x.Data))
	DetLayerNormRows(y, x.Data, ln, 6)
	closeTo(t, "DetLayerNormRows", y, want.Data, 1e-5)
}

// TestDetAttentionMatchesForward steps a DetAttention through every
// position and compares with the training path's full forward pass.
func TestDetAttentionMatchesForward(t *testing.T) {
	rng := NewRNG(3)
	const B, T, C, H = 3, 11, 64, 4
	a := NewCausalSelfAttention("a", C, H, rng)
	x := NewTensor(B, T, C)
	rng.Normal(x.Data, 0, 1)
	want := a.Forward(x)
	d := NewDetAttention(a)
	c := d.NewKVCache(B, T)
	c.Reset(B)
	h := make([]float32, B*C)
	for p := range T {
		for b := range B {
			copy(h[b*C:(b+1)*C], x.Data[(b*T+p)*C:])
		}
		out := make([]float32, B*C)
		d.SpanAdd(out, h, 1, c)
		for b := range B {
			// Keys and values are cached in half precision (11 bits).
			closeTo(t, "DetAttention step", out[b*C:(b+1)*C], want.Data[(b*T+p)*C:(b*T+p+1)*C], 2e-3)
		}
	}
}

// TestDetAttentionBatchInvariant: a sequence's outputs are the same bits
// whatever else is in the batch and whatever kernel path runs.
func TestDetAttentionBatchInvariant(t *testing.T) {
	rng := NewRNG(4)
	const T, C, H = 9, 32, 2
	a := NewCausalSelfAttention("a", C, H, rng)
	d := NewDetAttention(a)
	seqs := make([][]float32, 4)
	for i := range seqs {
		seqs[i] = make([]float32, T*C)
		rng.Normal(seqs[i], 0, 1)
	}
	run := func(idx []int) [][]float32 {
		c := d.NewKVCache(len(idx), T)
		c.Reset(len(idx))
		outs := make([][]float32, len(idx))
		h := make([]float32, len(idx)*C)
		for p := range T {
			for j, s := range idx {
				copy(h[j*C:(j+1)*C], seqs[s][p*C:])
			}
			x := make([]float32, len(idx)*C)
			d.SpanAdd(x, h, 1, c)
			for j := range idx {
				outs[j] = append(outs[j], x[j*C:(j+1)*C]...)
			}
		}
		return outs
	}
	ref := run([]int{0, 1, 2, 3})
	for _, path := range kernels.DetPaths() {
		restore := kernels.SetDetPath(path)
		for _, idx := range [][]int{{2}, {3, 0}, {1, 2, 3, 0}} {
			got := run(idx)
			for j, s := range idx {
				for i := range got[j] {
					if math.Float32bits(got[j][i]) != math.Float32bits(ref[s][i]) {
						t.Fatalf("path %s, batch %v: sequence %d differs at %d", path, idx, s, i)
					}
				}
			}
		}
		restore()
	}
}

// TestDetAttentionSpansEqualStepped: however a sequence's positions are
// cut into spans (whole, one at a time, uneven pieces), the outputs are
// the same bits, and a truncated cache continues as if the dropped
// positions had never been seen.
func TestDetAttentionSpansEqualStepped(t *testing.T) {
	rng := NewRNG(5)
	const B, T, C, H = 3, 20, 64, 2
	a := NewCausalSelfAttention("a", C, H, rng)
	d := NewDetAttention(a)
	h := make([]float32, B*T*C)
	rng.Normal(h, 0, 1)
	x0 := make([]float32, B*T*C)
	rng.Normal(x0, 0, 1)
	// run feeds the positions in spans of the given lengths and returns
	// x [B, T, C] afterwards.
	run := func(spans []int, rewind bool) []float32 {
		c := d.NewKVCache(B, T)
		c.Reset(B)
		out := append([]float32(nil), x0...)
		from := 0
		for _, l := range spans {
			if rewind && from >= 2 {
				// A detour of two positions with other inputs, then back.
				junk := make([]float32, B*2*C)
				rng.Normal(junk, 0, 1)
				d.SpanAdd(make([]float32, B*2*C), junk, 2, c)
				c.Truncate(from)
			}
			hs, xs := make([]float32, B*l*C), make([]float32, B*l*C)
			for b := range B {
				copy(hs[b*l*C:(b+1)*l*C], h[(b*T+from)*C:(b*T+from+l)*C])
				copy(xs[b*l*C:(b+1)*l*C], out[(b*T+from)*C:(b*T+from+l)*C])
			}
			d.SpanAdd(xs, hs, l, c)
			for b := range B {
				copy(out[(b*T+from)*C:(b*T+from+l)*C], xs[b*l*C:(b+1)*l*C])
			}
			from += l
		}
		return out
	}
	ones := make([]int, T)
	for i := range ones {
		ones[i] = 1
	}
	want := run([]int{T}, false)
	for _, tc := range []struct {
		spans  []int
		rewind bool
	}{{ones, false}, {[]int{3, 1, 7, 9}, false}, {[]int{5, 5, 5, 5}, true}, {ones[:T-4], true}} {
		spans := tc.spans
		if sum := func() (n int) {
			for _, l := range spans {
				n += l
			}
			return
		}(); sum < T {
			spans = append(append([]int(nil), spans...), T-sum)
		}
		got := run(spans, tc.rewind)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("spans %v (rewind %v): value %d is %g, whole span %g", spans, tc.rewind, i, got[i], want[i])
			}
		}
	}
}
