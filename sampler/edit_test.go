package sampler

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// editDists returns, for a 2x2 K=3 tabular prior with the cells of keep
// fixed to grid's values, the exact target of gibbs edits (the tempered
// joint restricted to the fixed values) and the exact distribution of
// raster edits (each free cell from q(x_i | x_<i) alone), both indexed by
// gridIndex of the whole grid.
func editDists(tp *tabPrior, grid []int32, keep []bool, class int32, temp float64) (target, raster []float64) {
	grids := tp.allGrids()
	target = make([]float64, len(grids))
	raster = make([]float64, len(grids))
	zt := 0.0
	for i, x := range grids {
		ok := true
		for p := range x {
			if keep[p] && x[p] != grid[p] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		target[i] = tp.jointProb(x, class, temp)
		zt += target[i]
		r := 1.0
		for p := range x {
			if !keep[p] {
				r *= softmax64(tp.row(x, class, p), temp)[x[p]]
			}
		}
		raster[i] = r
	}
	for i := range target {
		target[i] /= zt
	}
	return target, raster
}

// TestGibbsEditMatchesExactConditional is the project's correctness test
// for edits: free cells (0,0) and (1,0) come before the fixed cells (0,1)
// and (1,1) in raster order, so the fixed cells carry information about the
// free ones that raster sampling ignores. Gibbs edits must match the exact
// conditional computed by enumeration; raster edits must miss it.
func TestGibbsEditMatchesExactConditional(t *testing.T) {
	const chains = 20000
	keep := []bool{false, true, false, true}
	grid := []int32{0, 2, 0, 1} // values at free cells are ignored
	cases := []struct {
		classes int
		class   int32
		temp    float32
	}{
		{0, 0, 1},
		{0, 0, 0.7},
		{3, 2, 1},
	}
	for _, c := range cases {
		for _, span := range []bool{false, true} {
			t.Run(fmt.Sprintf("classes%d_T%g_span=%v", c.classes, c.temp, span), func(t *testing.T) {
				tp := newTabPrior(23, 3, 2, 2, c.classes, 1)
				var p prior.Prior = tp
				if span {
					p = spanTab{tp}
				}
				target, rasterExact := editDists(tp, grid, keep, c.class, float64(c.temp))
				bound := tvBound(t, target, chains)
				gap := tv(target, rasterExact)
				t.Logf("exact TV(raster, target) %.4f, bound %.4f", gap, bound)
				if gap < 3*bound {
					t.Fatalf("test design: raster's exact distribution is only %.4f from the target; pick tables where it is > 3 x %.4f", gap, bound)
				}
				var cls []int32
				if c.classes > 0 {
					cls = []int32{c.class}
				}
				emp := map[string][]float64{}
				for _, m := range []string{MethodGibbs, MethodRaster} {
					opt := EditOptions{N: chains, Method: m, Sweeps: 12, Proposals: 4, Classes: cls, Temperature: c.temp, TopP: 1, Seed: 5, Batch: 4096}
					calls := tp.calls
					g, err := Edit(p, grid, keep, opt, nil)
					if err != nil {
						t.Fatal(err)
					}
					if m == MethodGibbs && span && tp.calls != calls {
						t.Errorf("the span path made %d full Forward passes", tp.calls-calls)
					}
					checkKept(t, g, grid, keep)
					h := make([]float64, len(target))
					for i := 0; i < chains; i++ {
						h[gridIndex(g.Codes[i*4:(i+1)*4], 3)] += 1.0 / chains
					}
					emp[m] = h
				}
				dg, dr, drr := tv(emp[MethodGibbs], target), tv(emp[MethodRaster], target), tv(emp[MethodRaster], rasterExact)
				t.Logf("TV(gibbs, target) %.4f  TV(raster, target) %.4f  TV(raster, raster exact) %.4f", dg, dr, drr)
				if dg > bound {
					t.Errorf("gibbs edits are %.4f (TV) from the exact conditional, bound %.4f", dg, bound)
				}
				if dr <= bound {
					t.Errorf("raster edits are only %.4f from the exact conditional; the test cannot tell the methods apart (bound %.4f)", dr, bound)
				}
				if rb := tvBound(t, rasterExact, chains); drr > rb {
					t.Errorf("raster edits are %.4f from their own exact distribution, bound %.4f", drr, rb)
				}
			})
		}
	}
}

func checkKept(t *testing.T, g *Grids, grid []int32, keep []bool) {
	t.Helper()
	hw := len(grid)
	for i := 0; i < g.N; i++ {
		for p := 0; p < hw; p++ {
			if keep[p] && g.Codes[i*hw+p] != grid[p] {
				t.Fatalf("edit %d changed kept cell %d from %d to %d", i, p, grid[p], g.Codes[i*hw+p])
			}
		}
	}
}

func TestEditKeepsFixedCellsAndIsReproducible(t *testing.T) {
	for _, span := range []bool{false, true} {
		t.Run(fmt.Sprint("span=", span), func(t *testing.T) {
			var p prior.Prior = newTabPrior(4, 4, 3, 3, 0, 1)
			if span {
				p = spanTab{p.(*tabPrior)}
			}
			editKeepsAndReproduces(t, p)
		})
	}
}

func editKeepsAndReproduces(t *testing.T, tp prior.Prior) {
	rng := nn.NewRNG(8)
	for trial := 0; trial < 10; trial++ {
		grid := make([]int32, 9)
		keep := make([]bool, 9)
		for p := range grid {
			grid[p] = int32(rng.Intn(4))
			keep[p] = rng.Intn(2) == 0
		}
		keep[rng.Intn(9)] = false
		for _, m := range []string{MethodGibbs, MethodRaster, ""} {
			opt := EditOptions{N: 50, Method: m, Sweeps: 2, Temperature: 1, TopP: 1, Seed: uint64(trial)}
			g, err := Edit(tp, grid, keep, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkKept(t, g, grid, keep)
			opt.Batch = 7
			g2, err := Edit(tp, grid, keep, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g.Codes, g2.Codes) {
				t.Errorf("method %q: batch 7 gives other edits than the default batch", m)
			}
		}
	}
}

func TestEditValidates(t *testing.T) {
	tp := newTabPrior(1, 3, 2, 2, 0, 1)
	grid := []int32{0, 1, 2, 0}
	keep := []bool{true, false, true, true}
	cases := []struct {
		name string
		grid []int32
		keep []bool
		edit func(*EditOptions)
		want string
	}{
		{"method", grid, keep, func(o *EditOptions) { o.Method = "annealing" }, `unknown edit method "annealing"`},
		{"top_k with gibbs", grid, keep, func(o *EditOptions) { o.TopK = 2 }, "top_k/top_p apply to raster edits only"},
		{"sweeps", grid, keep, func(o *EditOptions) { o.Sweeps = -1 }, "sweeps must be >= 0"},
		{"grid size", grid[:3], keep, nil, "grid has 3 cells"},
		{"code range", []int32{0, 1, 3, 0}, keep, nil, "cell (1,0) holds code 3"},
		{"mask size", grid, keep[:2], nil, "cell mask has 2 cells"},
		{"nothing free", grid, []bool{true, true, true, true}, nil, "keeps every cell"},
		{"temperature", grid, keep, func(o *EditOptions) { o.Temperature = 0 }, "temperature must be > 0"},
		{"classes", grid, keep, func(o *EditOptions) { o.Classes = []int32{1} }, "unconditional"},
		{"count", grid, keep, func(o *EditOptions) { o.N = 0 }, "number of edits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := EditOptions{N: 3, Temperature: 1, TopP: 1}
			if c.edit != nil {
				c.edit(&o)
			}
			_, err := Edit(tp, c.grid, c.keep, o, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestSpanGibbsEqualsFullPasses: with the same logits (a table), gibbs
// edits through a rewinding stepper make the same draws and decisions as
// with full passes over every proposal, so they give the same grids.
func TestSpanGibbsEqualsFullPasses(t *testing.T) {
	rng := nn.NewRNG(9)
	for trial := 0; trial < 6; trial++ {
		tp := newTabPrior(uint64(30+trial), 3, 3, 3, 2, 1.5)
		grid := make([]int32, 9)
		keep := make([]bool, 9)
		for p := range grid {
			grid[p] = int32(rng.Intn(3))
			keep[p] = rng.Intn(2) == 0
		}
		keep[rng.Intn(9)] = false
		opt := EditOptions{N: 40, Sweeps: 3, Proposals: 3, Classes: []int32{1}, Temperature: 0.8, TopP: 1, Seed: uint64(trial)}
		full, err := Edit(tp, grid, keep, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		span, err := Edit(spanTab{tp}, grid, keep, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(full.Codes, span.Codes) {
			t.Errorf("trial %d: span-path edits differ from full-pass edits", trial)
		}
	}
}

// TestEditLanesChangeNothing: a Transformer's edits run as lanes (one core
// per batch of chains) or as one batch sharing the cores, with any batch,
// and give the same grids; a progress function that panics (how the
// application layer cancels) gets its panic back from the lanes.
func TestEditLanesChangeNothing(t *testing.T) {
	info := prior.Info{K: 7, H: 4, W: 4, Classes: 3}
	tr, err := prior.NewTransformer(configs.Transformer{Layers: 2, Dim: 16, Heads: 2, MLPMult: 2}, info, nn.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tr.Params() {
		nn.NewRNG(3).Normal(p.Data.Data, 0, 0.5)
	}
	grid := make([]int32, 16)
	keep := make([]bool, 16)
	for i := range grid {
		grid[i] = int32(i % 7)
		keep[i] = i < 5 || i == 9 || i > 13
	}
	opt := EditOptions{N: 8, Sweeps: 3, Proposals: 3, Classes: []int32{2}, Temperature: 1, TopP: 1, Seed: 11}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	ref, err := Edit(tr, grid, keep, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, procs := range []int{2, 3, 4} {
		for _, b := range []int{0, 1, 3} {
			runtime.GOMAXPROCS(procs)
			o := opt
			o.Batch = b
			last, all := 0, -1
			g, err := Edit(tr, grid, keep, o, func(done, total int) {
				if done < last || done > total {
					t.Errorf("procs %d batch %d: progress %d of %d after %d", procs, b, done, total, last)
				}
				last, all = done, total
			})
			if err != nil {
				t.Fatal(err)
			}
			if last != all {
				t.Errorf("procs %d batch %d: progress ended at %d of %d", procs, b, last, all)
			}
			if !slices.Equal(g.Codes, ref.Codes) {
				t.Errorf("procs %d batch %d: other edits than one core's", procs, b)
			}
		}
	}
	runtime.GOMAXPROCS(2)
	type cancel struct{}
	calls := 0
	func() {
		defer func() {
			if r := recover(); r != (cancel{}) {
				t.Errorf("recovered %v, want the progress function's panic", r)
			}
		}()
		Edit(tr, grid, keep, opt, func(done, total int) {
			if calls++; calls == 5 {
				panic(cancel{})
			}
		})
	}()
	if calls != 5 {
		t.Errorf("progress called %d times, want it to stop at the panic (5)", calls)
	}
}
