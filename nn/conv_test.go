package nn

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

func randTensor(rng *RNG, shape ...int) *Tensor {
	t := NewTensor(shape...)
	rng.Normal(t.Data, 0, 1)
	return t
}

// naiveConv2d is the definition of Conv2d in float64 direct loops: the
// forward output and, for upstream gradient dy, dx, dW and db.
func naiveConv2d(x, w, b, dy []float64, n, inC, outC, h, wd, kh, kw, s, ph, pw int) (y, dx, dw, db []float64) {
	oh, ow := (h+2*ph-kh)/s+1, (wd+2*pw-kw)/s+1
	y = make([]float64, n*outC*oh*ow)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, outC)
	for i := 0; i < n; i++ {
		for o := 0; o < outC; o++ {
			for r := 0; r < oh; r++ {
				for c := 0; c < ow; c++ {
					yi := ((i*outC+o)*oh+r)*ow + c
					acc := 0.0
					if b != nil {
						acc = b[o]
						db[o] += dy[yi]
					}
					for ci := 0; ci < inC; ci++ {
						for u := 0; u < kh; u++ {
							for v := 0; v < kw; v++ {
								ih, iw := r*s-ph+u, c*s-pw+v
								if ih < 0 || ih >= h || iw < 0 || iw >= wd {
									continue
								}
								xi := ((i*inC+ci)*h+ih)*wd + iw
								wi := ((o*inC+ci)*kh+u)*kw + v
								acc += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[yi]
								dw[wi] += x[xi] * dy[yi]
							}
						}
					}
					y[yi] = acc
				}
			}
		}
	}
	return
}

// naiveConvT2d is ConvTranspose2d's definition (scatter form) in float64.
func naiveConvT2d(x, w, b, dy []float64, n, inC, outC, h, wd, k, s, p int) (y, dx, dw, db []float64) {
	oh, ow := (h-1)*s-2*p+k, (wd-1)*s-2*p+k
	y = make([]float64, n*outC*oh*ow)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, outC)
	for i := 0; i < n; i++ {
		for o := 0; o < outC; o++ {
			for j := 0; j < oh*ow; j++ {
				yi := (i*outC+o)*oh*ow + j
				if b != nil {
					y[yi] = b[o]
					db[o] += dy[yi]
				}
			}
		}
		for c := 0; c < inC; c++ {
			for r := 0; r < h; r++ {
				for q := 0; q < wd; q++ {
					xi := ((i*inC+c)*h+r)*wd + q
					for o := 0; o < outC; o++ {
						for u := 0; u < k; u++ {
							for v := 0; v < k; v++ {
								yr, yc := r*s-p+u, q*s-p+v
								if yr < 0 || yr >= oh || yc < 0 || yc >= ow {
									continue
								}
								yi := ((i*outC+o)*oh+yr)*ow + yc
								wi := ((c*outC+o)*k+u)*k + v
								y[yi] += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[yi]
								dw[wi] += x[xi] * dy[yi]
							}
						}
					}
				}
			}
		}
	}
	return
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// assertClose fails if got and want differ beyond float32 accumulation error.
func assertClose(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i]))
		if d > worst {
			worst = d
		}
		if d > 1e-4 {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
	t.Logf("%s: max scaled error %.2e", what, worst)
}

var conv2dCases = []struct {
	name                                  string
	n, inC, outC, h, w, kh, kw, s, ph, pw int
	bias                                  bool
}{
	{"3x3 s1 p1", 3, 3, 5, 7, 9, 3, 3, 1, 1, 1, true},
	{"3x3 s2 p1", 3, 2, 4, 9, 8, 3, 3, 2, 1, 1, true},
	{"4x4 s2 p1 encoder", 2, 3, 4, 8, 10, 4, 4, 2, 1, 1, true},
	{"1x1 pointwise", 3, 5, 3, 5, 7, 1, 1, 1, 0, 0, true},
	{"1x1 s2", 2, 3, 2, 7, 5, 1, 1, 2, 0, 0, false},
	{"1x3 pad 0,1", 3, 2, 3, 5, 6, 1, 3, 1, 0, 1, false},
	{"5x5 s3 p2", 2, 2, 3, 6, 7, 5, 5, 3, 2, 2, true},
	{"3x3 pad 2 (all-padding rows)", 1, 2, 2, 3, 3, 3, 3, 1, 2, 2, true},
	{"3x3 p1 one row", 2, 2, 3, 1, 5, 3, 3, 1, 1, 1, true},
}

