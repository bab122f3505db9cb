package prior

import (
	"fmt"
	"math"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
)

func newTestPixelCNN(t testing.TB, cfg configs.PixelCNN, info Info, seed uint64) *PixelCNN {
	t.Helper()
	m, err := NewPixelCNN(cfg, info, nn.NewRNG(seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomCodes(rng *nn.RNG, n, k int) []int32 {
	c := make([]int32, n)
	for i := range c {
		c[i] = int32(rng.Intn(k))
	}
	return c
}

func TestPixelCNNConfigErrors(t *testing.T) {
	good := configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6}
	info := Info{K: 5, H: 4, W: 4}
	for _, tc := range []struct {
		name string
		edit func(*configs.PixelCNN, *Info)
	}{
		{"layers", func(c *configs.PixelCNN, _ *Info) { c.Layers = 0 }},
		{"channels", func(c *configs.PixelCNN, _ *Info) { c.Channels = 0 }},
		{"kernel", func(c *configs.PixelCNN, _ *Info) { c.Kernel = 4 }},
		{"embed", func(c *configs.PixelCNN, _ *Info) { c.Embed = -1 }},
		{"head_hidden", func(c *configs.PixelCNN, _ *Info) { c.HeadHidden = 0 }},
		{"K", func(_ *configs.PixelCNN, i *Info) { i.K = 1 }},
		{"grid", func(_ *configs.PixelCNN, i *Info) { i.W = 0 }},
	} {
		c, i := good, info
		tc.edit(&c, &i)
		if _, err := NewPixelCNN(c, i, nn.NewRNG(1)); err == nil {
			t.Errorf("%s: no error for %+v %+v", tc.name, c, i)
		}
	}
	m := newTestPixelCNN(t, good, info, 1)
	if err := m.Check(make([]int32, 15), nil, 1); err == nil {
		t.Error("Check accepted 15 codes for a 4x4 grid")
	}
	if err := m.Check(append(make([]int32, 15), 5), nil, 1); err == nil {
		t.Error("Check accepted code 5 with K=5")
	}
	if err := m.Check(make([]int32, 16), []int32{0}, 1); err == nil {
		t.Error("Check accepted classes for an unconditional model")
	}
}

func TestPixelCNNParamNames(t *testing.T) {
	m := newTestPixelCNN(t, configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6},
		Info{K: 5, H: 4, W: 4, Classes: 3}, 1)
	names := map[string][]int{}
	for _, p := range m.Params() {
		if _, dup := names[p.Name]; dup {
			t.Errorf("duplicate parameter %s", p.Name)
		}
		names[p.Name] = p.Data.Shape
	}
	for name, want := range map[string][]int{
		"pixelcnn.embed.weight":           {5, 3},
		"pixelcnn.layers.0.v_conv.weight": {8, 3, 3, 3},
		"pixelcnn.layers.1.h_conv.weight": {8, 4, 1, 3},
		"pixelcnn.layers.1.v_to_h.weight": {8, 8, 1, 1},
		"pixelcnn.layers.1.h_out.bias":    {8},
		"pixelcnn.layers.1.cond.weight":   {3, 8},
		"pixelcnn.head.2.weight":          {5, 6, 1, 1},
	} {
		got, ok := names[name]
		if !ok || len(got) != len(want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: shape %v, want %v", name, got, want)
			}
		}
	}
}

