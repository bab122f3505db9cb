package kernels

import (
	"fmt"
	"math"
)

// # Element-wise activations
//
// Exp, Tanh, Sigmoid, GELU, GELUGrad, TanhSigmoidGate and
// TanhSigmoidGateGrad apply one float32 approximation per element. The
// scalar functions below (Exp32, Erf32, Tanh32, Sigmoid32) are the
// reference: package nn calls them for single values, and the generic path
// runs them in loops. The AVX-512 and AVX2 kernels (act_amd64.s, generated
// by _genact) evaluate the same formulas with FMAs, so they differ from the
// generic path by a few ulps but not from each other: both paths execute the
// same IEEE operations per lane. Each path handles a tail shorter than one
// vector with masked loads and stores, so an element's result does not depend
// on where a slice was cut (and so not on GOMAXPROCS).

// Exp32 returns e^x: x = n*ln2 + r with |r| <= ln2/2, e^r by a degree-6
// Taylor polynomial (truncation error below 2e-8 relative), and 2^n put
// into the exponent bits of two factors 2^(n>>1) and 2^(n-n>>1), so that
// n = 128 (x just below ln(MaxFloat32)) still gives a finite result and x
// above it overflows to +Inf. Below -87.3 (e^x near the smallest normal)
// it returns 0 rather than denormals, which are slow in later arithmetic.
func Exp32(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	x = min(x, 88.8) // e^88.8 overflows; keeps n <= 128
	const (
		log2e = 1.4426950408889634
		ln2hi = 0.693359375 // ln2 split so n*ln2hi is exact in float32
		ln2lo = -2.12194440e-4
	)
	// Adding and subtracting 1.5*2^23 rounds to the nearest integer (ties
	// to even, as VRNDSCALEPS does) without a call to math.Floor.
	const round = 12582912
	n := (x*log2e + round) - round
	r := x - n*ln2hi - n*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	i := int32(n)
	h := i >> 1
	return p * math.Float32frombits(uint32(h+127)<<23) * math.Float32frombits(uint32(i-h+127)<<23)
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

// gelu32 is x * Phi(x) = x/2 (1 + erf(x/sqrt2)).
func gelu32(x float32) float32 { return 0.5 * x * (1 + Erf32(x*(1/math.Sqrt2))) }

// geluGrad32 is Phi(x) + x phi(x), phi the standard normal density.
func geluGrad32(x float32) float32 {
	const invSqrt2Pi = 0.3989422804014327
	return 0.5*(1+Erf32(x*(1/math.Sqrt2))) + x*invSqrt2Pi*Exp32(-0.5*x*x)
}

// actImpl is one implementation of the slice kernels; all slices have the
// length checked by the exported wrappers.
type actImpl struct {
	name     string
	exp      func(y, x []float32)
	tanh     func(y, x []float32)
	sigmoid  func(y, x []float32)
	gelu     func(y, x []float32)
	geluGrad func(dx, dy, x []float32)
	gate     func(out, t, s, a, b []float32, ca, cb float32)
	gateSeg  func(out, t, s, a, b, ca, cb []float32, seg int) // seg >= 16
	gateGrad func(da, db, dout, t, s []float32)
	adam     func(p, g, m, v []float32, c *AdamCoefs)
	// Softmax rows (softmax.go); nil: the portable loops over this path's
	// exp.
	softmax       func(s []float32) (m, inv float32)
	expShiftScale func(y, x []float32, m, inv float32)
	softmaxGrad   func(p, dp []float32)
	rowMax        func(x []float32) float32
	expSum        func(x []float32, m, scale float32) float64
	// LayerNorm rows (layernorm.go); nil: the portable loops.
	layerNorm          func(y, x, w, b []float32, eps float32) (mean, rstd float32)
	layerNormGrad      func(dx, dy, x, w []float32, mean, rstd float32)
	layerNormParamGrad func(dw, db, dy, x []float32, ld, rows int, mean, rstd []float32)
}

var genericAct = &actImpl{
	name: "generic",
	exp: func(y, x []float32) {
		for i, v := range x {
			y[i] = Exp32(v)
		}
	},
	tanh: func(y, x []float32) {
		for i, v := range x {
			y[i] = Tanh32(v)
		}
	},
	sigmoid: func(y, x []float32) {
		for i, v := range x {
			y[i] = Sigmoid32(v)
		}
	},
	gelu: func(y, x []float32) {
		for i, v := range x {
			y[i] = gelu32(v)
		}
	},
	geluGrad: func(dx, dy, x []float32) {
		for i, v := range x {
			dx[i] = dy[i] * geluGrad32(v)
		}
	},
	gate: func(out, t, s, a, b []float32, ca, cb float32) {
		for i := range out {
			tv, sv := Tanh32(a[i]+ca), Sigmoid32(b[i]+cb)
			t[i], s[i], out[i] = tv, sv, tv*sv
		}
	},
	gateSeg: func(out, t, s, a, b, ca, cb []float32, seg int) {
		for i := range out {
			tv, sv := Tanh32(a[i]+ca[i/seg]), Sigmoid32(b[i]+cb[i/seg])
			t[i], s[i], out[i] = tv, sv, tv*sv
		}
	},
	gateGrad: func(da, db, dout, t, s []float32) {
		for i := range da {
			ds := dout[i] * s[i]
			da[i] = ds * (1 - t[i]*t[i])
			db[i] = ds * t[i] * (1 - s[i])
		}
	},
	adam: adamGeneric,
}

// AdamCoefs are one step's coefficients for AdamStep (see nn.Adam).
type AdamCoefs struct {
	Decay   float32 // the decoupled weight decay's factor, 1 - lr*wd (1: none)
	W1      float32 // 1 - beta1, at most 0.5
	B2, C2  float32 // beta2 and 1 - beta2
	Bc2s    float32 // sqrt(1 - beta2^t)
	Eps     float32
	NegStep float32 // -lr / (1 - beta1^t)
}

// AdamStep applies one AdamW step to p with gradient g and moments m and v,
// rounding as torch's _single_tensor_adam does, operation by operation:
//
//	p = p*decay
//	m = m + w1*(g-m)                 (exp_avg.lerp_(grad, 1-beta1))
//	v = v*b2 + (c2*g)*g
//	p = p + negStep*(m/(sqrt(v)/bc2s + eps))
//
// each product, sum, quotient and square root rounded to float32 once. The
// vector paths run the same correctly rounded operations per lane, so every
// path gives the same bits.
func AdamStep(p, g, m, v []float32, c *AdamCoefs) {
	sameLen("AdamStep", len(p), g, m, v)
	actActive.adam(p, g, m, v, c)
}

func adamGeneric(p, g, m, v []float32, c *AdamCoefs) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j := range p {
		pj := float32(p[j] * c.Decay)
		gj := g[j]
		mj := m[j] + float32(c.W1*float32(gj-m[j]))
		vj := float32(v[j]*c.B2) + float32(float32(c.C2*gj)*gj)
		den := float32(float32(math.Sqrt(float64(vj)))/c.Bc2s) + c.Eps
		p[j] = pj + float32(c.NegStep*float32(mj/den))
		m[j] = mj
		v[j] = vj
	}
}

