package kernels

import (
	"fmt"
	"math"
)

// ArgminColumns finds, for each column r < cols of the k x cols matrix dist
// (row stride ld), the row q minimising dist[q*ld+r] + norms[q]: best[r]
// gets that sum and bestK[r] the first q attaining it. Each sum is one
// float32 addition and rows are visited in order with a strict
// comparison, so the first minimum wins and a NaN never does (a column of
// NaNs keeps +Inf and 0), exactly as the scalar loop. It is the argmin of
// a nearest-code search from distances -2 e.z (a GEMM) and norms |e|^2.
func ArgminColumns(dist []float32, ld, k, cols int, norms, best []float32, bestK []int32) {
	if cols <= 0 {
		return
	}
	if ld < cols || len(norms) < k || len(best) < cols || len(bestK) < cols || (k > 0 && len(dist) < (k-1)*ld+cols) {
		panic(fmt.Sprintf("kernels: ArgminColumns: %d x %d (ld %d) with %d floats, %d norms, %d/%d outputs",
			k, cols, ld, len(dist), len(norms), len(best), len(bestK)))
	}
	if hasRows && k > 0 {
		for c0 := 0; c0 < cols; c0 += 64 {
			n := min(64, cols-c0)
			mask := uint64(1)<<n - 1
			if n == 64 {
				mask = math.MaxUint64
			}
			argminColsAVX512(k, &dist[c0], ld, &norms[0], int(mask), &best[c0], &bestK[c0])
		}
		return
	}
	b, bk := best[:cols], bestK[:cols]
	for r := range b {
		b[r] = float32(math.Inf(1))
		bk[r] = 0
	}
	for q := 0; q < k; q++ {
		en := norms[q]
		for r, v := range dist[q*ld : q*ld+cols] {
			if v += en; v < b[r] {
				b[r], bk[r] = v, int32(q)
			}
		}
	}
}