// TestPixelCNNGradCheck compares Backward with central differences of
// sum(logits * R) for a sample of every parameter tensor. The head's ReLUs
// make the loss piecewise smooth: a difference whose +-eps evaluations put
// some ReLU input on the other side of 0 than at the centre measures the
// kink, not the gradient, so such samples are counted and skipped (a few at
// most; the check fails if many are).
func TestPixelCNNGradCheck(t *testing.T) {
	const eps, samples = 2e-3, 8
	for _, classes := range []int{0, 3} {
		info := Info{K: 5, H: 4, W: 4, Classes: classes}
		m := newTestPixelCNN(t, configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6}, info, 2)
		rng := nn.NewRNG(3)
		n := 2
		codes := randomCodes(rng, n*16, info.K)
		var cls []int32
		if classes > 0 {
			cls = randomCodes(rng, n, classes)
		}
		r := make([]float32, n*16*info.K)
		rng.Normal(r, 0, 1)
		nn.ZeroGrad(m.Params())
		y := m.Forward(codes, cls, n)
		m.Backward(nn.FromData(r, y.Shape...))
		signs := func() []bool {
			var s []bool
			for _, v := range m.skip.Data {
				s = append(s, v > 0)
			}
			for _, v := range m.relu2.Forward(m.head1.Forward(m.relu1.Forward(m.skip))).Data {
				s = append(s, v > 0)
			}
			return s
		}
		base := signs()
		kinked := func() bool {
			for i, v := range signs() {
				if v != base[i] {
					return true
				}
			}
			return false
		}
		worst, worstAt, checked, skipped := 0.0, "", 0, 0
		for _, p := range m.Params() {
			for _, i := range rng.Perm(p.Data.Len())[:min(samples, p.Data.Len())] {
				orig := p.Data.Data[i]
				p.Data.Data[i] = orig + eps
				lp := nn.Dot64(m.Forward(codes, cls, n).Data, r)
				kp := kinked()
				p.Data.Data[i] = orig - eps
				lm := nn.Dot64(m.Forward(codes, cls, n).Data, r)
				km := kinked()
				p.Data.Data[i] = orig
				if kp || km {
					skipped++
					continue
				}
				checked++
				num, a := (lp-lm)/(2*eps), float64(p.Grad.Data[i])
				rel := math.Abs(a-num) / math.Max(math.Abs(a)+math.Abs(num), 1e-2)
				if rel > worst {
					worst, worstAt = rel, fmt.Sprintf("%s[%d]: analytic %.6g, numeric %.6g", p.Name, i, a, num)
				}
			}
		}
		t.Logf("classes=%d: %d entries checked, %d skipped at ReLU kinks, max relative error %.3g (%s)",
			classes, checked, skipped, worst, worstAt)
		if worst > 2e-2 {
			t.Errorf("classes=%d: gradient mismatch: %s", classes, worstAt)
		}
		if skipped > checked/10 {
			t.Errorf("classes=%d: %d of %d samples skipped at kinks", classes, skipped, checked+skipped)
		}
	}
}

// TestPixelCNNCausality finds, for every position, the set of input
// positions its logits depend on, by changing one code at a time, and
// requires exactly the positions before it in raster order.
func TestPixelCNNCausality(t *testing.T) {
	for _, tc := range []struct {
		name           string
		h, w           int
		layers, kernel int
	}{
		{"5x5 k3", 5, 5, 5, 3},
		{"7x7 k5", 7, 7, 3, 5},
		{"3x6 k3", 3, 6, 5, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := Info{K: 4, H: tc.h, W: tc.w, Classes: 2}
			m := newTestPixelCNN(t, configs.PixelCNN{Layers: tc.layers, Channels: 4, Kernel: tc.kernel, Embed: 3, HeadHidden: 5}, info, 4)
			P := info.Positions()
			rng := nn.NewRNG(5)
			codes := randomCodes(rng, P, info.K)
			cls := []int32{1}
			base := m.Forward(codes, cls, 1).Clone()
			// dep[i][j]: logits at i move when code j changes.
			dep := make([][]bool, P)
			for i := range dep {
				dep[i] = make([]bool, P)
			}
			for j := range P {
				orig := codes[j]
				codes[j] = (orig + 1 + int32(rng.Intn(info.K-1))) % int32(info.K)
				y := m.Forward(codes, cls, 1)
				codes[j] = orig
				for i := range P {
					for k := range info.K {
						if y.Data[i*info.K+k] != base.Data[i*info.K+k] {
							dep[i][j] = true
							break
						}
					}
				}
			}
			for i := range P {
				for j := range P {
					if want := j < i; dep[i][j] != want {
						t.Errorf("position %d (row %d col %d) depends on %d (row %d col %d): %v, want %v",
							i, i/tc.w, i%tc.w, j, j/tc.w, j%tc.w, dep[i][j], want)
					}
				}
			}
		})
	}
}

func TestPixelCNNClassConditioning(t *testing.T) {
	info := Info{K: 6, H: 4, W: 4, Classes: 3}
	m := newTestPixelCNN(t, configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6}, info, 6)
	codes := randomCodes(nn.NewRNG(7), 16, info.K)
	a := m.Forward(codes, []int32{0}, 1).Clone()
	b := m.Forward(codes, []int32{2}, 1)
	// Every position, the first included, must see the class.
	for p := range 16 {
		same := true
		for k := range info.K {
			if a.Data[p*info.K+k] != b.Data[p*info.K+k] {
				same = false
			}
		}
		if same {
			t.Errorf("position %d: logits identical for classes 0 and 2", p)
		}
	}
}

