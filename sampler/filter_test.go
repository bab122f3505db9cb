package sampler

import (
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

// refDist is the filtered distribution computed the slow, obvious way in
// float64: full sort by (logit desc, code asc), cut at k, softmax(l/T),
// cut the shortest prefix with mass >= p, renormalise.
func refDist(l []float32, temperature float64, k int, p float64) []float64 {
	idx := make([]int, len(l))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return l[idx[a]] > l[idx[b]] })
	if k > 0 && k < len(l) {
		idx = idx[:k]
	}
	m := float64(l[idx[0]])
	w := make([]float64, len(idx))
	s := 0.0
	for j, i := range idx {
		w[j] = math.Exp((float64(l[i]) - m) / temperature)
		s += w[j]
	}
	if p < 1 {
		acc := 0.0
		for j := range w {
			acc += w[j]
			if acc >= p*s {
				idx, w, s = idx[:j+1], w[:j+1], acc
				break
			}
		}
	}
	out := make([]float64, len(l))
	for j, i := range idx {
		out[i] = w[j] / s
	}
	return out
}

// filterDist returns the filter's distribution of a row as a dense vector.
func filterDist(t *testing.T, f *filter, l []float32) []float64 {
	t.Helper()
	all, cnt, sum, err := f.dist(l)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(l))
	for j := 0; j < cnt; j++ {
		c := j
		if !all {
			c = int(f.pairs[j].i)
		}
		out[c] = float64(f.w[j]) / sum
	}
	return out
}

func support(p []float64) []int {
	var s []int
	for i, v := range p {
		if v > 0 {
			s = append(s, i)
		}
	}
	return s
}

func TestTopKKeepsExactlyKLargest(t *testing.T) {
	cases := []struct {
		name   string
		logits []float32
		k      int
		want   []int
	}{
		{"distinct", []float32{0.1, 2, -1, 3, 0.5}, 2, []int{1, 3}},
		{"tie at the cut goes to the lower code", []float32{1, 3, 3, 2, 3}, 2, []int{1, 2}},
		{"all equal", []float32{5, 5, 5, 5, 5, 5}, 4, []int{0, 1, 2, 3}},
		{"k=1 tie", []float32{-2, 7, 7}, 1, []int{1}},
		{"k=K keeps all", []float32{1, 2, 3}, 3, []int{0, 1, 2}},
		{"k>K keeps all", []float32{1, 2, 3}, 9, []int{0, 1, 2}},
		{"ties below the cut", []float32{4, 1, 1, 1, 9, 1}, 3, []int{0, 1, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFilter(len(c.logits), 1, c.k, 1)
			got := support(filterDist(t, f, c.logits))
			if !slices.Equal(got, c.want) {
				t.Errorf("kept %v, want %v", got, c.want)
			}
		})
	}
}

func TestTopKSelectionMatchesSort(t *testing.T) {
	rng := nn.NewRNG(3)
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.Intn(300)
		l := make([]float32, n)
		for i := range l {
			// Few distinct values, so ties are everywhere.
			l[i] = float32(rng.Intn(7))
		}
		k := 1 + rng.Intn(n)
		got := support(filterDist(t, newFilter(n, 1, k, 1), l))
		want := support(refDist(l, 1, k, 1))
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d k=%d: kept %v, want %v", n, k, got, want)
		}
	}
}

func TestTopPKeepsSmallestSetWithMass(t *testing.T) {
	l := []float32{float32(math.Log(0.2)), float32(math.Log(0.5)), float32(math.Log(0.3))}
	cases := []struct {
		p    float32
		want []int
	}{
		{0.1, []int{1}},
		{0.49, []int{1}},
		{0.51, []int{1, 2}},
		{0.79, []int{1, 2}},
		{0.81, []int{0, 1, 2}},
		{1, []int{0, 1, 2}},
	}
	for _, c := range cases {
		got := support(filterDist(t, newFilter(3, 1, 0, c.p), l))
		if !slices.Equal(got, c.want) {
			t.Errorf("top_p %g: kept %v, want %v", c.p, got, c.want)
		}
	}
}

func TestFilterDistMatchesReference(t *testing.T) {
	rng := nn.NewRNG(5)
	cases := []struct {
		temp float32
		k    int
		p    float32
	}{
		{1, 0, 1}, {0.5, 0, 1}, {2, 0, 1}, {1, 5, 1}, {1, 0, 0.9}, {0.7, 10, 0.8}, {1.3, 1, 0.5}, {1, 40, 0.3},
	}
	for _, c := range cases {
		for trial := 0; trial < 20; trial++ {
			l := make([]float32, 37)
			rng.Normal(l, 0, 3)
			got := filterDist(t, newFilter(len(l), c.temp, c.k, c.p), l)
			want := refDist(l, float64(c.temp), c.k, float64(c.p))
			for i := range got {
				if (got[i] == 0) != (want[i] == 0) || math.Abs(got[i]-want[i]) > 1e-5 {
					t.Fatalf("T=%g k=%d p=%g: code %d prob %g, want %g", c.temp, c.k, c.p, i, got[i], want[i])
				}
			}
		}
	}
}

func TestTinyTemperatureIsArgmax(t *testing.T) {
	rng := nn.NewRNG(9)
	l := make([]float32, 50)
	for trial := 0; trial < 100; trial++ {
		rng.Normal(l, 0, 1)
		best := 0
		for i, v := range l {
			if v > l[best] {
				best = i
			}
		}
		f := newFilter(len(l), 1e-6, 0, 1)
		for d := 0; d < 5; d++ {
			c, err := f.draw(l, rng)
			if err != nil {
				t.Fatal(err)
			}
			if int(c) != best {
				t.Fatalf("temperature 1e-6 drew %d (logit %g), argmax is %d (logit %g)", c, l[c], best, l[best])
			}
		}
	}
}

func TestFilterRejectsBadLogits(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, l := range [][]float32{{0, nan, 1}, {inf, 0, 1}, {-inf, -inf}} {
		if _, err := newFilter(len(l), 1, 0, 1).draw(l, nn.NewRNG(1)); err == nil || !strings.Contains(err.Error(), "NaN") {
			t.Errorf("logits %v: err %v, want an error about NaN/Inf", l, err)
		}
	}
}

func TestFilterDrawAllocatesNothing(t *testing.T) {
	rng := nn.NewRNG(1)
	l := make([]float32, 512)
	rng.Normal(l, 0, 2)
	for _, f := range []*filter{newFilter(512, 1, 0, 1), newFilter(512, 0.8, 40, 0.9), newFilter(512, 1, 0, 0.95)} {
		if a := testing.AllocsPerRun(100, func() { _, _ = f.draw(l, rng) }); a != 0 {
			t.Errorf("draw allocates %v times per row", a)
		}
	}
}
