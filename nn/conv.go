package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// gradChunk returns how many images each fixed chunk of a convolution's
// backward pass holds, for p output positions per image: the smallest power
// of two whose chunk covers at least 768 positions. Chunk c sums the weight
// and bias gradients of its images into its own partial buffer; the
// partials are then added in chunk order, so the rounding depends only on
// the shapes, never on GOMAXPROCS. A power of two splits power-of-two
// batches into an even number of chunks for two cores.
func gradChunk(p int) int { return pow2Cover(p, 768) }

// gemmGroup returns how many images share one GEMM: their patch matrices
// sit side by side, so the GEMM has n (or k) = group*p, wide enough that
// the packed weight panels are reused and edge tiles waste little, while
// the patch matrix stays in L2 (about 1.7 MB for a 3x3 conv over 128
// channels). It is a power of two no larger than gradChunk, so groups tile
// chunks exactly.
func gemmGroup(p int) int { return pow2Cover(p, 384) }

// gemmGroup is the package's gemmGroup, or the power of two covering
// GroupCols columns when the layer sets it.
func (c *Conv2d) gemmGroup(p int) int {
	if c.GroupCols > 0 {
		return min(pow2Cover(p, c.GroupCols), gradChunk(p))
	}
	return gemmGroup(p)
}

// pow2Cover returns the smallest power of two c with c*p >= target.
func pow2Cover(p, target int) int {
	c := 1
	for c*p < target {
		c *= 2
	}
	return c
}

// Conv2d is a 2-D convolution (PyTorch's cross-correlation) on NCHW input:
//
//	y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] * x[n,c, i*S-PH+u, j*S-PW+v]
//
// with zeros outside the image. Each image is lowered to a patch matrix
// (im2col, [InC*KH*KW, OH*OW]); a group of images (see gemmGroup) puts its
// patch matrices side by side so the sum is one GEMM per group,
// Y = W * [cols_1 ... cols_G]. Backward is two more GEMMs per group:
// dW += dY * cols^T and dcols = W^T * dY, which col2im folds back into dx.
//
// Mask, when set, multiplies the weight element-wise before use (masked
// convolutions of PixelCNNs, see NewMaskedConv2d): masked taps are exactly
// zero in Forward whatever Weight holds, and their gradient is exactly zero.
//
// Live, when set, restricts the kernel to a rectangle of taps: the
// convolution is computed with that sub-kernel alone (its rows of the
// patch matrix and its columns of the weight), so taps a mask zeroes
// cost nothing; NewMaskedConv2d sets it where the mask is a rectangle.
// The other taps of Weight are then never read, and their gradient stays
// exactly zero.
//
// ReLU, when set, rectifies the output on the way out of the GEMM, and
// Backward takes the gradient of the rectified output, zeroing it where the
// output is 0 as it gathers it: a conv followed by a ReLU layer without the
// ReLU layer's two extra passes over memory.
//
// BatchMajor, when set, makes the layer's tensors batch-major, [C, N, H, W]:
// each channel's planes for the whole batch side by side. A pointwise
// (1x1) convolution's GEMMs then read and write the tensors in place, a
// group of images being a column range of one [C, N*H*W] matrix, so no
// gather or scatter runs around them; the products, sums and their order
// are those of the NCHW layout, so the results are the same bits in the
// other layout (with package kernels' products; gonum's, the generic
// path, order some sums by the operands' memory alignment).
//
// RowsOut, on a batch-major 1x1 convolution with neither ReLU nor a skip
// input, lays the output out position-major, [N*H*W, OutC]: a row of
// OutC values per position, as a classifier head's logits are wanted, with
// no transpose after the layer (nor before its Backward). The GEMMs take
// their operands transposed; each output is the same sum in the same order.
//
// Forward keeps a reference to x for Backward; x must not change in between.
type Conv2d struct {
	InC, OutC, KH, KW  int
	Stride, PadH, PadW int
	Weight, Bias       *Param    // Weight [OutC,InC,KH,KW]; Bias [OutC] or nil
	Mask               []float32 // nil, or 0/1 per weight entry
	Live               *TapWindow
	// GroupCols, when > 0, is the GEMM width (images times output
	// positions) a group of images aims at instead of 384: a group of
	// one image reads and writes the NCHW tensors in place, with no
	// gather or scatter.
	GroupCols  int
	ReLU       bool // y = max(0, conv(x) + b)
	BatchMajor bool // tensors are [C, N, H, W]
	RowsOut    bool // output [N*H*W, OutC] (batch-major 1x1 layers)

	g      convGeom
	n      int    // images in the batch
	chunk  int    // images per gradient chunk
	group  int    // images per GEMM
	shape  [4]int // output shape; a field so Ensure's variadic call does not allocate
	x, dy  *Tensor
	skip   *Tensor // ForwardAdd's, during the call
	out    *Tensor
	dx     *Tensor
	w      []float32     // the weight Forward used (masked copy, or Weight.Data)
	wp     packedWeights // w (Forward) or w^T (Backward), packed once per call
	wm     []float32     // storage for the masked copy
	live   []int32       // Live: the full weight's index of each compact one
	inferW []float32     // PrepareInfer's snapshot of the live weight
	cols   [][]float32   // per-worker patch matrices of a group
	dcols  [][]float32   // per-worker dcols scratch
	ys     [][]float32   // per-worker [OutC, group*P] outputs or output gradients
	partW  [][]float32   // per-chunk weight-gradient partials
	partB  [][]float32   // per-chunk bias-gradient partials
	partT  [][]float32   // RowsOut: per-worker sums of a group's output-gradient rows
	sum    partialSum

	implicit bool          // Forward gathers its patches (see patchSource)
	pats     patchPatterns // a full group's
	tailPats patchPatterns // the last group's, when it is smaller
	srcs     []patchSource // per worker
	grids    patchGrids    // Backward's: a full group's
	tailGrid patchGrids    // the last group's, when it is smaller
	gsrcs    []gridSource  // per worker

	dyCols []float32 // Backward: the output gradient as per-group matrices
	dyg    []float32 // the one the work items read: dyCols, or dy itself
	items  []int     // Backward's work items (see backwardItems)

	fwdFn, bwdFn, gatherFn func(worker, lo, hi int) // built once so calls allocate nothing
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
	c.Weight, c.Bias = newWeightBias(name, inC*kh*kw, bias, outC, rng, outC, inC, kh, kw)
	c.fwdFn = c.forwardImages
	c.bwdFn = c.backwardItems
	c.gatherFn = c.gatherGroups
	return c
}

