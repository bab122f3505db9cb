package nn

import (
	"math"
	"math/rand/v2"
)

// RNG is the seeded random source used everywhere in vqgen. It wraps PCG from
// math/rand/v2, whose output is specified, so a seed gives the same stream on
// every platform and Go release.
type RNG struct{ r *rand.Rand }

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	return &RNG{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Split returns an independent generator derived from this one, for giving
// each component its own stream.
func (g *RNG) Split() *RNG { return NewRNG(g.r.Uint64()) }

// Uint64 returns a uniform 64-bit value.
func (g *RNG) Uint64() uint64 { return g.r.Uint64() }

// Float32 returns a uniform value in [0, 1).
func (g *RNG) Float32() float32 { return g.r.Float32() }

// Float64 returns a uniform value in [0, 1).
func (g *RNG) Float64() float64 { return g.r.Float64() }

// Norm returns a standard normal value.
func (g *RNG) Norm() float32 { return float32(g.r.NormFloat64()) }

// Intn returns a uniform int in [0, n).
func (g *RNG) Intn(n int) int { return g.r.IntN(n) }

// Perm returns a random permutation of [0, n).
func (g *RNG) Perm(n int) []int { return g.r.Perm(n) }

// Shuffle shuffles n elements with swap.
func (g *RNG) Shuffle(n int, swap func(i, j int)) { g.r.Shuffle(n, swap) }

// Uniform fills x with values uniform in [lo, hi).
func (g *RNG) Uniform(x []float32, lo, hi float32) {
	for i := range x {
		x[i] = lo + (hi-lo)*g.r.Float32()
	}
}

// Normal fills x with values from N(mean, std^2).
func (g *RNG) Normal(x []float32, mean, std float32) {
	for i := range x {
		x[i] = mean + std*float32(g.r.NormFloat64())
	}
}

// KaimingUniform fills w the way PyTorch initialises Conv and Linear weights
// by default (kaiming_uniform_ with a = sqrt(5)): U(-b, b) with
// b = 1/sqrt(fanIn). PyTorch's default bias init uses the same bound.
func (g *RNG) KaimingUniform(w []float32, fanIn int) {
	b := float32(1 / math.Sqrt(float64(fanIn)))
	g.Uniform(w, -b, b)
}
