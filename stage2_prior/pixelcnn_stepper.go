package prior

import (
	"fmt"
	"sync"

	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// stepChunkGrids is how many grids one goroutine steps together. Fixed, so
// the GEMM shapes (and the rounding) never depend on GOMAXPROCS.
const stepChunkGrids = 16

// pcStepper samples incrementally (see the top of pixelcnn.go) through the
// model's own layers: each convolution computes the positions a step needs
// with Conv2d.InferPatches (its weight, live taps, bias and arithmetic),
// and the gates run the training pass's kernel. The stepper only keeps the
// rows it has computed and assembles the patches. Rows of activations are
// stored channel-major with the positions and then the grids innermost,
// [channel][col*nc + grid], so a row's patches are shifted copies of its
// channels and one GEMM serves a whole row (the vertical stack) or one
// position (the horizontal stack) of all grids of a chunk.
type pcStepper struct {
	m       *PixelCNN
	maxN, n int
	classes []int32
	chunks  []*stepChunk
	convs   []*nn.Conv2d // every convolution it runs

	codes []int32
	pos   int
	out   *nn.Tensor // [n, K]
	shape [2]int
	wg    sync.WaitGroup
}

type stepChunk struct {
	g0, nc  int
	emb     []float32   // [H][E][W*nc]
	vg      [][]float32 // per layer but the last: gated vertical outputs [H][C][W*nc]
	link    [][]float32 // per layer: VtoH(ShiftDown(vp)) of the current row, [2C][W*nc]
	h       [][]float32 // per layer: horizontal outputs of the current row, [C][W*nc]
	patches []float32   // the patch columns of a row or a position
	vp      []float32   // [2C][W*nc]
	pre     []float32   // [2C][W*nc]
	t, s    []float32   // the gate's tanh and sigmoid, [C][W*nc]
	g       []float32   // [C][nc]
	o       []float32   // [2C][nc]
	skip    []float32   // [C][nc]
	h1      []float32   // [HeadHidden][nc]
	lg      []float32   // [K][nc]
}

// NewStepper returns an incremental sampler for up to n grids.
func (m *PixelCNN) NewStepper(n int) Stepper {
	if n < 1 {
		panic(fmt.Sprintf("pixelcnn: NewStepper(%d): need at least one grid", n))
	}
	H, W, C, E, K := m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed, m.info.K
	s := &pcStepper{m: m, maxN: n}
	maxPatch := 0
	for _, L := range m.layers {
		maxPatch = max(maxPatch, L.vconv.PatchRows(), L.hconv.PatchRows())
	}
	for g0 := 0; g0 < n; g0 += stepChunkGrids {
		nc := min(stepChunkGrids, n-g0)
		wn := W * nc
		ch := &stepChunk{g0: g0, nc: nc,
			emb: make([]float32, H*E*wn), patches: make([]float32, maxPatch*wn),
			vp: make([]float32, 2*C*wn), pre: make([]float32, 2*C*wn),
			t: make([]float32, C*wn), s: make([]float32, C*wn),
			g: make([]float32, C*nc), o: make([]float32, 2*C*nc), skip: make([]float32, C*nc),
			h1: make([]float32, m.cfg.HeadHidden*nc), lg: make([]float32, K*nc)}
		for l := range m.layers {
			if l < len(m.layers)-1 {
				ch.vg = append(ch.vg, make([]float32, H*C*wn))
			}
			ch.link = append(ch.link, make([]float32, 2*C*wn))
			ch.h = append(ch.h, make([]float32, C*wn))
		}
		s.chunks = append(s.chunks, ch)
	}
	s.out = nn.NewTensor(n, K)
	s.convs = []*nn.Conv2d{m.head1, m.head2}
	for _, L := range m.layers {
		s.convs = append(s.convs, L.vconv, L.hconv, L.v2h, L.hout)
	}
	return s
}

// Reset starts n grids with the given classes and takes the layers'
// current weights, so a stepper made before training sees the trained
// model.
func (s *pcStepper) Reset(n int, classes []int32) {
	m := s.m
	if n < 1 || n > s.maxN {
		panic(fmt.Sprintf("pixelcnn: stepper Reset(%d) for a stepper of %d grids", n, s.maxN))
	}
	if (m.info.Classes > 0) != (classes != nil) || classes != nil && len(classes) < n {
		panic(fmt.Sprintf("pixelcnn: stepper Reset: %d classes for %d grids (model classes %d)", len(classes), n, m.info.Classes))
	}
	if err := checkClassIndices(classes[:min(n, len(classes))], m.info.Classes); err != nil {
		panic(fmt.Sprintf("pixelcnn: stepper Reset: %v", err))
	}
	s.n, s.classes = n, classes
	// The buffers were sized for maxN; a smaller n narrows the chunks
	// (strides follow nc, and every buffer is rewritten before it is read).
	for _, ch := range s.chunks {
		ch.nc = max(0, min(stepChunkGrids, n-ch.g0))
	}
	for _, c := range s.convs {
		c.PrepareInfer()
	}
	s.shape = [2]int{n, m.info.K}
	s.out = nn.Ensure(s.out, s.shape[:]...)
}

// Next returns the logits [n, K] of position pos; see Stepper.
func (s *pcStepper) Next(codes []int32, pos int) *nn.Tensor {
	HW := s.m.info.Positions()
	if pos < 0 || pos >= HW || len(codes) < s.n*HW {
		panic(fmt.Sprintf("pixelcnn: stepper Next(pos %d) with %d codes for %d grids of %d", pos, len(codes), s.n, HW))
	}
	if pos > 0 {
		for g := range s.n {
			if c := codes[g*HW+pos-1]; c < 0 || int(c) >= s.m.info.K {
				panic(fmt.Sprintf("pixelcnn: stepper: code %d of grid %d at position %d outside [0, %d)", c, g, pos-1, s.m.info.K))
			}
		}
	}
	s.codes, s.pos = codes, pos
	nch := (s.n + stepChunkGrids - 1) / stepChunkGrids
	s.runChunks(nch)
	return s.out
}

// gateCols is the gated unit over n columns of pre [2C][ld] (a: the first
// C rows, b: the rest) into out [C][ld], each column's grid's class row
// added first (column j belongs to grid j%nc of the chunk): the training
// gate's kernel, with the class added before it rather than inside it,
// which rounds the same.
func (s *pcStepper) gateCols(ch *stepChunk, out, pre []float32, ld, n int, cond []float32) {
	C := s.m.cfg.Channels
	if cond != nil {
		for j := range n {
			row := cond[int(s.classes[ch.g0+j%ch.nc])*2*C:]
			for c := range 2 * C {
				pre[c*ld+j] += row[c]
			}
		}
	}
	for c := range C {
		kernels.TanhSigmoidGate(out[c*ld:c*ld+n], ch.t[c*ld:c*ld+n], ch.s[c*ld:c*ld+n], pre[c*ld:c*ld+n], pre[(C+c)*ld:(C+c)*ld+n], 0, 0)
	}
}

// rowPatches writes the patch columns of the n = W*nc positions of output
// row r for conv c reading rows [H][cin][W*nc] of src: row k of the patches
// (channel, tap row, tap column) is the tap's input row shifted by its
// column offset, zeros where the tap falls outside the grid.
func rowPatches(dst []float32, c *nn.Conv2d, src []float32, r, H, W, nc, cin int) {
	t := c.PatchTaps()
	wn := W * nc
	k := 0
	for ci := range cin {
		for u := t.U0; u < t.U1; u++ {
			row := r - c.PadH + u
			for v := t.V0; v < t.V1; v++ {
				d := dst[k*wn : (k+1)*wn]
				k++
				if row < 0 || row >= H {
					clear(d)
					continue
				}
				in := src[(row*cin+ci)*wn : (row*cin+ci+1)*wn]
				shift := (v - c.PadW) * nc // column j reads j + (v - PadW)
				switch {
				case shift >= 0:
					copy(d, in[shift:])
					clear(d[wn-shift:])
				default:
					clear(d[:-shift])
					copy(d[-shift:], in)
				}
			}
		}
	}
}

// cellPatches writes the patch column of position col of a row for conv c
// (one tap row) reading the row [cin][W*nc] in, as [rows][nc].
func cellPatches(dst []float32, c *nn.Conv2d, in []float32, col, W, nc, cin int) {
	t := c.PatchTaps()
	wn := W * nc
	k := 0
	for ci := range cin {
		for v := t.V0; v < t.V1; v++ {
			d := dst[k*nc : (k+1)*nc]
			k++
			x := col - c.PadW + v
			if x < 0 || x >= W {
				clear(d)
				continue
			}
			copy(d, in[ci*wn+x*nc:][:nc])
		}
	}
}

func (s *pcStepper) step(ch *stepChunk) {
	m := s.m
	H, W, C, E, K := m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed, m.info.K
	HW, nc, pos := H*W, ch.nc, s.pos
	wn := W * nc
	r, c := pos/W, pos%W
	if pos == 0 {
		clear(ch.emb[:H*E*wn])
	} else {
		// The code before pos is final now: embed it.
		rr, cc := (pos-1)/W, (pos-1)%W
		wt := m.embed.Weight.Data.Data
		for j := range nc {
			code := int(s.codes[(ch.g0+j)*HW+pos-1])
			for d, v := range wt[code*E : (code+1)*E] {
				ch.emb[(rr*E+d)*wn+cc*nc+j] = v
			}
		}
	}
	if c == 0 {
		s.verticalRow(ch, r)
	}
	clear(ch.skip[:C*nc])
	for l, L := range m.layers {
		var cond []float32
		if L.cond != nil {
			cond = L.cond.Data.Data
		}
		hIn, cin := ch.emb[r*E*wn:(r+1)*E*wn], E
		if l > 0 {
			hIn, cin = ch.h[l-1], C
		}
		cellPatches(ch.patches, L.hconv, hIn, c, W, nc, cin)
		pre := ch.pre[:2*C*nc]
		L.hconv.InferPatches(pre, nc, ch.patches, nc, nc)
		for o := range 2 * C {
			dst := pre[o*nc : (o+1)*nc]
			nn.AddInto(dst, dst, ch.link[l][o*wn+c*nc:][:nc])
		}
		s.gateCols(ch, ch.g[:C*nc], pre, nc, nc, cond)
		L.hout.InferPatches(ch.o[:2*C*nc], nc, ch.g, nc, nc)
		for o := range C {
			h := ch.h[l][o*wn+c*nc:][:nc]
			copy(h, ch.o[o*nc:(o+1)*nc])
			if l > 0 {
				nn.AddInto(h, h, ch.h[l-1][o*wn+c*nc:][:nc])
			}
		}
		nn.AddInto(ch.skip[:C*nc], ch.skip, ch.o[C*nc:2*C*nc])
	}
	kernels.Relu(ch.skip[:C*nc], ch.skip[:C*nc])
	HH := m.cfg.HeadHidden
	m.head1.InferPatches(ch.h1[:HH*nc], nc, ch.skip, nc, nc) // with head1's fused ReLU
	m.head2.InferPatches(ch.lg[:K*nc], nc, ch.h1, nc, nc)
	out := s.out.Data[ch.g0*K : (ch.g0+nc)*K]
	for kk := range K {
		for j, v := range ch.lg[kk*nc : (kk+1)*nc] {
			out[j*K+kk] = v
		}
	}
}

// verticalRow runs the vertical stack over row r-1, complete now, once for
// all its positions, and turns it into the links row r's horizontal stack
// reads (ShiftDown: row r reads row r-1's vertical features; the first
// row reads zeros, so its links are VtoH's bias).
func (s *pcStepper) verticalRow(ch *stepChunk, r int) {
	m := s.m
	H, W, C, E := m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed
	nc := ch.nc
	wn := W * nc
	last := len(m.layers) - 1
	for l, L := range m.layers {
		link := ch.link[l][:2*C*wn]
		if r == 0 {
			for o, b := range L.v2h.Bias.Data.Data {
				for j := range link[o*wn : (o+1)*wn] {
					link[o*wn+j] = b
				}
			}
			continue
		}
		var cond []float32
		if L.cond != nil {
			cond = L.cond.Data.Data
		}
		vIn, cin := ch.emb, E
		if l > 0 {
			vIn, cin = ch.vg[l-1], C
		}
		rowPatches(ch.patches, L.vconv, vIn, r-1, H, W, nc, cin)
		vp := ch.vp[:2*C*wn]
		L.vconv.InferPatches(vp, wn, ch.patches, wn, wn)
		L.v2h.InferPatches(link, wn, vp, wn, wn)
		if l < last {
			pre := ch.pre[:2*C*wn]
			copy(pre, vp)
			s.gateCols(ch, ch.vg[l][(r-1)*C*wn:r*C*wn], pre, wn, wn, cond)
		}
	}
}