func TestConv2dMatchesNaive(t *testing.T) {
	for _, tc := range conv2dCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := NewRNG(7)
			c := NewConv2dHW("c", tc.inC, tc.outC, tc.kh, tc.kw, tc.s, tc.ph, tc.pw, tc.bias, rng)
			x := randTensor(rng, tc.n, tc.inC, tc.h, tc.w)
			y := c.Forward(x)
			dy := randTensor(rng, y.Shape...)
			dx := c.Backward(dy)
			var b []float64
			if tc.bias {
				b = f64(c.Bias.Data.Data)
			}
			wy, wdx, wdw, wdb := naiveConv2d(f64(x.Data), f64(c.Weight.Data.Data), b, f64(dy.Data),
				tc.n, tc.inC, tc.outC, tc.h, tc.w, tc.kh, tc.kw, tc.s, tc.ph, tc.pw)
			assertClose(t, "y", y.Data, wy)
			assertClose(t, "dx", dx.Data, wdx)
			assertClose(t, "dW", c.Weight.Grad.Data, wdw)
			if tc.bias {
				assertClose(t, "db", c.Bias.Grad.Data, wdb)
			}
		})
	}
}

var convT2dCases = []struct {
	name                        string
	n, inC, outC, h, w, k, s, p int
	bias                        bool
}{
	{"4x4 s2 p1 decoder", 2, 3, 4, 7, 5, 4, 2, 1, true},
	{"3x3 s1 p1", 3, 2, 3, 5, 6, 3, 1, 1, false},
	{"3x3 s2 p0", 2, 2, 2, 4, 3, 3, 2, 0, true},
	{"5x5 s3 p2", 1, 2, 3, 3, 4, 5, 3, 2, true},
	{"1x1 s1", 3, 4, 2, 3, 5, 1, 1, 0, true},
}

func TestConvTranspose2dMatchesNaive(t *testing.T) {
	for _, tc := range convT2dCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := NewRNG(8)
			c := NewConvTranspose2d("ct", tc.inC, tc.outC, tc.k, tc.s, tc.p, tc.bias, rng)
			x := randTensor(rng, tc.n, tc.inC, tc.h, tc.w)
			y := c.Forward(x)
			if oh, ow := c.OutSize(tc.h, tc.w); y.Shape[2] != oh || y.Shape[3] != ow {
				t.Fatalf("output %v, OutSize %dx%d", y.Shape, oh, ow)
			}
			dy := randTensor(rng, y.Shape...)
			dx := c.Backward(dy)
			var b []float64
			if tc.bias {
				b = f64(c.Bias.Data.Data)
			}
			wy, wdx, wdw, wdb := naiveConvT2d(f64(x.Data), f64(c.Weight.Data.Data), b, f64(dy.Data),
				tc.n, tc.inC, tc.outC, tc.h, tc.w, tc.k, tc.s, tc.p)
			assertClose(t, "y", y.Data, wy)
			assertClose(t, "dx", dx.Data, wdx)
			assertClose(t, "dW", c.Weight.Grad.Data, wdw)
			if tc.bias {
				assertClose(t, "db", c.Bias.Grad.Data, wdb)
			}
		})
	}
}

func TestConvTranspose2dDoubles(t *testing.T) {
	c := NewConvTranspose2d("up", 2, 3, 4, 2, 1, true, NewRNG(1))
	y := c.Forward(NewTensor(1, 2, 7, 7))
	if y.Shape[2] != 14 || y.Shape[3] != 14 {
		t.Fatalf("4x4 stride 2 pad 1 on 7x7 gives %v, want 14x14", y.Shape)
	}
}

// diffOp is a differentiable op under test: forward and backward closures
// over one layer (or a small composition) and its parameters.
type diffOp struct {
	name   string
	x      *Tensor
	fwd    func(*Tensor) *Tensor
	bwd    func(*Tensor) *Tensor
	params []*Param
}

