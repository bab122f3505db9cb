package prior

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
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
		"pixelcnn.layers.1.cond.weight":   {3 + 1, 8}, // the last row: the null class
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
			cls[n-1] = int32(classes) // the null class's row gets checked too
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
			for _, v := range m.head1.Forward(m.relu1.Forward(&m.skip)).Data { // head1's ReLU is fused
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
	for _, other := range []int32{2, 3} { // 3: the null class
		b := m.Forward(codes, []int32{other}, 1)
		// Every position, the first included, must see the class.
		for p := range 16 {
			same := true
			for k := range info.K {
				if a.Data[p*info.K+k] != b.Data[p*info.K+k] {
					same = false
				}
			}
			if same {
				t.Errorf("position %d: logits identical for classes 0 and %d", p, other)
			}
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
				cls[tc.n-1] = int32(tc.info.Classes) // the null class
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

// TestPixelCNNNullClass: Check and the stepper take classes 0..C, the null
// class C included, and reject C+1 and negatives with errors naming the
// range.
func TestPixelCNNNullClass(t *testing.T) {
	info := Info{K: 5, H: 3, W: 3, Classes: 3}
	m := newTestPixelCNN(t, configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6}, info, 1)
	codes := make([]int32, 2*9)
	for _, tc := range []struct {
		classes []int32
		want    string // "" for no error
	}{
		{[]int32{0, 2}, ""},
		{[]int32{3, 1}, ""},
		{[]int32{3, 3}, ""},
		{[]int32{0, 4}, "class 4 of grid 1 is outside 0..3"},
		{[]int32{-1, 0}, "class -1 of grid 0 is outside 0..3"},
	} {
		err := m.Check(codes, tc.classes, 2)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Check(classes %v): %v, want %q", tc.classes, err, tc.want)
		}
		st := m.NewStepper(2)
		msg := func() (msg string) {
			defer func() {
				if r := recover(); r != nil {
					msg = fmt.Sprint(r)
				}
			}()
			st.Reset(2, tc.classes)
			st.Next(codes, 0)
			return ""
		}()
		if (msg == "") != (tc.want == "") || !strings.Contains(msg, tc.want) {
			t.Errorf("stepper Reset(classes %v): panic %q, want %q", tc.classes, msg, tc.want)
		}
	}
}

// TestOldCheckpointError: a conditional checkpoint written before the null
// class (class tables of C rows) fails to load with an error naming the
// file, the tensor and both shapes.
func TestOldCheckpointError(t *testing.T) {
	for _, arch := range []string{"transformer", "pixelcnn"} {
		t.Run(arch, func(t *testing.T) {
			cfg := configs.Default()
			cfg.Prior.Arch = arch
			cfg.Prior.Transformer = configs.Transformer{Layers: 1, Dim: 8, Heads: 2, MLPMult: 2}
			cfg.Prior.PixelCNN = configs.PixelCNN{Layers: 1, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 4}
			info := Info{K: 5, H: 3, W: 3, Classes: 4}
			p, err := New(cfg, info, nn.NewRNG(1))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "prior.safetensors")
			if err := Save(path, p, cfg, "fp", "", 1); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err != nil {
				t.Fatalf("loading the current layout: %v", err)
			}
			// Rewrite the file with every class table cut to C rows.
			f, err := nn.LoadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			var ts []nn.NamedTensor
			var cut string
			for _, q := range p.Params() {
				d := q.Data
				if strings.HasSuffix(q.Name, "wcls.weight") || strings.HasSuffix(q.Name, ".cond.weight") {
					d = nn.FromData(d.Data[:4*d.Shape[1]], 4, d.Shape[1])
					cut = q.Name
				}
				ts = append(ts, nn.NamedTensor{Name: q.Name, Tensor: d})
			}
			if err := nn.SaveSafetensors(path, ts, f.Metadata); err != nil {
				t.Fatal(err)
			}
			_, err = Load(path)
			for _, want := range []string{path, "[4 ", "[5 ", "null class", "retrain"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("loading a pre-null-class checkpoint: %v, want it to mention %q", err, want)
				}
			}
			if err != nil && !strings.Contains(err.Error(), "cond.weight") && !strings.Contains(err.Error(), "wcls.weight") {
				t.Errorf("error %v names no class table (cut %s)", err, cut)
			}
		})
	}
}
