package nn

import (
	"math"
	"strings"
	"testing"
)

func TestConvMaskPatterns(t *testing.T) {
	cases := []struct {
		kind   MaskKind
		kh, kw int
		want   string // rows separated by '/'
	}{
		{MaskA, 3, 3, "111/100/000"},
		{MaskB, 3, 3, "111/110/000"},
		{MaskA, 5, 5, "11111/11111/11000/00000/00000"},
		{MaskVertical, 3, 3, "111/111/000"},
		{MaskVertical, 3, 5, "11111/11111/00000"},
		{MaskHorizontalA, 3, 3, "000/100/000"},
		{MaskHorizontalB, 3, 3, "000/110/000"},
		{MaskHorizontalA, 1, 5, "11000"},
		{MaskHorizontalB, 1, 5, "11100"},
		{MaskNone, 1, 3, "111"},
	}
	for _, tc := range cases {
		// Two output and two input channels: every (o, i) pair must carry
		// the same pattern.
		m := ConvMask(tc.kind, 2, 2, tc.kh, tc.kw)
		plane := tc.kh * tc.kw
		for p := 0; p < 4; p++ {
			var b strings.Builder
			for u := 0; u < tc.kh; u++ {
				if u > 0 {
					b.WriteByte('/')
				}
				for v := 0; v < tc.kw; v++ {
					b.WriteByte('0' + byte(m[p*plane+u*tc.kw+v]))
				}
			}
			if b.String() != tc.want {
				t.Errorf("%v %dx%d channel pair %d: mask %s, want %s", tc.kind, tc.kh, tc.kw, p, b.String(), tc.want)
			}
		}
	}
}

// TestMaskedConvEqualsZeroedConv compares each masked conv with a plain
// conv whose masked weights were zeroed by hand, after filling the masked
// conv's masked weights with garbage: outputs and dx must be bit-identical,
// weight grads equal on kept taps and exactly zero on masked ones.
func TestMaskedConvEqualsZeroedConv(t *testing.T) {
	cases := []struct {
		kind   MaskKind
		kh, kw int
	}{{MaskA, 3, 3}, {MaskB, 3, 3}, {MaskA, 5, 5}, {MaskVertical, 3, 3}, {MaskVertical, 5, 3},
		{MaskHorizontalA, 1, 3}, {MaskHorizontalB, 1, 5}, {MaskHorizontalB, 3, 3}}
	for _, tc := range cases {
		rng := NewRNG(31)
		m := NewMaskedConv2d("m", 3, 4, tc.kh, tc.kw, tc.kind, true, rng)
		p := NewConv2dHW("p", 3, 4, tc.kh, tc.kw, 1, tc.kh/2, tc.kw/2, true, rng)
		copy(p.Bias.Data.Data, m.Bias.Data.Data)
		masked := 0
		for i, k := range m.Mask {
			if k == 0 {
				if m.Weight.Data.Data[i] != 0 {
					t.Fatalf("%v: masked weight %d is %g after construction", tc.kind, i, m.Weight.Data.Data[i])
				}
				m.Weight.Data.Data[i] = 7 // an optimizer bug must not leak through the mask
				masked++
			}
			p.Weight.Data.Data[i] = m.Weight.Data.Data[i] * k
		}
		if masked == 0 {
			t.Fatalf("%v %dx%d masks nothing", tc.kind, tc.kh, tc.kw)
		}
		// Rectangular masks compute with their live taps only.
		rect := tc.kind == MaskVertical || tc.kind == MaskHorizontalA || tc.kind == MaskHorizontalB
		if rect != (m.Live != nil) {
			t.Fatalf("%v %dx%d: Live %+v", tc.kind, tc.kh, tc.kw, m.Live)
		}
		if rect {
			live := (m.Live.U1 - m.Live.U0) * (m.Live.V1 - m.Live.V0)
			if live*4*3 != len(m.Mask)-masked {
				t.Fatalf("%v %dx%d: %d live taps, the mask keeps %d weights", tc.kind, tc.kh, tc.kw, live, len(m.Mask)-masked)
			}
		}
		x := randTensor(rng, 2, 3, 5, 6)
		dy := randTensor(rng, 2, 4, 5, 6)
		ym, yp := m.Forward(x), p.Forward(x)
		dxm, dxp := m.Backward(dy), p.Backward(dy)
		for i := range yp.Data {
			if ym.Data[i] != yp.Data[i] {
				t.Fatalf("%v: y[%d] masked %g, zeroed %g", tc.kind, i, ym.Data[i], yp.Data[i])
			}
		}
		for i := range dxp.Data {
			if dxm.Data[i] != dxp.Data[i] {
				t.Fatalf("%v: dx[%d] masked %g, zeroed %g", tc.kind, i, dxm.Data[i], dxp.Data[i])
			}
		}
		for i, k := range m.Mask {
			want := p.Weight.Grad.Data[i] * k
			if m.Weight.Grad.Data[i] != want {
				t.Fatalf("%v: dW[%d] = %g, want %g (mask %g)", tc.kind, i, m.Weight.Grad.Data[i], want, k)
			}
		}
	}
}