func gradCheckOps(rng *RNG) []diffOp {
	var ops []diffOp
	for _, tc := range conv2dCases {
		c := NewConv2dHW("conv", tc.inC, tc.outC, tc.kh, tc.kw, tc.s, tc.ph, tc.pw, tc.bias, rng)
		ops = append(ops, diffOp{"Conv2d " + tc.name, randTensor(rng, tc.n, tc.inC, tc.h, tc.w), c.Forward, c.Backward, c.Params()})
	}
	for _, tc := range convT2dCases {
		c := NewConvTranspose2d("convT", tc.inC, tc.outC, tc.k, tc.s, tc.p, tc.bias, rng)
		ops = append(ops, diffOp{"ConvTranspose2d " + tc.name, randTensor(rng, tc.n, tc.inC, tc.h, tc.w), c.Forward, c.Backward, c.Params()})
	}
	for _, m := range []struct {
		kind   MaskKind
		kh, kw int
	}{{MaskA, 3, 3}, {MaskB, 5, 5}, {MaskVertical, 3, 3}, {MaskHorizontalA, 1, 3}, {MaskHorizontalB, 1, 5}} {
		c := NewMaskedConv2d("masked", 3, 4, m.kh, m.kw, m.kind, true, rng)
		ops = append(ops, diffOp{"MaskedConv2d " + m.kind.String(), randTensor(rng, 2, 3, 5, 7), c.Forward, c.Backward, c.Params()})
	}
	s := &ShiftDown{}
	ops = append(ops, diffOp{"ShiftDown", randTensor(rng, 2, 3, 5, 4), s.Forward, s.Backward, nil})
	return ops
}

// checkOp runs GradCheck on op with loss = <fwd(x), proj>. corrupt, if not
// nil, tampers with the analytic gradients first.
func checkOp(op diffOp, rng *RNG, corrupt func(dx []float32, params []*Param)) GradCheckResult {
	return checkOpEps(op, rng, corrupt, 1e-2)
}

// checkOpEps is checkOp with central differences of step eps.
func checkOpEps(op diffOp, rng *RNG, corrupt func(dx []float32, params []*Param), eps float32) GradCheckResult {
	y := op.fwd(op.x)
	proj := NewTensor(y.Shape...)
	rng.Normal(proj.Data, 0, 1)
	ZeroGrad(op.params)
	dx := append([]float32(nil), op.bwd(proj).Data...)
	if corrupt != nil {
		corrupt(dx, op.params)
	}
	targets := []GradTarget{{Name: "x", X: op.x.Data, G: dx}}
	for _, p := range op.params {
		targets = append(targets, GradTarget{Name: p.Name, X: p.Data.Data, G: p.Grad.Data})
	}
	loss := func() float64 { return Dot64(op.fwd(op.x).Data, proj.Data) }
	return GradCheck(loss, targets, rng, 60, eps)
}

func TestConvGradCheck(t *testing.T) {
	rng := NewRNG(11)
	for _, op := range gradCheckOps(rng) {
		res := checkOp(op, rng, nil)
		t.Logf("%-40s max rel err %.2e (%s)", op.name, res.MaxRelErr, res.Worst)
		if res.MaxRelErr > 1e-2 {
			t.Errorf("%s: gradient check failed: %.3g at %s", op.name, res.MaxRelErr, res.Worst)
		}
	}
}

