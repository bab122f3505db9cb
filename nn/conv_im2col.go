package nn

import "github.com/vqgen/vqgen/kernels"

// convGeom is one image's sliding-window geometry: a C x H x W image read
// through KH x KW windows with stride S and zero padding PH (rows), PW
// (columns), giving OH x OW window positions. The im2col matrix has one row
// per (c, ki, kj) weight tap and one column per window position.
//
// CS and IS are the distances between the images' channel planes and
// between the images of a batch: H*W and C*H*W for NCHW tensors, n*H*W
// and H*W for batch-major ones ([C, n, H, W], see Conv2d.BatchMajor).
type convGeom struct {
	C, H, W, KH, KW, S, PH, PW, OH, OW int
	CS, IS                             int
}

func newConvGeom(c, h, w, kh, kw, s, ph, pw int) convGeom {
	return convGeom{C: c, H: h, W: w, KH: kh, KW: kw, S: s, PH: ph, PW: pw,
		OH: (h+2*ph-kh)/s + 1, OW: (w+2*pw-kw)/s + 1, CS: h * w, IS: c * h * w}
}

// batchMajor sets the strides for a batch of n images stored [C, n, H, W].
func (g *convGeom) batchMajor(n int) { g.CS, g.IS = n*g.H*g.W, g.H*g.W }

// rows is the im2col matrix's height, C*KH*KW.
func (g *convGeom) rows() int { return g.C * g.KH * g.KW }

// cols is the im2col matrix's width, OH*OW.
func (g *convGeom) cols() int { return g.OH * g.OW }

// validRange returns the output positions o in [0, n) whose input index
// o*s - p + k falls inside [0, size); everything outside reads padding. The
// range is contiguous, so the inner loops need no per-element bounds test.
func validRange(n, s, p, k, size int) (lo, hi int) {
	off := k - p
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if last := size - 1 - off; last >= 0 {
		hi = last/s + 1
	}
	hi = min(hi, n)
	lo = min(lo, hi)
	return lo, hi
}

// maxTaps bounds the kernel widths whose column ranges im2col and col2im
// keep in a fixed array; wider kernels recompute them per row.
const maxTaps = 16

// colRanges returns validRange for every kernel column kj < g.KW (up to
// maxTaps of them), the same for every channel and tap row.
func (g *convGeom) colRanges() (r [maxTaps][2]int) {
	for kj := 0; kj < min(g.KW, maxTaps); kj++ {
		r[kj][0], r[kj][1] = validRange(g.OW, g.S, g.PW, kj, g.W)
	}
	return r
}

func (g *convGeom) colRange(r *[maxTaps][2]int, kj int) (lo, hi int) {
	if kj < maxTaps {
		return r[kj][0], r[kj][1]
	}
	return validRange(g.OW, g.S, g.PW, kj, g.W)
}

// im2col writes the g.rows() x g.cols() patch matrix of img (C planes of
// H x W, g.CS apart) into
// col with row stride ld (>= g.cols()), zeros included, one output row at a
// time. A stride above g.cols() lets several images' patch matrices sit side
// by side as one wide matrix, so a single GEMM serves them all.
//
// The rows of small images are short (7 floats on a 7x7 grid), so the
// copies and zero fills are plain loops: a copy or clear call costs more
// than moving a handful of floats.
func im2col(g *convGeom, img, col []float32, ld int) {
	if kernels.HasRows() && im2colRows(g, img, col, ld) {
		return
	}
	P, OW, HW, S := g.cols(), g.OW, g.H*g.W, g.S
	cr := g.colRanges()
	r := 0
	for c := 0; c < g.C; c++ {
		src := img[c*g.CS : c*g.CS+HW]
		for ki := 0; ki < g.KH; ki++ {
			ohLo, ohHi := validRange(g.OH, S, g.PH, ki, g.H)
			for kj := 0; kj < g.KW; kj++ {
				dst := col[r*ld : r*ld+P]
				r++
				owLo, owHi := g.colRange(&cr, kj)
				if owLo == owHi {
					clear(dst)
					continue
				}
				clear(dst[:ohLo*OW])
				clear(dst[ohHi*OW:])
				for oh := ohLo; oh < ohHi; oh++ {
					d := dst[oh*OW : (oh+1)*OW]
					for i := 0; i < owLo; i++ {
						d[i] = 0
					}
					for i := owHi; i < len(d); i++ {
						d[i] = 0
					}
					d = d[owLo:owHi]
					base := (oh*S-g.PH+ki)*g.W + owLo*S - g.PW + kj
					if S == 1 {
						s := src[base : base+len(d)]
						for i, v := range s {
							d[i] = v
						}
						continue
					}
					s := src[base : base+(len(d)-1)*S+1]
					for i := range d {
						d[i] = s[i*S]
					}
				}
			}
		}
	}
}

