package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	var tab [1024]uint32
	for i := range tab {
		tab[i] = uint32(math.Round(math.Exp2(30 - float64(i)/1024)))
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100, 512, 513} {
		for trial := range 6 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 5)
				switch rng.IntN(40) {
				case 0:
					x[i] = nan
				case 1:
					x[i] = -inf
				case 2:
					x[i] = 0
				}
			}
			if trial == 1 {
				x[n-1] = inf
			}
			if trial == 2 {
				for i := range x {
					x[i] = nan
				}
			}
			if trial == 3 {
				for i := range x {
					x[i] = float32(math.Copysign(0, float64(rng.IntN(2)-1)))
				}
			}
			type result struct {
				m      float32
				top    int
				w, f   []uint32
				sw, sf uint64
			}
			var ref *result
			for _, p := range DetPaths() {
				restore := SetDetPath(p)
				var r result
				r.m, r.top = QuantMax(x)
				r.w = make([]uint32, n)
				r.sw = QuantWeights(r.w, x, r.m, 1477.3195, &tab)
				r.f = slices.Clone(r.w)
				r.sf = QuantScale(r.f, uint32(rng.Uint32()>>2)|1)
				restore()
				if ref == nil {
					ref = &r
					continue
				}
				same := (math.Float32bits(r.m) == math.Float32bits(ref.m) || r.m == ref.m) && r.top == ref.top &&
					slices.Equal(r.w, ref.w) && r.sw == ref.sw
				if !same {
					t.Fatalf("n=%d trial %d: path %s differs from %s: max %g@%d vs %g@%d, sums %d vs %d",
						n, trial, p, DetPaths()[0], r.m, r.top, ref.m, ref.top, r.sw, ref.sw)
				}
			}
		}
	}
}

// TestQuantScalePaths uses one multiplier on every path.
func TestQuantScalePaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{1, 7, 16, 17, 512, 1000} {
		w := make([]uint32, n)
		for i := range w {
			w[i] = rng.Uint32() >> uint(1+rng.IntN(31))
		}
		r := rng.Uint32() >> 2
		var ref []uint32
		var refSum uint64
		for _, p := range DetPaths() {
			restore := SetDetPath(p)
			f := slices.Clone(w)
			s := QuantScale(f, r)
			restore()
			if ref == nil {
				ref, refSum = f, s
				continue
			}
			if !slices.Equal(f, ref) || (s != refSum && s&0xffffffff != refSum&0xffffffff) {
				t.Fatal(fmt.Sprintf("n=%d: path %s differs (sum %d vs %d)", n, p, s, refSum))
			}
		}
	}
}