// Params returns the weight and, if present, the bias.
func (c *Conv2d) Params() []*Param { return weightBias(c.Weight, c.Bias) }

// OutSize returns the output height and width for an h x w input.
func (c *Conv2d) OutSize(h, w int) (oh, ow int) {
	g := newConvGeom(c.InC, h, w, c.KH, c.KW, c.Stride, c.PadH, c.PadW)
	return g.OH, g.OW
}

// pointwise reports whether the patch matrix is the image itself, so the
// GEMM can read the [InC, H*W] slab directly.
func (c *Conv2d) pointwise() bool {
	g := &c.g
	return g.KH == 1 && g.KW == 1 && g.S == 1 && g.PH == 0 && g.PW == 0
}

// TapWindow is the rectangle of kernel taps rows [U0, U1), columns
// [V0, V1) that a Conv2d with Live set computes with.
type TapWindow struct{ U0, U1, V0, V1 int }

// geom returns the geometry of the convolution on an h x w input: with
// Live, that of the sub-kernel, offset so that it reads the same pixels,
// and with the full kernel's output size.
func (c *Conv2d) geom(h, w int) convGeom {
	g := newConvGeom(c.InC, h, w, c.KH, c.KW, c.Stride, c.PadH, c.PadW)
	if t := c.Live; t != nil {
		oh, ow := g.OH, g.OW
		g = newConvGeom(c.InC, h, w, t.U1-t.U0, t.V1-t.V0, c.Stride, c.PadH-t.U0, c.PadW-t.V0)
		g.OH, g.OW = oh, ow
	}
	return g
}

