package sampler

import (
	"fmt"
	"math"

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
	total := opt.N * ((last + 1) + sweeps*len(free))
	r := newRaster(p, batch, opt.Temperature, opt.TopK, opt.TopP, 1) // edits are unguided
	var gb *gibbs
	if sweeps > 0 {
		gb = newGibbs(p, free, batch, proposals, opt.Temperature)
	}
	for lo := 0; lo < opt.N; lo += batch {
		hi := min(lo+batch, opt.N)
		n := hi - lo
		var c []int32
		if classes != nil {
			c = classes[lo:hi]
		}
		codes := out.Codes[lo*hw : hi*hw]
		done := lo * ((last + 1) + sweeps*len(free))
		err := r.run(codes, c, keep, rngs[lo:hi], lo, func(pos int) {
			progress.report(done+n*(pos+1), total)
		})
		if err != nil {
			return nil, err
		}
		done += n * (last + 1)
		if gb == nil {
			continue
		}
		if err := gb.init(codes, c, n); err != nil {
			return nil, err
		}
		for s := 0; s < sweeps; s++ {
			for fi := range free {
				if err := gb.step(codes, c, rngs[lo:hi], fi); err != nil {
					return nil, err
				}
				done += n
				progress.report(done, total)
			}
		}
	}
	return out, nil
}

// gibbs holds the state of a batch of Metropolis-within-Gibbs chains: the
// log-probabilities of the current grids at every cell and their logits at
// the free cells, which is what the proposals and the acceptance ratio need.
type gibbs struct {
	p     prior.Prior
	k     int
	hw    int
	w     int // grid width, for errors
	m     int // proposals per update
	invT  float32
	free  []int
	prop  *filter   // untruncated tempered conditional: the proposal
	rows  []float32 // [n, len(free), K] current logits at the free cells
	lp    []float64 // [n, hw] log q(x_j | x_<j) of the current grids
	newLP []float64 // [n*m, hw] the same for the proposed grids, cells > i
	logW  []float64 // [n*m] sum_{j>i} of newLP
	cand  []int32   // [n*m*hw] proposed grids, chain-major
	ccls  []int32   // [n*m] their classes
}

func newGibbs(p prior.Prior, free []int, batch, proposals int, temperature float32) *gibbs {
	info := p.Info()
	k, hw := info.K, info.Positions()
	return &gibbs{
		p: p, k: k, hw: hw, w: info.W, m: proposals, invT: 1 / temperature, free: free,
		prop:  newFilter(k, temperature, 0, 1),
		rows:  make([]float32, batch*len(free)*k),
		lp:    make([]float64, batch*hw),
		newLP: make([]float64, batch*proposals*hw),
		logW:  make([]float64, batch*proposals),
		cand:  make([]int32, batch*proposals*hw),
		ccls:  make([]int32, batch*proposals),
	}
}

func (g *gibbs) forward(codes, classes []int32, n int) (*nn.Tensor, error) {
	logits := g.p.Forward(codes, classes, n)
	if len(logits.Data) != n*g.hw*g.k {
		return nil, fmt.Errorf("sampler: prior returned %d logits for %d grids, want %d", len(logits.Data), n, n*g.hw*g.k)
	}
	return logits, nil
}

// init caches the log-probabilities and free-cell logits of codes.
func (g *gibbs) init(codes, classes []int32, n int) error {
	logits, err := g.forward(codes, classes, n)
	if err != nil {
		return err
	}
	k, hw, nf := g.k, g.hw, len(g.free)
	for c := 0; c < n; c++ {
		for j := 0; j < hw; j++ {
			row := logits.Data[(c*hw+j)*k : (c*hw+j+1)*k]
			g.lp[c*hw+j] = logProb(row, codes[c*hw+j], g.invT)
		}
		for fi, pos := range g.free {
			copy(g.rows[(c*nf+fi)*k:(c*nf+fi+1)*k], logits.Data[(c*hw+pos)*k:(c*hw+pos+1)*k])
		}
	}
	return nil
}

// step updates free cell fi of every chain with g.m Metropolis-Hastings
// steps in a row. The m proposals are drawn up front and scored with one
// Forward over n*m grids: a proposal's weight prod_{j>i} q(x_j | x'_<j)
// depends only on its own value at i, since the other cells do not move
// during the m steps, so the steps themselves are plain arithmetic.
func (g *gibbs) step(codes, classes []int32, rngs []*nn.RNG, fi int) error {
	k, hw, nf, m := g.k, g.hw, len(g.free), g.m
	n := len(rngs)
	i := g.free[fi]
	nm := n * m
	cand := g.cand[:nm*hw]
	for c := 0; c < n; c++ {
		row := g.rows[(c*nf+fi)*k : (c*nf+fi+1)*k]
		for a := 0; a < m; a++ {
			x, err := g.prop.draw(row, rngs[c])
			if err != nil {
				return fmt.Errorf("sampler: gibbs proposal for grid %d at cell (%d,%d): %w", c, i/g.w, i%g.w, err)
			}
			dst := cand[(c*m+a)*hw : (c*m+a+1)*hw]
			copy(dst, codes[c*hw:(c+1)*hw])
			dst[i] = x
			if classes != nil {
				g.ccls[c*m+a] = classes[c]
			}
		}
	}
	var ccls []int32
	if classes != nil {
		ccls = g.ccls[:nm]
	}
	logits, err := g.forward(cand, ccls, nm)
	if err != nil {
		return err
	}
	// Weights per proposal; each sum runs over one grid's cells in order,
	// so the split over goroutines does not change it.
	nn.ParallelFor(nm, func(_, lo, hi int) {
		for b := lo; b < hi; b++ {
			w := 0.0
			for j := i + 1; j < hw; j++ {
				row := logits.Data[(b*hw+j)*k : (b*hw+j+1)*k]
				l := logProb(row, cand[b*hw+j], g.invT)
				g.newLP[b*hw+j] = l
				w += l
			}
			g.logW[b] = w
		}
	})
	for c := 0; c < n; c++ {
		cur := 0.0
		for j := i + 1; j < hw; j++ {
			cur += g.lp[c*hw+j]
		}
		chosen := -1 // -1: the current grid
		for a := 0; a < m; a++ {
			b := c*m + a
			d := g.logW[b] - cur
			if math.IsNaN(d) {
				return fmt.Errorf("sampler: prior produced non-finite logits for a gibbs proposal at cell (%d,%d)", i/g.w, i%g.w)
			}
			// log min(1, W'/W): prod_{j>i} q(x_j|x'_<j) / prod_{j>i} q(x_j|x_<j).
			if math.Log(rngs[c].Float64()) < d {
				chosen, cur = b, g.logW[b]
			}
		}
		if chosen < 0 || cand[chosen*hw+i] == codes[c*hw+i] {
			continue
		}
		codes[c*hw+i] = cand[chosen*hw+i]
		g.lp[c*hw+i] = logProb(g.rows[(c*nf+fi)*k:(c*nf+fi+1)*k], codes[c*hw+i], g.invT)
		copy(g.lp[c*hw+i+1:(c+1)*hw], g.newLP[chosen*hw+i+1:(chosen+1)*hw])
		for fj := fi + 1; fj < nf; fj++ {
			pos := g.free[fj]
			copy(g.rows[(c*nf+fj)*k:(c*nf+fj+1)*k], logits.Data[(chosen*hw+pos)*k:(chosen*hw+pos+1)*k])
		}
	}
	return nil
}
