// Package sampler draws code grids from a stage-two prior, redraws chosen
// cells of a given grid, and scores grids. It codes against prior.Prior and
// prior.Stepper only, so every architecture gets the same sampler.
//
// # The sampling loop (Sample, sample.go)
//
// Grids are drawn in raster order, batched over grids: for pos = 0 .. H*W-1
// the stepper returns the logits [n, K] of p(x_pos | x_<pos, y) for every grid
// at once, and each row goes through filter.draw (filter.go):
//
//  1. temperature: l <- (l - max l) / T, subtracting the maximum first so a
//     tiny T sends the losers to -Inf (exp gives 0) instead of overflowing;
//  2. top-k: keep the k largest logits; ties go to the lower index, so the
//     kept set always has exactly k members and does not depend on the sort;
//  3. top-p (nucleus): of what is left, sorted by the same order, keep the
//     shortest prefix whose softmax mass is >= p;
//  4. draw: u ~ U[0, sum w) and walk the kept weights w = exp(l).
//
// Every grid owns an RNG split off the seed's root generator in grid order,
// so a grid's draw depends on the seed and its index only: not on the batch
// size, GOMAXPROCS or how many grids are drawn after it. After warm-up a
// position allocates nothing.
//
// # Classifier-free guidance (Options.Guidance)
//
// A conditional prior is trained with each grid's class replaced, at rate
// prior.train.class_dropout, by the null class C ("no class given"), so one
// model gives both the conditional logits l_c = log p(x_pos | x_<pos, y) and
// the unconditional l_u = log p(x_pos | x_<pos) (each up to a constant).
// Guidance with weight w (Ho & Salimans 2022) draws every cell from
//
//	l = l_u + w (l_c - l_u),   softmax(l) ∝ p(x_pos | .) p(y | x_pos, .)^(w-1),
//
// the second form by Bayes' rule, p(y | x) ∝ p(x | y) / p(x): w = 1 is the
// prior itself, w > 1 sharpens each cell towards the codes that make the
// class more recognisable (at some cost in diversity), w = 0 would be the
// unconditional prior but means "off" here, like 1. The mixed logits then go
// through temperature, top-k and top-p as above. Sample computes both terms
// with one stepper over 2n grids, the n requested ones followed by copies
// with the null class whose cells are kept equal to the originals', so every
// cell costs two prior rows; the copies draw nothing, so a grid's draws
// still depend only on the seed and its index. Guidance is a per-cell
// (ancestral) rule, not an exact sample of p(x) p(y | x)^w, and it applies
// to Sample only: edits use the plain prior.
//
// # Editing (Edit, edit.go)
//
// An edit keeps some cells of a grid (keep[p] = true) and redraws the rest.
// Two methods:
//
// raster: the sampling loop above, where a kept cell takes its given value
// as the stepper passes it. A free cell is drawn from p(x_i | x_<i): it sees
// the kept cells before it but ignores those after it, so a hole in the top
// left of a digit is filled without regard to the strokes below it.
//
// gibbs (default): starts from a raster edit and then sweeps over the free
// cells, each time redrawing x_i from its full conditional given every other
// cell. The target is the prior's joint restricted to the kept values,
//
//	pi(x) ∝ prod_j q(x_j | x_<j),   q(v | x_<j) = softmax(l_j / T)[v],
//
// the product of the tempered conditionals (T = 1: the prior itself, so pi is
// exactly p(free cells | kept cells)). The full conditional of one free cell
// i is
//
//	pi(x_i | x_-i) ∝ q(x_i | x_<i) * prod_{j>i} q(x_j | x_<j),
//
// since the factors j < i do not involve x_i. Enumerating it costs K prior
// passes per cell, so each update is a Metropolis-Hastings step whose
// proposal is the first factor: x_i' ~ q(. | x_<i), independent of the
// current x_i. The acceptance probability is
//
//	a = min(1, pi(x') q(x_i | x_<i) / (pi(x) q(x_i' | x_<i)))
//	  = min(1, prod_{j>i} q(x_j | x'_<j) / prod_{j>i} q(x_j | x_<j)),
//
// because pi(x')/pi(x) = q(x_i'|x_<i)/q(x_i|x_<i) * prod_{j>i}(...) and the
// first ratio cancels against the proposal ratio. Only cells after i enter,
// kept ones included: that is how the kept cells below and to the right of a
// hole pull on it. An update makes M such steps in a row (Proposals): while
// only x_i moves, a proposal's weight prod_{j>i} q(x_j | x'_<j) depends on
// its value alone, so all M*n proposals are scored by one batched pass
// and the M accept/reject steps are arithmetic. The log-probabilities of the
// current grids are cached and updated on acceptance. Every step satisfies
// detailed balance, so pi is stationary and the sweeps move the chains
// towards it from the raster start. Single-cell updates mix slowly when free
// cells are strongly coupled to each other; more sweeps is then the remedy.
//
// # What a sweep costs
//
// Updating cell i needs the logits of position i (the proposals) and of
// every position after it (their weights); positions up to i do not
// depend on x_i. With a prior whose stepper takes spans and rewinds
// (prior.SpanStepper: the Transformer's KV cache), the chains keep one
// cache of positions 0..i per chain and proposal, and an update costs one
// batched pass over positions i+1..T-1 for all n*M grids (spanGibbs,
// gibbs_span.go), after which the cache rewinds to i+1. A sweep over the
// free cells F therefore costs
//
//	n * M * sum_{i in F} (T - 1 - i)   positions
//
// (plus F's extension of the kept prefix by one position per chain). For
// an 8x8 hole in the middle of a 16x16 grid that is 8,160 positions per
// chain and proposal, half of the 64 x 256 a full pass per update costs;
// a position of the default Transformer is about 2 MFLOP. Priors whose
// steppers cannot rewind (the PixelCNN) take the full passes: one Forward
// over the n*M proposed grids per free cell, n*M*T*|F| positions a sweep.
//
// Two things make those positions cheaper than a plain pass over them.
// Every input token after i+1 is the one the last update saw there, so the
// Transformer's first block takes their query, key and value projections
// from then (nn's ForwardStepKeyed) and projects one row per grid. And an
// update is a chain of small products, which two cores sharing each one
// would spend much of their time waiting on: with enough chains (at least
// one per core; see laneBatch), their batches run one per core (nn.Lanes),
// each core stepping its own chains with no waits. Neither changes a bit of
// the result.
//
// Top-k and top-p change the conditionals into truncated ones whose product
// can give the kept cells probability zero, which leaves no target to
// sample; gibbs therefore takes the temperature only and rejects top-k/top-p.
//
// # Scoring (NLLBits, score.go)
//
// NLLBits returns -log2 p(x | y) = -sum_p log2 softmax(l_p)[x_p] per grid,
// with batched teacher-forced Forward passes.
package sampler