// liveWeights returns the weight the GEMMs multiply: [OutC, InC, taps]
// over the live taps only (Live), masked (Mask), or Weight itself.
func (c *Conv2d) liveWeights() []float32 {
	w := c.Weight.Data.Data
	if t := c.Live; t != nil {
		if c.live == nil {
			for o := range c.OutC * c.InC {
				for u := t.U0; u < t.U1; u++ {
					for v := t.V0; v < t.V1; v++ {
						c.live = append(c.live, int32((o*c.KH+u)*c.KW+v))
					}
				}
			}
		}
		c.wm = Scratch(c.wm, len(c.live))
		for i, j := range c.live {
			c.wm[i] = w[j]
		}
		return c.wm
	}
	if c.Mask != nil {
		c.wm = Scratch(c.wm, len(w))
		for i, m := range c.Mask {
			c.wm[i] = w[i] * m
		}
		return c.wm
	}
	return w
}

// Forward computes the convolution of x [N,InC,H,W] into [N,OutC,OH,OW].
func (c *Conv2d) Forward(x *Tensor) *Tensor { return c.forward(x, nil) }

// ForwardAdd is Forward with skip (shaped like the output) added on the way
// out, y = conv(x) + skip: a residual join without a pass of its own.
// Backward is Forward's; the gradient with respect to skip is dy itself,
// which the caller routes. The fused ReLU cannot be combined with it.
func (c *Conv2d) ForwardAdd(x, skip *Tensor) *Tensor {
	if c.ReLU {
		panic(fmt.Sprintf("nn: Conv2d %s: ForwardAdd with ReLU set", c.Weight.Name))
	}
	return c.forward(x, skip)
}

func (c *Conv2d) forward(x, skip *Tensor) *Tensor {
	n, inC, want := 0, 0, "[N,%d,H,W]"
	if len(x.Shape) == 4 {
		n, inC = x.Shape[0], x.Shape[1]
		if c.BatchMajor {
			n, inC, want = x.Shape[1], x.Shape[0], "[%d,N,H,W]"
		}
	}
	if inC != c.InC {
		panic(fmt.Sprintf("nn: Conv2d %s: input %v, want "+want, c.Weight.Name, x.Shape, c.InC))
	}
	c.g = c.geom(x.Shape[2], x.Shape[3])
	if c.g.OH < 1 || c.g.OW < 1 {
		panic(fmt.Sprintf("nn: Conv2d %s: input %v smaller than the %dx%d kernel", c.Weight.Name, x.Shape, c.KH, c.KW))
	}
	c.x, c.n = x, n
	c.shape = [4]int{n, c.OutC, c.g.OH, c.g.OW}
	if c.BatchMajor {
		c.g.batchMajor(n)
		c.shape[0], c.shape[1] = c.OutC, n
	}
	switch {
	case !c.RowsOut:
		c.out = Ensure(c.out, c.shape[:]...)
	case !c.BatchMajor || !c.pointwise() || c.ReLU || skip != nil:
		panic(fmt.Sprintf("nn: Conv2d %s: RowsOut needs a batch-major 1x1 convolution without ReLU or skip", c.Weight.Name))
	default:
		c.shape = [4]int{n * c.g.cols(), c.OutC}
		c.out = Ensure(c.out, c.shape[:2]...)
	}
	if skip != nil && !skip.SameShape(c.out) {
		panic(fmt.Sprintf("nn: Conv2d %s: skip %v, want %v", c.Weight.Name, skip.Shape, c.out.Shape))
	}
	c.skip = skip
	c.w = c.liveWeights()
	K, P := c.g.rows(), c.g.cols()
	c.group = c.gemmGroup(P)
	c.implicit = implicitPatches() && !c.pointwise()
	c.cols = workerScratch(c.cols, K*c.group*P, !c.implicit && !(c.BatchMajor && c.pointwise()))
	c.ys = workerScratch(c.ys, c.OutC*c.group*P, c.group > 1 && !c.BatchMajor)
	if !c.RowsOut {
		c.wp.Pack(false, c.OutC, K, c.w, K)
	}
	if c.implicit {
		buildGroups(&c.pats, &c.tailPats, &c.g, n, c.group)
		c.srcs = perWorker(c.srcs)
	}
	ParallelFor(FixedChunks(n, c.group), c.fwdFn)
	c.skip = nil
	return c.out
}

