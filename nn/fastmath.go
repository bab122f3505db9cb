package nn

import "math"

// Element-wise activations run over every hidden unit of every position, so
// calling float64 math.Exp and math.Erf there costs more than the matrix
// products around them (a profile of the Transformer prior showed 58% of a
// training step in GELU). These float32 versions are accurate to a few ulps
// (tests bound them against the float64 functions) and cheap enough to
// vectorise.

// Exp32 returns e^x: x = n*ln2 + r with |r| <= ln2/2, e^r by a degree-6
// Taylor polynomial (truncation error below 2e-8 relative), and 2^n put
// straight into the exponent bits.
func Exp32(x float32) float32 {
	switch {
	case x > 88.72:
		return float32(math.Inf(1))
	case x < -87.3:
		return 0
	}
	const (
		log2e = 1.4426950408889634
		ln2hi = 0.693359375 // ln2 split so n*ln2hi is exact in float32
		ln2lo = -2.12194440e-4
	)
	// Adding and subtracting 1.5*2^23 rounds to the nearest integer in
	// float32 arithmetic, without a call to math.Floor.
	const round = 12582912
	n := (x*log2e + round) - round
	r := x - n*ln2hi - n*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// Erf32 returns erf(x) by the rational approximation Eigen and TensorFlow
// use for float32 (odd degree-13 numerator over even degree-8 denominator on
// [-4, 4], where erf is within float32 rounding of +-1 outside).
func Erf32(x float32) float32 {
	x = min(max(x, -4), 4)
	x2 := x * x
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p - 2.10102402082508e-06
	p = x2*p - 5.69250639462346e-05
	p = x2*p - 7.34990630326855e-04
	p = x2*p - 2.95459980854025e-03
	p = x2*p - 1.60960333262415e-02
	p *= x
	q := x2*-1.45660718464996e-05 - 2.13374055278905e-04
	q = x2*q - 1.68282697438203e-03
	q = x2*q - 7.37332916720468e-03
	q = x2*q - 1.42647390514189e-02
	return p / q
}

// Tanh32 returns tanh(x) = 1 - 2/(e^(2x)+1), odd-symmetric; absolute error
// stays near float32 rounding, which is what a gate needs.
func Tanh32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < 0.0004 { // tanh x = x - x^3/3 + ..., exact to float32 here
		return x
	}
	t := 1 - 2/(Exp32(2*a)+1)
	if x < 0 {
		return -t
	}
	return t
}

// Sigmoid32 returns 1/(1+e^-x).
func Sigmoid32(x float32) float32 { return 1 / (1 + Exp32(-x)) }
