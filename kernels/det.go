package kernels

// # Deterministic numerics
//
// The Det* kernels compute a Transformer's inference step so that every
// result is the same bits on every machine, whatever kernel path runs
// (AVX-512, AVX2, or the portable Go loops in this file) and however the
// work is split: each output element is one fixed sequence of IEEE 754
// float32 operations (add, multiply, divide, square root, min/max with x86
// semantics, and fused multiply-add rounded once), which the assembly
// executes lane by lane and the Go twins below execute with FMA32 for the
// fused steps and explicit float32 conversions everywhere else (Go may fuse
// x*y+z into one rounding on some targets unless a conversion intervenes).
// Prior coding (stage2_prior/coding) depends on this: the decoder must
// rebuild the encoder's probabilities bit for bit.
//
// The sequences, per element (fma(a, b, c) = a*b + c rounded once):
//
//	DetLinear     acc = 0; acc = fma(x[i,p], W[j,p], acc) for p = 0..K-1;
//	              y = acc + bias[j]; with a residual, y = res[i,j] + y.
//	DetLayerNorm  16 lane sums S_l = ((0 + x_l) + x_{l+16}) + ...; the
//	              tree S_l += S_{l+8}, then +4, +2, +1 gives the total;
//	              mean = total/D; the same over (x_i-mean)*(x_i-mean) (a
//	              product, then a sum) gives v; rs = 1/sqrt(v/D + eps);
//	              y = ((x - mean)*rs)*g + b, each step rounded.
//	DetGELU       DetExp's and DetGELU's Horner steps in detGELU below.
//	DetHalf       round to nearest even half precision (IEEE binary16);
//	              keys and values are cached so, which halves the memory
//	              that stepping streams.
//	DetAttention  keys and values in half precision, widened exactly; per
//	              key j: 16 lanes of fma chains over the dims d = l mod 16
//	              of q_d k_jd, summed by the lane tree above, times scale;
//	              the maximum and the sum of e_j = DetExp(s_j - max) in 16
//	              lanes (key j in lane j mod 16) then the tree; p_j = e_j *
//	              (1/sum); out[c] = fma chain over j of p_j * v[j, c].
//
// Changing any of these changes the bits that coded files were written
// with: the pinned digests in det_test.go fail, and the prior-coding
// numerics version must be bumped. Like the rest of this package, the
// kernels trust their callers for shapes; the exported wrappers check
// lengths.

import (
	"fmt"
	"math"
	"os"
	"sync"
)

// detImpl is one implementation of the deterministic kernels.
type detImpl struct {
	name string
	// mr x nr is the GEMM tile; nr is the width of the packed weight
	// panels. The Go twin uses the natural layout (nr = 0).
	mr, nr int
	linear func(y []float32, ldy int, x []float32, ldx int, rows int, w *DetWeights, res []float32, ldr int)
	norm   func(y, x []float32, rows, d int, g, b []float32, eps float32)
	gelu   func(y, x []float32)
	attn   func(out, q []float32, k, v []uint16, n, heads, hs, ldk, ldv int, scale float32, p []float32)
	half   func(dst []uint16, src []float32)
	// The quantizer's loops (quant.go); nil selects the Go loops.
	quantMax     func(x *float32, n int) (float32, int)
	quantWeights func(w *uint32, x *float32, n int, m, scale float32, tab *uint32) uint64
	quantScale   func(f *uint32, n int, r uint32) uint64
}

var detGeneric = &detImpl{
	name:   "generic",
	linear: detLinearGo,
	norm:   detLayerNormGo,
	gelu: func(y, x []float32) {
		for i, v := range x {
			y[i] = detGELU(v)
		}
	},
	attn: detAttentionGo,
	half: detHalfGo,
}

var (
	detAvail  = append(detAsmPaths(), detGeneric) // best first
	detActive = detInitPath()
)

// DetPathEnv names the environment variable that forces a deterministic
// kernel path at start-up ("avx512", "avx2" or "generic"); tests and CI
// use it to check that every path decodes the same files.
const DetPathEnv = "VQGEN_DET_PATH"