// lower returns the patch matrices of images [i0, i1) side by side and
// their row stride: written into the worker's scratch, or for a
// batch-major pointwise convolution the input itself.
func (c *Conv2d) lower(worker, i0, i1 int) ([]float32, int) {
	g := &c.g
	P := g.cols()
	ld := (i1 - i0) * P
	if c.pointwise() && c.BatchMajor {
		return c.x.Data[i0*P:], c.n * P
	}
	col := c.cols[worker][:g.rows()*ld]
	if c.pointwise() {
		gatherImages(c.x.Data[i0*g.IS:i1*g.IS], g.C, P, col, ld)
		return col, ld
	}
	for i := i0; i < i1; i++ {
		im2col(g, c.x.Data[i*g.IS:], col[(i-i0)*P:], ld)
	}
	return col, ld
}

// outRows returns where the [OutC, (i1-i0)*P] output (or output gradient)
// of images [i0, i1) lies in t, and its row stride, for a batch-major
// layer.
func (c *Conv2d) outRows(t []float32, i0 int) ([]float32, int) {
	P := c.g.cols()
	return t[i0*P:], c.n * P
}

func (c *Conv2d) forwardImages(worker, lo, hi int) {
	g := &c.g
	P := g.cols()
	outSz := c.OutC * P
	for gr := lo; gr < hi; gr++ {
		i0, i1 := gr*c.group, min((gr+1)*c.group, c.n)
		N := (i1 - i0) * P
		if c.RowsOut {
			c.forwardRows(i0, N)
			continue
		}
		// One image, or batch-major tensors: the GEMM writes its output
		// in place, and the epilogue below runs over it there.
		y, ldy := c.out.Data[i0*outSz:i1*outSz], N
		switch {
		case c.BatchMajor:
			y, ldy = c.outRows(c.out.Data, i0)
		case i1-i0 > 1:
			y = c.ys[worker][:c.OutC*N]
		}
		if c.implicit {
			src := &c.srcs[worker]
			src.p = forGroup(&c.pats, &c.tailPats, i1-i0)
			src.x = c.x.Data[i0*g.IS:]
			kernels.SgemmPackedASource(&c.wp.PackedA, N, src, 1, 0, y, ldy)
		} else {
			col, ld := c.lower(worker, i0, i1)
			gemmPacked(&c.wp, N, 1, col, ld, 0, y, ldy)
		}
		var bias []float32
		if c.Bias != nil {
			bias = c.Bias.Data.Data
		}
		if c.BatchMajor {
			c.epilogueRows(y, ldy, N, bias)
			continue
		}
		var skip []float32
		if c.skip != nil {
			skip = c.skip.Data[i0*outSz : i1*outSz]
		}
		scatterImages(y, N, c.OutC, P, c.out.Data[i0*outSz:i1*outSz], bias, c.ReLU, skip)
	}
}

// forwardRows computes the RowsOut output of the N positions from image
// i0 on: y^T = x^T W^T, a row of OutC values per position, with the bias
// added to each row.
func (c *Conv2d) forwardRows(i0, N int) {
	P, K := c.g.cols(), c.g.rows()
	y := c.out.Data[i0*P*c.OutC : (i0*P+N)*c.OutC]
	Sgemm(true, true, N, c.OutC, K, 1, c.x.Data[i0*P:], c.n*P, c.w, K, 0, y, c.OutC)
	if c.Bias == nil {
		return
	}
	for p := range N {
		row := y[p*c.OutC : (p+1)*c.OutC]
		AddInto(row, row, c.Bias.Data.Data)
	}
}

// epilogueRows adds the bias, rectifies and adds the skip input in place
// over the OutC rows of n outputs at y (row stride ld) of a batch-major
// layer: scatterImages' arithmetic without its move.
func (c *Conv2d) epilogueRows(y []float32, ld, n int, bias []float32) {
	if bias == nil && !c.ReLU && c.skip == nil {
		return
	}
	at := len(c.out.Data) - len(y) // y's offset in the output
	for o := range c.OutC {
		var b float32
		if bias != nil {
			b = bias[o]
		}
		var skip []float32
		if c.skip != nil {
			skip = c.skip.Data[at+o*ld:]
		}
		row := y[o*ld : o*ld+n]
		kernels.BiasRows(row, n, row, n, 1, n, b, bias != nil, c.ReLU, skip)
	}
}

