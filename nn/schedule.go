package nn

import "math"

// WarmupCosine is the learning rate for 0-based step: a linear warm-up over
// the first warmup steps, base*(step+1)/warmup, so the first step already
// moves and step warmup-1 reaches base; then a half cosine from base down
// to min over steps [warmup, total),
//
//	min + (base-min) * (1 + cos(pi * (step-warmup)/(total-warmup))) / 2,
//
// and min from step total on. Warm-up keeps Adam's early updates, whose
// second-moment estimate rests on few gradients, from being too large; the
// cosine spends most steps at a high rate and anneals smoothly at the end.
// A negative step counts as 0.
func WarmupCosine(step, warmup, total int, base, min float32) float32 {
	step = max(step, 0)
	if step < warmup {
		return float32(float64(base) * float64(step+1) / float64(warmup))
	}
	if step >= total {
		return min
	}
	progress := float64(step-warmup) / float64(total-warmup)
	return float32(float64(min) + float64(base-min)*0.5*(1+math.Cos(math.Pi*progress)))
}
