package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sweep returns n float32s evenly spaced over [lo, hi].
func sweep(lo, hi float64, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*float64(i)/float64(n-1))
	}
	return x
}

// actCase evaluates one kernel on inputs drawn from [lo, hi] (second input,
// where there is one, from the same range) into outputs.
type actCase struct {
	name   string
	lo, hi float64
	run    func(out [][]float32, in [][]float32)
	nIn    int
	nOut   int
	ref    func(in []float64) []float64 // float64 truth
	absTol float64                      // error bound against ref: absTol + relTol*|ref|
	relTol float64
	// scale is the magnitude below which a kernel's error is absolute
	// rather than relative (the size of the terms that cancel); vector
	// paths must agree with generic within 4 ulps of |value|+scale.
	scale func(in []float32) float64
}

func one([]float32) float64     { return 1 }
func zero([]float32) float64    { return 0 }
func absX(in []float32) float64 { return math.Abs(float64(in[0])) }

var actCases = []actCase{
	{"Exp", -87.29, 88.7, // below -87.3 it flushes to 0 (TestActSpecialValues)
		func(o, i [][]float32) { Exp(o[0], i[0]) }, 1, 1,
		func(x []float64) []float64 { return []float64{math.Exp(x[0])} }, 0, 4e-7, zero},
	{"Tanh", -12, 12, func(o, i [][]float32) { Tanh(o[0], i[0]) }, 1, 1,
		func(x []float64) []float64 { return []float64{math.Tanh(x[0])} }, 3e-7, 0, one},
	{"Sigmoid", -30, 30, func(o, i [][]float32) { Sigmoid(o[0], i[0]) }, 1, 1,
		func(x []float64) []float64 { return []float64{1 / (1 + math.Exp(-x[0]))} }, 1e-7, 4e-7, one},
	{"GELU", -8, 8, func(o, i [][]float32) { GELU(o[0], i[0]) }, 1, 1,
		func(x []float64) []float64 { return []float64{x[0] / 2 * (1 + math.Erf(x[0]/math.Sqrt2))} },
		// Below x = -4 sqrt2, 1+erf cancels: erf's float32 rounding
		// near -1 (6e-8), times |x|/2, is the whole result.
		1.5e-6, 4e-7, absX},
	{"GELUGrad", -8, 8, func(o, i [][]float32) { GELUGrad(o[0], i[0], i[1]) }, 2, 1,
		func(x []float64) []float64 {
			d := 0.5*(1+math.Erf(x[1]/math.Sqrt2)) + x[1]*math.Exp(-x[1]*x[1]/2)/math.Sqrt(2*math.Pi)
			return []float64{x[0] * d}
		}, 2e-6, 4e-7, func(in []float32) float64 { return math.Abs(float64(in[0])) * (1 + math.Abs(float64(in[1]))) }},
	{"TanhSigmoidGate", -10, 10, func(o, i [][]float32) { TanhSigmoidGate(o[0], o[1], o[2], i[0], i[1], 0.25, -0.5) }, 2, 3,
		func(x []float64) []float64 {
			t, s := math.Tanh(float64(float32(x[0]+0.25))), 1/(1+math.Exp(-float64(float32(x[1]-0.5))))
			return []float64{t * s, t, s}
		}, 5e-7, 4e-7, one},
	{"TanhSigmoidGateGrad", -1, 1, func(o, i [][]float32) { TanhSigmoidGateGrad(o[0], o[1], i[0], i[1], i[2]) }, 3, 2,
		func(x []float64) []float64 {
			return []float64{x[0] * x[2] * (1 - x[1]*x[1]), x[0] * x[2] * x[1] * (1 - x[2])}
		}, 1e-7, 4e-7, absX},
}

// inputs builds nIn input slices of length n: the first sweeps [lo, hi]
// densely, the others are the same sweep shuffled, so pairs cover the plane.
func (c actCase) inputs(n int, rng *rand.Rand) [][]float32 {
	in := make([][]float32, c.nIn)
	for k := range in {
		in[k] = sweep(c.lo, c.hi, n)
		if k > 0 {
			rng.Shuffle(n, func(i, j int) { in[k][i], in[k][j] = in[k][j], in[k][i] })
		}
	}
	return in
}