// Backward takes dL/dy [N,OutC,OH,OW], adds dL/dW and dL/db into the
// parameters' Grad and returns dL/dx.
func (c *Conv2d) Backward(dy *Tensor) *Tensor {
	if !dy.SameShape(c.out) {
		panic(fmt.Sprintf("nn: Conv2d %s: gradient %v, want %v", c.Weight.Name, dy.Shape, c.out.Shape))
	}
	n := c.n
	c.dy = dy
	c.dx = Ensure(c.dx, c.x.Shape...)
	K, P := c.g.rows(), c.g.cols()
	c.chunk, c.group = gradChunk(P), c.gemmGroup(P)
	c.implicit = implicitPatches() && !c.pointwise()
	c.cols = workerScratch(c.cols, K*c.group*P, !c.implicit && !(c.BatchMajor && c.pointwise()))
	if c.implicit {
		buildGroups(&c.grids, &c.tailGrid, &c.g, n, c.group)
		c.gsrcs = perWorker(c.gsrcs)
	}
	c.dcols = workerScratch(c.dcols, K*c.group*P, !(c.BatchMajor && c.pointwise()))
	chunks := FixedChunks(n, c.chunk)
	c.partW = chunkScratch(c.partW, chunks, c.OutC*K)
	c.partB = chunkScratch(c.partB, chunks, c.OutC)
	c.wp.Pack(true, K, c.OutC, c.w, K)
	if c.RowsOut {
		c.partT = workerScratch(c.partT, c.OutC, c.Bias != nil)
	}
	if (c.group == 1 || c.BatchMajor) && !c.ReLU {
		// One image per GEMM, or batch-major: the gradient is already
		// laid out as the matrices the GEMMs read.
		c.dyg = dy.Data
	} else {
		c.dyCols = Scratch(c.dyCols, n*c.OutC*P)
		c.dyg = c.dyCols
		ParallelFor(FixedChunks(n, c.group), c.gatherFn)
	}
	c.items = c.items[:0]
	for ch := 0; ch < chunks; ch++ {
		c.items = append(c.items, -1-ch)
		for i0 := ch * c.chunk; i0 < min((ch+1)*c.chunk, n); i0 += c.group {
			c.items = append(c.items, i0/c.group)
		}
	}
	ParallelFor(len(c.items), c.bwdFn)
	if c.Live != nil {
		c.sum.addAt(c.Weight.Grad.Data, c.partW[:chunks], c.live)
	} else {
		c.sum.add(c.Weight.Grad.Data, c.partW[:chunks], c.Mask)
	}
	if c.Bias != nil {
		c.sum.add(c.Bias.Grad.Data, c.partB[:chunks], nil)
	}
	return c.dx
}

// The backward pass is two kinds of work items, in one parallel loop: a
// chunk's weight and bias gradient partial (summed over its groups in
// order), and a group's dx. Each chunk's items come together, in image
// order, so a core keeps to the images it had in the forward pass; and the
// dx items, about half the work in pieces a few times finer than chunks,
// keep the cores from waiting long on each other at the end. c.items
// lists them: -1-ch for chunk ch's partials, g for group g's dx. The
// gradient they read, gathered per group (and masked by the fused ReLU),
// is written beforehand by gatherGroups into c.dyCols.

// gatherGroups writes the output gradient of groups [lo, hi) into c.dyCols
// as [OutC, images*P] matrices, group after group.
func (c *Conv2d) gatherGroups(_, lo, hi int) {
	P := c.g.cols()
	outSz := c.OutC * P
	n := c.n
	for gr := lo; gr < hi; gr++ {
		i0, i1 := gr*c.group, min((gr+1)*c.group, n)
		N := (i1 - i0) * P
		if c.BatchMajor {
			// The fused ReLU's gradient, in the same layout.
			for o := range c.OutC {
				r := o*n*P + i0*P
				kernels.ReluBackward(c.dyCols[r:r+N], c.out.Data[r:r+N], c.dy.Data[r:r+N])
			}
			continue
		}
		dy := c.dyCols[i0*outSz : i0*outSz+c.OutC*N]
		if c.ReLU {
			gatherImagesWhere(c.dy.Data[i0*outSz:i1*outSz], c.out.Data[i0*outSz:i1*outSz], c.OutC, P, dy, N)
		} else {
			gatherImages(c.dy.Data[i0*outSz:i1*outSz], c.OutC, P, dy, N)
		}
	}
}

