package prior

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/internal/trainloop"
	"github.com/vqgen/vqgen/nn"
)

// TestDropClasses: the fraction of classes replaced by the null class is p
// within 5 standard deviations of the binomial count (a false failure has
// probability below 1e-6), replaced entries are exactly the null class and
// the rest keep their label, and p = 0 replaces none.
func TestDropClasses(t *testing.T) {
	const steps, batch, null = 200, 500, 10
	for _, p := range []float64{0, 0.1, 0.5} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			var pcg rand.PCG
			cls := make([]int32, batch)
			total := 0
			for step := range steps {
				for i := range cls {
					cls[i] = int32(i % null)
				}
				n := DropClasses(cls, null, p, &pcg, 7, step)
				got := 0
				for i, c := range cls {
					switch c {
					case null:
						got++
					case int32(i % null):
					default:
						t.Fatalf("step %d: class %d of grid %d is neither its label nor the null class", step, c, i)
					}
				}
				if got != n {
					t.Fatalf("step %d: returned %d, replaced %d", step, n, got)
				}
				total += n
			}
			draws := float64(steps * batch)
			want, sd := p*draws, math.Sqrt(draws*p*(1-p))
			t.Logf("p %.2f: %d of %.0f replaced, expected %.0f +- %.0f", p, total, draws, want, sd)
			if math.Abs(float64(total)-want) > 5*sd {
				t.Errorf("p %.2f: %d replaced, want %.0f +- %.0f (5 sd)", p, total, want, 5*sd)
			}
		})
	}
}

// TestDropClassesReproducible: the choice depends on (seed, step) only, not
// on what the generator did before, which is what makes a resumed training
// drop the same classes as an uninterrupted one.
func TestDropClassesReproducible(t *testing.T) {
	draw := func(pcg *rand.PCG, seed uint64, step int) []int32 {
		c := make([]int32, 64)
		DropClasses(c, 3, 0.3, pcg, seed, step)
		return c
	}
	var a, b rand.PCG
	draw(&b, 1, 99) // b has been used before; a is fresh
	ref := draw(&a, 1, 5)
	if !slices.Equal(ref, draw(&b, 1, 5)) {
		t.Errorf("same (seed, step) gave different drops after other use of the generator")
	}
	if slices.Equal(ref, draw(&a, 1, 6)) {
		t.Errorf("steps 5 and 6 drop the same grids")
	}
	if slices.Equal(ref, draw(&a, 2, 5)) {
		t.Errorf("seeds 1 and 2 drop the same grids")
	}
}

// TestResumeWithClassDropoutIsBitIdentical trains a tiny conditional prior
// with heavy class dropout straight through and, separately, interrupted
// after 3 steps and resumed: the parameters must agree bit for bit, which
// holds only if the resumed run drops the same classes.
func TestResumeWithClassDropoutIsBitIdentical(t *testing.T) {
	cfg := configs.Default()
	cfg.Prior.Arch = "transformer"
	cfg.Prior.Transformer = configs.Transformer{Layers: 1, Dim: 8, Heads: 2, MLPMult: 2}
	cfg.Prior.ValCount = 8
	cfg.Prior.Train = configs.PriorTrain{Steps: 7, Batch: 8, LR: 1e-2, Warmup: 1, LRMin: 1e-3, LogEvery: 1, ClassDropout: 0.5}
	rng := nn.NewRNG(3)
	const n = 40
	codes := &Codes{Name: "synthetic", N: n, Info: Info{K: cfg.VQVAE.K, H: 7, W: 7, Classes: 10},
		Grids: randCodes(rng, n*49, cfg.VQVAE.K), Labels: randCodes(rng, n, 10), Fingerprint: "fp"}
	train := func(dir string, resume bool, stopAfter int) (*Trainer, error) {
		tr, err := NewTrainer(cfg, codes, dir, resume)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tr.OnStep = func(s trainloop.Step) {
			if s.N == stopAfter {
				cancel()
			}
		}
		return tr, tr.Run(ctx, nil)
	}
	straight, err := train(t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := train(dir, false, 3); err == nil {
		t.Fatal("the interrupted run did not report the interruption")
	}
	resumed, err := train(dir, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Step != 7 {
		t.Fatalf("resumed run ended at step %d, want 7", resumed.Step)
	}
	a, b := straight.Prior.Params(), resumed.Prior.Params()
	for i := range a {
		if !slices.Equal(a[i].Data.Data, b[i].Data.Data) {
			t.Errorf("%s differs between the straight and the resumed run", a[i].Name)
		}
	}
}