func alloc(k, n int) [][]float32 {
	o := make([][]float32, k)
	for i := range o {
		o[i] = make([]float32, n)
	}
	return o
}

// TestActAccuracy bounds every path against float64 math, and the vector
// paths against the scalar reference (generic) in ulps.
func TestActAccuracy(t *testing.T) {
	const n = 200003 // odd: the last vector is partial
	for _, c := range actCases {
		in := c.inputs(n, rand.New(rand.NewPCG(1, 2)))
		restore := SetActPath("generic")
		want := alloc(c.nOut, n)
		c.run(want, in)
		restore()
		for _, path := range ActPaths() {
			restore := SetActPath(path)
			got := alloc(c.nOut, n)
			c.run(got, in)
			restore()
			worst, worstUlp, at := 0.0, 0.0, 0
			args := make([]float64, c.nIn)
			args32 := make([]float32, c.nIn)
			for i := 0; i < n; i++ {
				for k := range args {
					args[k], args32[k] = float64(in[k][i]), in[k][i]
				}
				sc := c.scale(args32)
				ref := c.ref(args)
				for o := range got {
					if e := math.Abs(float64(got[o][i])-ref[o]) / (c.absTol + c.relTol*math.Abs(ref[o])); e > worst {
						worst, at = e, i
					}
					// In ulps of |value| + scale (float32's ulp at 1 is 2^-23).
					d := math.Abs(float64(got[o][i]) - float64(want[o][i]))
					if d != 0 || got[o][i] != got[o][i] {
						worstUlp = max(worstUlp, d/((math.Abs(float64(want[o][i]))+sc)*0x1p-23))
					}
					if (got[o][i] != got[o][i]) != (want[o][i] != want[o][i]) {
						worstUlp = math.Inf(1)
					}
				}
			}
			t.Logf("%s/%s: worst error %.2f of the bound (at x=%g), %.2f ulps from generic", c.name, path, worst, in[0][at], worstUlp)
			if worst > 1 {
				t.Errorf("%s/%s: error %.2fx the bound at x=%g", c.name, path, worst, in[0][at])
			}
			if worstUlp > 4 {
				t.Errorf("%s/%s: %g ulps from the scalar reference", c.name, path, worstUlp)
			}
		}
	}
}

// TestActPathsBitIdentical checks that the AVX-512 and AVX2 kernels, which
// run the same instructions per lane, agree bit for bit.
func TestActPathsBitIdentical(t *testing.T) {
	var vec []string
	for _, p := range ActPaths() {
		if p != "generic" {
			vec = append(vec, p)
		}
	}
	t.Logf("vector paths here: %v", vec)
	if len(vec) < 2 {
		return
	}
	const n = 100001
	for _, c := range actCases {
		in := c.inputs(n, rand.New(rand.NewPCG(3, 4)))
		var res [][][]float32
		for _, p := range vec {
			restore := SetActPath(p)
			out := alloc(c.nOut, n)
			c.run(out, in)
			restore()
			res = append(res, out)
		}
		for o := range res[0] {
			for i := range res[0][o] {
				a, b := res[0][o][i], res[1][o][i]
				if math.Float32bits(a) != math.Float32bits(b) {
					t.Fatalf("%s output %d at x=%g: %s %g, %s %g", c.name, o, in[0][i], vec[0], a, vec[1], b)
				}
			}
		}
	}
}

