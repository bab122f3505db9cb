package sampler

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func baseOptions(n int) Options {
	return Options{N: n, Temperature: 1, TopP: 1, Seed: 1}
}

func TestSampleMatchesEnumeration(t *testing.T) {
	const draws = 20000
	cases := []struct {
		k, h, w int
		temp    float32
		topK    int
		topP    float32
	}{
		{6, 1, 1, 1, 0, 1},
		{6, 1, 1, 0.6, 0, 1},
		{6, 1, 1, 1, 3, 1},
		{6, 1, 1, 1, 0, 0.8},
		{3, 2, 2, 1, 0, 1},
		{3, 2, 2, 1.5, 2, 0.9},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("K%d_%dx%d_T%g_k%d_p%g", c.k, c.h, c.w, c.temp, c.topK, c.topP), func(t *testing.T) {
			tp := newTabPrior(11, c.k, c.h, c.w, 0, 1.5)
			opt := baseOptions(draws)
			opt.Temperature, opt.TopK, opt.TopP, opt.Seed = c.temp, c.topK, c.topP, 7
			g, err := Sample(tp, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			grids := tp.allGrids()
			want := make([]float64, len(grids))
			for i, x := range grids {
				pr := 1.0
				for p := range x {
					pr *= refDist(tp.row(x, 0, p), float64(c.temp), c.topK, float64(c.topP))[x[p]]
				}
				want[i] = pr
			}
			got := make([]float64, len(grids))
			hw := c.h * c.w
			for i := 0; i < draws; i++ {
				got[gridIndex(g.Codes[i*hw:(i+1)*hw], c.k)] += 1.0 / draws
			}
			d, bound := tv(got, want), tvBound(t, want, draws)
			t.Logf("TV %.4f, bound %.4f", d, bound)
			if d > bound {
				t.Errorf("empirical distribution is %.4f from the exact one (TV), bound %.4f", d, bound)
			}
		})
	}
}

