package prior

// # The gated PixelCNN
//
// PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
// PixelCNN Decoders") models p(x_i | x_<i) for every position of an H x W
// code grid in one pass, with convolutions masked so that output i never
// reads an input at i or after. One layer l is
//
//	vp  = VConv(v)                                   the masked convolution, k x k, MaskVertical:
//	                                                 rows above and the whole centre row
//	v'  = tanh(vp_a + e_a) * sigmoid(vp_b + e_b)     gated unit, e = class embedding (2C),
//	                                                 the row cond[y] of a table of Classes+1
//	                                                 rows, the last the null class
//	hp  = HConv(h) + VtoH(ShiftDown(vp)) + e          HConv: 1 x k, centre row left of centre
//	                                                 (MaskHorizontalA in layer 0, B after)
//	g   = tanh(hp_a) * sigmoid(hp_b)
//	[r; s] = HOut(g)                                 1x1 conv to 2C channels
//	h'  = h + r   (h' = r in layer 0)                residual on the horizontal stack only
//	skip += s                                        skip connections summed over layers
//
// with v = h = Embed(x) in NCHW for layer 0. The head is
// ReLU -> 1x1 conv (HeadHidden) -> ReLU -> 1x1 conv (K) on the summed skips.
//
// Why nothing is missing and nothing leaks: the vertical stack at (r, c)
// sees rows <= r across a band that widens by k/2 columns per layer on
// either side, so it also sees the current row, including (r, c) itself and
// positions to its right. It therefore never feeds the output directly: it
// reaches the horizontal stack only through ShiftDown, which makes row r
// read the vertical features of row r-1, i.e. inputs in rows < r, all of
// which precede (r, c) in raster order. The horizontal stack reads only the
// current row to the left: layer 0's MaskHorizontalA excludes the centre tap
// (the input at (r, c) itself); later layers may read their own position
// (MaskHorizontalB) since those features already exclude x_(r,c). Because
// the vertical stack's field is a full rectangle (not the triangle of a
// single k x k MaskA stack), the union of the two covers every position
// before (r, c) once L*(k/2) spans the grid: there is no blind spot. The
// causality test checks this as exact dependency sets.
//
// Sampling (pcStepper) exploits the same structure: the vertical stack of
// row r-1 is final once row r-1 is sampled, so it is computed once per row
// and cached; the horizontal stack at (r, c) reads only row r at columns
// <= c, whose features at earlier columns never change afterwards, so each
// new cell costs one position per layer. It computes through the layers
// themselves (Conv2d.InferPatches: their weights, live taps, biases and
// arithmetic; the gates' kernel), so its logits are Forward's, bit for
// bit, and a change to a layer reaches training and sampling alike.
//
// The masked convolutions compute with their live taps only (nn.Conv2d's
// Live window): (k/2+1) x k of the vertical k x k and k/2+1 (k/2 in layer
// 0) of the horizontal 1 x k, so no product with a masked zero is formed.
//
// Training keeps every activation batch-major, [C, n, H, W]
// (nn.Conv2d.BatchMajor): the 1x1 convolutions (v_to_h, h_out, the head)
// are then GEMMs over column ranges of one [C, n*H*W] matrix, read and
// written in place, and the two halves of a 2C-channel map (the gate's a
// and b, h_out's residual and skip parts) are each one contiguous block.

