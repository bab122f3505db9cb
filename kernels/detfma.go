package kernels

import "math"

// FMA32 returns x*y + z rounded once to float32, as the FMA instructions
// (VFMADD*PS) compute it, on every platform. Go has no float32 FMA, and
// float32(math.FMA(x, y, z)) rounds twice (to float64, then to float32),
// which is wrong when the first rounding lands exactly on a float32 tie.
// The product of two float32s is exact in float64, so s = x*y + z in
// float64 is the exact sum rounded once; float32(s) is then correct unless
// s is a float32 tie (or in float32's subnormal range), and there s is
// replaced by its round-to-odd neighbour (s nudged one float64 ulp towards
// the exact value when s is inexact and even), which float32 rounding maps
// to the correctly rounded result (round-to-odd with 29 extra bits is
// innocuous for double rounding).
func FMA32(x, y, z float32) float32 {
	p := float64(x) * float64(y)
	s := p + float64(z)
	b := math.Float64bits(s)
	// Normal float32 range (exponent >= -126) and not a tie: one rounding.
	if b&(1<<29-1) != 1<<28 && b&(0x7ff<<52) >= (1023-126)<<52 && b&(0x7ff<<52) != 0x7ff<<52 {
		return float32(s)
	}
	return fma32Slow(p, float64(z), s)
}

func fma32Slow(p, z, s float64) float32 {
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	// TwoSum: e is the exact rounding error of s = p + z.
	bb := s - p
	e := (p - (s - bb)) + (z - bb)
	b := math.Float64bits(s)
	if e != 0 && b&1 == 0 {
		if (e > 0) == (s > 0) {
			b++
		} else {
			b--
		}
		s = math.Float64frombits(b)
	}
	return float32(s)
}

// minps and maxps are the x86 MINPS/MAXPS semantics that the assembly
// clamps use: the first operand if it compares less (greater), else the
// second, so a NaN in either position yields the second operand.
func minps(a, b float32) float32 {
	if a < b {
		return a
	}
	return b
}

func maxps(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

// sqrt32 is the correctly rounded float32 square root: float64's is
// correctly rounded and has more than 2*24+2 bits, so rounding it again
// to float32 is exact rounding of the true root.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