var (
	actAvail  = append(actAsmPaths(), genericAct) // best first
	actActive = actAvail[0]
)

// ActPath names the implementation the activation kernels use: "avx512",
// "avx2" or "generic".
func ActPath() string { return actActive.name }

// ActPaths lists the activation implementations this CPU and build support,
// best first; "generic" is always last.
func ActPaths() []string {
	var p []string
	for _, a := range actAvail {
		p = append(p, a.name)
	}
	return p
}

// SetActPath forces an activation implementation (one of ActPaths()) and
// returns a function restoring the previous one. It is for tests and
// benchmarks and must not be called while kernels are running.
func SetActPath(name string) (restore func()) {
	prev := actActive
	for _, a := range actAvail {
		if a.name == name {
			actActive = a
			return func() { actActive = prev }
		}
	}
	panic(fmt.Sprintf("kernels: SetActPath(%q): not supported here (have %v)", name, ActPaths()))
}

func sameLen(op string, n int, s ...[]float32) {
	for _, v := range s {
		if len(v) != n {
			panic(fmt.Sprintf("kernels: %s: slice lengths differ (%d and %d)", op, n, len(v)))
		}
	}
}

// Exp sets y[i] = e^x[i] (Exp32). y may be x.
func Exp(y, x []float32) {
	sameLen("Exp", len(x), y)
	actActive.exp(y, x)
}