// TestGateSegIsGate requires the gate with shifts per segment to give the
// bits of a call per segment, on every path, for segments shorter and
// longer than a vector, vectors that end on a boundary or cross one, and
// lengths that end mid-segment.
func TestGateSegIsGate(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct{ seg, n int }{{49, 49 * 8}, {49, 49*3 + 5}, {16, 64}, {17, 100}, {256, 600}, {7, 50}, {8, 8}, {23, 5}} {
		a, b := make([]float32, c.n), make([]float32, c.n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()*3), float32(rng.NormFloat64()*3)
		}
		segs := (c.n + c.seg - 1) / c.seg
		ca, cb := make([]float32, segs), make([]float32, segs)
		for i := range ca {
			ca[i], cb[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		for _, path := range ActPaths() {
			restore := SetActPath(path)
			out, tt, ss := alloc(2, c.n), alloc(2, c.n), alloc(2, c.n)
			TanhSigmoidGateSeg(out[0], tt[0], ss[0], a, b, ca, cb, c.seg)
			for g := range segs {
				lo, hi := g*c.seg, min((g+1)*c.seg, c.n)
				TanhSigmoidGate(out[1][lo:hi], tt[1][lo:hi], ss[1][lo:hi], a[lo:hi], b[lo:hi], ca[g], cb[g])
			}
			restore()
			for i := range a {
				for _, p := range [][2]float32{{out[0][i], out[1][i]}, {tt[0][i], tt[1][i]}, {ss[0][i], ss[1][i]}} {
					if math.Float32bits(p[0]) != math.Float32bits(p[1]) {
						t.Fatalf("%s: segments of %d, %d elements: element %d: %v in one call, %v per segment", path, c.seg, c.n, i, p[0], p[1])
					}
				}
			}
		}
	}
}

// TestAdamStepPaths requires every path's AdamW step to give the scalar
// loop's bits, over values of every magnitude, zero moments and
// gradients, and a length that leaves a partial vector.
func TestAdamStepPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const n = 1003
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		scale := math.Pow(10, float64(rng.IntN(9)-6))
		p[i] = float32(rng.NormFloat64())
		g[i] = float32(rng.NormFloat64() * scale)
		m[i] = float32(rng.NormFloat64() * scale * 0.1)
		v[i] = float32(math.Abs(rng.NormFloat64()) * scale * scale)
		if i%17 == 0 {
			g[i], m[i], v[i] = 0, 0, 0
		}
	}
	c := &AdamCoefs{Decay: 1 - 1e-3*0.01, W1: 0.1, B2: 0.999, C2: 1 - 0.999, Bc2s: float32(math.Sqrt(1 - math.Pow(0.999, 3))), Eps: 1e-8, NegStep: float32(-1e-3 / (1 - math.Pow(0.9, 3)))}
	want := [][]float32{append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)}
	adamGeneric(want[0], g, want[1], want[2], c)
	for _, path := range ActPaths() {
		restore := SetActPath(path)
		got := [][]float32{append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)}
		AdamStep(got[0], g, got[1], got[2], c)
		restore()
		for k, name := range []string{"p", "m", "v"} {
			for i := range want[k] {
				if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
					t.Fatalf("%s: %s[%d] = %v, the scalar loop gives %v", path, name, i, got[k][i], want[k][i])
				}
			}
		}
	}
}

// TestActTails runs every kernel on sub-slices of odd lengths and offsets,
// in place where allowed, and checks each element matches the whole-slice
// result bit for bit: masked tails compute what full vectors do, so results
// cannot depend on how a caller splits its work.
func TestActTails(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, path := range ActPaths() {
		restore := SetActPath(path)
		for _, c := range actCases {
			const n = 97
			in := alloc(c.nIn, n)
			for k := range in {
				for i := range in[k] {
					in[k][i] = float32(c.lo + (c.hi-c.lo)*rng.Float64())
				}
			}
			whole := alloc(c.nOut, n)
			c.run(whole, in)
			for trial := 0; trial < 40; trial++ {
				lo := rng.IntN(n)
				hi := lo + rng.IntN(n-lo+1)
				sub := make([][]float32, c.nIn)
				for k := range sub {
					sub[k] = in[k][lo:hi]
				}
				// Guard values around the window must survive.
				out := alloc(c.nOut, n+2)
				for o := range out {
					out[o][0], out[o][hi-lo+1] = 7, 7
				}
				win := make([][]float32, c.nOut)
				for o := range win {
					win[o] = out[o][1 : hi-lo+1]
				}
				c.run(win, sub)
				for o := range win {
					if out[o][0] != 7 || out[o][hi-lo+1] != 7 {
						t.Fatalf("%s/%s [%d,%d): wrote outside its output", path, c.name, lo, hi)
					}
					for i, v := range win[o] {
						if math.Float32bits(v) != math.Float32bits(whole[o][lo+i]) {
							t.Fatalf("%s/%s [%d,%d) output %d elem %d: %g, whole slice gave %g",
								path, c.name, lo, hi, o, i, v, whole[o][lo+i])
						}
					}
				}
			}
			// In place: the output overwrites the first input.
			if c.nOut == 1 && c.nIn == 1 {
				x := append([]float32(nil), in[0]...)
				c.run([][]float32{x}, [][]float32{x})
				for i := range x {
					if math.Float32bits(x[i]) != math.Float32bits(whole[0][i]) {
						t.Fatalf("%s/%s in place elem %d: %g, want %g", path, c.name, i, x[i], whole[0][i])
					}
				}
			}
		}
		restore()
	}
}

