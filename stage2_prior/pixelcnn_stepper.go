package prior

import (
	"fmt"
	"sync"

	"github.com/vqgen/vqgen/nn"
)

// stepChunkGrids is how many grids one goroutine steps together. Fixed, so
// the GEMM shapes (and the rounding) never depend on GOMAXPROCS.
const stepChunkGrids = 16

// pcStepper samples incrementally (see the top of pixelcnn.go). Activations
// are stored position-major with the grids innermost, [pos][channel][grid],
// so that the kernel window of a convolution along a row is one contiguous
// [taps*channels, grids] matrix: every step is a few plain GEMMs.
type pcStepper struct {
	m       *PixelCNN
	maxN, n int
	classes []int32
	chunks  []*stepChunk

	// Weights repacked at Reset, masked taps dropped.
	wv   [][]float32 // per layer: [k/2+1][2C][k*Cin], index u, o, v*Cin+ci
	wh   [][]float32 // per layer: [2C][taps*Cin]
	taps []int       // horizontal taps per layer

	codes []int32
	pos   int
	out   *nn.Tensor // [n, K]
	shape [2]int
	wg    sync.WaitGroup
}

type stepChunk struct {
	g0, nc int
	emb    []float32   // [HW][E][nc]
	vg     [][]float32 // per layer but the last: gated vertical [HW][C][nc]
	link   [][]float32 // per layer: VtoH(ShiftDown(vp)) of the current row, [W][2C][nc]
	h      [][]float32 // per layer: horizontal outputs of the current row, [W][C][nc]
	vp     []float32   // [2C][nc]
	pre    []float32   // [2C][nc]
	g      []float32   // [C][nc]
	o      []float32   // [2C][nc]
	skip   []float32   // [C][nc]
	h1     []float32   // [HeadHidden][nc]
	lg     []float32   // [K][nc]
}

// NewStepper returns an incremental sampler for up to n grids.
func (m *PixelCNN) NewStepper(n int) Stepper {
	if n < 1 {
		panic(fmt.Sprintf("pixelcnn: NewStepper(%d): need at least one grid", n))
	}
	H, W, C, E, K := m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed, m.info.K
	HW := H * W
	s := &pcStepper{m: m, maxN: n}
	for g0 := 0; g0 < n; g0 += stepChunkGrids {
		nc := min(stepChunkGrids, n-g0)
		ch := &stepChunk{g0: g0, nc: nc,
			emb: make([]float32, HW*E*nc), vp: make([]float32, 2*C*nc), pre: make([]float32, 2*C*nc),
			g: make([]float32, C*nc), o: make([]float32, 2*C*nc), skip: make([]float32, C*nc),
			h1: make([]float32, m.cfg.HeadHidden*nc), lg: make([]float32, K*nc)}
		for l := range m.layers {
			if l < len(m.layers)-1 {
				ch.vg = append(ch.vg, make([]float32, HW*C*nc))
			}
			ch.link = append(ch.link, make([]float32, W*2*C*nc))
			ch.h = append(ch.h, make([]float32, W*C*nc))
		}
		s.chunks = append(s.chunks, ch)
	}
	s.wv = make([][]float32, len(m.layers))
	s.wh = make([][]float32, len(m.layers))
	s.taps = make([]int, len(m.layers))
	s.out = nn.NewTensor(n, K)
	return s
}