import (
	"fmt"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// PixelCNN is the gated PixelCNN prior; see the comment at the top of this
// file. It implements Prior.
type PixelCNN struct {
	cfg    configs.PixelCNN
	info   Info
	embed  *nn.Embedding
	layers []*pcLayer
	relu1  nn.ReLU
	head1  *nn.Conv2d // with the ReLU after it fused
	head2  *nn.Conv2d
	params []*nn.Param

	n       int
	classes []int32
	x       *nn.Tensor // embedded codes, [E, n, H, W]
	skip    nn.Tensor  // the skip sum [C, n, H, W]: the last h_out output's second half
	skipShp [4]int
	logits  *nn.Tensor // [n*H*W, K]
	dout    *nn.Tensor // the gradient of a layer's h_out output, [2C, n, H, W]
	demb    *nn.Tensor // [n*H*W, E]
	shape4  [4]int
	shape2  [2]int
	jobs    pcJobs
}

type pcLayer struct {
	vconv, hconv, v2h, hout *nn.Conv2d
	shift                   nn.ShiftDown
	cond                    *nn.Param // [Classes+1, 2C], the last row the null class; nil when unconditional
	vgate, hgate            gate
	h                       nn.Tensor // the horizontal stack's output [C, n, H, W]: h_out's output's first half
	shape                   [4]int
}

// NewPixelCNN builds a gated PixelCNN for grids described by info
// (info.Arch is set to "pixelcnn"), initialised from rng.
func NewPixelCNN(cfg configs.PixelCNN, info Info, rng *nn.RNG) (*PixelCNN, error) {
	switch {
	case cfg.Layers < 1:
		return nil, fmt.Errorf("pixelcnn: layers = %d, want >= 1", cfg.Layers)
	case cfg.Channels < 1:
		return nil, fmt.Errorf("pixelcnn: channels = %d, want >= 1", cfg.Channels)
	case cfg.Kernel < 3 || cfg.Kernel%2 == 0:
		return nil, fmt.Errorf("pixelcnn: kernel = %d, want an odd size >= 3", cfg.Kernel)
	case cfg.Embed < 1:
		return nil, fmt.Errorf("pixelcnn: embed = %d, want >= 1", cfg.Embed)
	case cfg.HeadHidden < 1:
		return nil, fmt.Errorf("pixelcnn: head_hidden = %d, want >= 1", cfg.HeadHidden)
	case info.K < 2:
		return nil, fmt.Errorf("pixelcnn: codebook size K = %d, want >= 2", info.K)
	case info.H < 1 || info.W < 1:
		return nil, fmt.Errorf("pixelcnn: grid %dx%d, want positive sides", info.H, info.W)
	case info.Classes < 0:
		return nil, fmt.Errorf("pixelcnn: classes = %d, want >= 0", info.Classes)
	}
	info.Arch = "pixelcnn"
	C, k, E := cfg.Channels, cfg.Kernel, cfg.Embed
	m := &PixelCNN{cfg: cfg, info: info}
	m.jobs.init()
	m.embed = nn.NewEmbedding("pixelcnn.embed", info.K, E, rng)
	m.params = append(m.params, m.embed.Params()...)
	for l := range cfg.Layers {
		name := fmt.Sprintf("pixelcnn.layers.%d", l)
		cin := C
		hmask := nn.MaskHorizontalB
		if l == 0 {
			cin, hmask = E, nn.MaskHorizontalA
		}
		L := &pcLayer{
			vconv: nn.NewMaskedConv2d(name+".v_conv", cin, 2*C, k, k, nn.MaskVertical, true, rng),
			hconv: nn.NewMaskedConv2d(name+".h_conv", cin, 2*C, 1, k, hmask, true, rng),
			v2h:   nn.NewConv2d(name+".v_to_h", 2*C, 2*C, 1, 1, 0, true, rng),
			hout:  nn.NewConv2d(name+".h_out", C, 2*C, 1, 1, 0, true, rng),
		}
		L.vgate.init(C)
		L.hgate.init(C)
		m.params = append(m.params, L.vconv.Params()...)
		m.params = append(m.params, L.hconv.Params()...)
		m.params = append(m.params, L.v2h.Params()...)
		m.params = append(m.params, L.hout.Params()...)
		if info.Classes > 0 {
			// Small: the class shifts each gate a little at first instead
			// of dominating the code embedding.
			// The null class's row is drawn at the very end (below).
			L.cond = nn.NewParam(name+".cond.weight", info.Classes+1, 2*C)
			rng.Normal(L.cond.Data.Data[:info.Classes*2*C], 0, 0.1)
			m.params = append(m.params, L.cond)
		}
		m.layers = append(m.layers, L)
	}
	m.head1 = nn.NewConv2d("pixelcnn.head.0", C, cfg.HeadHidden, 1, 1, 0, true, rng)
	m.head2 = nn.NewConv2d("pixelcnn.head.2", cfg.HeadHidden, info.K, 1, 1, 0, true, rng)
	// A 16x16 grid (256 positions) is GEMM-wide enough on its own: one
	// image per GEMM.
	convs := []*nn.Conv2d{m.head1, m.head2}
	for _, L := range m.layers {
		convs = append(convs, L.vconv, L.hconv, L.v2h, L.hout)
	}
	for _, c := range convs {
		c.GroupCols, c.BatchMajor = 256, true
	}
	// The logits come out a row per position, as the loss wants them.
	m.head2.RowsOut = true
	m.head1.ReLU = true
	m.params = append(m.params, m.head1.Params()...)
	m.params = append(m.params, m.head2.Params()...)
	// The null class's rows last, so every other tensor gets the draws it
	// got before the null class existed.
	if info.Classes > 0 {
		for _, L := range m.layers {
			rng.Normal(L.cond.Data.Data[info.Classes*2*C:], 0, 0.1)
		}
	}
	return m, nil
}

// Info describes the grids the model was built for.
func (m *PixelCNN) Info() Info { return m.info }

// Params lists every parameter in a fixed order.
func (m *PixelCNN) Params() []*nn.Param { return m.params }

// Check validates inputs for Forward (which panics on them): callers holding
// user data call it first.
func (m *PixelCNN) Check(codes, classes []int32, n int) error {
	if n < 1 || len(codes) != n*m.info.Positions() {
		return fmt.Errorf("pixelcnn: %d codes for %d grids of %dx%d", len(codes), n, m.info.H, m.info.W)
	}
	if err := nn.CheckIndices(codes, m.info.K); err != nil {
		return fmt.Errorf("pixelcnn: code %v", err)
	}
	if m.info.Classes == 0 {
		if classes != nil {
			return fmt.Errorf("pixelcnn: classes given to an unconditional model")
		}
		return nil
	}
	if len(classes) != n {
		return fmt.Errorf("pixelcnn: %d classes for %d grids", len(classes), n)
	}
	if err := checkClassIndices(classes, m.info.Classes); err != nil {
		return fmt.Errorf("pixelcnn: %v", err)
	}
	return nil
}

// Forward returns the logits [n*H*W, K]; see Prior.
func (m *PixelCNN) Forward(codes, classes []int32, n int) *nn.Tensor {
	if err := m.Check(codes, classes, n); err != nil {
		panic(err.Error())
	}
	H, W, C, E := m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed
	HW := H * W
	m.n, m.classes = n, classes
	e := m.embed.Forward(codes)
	m.shape4 = [4]int{E, n, H, W}
	m.x = nn.Ensure(m.x, m.shape4[:]...)
	m.jobs.transpose(m.x.Data, e.Data, n*HW, E)
	m.shape4[0] = C
	sz := C * n * HW
	// Each layer's h_out output is [h'; skip'] (C channels each): after
	// layer 0 it is h' and the first skip term as they are, and every later
	// layer adds the previous one, [h; skip], in its GEMM's epilogue, which
	// is the residual and the skip sum without passes of their own.
	vIn, hIn := m.x, m.x
	var o *nn.Tensor
	last := len(m.layers) - 1
	for l, L := range m.layers {
		var cond []float32
		if L.cond != nil {
			cond = L.cond.Data.Data
		}
		vp := L.vconv.Forward(vIn)
		hc := L.hconv.Forward(hIn)
		// hp = hconv(h) + v_to_h(shift(vp)), the sum formed in v_to_h's
		// epilogue.
		hp := L.v2h.ForwardAdd(L.shift.Forward(vp), hc)
		g := L.hgate.forward(hp, cond, classes)
		if l == 0 {
			o = L.hout.Forward(g)
		} else {
			o = L.hout.ForwardAdd(g, o)
		}
		L.shape = [4]int{C, n, H, W}
		L.h = nn.Tensor{Shape: L.shape[:], Data: o.Data[:sz]}
		if l < last {
			vIn = L.vgate.forward(vp, cond, classes)
		}
		hIn = &L.h
	}
	m.skipShp = [4]int{C, n, H, W}
	m.skip = nn.Tensor{Shape: m.skipShp[:], Data: o.Data[sz : 2*sz]}
	m.logits = m.head2.Forward(m.head1.Forward(m.relu1.Forward(&m.skip)))
	return m.logits
}

// Backward accumulates the parameter gradients for dlogits [n*H*W, K].
func (m *PixelCNN) Backward(dlogits *nn.Tensor) {
	if m.logits == nil || !dlogits.SameShape(m.logits) {
		panic(fmt.Sprintf("pixelcnn: Backward got %v, want the last Forward's %v", dlogits.Shape, m.logits))
	}
	n, H, W, C, E := m.n, m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed
	HW := H * W
	dskip := m.relu1.Backward(m.head1.Backward(m.head2.Backward(dlogits)))
	// The gradient of every layer's h_out output [h'; skip'] in one
	// buffer: its second half is dskip for every layer, its first half
	// the gradient of h' (zero for the last layer), which each layer's
	// h_conv term then turns into the one of its own input h.
	sz := C * n * HW
	m.shape4 = [4]int{2 * C, n, H, W}
	m.dout = nn.Ensure(m.dout, m.shape4[:]...)
	m.jobs.douts(m.dout.Data, nil, dskip.Data)
	dh := m.dout.Data[:sz]
	var dhOut, dvOut *nn.Tensor
	last := len(m.layers) - 1
	for l := last; l >= 0; l-- {
		L := m.layers[l]
		var condG []float32
		if L.cond != nil {
			condG = L.cond.Grad.Data
		}
		dhp := L.hgate.backward(L.hout.Backward(m.dout), condG, m.classes)
		dhc := L.hconv.Backward(dhp)
		dlk := L.v2h.Backward(dhp)
		var dvp *nn.Tensor
		if dvOut != nil {
			// The vertical stack's own gate's gradient plus the one
			// through v_to_h, shifted back up.
			dvp = L.vgate.backward(dvOut, condG, m.classes)
			L.shift.BackwardAdd(dlk, dvp)
		} else {
			dvp = L.shift.Backward(dlk)
		}
		dvOut = L.vconv.Backward(dvp)
		switch {
		case l == 0: // h_1 = r: no residual to the embedding
			dhOut = dhc
		case l == last:
			m.jobs.copy(dh, dhc.Data)
		default: // the residual's term plus h_conv's
			m.jobs.add(dh, dhc.Data)
		}
	}
	m.jobs.add(dhOut.Data, dvOut.Data)
	m.shape2 = [2]int{n * HW, E}
	m.demb = nn.Ensure(m.demb, m.shape2[:]...)
	m.jobs.transpose(m.demb.Data, dhOut.Data, E, n*HW)
	m.embed.Backward(m.demb)
}

// gate is the gated unit out = tanh(a) * sigmoid(b) on pre-activations
// [2C, n, H, W] (a: the first C channels, b: the rest) plus a per-image
// class row of 2C values.
type gate struct {
	c       int
	p1      *nn.Tensor
	cond    []float32
	classes []int32
	out     *nn.Tensor // [C, n, H, W]
	t, s    []float32  // tanh(a), sigmoid(b)
	dout    *nn.Tensor
	dpre    *nn.Tensor
	shape   [4]int
	fwd     func(w, lo, hi int)
	bwd     func(w, lo, hi int)
	cgrad   func(w, lo, hi int)
	// backward's class-embedding gradient, during the call
	condGrad []float32
	sums     []float32   // [2C, n]: each image's sum of a channel's gradient
	shifts   [][]float32 // per worker: a channel's class shifts for a and b, an image's each
}

func (g *gate) init(c int) {
	g.c = c
	g.fwd, g.bwd, g.cgrad = g.forwardChannels, g.backwardChannels, g.condGradChannels
}

func (g *gate) forward(p1 *nn.Tensor, cond []float32, classes []int32) *nn.Tensor {
	g.p1, g.cond, g.classes = p1, cond, classes
	g.shape = [4]int{g.c, p1.Shape[1], p1.Shape[2], p1.Shape[3]}
	g.out = nn.Ensure(g.out, g.shape[:]...)
	g.t = nn.Scratch(g.t, g.out.Len())
	g.s = nn.Scratch(g.s, g.out.Len())
	if cond != nil {
		for len(g.shifts) < nn.Workers() {
			g.shifts = append(g.shifts, nil)
		}
		for w := range g.shifts {
			g.shifts[w] = nn.Scratch(g.shifts[w], 2*g.shape[1])
		}
	}
	nn.ParallelFor(g.c, g.fwd)
	return g.out
}

// forwardChannels gates channels [lo, hi) of every image, a channel at a
// time (each image's class shifts applied to its positions).
func (g *gate) forwardChannels(worker, lo, hi int) {
	C, n, hw := g.c, g.shape[1], g.shape[2]*g.shape[3]
	sz := n * hw
	for ch := lo; ch < hi; ch++ {
		a, b := g.p1.Data[ch*sz:(ch+1)*sz], g.p1.Data[(C+ch)*sz:(C+ch+1)*sz]
		out, t, s := g.out.Data[ch*sz:(ch+1)*sz], g.t[ch*sz:(ch+1)*sz], g.s[ch*sz:(ch+1)*sz]
		if g.cond == nil {
			kernels.TanhSigmoidGate(out, t, s, a, b, 0, 0)
			continue
		}
		ca, cb := g.shifts[worker][:n], g.shifts[worker][n:2*n]
		for i, y := range g.classes[:n] {
			row := g.cond[int(y)*2*C:]
			ca[i], cb[i] = row[ch], row[C+ch]
		}
		kernels.TanhSigmoidGateSeg(out, t, s, a, b, ca, cb, hw)
	}
}

// backward returns dL/dpre for dout and adds the class-embedding gradient
// into condGrad (nil: unconditional), summing images in order.
func (g *gate) backward(dout *nn.Tensor, condGrad []float32, classes []int32) *nn.Tensor {
	g.dout = dout
	g.dpre = nn.Ensure(g.dpre, g.p1.Shape...)
	nn.ParallelFor(g.c, g.bwd)
	if condGrad != nil {
		g.condGrad, g.classes = condGrad, classes
		g.sums = nn.Scratch(g.sums, 2*g.c*g.shape[1])
		nn.ParallelFor(2*g.c, g.cgrad)
		g.condGrad = nil
	}
	return g.dpre
}

// condGradChannels adds channels [lo, hi) of the class-embedding gradient:
// each image's sum over the positions, images in order, as one loop over
// images and channels would (a channel's sums go to its own entries).
func (g *gate) condGradChannels(_, lo, hi int) {
	C, n, hw := g.c, g.shape[1], g.shape[2]*g.shape[3]
	for ch := lo; ch < hi; ch++ {
		sums := g.sums[ch*n : (ch+1)*n]
		nn.RowSums(sums, g.dpre.Data[ch*n*hw:(ch+1)*n*hw], hw)
		for i, v := range sums {
			g.condGrad[int(g.classes[i])*2*C+ch] += v
		}
	}
}

func (g *gate) backwardChannels(_, lo, hi int) {
	C, n, hw := g.c, g.shape[1], g.shape[2]*g.shape[3]
	sz := n * hw
	for ch := lo; ch < hi; ch++ {
		dy, t, s := g.dout.Data[ch*sz:(ch+1)*sz], g.t[ch*sz:(ch+1)*sz], g.s[ch*sz:(ch+1)*sz]
		da, db := g.dpre.Data[ch*sz:(ch+1)*sz], g.dpre.Data[(C+ch)*sz:(C+ch+1)*sz]
		kernels.TanhSigmoidGateGrad(da, db, dy, t, s)
	}
}
