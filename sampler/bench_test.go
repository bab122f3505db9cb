package sampler

import (
	"fmt"
	"testing"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// noisePrior returns fixed random logits regardless of the codes: a prior
// with no cost of its own, so benchmarks and allocation checks measure the
// sampler alone at the real sizes (K=512, 7x7).
type noisePrior struct {
	info prior.Info
	bank []float32 // [hw, K]
	out  *nn.Tensor
}

func newNoisePrior() *noisePrior {
	p := &noisePrior{info: prior.Info{Arch: "noise", K: 512, H: 7, W: 7}}
	p.bank = make([]float32, 49*512)
	nn.NewRNG(1).Normal(p.bank, 0, 3)
	return p
}

func (p *noisePrior) Info() prior.Info    { return p.info }
func (p *noisePrior) Params() []*nn.Param { return nil }
func (p *noisePrior) Backward(*nn.Tensor) {}
func (p *noisePrior) Forward(codes, classes []int32, n int) *nn.Tensor {
	p.out = nn.Ensure(p.out, n*49, 512)
	for i := 0; i < n; i++ {
		copy(p.out.Data[i*49*512:], p.bank)
	}
	return p.out
}
func (p *noisePrior) NewStepper(n int) prior.Stepper {
	return &noiseStepper{p: p, out: nn.NewTensor(n, 512)}
}

type noiseStepper struct {
	p   *noisePrior
	n   int
	out *nn.Tensor
}

func (s *noiseStepper) Reset(n int, classes []int32) { s.n = n }
func (s *noiseStepper) Next(codes []int32, pos int) *nn.Tensor {
	s.out = nn.Ensure(s.out, s.n, 512)
	for i := 0; i < s.n; i++ {
		copy(s.out.Data[i*512:], s.p.bank[pos*512:(pos+1)*512])
	}
	return s.out
}

func TestRasterLoopAllocatesNothingPerPosition(t *testing.T) {
	p := newNoisePrior()
	r := newRaster(p, 16, 0.9, 50, 0.95, 1)
	rngs := gridRNGs(nn.NewRNG(1), 16)
	codes := make([]int32, 16*49)
	after := func(int) {}
	run := func() {
		if err := r.run(codes, nil, nil, rngs, 0, after); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(5, run); a != 0 {
		t.Errorf("a 49-position pass allocates %v times", a)
	}
}

func TestGuidedRasterAllocatesNothingPerPosition(t *testing.T) {
	p := newNoisePrior()
	p.info.Classes = 10 // the noise ignores the class; the loop's work is the same
	r := newRaster(p, 16, 0.9, 50, 0.95, 2)
	rngs := gridRNGs(nn.NewRNG(1), 16)
	codes := make([]int32, 16*49)
	classes := make([]int32, 16)
	after := func(int) {}
	run := func() {
		if err := r.run(codes, classes, nil, rngs, 0, after); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(5, run); a != 0 {
		t.Errorf("a guided 49-position pass allocates %v times", a)
	}
}

func BenchmarkSample(b *testing.B) {
	p := newNoisePrior()
	for _, c := range []struct {
		k int
		p float32
	}{{0, 1}, {0, 0.9}, {40, 1}} {
		b.Run(fmt.Sprintf("n64_top_k%d_top_p%g", c.k, c.p), func(b *testing.B) {
			opt := Options{N: 64, Temperature: 1, TopK: c.k, TopP: c.p}
			for b.Loop() {
				if _, err := Sample(p, opt, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64*49), "ns/cell")
		})
	}
}

func BenchmarkGibbsEdit(b *testing.B) {
	p := newNoisePrior()
	keep := make([]bool, 49)
	for i := range keep {
		keep[i] = i < 14 || i >= 28 // rows 2-3 free
	}
	grid := make([]int32, 49)
	opt := EditOptions{N: 16, Sweeps: 1, Proposals: 4, Temperature: 1, TopP: 1}
	for b.Loop() {
		if _, err := Edit(p, grid, keep, opt, nil); err != nil {
			b.Fatal(err)
		}
	}
}