// col2im is im2col's adjoint: it adds every entry of the patch matrix col
// (row stride ld) back onto the image position it was read from. img must be
// zeroed (or hold values to accumulate onto) by the caller.
func col2im(g *convGeom, col []float32, ld int, img []float32) {
	if kernels.HasRows() && col2imRows(g, col, ld, img) {
		return
	}
	P, OW, HW, S := g.cols(), g.OW, g.H*g.W, g.S
	cr := g.colRanges()
	r := 0
	for c := 0; c < g.C; c++ {
		dstImg := img[c*g.CS : c*g.CS+HW]
		for ki := 0; ki < g.KH; ki++ {
			ohLo, ohHi := validRange(g.OH, S, g.PH, ki, g.H)
			for kj := 0; kj < g.KW; kj++ {
				src := col[r*ld : r*ld+P]
				r++
				owLo, owHi := g.colRange(&cr, kj)
				if owLo == owHi {
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					s := src[oh*OW+owLo : oh*OW+owHi]
					base := (oh*S-g.PH+ki)*g.W + owLo*S - g.PW + kj
					if S == 1 {
						d := dstImg[base : base+len(s)]
						for i, v := range s {
							d[i] += v
						}
						continue
					}
					d := dstImg[base : base+(len(s)-1)*S+1]
					for i, v := range s {
						d[i*S] += v
					}
				}
			}
		}
	}
}

// tapChunk describes one vector's worth of a patch row for the row movers
// (kernels.RowsGather): output columns [ow0, ow0+16/S) of every output row,
// read from image columns ow0*S-PW+kj+l (lane l; a stride-2 window keeps
// the even lanes).
type tapChunk struct {
	ow0  int
	load uint16 // image lanes inside the image
	keep uint16 // lanes holding outputs: all, or the even ones when S is 2
	out  uint16 // the chunk's output lanes
	src  uint16 // for col2im: the output lanes whose image lane is loaded
}

// maxTapChunks bounds the chunks of all kernel columns that the row movers
// precompute; wider geometries take the plain loops.
const maxTapChunks = 64

// tapChunks splits the output row of every kernel column kj < KW into
// chunks of 16/S outputs: chunks [first[kj], first[kj+1]) of cs belong to
// kj. ok is false when the geometry has too many.
func (g *convGeom) tapChunks(cs *[maxTapChunks]tapChunk, first *[maxTaps + 1]int) (ok bool) {
	per := 16 / g.S
	if g.KW > maxTaps || g.KW*((g.OW+per-1)/per) > maxTapChunks {
		return false
	}
	k := 0
	for kj := 0; kj < g.KW; kj++ {
		first[kj] = k
		owLo, owHi := validRange(g.OW, g.S, g.PW, kj, g.W)
		for ow0 := 0; ow0 < g.OW; ow0 += per {
			n := min(per, g.OW-ow0)
			c := tapChunk{ow0: ow0, out: uint16(1<<n - 1)}
			for j := max(owLo-ow0, 0); j < min(owHi-ow0, n); j++ {
				c.load |= 1 << (j * g.S)
				c.src |= 1 << j
			}
			if g.S == 2 {
				c.keep = 0x5555
			}
			cs[k] = c
			k++
		}
	}
	first[g.KW] = k
	return true
}

