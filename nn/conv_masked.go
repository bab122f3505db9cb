package nn

import "fmt"

// MaskKind selects which kernel taps a masked convolution keeps, relative to
// the kernel's centre (KH/2, KW/2), which sits over the output pixel. Masks
// apply to every (out, in) channel pair alike: vqgen's PixelCNN models one
// categorical code per position, so there are no colour sub-channels to
// order.
//
// # Causal convolutions for PixelCNNs
//
// An autoregressive prior over an H x W grid must let output i (raster
// order) depend only on inputs j < i. vqgen builds this from masks on full
// kernels rather than from shifted, cropped kernels: simpler to test, and
// the wasted multiplications by zero are cheap on 7x7 code grids.
//
// PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks"): a
// MaskA k x k layer on the input (rows above, plus the left part of the
// current row), then MaskB layers (which may also read their own position,
// since it already excludes the input pixel). The stack is causal but has a
// blind spot: positions up and to the right that no path reaches.
//
// Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation
// with PixelCNN Decoders") removes the blind spot with two stacks:
//
//	v1 = VConv(x)                      MaskVertical, k x k
//	h1 = HConvA(x) + Link(ShiftDown(v1))   MaskHorizontalA, 1 x k; Link 1x1
//	v' = VConv(gate(v))                MaskVertical
//	h' = h + Out(gate(HConvB(h) + Link(ShiftDown(VConv-output))))
//	                                   MaskHorizontalB, 1 x k; Out 1x1
//
// The vertical stack at (r, c) sees rows <= r over a widening band of
// columns, including the current row's right-hand part, so it must never
// feed the horizontal stack directly: ShiftDown moves it one row down, after
// which it sees rows < r only. The horizontal stack sees the current row to
// the left (MaskHorizontalA on the input; MaskHorizontalB afterwards). The
// union covers every earlier position once the receptive field spans the
// grid; the package's tests check this as dependency sets. Pass the layer's
// output through the horizontal stack only (the vertical stack is not
// causal on its own). gate(a) = tanh(a1) * sigmoid(a2) splits channels and
// is elementwise, so it does not change dependency sets.
type MaskKind int

const (
	MaskNone        MaskKind = iota
	MaskA                    // rows above the centre; centre row left of centre
	MaskB                    // MaskA plus the centre tap
	MaskVertical             // rows above and the whole centre row
	MaskHorizontalA          // centre row only, left of centre
	MaskHorizontalB          // centre row only, up to and including the centre
)

func (k MaskKind) String() string {
	switch k {
	case MaskNone:
		return "none"
	case MaskA:
		return "A"
	case MaskB:
		return "B"
	case MaskVertical:
		return "vertical"
	case MaskHorizontalA:
		return "horizontalA"
	case MaskHorizontalB:
		return "horizontalB"
	}
	return fmt.Sprintf("MaskKind(%d)", int(k))
}

// keeps reports whether a kh x kw kernel masked by k keeps tap (u, v).
func (k MaskKind) keeps(kh, kw, u, v int) bool {
	cu, cv := kh/2, kw/2
	switch k {
	case MaskNone:
		return true
	case MaskA:
		return u < cu || (u == cu && v < cv)
	case MaskB:
		return u < cu || (u == cu && v <= cv)
	case MaskVertical:
		return u <= cu
	case MaskHorizontalA:
		return u == cu && v < cv
	case MaskHorizontalB:
		return u == cu && v <= cv
	}
	panic(fmt.Sprintf("nn: unknown mask kind %d", int(k)))
}

// ConvMask returns the 0/1 mask of kind k for a Conv2d weight
// [outC, inC, kh, kw].
func ConvMask(k MaskKind, outC, inC, kh, kw int) []float32 {
	m := make([]float32, outC*inC*kh*kw)
	for i := range m {
		u, v := (i/kw)%kh, i%kw
		if k.keeps(kh, kw, u, v) {
			m[i] = 1
		}
	}
	return m
}

// NewMaskedConv2d returns a stride-1 "same" convolution (padding kh/2, kw/2)
// whose weight is masked by kind, for the causal stacks described at
// MaskKind. kh and kw must be odd so that the centre tap is the output
// pixel; for the horizontal stack use kh = 1. Masked weight entries are
// zeroed at construction and stay exactly zero in Forward and in Grad.
// Where the mask keeps a rectangle of taps (vertical and horizontal
// masks: (kh/2+1) x kw and 1 x (kw/2+1) or 1 x kw/2 of them) the
// convolution computes with those taps alone (Conv2d.Live), so no product
// with a masked zero is formed.
func NewMaskedConv2d(name string, inC, outC, kh, kw int, kind MaskKind, bias bool, rng *RNG) *Conv2d {
	if kh%2 == 0 || kw%2 == 0 {
		panic(fmt.Sprintf("nn: NewMaskedConv2d %s: kernel %dx%d must have odd sides", name, kh, kw))
	}
	if kind == MaskHorizontalA && kw == 1 || kind == MaskA && kh == 1 && kw == 1 {
		panic(fmt.Sprintf("nn: NewMaskedConv2d %s: mask %v on a %dx%d kernel keeps no tap", name, kind, kh, kw))
	}
	c := NewConv2dHW(name, inC, outC, kh, kw, 1, kh/2, kw/2, bias, rng)
	if kind != MaskNone {
		c.Mask = ConvMask(kind, outC, inC, kh, kw)
		for i, m := range c.Mask {
			c.Weight.Data.Data[i] *= m
		}
	}
	cu, cv := kh/2, kw/2
	switch kind {
	case MaskVertical:
		c.Live = &TapWindow{0, cu + 1, 0, kw}
	case MaskHorizontalA:
		c.Live = &TapWindow{cu, cu + 1, 0, cv}
	case MaskHorizontalB:
		c.Live = &TapWindow{cu, cu + 1, 0, cv + 1}
	}
	return c
}

