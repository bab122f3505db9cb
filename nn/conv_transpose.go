package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// ConvTranspose2d is the adjoint of Conv2d's input map (PyTorch's
// nn.ConvTranspose2d, output_padding 0): each input pixel scatters a
// weighted KxK patch into the output,
//
//	y[n,o, i*S-P+u, j*S-P+v] += w[c,o,u,v] * x[n,c,i,j],   y += b[o],
//
// so OH = (H-1)*S - 2P + K. For a group of images (see gemmGroup) side by
// side, cols = W^T * [x_1 ... x_G] is one GEMM ([OutC*K*K, InC] x
// [InC, G*H*W]) and col2im scatters each image's columns into y_n, viewing
// y_n as the input of a stride-S convolution whose output grid is H x W.
// Backward reverses it: dcols = [im2col(dy_1) ... im2col(dy_G)],
// dX = W * dcols and dW += X * dcols^T. With K=4, S=2, P=1 it doubles H and
// W. ReLU works as in Conv2d: the output is rectified in place after
// col2im, and Backward masks dy by it before lowering.
type ConvTranspose2d struct {
	InC, OutC, K, Stride, Pad int
	Weight, Bias              *Param // Weight [InC,OutC,K,K]; Bias [OutC] or nil
	ReLU                      bool   // y = max(0, convT(x) + b)

	g     convGeom // the output seen as a convolution's input
	h, w  int
	chunk int    // images per gradient chunk
	group int    // images per GEMM
	shape [4]int // output shape; a field so Ensure's variadic call does not allocate
	x, dy *Tensor
	wp    packedWeights // W^T (Forward) or W (Backward), packed once per call
	out   *Tensor
	dx    *Tensor
	cols  [][]float32 // per-worker [OutC*K*K, group*H*W]
	xs    [][]float32 // per-worker [InC, group*H*W] inputs
	dxs   [][]float32 // per-worker [InC, group*H*W] input gradients
	dys   [][]float32 // per-worker dy of one image masked by the ReLU
	partW [][]float32
	partB [][]float32
	sum   partialSum
	fwdFn func(worker, lo, hi int)
	bwdFn func(worker, lo, hi int)
}

// NewConvTranspose2d returns a transposed convolution initialised like
// PyTorch's (fanIn computed from weight.size(1), i.e. outC*k*k). Parameters
// are named name+".weight" and name+".bias".
func NewConvTranspose2d(name string, inC, outC, k, stride, pad int, bias bool, rng *RNG) *ConvTranspose2d {
	if inC < 1 || outC < 1 || k < 1 || stride < 1 || pad < 0 {
		panic(fmt.Sprintf("nn: NewConvTranspose2d %s: bad geometry in=%d out=%d kernel=%d stride=%d pad=%d",
			name, inC, outC, k, stride, pad))
	}
	c := &ConvTranspose2d{InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad}
	// PyTorch takes the fan-in of a transposed conv from weight.size(1).
	c.Weight, c.Bias = newWeightBias(name, outC*k*k, bias, outC, rng, inC, outC, k, k)
	c.fwdFn = c.forwardImages
	c.bwdFn = c.backwardChunks
	return c
}

// Params returns the weight and, if present, the bias.
func (c *ConvTranspose2d) Params() []*Param { return weightBias(c.Weight, c.Bias) }

// OutSize returns the output height and width for an h x w input.
func (c *ConvTranspose2d) OutSize(h, w int) (oh, ow int) {
	return (h-1)*c.Stride - 2*c.Pad + c.K, (w-1)*c.Stride - 2*c.Pad + c.K
}

// Forward maps x [N,InC,H,W] to [N,OutC,OH,OW].
func (c *ConvTranspose2d) Forward(x *Tensor) *Tensor {
	if len(x.Shape) != 4 || x.Shape[1] != c.InC {
		panic(fmt.Sprintf("nn: ConvTranspose2d %s: input %v, want [N,%d,H,W]", c.Weight.Name, x.Shape, c.InC))
	}
	n := x.Shape[0]
	c.h, c.w = x.Shape[2], x.Shape[3]
	oh, ow := c.OutSize(c.h, c.w)
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("nn: ConvTranspose2d %s: input %v gives an empty output", c.Weight.Name, x.Shape))
	}
	c.g = newConvGeom(c.OutC, oh, ow, c.K, c.K, c.Stride, c.Pad, c.Pad)
	c.x = x
	c.shape = [4]int{n, c.OutC, oh, ow}
	c.out = Ensure(c.out, c.shape[:]...)
	c.group = gemmGroup(c.g.cols())
	c.cols = workerScratch(c.cols, c.g.rows()*c.group*c.g.cols(), true)
	c.xs = workerScratch(c.xs, c.InC*c.group*c.g.cols(), true)
	c.wp.Pack(true, c.g.rows(), c.InC, c.Weight.Data.Data, c.g.rows())
	ParallelFor(FixedChunks(n, c.group), c.fwdFn)
	return c.out
}

