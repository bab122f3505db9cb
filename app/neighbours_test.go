package app

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/datasets"
)

// randomSet is n random 8-bit images of c x s x s, keyed.
func randomSet(rng *rand.Rand, n, c, s int) *datasets.Dataset {
	ds := &datasets.Dataset{Name: "random", N: n, C: c, H: s, W: s, Pix8: make([]uint8, n*c*s*s)}
	for i := range ds.Pix8 {
		ds.Pix8[i] = uint8(rng.IntN(256))
	}
	for i := range n {
		ds.Keys = append(ds.Keys, fmt.Sprintf("k%03d.png", i))
	}
	return ds
}

// bruteNearest is nearestImages the slow way: every distance in float64,
// sorted.
func bruteNearest(ds *datasets.Dataset, q []float32, k int, mirrored bool) []Neighbour {
	type cand struct {
		d   float64
		i   int
		mir bool
	}
	q8 := quantize(q)
	var all []cand
	for i := range ds.N {
		im := ds.Pix8[i*ds.ImageLen() : (i+1)*ds.ImageLen()]
		best := cand{math.Inf(1), i, false}
		for _, mir := range []bool{false, true} {
			if mir && !mirrored {
				continue
			}
			qq := q8
			if mir {
				qq = mirror(q8, ds.W)
			}
			var d float64
			for j := range qq {
				e := float64(qq[j]) - float64(im[j])
				d += e * e
			}
			if d < best.d {
				best = cand{d, i, mir}
			}
		}
		all = append(all, best)
	}
	slices.SortStableFunc(all, func(a, b cand) int {
		if a.d != b.d {
			return int(math.Copysign(1, a.d-b.d))
		}
		return a.i - b.i
	})
	var out []Neighbour
	for _, c := range all[:min(k, len(all))] {
		out = append(out, Neighbour{Index: c.i, Key: ds.Keys[c.i], RMSE: math.Sqrt(c.d/float64(len(q8))) / 255, Mirrored: c.mir})
	}
	return out
}

// nearestImages finds what a brute-force search finds, on one core or
// many, with and without mirrored matches, for images that are near one
// training image (a copy with noise, a mirrored copy) and far from all.
func TestNearestImages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := randomSet(rng, 203, 3, 9)
	n := ds.ImageLen()
	copyOf := func(i int, mir bool, noise int) []float32 {
		px := append([]uint8(nil), ds.Pix8[i*n:(i+1)*n]...)
		if mir {
			px = mirror(px, ds.W)
		}
		out := make([]float32, n)
		for j, v := range px {
			out[j] = float32(max(0, min(255, int(v)+rng.IntN(2*noise+1)-noise))) / 255
		}
		return out
	}
	queries := [][]float32{copyOf(17, false, 0), copyOf(150, false, 20), copyOf(88, true, 5), copyOf(202, true, 0)}
	for range 4 {
		q := make([]float32, n)
		for j := range q {
			q[j] = rng.Float32()*1.2 - 0.1 // also outside [0, 1]: clamped as a PNG would be
		}
		queries = append(queries, q)
	}
	for _, procs := range []int{1, 3} {
		for _, mirrored := range []bool{false, true} {
			t.Run(fmt.Sprintf("procs=%d,mirrored=%v", procs, mirrored), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				got := nearestImages(ds, queries, 2, mirrored)
				for i, q := range queries {
					want := bruteNearest(ds, q, 2, mirrored)
					if len(got[i]) != len(want) {
						t.Fatalf("query %d: %d neighbours, want %d", i, len(got[i]), len(want))
					}
					for j := range want {
						g, w := got[i][j], want[j]
						if g.Index != w.Index || g.Key != w.Key || g.Mirrored != w.Mirrored || math.Abs(g.RMSE-w.RMSE) > 1e-12 {
							t.Errorf("query %d, neighbour %d: %+v, want %+v", i, j, g, w)
						}
					}
				}
				if got[0][0].Index != 17 || got[0][0].RMSE != 0 {
					t.Errorf("an exact copy of image 17 found %+v", got[0][0])
				}
				if mirrored && (got[2][0].Index != 88 || !got[2][0].Mirrored || got[3][0].Index != 202 || got[3][0].RMSE != 0) {
					t.Errorf("mirrored copies of 88 and 202 found %+v and %+v", got[2][0], got[3][0])
				}
			})
		}
	}
}

// A training set of one image, or of float pixels (IDX float files),
// still answers.
func TestNearestImagesSmallAndFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ds := randomSet(rng, 5, 1, 4)
	f := &datasets.Dataset{Name: "float", N: ds.N, C: 1, H: 4, W: 4, Pixels: make([]float32, len(ds.Pix8))}
	for i, v := range ds.Pix8 {
		f.Pixels[i] = float32(v) / 255
	}
	q := [][]float32{f.Pixels[2*16 : 3*16]}
	if got := nearestImages(f, q, 2, false); len(got[0]) != 2 || got[0][0].Index != 2 || got[0][0].RMSE != 0 || got[0][0].Key != "" {
		t.Errorf("float pixels: %+v, want image 2 at distance 0, no key", got[0])
	}
	one := ds.Slice(0, 1)
	if got := nearestImages(one, q, 2, true); len(got[0]) != 1 || got[0][0].Index != 0 {
		t.Errorf("one training image: %+v, want it alone", got[0])
	}
}

func TestMedianNearest(t *testing.T) {
	nb := func(d ...float64) (out [][]Neighbour) {
		for _, x := range d {
			out = append(out, []Neighbour{{RMSE: x}})
		}
		return out
	}
	if m := medianNearest(nb(0.3, 0.1, 0.2)); m != 0.2 {
		t.Errorf("median of 0.3, 0.1, 0.2 = %v", m)
	}
	if m := medianNearest(nb(0.4, 0.1, 0.2, 0.3)); math.Abs(m-0.25) > 1e-15 {
		t.Errorf("median of 0.4, 0.1, 0.2, 0.3 = %v", m)
	}
	if m := medianNearest(nil); !math.IsNaN(m) {
		t.Errorf("median of nothing = %v, want NaN", m)
	}
}