// TestActSpecialValues pins saturation, infinities and NaN on every path.
func TestActSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	x := []float32{0, -0.0, 1e-30, -1e-30, 100, -100, -200, 88.5, 1e30, -1e30, inf, -inf, nan}
	for _, path := range ActPaths() {
		restore := SetActPath(path)
		ex, th, sg, ge, gg := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x)),
			make([]float32, len(x)), make([]float32, len(x))
		ones := make([]float32, len(x))
		for i := range ones {
			ones[i] = 1
		}
		Exp(ex, x)
		Tanh(th, x)
		Sigmoid(sg, x)
		GELU(ge, x)
		GELUGrad(gg, ones, x)
		restore()
		check := func(name string, got []float32, want []float32) {
			for i := range want {
				w, g := want[i], got[i]
				ok := math.Float32bits(w) == math.Float32bits(g) || (w != w && g != g) || (w == 0 && g == 0)
				if w == w && w != 0 && !math.IsInf(float64(w), 0) {
					ok = math.Abs(float64(g-w)) <= 1e-6*math.Abs(float64(w))
				}
				if !ok {
					t.Errorf("%s %s(%g) = %g, want %g", path, name, x[i], g, w)
				}
			}
		}
		check("Exp", ex, []float32{1, 1, 1, 1, inf, 0, 0, float32(math.Exp(88.5)), inf, 0, inf, 0, nan})
		check("Tanh", th, []float32{0, -0.0, 1e-30, -1e-30, 1, -1, -1, 1, 1, -1, 1, -1, nan})
		check("Sigmoid", sg, []float32{0.5, 0.5, 0.5, 0.5, 1, 0, 0, 1, 1, 0, 1, 0, nan})
		check("GELU", ge, []float32{0, -0.0, 5e-31, -5e-31, 100, -0.0, -0.0, 88.5, 1e30, -0.0, inf, nan, nan})
		check("GELUGrad", gg, []float32{0.5, 0.5, 0.5, 0.5, 1, 0, 0, 1, 1, 0, nan, nan, nan})
	}
}

func TestActLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("GELU with slices of different lengths did not panic")
		}
	}()
	GELU(make([]float32, 3), make([]float32, 4))
}

func BenchmarkAct(b *testing.B) {
	const n = 1 << 16
	rng := rand.New(rand.NewPCG(7, 8))
	x, y, z, u, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	for _, path := range ActPaths() {
		for _, k := range []struct {
			name string
			f    func()
		}{
			{"Exp", func() { Exp(z, x) }},
			{"Tanh", func() { Tanh(z, x) }},
			{"GELU", func() { GELU(z, x) }},
			{"GELUGrad", func() { GELUGrad(z, y, x) }},
			{"Gate", func() { TanhSigmoidGate(z, u, v, x, y, 0.1, 0.2) }},
			{"GateGrad", func() { TanhSigmoidGateGrad(z, u, v, x, y) }},
		} {
			b.Run(k.name+"/"+path, func(b *testing.B) {
				restore := SetActPath(path)
				defer restore()
				for b.Loop() {
					k.f()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
			})
		}
	}
}