func (c *ConvTranspose2d) forwardImages(worker, lo, hi int) {
	g := &c.g
	R, P := g.rows(), g.cols() // P == H*W of the input
	plane := g.H * g.W
	inSz, outSz := c.InC*P, c.OutC*plane
	n := c.x.Shape[0]
	for gr := lo; gr < hi; gr++ {
		i0, i1 := gr*c.group, min((gr+1)*c.group, n)
		N := (i1 - i0) * P
		col, x := c.cols[worker][:R*N], c.xs[worker][:c.InC*N]
		gatherImages(c.x.Data[i0*inSz:i1*inSz], c.InC, P, x, N)
		gemmPacked(&c.wp, N, 1, x, N, 0, col, N)
		for i := i0; i < i1; i++ {
			yi := c.out.Data[i*outSz : (i+1)*outSz]
			if c.Bias != nil {
				for o, b := range c.Bias.Data.Data {
					row := yi[o*plane : (o+1)*plane]
					for j := range row {
						row[j] = b
					}
				}
			} else {
				clear(yi)
			}
			col2im(g, col[(i-i0)*P:], N, yi)
			if c.ReLU {
				kernels.Relu(yi, yi)
			}
		}
	}
}

// Backward takes dL/dy, adds dL/dW and dL/db into the parameters' Grad and
// returns dL/dx.
func (c *ConvTranspose2d) Backward(dy *Tensor) *Tensor {
	if !dy.SameShape(c.out) {
		panic(fmt.Sprintf("nn: ConvTranspose2d %s: gradient %v, want %v", c.Weight.Name, dy.Shape, c.out.Shape))
	}
	n := c.x.Shape[0]
	c.dy = dy
	c.dx = Ensure(c.dx, c.x.Shape...)
	R, P := c.g.rows(), c.g.cols()
	c.chunk, c.group = gradChunk(P), gemmGroup(P)
	c.cols = workerScratch(c.cols, R*c.group*P, true)
	c.xs = workerScratch(c.xs, c.InC*c.group*P, true)
	c.dxs = workerScratch(c.dxs, c.InC*c.group*P, true)
	c.dys = workerScratch(c.dys, c.OutC*c.g.H*c.g.W, c.ReLU)
	chunks := FixedChunks(n, c.chunk)
	c.partW = chunkScratch(c.partW, chunks, c.InC*R)
	c.partB = chunkScratch(c.partB, chunks, c.OutC)
	c.wp.Pack(false, c.InC, R, c.Weight.Data.Data, R)
	ParallelFor(chunks, c.bwdFn)
	c.sum.add(c.Weight.Grad.Data, c.partW[:chunks], nil)
	if c.Bias != nil {
		c.sum.add(c.Bias.Grad.Data, c.partB[:chunks], nil)
	}
	return c.dx
}

func (c *ConvTranspose2d) backwardChunks(worker, lo, hi int) {
	g := &c.g
	R, P := g.rows(), g.cols()
	plane := g.H * g.W
	inSz := c.InC * P
	n := c.x.Shape[0]
	for ch := lo; ch < hi; ch++ {
		pw, pb := c.partW[ch], c.partB[ch]
		clear(pb)
		var beta float32
		for i0 := ch * c.chunk; i0 < min((ch+1)*c.chunk, n); i0 += c.group {
			i1 := min(i0+c.group, n)
			N := (i1 - i0) * P
			dcol, x, dx := c.cols[worker][:R*N], c.xs[worker][:c.InC*N], c.dxs[worker][:c.InC*N]
			for i := i0; i < i1; i++ {
				dyi := c.gradOut(worker, i)
				im2col(g, dyi, dcol[(i-i0)*P:], N)
				if c.Bias != nil {
					AddRowSums(pb, dyi, plane)
				}
			}
			gemmPacked(&c.wp, N, 1, dcol, N, 0, dx, N)
			scatterImages(dx, N, c.InC, P, c.dx.Data[i0*inSz:i1*inSz], nil, false, nil)
			gatherImages(c.x.Data[i0*inSz:i1*inSz], c.InC, P, x, N)
			Sgemm(false, true, c.InC, R, N, 1, x, N, dcol, N, beta, pw, R)
			beta = 1
		}
	}
}

// gradOut returns dL/d(output before the ReLU) of image i: dy itself, or
// with ReLU dy masked by the output, in the worker's scratch.
func (c *ConvTranspose2d) gradOut(worker, i int) []float32 {
	sz := c.OutC * c.g.H * c.g.W
	dy := c.dy.Data[i*sz : (i+1)*sz]
	if !c.ReLU {
		return dy
	}
	m := c.dys[worker][:sz]
	kernels.ReluBackward(m, c.out.Data[i*sz:(i+1)*sz], dy)
	return m
}
