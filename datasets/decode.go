package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"math"
	"os"
)

// maxImagePixels refuses images whose header announces more than 100
// megapixels before anything is allocated for them.
const maxImagePixels = 100 << 20

// renderVersion changes whenever rendering (decoding, orientation, colour
// conversion, resampling, rounding) would give different bytes for the same
// file; it is part of the decoded cache's key, so a cache made by another
// rendering is never trusted.
const renderVersion = 1

// ReadImage decodes a PNG or JPEG file and returns it as a dataset image
// would be: turned upright by its EXIF orientation, converted to channels
// 1 (grayscale, ITU-R 601 luma) or 3 (RGB), transparent pixels composited
// over white, resized (shorter side to size, see the package comment),
// centre-cropped to size x size and rounded to 8 bits, as CHW values in
// [0, 1].
func ReadImage(path string, size, channels int) ([]float32, error) {
	if size < 1 || size > 4096 || (channels != 1 && channels != 3) {
		return nil, fmt.Errorf("%s: size %d, channels %d: want size 1 to 4096 and channels 1 or 3", path, size, channels)
	}
	pix := make([]uint8, channels*size*size)
	var sc renderScratch
	if err := sc.readFile(path, size, channels, pix); err != nil {
		return nil, err
	}
	out := make([]float32, len(pix))
	unitFromBytes(out, pix)
	return out, nil
}

// DecodeImage is ReadImage for an image already in memory (an upload); name
// labels errors.
func DecodeImage(name string, data []byte, size, channels int) ([]float32, error) {
	if size < 1 || size > 4096 || (channels != 1 && channels != 3) {
		return nil, fmt.Errorf("%s: size %d, channels %d: want size 1 to 4096 and channels 1 or 3", name, size, channels)
	}
	img, o, err := decodeImage(data, name)
	if err != nil {
		return nil, err
	}
	pix := make([]uint8, channels*size*size)
	var sc renderScratch
	sc.render(img, o, size, channels, pix)
	out := make([]float32, len(pix))
	unitFromBytes(out, pix)
	return out, nil
}

// Render converts a decoded image exactly as the loader converts a file
// whose pixels are upright (see ReadImage), for tools that build their own
// images, such as crops of a larger photograph. size is 1 to 4096 and
// channels 1 or 3.
func Render(img image.Image, size, channels int) []float32 {
	var sc renderScratch
	pix := make([]uint8, channels*size*size)
	sc.render(img, 1, size, channels, pix)
	out := make([]float32, len(pix))
	unitFromBytes(out, pix)
	return out
}

// decodeImage decodes PNG or JPEG bytes and reads a JPEG's EXIF
// orientation; name labels errors.
func decodeImage(data []byte, name string) (image.Image, int, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: cannot decode image: %v", name, decodeErr(err))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, 0, fmt.Errorf("%s: %s image is %dx%d pixels, want 1 to %d pixels", name, format, cfg.Width, cfg.Height, maxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: cannot decode %s image: %v", name, format, decodeErr(err))
	}
	o := 1
	if format == "jpeg" {
		o = jpegOrientation(data)
	}
	return img, o, nil
}

func decodeErr(err error) error {
	if errors.Is(err, image.ErrFormat) {
		return errors.New("not a PNG or JPEG file")
	}
	return err
}

// renderScratch holds one decoding worker's buffers between images.
type renderScratch struct {
	row []float32 // one upright source row, channel-major, over the columns the crop needs
	tmp []float32 // the horizontally resampled rows, channel-major
	out []float32 // the size x size result before rounding
}

func (sc *renderScratch) readFile(path string, size, channels int, dst []uint8) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	img, o, err := decodeImage(data, path)
	if err != nil {
		return err
	}
	sc.render(img, o, size, channels, dst)
	return nil
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// render writes img, turned upright by orientation o, converted to
// channels, resized so its shorter side is size and centre-cropped, as
// CHW bytes into dst. It reads only the source rows and columns the crop's
// filter taps touch, one upright row at a time, so a large photo costs its
// decoded form and a few rows, not a float copy of every pixel.
func (sc *renderScratch) render(img image.Image, o, size, c int, dst []uint8) {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := sw, sh // upright size
	if o >= 5 {
		w, h = sh, sw
	}
	fw, fh := size, size
	if w < h {
		fh = max(size, int(math.Round(float64(h)*float64(size)/float64(w))))
	} else {
		fw = max(size, int(math.Round(float64(w)*float64(size)/float64(h))))
	}
	tx := filterTaps(w, fw, (fw-size)/2, size)
	ty := filterTaps(h, fh, (fh-size)/2, size)
	x0, x1 := tx[0].start, tx[size-1].start+len(tx[size-1].w)
	y0, y1 := ty[0].start, ty[size-1].start+len(ty[size-1].w)
	rw, nrows := x1-x0, y1-y0
	sc.row = grow(sc.row, c*rw)
	sc.tmp = grow(sc.tmp, c*nrows*size)
	sc.out = grow(sc.out, c*size*size)
	px := pixelFunc(img)
	const k = 1.0 / 0xffff
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			sx, sy := orient(o, x, y, sw, sh)
			r, g, bl := px(b.Min.X+sx, b.Min.Y+sy)
			i := x - x0
			if c == 1 {
				if r == g && g == bl {
					sc.row[i] = float32(float64(r) * k)
				} else {
					sc.row[i] = float32((0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) * k)
				}
			} else {
				sc.row[i] = float32(float64(r) * k)
				sc.row[rw+i] = float32(float64(g) * k)
				sc.row[2*rw+i] = float32(float64(bl) * k)
			}
		}
		for ch := range c {
			row := sc.row[ch*rw : (ch+1)*rw]
			trow := sc.tmp[(ch*nrows+y-y0)*size : (ch*nrows+y-y0+1)*size]
			for i, t := range tx {
				var acc float32
				for j, wt := range t.w {
					acc += wt * row[t.start-x0+j]
				}
				trow[i] = acc
			}
		}
	}
	for ch := range c {
		out := sc.out[ch*size*size : (ch+1)*size*size]
		for j, t := range ty {
			orow := out[j*size : (j+1)*size]
			clear(orow)
			for kk, wt := range t.w {
				r := ch*nrows + t.start + kk - y0
				trow := sc.tmp[r*size : (r+1)*size]
				for i := range orow {
					orow[i] += wt * trow[i]
				}
			}
		}
	}
	for i, v := range sc.out {
		dst[i] = unitTo8(v)
	}
}