func TestShiftDown(t *testing.T) {
	x := NewTensor(2, 3, 4, 5)
	for i := range x.Data {
		x.Data[i] = float32(i + 1)
	}
	var s ShiftDown
	y := s.Forward(x)
	dx := s.Backward(x)
	for p := 0; p < 6; p++ {
		for r := 0; r < 4; r++ {
			for c := 0; c < 5; c++ {
				i := (p*4+r)*5 + c
				var wantY, wantDx float32
				if r > 0 {
					wantY = x.Data[i-5]
				}
				if r < 3 {
					wantDx = x.Data[i+5]
				}
				if y.Data[i] != wantY || dx.Data[i] != wantDx {
					t.Fatalf("plane %d (%d,%d): y %g dx %g, want %g %g", p, r, c, y.Data[i], dx.Data[i], wantY, wantDx)
				}
			}
		}
	}
}

// TestShiftDownBackwardAdd requires BackwardAdd to give the bits of
// adding Backward's output, with -0 in the accumulator, over enough
// planes to be split across the cores.
func TestShiftDownBackwardAdd(t *testing.T) {
	rng := NewRNG(4)
	for _, shape := range [][]int{{2, 3, 4, 5}, {64, 130, 7, 7}} {
		dy, acc := randTensor(rng, shape...), randTensor(rng, shape...)
		negZero := float32(math.Copysign(0, -1))
		for i := 0; i < len(acc.Data); i += 7 {
			acc.Data[i] = negZero
		}
		var s ShiftDown
		s.Forward(dy)
		want := acc.Clone()
		dx := s.Backward(dy)
		for i := range want.Data {
			want.Data[i] += dx.Data[i]
		}
		s.BackwardAdd(dy, acc)
		for i := range want.Data {
			if math.Float32bits(acc.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("%v: acc[%d] = %v, acc + Backward gives %v", shape, i, acc.Data[i], want.Data[i])
			}
		}
	}
}

// deps[i][j] reports whether output position i (any channel) depends on
// input position j, positions in raster order on an h x w grid.
type deps [][]bool

// measureDeps perturbs each position of a one-channel input and records
// which output positions move.
func measureDeps(h, w int, net func(*Tensor) *Tensor) deps {
	x := NewTensor(1, 1, h, w)
	NewRNG(9).Normal(x.Data, 0, 1)
	base := net(x).Clone()
	d := newDeps(h * w)
	for j := range x.Data {
		orig := x.Data[j]
		x.Data[j] = orig + 1
		y := net(x)
		x.Data[j] = orig
		for k := range y.Data {
			if y.Data[k] != base.Data[k] {
				d[k%(h*w)][j] = true
			}
		}
	}
	return d
}

func newDeps(n int) deps {
	d := make(deps, n)
	for i := range d {
		d[i] = make([]bool, n)
	}
	return d
}

func identityDeps(n int) deps {
	d := newDeps(n)
	for i := range d {
		d[i][i] = true
	}
	return d
}