func (c *Conv2d) backwardItems(worker, lo, hi int) {
	for _, it := range c.items[lo:hi] {
		if it < 0 {
			c.weightGradChunk(worker, -1-it)
		} else {
			c.inputGradGroup(worker, it)
		}
	}
}

// weightGradChunk computes chunk ch's weight and bias gradient partials.
func (c *Conv2d) weightGradChunk(worker, ch int) {
	g := &c.g
	K, P := g.rows(), g.cols()
	outSz := c.OutC * P
	n := c.n
	pw, pb := c.partW[ch], c.partB[ch]
	var beta float32
	for i0 := ch * c.chunk; i0 < min((ch+1)*c.chunk, n); i0 += c.group {
		i1 := min(i0+c.group, n)
		N := (i1 - i0) * P
		dy, ldy := c.dyg[i0*outSz:], N
		if c.BatchMajor {
			dy, ldy = c.outRows(c.dyg, i0)
		}
		if c.RowsOut {
			// dW += dy^T x^T over the group's rows of dy.
			rows := c.dyg[i0*P*c.OutC : (i0*P+N)*c.OutC]
			Sgemm(true, true, c.OutC, K, N, 1, rows, c.OutC, c.x.Data[i0*P:], n*P, beta, pw, K)
			if c.Bias != nil {
				c.columnSums(c.partT[worker], pb, rows, beta != 0)
			}
			beta = 1
			continue
		}
		if c.implicit {
			src := &c.gsrcs[worker]
			src.p = forGroup(&c.grids, &c.tailGrid, i1-i0)
			src.x = c.x.Data[i0*g.IS:]
			kernels.SgemmSource(false, c.OutC, K, N, 1, dy, ldy, src, beta, pw, K)
		} else {
			col, ld := c.lower(worker, i0, i1)
			Sgemm(false, true, c.OutC, K, N, 1, dy, ldy, col, ld, beta, pw, K)
		}
		if c.Bias != nil {
			rowSumsLd(pb, dy, N, ldy, beta != 0)
		}
		beta = 1
	}
}

// columnSums sets (or with add, adds to) pb[o] the sum of column o of the
// rows of OutC values in rows, the bias gradient of a RowsOut group: each
// column summed in order from its first row into t, then added to pb, as
// rowSums sums a row of the batch-major layout.
func (c *Conv2d) columnSums(t, pb, rows []float32, add bool) {
	clear(t)
	for p := 0; p < len(rows); p += c.OutC {
		AddInto(t, t, rows[p:p+c.OutC])
	}
	if add {
		AddInto(pb, pb, t)
		return
	}
	copy(pb, t)
}