func detInitPath() *detImpl {
	name := os.Getenv(DetPathEnv)
	if name == "" {
		return detAvail[0]
	}
	for _, d := range detAvail {
		if d.name == name {
			return d
		}
	}
	panic(fmt.Sprintf("kernels: %s=%q: not supported here (have %v)", DetPathEnv, name, DetPaths()))
}

// DetPath names the implementation the Det* kernels use.
func DetPath() string { return detActive.name }

// DetPaths lists the deterministic implementations this CPU and build
// support, best first; "generic" is always last. All give the same bits.
func DetPaths() []string {
	var p []string
	for _, d := range detAvail {
		p = append(p, d.name)
	}
	return p
}

// SetDetPath forces a deterministic implementation (one of DetPaths()) and
// returns a function restoring the previous one. It is for tests and
// benchmarks and must not be called while kernels are running.
func SetDetPath(name string) (restore func()) {
	prev := detActive
	for _, d := range detAvail {
		if d.name == name {
			detActive = d
			return func() { detActive = prev }
		}
	}
	panic(fmt.Sprintf("kernels: SetDetPath(%q): not supported here (have %v)", name, DetPaths()))
}

// DetWeights is a Linear layer's weight W [N, K] (row j holds output j's
// weights, as nn.Linear stores them) and bias [N], copied and packed for
// DetLinear. It is safe for concurrent use.
type DetWeights struct {
	N, K int
	w    []float32 // [N, K]
	bias []float32 // [N] (zeros without a bias)
	mu   sync.Mutex
	pack map[int]*detPacked // by panel width nr
}

// detPacked holds W in panels of nr columns, k-major: panel q holds, for
// each p, the weights W[q*nr + c][p] for c < nr (zero past N); and the
// bias zero-padded to whole panels.
type detPacked struct {
	w    []float32
	bias []float32
}

// NewDetWeights copies w [n*k] and bias [n] (nil: no bias).
func NewDetWeights(w, bias []float32, n, k int) *DetWeights {
	if n < 1 || k < 1 || len(w) != n*k || (bias != nil && len(bias) != n) {
		panic(fmt.Sprintf("kernels: NewDetWeights: %d weights and %d biases for %d x %d", len(w), len(bias), n, k))
	}
	d := &DetWeights{N: n, K: k, w: append([]float32(nil), w...), bias: make([]float32, n)}
	copy(d.bias, bias)
	return d
}

// packed returns the weights in panels of nr columns, packing them on
// first use.
func (d *DetWeights) packed(nr int) *detPacked {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.pack[nr]; p != nil {
		return p
	}
	panels := (d.N + nr - 1) / nr
	p := &detPacked{w: make([]float32, panels*nr*d.K), bias: make([]float32, panels*nr)}
	copy(p.bias, d.bias)
	for q := range panels {
		dst := p.w[q*nr*d.K:]
		for c := range nr {
			j := q*nr + c
			if j >= d.N {
				break
			}
			for k, v := range d.w[j*d.K : (j+1)*d.K] {
				dst[k*nr+c] = v
			}
		}
	}
	if d.pack == nil {
		d.pack = map[int]*detPacked{}
	}
	d.pack[nr] = p
	return p
}

// DetLinear sets y[i, j] = sum_p x[i, p] W[j, p] + bias[j] for i < rows
// and j < w.N, plus res[i, j] when res is not nil, in the order the
// package comment gives. Rows are strided: x by ldx >= K, y by ldy >= N,
// res by ldr >= N. y may be res (the residual update x += f(x)) but must
// not overlap x.
func DetLinear(y []float32, ldy int, x []float32, ldx int, rows int, w *DetWeights, res []float32, ldr int) {
	if rows < 0 || ldx < w.K || ldy < w.N || (res != nil && ldr < w.N) {
		panic(fmt.Sprintf("kernels: DetLinear: %d rows, ldx %d, ldy %d, ldr %d for %d x %d weights", rows, ldx, ldy, ldr, w.N, w.K))
	}
	if rows == 0 {
		return
	}
	need := func(s []float32, ld, cols int) int { return (rows-1)*ld + cols }
	if len(x) < need(x, ldx, w.K) || len(y) < need(y, ldy, w.N) || (res != nil && len(res) < need(res, ldr, w.N)) {
		panic(fmt.Sprintf("kernels: DetLinear: slices of %d, %d, %d floats too short for %d rows", len(x), len(y), len(res), rows))
	}
	addFLOPs(rows, w.N, w.K)
	detActive.linear(y, ldy, x, ldx, rows, w, res, ldr)
}

