package nn

import "time"

// Conv3x3BenchFLOP is the work of one BenchConv3x3 step: forward, input
// gradient and weight gradient, each 2*N*OutC*(InC*9)*(H*W) flops.
const Conv3x3BenchFLOP = 3 * 2 * 32 * 64 * (64 * 9) * (16 * 16)

// Conv3x3Bench is the reference convolution workload: 64 -> 64 channels,
// 3x3, padding 1, 16x16 images, batch 32, one forward and one backward pass
// (input and weight gradients) per step, on all cores.
type Conv3x3Bench struct {
	conv  *Conv2d
	x, dy *Tensor
}

// NewConv3x3Bench builds the workload with seeded random data.
func NewConv3x3Bench() *Conv3x3Bench {
	rng := NewRNG(1)
	b := &Conv3x3Bench{conv: NewConv2d("bench", 64, 64, 3, 1, 1, true, rng),
		x: NewTensor(32, 64, 16, 16), dy: NewTensor(32, 64, 16, 16)}
	rng.Normal(b.x.Data, 0, 1)
	rng.Normal(b.dy.Data, 0, 1)
	return b
}

// Step runs one forward and backward pass.
func (b *Conv3x3Bench) Step() {
	b.conv.Forward(b.x)
	b.conv.Backward(b.dy)
}

// BenchConv3x3 runs Conv3x3Bench steps for at least minDur after one warm-up
// step and returns the mean milliseconds per step and GFLOP/s.
func BenchConv3x3(minDur time.Duration) (msPerStep, gflops float64) {
	b := NewConv3x3Bench()
	b.Step()
	b.conv.Weight.Grad.Zero()
	steps := 0
	start := time.Now()
	for time.Since(start) < minDur || steps == 0 {
		b.Step()
		steps++
	}
	sec := time.Since(start).Seconds() / float64(steps)
	return sec * 1e3, Conv3x3BenchFLOP / sec / 1e9
}
