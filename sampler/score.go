package sampler

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// NLLBits returns -log2 p(x | y) of each of n grids (codes: n*H*W in raster
// order; classes: one per grid for a conditional prior, nil otherwise),
// with Forward passes over at most batch grids (0: DefaultBatch). The bits
// of a grid do not depend on batch beyond the prior's own rounding.
func NLLBits(p prior.Prior, codes, classes []int32, n int, batch int) ([]float64, error) {
	info := p.Info()
	k, hw := info.K, info.Positions()
	if n <= 0 {
		return nil, fmt.Errorf("sampler: number of grids to score must be > 0, got %d", n)
	}
	if len(codes) != n*hw {
		return nil, fmt.Errorf("sampler: %d codes given for %d grids of %dx%d", len(codes), n, info.H, info.W)
	}
	for i, c := range codes {
		if c < 0 || int(c) >= k {
			return nil, fmt.Errorf("sampler: grid %d cell (%d,%d) holds code %d, out of range [0, %d)", i/hw, (i%hw)/info.W, i%info.W, c, k)
		}
	}
	if info.Classes > 0 && classes == nil {
		return nil, fmt.Errorf("sampler: the prior is conditional on %d classes but no classes were given", info.Classes)
	}
	if _, err := resolveClasses(info, classes, n, nil); err != nil {
		return nil, err
	}
	batch, err := batchSize(batch, n)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		var cls []int32
		if classes != nil {
			cls = classes[lo:hi]
		}
		x := codes[lo*hw : hi*hw]
		logits := p.Forward(x, cls, hi-lo)
		if len(logits.Data) != (hi-lo)*hw*k {
			return nil, fmt.Errorf("sampler: prior returned %d logits for %d grids, want %d", len(logits.Data), hi-lo, (hi-lo)*hw*k)
		}
		// One grid per item: the sum over a grid's cells runs in cell order
		// whatever the split.
		nn.ParallelFor(hi-lo, func(_, a, b int) {
			for g := a; g < b; g++ {
				s := 0.0
				for j := 0; j < hw; j++ {
					r := g*hw + j
					s -= logProb(logits.Data[r*k:(r+1)*k], x[r], 1)
				}
				out[lo+g] = s / math.Ln2
			}
		})
		for g := lo; g < hi; g++ {
			if math.IsNaN(out[g]) || math.IsInf(out[g], 0) {
				return nil, fmt.Errorf("sampler: grid %d scores %v bits: the prior's logits are not finite", g, out[g])
			}
		}
	}
	return out, nil
}
