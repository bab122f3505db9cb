package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// gradChunk returns how many images each fixed chunk of a convolution's
// backward pass holds, for p output positions per image. Chunk c sums the
// weight and bias gradients of its images into its own partial buffer; the
// partials are then added in chunk order, so the rounding depends only on
// the shapes, never on GOMAXPROCS. A chunk covers about 1024 positions: the
// partial sums then cost under 1/2048 of the GEMM flops (they are scalar and
// memory-bound, so that matters on 7x7 grids), while 16x16 batches of 32
// still give 8 chunks to spread over the cores.
func gradChunk(p int) int { return max(2, (1024+p-1)/p) }

// Conv2d is a 2-D convolution (PyTorch's cross-correlation) on NCHW input:
//
//	y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] * x[n,c, i*S-PH+u, j*S-PW+v]
//
// with zeros outside the image. Each image is lowered to a patch matrix
// (im2col, [InC*KH*KW, OH*OW]) so the sum is one GEMM, y_n = W * cols_n.
// Backward is two more GEMMs per image: dW += dy_n * cols_n^T and
// dcols = W^T * dy_n, which col2im folds back into dx_n.
//
// Mask, when set, multiplies the weight element-wise before use (masked
// convolutions of PixelCNNs, see NewMaskedConv2d): masked taps are exactly
// zero in Forward whatever Weight holds, and their gradient is exactly zero.
//
// Forward keeps a reference to x for Backward; x must not change in between.
type Conv2d struct {
	InC, OutC, KH, KW  int
	Stride, PadH, PadW int
	Weight, Bias       *Param    // Weight [OutC,InC,KH,KW]; Bias [OutC] or nil
	Mask               []float32 // nil, or 0/1 per weight entry

	g     convGeom
	chunk int    // images per gradient chunk
	shape [4]int // output shape; a field so Ensure's variadic call does not allocate
	x, dy *Tensor
	out   *Tensor
	dx    *Tensor
	w     []float32   // the weight Forward used (masked copy, or Weight.Data)
	wm    []float32   // storage for the masked copy
	cols  [][]float32 // per-worker im2col scratch
	dcols [][]float32 // per-worker dcols scratch
	partW [][]float32 // per-chunk weight-gradient partials
	partB [][]float32 // per-chunk bias-gradient partials

	fwdFn, bwdFn func(worker, lo, hi int) // built once so calls allocate nothing
}

// NewConv2d returns a square-kernel convolution (k x k, equal stride and
// padding on both axes) initialised like PyTorch's nn.Conv2d. Its parameters
// are named name+".weight" and name+".bias".
func NewConv2d(name string, inC, outC, k, stride, pad int, bias bool, rng *RNG) *Conv2d {
	return NewConv2dHW(name, inC, outC, k, k, stride, pad, pad, bias, rng)
}

// NewConv2dHW is NewConv2d with a kh x kw kernel and separate row and column
// padding. Weight and bias are drawn from U(-1/sqrt(fanIn), 1/sqrt(fanIn)),
// fanIn = inC*kh*kw, as PyTorch does. Non-positive sizes are programming
// errors and panic.
func NewConv2dHW(name string, inC, outC, kh, kw, stride, padH, padW int, bias bool, rng *RNG) *Conv2d {
	if inC < 1 || outC < 1 || kh < 1 || kw < 1 || stride < 1 || padH < 0 || padW < 0 {
		panic(fmt.Sprintf("nn: NewConv2d %s: bad geometry in=%d out=%d kernel=%dx%d stride=%d pad=%d,%d",
			name, inC, outC, kh, kw, stride, padH, padW))
	}
	c := &Conv2d{InC: inC, OutC: outC, KH: kh, KW: kw, Stride: stride, PadH: padH, PadW: padW}
	fanIn := inC * kh * kw
	c.Weight = NewParam(name+".weight", outC, inC, kh, kw)
	rng.KaimingUniform(c.Weight.Data.Data, fanIn)
	if bias {
		c.Bias = NewParam(name+".bias", outC)
		rng.KaimingUniform(c.Bias.Data.Data, fanIn)
	}
	c.fwdFn = c.forwardImages
	c.bwdFn = c.backwardChunks
	return c
}

// Params returns the weight and, if present, the bias.
func (c *Conv2d) Params() []*Param {
	if c.Bias == nil {
		return []*Param{c.Weight}
	}
	return []*Param{c.Weight, c.Bias}
}

// OutSize returns the output height and width for an h x w input.
func (c *Conv2d) OutSize(h, w int) (oh, ow int) {
	g := newConvGeom(c.InC, h, w, c.KH, c.KW, c.Stride, c.PadH, c.PadW)
	return g.OH, g.OW
}

// pointwise reports whether the patch matrix is the image itself, so the
// GEMM can read the [InC, H*W] slab directly.
func (c *Conv2d) pointwise() bool {
	return c.KH == 1 && c.KW == 1 && c.Stride == 1 && c.PadH == 0 && c.PadW == 0
}

// Forward computes the convolution of x [N,InC,H,W] into [N,OutC,OH,OW].
func (c *Conv2d) Forward(x *Tensor) *Tensor {
	if len(x.Shape) != 4 || x.Shape[1] != c.InC {
		panic(fmt.Sprintf("nn: Conv2d %s: input %v, want [N,%d,H,W]", c.Weight.Name, x.Shape, c.InC))
	}
	n := x.Shape[0]
	c.g = newConvGeom(c.InC, x.Shape[2], x.Shape[3], c.KH, c.KW, c.Stride, c.PadH, c.PadW)
	if c.g.OH < 1 || c.g.OW < 1 {
		panic(fmt.Sprintf("nn: Conv2d %s: input %v smaller than the %dx%d kernel", c.Weight.Name, x.Shape, c.KH, c.KW))
	}
	c.x = x
	c.shape = [4]int{n, c.OutC, c.g.OH, c.g.OW}
	c.out = Ensure(c.out, c.shape[:]...)
	c.w = c.Weight.Data.Data
	if c.Mask != nil {
		c.wm = Scratch(c.wm, len(c.w))
		for i, m := range c.Mask {
			c.wm[i] = c.w[i] * m
		}
		c.w = c.wm
	}
	c.cols = workerScratch(c.cols, c.g.rows()*c.g.cols(), !c.pointwise())
	ParallelFor(n, c.fwdFn)
	return c.out
}