// unitTo8 rounds a value in [0, 1] to a byte (clamped; NaN gives 0).
func unitTo8(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(v*255 + 0.5)
}

// pixelFunc returns a reader of img's pixels as 16-bit r, g, b composited
// over white: a pixel of alpha a and premultiplied colour c becomes
// c + (0xffff - a), so transparent areas read as white, the usual
// background of a photo or a drawing. Common image types get a typed path;
// the rest go through the colour model (palette, CMYK, 16-bit, ...).
func pixelFunc(img image.Image) func(x, y int) (r, g, b uint32) {
	over := func(r, g, b, a uint32) (uint32, uint32, uint32) {
		return r + 0xffff - a, g + 0xffff - a, b + 0xffff - a
	}
	switch m := img.(type) {
	case *image.Gray:
		return func(x, y int) (uint32, uint32, uint32) {
			v := uint32(m.Pix[m.PixOffset(x, y)]) * 0x101
			return v, v, v
		}
	case *image.Gray16:
		return func(x, y int) (uint32, uint32, uint32) {
			i := m.PixOffset(x, y)
			v := uint32(m.Pix[i])<<8 | uint32(m.Pix[i+1])
			return v, v, v
		}
	case *image.YCbCr:
		return func(x, y int) (uint32, uint32, uint32) {
			r, g, b, _ := m.YCbCrAt(x, y).RGBA()
			return r, g, b
		}
	case *image.RGBA:
		return func(x, y int) (uint32, uint32, uint32) {
			return over(m.RGBAAt(x, y).RGBA())
		}
	case *image.NRGBA:
		return func(x, y int) (uint32, uint32, uint32) {
			return over(m.NRGBAAt(x, y).RGBA())
		}
	case *image.RGBA64:
		return func(x, y int) (uint32, uint32, uint32) {
			return over(m.RGBA64At(x, y).RGBA())
		}
	case *image.NRGBA64:
		return func(x, y int) (uint32, uint32, uint32) {
			return over(m.NRGBA64At(x, y).RGBA())
		}
	case *image.CMYK:
		return func(x, y int) (uint32, uint32, uint32) {
			r, g, b, _ := m.CMYKAt(x, y).RGBA()
			return r, g, b
		}
	case *image.Paletted:
		pal := make([][3]uint32, len(m.Palette))
		for i, col := range m.Palette {
			r, g, b := over(col.RGBA())
			pal[i] = [3]uint32{r, g, b}
		}
		black := [3]uint32{0, 0, 0} // an index past the palette, as image.Paletted.At reads it
		return func(x, y int) (uint32, uint32, uint32) {
			i := int(m.Pix[m.PixOffset(x, y)])
			p := black
			if i < len(pal) {
				p = pal[i]
			}
			return p[0], p[1], p[2]
		}
	}
	return func(x, y int) (uint32, uint32, uint32) {
		return over(img.At(x, y).RGBA())
	}
}

// taps are the filter weights of one output pixel: source indices
// start..start+len(w)-1.
type taps struct {
	start int
	w     []float32
}

// filterTaps computes the triangle-filter taps for n outputs taken from
// position off onward of a src-long axis resized to full.
func filterTaps(src, full, off, n int) []taps {
	s := float64(src) / float64(full)
	r := math.Max(s, 1)
	out := make([]taps, n)
	for i := range out {
		u := (float64(i+off)+0.5)*s - 0.5
		lo := max(int(math.Ceil(u-r)), 0)
		hi := min(int(math.Floor(u+r)), src-1)
		var ws []float64
		var sum float64
		for t := lo; t <= hi; t++ {
			wt := 1 - math.Abs(float64(t)-u)/r
			if wt < 0 {
				wt = 0
			}
			ws = append(ws, wt)
			sum += wt
		}
		if sum == 0 { // cannot happen for r >= 1, but never divide by zero
			lo, ws, sum = min(max(int(math.Round(u)), 0), src-1), []float64{1}, 1
		}
		t := taps{start: lo, w: make([]float32, len(ws))}
		for k, wt := range ws {
			t.w[k] = float32(wt / sum)
		}
		out[i] = t
	}
	return out
}

// DecodeFile decodes a PNG or JPEG file and returns it upright: a JPEG
// whose EXIF orientation is not 1 comes back as an opaque 16-bit copy
// turned as the tag says (transparent pixels composited over white), any
// other image as decoded. Tools that crop photographs use it; datasets turn
// their images upright while resizing instead.
func DecodeFile(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, o, err := decodeImage(data, path)
	if err != nil || o == 1 {
		return img, err
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := sw, sh
	if o >= 5 {
		w, h = sh, sw
	}
	px := pixelFunc(img)
	out := image.NewRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			sx, sy := orient(o, x, y, sw, sh)
			r, g, bl := px(b.Min.X+sx, b.Min.Y+sy)
			out.SetRGBA64(x, y, color.RGBA64{uint16(r), uint16(g), uint16(bl), 0xffff})
		}
	}
	return out, nil
}