// Reset starts n grids with the given classes and repacks the weights, so
// a stepper made before training sees the trained model.
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
	k, C := m.cfg.Kernel, m.cfg.Channels
	for l, L := range m.layers {
		cin := L.vconv.InC
		w := L.vconv.Weight.Data.Data // [2C, cin, k, k]
		s.wv[l] = nn.Scratch(s.wv[l], (k/2+1)*2*C*k*cin)
		for u := 0; u <= k/2; u++ {
			for o := range 2 * C {
				for v := range k {
					for ci := range cin {
						s.wv[l][((u*2*C)+o)*k*cin+v*cin+ci] = w[((o*cin+ci)*k+u)*k+v]
					}
				}
			}
		}
		taps := k/2 + 1
		if l == 0 {
			taps = k / 2
		}
		s.taps[l] = taps
		w = L.hconv.Weight.Data.Data // [2C, cin, 1, k]
		s.wh[l] = nn.Scratch(s.wh[l], 2*C*taps*cin)
		for o := range 2 * C {
			for t := range taps {
				for ci := range cin {
					s.wh[l][o*taps*cin+t*cin+ci] = w[(o*cin+ci)*k+t]
				}
			}
		}
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

// fillRows sets each of the rows of dst [rows][nc] to its bias.
func fillRows(dst, bias []float32, nc int) {
	for o, b := range bias {
		row := dst[o*nc : (o+1)*nc]
		for j := range row {
			row[j] = b
		}
	}
}

// gateStep is the gated unit on pre [2C][nc] into out [C][nc], adding the
// class rows of the chunk's grids.
func (s *pcStepper) gateStep(ch *stepChunk, pre, out, cond []float32, C int) {
	nc := ch.nc
	for c := range C {
		a, b, o := pre[c*nc:(c+1)*nc], pre[(C+c)*nc:(C+c+1)*nc], out[c*nc:(c+1)*nc]
		for j := range nc {
			var ca, cb float32
			if cond != nil {
				row := cond[int(s.classes[ch.g0+j])*2*C:]
				ca, cb = row[c], row[C+c]
			}
			o[j] = tanh32(a[j]+ca) * sigmoid32(b[j]+cb)
		}
	}
}

func (s *pcStepper) step(ch *stepChunk) {
	m := s.m
	H, W, C, E, K, k := m.info.H, m.info.W, m.cfg.Channels, m.cfg.Embed, m.info.K, m.cfg.Kernel
	HW, nc, pos := H*W, ch.nc, s.pos
	r, c := pos/W, pos%W
	hk := k / 2
	last := len(m.layers) - 1
	if pos == 0 {
		clear(ch.emb)
	} else {
		// The code before pos is final now: embed it.
		e := ch.emb[(pos-1)*E*nc : pos*E*nc]
		wt := m.embed.Weight.Data.Data
		for j := range nc {
			code := int(s.codes[(ch.g0+j)*HW+pos-1])
			for d, v := range wt[code*E : (code+1)*E] {
				e[d*nc+j] = v
			}
		}
	}
	if c == 0 {
		// Row r-1 is complete: run the vertical stack over it once, and
		// turn it into the links that row r's horizontal stack reads.
		for l, L := range m.layers {
			var cond []float32
			if L.cond != nil {
				cond = L.cond.Data.Data
			}
			link := ch.link[l]
			for j := range W {
				fillRows(link[j*2*C*nc:(j+1)*2*C*nc], L.v2h.Bias.Data.Data, nc)
			}
			if r == 0 {
				continue // ShiftDown feeds zeros into the first row
			}
			rr := r - 1
			vIn, cin := ch.emb, E
			if l > 0 {
				vIn, cin = ch.vg[l-1], C
			}
			for j := range W {
				fillRows(ch.vp, L.vconv.Bias.Data.Data, nc)
				v0, v1 := max(0, hk-j), min(k, W-j+hk)
				for u := 0; u <= hk; u++ {
					row := rr - hk + u
					if row < 0 {
						continue
					}
					a := s.wv[l][u*2*C*k*cin+v0*cin:]
					b := vIn[(row*W+j-hk+v0)*cin*nc:]
					nn.Sgemm(false, false, 2*C, nc, (v1-v0)*cin, 1, a, k*cin, b, nc, 1, ch.vp, nc)
				}
				if l < last {
					s.gateStep(ch, ch.vp, ch.vg[l][(rr*W+j)*C*nc:(rr*W+j+1)*C*nc], cond, C)
				}
				nn.Sgemm(false, false, 2*C, nc, 2*C, 1, L.v2h.Weight.Data.Data, 2*C, ch.vp, nc, 1,
					link[j*2*C*nc:(j+1)*2*C*nc], nc)
			}
		}
	}
	clear(ch.skip)
	for l, L := range m.layers {
		var cond []float32
		if L.cond != nil {
			cond = L.cond.Data.Data
		}
		hIn, cin := ch.emb[r*W*E*nc:(r+1)*W*E*nc], E
		if l > 0 {
			hIn, cin = ch.h[l-1], C
		}
		copy(ch.pre, ch.link[l][c*2*C*nc:(c+1)*2*C*nc])
		hb := L.hconv.Bias.Data.Data
		for o := range 2 * C {
			row := ch.pre[o*nc : (o+1)*nc]
			for j := range row {
				row[j] += hb[o]
			}
		}
		taps := s.taps[l]
		if t0 := max(0, hk-c); t0 < taps {
			nn.Sgemm(false, false, 2*C, nc, (taps-t0)*cin, 1, s.wh[l][t0*cin:], taps*cin,
				hIn[(c-hk+t0)*cin*nc:], nc, 1, ch.pre, nc)
		}
		s.gateStep(ch, ch.pre, ch.g, cond, C)
		fillRows(ch.o, L.hout.Bias.Data.Data, nc)
		nn.Sgemm(false, false, 2*C, nc, C, 1, L.hout.Weight.Data.Data, C, ch.g, nc, 1, ch.o, nc)
		h := ch.h[l][c*C*nc : (c+1)*C*nc]
		copy(h, ch.o[:C*nc])
		if l > 0 {
			addTo(h, ch.h[l-1][c*C*nc:(c+1)*C*nc])
		}
		addTo(ch.skip, ch.o[C*nc:])
	}
	for i, v := range ch.skip {
		ch.skip[i] = max(v, 0)
	}
	HH := m.cfg.HeadHidden
	fillRows(ch.h1, m.head1.Bias.Data.Data, nc)
	nn.Sgemm(false, false, HH, nc, C, 1, m.head1.Weight.Data.Data, C, ch.skip, nc, 1, ch.h1, nc)
	for i, v := range ch.h1 {
		ch.h1[i] = max(v, 0)
	}
	fillRows(ch.lg, m.head2.Bias.Data.Data, nc)
	nn.Sgemm(false, false, K, nc, HH, 1, m.head2.Weight.Data.Data, HH, ch.h1, nc, 1, ch.lg, nc)
	out := s.out.Data[ch.g0*K : (ch.g0+nc)*K]
	for kk := range K {
		for j, v := range ch.lg[kk*nc : (kk+1)*nc] {
			out[j*K+kk] = v
		}
	}
}