// TestPixelCNNStepperMatchesForward checks the incremental sampler against
// full forward passes at every position, over several chunks of grids.
func TestPixelCNNStepperMatchesForward(t *testing.T) {
	for _, tc := range []struct {
		name string
		info Info
		cfg  configs.PixelCNN
		n    int
	}{
		{"cond 5x6 k3", Info{K: 7, H: 5, W: 6, Classes: 3}, configs.PixelCNN{Layers: 3, Channels: 5, Kernel: 3, Embed: 4, HeadHidden: 6}, 20},
		{"uncond 7x7 k5", Info{K: 9, H: 7, W: 7}, configs.PixelCNN{Layers: 4, Channels: 6, Kernel: 5, Embed: 3, HeadHidden: 8}, 3},
		{"2x3 k7", Info{K: 3, H: 2, W: 3, Classes: 2}, configs.PixelCNN{Layers: 2, Channels: 3, Kernel: 7, Embed: 2, HeadHidden: 4}, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestPixelCNN(t, tc.cfg, tc.info, 8)
			rng := nn.NewRNG(9)
			P := tc.info.Positions()
			codes := randomCodes(rng, tc.n*P, tc.info.K)
			var cls []int32
			if tc.info.Classes > 0 {
				cls = randomCodes(rng, tc.n, tc.info.Classes)
			}
			want := m.Forward(codes, cls, tc.n)
			st := m.NewStepper(tc.n + 5)
			// Two rounds: Reset must fully restart the stepper.
			for round := range 2 {
				st.Reset(tc.n, cls)
				var worst float64
				for pos := range P {
					got := st.Next(codes, pos)
					for g := range tc.n {
						for k := range tc.info.K {
							a, b := got.Data[g*tc.info.K+k], want.Data[(g*P+pos)*tc.info.K+k]
							d := math.Abs(float64(a-b)) / (1 + math.Abs(float64(b)))
							worst = max(worst, d)
						}
					}
				}
				t.Logf("round %d: max relative difference %.3g", round, worst)
				if worst > 1e-5 {
					t.Errorf("round %d: stepper differs from Forward by %.3g", round, worst)
				}
			}
		})
	}
}

// TestPixelCNNInitLoss: at initialisation the model should be close to
// uniform over the codes.
func TestPixelCNNInitLoss(t *testing.T) {
	info := Info{K: 512, H: 7, W: 7, Classes: 10}
	m := newTestPixelCNN(t, configs.PixelCNN{Layers: 3, Channels: 16, Kernel: 5, Embed: 16, HeadHidden: 32}, info, 10)
	rng := nn.NewRNG(11)
	n := 8
	codes := randomCodes(rng, n*49, info.K)
	var ce nn.CrossEntropy
	bits := float64(ce.Forward(m.Forward(codes, randomCodes(rng, n, 10), n), codes)) / math.Ln2
	t.Logf("init loss %.3f bits per code, log2(K) = %.3f", bits, math.Log2(512))
	if math.Abs(bits-9) > 0.9 {
		t.Errorf("init loss %.3f bits, want within 10%% of 9", bits)
	}
}

// TestPixelCNNMemorise trains a tiny model on 8 fixed grids, one class
// each, so every grid is fully predictable from its class and prefix.
func TestPixelCNNMemorise(t *testing.T) {
	info := Info{K: 8, H: 4, W: 4, Classes: 8}
	m := newTestPixelCNN(t, configs.PixelCNN{Layers: 3, Channels: 16, Kernel: 3, Embed: 8, HeadHidden: 32}, info, 12)
	rng := nn.NewRNG(13)
	n := 8
	codes := randomCodes(rng, n*16, info.K)
	cls := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	opt := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	var ce nn.CrossEntropy
	var bits float64
	for step := range 300 {
		nn.ZeroGrad(m.Params())
		bits = float64(ce.Forward(m.Forward(codes, cls, n), codes)) / math.Ln2
		if step == 0 {
			t.Logf("step 0: %.3f bits per code", bits)
		}
		m.Backward(ce.Backward())
		opt.Step(m.Params(), 1e-2)
	}
	t.Logf("after 300 steps: %.4f bits per code", bits)
	if bits > 0.2 {
		t.Errorf("training loss %.3f bits per code, want < 0.2", bits)
	}
}

// TestPixelCNNNoAllocs: warmed-up training steps and sampling steps
// allocate nothing.
func TestPixelCNNNoAllocs(t *testing.T) {
	info := Info{K: 6, H: 4, W: 4, Classes: 2}
	m := newTestPixelCNN(t, configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6}, info, 14)
	rng := nn.NewRNG(15)
	n := 4
	codes := randomCodes(rng, n*16, info.K)
	cls := randomCodes(rng, n, 2)
	var ce nn.CrossEntropy
	train := func() {
		ce.Forward(m.Forward(codes, cls, n), codes)
		m.Backward(ce.Backward())
	}
	train()
	if a := testing.AllocsPerRun(5, train); a > 0 {
		t.Errorf("training step: %.1f allocations", a)
	}
	// 40 grids: three chunks, so the worker pool is exercised.
	ns := 40
	scodes := randomCodes(rng, ns*16, info.K)
	scls := randomCodes(rng, ns, 2)
	st := m.NewStepper(ns)
	sample := func() {
		st.Reset(ns, scls)
		for p := range 16 {
			st.Next(scodes, p)
		}
	}
	sample()
	if a := testing.AllocsPerRun(5, sample); a > 0 {
		t.Errorf("sampling: %.1f allocations", a)
	}
}