// conv propagates dependency sets through a masked "same" convolution: the
// reference model, written from the mask's definition, not from im2col.
func (d deps) conv(kind MaskKind, kh, kw, h, w int) deps {
	out := newDeps(h * w)
	for r := 0; r < h; r++ {
		for c := 0; c < w; c++ {
			for u := 0; u < kh; u++ {
				for v := 0; v < kw; v++ {
					rr, cc := r+u-kh/2, c+v-kw/2
					if !kind.keeps(kh, kw, u, v) || rr < 0 || rr >= h || cc < 0 || cc >= w {
						continue
					}
					for j, ok := range d[rr*w+cc] {
						out[r*w+c][j] = out[r*w+c][j] || ok
					}
				}
			}
		}
	}
	return out
}

func (d deps) shiftDown(h, w int) deps {
	out := newDeps(h * w)
	for i := w; i < h*w; i++ {
		copy(out[i], d[i-w])
	}
	return out
}

func (d deps) union(e deps) deps {
	out := newDeps(len(d))
	for i := range d {
		for j := range d[i] {
			out[i][j] = d[i][j] || e[i][j]
		}
	}
	return out
}

func (d deps) equal(e deps) (i, j int, ok bool) {
	for i := range d {
		for j := range d[i] {
			if d[i][j] != e[i][j] {
				return i, j, false
			}
		}
	}
	return 0, 0, true
}

// assertCausal fails if any output depends on its own or a later position.
func assertCausal(t *testing.T, d deps) {
	t.Helper()
	for i := range d {
		for j := i; j < len(d); j++ {
			if d[i][j] {
				t.Fatalf("output %d depends on input %d (not earlier in raster order)", i, j)
			}
		}
	}
}

func addTensors(a, b *Tensor) *Tensor {
	s := a.Clone()
	for i, v := range b.Data {
		s.Data[i] += v
	}
	return s
}

func TestPixelCNNMaskedStackCausality(t *testing.T) {
	const h, w, layers = 6, 7, 4
	rng := NewRNG(41)
	var convs []*Conv2d
	model := identityDeps(h * w)
	for l := 0; l < layers; l++ {
		kind, in := MaskB, 4
		if l == 0 {
			kind, in = MaskA, 1
		}
		convs = append(convs, NewMaskedConv2d("pc", in, 4, 3, 3, kind, true, rng))
		model = model.conv(kind, 3, 3, h, w)
	}
	got := measureDeps(h, w, func(x *Tensor) *Tensor {
		for _, c := range convs {
			x = c.Forward(x)
		}
		return x
	})
	if i, j, ok := got.equal(model); !ok {
		t.Fatalf("output %d on input %d: measured %v, mask model %v", i, j, got[i][j], model[i][j])
	}
	assertCausal(t, got)
	// The plain masked stack's known blind spot: one row up, two columns
	// right is unreachable at any depth.
	blind := 0
	for r := 1; r < h; r++ {
		for c := 0; c+2 < w; c++ {
			if got[r*w+c][(r-1)*w+c+2] {
				t.Fatalf("(%d,%d) reaches (%d,%d), inside the PixelCNN blind spot", r, c, r-1, c+2)
			}
			blind++
		}
	}
	t.Logf("masked stack: causal, matches the mask model, %d blind-spot pairs confirmed", blind)
}

// gatedStacks is the dependency skeleton of a gated PixelCNN: vertical
// 3x3 stack, horizontal 1x3 stack and 1x1 links through ShiftDown. The gate
// nonlinearity is elementwise and left out; shift=false drops ShiftDown to
// show that the causality test notices the leak.
type gatedStacks struct {
	v, hz, link []*Conv2d
	sd          []*ShiftDown
	shift       bool
}

func newGatedStacks(layers, ch int, shift bool, rng *RNG) *gatedStacks {
	g := &gatedStacks{shift: shift}
	for l := 0; l < layers; l++ {
		in, hk := ch, MaskHorizontalB
		if l == 0 {
			in, hk = 1, MaskHorizontalA
		}
		g.v = append(g.v, NewMaskedConv2d("v", in, ch, 3, 3, MaskVertical, true, rng))
		g.hz = append(g.hz, NewMaskedConv2d("h", in, ch, 1, 3, hk, true, rng))
		g.link = append(g.link, NewConv2d("link", ch, ch, 1, 1, 0, true, rng))
		g.sd = append(g.sd, &ShiftDown{})
	}
	return g
}