// TestConvFusedReLUGradCheck checks convs with a fused ReLU by finite
// differences. A difference that crosses the ReLU's kink measures nothing,
// so each case takes the first seed whose pre-activations all lie farther
// from 0 than any single perturbation can move them (eps times the largest
// |x|, |w| or 1), and the step is smaller than GradCheck's usual 1e-2.
func TestConvFusedReLUGradCheck(t *testing.T) {
	const eps = 1e-3
	type fusedConv interface {
		Forward(*Tensor) *Tensor
		Backward(*Tensor) *Tensor
		Params() []*Param
		setReLU(bool)
	}
	for _, tc := range []struct {
		name       string
		build      func(rng *RNG) fusedConv
		n, c, h, w int
	}{
		{"Conv2d 3x3 s2", func(rng *RNG) fusedConv { return fusedConv2d{NewConv2d("conv", 3, 4, 3, 2, 1, true, rng)} }, 2, 3, 5, 4},
		{"Conv2d 1x1", func(rng *RNG) fusedConv { return fusedConv2d{NewConv2d("conv", 3, 2, 1, 1, 0, false, rng)} }, 2, 3, 3, 4},
		{"ConvTranspose2d", func(rng *RNG) fusedConv { return fusedConvT{NewConvTranspose2d("convT", 3, 2, 4, 2, 1, true, rng)} }, 2, 3, 2, 3},
	} {
		var op fusedConv
		var x *Tensor
		seed := uint64(100)
		for ; seed < 10000; seed++ {
			rng := NewRNG(seed)
			op, x = tc.build(rng), randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			limit := 1.0
			for _, v := range x.Data {
				limit = math.Max(limit, math.Abs(float64(v)))
			}
			for _, p := range op.Params() {
				for _, v := range p.Data.Data {
					limit = math.Max(limit, math.Abs(float64(v)))
				}
			}
			op.setReLU(false)
			pre := op.Forward(x)
			ok := true
			for _, v := range pre.Data {
				if math.Abs(float64(v)) <= 2*eps*limit {
					ok = false
					break
				}
			}
			op.setReLU(true)
			if ok {
				break
			}
		}
		if seed == 10000 {
			t.Fatalf("%s: no seed keeps the pre-activations off the kink", tc.name)
		}
		res := checkOpEps(diffOp{tc.name, x, op.Forward, op.Backward, op.Params()}, NewRNG(seed), nil, eps)
		t.Logf("%-40s max rel err %.2e (%s; seed %d)", tc.name+" fused ReLU", res.MaxRelErr, res.Worst, seed)
		if res.MaxRelErr > 1e-2 {
			t.Errorf("%s fused ReLU: gradient check failed: %.3g at %s", tc.name, res.MaxRelErr, res.Worst)
		}
		flip := func(dx []float32, _ []*Param) {
			for i := range dx {
				dx[i] = -dx[i]
			}
		}
		if res := checkOpEps(diffOp{tc.name, x, op.Forward, op.Backward, op.Params()}, NewRNG(seed), flip, eps); res.MaxRelErr < 0.5 {
			t.Errorf("%s fused ReLU: negated dx passes (max rel err %.3g)", tc.name, res.MaxRelErr)
		}
	}
}

type fusedConv2d struct{ *Conv2d }

func (c fusedConv2d) setReLU(on bool) { c.ReLU = on }

type fusedConvT struct{ *ConvTranspose2d }

func (c fusedConvT) setReLU(on bool) { c.ReLU = on }

// TestConvFusedReLUMatchesLayers: a conv with ReLU set gives the same bits
// as the conv followed by a ReLU layer, forward and backward, including a
// batch that spans several GEMM groups and gradient chunks.
func TestConvFusedReLUMatchesLayers(t *testing.T) {
	type layer interface {
		Forward(*Tensor) *Tensor
		Backward(*Tensor) *Tensor
		Params() []*Param
	}
	for _, tc := range []struct {
		name         string
		plain, fused func(rng *RNG) layer
		n, c, h, w   int
	}{
		{"Conv2d 3x3", func(rng *RNG) layer { return NewConv2d("c", 3, 5, 3, 1, 1, true, rng) },
			func(rng *RNG) layer { c := NewConv2d("c", 3, 5, 3, 1, 1, true, rng); c.ReLU = true; return c }, 9, 3, 13, 11},
		{"Conv2d 1x1 no bias", func(rng *RNG) layer { return NewConv2d("c", 4, 3, 1, 1, 0, false, rng) },
			func(rng *RNG) layer { c := NewConv2d("c", 4, 3, 1, 1, 0, false, rng); c.ReLU = true; return c }, 6, 4, 16, 16},
		{"ConvTranspose2d", func(rng *RNG) layer { return NewConvTranspose2d("t", 3, 2, 4, 2, 1, true, rng) },
			func(rng *RNG) layer { c := NewConvTranspose2d("t", 3, 2, 4, 2, 1, true, rng); c.ReLU = true; return c }, 7, 3, 16, 16},
	} {
		x := randTensor(NewRNG(3), tc.n, tc.c, tc.h, tc.w)
		plain, fused := tc.plain(NewRNG(4)), tc.fused(NewRNG(4))
		var relu ReLU
		want := relu.Forward(plain.Forward(x))
		got := fused.Forward(x)
		dy := NewTensor(want.Shape...)
		NewRNG(5).Normal(dy.Data, 0, 1)
		wantDx := plain.Backward(relu.Backward(dy))
		gotDx := fused.Backward(dy)
		zeros := 0
		for _, v := range want.Data {
			if v == 0 {
				zeros++
			}
		}
		if zeros == 0 || zeros == len(want.Data) {
			t.Fatalf("%s: %d of %d outputs are 0: the ReLU is not exercised", tc.name, zeros, len(want.Data))
		}
		cmp := []struct {
			what      string
			got, want []float32
		}{{"y", got.Data, want.Data}, {"dx", gotDx.Data, wantDx.Data}}
		for i, p := range plain.Params() {
			cmp = append(cmp, struct {
				what      string
				got, want []float32
			}{p.Name + " grad", fused.Params()[i].Grad.Data, p.Grad.Data})
		}
		for _, c := range cmp {
			for j := range c.want {
				if math.Float32bits(c.got[j]) != math.Float32bits(c.want[j]) {
					t.Fatalf("%s: %s[%d] = %g fused, %g with a ReLU layer", tc.name, c.what, j, c.got[j], c.want[j])
				}
			}
		}
	}
}

