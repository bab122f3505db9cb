package nn

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestLayerNormGrad(t *testing.T) {
	for _, shape := range [][]int{{3, 11}, {3, 5, 11}, {2, 67, 5}} {
		rng := NewRNG(9)
		d := shape[len(shape)-1]
		ln := NewLayerNorm("ln", d)
		rng.Normal(ln.Weight.Data.Data, 1, 0.5)
		rng.Normal(ln.Bias.Data.Data, 0, 0.5)
		x := randTensor(rng, shape...)
		ln.Forward(x)
		proj := randTensor(rng, shape...)
		ZeroGrad(ln.Params())
		dx := ln.Backward(proj)
		loss := func() float64 { return Dot64(ln.Forward(x).Data, proj.Data) }
		checkGrads(t, fmt.Sprint("LayerNorm", shape), loss, append([]GradTarget{{"x", x.Data, dx.Data}}, paramTargets(ln.Params())...))
	}
}

func TestLayerNormStats(t *testing.T) {
	rng := NewRNG(10)
	ln := NewLayerNorm("ln", 9)
	x := randTensor(rng, 4, 9)
	for i := range x.Data {
		x.Data[i] = 1000 + 3*x.Data[i] // large offset: cancellation check
	}
	y := ln.Forward(x)
	for r := range 4 {
		row := y.Data[r*9 : (r+1)*9]
		var m, v float64
		for _, e := range row {
			m += float64(e)
		}
		m /= 9
		for _, e := range row {
			v += (float64(e) - m) * (float64(e) - m)
		}
		v /= 9
		if math.Abs(m) > 1e-4 || math.Abs(v-1) > 1e-3 {
			t.Errorf("row %d: mean %g var %g, want 0 and 1", r, m, v)
		}
	}
}

// TestSignFlippedBackwardFails reimplements LayerNorm's input gradient with
// one term's sign flipped, the kind of slip the checks exist for, and
// requires GradCheck to reject it while accepting the real one.
func TestSignFlippedBackwardFails(t *testing.T) {
	rng := NewRNG(11)
	d := 7
	ln := NewLayerNorm("ln", d)
	x := randTensor(rng, 5, d)
	ln.Forward(x)
	proj := randTensor(rng, 5, d)
	good := slices.Clone(ln.Backward(proj).Data)
	bad := make([]float32, len(good))
	for r := range 5 {
		xs, dy := x.Data[r*d:(r+1)*d], proj.Data[r*d:(r+1)*d]
		mean, rstd := ln.mean[r], ln.rstd[r]
		var sg, sgx float32
		for i, v := range xs {
			sg += dy[i]
			sgx += dy[i] * (v - mean) * rstd
		}
		sg, sgx = sg/float32(d), sgx/float32(d)
		for i, v := range xs {
			bad[r*d+i] = rstd * (dy[i] - sg + (v-mean)*rstd*sgx) // should be - xhat*sgx
		}
	}
	loss := func() float64 { return Dot64(ln.Forward(x).Data, proj.Data) }
	g := GradCheck(loss, []GradTarget{{"x", x.Data, good}}, NewRNG(1), 35, 1e-2)
	b := GradCheck(loss, []GradTarget{{"x", x.Data, bad}}, NewRNG(1), 35, 1e-2)
	t.Logf("correct backward: %.2e, sign-flipped backward: %.2e (%s)", g.MaxRelErr, b.MaxRelErr, b.Worst)
	if g.MaxRelErr > gradTol || b.MaxRelErr < 0.1 {
		t.Errorf("GradCheck does not separate correct (%.3g) from sign-flipped (%.3g)", g.MaxRelErr, b.MaxRelErr)
	}
}
