package prior

import "github.com/vqgen/vqgen/nn"

// pcJobs is the PixelCNN's per-image glue between layers (the residual and
// skip sums, the layout changes around the embedding and the head) spread
// over the cores and vectorised: at a 7x7 grid it is a fifth of the work of
// a training step, left on one core in scalar loops. Every job computes
// each value as the serial loop did, so the bits do not change. The method
// values are made once, so a step allocates nothing.
type pcJobs struct {
	// transposeBlocks's operands
	tDst, tSrc []float32
	tRows      int
	tCols      int
	// add's
	aDst, aSrc []float32
	// combine's: one layer's h_out output o [n, 2C, H, W] into its
	// horizontal stack hOut (plus hIn after layer 0) and the skip sum
	o, hIn, hOut, skip []float32
	sz                 int
	// douts's: the gradient of h_out's output from dhOut (nil: zeros)
	// and dskip
	dout, dhOut, dskip []float32

	transposeFn, addFn, combineFn, doutFn func(worker, lo, hi int)
}

func (j *pcJobs) init() {
	j.transposeFn, j.addFn, j.combineFn, j.doutFn = j.transposeImages, j.addChunks, j.combineImages, j.doutImages
}

// addChunk is the length of add's ranges: large enough that one is worth
// a core's while.
const addChunk = 1 << 14

// transpose sets dst to n consecutive [rows, cols] blocks of src
// transposed into [cols, rows] blocks, an image per block.
func (j *pcJobs) transpose(dst, src []float32, n, rows, cols int) {
	j.tDst, j.tSrc, j.tRows, j.tCols = dst, src, rows, cols
	nn.ParallelFor(n, j.transposeFn)
	j.tDst, j.tSrc = nil, nil
}

func (j *pcJobs) transposeImages(_, lo, hi int) {
	sz := j.tRows * j.tCols
	transposeBlocks(j.tDst[lo*sz:hi*sz], j.tSrc[lo*sz:hi*sz], hi-lo, j.tRows, j.tCols)
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

// combine joins layer output o into hOut (= o's first half, plus hIn
// unless nil) and skip (+= o's second half), sz = C*H*W per image.
func (j *pcJobs) combine(o, hIn, hOut, skip []float32, n, sz int) {
	j.o, j.hIn, j.hOut, j.skip, j.sz = o, hIn, hOut, skip, sz
	nn.ParallelFor(n, j.combineFn)
	j.o, j.hIn, j.hOut, j.skip = nil, nil, nil, nil
}

func (j *pcJobs) combineImages(_, lo, hi int) {
	sz := j.sz
	for i := lo; i < hi; i++ {
		oi := j.o[i*2*sz : (i+1)*2*sz]
		dst := j.hOut[i*sz : (i+1)*sz]
		if j.hIn != nil {
			nn.AddInto(dst, oi[:sz], j.hIn[i*sz:(i+1)*sz])
		} else {
			copy(dst, oi[:sz])
		}
		s := j.skip[i*sz : (i+1)*sz]
		nn.AddInto(s, s, oi[sz:])
	}
}

// douts lays out the gradient of a layer's h_out output [n, 2C, H, W]:
// dhOut (zeros where nil) for the first C channels, dskip for the rest.
func (j *pcJobs) douts(dout, dhOut, dskip []float32, n, sz int) {
	j.dout, j.dhOut, j.dskip, j.sz = dout, dhOut, dskip, sz
	nn.ParallelFor(n, j.doutFn)
	j.dout, j.dhOut, j.dskip = nil, nil, nil
}

func (j *pcJobs) doutImages(_, lo, hi int) {
	sz := j.sz
	for i := lo; i < hi; i++ {
		do := j.dout[i*2*sz : (i+1)*2*sz]
		if j.dhOut != nil {
			copy(do[:sz], j.dhOut[i*sz:(i+1)*sz])
		} else {
			clear(do[:sz])
		}
		copy(do[sz:], j.dskip[i*sz:(i+1)*sz])
	}
}