// inputGradGroup computes dx for group gr: dcols = W^T dY, folded back
// onto the images by col2im.
func (c *Conv2d) inputGradGroup(worker, gr int) {
	g := &c.g
	K, P := g.rows(), g.cols()
	outSz := c.OutC * P
	n := c.n
	i0, i1 := gr*c.group, min((gr+1)*c.group, n)
	N := (i1 - i0) * P
	if c.RowsOut {
		// dx = W^T dy^T, straight into dx's columns for these images.
		rows := c.dyg[i0*P*c.OutC : (i0*P+N)*c.OutC]
		gemmPackedT(&c.wp, true, N, 1, rows, c.OutC, 0, c.dx.Data[i0*P:], n*P)
		return
	}
	if c.BatchMajor {
		dy, ldy := c.outRows(c.dyg, i0)
		if c.pointwise() {
			// dx's rows for these images are the product itself.
			gemmPacked(&c.wp, N, 1, dy, ldy, 0, c.dx.Data[i0*P:], n*P)
			return
		}
		dcol := c.dcols[worker][:K*N]
		gemmPacked(&c.wp, N, 1, dy, ldy, 0, dcol, N)
		for ch := range g.C {
			clear(c.dx.Data[ch*g.CS+i0*g.IS : ch*g.CS+i1*g.IS])
		}
		for i := i0; i < i1; i++ {
			col2im(g, dcol[(i-i0)*P:], N, c.dx.Data[i*g.IS:])
		}
		return
	}
	dy := c.dyg[i0*outSz : i0*outSz+c.OutC*N]
	dcol := c.dcols[worker][:K*N]
	gemmPacked(&c.wp, N, 1, dy, N, 0, dcol, N)
	dx := c.dx.Data[i0*g.IS : i1*g.IS]
	if c.pointwise() {
		scatterImages(dcol, N, K, P, dx, nil, false, nil)
		return
	}
	clear(dx)
	for i := i0; i < i1; i++ {
		col2im(g, dcol[(i-i0)*P:], N, dx[(i-i0)*g.IS:])
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

// AddRowSums adds to dst[r] the sum of row r of x (len(dst) rows of n
// values), each row summed in order as sum32 does; see rowSums.
func AddRowSums(dst, x []float32, n int) { rowSums(dst, x, n, true) }

// RowSums sets dst[r] to the sum of row r of x, as AddRowSums adds it.
func RowSums(dst, x []float32, n int) { rowSums(dst, x, n, false) }

// rowSums sets dst[r] to the sum of row r of x (rows of n values), or adds
// it to dst[r] when add, each row summed in order from its first value as
// sum32 does, so the bits are sum32's (kernels.RowSums).
func rowSums(dst, x []float32, n int, add bool) { rowSumsLd(dst, x, n, n, add) }

// rowSumsLd is rowSums over rows ld floats apart.
func rowSumsLd(dst, x []float32, n, ld int, add bool) { kernels.RowSums(dst, x, n, ld, add) }

// partialSum adds per-chunk gradient partials into a gradient, element
// ranges spread over the cores. Every element still sums its partials in
// chunk order, so the result is the same for any split, and the other core
// no longer waits while one sums (8 partials of 147,456 floats for the
// encoder's 3x3 conv at batch 128).
type partialSum struct {
	grad  []float32
	parts [][]float32
	mask  []float32
	at    []int32   // addAt: the gradient's index of each partial's element
	sums  []float32 // addAt: the gradient's elements at at, while they are summed
	ch    chunker
	fn    func(lo, hi int)
}

// add adds parts into grad in chunk order, times mask when it is not nil.
func (s *partialSum) add(grad []float32, parts [][]float32, mask []float32) {
	if s.fn == nil {
		s.fn = s.addRange
	}
	s.grad, s.parts, s.mask = grad, parts, mask
	s.ch.do(len(grad), elemChunk, s.fn)
	s.grad, s.parts, s.mask = nil, nil, nil
}

// addAt adds parts, whose element i belongs to grad[at[i]], in chunk
// order.
func (s *partialSum) addAt(grad []float32, parts [][]float32, at []int32) {
	if s.fn == nil {
		s.fn = s.addRange
	}
	s.grad, s.parts, s.at = grad, parts, at
	s.sums = Scratch(s.sums, len(at))
	s.ch.do(len(at), elemChunk, s.fn)
	s.grad, s.parts, s.at = nil, nil, nil
}

func (s *partialSum) addRange(lo, hi int) {
	if s.at != nil {
		// Gathered, summed in order, scattered back: the additions
		// grad[at[i]] += v would make, vectorised.
		at, g := s.at[lo:hi], s.sums[lo:hi]
		for i, j := range at {
			g[i] = s.grad[j]
		}
		for _, p := range s.parts {
			AddInto(g, g, p[lo:hi])
		}
		for i, j := range at {
			s.grad[j] = g[i]
		}
		return
	}
	grad := s.grad[lo:hi]
	for _, p := range s.parts {
		p = p[lo:hi]
		if s.mask == nil {
			AddInto(grad, grad, p)
			continue
		}
		m := s.mask[lo:hi]
		for i, v := range p {
			grad[i] += v * m[i]
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
