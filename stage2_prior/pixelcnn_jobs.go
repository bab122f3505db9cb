package prior

import (
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// pcJobs is the PixelCNN's glue between layers (gradient sums and layouts,
// the layout changes around the embedding and the head) spread over
// the cores and vectorised: at a 7x7 grid it is a fifth of the work of a
// training step, left on one core in scalar loops. Every job computes each
// value as a serial loop would, so the bits do not depend on the split.
// The method values are made once, so a step allocates nothing.
type pcJobs struct {
	// transpose's operands
	tDst, tSrc []float32
	tRows      int
	tCols      int
	// add's
	aDst, aSrc []float32
	// douts's: the gradient of h_out's output from dhOut (nil: zeros)
	// and dskip
	dout, dhOut, dskip []float32

	transposeFn, addFn, copyFn, doutFn func(worker, lo, hi int)
}

func (j *pcJobs) init() {
	j.transposeFn, j.addFn, j.copyFn, j.doutFn = j.transposeRange, j.addChunks, j.copyChunks, j.doutChunks
}

// addChunk is the length of the elementwise jobs' ranges: large enough
// that one is worth a core's while.
const addChunk = 1 << 14

// transposeChunk is how many rows (or columns) of the source one piece of
// a transpose takes: a multiple of kernels.Transpose's 16x16 blocks.
const transposeChunk = 128

// transpose sets dst [cols, rows] to the transpose of src [rows, cols],
// split along the longer side.
func (j *pcJobs) transpose(dst, src []float32, rows, cols int) {
	j.tDst, j.tSrc, j.tRows, j.tCols = dst[:rows*cols], src[:rows*cols], rows, cols
	nn.ParallelFor(nn.FixedChunks(max(rows, cols), transposeChunk), j.transposeFn)
	j.tDst, j.tSrc = nil, nil
}

func (j *pcJobs) transposeRange(_, lo, hi int) {
	rows, cols := j.tRows, j.tCols
	a, b := lo*transposeChunk, min(hi*transposeChunk, max(rows, cols))
	if rows >= cols {
		kernels.Transpose(j.tDst[a:], rows, j.tSrc[a*cols:], cols, b-a, cols)
		return
	}
	kernels.Transpose(j.tDst[a*rows:], rows, j.tSrc[a:], cols, rows, b-a)
}

// copy sets dst = src.
func (j *pcJobs) copy(dst, src []float32) {
	j.aDst, j.aSrc = dst, src[:len(dst)]
	nn.ParallelFor(nn.FixedChunks(len(dst), addChunk), j.copyFn)
	j.aDst, j.aSrc = nil, nil
}

func (j *pcJobs) copyChunks(_, lo, hi int) {
	a, b := lo*addChunk, min(hi*addChunk, len(j.aDst))
	copy(j.aDst[a:b], j.aSrc[a:b])
}

// add sets dst += src.
func (j *pcJobs) add(dst, src []float32) {
	j.aDst, j.aSrc = dst, src[:len(dst)]
	nn.ParallelFor(nn.FixedChunks(len(dst), addChunk), j.addFn)
	j.aDst, j.aSrc = nil, nil
}

func (j *pcJobs) addChunks(_, lo, hi int) {
	a, b := lo*addChunk, min(hi*addChunk, len(j.aDst))
	nn.AddInto(j.aDst[a:b], j.aDst[a:b], j.aSrc[a:b])
}

// douts lays out the gradient of a layer's h_out output [2C, n, H, W]:
// dhOut (zeros where nil) for the first C channels, dskip for the rest.
func (j *pcJobs) douts(dout, dhOut, dskip []float32) {
	j.dout, j.dhOut, j.dskip = dout, dhOut, dskip
	nn.ParallelFor(nn.FixedChunks(len(dskip), addChunk), j.doutFn)
	j.dout, j.dhOut, j.dskip = nil, nil, nil
}

func (j *pcJobs) doutChunks(_, lo, hi int) {
	sz := len(j.dskip)
	a, b := lo*addChunk, min(hi*addChunk, sz)
	if j.dhOut != nil {
		copy(j.dout[a:b], j.dhOut[a:b])
	} else {
		clear(j.dout[a:b])
	}
	copy(j.dout[sz+a:sz+b], j.dskip[a:b])
}