func (c *Conv2d) forwardImages(worker, lo, hi int) {
	g := &c.g
	K, P := g.rows(), g.cols()
	inSz, outSz := g.C*g.H*g.W, c.OutC*P
	for i := lo; i < hi; i++ {
		xi := c.x.Data[i*inSz : (i+1)*inSz]
		yi := c.out.Data[i*outSz : (i+1)*outSz]
		col := xi
		if !c.pointwise() {
			col = c.cols[worker]
			im2col(g, xi, col)
		}
		var beta float32
		if c.Bias != nil {
			for o, b := range c.Bias.Data.Data {
				row := yi[o*P : (o+1)*P]
				for j := range row {
					row[j] = b
				}
			}
			beta = 1
		}
		kernels.Sgemm(false, false, c.OutC, P, K, 1, c.w, K, col, P, beta, yi, P)
	}
}

// Backward takes dL/dy [N,OutC,OH,OW], adds dL/dW and dL/db into the
// parameters' Grad and returns dL/dx.
func (c *Conv2d) Backward(dy *Tensor) *Tensor {
	if !dy.SameShape(c.out) {
		panic(fmt.Sprintf("nn: Conv2d %s: gradient %v, want %v", c.Weight.Name, dy.Shape, c.out.Shape))
	}
	n := c.x.Shape[0]
	c.dy = dy
	c.dx = Ensure(c.dx, c.x.Shape...)
	K, P := c.g.rows(), c.g.cols()
	c.cols = workerScratch(c.cols, K*P, !c.pointwise())
	c.dcols = workerScratch(c.dcols, K*P, !c.pointwise())
	c.chunk = gradChunk(P)
	chunks := FixedChunks(n, c.chunk)
	c.partW = chunkScratch(c.partW, chunks, c.OutC*K)
	c.partB = chunkScratch(c.partB, chunks, c.OutC)
	ParallelFor(chunks, c.bwdFn)
	addPartials(c.Weight.Grad.Data, c.partW[:chunks], c.Mask)
	if c.Bias != nil {
		addPartials(c.Bias.Grad.Data, c.partB[:chunks], nil)
	}
	return c.dx
}

// backwardChunks handles whole gradient chunks: each image's dx, and the
// chunk's weight and bias gradient partial.
func (c *Conv2d) backwardChunks(worker, lo, hi int) {
	g := &c.g
	K, P := g.rows(), g.cols()
	inSz, outSz := g.C*g.H*g.W, c.OutC*P
	n := c.x.Shape[0]
	for ch := lo; ch < hi; ch++ {
		pw, pb := c.partW[ch], c.partB[ch]
		clear(pb)
		var beta float32
		for i := ch * c.chunk; i < min((ch+1)*c.chunk, n); i++ {
			xi := c.x.Data[i*inSz : (i+1)*inSz]
			dyi := c.dy.Data[i*outSz : (i+1)*outSz]
			dxi := c.dx.Data[i*inSz : (i+1)*inSz]
			col := xi
			if !c.pointwise() {
				col = c.cols[worker]
				im2col(g, xi, col)
			}
			kernels.Sgemm(false, true, c.OutC, K, P, 1, dyi, P, col, P, beta, pw, K)
			beta = 1
			if c.Bias != nil {
				for o := range pb {
					pb[o] += sum32(dyi[o*P : (o+1)*P])
				}
			}
			if c.pointwise() {
				kernels.Sgemm(true, false, K, P, c.OutC, 1, c.w, K, dyi, P, 0, dxi, P)
				continue
			}
			dcol := c.dcols[worker]
			kernels.Sgemm(true, false, K, P, c.OutC, 1, c.w, K, dyi, P, 0, dcol, P)
			clear(dxi)
			col2im(g, dcol, dxi)
		}
	}
}

// sum32 adds x in order, in float32 like the rest of the hot path.
func sum32(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// addPartials adds the per-chunk partials into grad in chunk order, times
// mask where one is given (masked weights get exactly zero gradient).
func addPartials(grad []float32, parts [][]float32, mask []float32) {
	for _, p := range parts {
		p = p[:len(grad)]
		if mask == nil {
			for i, v := range p {
				grad[i] += v
			}
			continue
		}
		mask = mask[:len(grad)]
		for i, v := range p {
			grad[i] += v * mask[i]
		}
	}
}

// workerScratch returns one buffer of n floats per worker (none when need is
// false), reusing bufs.
func workerScratch(bufs [][]float32, n int, need bool) [][]float32 {
	if !need {
		return bufs
	}
	w := Workers()
	for len(bufs) < w {
		bufs = append(bufs, nil)
	}
	for i := range bufs[:w] {
		bufs[i] = Scratch(bufs[i], n)
	}
	return bufs
}

// chunkScratch returns at least chunks buffers of n floats, reusing bufs.
func chunkScratch(bufs [][]float32, chunks, n int) [][]float32 {
	for len(bufs) < chunks {
		bufs = append(bufs, nil)
	}
	for i := range bufs[:chunks] {
		bufs[i] = Scratch(bufs[i], n)
	}
	return bufs
}