// Tanh sets y[i] = tanh(x[i]) (Tanh32). y may be x.
func Tanh(y, x []float32) {
	sameLen("Tanh", len(x), y)
	actActive.tanh(y, x)
}

// Sigmoid sets y[i] = 1/(1+e^-x[i]) (Sigmoid32). y may be x.
func Sigmoid(y, x []float32) {
	sameLen("Sigmoid", len(x), y)
	actActive.sigmoid(y, x)
}

// GELU sets y[i] = x[i]/2 (1 + erf(x[i]/sqrt2)), the exact-erf GELU. y may
// be x.
func GELU(y, x []float32) {
	sameLen("GELU", len(x), y)
	actActive.gelu(y, x)
}

// GELUGrad sets dx[i] = dy[i] (Phi(x[i]) + x[i] phi(x[i])), the GELU's
// backward pass. dx may be dy or x.
func GELUGrad(dx, dy, x []float32) {
	sameLen("GELUGrad", len(x), dx, dy)
	actActive.geluGrad(dx, dy, x)
}

// TanhSigmoidGate computes the gated unit of a PixelCNN: t[i] = tanh(a[i]+ca),
// s[i] = sigmoid(b[i]+cb) and out[i] = t[i]*s[i], keeping t and s for the
// backward pass. ca and cb are per-channel biases (0 for none). t may be a
// and s may be b (each element is read before it is written).
func TanhSigmoidGate(out, t, s, a, b []float32, ca, cb float32) {
	sameLen("TanhSigmoidGate", len(out), t, s, a, b)
	actActive.gate(out, t, s, a, b, ca, cb)
}

// TanhSigmoidGateSeg is TanhSigmoidGate with shifts that change every seg
// elements: t[i] = tanh(a[i]+ca[i/seg]) and s[i] = sigmoid(b[i]+cb[i/seg]),
// ca and cb holding one shift per segment. A batch of images, each with
// its own class shifts, is one call with the bits of a call per image.
func TanhSigmoidGateSeg(out, t, s, a, b, ca, cb []float32, seg int) {
	n := len(out)
	sameLen("TanhSigmoidGateSeg", n, t, s, a, b)
	if seg < 1 || len(ca) != (n+seg-1)/seg || len(cb) != len(ca) {
		panic(fmt.Sprintf("kernels: TanhSigmoidGateSeg: %d and %d shifts for %d elements in segments of %d", len(ca), len(cb), n, seg))
	}
	if seg < 16 {
		// A vector may span more than two segments: a call per segment.
		for i := range ca {
			lo, hi := i*seg, min((i+1)*seg, n)
			actActive.gate(out[lo:hi], t[lo:hi], s[lo:hi], a[lo:hi], b[lo:hi], ca[i], cb[i])
		}
		return
	}
	actActive.gateSeg(out, t, s, a, b, ca, cb, seg)
}

// TanhSigmoidGateGrad is TanhSigmoidGate's backward pass from the kept t and
// s: da[i] = dout[i] s[i] (1-t[i]^2) and db[i] = dout[i] s[i] t[i] (1-s[i]).
func TanhSigmoidGateGrad(da, db, dout, t, s []float32) {
	sameLen("TanhSigmoidGateGrad", len(da), db, dout, t, s)
	actActive.gateGrad(da, db, dout, t, s)
}