func detLinearGo(y []float32, ldy int, x []float32, ldx int, rows int, w *DetWeights, res []float32, ldr int) {
	n, k := w.N, w.K
	out := func(i, j int, acc float32) {
		v := acc + w.bias[j]
		if res != nil {
			v = res[i*ldr+j] + v
		}
		y[i*ldy+j] = v
	}
	for i := range rows {
		xi := x[i*ldx : i*ldx+k]
		j := 0
		// Four outputs at a time: four independent chains keep the FPU
		// busy (one chain waits on each FMA32's latency); each output's
		// own chain is unchanged.
		for ; j+4 <= n; j += 4 {
			w0, w1, w2, w3 := w.w[j*k:(j+1)*k], w.w[(j+1)*k:(j+2)*k], w.w[(j+2)*k:(j+3)*k], w.w[(j+3)*k:(j+4)*k]
			var a0, a1, a2, a3 float32
			for p, a := range xi {
				r0, ok0 := fma32Fast(a, w0[p], a0)
				r1, ok1 := fma32Fast(a, w1[p], a1)
				r2, ok2 := fma32Fast(a, w2[p], a2)
				r3, ok3 := fma32Fast(a, w3[p], a3)
				if !(ok0 && ok1 && ok2 && ok3) {
					r0, r1, r2, r3 = FMA32(a, w0[p], a0), FMA32(a, w1[p], a1), FMA32(a, w2[p], a2), FMA32(a, w3[p], a3)
				}
				a0, a1, a2, a3 = r0, r1, r2, r3
			}
			out(i, j, a0)
			out(i, j+1, a1)
			out(i, j+2, a2)
			out(i, j+3, a3)
		}
		for ; j < n; j++ {
			wj := w.w[j*k : (j+1)*k]
			var acc float32
			for p, a := range xi {
				acc = FMA32(a, wj[p], acc)
			}
			out(i, j, acc)
		}
	}
}

// DetLayerNorm normalises each of rows rows of x [rows, d] into y (y may
// be x): y = (x - mean)/sqrt(var + eps) * g + b, in the order of the
// package comment.
func DetLayerNorm(y, x []float32, rows, d int, g, b []float32, eps float32) {
	if rows < 0 || d < 1 || len(x) < rows*d || len(y) < rows*d || len(g) != d || len(b) != d {
		panic(fmt.Sprintf("kernels: DetLayerNorm: %d, %d floats for %d rows of %d, gain %d, bias %d", len(x), len(y), rows, d, len(g), len(b)))
	}
	detActive.norm(y, x, rows, d, g, b, eps)
}

// laneTree sums 16 lanes as the vector kernels do: lane l += lane l+8,
// then l+4, l+2, l+1.
func laneTree(s *[16]float32) float32 {
	for w := 8; w >= 1; w /= 2 {
		for l := range w {
			s[l] = s[l] + s[l+w]
		}
	}
	return s[0]
}

func detLayerNormGo(y, x []float32, rows, d int, g, b []float32, eps float32) {
	fd := float32(d)
	for r := range rows {
		xr, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
		var s [16]float32
		for i, v := range xr {
			s[i%16] = s[i%16] + v
		}
		mean := laneTree(&s) / fd
		s = [16]float32{}
		for i, v := range xr {
			c := v - mean
			s[i%16] = s[i%16] + float32(c*c)
		}
		v := laneTree(&s)/fd + eps
		rs := 1 / sqrt32(v)
		for i, v := range xr {
			c := v - mean
			c = float32(c * rs)
			yr[i] = float32(c*g[i]) + b[i]
		}
	}
}

