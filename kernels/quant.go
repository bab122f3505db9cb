package kernels

import (
	"fmt"
	"math"
)

// The quantizer loops of entropy.Quantize (logits to integer frequencies).
// After one float32 subtraction and multiplication per element they are
// integer arithmetic, so the AVX-512 kernels and these Go loops give the
// same results whatever their order of evaluation; the deterministic path
// (DetPath) picks between them.

// QuantMax returns the largest x[i] that is not NaN (-Inf if there is
// none) and the first index i where x[i] equals it (-1 if none).
func QuantMax(x []float32) (m float32, top int) {
	if detActive.quantMax != nil && len(x) > 0 {
		return detActive.quantMax(&x[0], len(x))
	}
	m, top = float32(math.Inf(-1)), -1
	for i, v := range x {
		if v > m {
			m, top = v, i
		}
	}
	return m, top
}

// QuantWeights sets w[i] = tab[u & 1023] >> (u >> 10) with u =
// trunc((m - x[i])*scale) where that is below 32767, and 32767 otherwise
// (NaN included), and returns the sum of the w[i]. tab's entries must be
// below 2^31.
func QuantWeights(w []uint32, x []float32, m, scale float32, tab *[1024]uint32) uint64 {
	if len(w) != len(x) {
		panic(fmt.Sprintf("kernels: QuantWeights: %d weights for %d logits", len(w), len(x)))
	}
	if detActive.quantWeights != nil && len(x) > 0 {
		return detActive.quantWeights(&w[0], &x[0], len(x), m, scale, &tab[0])
	}
	var sum uint64
	for i, v := range x {
		t := (m - v) * scale
		u := uint32(32767)
		if t < 32767 { // false for NaN
			u = uint32(t)
		}
		w[i] = tab[u&1023] >> (u >> 10)
		sum += uint64(w[i])
	}
	return sum
}

// QuantScale sets f[i] = 1 + (f[i]*r >> 32) in place (64-bit product) and
// returns the sum of the results, which must fit in 32 bits.
func QuantScale(f []uint32, r uint32) uint64 {
	if detActive.quantScale != nil && len(f) > 0 {
		return detActive.quantScale(&f[0], len(f), r)
	}
	var sum uint64
	for i, w := range f {
		f[i] = 1 + uint32(uint64(w)*uint64(r)>>32)
		sum += uint64(f[i])
	}
	return sum
}