// im2colRows is im2col through the row movers: each chunk of output
// columns of each tap is one call covering every channel and output row.
// It reports false, doing nothing, for geometries it does not handle.
func im2colRows(g *convGeom, img, col []float32, ld int) bool {
	var cs [maxTapChunks]tapChunk
	var first [maxTaps + 1]int
	if g.S > 2 || !g.tapChunks(&cs, &first) {
		return false
	}
	OW, CS, S, taps := g.OW, g.CS, g.S, g.KH*g.KW
	for ki := 0; ki < g.KH; ki++ {
		ohLo, ohHi := validRange(g.OH, S, g.PH, ki, g.H)
		for kj := 0; kj < g.KW; kj++ {
			owLo, owHi := validRange(OW, S, g.PW, kj, g.W)
			dst := col[(ki*g.KW+kj)*ld:]
			if owLo == owHi || ohLo == ohHi {
				// The window never meets the image: zero rows only.
				for _, ch := range cs[first[kj]:first[kj+1]] {
					kernels.RowsGather(dst[ch.ow0:], OW, taps*ld, nil, 0, 0, 0, 0, g.C, g.OH, 0, 0, 0, 0, ch.out)
				}
				continue
			}
			// Image index of output (ohLo, 0) at lane 0, and the first
			// valid one, which the calls are anchored on.
			row0 := (ohLo*S-g.PH+ki)*g.W - g.PW + kj
			at := row0 + owLo*S
			for _, ch := range cs[first[kj]:first[kj+1]] {
				kernels.RowsGather(dst[ch.ow0:], OW, taps*ld, img, at, row0+ch.ow0*S-at, S*g.W, CS,
					g.C, ohLo, ohHi-ohLo, g.OH-ohHi, ch.load, ch.keep, ch.out)
			}
		}
	}
	return true
}

// col2imRows is col2im through the row movers, reporting false for
// geometries it does not handle.
func col2imRows(g *convGeom, col []float32, ld int, img []float32) bool {
	var cs [maxTapChunks]tapChunk
	var first [maxTaps + 1]int
	if g.S > 2 || !g.tapChunks(&cs, &first) {
		return false
	}
	OW, CS, S, taps := g.OW, g.CS, g.S, g.KH*g.KW
	for ki := 0; ki < g.KH; ki++ {
		ohLo, ohHi := validRange(g.OH, S, g.PH, ki, g.H)
		if ohLo == ohHi {
			continue
		}
		for kj := 0; kj < g.KW; kj++ {
			owLo, owHi := validRange(OW, S, g.PW, kj, g.W)
			if owLo == owHi {
				continue
			}
			row0 := (ohLo*S-g.PH+ki)*g.W - g.PW + kj
			at := row0 + owLo*S
			src := col[(ki*g.KW+kj)*ld+ohLo*OW:]
			for _, ch := range cs[first[kj]:first[kj+1]] {
				if ch.load != 0 {
					kernels.RowsScatterAdd(img, at, row0+ch.ow0*S-at, S*g.W, CS, src[ch.ow0:], OW, taps*ld,
						g.C, ohHi-ohLo, ch.src, ch.keep, ch.load)
				}
			}
		}
	}
	return true
}

// gatherImages lays out the images of src (each c rows of p floats, stored
// one image after another) side by side: dst[ci*ld + i*p + j] =
// src[i*c*p + ci*p + j] for the len(src)/(c*p) images i. It turns a batch
// slice of NCHW into the [c, images*p] matrix a batched GEMM reads.
func gatherImages(src []float32, c, p int, dst []float32, ld int) {
	n := len(src) / (c * p)
	for ci := 0; ci < c; ci++ {
		kernels.BiasRows(dst[ci*ld:], p, src[ci*p:], c*p, n, p, 0, false, false, nil)
	}
}

// gatherImagesWhere is gatherImages of src with zeros where out <= 0:
// the gradient through a ReLU whose output was out, gathered.
func gatherImagesWhere(src, out []float32, c, p int, dst []float32, ld int) {
	n := len(src) / (c * p)
	for i := 0; i < n; i++ {
		img, o := src[i*c*p:(i+1)*c*p], out[i*c*p:(i+1)*c*p]
		for ci := 0; ci < c; ci++ {
			kernels.ReluBackward(dst[ci*ld+i*p:ci*ld+i*p+p], o[ci*p:(ci+1)*p], img[ci*p:(ci+1)*p])
		}
	}
}

// scatterImages is gatherImages' inverse, adding bias[ci] (when bias is not
// nil) to every value of row ci on the way, with relu rectifying, and then
// adding skip (when not nil, laid out like dst).
func scatterImages(src []float32, ld int, c, p int, dst []float32, bias []float32, relu bool, skip []float32) {
	n := len(dst) / (c * p)
	for ci := 0; ci < c; ci++ {
		var b float32
		if bias != nil {
			b = bias[ci]
		}
		var s []float32
		if skip != nil {
			s = skip[ci*p:]
		}
		kernels.BiasRows(dst[ci*p:], c*p, src[ci*ld:], p, n, p, b, bias != nil, relu, s)
	}
}
