package sampler

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// guidedRow is the definition: l_null + w*(l_cond - l_null).
func guidedRow(tp *tabPrior, x []int32, class int32, p int, w float32) []float32 {
	lc, lu := tp.row(x, class, p), tp.row(x, tp.info.NullClass(), p)
	out := make([]float32, len(lc))
	for j := range out {
		out[j] = lu[j] + w*(lc[j]-lu[j])
	}
	return out
}

// TestGuidanceMatchesEnumeration: guided samples of a tabular conditional
// prior follow prod_p filter(softmax(l_null + w (l_cond - l_null))) within
// the total-variation bound of the draw count (tvBound).
func TestGuidanceMatchesEnumeration(t *testing.T) {
	const draws = 20000
	cases := []struct {
		k, h, w int
		class   int32
		guide   float32
		temp    float32
		topK    int
		topP    float32
	}{
		{6, 1, 1, 1, 2, 1, 0, 1},
		{6, 1, 1, 0, 0.5, 1, 0, 1},
		{6, 1, 1, 2, 1.5, 0.8, 0, 0.9},
		{3, 2, 2, 1, 2, 1, 0, 1},
		{3, 2, 2, 0, 1.5, 1.2, 2, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("K%d_%dx%d_y%d_w%g_T%g_k%d_p%g", c.k, c.h, c.w, c.class, c.guide, c.temp, c.topK, c.topP), func(t *testing.T) {
			tp := newTabPrior(11, c.k, c.h, c.w, 3, 1)
			opt := baseOptions(draws)
			opt.Temperature, opt.TopK, opt.TopP, opt.Seed, opt.Guidance = c.temp, c.topK, c.topP, 7, c.guide
			opt.Classes = make([]int32, draws)
			for i := range opt.Classes {
				opt.Classes[i] = c.class
			}
			g, err := Sample(tp, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			grids := tp.allGrids()
			want := make([]float64, len(grids))
			plain := make([]float64, len(grids)) // unguided, to show the test can tell them apart
			for i, x := range grids {
				pr, pp := 1.0, 1.0
				for p := range x {
					pr *= refDist(guidedRow(tp, x, c.class, p, c.guide), float64(c.temp), c.topK, float64(c.topP))[x[p]]
					pp *= refDist(tp.row(x, c.class, p), float64(c.temp), c.topK, float64(c.topP))[x[p]]
				}
				want[i], plain[i] = pr, pp
			}
			got := make([]float64, len(grids))
			hw := c.h * c.w
			for i := 0; i < draws; i++ {
				got[gridIndex(g.Codes[i*hw:(i+1)*hw], c.k)] += 1.0 / draws
			}
			d, bound := tv(got, want), tvBound(t, want, draws)
			t.Logf("TV %.4f, bound %.4f; TV to the unguided distribution %.4f", d, bound, tv(got, plain))
			if d > bound {
				t.Errorf("empirical distribution is %.4f from the guided one (TV), bound %.4f", d, bound)
			}
			if tv(plain, want) <= 2*bound {
				t.Errorf("guided and unguided distributions are only %.4f apart: the case cannot tell them apart", tv(plain, want))
			}
		})
	}
}

// TestGuidanceOffIsPlain: weights 0 and 1 give byte-identical grids to
// Options without guidance; 2 changes them.
func TestGuidanceOffIsPlain(t *testing.T) {
	tp := newTabPrior(2, 4, 2, 3, 3, 1)
	opt := baseOptions(50)
	ref, err := Sample(tp, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w    float32
		same bool
	}{{0, true}, {1, true}, {2, false}} {
		o := opt
		o.Guidance = c.w
		g, err := Sample(tp, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if same := slices.Equal(g.Codes, ref.Codes) && slices.Equal(g.Classes, ref.Classes); same != c.same {
			t.Errorf("guidance %g: same grids as without guidance = %v, want %v", c.w, same, c.same)
		}
	}
}

// TestGuidanceBatchAndProcsIndependent: guided grids depend on the seed
// only, not on the batch size or GOMAXPROCS, for the tabular prior and for
// both real architectures (whose steppers then carry 2n grids).
func TestGuidanceBatchAndProcsIndependent(t *testing.T) {
	info := prior.Info{K: 7, H: 3, W: 4, Classes: 3}
	tr, err := prior.NewTransformer(configs.Transformer{Layers: 2, Dim: 16, Heads: 2, MLPMult: 2}, info, nn.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := prior.NewPixelCNN(configs.PixelCNN{Layers: 2, Channels: 4, Kernel: 3, Embed: 3, HeadHidden: 6}, info, nn.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than the initialisation's, so the logits (and the
	// guidance) matter to the draws.
	for _, p := range append(tr.Params(), pc.Params()...) {
		nn.NewRNG(3).Normal(p.Data.Data, 0, 0.5)
	}
	for _, c := range []struct {
		name string
		p    prior.Prior
	}{{"table", newTabPrior(2, 4, 2, 3, 3, 1)}, {"transformer", tr}, {"pixelcnn", pc}} {
		t.Run(c.name, func(t *testing.T) {
			opt := baseOptions(37)
			opt.Seed, opt.Guidance = 42, 2.5
			ref, err := Sample(c.p, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			o := opt
			o.Guidance = 1
			plain, err := Sample(c.p, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(plain.Codes, ref.Codes) {
				t.Errorf("guidance 2.5 gives the same grids as no guidance")
			}
			for _, procs := range []int{1, 4} {
				for _, b := range []int{1, 5, 37, 100} {
					prev := runtime.GOMAXPROCS(procs)
					o := opt
					o.Batch = b
					g, err := Sample(c.p, o, nil)
					runtime.GOMAXPROCS(prev)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(g.Codes, ref.Codes) || !slices.Equal(g.Classes, ref.Classes) {
						t.Errorf("GOMAXPROCS %d, batch %d: other grids than the default", procs, b)
					}
				}
			}
		})
	}
}