// ShiftDown moves every H x W plane of a map (NCHW, or batch-major
// [C, N, H, W]) one row down: a zero row enters at the top and the bottom
// row drops out, y[n,c,r,col] = x[n,c,r-1,col]. It is what makes the
// vertical stack's features causal for the horizontal stack.
type ShiftDown struct {
	out, dx *Tensor
	// the call's operands, for the chunks
	dst, src []float32
	h, w, d  int
	add      bool
	ch       chunker
	fn       func(lo, hi int)
}

// Forward returns x shifted down by one row.
func (s *ShiftDown) Forward(x *Tensor) *Tensor {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn: ShiftDown: input %v, want [N,C,H,W]", x.Shape))
	}
	s.out = Ensure(s.out, x.Shape...)
	s.shift(s.out.Data, x.Data, x.Shape[2], x.Shape[3], 1, false)
	return s.out
}

// Backward shifts dy up by one row: the adjoint of Forward.
func (s *ShiftDown) Backward(dy *Tensor) *Tensor {
	s.checkGrad(dy)
	s.dx = Ensure(s.dx, dy.Shape...)
	s.shift(s.dx.Data, dy.Data, dy.Shape[2], dy.Shape[3], -1, false)
	return s.dx
}

// BackwardAdd adds Backward(dy) to acc (shaped like dy) in one pass, with
// the bits of the separate sum (the vacated bottom row adds zeros).
func (s *ShiftDown) BackwardAdd(dy, acc *Tensor) {
	s.checkGrad(dy)
	if !acc.SameShape(dy) {
		panic(fmt.Sprintf("nn: ShiftDown: accumulator %v, want %v", acc.Shape, dy.Shape))
	}
	s.shift(acc.Data, dy.Data, dy.Shape[2], dy.Shape[3], -1, true)
}

func (s *ShiftDown) checkGrad(dy *Tensor) {
	if s.out == nil || !dy.SameShape(s.out) {
		panic(fmt.Sprintf("nn: ShiftDown: gradient %v does not match the last Forward", dy.Shape))
	}
}

// shift runs shiftRows (or shiftRowsAdd) over the planes on all cores.
func (s *ShiftDown) shift(dst, src []float32, h, w, d int, add bool) {
	if s.fn == nil {
		s.fn = s.planes
	}
	s.dst, s.src, s.h, s.w, s.d, s.add = dst, src, h, w, d, add
	s.ch.do(len(src)/(h*w), max(1, elemChunk/(h*w)), s.fn)
	s.dst, s.src = nil, nil
}

func (s *ShiftDown) planes(lo, hi int) {
	p := s.h * s.w
	dst, src := s.dst[lo*p:hi*p], s.src[lo*p:hi*p]
	if s.add {
		shiftRowsAdd(dst, src, s.h, s.w)
		return
	}
	shiftRows(dst, src, s.h, s.w, s.d)
}

// shiftRowsAdd adds each h x w plane of src moved up one row to dst: row r
// of dst gets row r+1 of src, and the bottom row gets zeros added, so that
// its bits are those of adding the moved plane (-0 + 0 is +0).
func shiftRowsAdd(dst, src []float32, h, w int) {
	plane := h * w
	for p := 0; p+plane <= len(src); p += plane {
		s, o := src[p:p+plane], dst[p:p+plane]
		AddInto(o[:plane-w], o[:plane-w], s[w:])
		for i := plane - w; i < plane; i++ {
			o[i] += 0
		}
	}
}

// shiftRows copies each h x w plane of src into dst moved by d = +1 (down)
// or -1 (up) rows, filling the vacated row with zeros.
func shiftRows(dst, src []float32, h, w, d int) {
	plane := h * w
	for p := 0; p+plane <= len(src); p += plane {
		s, o := src[p:p+plane], dst[p:p+plane]
		if d > 0 {
			clear(o[:w])
			copy(o[w:], s[:plane-w])
		} else {
			copy(o[:plane-w], s[w:])
			clear(o[plane-w:])
		}
	}
}