// TestConvGradCheckCatchesSignFlip shows that the gradient check can fail:
// negating one backward term (dx, or the first parameter's gradient) must be
// caught for every op.
func TestConvGradCheckCatchesSignFlip(t *testing.T) {
	corruptions := []struct {
		name string
		f    func(dx []float32, ps []*Param)
	}{
		{"negated dx", func(dx []float32, _ []*Param) {
			for i := range dx {
				dx[i] = -dx[i]
			}
		}},
		{"negated last param grad", func(_ []float32, ps []*Param) {
			if len(ps) == 0 {
				return
			}
			g := ps[len(ps)-1].Grad.Data
			for i := range g {
				g[i] = -g[i]
			}
		}},
	}
	rng := NewRNG(12)
	for _, cr := range corruptions {
		for _, op := range gradCheckOps(rng) {
			if len(op.params) == 0 && cr.name != "negated dx" {
				continue
			}
			res := checkOp(op, rng, cr.f)
			if res.MaxRelErr < 0.5 {
				t.Errorf("%s with %s: gradient check passed (max rel err %.3g)", op.name, cr.name, res.MaxRelErr)
			}
		}
	}
}

// TestConvDeterministicAcrossGOMAXPROCS runs every conv with 1, 2 and 3
// workers and requires identical bits in outputs, dx and parameter grads.
func TestConvDeterministicAcrossGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	type run struct{ y, dx, gw, gb []float32 }
	build := func() []diffOp {
		rng := NewRNG(21)
		c := NewConv2d("c", 3, 5, 3, 2, 1, true, rng)
		c1 := NewConv2d("c1", 2, 3, 3, 1, 1, true, rng)
		p := NewConv2d("p", 3, 4, 1, 1, 0, true, rng)
		m := NewMaskedConv2d("m", 3, 4, 3, 3, MaskB, true, rng)
		ct := NewConvTranspose2d("ct", 3, 2, 4, 2, 1, true, rng)
		// Sizes chosen so the gradient chunks (a power of two of images, at
		// least 768 positions; GEMM groups of at least 384 inside them)
		// split most batches several ways.
		return []diffOp{
			{"Conv2d s2", randTensor(rng, 7, 3, 9, 11), c.Forward, c.Backward, c.Params()},
			{"Conv2d s1 4 chunks", randTensor(rng, 7, 2, 23, 25), c1.Forward, c1.Backward, c1.Params()},
			{"Conv2d 1x1 3 chunks", randTensor(rng, 5, 3, 23, 23), p.Forward, p.Backward, p.Params()},
			{"masked", randTensor(rng, 5, 3, 6, 5), m.Forward, m.Backward, m.Params()},
			{"ConvTranspose2d 2 chunks", randTensor(rng, 7, 3, 16, 16), ct.Forward, ct.Backward, ct.Params()},
		}
	}
	var ref []run
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		for i, op := range build() {
			y := op.fwd(op.x)
			dy := NewTensor(y.Shape...)
			NewRNG(5).Normal(dy.Data, 0, 1)
			dx := op.bwd(dy)
			r := run{append([]float32(nil), y.Data...), append([]float32(nil), dx.Data...),
				op.params[0].Grad.Data, op.params[1].Grad.Data}
			if procs == 1 {
				ref = append(ref, r)
				continue
			}
			for _, cmp := range []struct {
				what      string
				got, want []float32
			}{{"y", r.y, ref[i].y}, {"dx", r.dx, ref[i].dx}, {"dW", r.gw, ref[i].gw}, {"db", r.gb, ref[i].gb}} {
				for j := range cmp.want {
					if math.Float32bits(cmp.got[j]) != math.Float32bits(cmp.want[j]) {
						t.Fatalf("%s GOMAXPROCS=%d: %s[%d] = %g, GOMAXPROCS=1 gave %g", op.name, procs, cmp.what, j, cmp.got[j], cmp.want[j])
					}
				}
			}
		}
	}
}

