package vqvae

import (
	"fmt"
	"math"

	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// Quantizer replaces each D-dimensional encoder vector by its nearest
// codebook entry (squared Euclidean distance) and passes gradients straight
// through the argmin.
//
// Losses, with sg the stop-gradient and M*D the number of quantized values:
//
//	commitment = beta * |z - sg(e)|^2 / (M*D)  (pulls the encoder to its code)
//	codebook   = |sg(z) - e|^2 / (M*D)         (gradient mode only)
//
// In EMA mode the codebook is not trained by gradients; instead each step
// moves every code to the running mean of the vectors assigned to it:
//
//	N_k <- decay*N_k + (1-decay)*n_k          (n_k: vectors assigned to k)
//	S_k <- decay*S_k + (1-decay)*sum z_{->k}
//	e_k  = S_k / N'_k,  N'_k = (N_k+eps)/(sum N + K*eps) * sum N
//
// where N' is N with Laplace smoothing, so a rarely used code is not divided
// by zero.
type Quantizer struct {
	K, D  int
	Beta  float32
	EMA   bool
	Decay float32
	Eps   float32

	Codebook    *nn.Param // [K, D]: "vq.emb"
	ClusterSize []float32 // [K] EMA counts N: "vq.cs"
	EmbedSum    []float32 // [K*D] EMA sums S: "vq.ew"
	LastUsed    []int64   // step at which each code was last chosen

	// From the last Forward.
	n, h, w int
	z       *nn.Tensor
	flat    []float32 // [M, D] encoder vectors, one row per cell
	idx     []int32   // [M] chosen codes
	out     *nn.Tensor
	dz      *nn.Tensor
	eNorm   []float32
	dist    [][]float32 // per-worker distance tiles
	best    [][]float32 // per-worker running minimum of a tile's columns
	bestK   [][]int32   // per-worker argmin so far
	packedE nn.PackedMatrix
	counts  []float32
	sums    []float32

	// Work for nn.ParallelFor, bound once: a closure built per call would
	// be a heap allocation per training step. The calls' arguments go
	// through the fields below.
	nearestFn, rowsFn, gatherFn func(worker, lo, hi int)
	nearFlat                    []float32
	nearIdx                     []int32
	rowsZ                       *nn.Tensor
}

// nearestRows is the number of rows whose K distances are computed and
// reduced together: small enough that the tile stays in L1/L2, large enough
// for an efficient GEMM.
const nearestRows = 64

// NewQuantizer returns a quantizer with a codebook drawn from N(0, 1), as
// in the reference implementation; data-dependent init replaces it.
func NewQuantizer(k, d int, beta float32, ema bool, decay, eps float32, rng *nn.RNG) *Quantizer {
	q := &Quantizer{K: k, D: d, Beta: beta, EMA: ema, Decay: decay, Eps: eps,
		Codebook:    nn.NewParam("vq.emb", k, d),
		ClusterSize: make([]float32, k),
		EmbedSum:    make([]float32, k*d),
		LastUsed:    make([]int64, k),
	}
	rng.Normal(q.Codebook.Data.Data, 0, 1)
	copy(q.EmbedSum, q.Codebook.Data.Data)
	return q
}

// Buffers returns the non-learned state that a checkpoint must keep.
func (q *Quantizer) Buffers() []nn.NamedTensor {
	last := make([]float32, q.K)
	for i, v := range q.LastUsed {
		last[i] = float32(v)
	}
	return []nn.NamedTensor{
		{Name: "vq.cs", Tensor: nn.FromData(q.ClusterSize, q.K)},
		{Name: "vq.ew", Tensor: nn.FromData(q.EmbedSum, q.K, q.D)},
		{Name: "vq.last_used", Tensor: nn.FromData(last, q.K)},
	}
}

// SetLastUsed restores LastUsed from a checkpoint's float32 copy.
func (q *Quantizer) SetLastUsed(v []float32) {
	for i := range q.LastUsed {
		q.LastUsed[i] = int64(v[i])
	}
}

func (q *Quantizer) codebookNorms() {
	q.eNorm = nn.Scratch(q.eNorm, q.K)
	e := q.Codebook.Data.Data
	for k := 0; k < q.K; k++ {
		var s float32
		for _, v := range e[k*q.D : (k+1)*q.D] {
			s += v * v
		}
		q.eNorm[k] = s
	}
}

// Nearest writes the index of the nearest code of each row of flat ([M, D])
// into idx. Distances |z|^2 - 2 z.e + |e|^2 drop |z|^2, which does not change
// the argmin; -2 e.z comes from one GEMM per tile of rows, [K, D] x [D, rows],
// and the argmin is taken while the tile is still in cache. The codebook is
// the GEMM's left operand so that it is packed once per call, not once per
// tile (it was 30% of the quantizer's time).
func (q *Quantizer) Nearest(flat []float32, idx []int32) {
	m := len(flat) / q.D
	q.codebookNorms()
	w := nn.Workers()
	if len(q.dist) < w {
		q.dist = make([][]float32, w)
		q.best = make([][]float32, w)
		q.bestK = make([][]int32, w)
	}
	q.packedE.Pack(false, q.K, q.D, q.Codebook.Data.Data, q.D)
	tiles := (m + nearestRows - 1) / nearestRows
	if q.nearestFn == nil {
		q.nearestFn = q.nearestTiles
	}
	q.nearFlat, q.nearIdx = flat, idx
	nn.ParallelFor(tiles, q.nearestFn)
	q.nearFlat, q.nearIdx = nil, nil
}

func (q *Quantizer) nearestTiles(worker, lo, hi int) {
	flat, idx := q.nearFlat, q.nearIdx
	m := len(flat) / q.D
	dist := nn.Scratch(q.dist[worker], nearestRows*q.K)
	q.dist[worker] = dist
	if len(q.best[worker]) < nearestRows {
		q.best[worker] = make([]float32, nearestRows)
		q.bestK[worker] = make([]int32, nearestRows)
	}
	for t := lo; t < hi; t++ {
		r0 := t * nearestRows
		rows := min(nearestRows, m-r0)
		// dist[k, r] = -2 e_k . z_r, K rows of the tile's width.
		q.packedE.Mul(true, rows, -2, flat[r0*q.D:], q.D, 0, dist, rows)
		// Walk the codes in order, keeping each column's first minimum:
		// the same choice as scanning each row for its first minimum.
		best, bestK := q.best[worker][:rows], q.bestK[worker][:rows]
		kernels.ArgminColumns(dist, rows, q.K, rows, q.eNorm, best, bestK)
		copy(idx[r0:r0+rows], bestK)
	}
}

// toRows copies NCHW z into q.flat as one D-vector per (n, y, x) cell.
func (q *Quantizer) toRows(z *nn.Tensor) {
	n, d, h, w := z.Shape[0], z.Shape[1], z.Shape[2], z.Shape[3]
	hw := h * w
	q.flat = nn.Scratch(q.flat, n*hw*d)
	if q.rowsFn == nil {
		q.rowsFn = q.rowsImages
	}
	q.rowsZ = z
	nn.ParallelFor(n, q.rowsFn)
	q.rowsZ = nil
}

func (q *Quantizer) rowsImages(_, lo, hi int) {
	z := q.rowsZ
	d, hw := z.Shape[1], z.Shape[2]*z.Shape[3]
	for b := lo; b < hi; b++ {
		src := z.Data[b*d*hw : (b+1)*d*hw]
		dst := q.flat[b*hw*d : (b+1)*hw*d]
		for c := 0; c < d; c++ {
			for p, v := range src[c*hw : (c+1)*hw] {
				dst[p*d+c] = v
			}
		}
	}
}

// Forward quantizes z ([N, D, h, w]) and returns the quantized tensor (same
// shape) and the VQ loss (commitment, plus the codebook loss in gradient
// mode). The chosen indices are in Indices().
func (q *Quantizer) Forward(z *nn.Tensor) (*nn.Tensor, float32) {
	if len(z.Shape) != 4 || z.Shape[1] != q.D {
		panic(fmt.Sprintf("vqvae: quantizer wants [N, %d, h, w], got %v", q.D, z.Shape))
	}
	q.z = z
	q.n, q.h, q.w = z.Shape[0], z.Shape[2], z.Shape[3]
	m := q.n * q.h * q.w
	q.toRows(z)
	if cap(q.idx) < m {
		q.idx = make([]int32, m)
	}
	q.idx = q.idx[:m]
	q.Nearest(q.flat, q.idx)

	q.out = nn.Ensure(q.out, z.Shape...)
	if q.gatherFn == nil {
		q.gatherFn = q.gatherCodes
	}
	nn.ParallelFor(q.n, q.gatherFn)
	var sq float64
	for i, v := range z.Data {
		diff := float64(v - q.out.Data[i])
		sq += diff * diff
	}
	mse := float32(sq / float64(len(z.Data)))
	loss := q.Beta * mse
	if !q.EMA {
		loss += mse
	}
	return q.out, loss
}

// gatherCodes writes the chosen codebook vectors of images [lo, hi) into
// q.out (NCHW).
func (q *Quantizer) gatherCodes(_, lo, hi int) {
	d, hw := q.D, q.h*q.w
	e := q.Codebook.Data.Data
	for b := lo; b < hi; b++ {
		dst := q.out.Data[b*d*hw : (b+1)*d*hw]
		for p := 0; p < hw; p++ {
			code := e[int(q.idx[b*hw+p])*d:]
			for c := 0; c < d; c++ {
				dst[c*hw+p] = code[c]
			}
		}
	}
}

// Indices returns the codes chosen by the last Forward, in (n, y, x) order.
func (q *Quantizer) Indices() []int32 { return q.idx }

// Rows returns the encoder vectors of the last Forward, one row per cell.
func (q *Quantizer) Rows() []float32 { return q.flat }

// Backward takes dL/dq and returns dL/dz: the straight-through gradient plus
// the commitment term. In gradient mode it also adds the codebook loss's
// gradient to the codebook.
func (q *Quantizer) Backward(dq *nn.Tensor) *nn.Tensor {
	q.dz = nn.Ensure(q.dz, dq.Shape...)
	z := q.z.Data
	scale := 2 * q.Beta / float32(len(dq.Data))
	for i, g := range dq.Data {
		q.dz.Data[i] = g + scale*(z[i]-q.out.Data[i])
	}
	if !q.EMA {
		// d/de_k of |sg(z) - e|^2 / (M*D), summed over the cells assigned to k,
		// in cell order so the sum does not depend on the worker count.
		g := q.Codebook.Grad.Data
		e := q.Codebook.Data.Data
		s := 2 / float32(len(dq.Data))
		for r, k := range q.idx {
			row := q.flat[r*q.D : (r+1)*q.D]
			gk, ek := g[int(k)*q.D:], e[int(k)*q.D:]
			for c, v := range row {
				gk[c] += s * (ek[c] - v)
			}
		}
	}
	return q.dz
}

// UpdateEMA records which codes the last Forward used at step and, in EMA
// mode, moves the codebook to the running means of the vectors assigned to
// each code (see the type's comment). Gradient mode calls it too, for the
// usage record that dead-code restarts need.
func (q *Quantizer) UpdateEMA(step int64) {
	k, d := q.K, q.D
	q.counts = nn.Scratch(q.counts, k)
	clear(q.counts)
	q.sums = nn.Scratch(q.sums, k*d)
	clear(q.sums)
	for r, c := range q.idx {
		q.counts[c]++
		dst := q.sums[int(c)*d : int(c+1)*d]
		for j, v := range q.flat[r*d : (r+1)*d] {
			dst[j] += v
		}
		q.LastUsed[c] = step
	}
	if !q.EMA {
		return
	}
	decay := q.Decay
	var total float64
	for i := range q.ClusterSize {
		q.ClusterSize[i] = decay*q.ClusterSize[i] + (1-decay)*q.counts[i]
		total += float64(q.ClusterSize[i])
	}
	for i := range q.EmbedSum {
		q.EmbedSum[i] = decay*q.EmbedSum[i] + (1-decay)*q.sums[i]
	}
	e := q.Codebook.Data.Data
	denom := total + float64(k)*float64(q.Eps)
	for i := 0; i < k; i++ {
		smoothed := float32((float64(q.ClusterSize[i]) + float64(q.Eps)) / denom * total)
		inv := 1 / smoothed
		for j := 0; j < d; j++ {
			e[i*d+j] = q.EmbedSum[i*d+j] * inv
		}
	}
}

// RestartDead moves every code unused for at least deadAfter steps onto a
// random encoder vector of the last Forward (distinct vectors while they
// last) and resets its EMA sums to that vector with a count of one, so the
// next EMA update does not drag it back. It returns how many codes moved.
func (q *Quantizer) RestartDead(step, deadAfter int64, rng *nn.RNG) int {
	m := len(q.idx)
	if m == 0 {
		return 0
	}
	var perm []int
	moved := 0
	for c := 0; c < q.K; c++ {
		if step-q.LastUsed[c] < deadAfter {
			continue
		}
		if perm == nil {
			perm = rng.Perm(m)
		}
		row := perm[moved%m]
		q.place(c, q.flat[row*q.D:(row+1)*q.D])
		q.LastUsed[c] = step
		moved++
	}
	return moved
}

// place puts code c exactly at v with an EMA count of one.
func (q *Quantizer) place(c int, v []float32) {
	copy(q.Codebook.Data.Data[c*q.D:(c+1)*q.D], v)
	copy(q.EmbedSum[c*q.D:(c+1)*q.D], v)
	q.ClusterSize[c] = 1
}

// InitKMeans sets the codebook from rows of encoder vectors ([M, D]) with
// iters rounds of Lloyd's k-means, started from K distinct random rows. A
// cluster that empties is reseeded at a random row. The EMA state is reset
// to match (count one, sum = centre), as after a restart.
func (q *Quantizer) InitKMeans(rows []float32, iters int, rng *nn.RNG) {
	d := q.D
	m := len(rows) / d
	if m == 0 {
		return
	}
	perm := rng.Perm(m)
	for c := 0; c < q.K; c++ {
		q.place(c, rows[perm[c%m]*d:(perm[c%m]+1)*d])
	}
	idx := make([]int32, m)
	sums := make([]float64, q.K*d)
	counts := make([]int, q.K)
	for it := 0; it < iters; it++ {
		q.Nearest(rows, idx)
		clear(sums)
		clear(counts)
		for r, c := range idx {
			counts[c]++
			for j, v := range rows[r*d : (r+1)*d] {
				sums[int(c)*d+j] += float64(v)
			}
		}
		e := q.Codebook.Data.Data
		for c := 0; c < q.K; c++ {
			if counts[c] == 0 {
				r := rng.Intn(m)
				copy(e[c*d:(c+1)*d], rows[r*d:(r+1)*d])
				continue
			}
			for j := 0; j < d; j++ {
				e[c*d+j] = float32(sums[c*d+j] / float64(counts[c]))
			}
		}
	}
	copy(q.EmbedSum, q.Codebook.Data.Data)
	for c := range q.ClusterSize {
		q.ClusterSize[c] = 1
	}
}

// Usage summarises how codes are used in a histogram of counts: the
// perplexity exp(H) of the empirical code distribution (K when all codes are
// equally used, 1 under total collapse) and the number of codes used.
func Usage(hist []int64) (perplexity float64, used int) {
	var total int64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return 0, 0
	}
	var h float64
	for _, c := range hist {
		if c > 0 {
			used++
			p := float64(c) / float64(total)
			h -= p * math.Log(p)
		}
	}
	return math.Exp(h), used
}
