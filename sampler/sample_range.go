package sampler

import (
	"fmt"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// SampleRange draws grids lo..hi-1 of the opt.N grids that Sample(p, opt)
// draws: the same codes and classes, bit for bit. Every grid's generator is
// split off the seed's root in grid order, and drawn classes are shuffled
// over all opt.N grids, so a range first steps the root past the grids
// before it (cheap next to drawing a grid); that makes any partition of [0, opt.N) into
// ranges, drawn on any number of machines, give exactly Sample's result.
// The returned Grids hold the hi-lo grids of the range; progress counts
// cells within it.
func SampleRange(p prior.Prior, opt Options, lo, hi int, progress Progress) (*Grids, error) {
	info := p.Info()
	if opt.N <= 0 {
		return nil, fmt.Errorf("sampler: number of grids must be > 0, got %d", opt.N)
	}
	if lo < 0 || hi > opt.N || lo >= hi {
		return nil, fmt.Errorf("sampler: range [%d, %d) of %d grids: want 0 <= lo < hi <= %d", lo, hi, opt.N, opt.N)
	}
	if err := checkFilter(opt.Temperature, opt.TopK, opt.TopP); err != nil {
		return nil, err
	}
	if err := checkGuidance(info, opt.Guidance); err != nil {
		return nil, err
	}
	n := hi - lo
	batch, err := batchSize(opt.Batch, n)
	if err != nil {
		return nil, err
	}
	root := nn.NewRNG(opt.Seed)
	classes, err := resolveClasses(info, opt.Classes, opt.N, root)
	if err != nil {
		return nil, err
	}
	for range lo { // the generators of the grids before the range
		root.Split()
	}
	rngs := gridRNGs(root, n)
	if classes != nil {
		classes = classes[lo:hi:hi]
	}
	hw := info.Positions()
	g := &Grids{N: n, H: info.H, W: info.W, Codes: make([]int32, n*hw), Classes: classes}
	r := newRaster(p, batch, opt.Temperature, opt.TopK, opt.TopP, opt.Guidance)
	total := n * hw
	for a := 0; a < n; a += batch {
		b := min(a+batch, n)
		var cls []int32
		if classes != nil {
			cls = classes[a:b]
		}
		err := r.run(g.Codes[a*hw:b*hw], cls, nil, rngs[a:b], lo+a, func(pos int) {
			progress.report(a*hw+(b-a)*(pos+1), total)
		})
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}