func TestConvNoAllocsAfterWarmup(t *testing.T) {
	rng := NewRNG(3)
	c := NewConv2d("c", 4, 6, 3, 1, 1, true, rng)
	m := NewMaskedConv2d("m", 4, 6, 3, 3, MaskA, true, rng)
	ct := NewConvTranspose2d("ct", 4, 3, 4, 2, 1, true, rng)
	s := &ShiftDown{}
	x := randTensor(rng, 5, 4, 7, 7)
	step := func() {
		c.Backward(c.Forward(x))
		m.Backward(m.Forward(x))
		ct.Backward(ct.Forward(x))
		s.Backward(s.Forward(x))
	}
	step()
	// AllocsPerRun itself runs at GOMAXPROCS=1; the benchmark's -benchmem
	// covers the parallel path.
	if a := testing.AllocsPerRun(5, step); a != 0 {
		t.Errorf("warmed-up conv step allocates %v times", a)
	}
}

func BenchmarkConv3x3_64c_16x16_b32_FwdBwd(b *testing.B) {
	bench := NewConv3x3Bench()
	bench.Step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bench.Step()
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec*1e3, "ms/step")
	b.ReportMetric(Conv3x3BenchFLOP/sec/1e9, "GFLOP/s")
}

// TestRowSumsIsSum32: four rows at a time give each row sum32's bits, set
// or added, for any row count and length.
func TestRowSumsIsSum32(t *testing.T) {
	rng := NewRNG(12)
	for _, c := range []struct{ rows, n int }{{1, 5}, {3, 1}, {4, 49}, {7, 256}, {13, 49}, {128, 33}} {
		x := make([]float32, c.rows*c.n)
		rng.Normal(x, 0, 3)
		base := make([]float32, c.rows)
		rng.Normal(base, 0, 1)
		set, added := make([]float32, c.rows), slices.Clone(base)
		rowSums(set, x, c.n, false)
		AddRowSums(added, x, c.n)
		for r := range c.rows {
			s := sum32(x[r*c.n : (r+1)*c.n])
			if math.Float32bits(set[r]) != math.Float32bits(s) || math.Float32bits(added[r]) != math.Float32bits(base[r]+s) {
				t.Fatalf("%d rows of %d: row %d gives %v and %v, sum32 %v and %v", c.rows, c.n, r, set[r], added[r], s, base[r]+s)
			}
		}
		// Rows ld floats apart: the first n of each.
		ld := c.n + 3
		xs := make([]float32, c.rows*ld)
		for r := range c.rows {
			copy(xs[r*ld:], x[r*c.n:(r+1)*c.n])
			xs[r*ld+c.n] = 1e9 // never summed
		}
		strided := make([]float32, c.rows)
		rowSumsLd(strided, xs, c.n, ld, false)
		for r := range c.rows {
			if math.Float32bits(strided[r]) != math.Float32bits(set[r]) {
				t.Fatalf("%d rows of %d, %d apart: row %d gives %v, want %v", c.rows, c.n, ld, r, strided[r], set[r])
			}
		}
	}
}

func BenchmarkRowSums128x392(b *testing.B) {
	x := make([]float32, 128*392)
	NewRNG(1).Normal(x, 0, 1)
	dst := make([]float32, 128)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		rowSums(dst, x, 392, true)
	}
}
