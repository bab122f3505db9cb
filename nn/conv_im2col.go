package nn

// convGeom is one image's sliding-window geometry: a C x H x W image read
// through KH x KW windows with stride S and zero padding PH (rows), PW
// (columns), giving OH x OW window positions. The im2col matrix has one row
// per (c, ki, kj) weight tap and one column per window position.
type convGeom struct {
	C, H, W, KH, KW, S, PH, PW, OH, OW int
}

func newConvGeom(c, h, w, kh, kw, s, ph, pw int) convGeom {
	return convGeom{C: c, H: h, W: w, KH: kh, KW: kw, S: s, PH: ph, PW: pw,
		OH: (h+2*ph-kh)/s + 1, OW: (w+2*pw-kw)/s + 1}
}

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

// im2col writes the g.rows() x g.cols() patch matrix of img (C x H x W) into
// col with row stride ld (>= g.cols()), zeros included, one output row at a
// time. A stride above g.cols() lets several images' patch matrices sit side
// by side as one wide matrix, so a single GEMM serves them all.
func im2col(g *convGeom, img, col []float32, ld int) {
	P, OW, HW := g.cols(), g.OW, g.H*g.W
	r := 0
	for c := 0; c < g.C; c++ {
		src := img[c*HW : (c+1)*HW]
		for ki := 0; ki < g.KH; ki++ {
			ohLo, ohHi := validRange(g.OH, g.S, g.PH, ki, g.H)
			for kj := 0; kj < g.KW; kj++ {
				dst := col[r*ld : r*ld+P]
				r++
				owLo, owHi := validRange(OW, g.S, g.PW, kj, g.W)
				clear(dst[:ohLo*OW])
				clear(dst[ohHi*OW:])
				if owLo == owHi {
					clear(dst[ohLo*OW : ohHi*OW])
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					d := dst[oh*OW : (oh+1)*OW]
					clear(d[:owLo])
					clear(d[owHi:])
					s := src[(oh*g.S-g.PH+ki)*g.W+owLo*g.S-g.PW+kj:]
					if g.S == 1 {
						copy(d[owLo:owHi], s)
						continue
					}
					d = d[owLo:owHi]
					s = s[:(len(d)-1)*g.S+1]
					for i := range d {
						d[i] = s[i*g.S]
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
	P, OW, HW := g.cols(), g.OW, g.H*g.W
	r := 0
	for c := 0; c < g.C; c++ {
		dstImg := img[c*HW : (c+1)*HW]
		for ki := 0; ki < g.KH; ki++ {
			ohLo, ohHi := validRange(g.OH, g.S, g.PH, ki, g.H)
			for kj := 0; kj < g.KW; kj++ {
				src := col[r*ld : r*ld+P]
				r++
				owLo, owHi := validRange(OW, g.S, g.PW, kj, g.W)
				if owLo == owHi {
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					s := src[oh*OW+owLo : oh*OW+owHi]
					d := dstImg[(oh*g.S-g.PH+ki)*g.W+owLo*g.S-g.PW+kj:]
					if g.S == 1 {
						d = d[:len(s)]
						for i, v := range s {
							d[i] += v
						}
						continue
					}
					d = d[:(len(s)-1)*g.S+1]
					for i, v := range s {
						d[i*g.S] += v
					}
				}
			}
		}
	}
}

// gatherImages lays out the images of src (each c rows of p floats, stored
// one image after another) side by side: dst[ci*ld + i*p + j] =
// src[i*c*p + ci*p + j] for the len(src)/(c*p) images i. It turns a batch
// slice of NCHW into the [c, images*p] matrix a batched GEMM reads.
func gatherImages(src []float32, c, p int, dst []float32, ld int) {
	n := len(src) / (c * p)
	for i := 0; i < n; i++ {
		img := src[i*c*p : (i+1)*c*p]
		for ci := 0; ci < c; ci++ {
			copy(dst[ci*ld+i*p:ci*ld+i*p+p], img[ci*p:(ci+1)*p])
		}
	}
}

// scatterImages is gatherImages' inverse, adding bias[ci] (when bias is not
// nil) to every value of row ci on the way.
func scatterImages(src []float32, ld int, c, p int, dst []float32, bias []float32) {
	n := len(dst) / (c * p)
	for i := 0; i < n; i++ {
		img := dst[i*c*p : (i+1)*c*p]
		for ci := 0; ci < c; ci++ {
			d := img[ci*p : (ci+1)*p]
			s := src[ci*ld+i*p : ci*ld+i*p+p]
			if bias == nil {
				copy(d, s)
				continue
			}
			b := bias[ci]
			for j, v := range s {
				d[j] = v + b
			}
		}
	}
}
