package sampler

import (
	"fmt"

	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// spanGibbs runs a batch of n gibbs chains with a rewinding stepper
// (prior.SpanStepper) over n*m grids: chain c owns grids c*m .. c*m+m-1,
// which hold the chain's current grid except, during an update, at the
// cell being updated, where grid c*m+a holds proposal a.
//
// Updating cell i needs the logits of position i (the proposal
// distribution q(. | x_<i)) and, for every proposal, those of positions
// i+1..T-1 (its weight). Positions 0..i read the cells before i only,
// which no proposal changes: the stepper computes them once for all m
// copies and keeps them in its cache, and each update costs one span of
// the n*m grids over positions i+1..T-1 (all proposals of all chains in
// one batched pass), after which the stepper rewinds to i+1. Moving on to
// the next free cell i' > i extends the kept prefix by positions
// i+1..i' of the current grids, and a new sweep rewinds to its first free
// cell.
type spanGibbs struct {
	st    prior.SpanStepper
	k, hw int
	w     int // grid width, for errors
	m     int // proposals per update
	invT  float32
	free  []int
	pos   int // the stepper's next position
	prop  *filter
	lp    []float64 // [n, hw] log q(x_j | x_<j) of the current grids
	rowI  []float32 // [n, K] logits of the cell being updated
	newLP []float64 // [n*m, hw] the same for the proposals, cells > i
	logW  []float64 // [n*m] sum_{j>i} of newLP
	cand  []int32   // [n*m*hw]
	ccls  []int32   // [n*m]
	score func(worker, lo, hi int)
	// during step
	logits *nn.Tensor
	i, n   int
}

func newSpanGibbs(p prior.Prior, free []int, batch, proposals int, temperature float32) *spanGibbs {
	info := p.Info()
	k, hw := info.K, info.Positions()
	g := &spanGibbs{
		st: p.NewStepper(batch * proposals).(prior.SpanStepper),
		k:  k, hw: hw, w: info.W, m: proposals, invT: 1 / temperature, free: free,
		prop:  newFilter(k, temperature, 0, 1),
		lp:    make([]float64, batch*hw),
		rowI:  make([]float32, batch*k),
		newLP: make([]float64, batch*proposals*hw),
		logW:  make([]float64, batch*proposals),
		cand:  make([]int32, batch*proposals*hw),
		ccls:  make([]int32, batch*proposals),
	}
	g.score = g.scoreSuffix
	return g
}

// span runs the stepper over positions from..to-1 of the n*m grids.
func (g *spanGibbs) span(n, from, to int) (*nn.Tensor, error) {
	logits := g.st.Span(g.cand[:n*g.m*g.hw], from, to)
	if want := n * g.m * (to - from) * g.k; len(logits.Data) != want {
		return nil, fmt.Errorf("sampler: prior stepper returned %d logits for %d grids x %d positions, want %d", len(logits.Data), n*g.m, to-from, want)
	}
	g.pos = to
	return logits, nil
}

// init copies each chain's grid into its m grids and caches the
// log-probabilities of every cell.
func (g *spanGibbs) init(codes, classes []int32, n int) error {
	k, hw, m := g.k, g.hw, g.m
	for c := 0; c < n; c++ {
		for a := 0; a < m; a++ {
			copy(g.cand[(c*m+a)*hw:(c*m+a+1)*hw], codes[c*hw:(c+1)*hw])
			if classes != nil {
				g.ccls[c*m+a] = classes[c]
			}
		}
	}
	var ccls []int32
	if classes != nil {
		ccls = g.ccls[:n*m]
	}
	g.st.Reset(n*m, ccls)
	g.pos = 0
	logits, err := g.span(n, 0, hw)
	if err != nil {
		return err
	}
	for c := 0; c < n; c++ {
		for j := 0; j < hw; j++ {
			row := logits.Data[(c*m*hw+j)*k:][:k]
			g.lp[c*hw+j] = logProb(row, codes[c*hw+j], g.invT)
		}
	}
	return nil
}

// step updates free cell fi of every chain with g.m Metropolis-Hastings
// steps in a row, as gibbs.step does, with the proposals' weights from one
// span over the cells after it.
func (g *spanGibbs) step(codes, classes []int32, rngs []*nn.RNG, fi int) error {
	k, hw, m := g.k, g.hw, g.m
	n := len(rngs)
	i := g.free[fi]
	if g.pos > i {
		g.st.Rewind(i)
		g.pos = i
	}
	logits, err := g.span(n, g.pos, i+1)
	if err != nil {
		return err
	}
	l := len(logits.Data) / (n * m * k) // positions in the span; i is the last
	for c := 0; c < n; c++ {
		copy(g.rowI[c*k:(c+1)*k], logits.Data[((c*m)*l+l-1)*k:][:k])
	}
	for c := 0; c < n; c++ {
		row := g.rowI[c*k : (c+1)*k]
		for a := 0; a < m; a++ {
			x, err := g.prop.draw(row, rngs[c])
			if err != nil {
				return fmt.Errorf("sampler: gibbs proposal for grid %d at cell (%d,%d): %w", c, i/g.w, i%g.w, err)
			}
			g.cand[(c*m+a)*hw+i] = x
		}
	}
	if i+1 < hw {
		if g.logits, err = g.span(n, i+1, hw); err != nil {
			return err
		}
		g.i, g.n = i, n
		nn.ParallelFor(n*m, g.score)
		g.logits = nil
	} else {
		clear(g.logW[:n*m]) // nothing after the last cell: every proposal is accepted
	}
	for c := 0; c < n; c++ {
		chosen, err := chooseChain(g.lp, g.logW, c, m, hw, i, g.w, rngs[c])
		if err != nil {
			return err
		}
		if chosen >= 0 && g.cand[chosen*hw+i] != codes[c*hw+i] {
			codes[c*hw+i] = g.cand[chosen*hw+i]
			copy(g.lp[c*hw+i+1:(c+1)*hw], g.newLP[chosen*hw+i+1:(chosen+1)*hw])
		}
		g.lp[c*hw+i] = logProb(g.rowI[c*k:(c+1)*k], codes[c*hw+i], g.invT)
		for a := 0; a < m; a++ {
			g.cand[(c*m+a)*hw+i] = codes[c*hw+i]
		}
	}
	if i+1 < hw {
		g.st.Rewind(i + 1)
		g.pos = i + 1
	}
	return nil
}

// scoreSuffix sets the weights of proposals [lo, hi): each sum runs over
// one grid's cells in order, so the split over goroutines does not change
// it.
func (g *spanGibbs) scoreSuffix(_, lo, hi int) {
	k, hw, i := g.k, g.hw, g.i
	l := hw - 1 - i
	for b := lo; b < hi; b++ {
		w := 0.0
		for j := i + 1; j < hw; j++ {
			row := g.logits.Data[(b*l+j-i-1)*k:][:k]
			v := logProb(row, g.cand[b*hw+j], g.invT)
			g.newLP[b*hw+j] = v
			w += v
		}
		g.logW[b] = w
	}
}
