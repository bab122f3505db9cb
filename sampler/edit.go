package sampler

import (
	"cmp"
	"fmt"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Edit methods.
const (
	MethodGibbs  = "gibbs"
	MethodRaster = "raster"
)

// DefaultSweeps is the number of gibbs sweeps when EditOptions.Sweeps is 0.
const DefaultSweeps = 4

// DefaultProposals is the number of Metropolis-Hastings steps per cell and
// sweep when EditOptions.Proposals is 0.
const DefaultProposals = 4

// EditOptions controls Edit.
type EditOptions struct {
	N      int    // edited grids to produce
	Method string // MethodGibbs (also ""), or MethodRaster
	Sweeps int    // gibbs sweeps over the free cells; 0: DefaultSweeps
	// Proposals is the number of Metropolis-Hastings steps per cell and
	// sweep, scored together in one Forward pass; 0: DefaultProposals.
	Proposals int
	// Classes: nil (an unconditional prior, or draw as Sample does), one
	// class for every output, or one per output.
	Classes     []int32
	Temperature float32 // > 0
	TopK        int     // raster only; 0: off
	TopP        float32 // raster only; 1: off
	Seed        uint64
	Batch       int // chains per batch; 0: DefaultBatch. Does not change the result.
}

// Edit returns opt.N grids that equal grid wherever keep is true and have
// the other cells redrawn by opt.Method (see the package comment). Edits
// sample the prior itself, without classifier-free guidance: the gibbs
// target is the product of the prior's conditionals, which guided logits
// would no longer be.
func Edit(p prior.Prior, grid []int32, keep []bool, opt EditOptions, progress Progress) (*Grids, error) {
	info := p.Info()
	hw := info.Positions()
	if opt.N <= 0 {
		return nil, fmt.Errorf("sampler: number of edits must be > 0, got %d", opt.N)
	}
	method := opt.Method
	if method == "" {
		method = MethodGibbs
	}
	if method != MethodGibbs && method != MethodRaster {
		return nil, fmt.Errorf("sampler: unknown edit method %q (want %q or %q)", opt.Method, MethodGibbs, MethodRaster)
	}
	if err := checkFilter(opt.Temperature, opt.TopK, opt.TopP); err != nil {
		return nil, err
	}
	if method == MethodGibbs && (opt.TopK != 0 || opt.TopP != 1) {
		return nil, fmt.Errorf("sampler: top_k/top_p apply to raster edits only (got top_k %d, top_p %g); gibbs samples the tempered prior conditional", opt.TopK, opt.TopP)
	}
	sweeps := opt.Sweeps
	if sweeps < 0 {
		return nil, fmt.Errorf("sampler: sweeps must be >= 0 (0: default %d), got %d", DefaultSweeps, sweeps)
	}
	if sweeps == 0 {
		sweeps = DefaultSweeps
	}
	proposals := opt.Proposals
	if proposals < 0 {
		return nil, fmt.Errorf("sampler: proposals must be >= 0 (0: default %d), got %d", DefaultProposals, proposals)
	}
	if proposals == 0 {
		proposals = DefaultProposals
	}
	if method == MethodRaster {
		sweeps = 0
	}
	if len(grid) != hw {
		return nil, fmt.Errorf("sampler: grid has %d cells, the prior models %dx%d = %d", len(grid), info.H, info.W, hw)
	}
	for pos, c := range grid {
		if c < 0 || int(c) >= info.K {
			return nil, fmt.Errorf("sampler: grid cell (%d,%d) holds code %d, out of range [0, %d)", pos/info.W, pos%info.W, c, info.K)
		}
	}
	if len(keep) != hw {
		return nil, fmt.Errorf("sampler: cell mask has %d cells, the grid %dx%d = %d", len(keep), info.H, info.W, hw)
	}
	var free []int
	for pos, k := range keep {
		if !k {
			free = append(free, pos)
		}
	}
	if len(free) == 0 {
		return nil, fmt.Errorf("sampler: the cell selection keeps every cell; nothing to redraw")
	}
	batch, err := batchSize(opt.Batch, opt.N)
	if err != nil {
		return nil, err
	}
	cls := opt.Classes
	if len(cls) == 1 && opt.N > 1 {
		cls = make([]int32, opt.N)
		for i := range cls {
			cls[i] = opt.Classes[0]
		}
	}
	root := nn.NewRNG(opt.Seed)
	classes, err := resolveClasses(info, cls, opt.N, root)
	if err != nil {
		return nil, err
	}
	rngs := gridRNGs(root, opt.N)

	out := &Grids{N: opt.N, H: info.H, W: info.W, Codes: make([]int32, opt.N*hw), Classes: classes}
	for i := 0; i < opt.N; i++ {
		copy(out.Codes[i*hw:], grid)
	}
	last := free[len(free)-1]
	perChain := (last + 1) + sweeps*len(free)
	_, span := p.NewStepper(1).(prior.SpanStepper)
	if sweeps > 0 {
		batch = gibbsBatch(span, batch, proposals)
	}
	workers := 1
	if span {
		// Batches on several cores need steppers that run concurrently,
		// which gibbs's full passes (the training Forward) are not.
		batch = laneBatch(batch, opt.N, nn.Workers())
		workers = nn.Workers()
	}
	nb := (opt.N + batch - 1) / batch
	// One raster and one set of chains per goroutine, made on first use.
	type state struct {
		r  *raster
		gb gibbsChains
	}
	states := make([]state, min(nb, workers))
	run := func(worker, b int, cells func(int) error) error {
		st := &states[worker]
		if st.r == nil {
			st.r = newRaster(p, batch, opt.Temperature, opt.TopK, opt.TopP, 1) // edits are unguided
			if sweeps > 0 {
				st.gb = newGibbsChains(p, span, free, batch, proposals, opt.Temperature)
			}
		}
		lo := b * batch
		hi := min(lo+batch, opt.N)
		n := hi - lo
		var c []int32
		if classes != nil {
			c = classes[lo:hi]
		}
		codes := out.Codes[lo*hw : hi*hw]
		var stopped error
		err := st.r.run(codes, c, keep, rngs[lo:hi], lo, func(int) {
			if stopped == nil {
				stopped = cells(n)
			}
		})
		if err != nil || stopped != nil || st.gb == nil {
			return cmp.Or(err, stopped)
		}
		if err := st.gb.init(codes, c, n); err != nil {
			return err
		}
		for s := 0; s < sweeps; s++ {
			for fi := range free {
				if err := st.gb.step(codes, c, rngs[lo:hi], fi); err != nil {
					return err
				}
				if err := cells(n); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := runBatches(nb, len(states), run, progress, opt.N*perChain); err != nil {
		return nil, err
	}
	return out, nil
}
