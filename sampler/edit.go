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

// EditOptions controls Edit.
type EditOptions struct {
	N      int    // edited grids to produce
	Method string // MethodGibbs (also ""), or MethodRaster
	Sweeps int    // gibbs sweeps over the free cells; 0: DefaultSweeps
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
// the other cells redrawn by opt.Method (see the package comment).
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
	r := newRaster(p, batch, opt.Temperature, opt.TopK, opt.TopP)
	var gb *gibbs
	if sweeps > 0 {
		gb = newGibbs(p, free, batch, opt.Temperature)
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
	p    prior.Prior
	k    int
	hw   int
	w    int // grid width, for errors
	invT float32
	free []int
	prop *filter // untruncated tempered conditional: the proposal

	rows  []float32 // [n, len(free), K] current logits at the free cells
	lp    []float64 // [n, hw] log q(x_j | x_<j) of the current grids
	newLP []float64 // [n, hw] the same for the proposed grids, cells > i
	delta []float64 // [n] log acceptance ratio
	cand  []int32   // [n*hw] proposed grids
	moved []bool    // [n] proposal differs from the current value
}

func newGibbs(p prior.Prior, free []int, batch int, temperature float32) *gibbs {
	info := p.Info()
	k, hw := info.K, info.Positions()
	return &gibbs{
		p: p, k: k, hw: hw, w: info.W, invT: 1 / temperature, free: free,
		prop:  newFilter(k, temperature, 0, 1),
		rows:  make([]float32, batch*len(free)*k),
		lp:    make([]float64, batch*hw),
		newLP: make([]float64, batch*hw),
		delta: make([]float64, batch),
		cand:  make([]int32, batch*hw),
		moved: make([]bool, batch),
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

// step makes one Metropolis-Hastings update of free cell fi in every chain.
func (g *gibbs) step(codes, classes []int32, rngs []*nn.RNG, fi int) error {
	k, hw, nf := g.k, g.hw, len(g.free)
	n := len(rngs)
	i := g.free[fi]
	cand := g.cand[:n*hw]
	copy(cand, codes)
	anyMoved := false
	for c := 0; c < n; c++ {
		x, err := g.prop.draw(g.rows[(c*nf+fi)*k:(c*nf+fi+1)*k], rngs[c])
		if err != nil {
			return fmt.Errorf("sampler: gibbs proposal for grid %d at cell (%d,%d): %w", c, i/g.w, i%g.w, err)
		}
		cand[c*hw+i] = x
		g.moved[c] = x != codes[c*hw+i]
		anyMoved = anyMoved || g.moved[c]
	}
	var logits *nn.Tensor
	if anyMoved {
		var err error
		if logits, err = g.forward(cand, classes, n); err != nil {
			return err
		}
		// log of prod_{j>i} q(x_j | x'_<j) / q(x_j | x_<j); per chain, so the
		// split over goroutines does not change any sum.
		nn.ParallelFor(n, func(_, lo, hi int) {
			for c := lo; c < hi; c++ {
				if !g.moved[c] {
					continue
				}
				d := 0.0
				for j := i + 1; j < hw; j++ {
					row := logits.Data[(c*hw+j)*k : (c*hw+j+1)*k]
					l := logProb(row, cand[c*hw+j], g.invT)
					g.newLP[c*hw+j] = l
					d += l - g.lp[c*hw+j]
				}
				g.delta[c] = d
			}
		})
	}
	for c := 0; c < n; c++ {
		// Every chain draws its uniform whether or not it moved, so a
		// chain's stream does not depend on the others in its batch.
		u := rngs[c].Float64()
		if !g.moved[c] {
			continue
		}
		d := g.delta[c]
		if math.IsNaN(d) {
			return fmt.Errorf("sampler: prior produced non-finite logits for a gibbs proposal at cell (%d,%d)", i/g.w, i%g.w)
		}
		if !(math.Log(u) < d) {
			continue
		}
		codes[c*hw+i] = cand[c*hw+i]
		g.lp[c*hw+i] = logProb(g.rows[(c*nf+fi)*k:(c*nf+fi+1)*k], cand[c*hw+i], g.invT)
		copy(g.lp[c*hw+i+1:(c+1)*hw], g.newLP[c*hw+i+1:(c+1)*hw])
		for fj := fi + 1; fj < nf; fj++ {
			pos := g.free[fj]
			copy(g.rows[(c*nf+fj)*k:(c*nf+fj+1)*k], logits.Data[(c*hw+pos)*k:(c*hw+pos+1)*k])
		}
	}
	return nil
}
