package nn

import (
	"fmt"
	"math"
)

// GradTarget names a float32 slice that a finite-difference check perturbs
// (an input or a parameter's data) and the analytic gradient it is compared
// with.
type GradTarget struct {
	Name string
	X, G []float32
}

// GradCheckResult is the worst disagreement GradCheck found.
type GradCheckResult struct {
	MaxRelErr float64
	Worst     string // "target[index]: analytic a, numeric n"
}

// GradCheck compares analytic gradients with central differences of loss,
// which must recompute the scalar loss from scratch (in float64) each call.
// The analytic gradients in targets must already hold dLoss/dX. It checks up
// to samples entries of each target, chosen with rng, and reports the largest
// relative error |a-n| / max(|a|+|n|, floor), where floor keeps entries
// with a near-zero gradient from dominating.
func GradCheck(loss func() float64, targets []GradTarget, rng *RNG, samples int, eps float32) GradCheckResult {
	const floor = 1e-2
	var res GradCheckResult
	for _, t := range targets {
		if len(t.X) != len(t.G) {
			panic(fmt.Sprintf("nn: GradCheck %s: %d values but %d gradients", t.Name, len(t.X), len(t.G)))
		}
		idx := rng.Perm(len(t.X))
		if len(idx) > samples {
			idx = idx[:samples]
		}
		for _, i := range idx {
			orig := t.X[i]
			t.X[i] = orig + eps
			lp := loss()
			t.X[i] = orig - eps
			lm := loss()
			t.X[i] = orig
			num := (lp - lm) / (2 * float64(eps))
			a := float64(t.G[i])
			rel := math.Abs(a-num) / math.Max(math.Abs(a)+math.Abs(num), floor)
			if rel > res.MaxRelErr || math.IsNaN(rel) {
				res.MaxRelErr = rel
				res.Worst = fmt.Sprintf("%s[%d]: analytic %.6g, numeric %.6g", t.Name, i, a, num)
			}
		}
	}
	return res
}

// Dot64 returns sum(a[i]*b[i]) in float64: the projection that turns a
// layer's output into a scalar loss for gradient checks.
func Dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