// DetGELU sets y[i] = GELU(x[i]) (exact-erf form) by detGELU. y may be x.
func DetGELU(y, x []float32) {
	sameLen("DetGELU", len(x), y)
	detActive.gelu(y, x)
}

// Constants of DetExp and DetGELU; their float32 values are part of the
// numerics.
const (
	detLog2e    float32 = 1.4426950408889634
	detLn2hi    float32 = 0.693359375
	detLn2lo    float32 = -2.12194440e-4
	detExpMax   float32 = 88.8
	detExpMin   float32 = -87.3
	detInvSqrt2 float32 = 1 / math.Sqrt2
)

var (
	detExpC = [...]float32{1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1}
	detErfP = [...]float32{-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
		-5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02}
	detErfQ = [...]float32{-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
		-7.37332916720468e-03, -1.42647390514189e-02}
)

// DetExp returns e^x: x clamped to [-87.3, 88.8], n = round-to-even(x
// log2e), r = x - n ln2 in two FMAs, e^r by Horner FMAs over the Taylor
// coefficients 1/720 .. 1/2, 1, 1, scaled by 2^(n>>1) then 2^(n - n>>1),
// and 0 where x < -87.3.
func DetExp(x float32) float32 {
	xc := maxps(detExpMin, minps(detExpMax, x))
	n := float32(math.RoundToEven(float64(float32(xc * detLog2e))))
	r := FMA32(-n, detLn2hi, xc)
	r = FMA32(-n, detLn2lo, r)
	p := detExpC[0]
	for _, c := range detExpC[1:] {
		p = FMA32(p, r, c)
	}
	if x < detExpMin {
		return 0
	}
	if n != n {
		return p // NaN
	}
	i := int32(n)
	h := i >> 1
	p = float32(p * math.Float32frombits(uint32(h+127)<<23))
	return float32(p * math.Float32frombits(uint32(i-h+127)<<23))
}

// detGELU is x/2 (1 + erf(x/sqrt2)) with erf by Eigen's rational
// approximation on [-4, 4]: u = clamp(x*(1/sqrt2)), Horner FMAs in u^2
// for the numerator (times u) and denominator, a division, and
// fma(x/2, erf, x/2).
func detGELU(x float32) float32 {
	u := maxps(-4, minps(4, float32(x*detInvSqrt2)))
	u2 := float32(u * u)
	p := detErfP[0]
	for _, c := range detErfP[1:] {
		p = FMA32(p, u2, c)
	}
	p = float32(u * p)
	q := detErfQ[0]
	for _, c := range detErfQ[1:] {
		q = FMA32(q, u2, c)
	}
	e := p / q
	h := float32(x * 0.5)
	return FMA32(h, e, h)
}

// DetAttention computes one query's causal attention over n cached keys
// for each of heads heads of size hs: q [heads*hs]; key j's dim d of head h
// at k[j*ldk + h*hs + d], its value at v[j*ldv + h*hs + d], both in half
// precision (DetHalf); out [heads*hs]; p scratch of at least
// heads*roundup(n, 16) floats (left holding the probabilities, head h's at
// p[h*roundup(n, 16):]). The order of operations is the package
// comment's.
func DetAttention(out, q []float32, k, v []uint16, n, heads, hs, ldk, ldv int, scale float32, p []float32) {
	c := heads * hs
	if n < 1 || heads < 1 || hs < 1 || ldk < c || ldv < c || len(out) < c || len(q) < c ||
		len(k) < (n-1)*ldk+c || len(v) < (n-1)*ldv+c || len(p) < heads*detPStride(n) {
		panic(fmt.Sprintf("kernels: DetAttention: n %d, heads %d, hs %d, ldk %d, ldv %d; lengths out %d q %d k %d v %d p %d",
			n, heads, hs, ldk, ldv, len(out), len(q), len(k), len(v), len(p)))
	}
	detActive.attn(out, q, k, v, n, heads, hs, ldk, ldv, scale, p)
}