func (g *gatedStacks) forward(x *Tensor) *Tensor {
	v, h := x, x
	for l := range g.v {
		v = g.v[l].Forward(v)
		down := v
		if g.shift {
			down = g.sd[l].Forward(v)
		}
		t := addTensors(g.hz[l].Forward(h), g.link[l].Forward(down))
		if l == 0 {
			h = t
		} else {
			h = addTensors(h, t)
		}
	}
	return h
}

func (g *gatedStacks) model(h, w int) deps {
	v, hz := identityDeps(h*w), identityDeps(h*w)
	for l := range g.v {
		hk := MaskHorizontalB
		if l == 0 {
			hk = MaskHorizontalA
		}
		v = v.conv(MaskVertical, 3, 3, h, w)
		down := v
		if g.shift {
			down = v.shiftDown(h, w)
		}
		t := hz.conv(hk, 1, 3, h, w).union(down)
		if l == 0 {
			hz = t
		} else {
			hz = hz.union(t)
		}
	}
	return hz
}

func TestGatedPixelCNNStacksCausality(t *testing.T) {
	const h, w = 7, 7
	for _, layers := range []int{2, 6} {
		g := newGatedStacks(layers, 3, true, NewRNG(51))
		got := measureDeps(h, w, g.forward)
		if i, j, ok := got.equal(g.model(h, w)); !ok {
			t.Fatalf("%d layers: output %d on input %d: measured %v, model disagrees", layers, i, j, got[i][j])
		}
		assertCausal(t, got)
		missing := 0
		for i := range got {
			for j := 0; j < i; j++ {
				if !got[i][j] {
					missing++
				}
			}
		}
		t.Logf("%d layers: causal; %d (output, earlier input) pairs outside the receptive field", layers, missing)
		// Six 3-wide layers span the 7x7 grid: no blind spot may remain.
		if layers == 6 && missing != 0 {
			t.Errorf("%d layers on %dx%d: %d earlier positions unreachable, want none", layers, h, w, missing)
		}
	}
}

// TestGatedStacksWithoutShiftLeak shows the causality test can fail: without
// ShiftDown the vertical stack feeds the current row's future into the
// horizontal stack.
func TestGatedStacksWithoutShiftLeak(t *testing.T) {
	const h, w = 5, 5
	g := newGatedStacks(2, 2, false, NewRNG(52))
	got := measureDeps(h, w, g.forward)
	leaks := 0
	for i := range got {
		for j := i; j < len(got); j++ {
			if got[i][j] {
				leaks++
			}
		}
	}
	if leaks == 0 {
		t.Fatal("gated stacks without ShiftDown measured causal; the dependency test is blind")
	}
	t.Logf("without ShiftDown: %d non-causal dependencies found, as expected", leaks)
}

// TestMaskedStackGradCheck checks gradients through a composed causal stack
// (masked convs and ShiftDown), not just single layers.
func TestMaskedStackGradCheck(t *testing.T) {
	rng := NewRNG(61)
	v := NewMaskedConv2d("v", 2, 3, 3, 3, MaskVertical, true, rng)
	hz := NewMaskedConv2d("h", 2, 3, 1, 3, MaskHorizontalA, true, rng)
	sd := &ShiftDown{}
	x := randTensor(rng, 2, 2, 5, 6)
	var hcache *Tensor
	fwd := func(x *Tensor) *Tensor {
		hcache = addTensors(hz.Forward(x), sd.Forward(v.Forward(x)))
		return hcache
	}
	bwd := func(dy *Tensor) *Tensor {
		dx := hz.Backward(dy).Clone()
		dv := v.Backward(sd.Backward(dy))
		for i, g := range dv.Data {
			dx.Data[i] += g
		}
		return dx
	}
	ps := append(v.Params(), hz.Params()...)
	res := checkOp(diffOp{"stack", x, fwd, bwd, ps}, rng, nil)
	t.Logf("vertical+ShiftDown+horizontal stack: max rel err %.2e (%s)", res.MaxRelErr, res.Worst)
	if res.MaxRelErr > 1e-2 || math.IsNaN(res.MaxRelErr) {
		t.Errorf("stack gradient check failed: %.3g at %s", res.MaxRelErr, res.Worst)
	}
}
