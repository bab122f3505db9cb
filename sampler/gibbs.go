package sampler

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// gibbsChains updates a batch of gibbs chains one free cell at a time
// (see the package comment): init caches what the updates need for the
// grids in codes, step updates free cell fi of every chain.
type gibbsChains interface {
	init(codes, classes []int32, n int) error
	step(codes, classes []int32, rngs []*nn.RNG, fi int) error
}

// spanGrids bounds the grids a spanGibbs stepper holds (chains times
// proposals): its key/value cache grows with them.
const spanGrids = 256

// gibbsBatch returns the chains an edit's batch holds at most, given the
// batch asked for: at most spanGrids/proposals where the prior's stepper
// rewinds (span: a prior.SpanStepper, the one spanGibbs runs on). The
// batch does not change the edits.
func gibbsBatch(span bool, batch, proposals int) int {
	if span {
		return min(batch, max(1, spanGrids/proposals))
	}
	return batch
}

// newGibbsChains returns the chains for edits of batch grids at a time:
// spanGibbs where the prior's stepper rewinds (span), else full passes.
func newGibbsChains(p prior.Prior, span bool, free []int, batch, proposals int, temperature float32) gibbsChains {
	if span {
		return newSpanGibbs(p, free, batch, proposals, temperature)
	}
	return newGibbs(p, free, batch, proposals, temperature)
}

// gibbs runs a batch of Metropolis-within-Gibbs chains with a full Forward
// pass over every proposed grid: the way for priors whose steppers cannot
// rewind (spanGibbs is the cheap one). It holds the log-probabilities of
// the current grids at every cell and their logits at the free cells,
// which is what the proposals and the acceptance ratio need.
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
		chosen, err := chooseChain(g.lp, g.logW, c, m, hw, i, g.w, rngs[c])
		if err != nil {
			return err
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

// chooseChain runs choose for chain c of a batch whose chains hold hw
// cells and m proposals each (lp and logW are the whole batch's). It
// returns the chosen proposal's index among the batch's (c*m + a), or -1
// for the current grid; an error names cell i of a grid w cells wide.
func chooseChain(lp, logW []float64, c, m, hw, i, w int, rng *nn.RNG) (int, error) {
	chosen, err := choose(lp[c*hw:(c+1)*hw], logW[c*m:(c+1)*m], i, rng)
	if err != nil {
		return 0, fmt.Errorf("sampler: gibbs proposal at cell (%d,%d): %w", i/w, i%w, err)
	}
	if chosen >= 0 {
		chosen += c * m
	}
	return chosen, nil
}

// choose makes the M Metropolis-Hastings steps of one chain at cell i in a
// row: proposal a has log-weight logW[a] = sum_{j>i} log q(x_j | x'_<j),
// the current grid sum_{j>i} lp[j]; each step accepts with probability
// min(1, W'/W) against the state the previous steps left. It returns the
// proposal the chain ends on, or -1 for the current grid.
func choose(lp, logW []float64, i int, rng *nn.RNG) (int, error) {
	cur := 0.0
	for _, v := range lp[i+1:] {
		cur += v
	}
	chosen := -1
	for a, w := range logW {
		d := w - cur
		if math.IsNaN(d) {
			return 0, fmt.Errorf("the prior produced non-finite logits")
		}
		// log min(1, W'/W): prod_{j>i} q(x_j|x'_<j) / prod_{j>i} q(x_j|x_<j).
		if math.Log(rng.Float64()) < d {
			chosen, cur = a, w
		}
	}
	return chosen, nil
}
