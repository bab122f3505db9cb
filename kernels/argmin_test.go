package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestArgminColumnsMatchesScan compares ArgminColumns with a scan of each
// column on widths around the vector and block sizes, with ties (the
// first must win), NaNs (never chosen) and a column of only NaNs.
func TestArgminColumnsMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	nan := float32(math.NaN())
	for _, cols := range []int{1, 5, 16, 17, 49, 64, 65, 130} {
		for _, k := range []int{0, 1, 7, 512} {
			ld := cols + 3
			dist := make([]float32, max(k, 1)*ld)
			for i := range dist {
				dist[i] = float32(r.IntN(20)) // small integers: many ties
				if r.IntN(50) == 0 {
					dist[i] = nan
				}
			}
			if k > 0 {
				for q := 0; q < k; q++ {
					dist[q*ld] = nan // column 0: all NaN
				}
			}
			norms := make([]float32, k)
			for i := range norms {
				norms[i] = float32(r.IntN(3))
			}
			best := make([]float32, cols+1)
			bestK := make([]int32, cols+1)
			best[cols], bestK[cols] = 42, 42
			ArgminColumns(dist, ld, k, cols, norms, best, bestK)
			for c := 0; c < cols; c++ {
				wb, wk := float32(math.Inf(1)), int32(0)
				for q := 0; q < k; q++ {
					if v := dist[q*ld+c] + norms[q]; v < wb {
						wb, wk = v, int32(q)
					}
				}
				if math.Float32bits(best[c]) != math.Float32bits(wb) || bestK[c] != wk {
					t.Fatalf("cols %d k %d: column %d = (%v, %d), want (%v, %d)", cols, k, c, best[c], bestK[c], wb, wk)
				}
			}
			if best[cols] != 42 || bestK[cols] != 42 {
				t.Fatalf("cols %d k %d: wrote past the last column", cols, k)
			}
		}
	}
}