func TestSampleReproducibleAndBatchIndependent(t *testing.T) {
	tp := newTabPrior(2, 4, 2, 3, 3, 1)
	opt := baseOptions(37)
	opt.Seed = 42
	ref, err := Sample(tp, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []int{1, 5, 37, 100} {
		o := opt
		o.Batch = b
		g, err := Sample(tp, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(g.Codes, ref.Codes) || !slices.Equal(g.Classes, ref.Classes) {
			t.Errorf("batch %d gives other grids than the default batch", b)
		}
	}
	o := opt
	o.Seed = 43
	g, err := Sample(tp, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(g.Codes, ref.Codes) {
		t.Errorf("seeds 42 and 43 give the same grids")
	}
}

func TestSampleClasses(t *testing.T) {
	tp := newTabPrior(2, 4, 2, 2, 5, 1)
	// No classes: drawn, every class present once n >= C.
	for _, n := range []int{5, 12} {
		g, err := Sample(tp, baseOptions(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int32]int{}
		for _, c := range g.Classes {
			seen[c]++
		}
		if len(g.Classes) != n || len(seen) != 5 {
			t.Errorf("n=%d: drawn classes %v do not cover all 5", n, g.Classes)
		}
	}
	// Given classes are used: a grid's first cell follows its class's
	// table, and the given list comes back unchanged.
	opt := baseOptions(4)
	opt.Classes = []int32{4, 0, 4, 2}
	opt.Temperature = 1e-6
	g, err := Sample(tp, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Classes, opt.Classes) {
		t.Errorf("classes %v, want %v", g.Classes, opt.Classes)
	}
	for i, c := range opt.Classes {
		row := tp.row(nil, c, 0)
		if want := int32(slices.Index(row, slices.Max(row))); g.Codes[i*4] != want {
			t.Errorf("grid %d (class %d): first cell %d, want the class's argmax %d", i, c, g.Codes[i*4], want)
		}
	}
}

func TestSampleValidates(t *testing.T) {
	uncond := newTabPrior(1, 3, 2, 2, 0, 1)
	cond := newTabPrior(1, 3, 2, 2, 4, 1)
	cases := []struct {
		name string
		tp   *tabPrior
		edit func(*Options)
		want string
	}{
		{"zero grids", uncond, func(o *Options) { o.N = 0 }, "number of grids"},
		{"temperature 0", uncond, func(o *Options) { o.Temperature = 0 }, "temperature must be > 0, got 0"},
		{"temperature negative", uncond, func(o *Options) { o.Temperature = -1 }, "temperature must be > 0, got -1"},
		{"top_p 0", uncond, func(o *Options) { o.TopP = 0 }, "top_p must be in (0, 1]"},
		{"top_p above 1", uncond, func(o *Options) { o.TopP = 1.5 }, "got 1.5"},
		{"top_k negative", uncond, func(o *Options) { o.TopK = -2 }, "top_k must be >= 0 (0 turns it off), got -2"},
		{"classes for unconditional", uncond, func(o *Options) { o.Classes = []int32{0, 0} }, "unconditional but 2 classes"},
		{"class out of range", cond, func(o *Options) { o.Classes = []int32{0, 4} }, "class 4 of grid 1 is out of range [0, 4)"},
		{"negative class", cond, func(o *Options) { o.Classes = []int32{-1, 0} }, "class -1 of grid 0"},
		{"class count", cond, func(o *Options) { o.Classes = []int32{1} }, "1 classes given for 2 grids"},
		{"negative batch", uncond, func(o *Options) { o.Batch = -1 }, "batch must be >= 0"},
		{"guidance on unconditional", uncond, func(o *Options) { o.Guidance = 2 }, "guidance 2 needs a class-conditional prior"},
		{"negative guidance", cond, func(o *Options) { o.Guidance = -1 }, "guidance must be a finite number >= 0 (0 or 1 turns it off), got -1"},
		{"NaN guidance", cond, func(o *Options) { o.Guidance = float32(math.NaN()) }, "guidance must be a finite number >= 0"},
		{"infinite guidance", cond, func(o *Options) { o.Guidance = float32(math.Inf(1)) }, "guidance must be a finite number >= 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := baseOptions(2)
			c.edit(&o)
			_, err := Sample(c.tp, o, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestSampleProgress(t *testing.T) {
	tp := newTabPrior(1, 3, 2, 2, 0, 1)
	o := baseOptions(10)
	o.Batch = 4
	var last, calls int
	_, err := Sample(tp, o, func(done, total int) {
		if total != 40 || done <= last || done > total {
			t.Fatalf("progress %d/%d after %d", done, total, last)
		}
		last = done
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != 40 || calls != 12 {
		t.Errorf("progress ended at %d after %d calls, want 40 after 12", last, calls)
	}
}

func TestSampleRangeIsASliceOfSample(t *testing.T) {
	for _, classes := range []int{0, 3} {
		tp := newTabPrior(5, 4, 2, 3, classes, 1)
		opt := baseOptions(23)
		opt.Seed = 9
		ref, err := Sample(tp, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		hw := ref.H * ref.W
		for _, r := range [][2]int{{0, 23}, {0, 1}, {5, 6}, {7, 19}, {22, 23}} {
			lo, hi := r[0], r[1]
			o := opt
			o.Batch = 4 // a different batching too: ranges must not depend on it
			g, err := SampleRange(tp, o, lo, hi, nil)
			if err != nil {
				t.Fatal(err)
			}
			if g.N != hi-lo || !slices.Equal(g.Codes, ref.Codes[lo*hw:hi*hw]) {
				t.Errorf("classes %d, range [%d, %d): codes differ from Sample's", classes, lo, hi)
			}
			if want := ref.Classes; want != nil && !slices.Equal(g.Classes, want[lo:hi]) {
				t.Errorf("classes %d, range [%d, %d): classes %v, want %v", classes, lo, hi, g.Classes, want[lo:hi])
			}
		}
	}
	for _, r := range [][2]int{{-1, 3}, {3, 3}, {4, 2}, {0, 24}} {
		if _, err := SampleRange(newTabPrior(5, 4, 2, 3, 0, 1), baseOptions(23), r[0], r[1], nil); err == nil {
			t.Errorf("range [%d, %d) of 23 accepted", r[0], r[1])
		}
	}
}