// detPStride is the stride of a head's probabilities in DetAttention's
// scratch: n rounded up to whole blocks of 16.
func detPStride(n int) int { return (n + 15) / 16 * 16 }

// DetHalf sets dst[i] to src[i] rounded to half precision (IEEE binary16,
// to nearest even; NaNs quieted as x86's VCVTPS2PH does).
func DetHalf(dst []uint16, src []float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("kernels: DetHalf: %d halves for %d floats", len(dst), len(src)))
	}
	detActive.half(dst, src)
}

func detHalfGo(dst []uint16, src []float32) {
	for i, x := range src {
		dst[i] = F32ToF16(x)
	}
}

// F32ToF16 rounds x to the nearest binary16 value, ties to even, as x86's
// VCVTPS2PH with rounding control 0 does: overflow to infinity, results
// below binary16's range to (signed) zero or its subnormals, and a NaN to
// the quiet NaN with x's sign and the top 9 bits of its payload.
func F32ToF16(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff && man != 0:
		return sign | 0x7e00 | uint16(man>>13)
	case exp == 0xff || exp >= 127+16:
		return sign | 0x7c00 // infinity, or at least 2^16: beyond rounding to 65504
	case exp >= 127-14: // normal binary16 (possibly rounding up to infinity)
		r := uint32(exp-127+15)<<10 | man>>13
		rem := man & 0x1fff
		if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	// Subnormal binary16: units of 2^-24.
	m := man | 0x800000 // value = m * 2^(exp-150)
	shift := uint(126 - exp)
	if exp == 0 || shift > 24 {
		return sign // below half the smallest subnormal (float32 subnormals included)
	}
	r := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && r&1 == 1 {
		r++
	}
	return sign | uint16(r)
}

// F16ToF32 widens a binary16 value exactly, as VCVTPH2PS does (a NaN keeps
// its payload and becomes quiet).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f && man != 0:
		return math.Float32frombits(sign | 0x7fc00000 | man<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0:
		v := float32(man) * (1.0 / (1 << 24)) // exact
		return math.Float32frombits(math.Float32bits(v) | sign)
	}
	return math.Float32frombits(sign | (exp-15+127)<<23 | man<<13)
}

func detAttentionGo(out, q []float32, k, v []uint16, n, heads, hs, ldk, ldv int, scale float32, p []float32) {
	ninf := float32(math.Inf(-1))
	ps := detPStride(n)
	for h := range heads {
		qh := q[h*hs : (h+1)*hs]
		ph := p[h*ps : h*ps+n]
		for j := range n {
			kj := k[j*ldk+h*hs : j*ldk+(h+1)*hs]
			var lane [16]float32
			for d, qd := range qh {
				lane[d%16] = FMA32(qd, F16ToF32(kj[d]), lane[d%16])
			}
			ph[j] = float32(laneTree(&lane) * scale)
		}
		m := [16]float32{ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf}
		for j, s := range ph {
			m[j%16] = maxps(m[j%16], s)
		}
		for w := 8; w >= 1; w /= 2 {
			for l := range w {
				m[l] = maxps(m[l], m[l+w])
			}
		}
		var z [16]float32
		for j, s := range ph {
			e := DetExp(s - m[0])
			ph[j] = e
			z[j%16] = z[j%16] + e
		}
		inv := 1 / laneTree(&z)
		for j := range ph {
			ph[j] = float32(ph[j] * inv)
		}
	}
	for h := range heads {
		ph := p[h*ps : h*ps+n]
		for d := h * hs; d < (h+1)*hs; d++ {
			var o float32
			for j, pj := range ph {
				o = FMA32(pj, F16ToF32(v[j*ldv+d]), o)
			}
			out[d] = o
		}
	}
}
