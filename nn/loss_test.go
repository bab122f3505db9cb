package nn

import (
	"fmt"
	"math"
	"testing"
)

func TestMSE(t *testing.T) {
	rng := NewRNG(12)
	pred, target := randTensor(rng, 3, 5, 7), randTensor(rng, 3, 5, 7)
	m := &MSE{}
	got := m.Forward(pred, target)
	var want float64
	for i := range pred.Data {
		d := float64(pred.Data[i]) - float64(target.Data[i])
		want += d * d
	}
	want /= float64(pred.Len())
	if math.Abs(float64(got)-want) > 1e-6*want {
		t.Errorf("MSE = %g, want %g", got, want)
	}
	n := float64(pred.Len())
	checkGrads(t, "MSE", func() float64 { return n * float64(m.Forward(pred, target)) },
		[]GradTarget{{"pred", pred.Data, scaled(m.Backward().Data, n)}})
}

// naiveCE is cross-entropy straight from the definition in float64,
// without the max subtraction: fine for moderate logits.
func naiveCE(logits []float64, k int, targets []int32) float64 {
	var s float64
	for r, tg := range targets {
		var z float64
		for j := range k {
			z += math.Exp(logits[r*k+j])
		}
		s += -math.Log(math.Exp(logits[r*k+int(tg)]) / z)
	}
	return s / float64(len(targets))
}

// scaled returns s*g: the losses are means, so their gradients are checked
// on the sums (loss times count), whose gradients are O(1) and well above
// GradCheck's floor, which keeps the sign-flip check meaningful.
func scaled(g []float32, s float64) []float32 {
	out := make([]float32, len(g))
	for i, v := range g {
		out[i] = float32(float64(v) * s)
	}
	return out
}

// sum64 is the summed loss in float64: the float32 mean Forward returns is
// too coarse for finite differences.
func sum64(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

func randTargets(rng *RNG, n, k int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(rng.Intn(k))
	}
	return t
}

func TestCrossEntropyMatchesNaive(t *testing.T) {
	for _, tc := range []struct{ rows, k int }{{1, 2}, {7, 5}, {13, 512}, {130, 11}} {
		rng := NewRNG(13)
		logits := randTensor(rng, tc.rows, tc.k)
		for i := range logits.Data {
			logits.Data[i] *= 1.5
		}
		targets := randTargets(rng, tc.rows, tc.k)
		l64 := make([]float64, logits.Len())
		for i, v := range logits.Data {
			l64[i] = float64(v)
		}
		ce := &CrossEntropy{}
		got, want := ce.Forward(logits, targets), naiveCE(l64, tc.k, targets)
		if math.Abs(float64(got)-want) > 1e-5*math.Max(1, want) {
			t.Errorf("rows=%d K=%d: loss %g, want %g", tc.rows, tc.k, got, want)
		}
		// LogProbs rows are normalised and RowLoss reads them.
		for r := range tc.rows {
			var s float64
			for j := range tc.k {
				s += math.Exp(float64(ce.LogProbs.Data[r*tc.k+j]))
			}
			if math.Abs(s-1) > 1e-5 {
				t.Errorf("row %d probabilities sum to %g", r, s)
			}
			if ce.RowLoss[r] != -ce.LogProbs.Data[r*tc.k+int(targets[r])] {
				t.Errorf("RowLoss[%d] disagrees with LogProbs", r)
			}
		}
		r := float64(tc.rows)
		checkGrads(t, fmt.Sprintf("CrossEntropy %dx%d", tc.rows, tc.k), func() float64 { ce.Forward(logits, targets); return sum64(ce.RowLoss) },
			[]GradTarget{{"logits", logits.Data, scaled(ce.Backward().Data, r)}})
	}
}

func TestCrossEntropyHugeLogits(t *testing.T) {
	logits := FromData([]float32{1e4, 0, -1e4, 1e4, 1e4, -3e4, -1e4, 2e4, 0}, 3, 3)
	targets := []int32{1, 0, 2}
	// exact: row 0: 1e4 - 0; row 1: log 2 + 1e4 - 1e4; row 2: 2e4 - 0
	want := (1e4 + math.Ln2 + 2e4) / 3
	ce := &CrossEntropy{}
	got := ce.Forward(logits, targets)
	if math.IsNaN(float64(got)) || math.IsInf(float64(got), 0) || math.Abs(float64(got)-want) > 1e-3 {
		t.Errorf("loss %g, want %g", got, want)
	}
	for i, v := range append(ce.Backward().Data, ce.LogProbs.Data...) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite value %g at %d", v, i)
		}
	}
	buf := make([]float32, 9)
	LogSoftmaxRows(buf, logits.Data, 3)
	if buf[4] != float32(-math.Ln2) || buf[7] != 0 {
		t.Errorf("LogSoftmaxRows gave %v", buf)
	}
}

// TestCrossEntropyNCHW checks the class-on-axis-1 layout against the row
// layout on the transposed logits, and its gradient.
func TestCrossEntropyNCHW(t *testing.T) {
	rng := NewRNG(14)
	n, k, h, w := 2, 5, 3, 7
	logits := randTensor(rng, n, k, h, w)
	targets := randTargets(rng, n*h*w, k)
	rows := NewTensor(n*h*w, k)
	for b := range n {
		for j := range k {
			for s := range h * w {
				rows.Data[(b*h*w+s)*k+j] = logits.Data[(b*k+j)*h*w+s]
			}
		}
	}
	ce, ref := &CrossEntropy{}, &CrossEntropy{}
	got, want := ce.ForwardNCHW(logits, targets), ref.Forward(rows, targets)
	if got != want {
		t.Errorf("NCHW loss %g, row-layout loss %g", got, want)
	}
	for p := range n * h * w {
		if ce.RowLoss[p] != ref.RowLoss[p] {
			t.Fatalf("RowLoss[%d] differs", p)
		}
	}
	r := float64(n * h * w)
	checkGrads(t, "CrossEntropyNCHW", func() float64 { ce.ForwardNCHW(logits, targets); return sum64(ce.RowLoss) },
		[]GradTarget{{"logits", logits.Data, scaled(ce.Backward().Data, r)}})

	defer func() {
		if recover() == nil {
			t.Error("target 5 with K=5 accepted")
		}
	}()
	targets[3] = 5
	ce.ForwardNCHW(logits, targets)
}
