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
	p := float64(x) * float64(y) // exact
	w := float64(z)
	s := p + w
	// TwoSum: e is the exact rounding error of s = p + w.
	v := s - p
	e := (p - (s - v)) + (w - v)
	b := math.Float64bits(s)
	// Round to odd: an inexact s with an even last bit moves one ulp
	// towards the exact value (e's side). Not for Inf or NaN, where e is NaN.
	if e != 0 && e == e && b&1 == 0 {
		b += 1 - 2*((math.Float64bits(e)^b)>>63)
	}
	return float32(math.Float64frombits(b))
}

// fma32Fast is FMA32's common case, small enough for the compiler to
// inline into the Go twins' inner loops: x*y + z rounded to float64 then
// float32, and ok when that single rounding is exact rounding (not a
// float32 tie, and in float32's normal range or above); otherwise the
// caller takes FMA32.
func fma32Fast(x, y, z float32) (float32, bool) {
	s := float64(x)*float64(y) + float64(z)
	b := math.Float64bits(s)
	return float32(s), b&(1<<29-1) != 1<<28 && (b>>52&0x7ff)-(1023-126) < 0x7ff-(1023-126)
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
