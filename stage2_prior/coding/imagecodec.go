package coding

// A learned image codec: the VQ-VAE is the lossy part (image -> code grid
// -> reconstruction), the prior codes the grids losslessly. A compressed
// file (.vqz) is a prior-coded code file: the header names the VQ-VAE and
// the prior by fingerprint, and decompression needs both.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"sort"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/progress"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// imageBatch is the number of images the VQ-VAE encodes or decodes at once.
const imageBatch = 256

// encodeImages maps images (each C*H*W floats in [0, 1], at the VQ-VAE's
// size) to their grids.
func encodeImages(vq *vqvae.Model, images [][]float32) ([]uint16, error) {
	c, size := vq.Image.Channels, vq.Image.ImageSize
	gh, gw := vq.GridSize()
	cells := gh * gw
	out := make([]uint16, len(images)*cells)
	codes := make([]int32, imageBatch*cells)
	var x *nn.Tensor
	for lo := 0; lo < len(images); lo += imageBatch {
		hi := min(lo+imageBatch, len(images))
		x = nn.Ensure(x, hi-lo, c, size, size)
		for i, img := range images[lo:hi] {
			if len(img) != c*size*size {
				return nil, fmt.Errorf("image %d has %d values, want %dx%dx%d for the VQ-VAE", lo+i, len(img), c, size, size)
			}
			copy(x.Data[i*len(img):], img)
		}
		vq.Encode(x, codes[:(hi-lo)*cells])
		for i, v := range codes[:(hi-lo)*cells] {
			out[lo*cells+i] = uint16(v)
		}
	}
	return out, nil
}

// decodeImages maps grids to images, each C*H*W floats in [0, 1].
func decodeImages(vq *vqvae.Model, grids []uint16, n int) ([][]float32, error) {
	gh, gw := vq.GridSize()
	cells := gh * gw
	out := make([][]float32, 0, n)
	codes := make([]int32, imageBatch*cells)
	for lo := 0; lo < n; lo += imageBatch {
		hi := min(lo+imageBatch, n)
		for i, v := range grids[lo*cells : hi*cells] {
			codes[i] = int32(v)
		}
		x, err := vq.Decode(codes[:(hi-lo)*cells], hi-lo)
		if err != nil {
			return nil, err
		}
		per := x.Len() / (hi - lo)
		for i := range hi - lo {
			out = append(out, append([]float32(nil), x.Data[i*per:(i+1)*per]...))
		}
	}
	return out, nil
}

// Images is a set of images for the image codec: each C*H*W floats in
// [0, 1] at the VQ-VAE's image size, with optional labels (one class in
// [0, Classes) each) and keys (one name each, such as the file it came
// from; datasets/CODES.md, "Keys").
type Images struct {
	Pixels  [][]float32
	Labels  []int32
	Classes int
	Keys    []string
}

// header is the code file header of ims compressed by vq.
func (ims *Images) header(vq *vqvae.Model) datasets.CodeHeader {
	gh, gw := vq.GridSize()
	s := vq.Image.ImageSize
	h := datasets.CodeHeader{Count: int64(len(ims.Pixels)), GridH: gh, GridW: gw, K: vq.Cfg.K, ImageH: s, ImageW: s, Channels: vq.Image.Channels,
		Layout: datasets.CodeLayoutPrior, Fingerprint: datasets.CodeFingerprint(vq.Fingerprint()), Keys: ims.Keys != nil}
	if ims.Labels != nil {
		h.Labels, h.NumClasses = true, ims.Classes
	}
	return h
}

// Compress encodes images with vq and writes their grids prior-coded to w
// (a .vqz stream), with their labels and keys, reporting to prog (nil:
// silent) and stopping when ctx is done. It returns the grids.
func Compress(ctx context.Context, w io.Writer, vq *vqvae.Model, codec *Codec, ims *Images, prog progress.Reporter) ([]uint16, error) {
	grids, h, err := compressGrids(vq, codec, ims)
	if err != nil {
		return nil, err
	}
	cw, err := datasets.NewCodeWriterCodec(w, h, codec)
	if err != nil {
		return nil, err
	}
	if err := writeInSteps(ctx, cw, grids, ims.Labels, ims.Keys, len(ims.Pixels), "compress", prog); err != nil {
		cw.Abort()
		return nil, err
	}
	return grids, cw.Close()
}

// CompressFile is Compress to a file, written atomically; an existing file
// is kept unless overwrite is set.
func CompressFile(ctx context.Context, path string, vq *vqvae.Model, codec *Codec, ims *Images, overwrite bool, prog progress.Reporter) ([]uint16, error) {
	grids, h, err := compressGrids(vq, codec, ims)
	if err != nil {
		return nil, err
	}
	cw, err := datasets.CreateCodeFileCodec(path, h, overwrite, codec)
	if err != nil {
		return nil, err
	}
	if err := writeInSteps(ctx, cw, grids, ims.Labels, ims.Keys, len(ims.Pixels), "compress "+filepath.Base(path), prog); err != nil {
		cw.Abort()
		return nil, err
	}
	return grids, cw.Close()
}

// compressGrids encodes images to grids and checks the prior against the
// file's header.
func compressGrids(vq *vqvae.Model, codec *Codec, ims *Images) ([]uint16, datasets.CodeHeader, error) {
	h := ims.header(vq)
	if err := codec.checkHeader(&h); err != nil {
		return nil, h, fmt.Errorf("the prior does not fit the VQ-VAE: %w", err)
	}
	grids, err := encodeImages(vq, ims.Pixels)
	return grids, h, err
}

// Decompress reads a .vqz file and returns its images (the VQ-VAE's
// reconstructions), labels and keys (nil when it has none). The file must
// name vq's fingerprint and codec's prior.
func Decompress(ctx context.Context, path string, vq *vqvae.Model, codec *Codec, prog progress.Reporter) (*Images, error) {
	f, err := OpenCodes(path, codec)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := f.Header()
	if fp := datasets.CodeFingerprint(vq.Fingerprint()); h.Fingerprint != fp {
		return nil, fmt.Errorf("%s was made by the VQ-VAE with fingerprint %s, not this one's %s: decompress with the run that compressed it", path, h.Fingerprint, fp)
	}
	end := ReportReads(ctx, f, prog)
	grids, labels, err := f.LoadAll()
	end()
	if err != nil {
		return nil, err
	}
	ims := &Images{Classes: h.NumClasses}
	if h.Labels {
		ims.Labels = labels
	}
	if ims.Keys, err = f.Keys(); err != nil {
		return nil, err
	}
	ims.Pixels, err = decodeImages(vq, grids, int(h.Count))
	return ims, err
}

// CodecRow is one codec's cost and quality on a set of images.
type CodecRow struct {
	Codec        string  `json:"codec"`
	Bytes        int64   `json:"bytes"`
	BytesPerImg  float64 `json:"bytes_per_image"`
	BitsPerPixel float64 `json:"bits_per_pixel"`
	PSNR         float64 `json:"psnr_db"`          // +Inf for lossless (JSON: null, with "lossless": true)
	Quality      int     `json:"quality,omitzero"` // JPEG quality reached
}

// MarshalJSON writes a lossless codec's infinite PSNR as null, which JSON
// can hold, and says "lossless".
func (r CodecRow) MarshalJSON() ([]byte, error) {
	type plain CodecRow
	out := struct {
		plain
		PSNR     *float64 `json:"psnr_db"`
		Lossless bool     `json:"lossless"`
	}{plain: plain(r)}
	if math.IsInf(r.PSNR, 1) {
		out.Lossless = true
	} else {
		out.PSNR = &r.PSNR
	}
	return json.Marshal(out)
}

// CodecEval compares vqgen's codec with PNG and JPEG on the same images:
// JPEG at the lowest quality whose PSNR reaches vqgen's. PNG and JPEG are
// measured twice: one file per image (what storing images costs: every file
// repeats headers and tables) and one mosaic of all images (headers paid
// once, the codec's best case).
type CodecEval struct {
	Images int        `json:"images"`
	Pixels int        `json:"pixels_per_image"`
	Rows   []CodecRow `json:"codecs"`
}

// EvalCodec measures vqgen, PNG and JPEG on images (C*H*W floats in [0,
// 1] at the VQ-VAE's size; labels nil or classes-valued). PSNR is over
// 8-bit pixels, as a user gets them in an image file.
// It reports to prog (nil: silent) and stops when ctx is done.
func EvalCodec(ctx context.Context, vq *vqvae.Model, codec *Codec, images [][]float32, labels []int32, classes int, prog progress.Reporter) (*CodecEval, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("eval codec: no images")
	}
	c, s := vq.Image.Channels, vq.Image.ImageSize
	n := len(images)
	ev := &CodecEval{Images: n, Pixels: s * s}
	pixels := float64(n * s * s)
	row := func(name string, bytes int64, psnr float64, q int) CodecRow {
		return CodecRow{Codec: name, Bytes: bytes, BytesPerImg: float64(bytes) / float64(n), BitsPerPixel: 8 * float64(bytes) / pixels, PSNR: psnr, Quality: q}
	}
	orig := make([]image.Image, n)
	for i, img := range images {
		im, err := datasets.ToImage(img, c, s, s)
		if err != nil {
			return nil, err
		}
		orig[i] = im
	}
	// vqgen: the .vqz stream's size, and the 8-bit reconstruction.
	var buf bytes.Buffer
	grids, err := Compress(ctx, &buf, vq, codec, &Images{Pixels: images, Labels: labels, Classes: classes}, prog)
	if err != nil {
		return nil, err
	}
	recon, err := decodeImages(vq, grids, n)
	if err != nil {
		return nil, err
	}
	target, err := psnrOf(orig, recon, c, s)
	if err != nil {
		return nil, err
	}
	ev.Rows = append(ev.Rows, row("vqgen", int64(buf.Len()), target, 0))
	// PNG, lossless.
	prog = progress.Or(prog)
	prog.Begin(progress.Phase{Name: "png", Total: n, ItemsPerUnit: 1, Item: "img"})
	var pngEach int64
	for i, im := range orig {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			prog.Update(i)
		}
		b, err := encodePNG(im)
		if err != nil {
			return nil, err
		}
		pngEach += int64(len(b))
	}
	prog.End()
	ev.Rows = append(ev.Rows, row("png (one file per image)", pngEach, math.Inf(1), 0))
	mosaic := mosaicOf(orig)
	b, err := encodePNG(mosaic)
	if err != nil {
		return nil, err
	}
	ev.Rows = append(ev.Rows, row("png (one mosaic)", int64(len(b)), math.Inf(1), 0))
	// JPEG at equal PSNR: the lowest quality that reaches vqgen's PSNR.
	for _, set := range []struct {
		name string
		ims  []image.Image
	}{{"jpeg (one file per image)", orig}, {"jpeg (one mosaic)", []image.Image{mosaic}}} {
		prog.Begin(progress.Phase{Name: set.name, Total: jpegProbes})
		q, size, p, err := jpegAtPSNR(ctx, set.ims, target, pixels*float64(c), func(probes int) { prog.Update(probes) })
		prog.End()
		if err != nil {
			return nil, err
		}
		ev.Rows = append(ev.Rows, row(set.name, size, p, q))
	}
	return ev, nil
}

func encodePNG(im image.Image) ([]byte, error) {
	var b bytes.Buffer
	err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, im)
	return b.Bytes(), err
}

// jpegProbes is the number of qualities jpegAtPSNR's binary search over
// 1..100 tries: ceil(log2 101).
const jpegProbes = 7

// jpegAtPSNR finds the lowest quality whose PSNR over ims reaches target
// (PSNR grows with quality, so a binary search over 1..100), returning the
// quality, total bytes and PSNR; quality 100 if none reaches it. probed is
// called with the number of qualities measured so far.
func jpegAtPSNR(ctx context.Context, ims []image.Image, target, values float64, probed func(int)) (int, int64, float64, error) {
	type res struct {
		size int64
		psnr float64
	}
	cache := map[int]res{}
	measure := func(q int) (res, error) {
		if r, ok := cache[q]; ok {
			return r, nil
		}
		var r res
		if err := ctx.Err(); err != nil {
			return r, err
		}
		var sq float64
		for _, im := range ims {
			var b bytes.Buffer
			if err := jpeg.Encode(&b, im, &jpeg.Options{Quality: q}); err != nil {
				return r, err
			}
			r.size += int64(b.Len())
			back, err := jpeg.Decode(&b)
			if err != nil {
				return r, err
			}
			sq += sqErr(im, back)
		}
		r.psnr = psnr(sq, values)
		cache[q] = r
		probed(len(cache))
		return r, nil
	}
	var ferr error
	q := sort.Search(100, func(i int) bool {
		r, err := measure(i + 1)
		if err != nil {
			ferr = err
			return true
		}
		return r.psnr >= target
	}) + 1
	if ferr != nil {
		return 0, 0, 0, ferr
	}
	q = min(q, 100)
	r, err := measure(q)
	return q, r.size, r.psnr, err
}

// sqErr sums the squared differences of two same-sized images' channels,
// in [0, 1] units (8-bit values / 255).
func sqErr(a, b image.Image) float64 {
	r := a.Bounds()
	var s float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			switch ai := a.(type) {
			case *image.Gray:
				d := float64(ai.GrayAt(x, y).Y) - float64(grayAt(b, x, y))
				s += d * d
			default:
				r1, g1, b1, _ := a.At(x, y).RGBA()
				r2, g2, b2, _ := b.At(x, y).RGBA()
				for _, d := range []float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
					s += d * d
				}
			}
		}
	}
	return s / (255 * 255)
}

func grayAt(im image.Image, x, y int) uint8 {
	if g, ok := im.(*image.Gray); ok {
		return g.GrayAt(x, y).Y
	}
	r, _, _, _ := im.At(x, y).RGBA() // JPEG decodes grey images to *image.Gray; others by their red channel
	return uint8(r >> 8)
}

// PSNR is the peak signal-to-noise ratio in dB of recon against orig
// (each C*H*W floats in [0, 1], H = W = size), over 8-bit pixels as a user
// gets them in an image file: what EvalCodec reports for vqgen; +Inf when
// they are equal.
func PSNR(orig, recon [][]float32, channels, size int) (float64, error) {
	if len(orig) != len(recon) || len(orig) == 0 {
		return 0, fmt.Errorf("psnr: %d images against %d", len(recon), len(orig))
	}
	ims := make([]image.Image, len(orig))
	for i, o := range orig {
		im, err := datasets.ToImage(o, channels, size, size)
		if err != nil {
			return 0, err
		}
		ims[i] = im
	}
	return psnrOf(ims, recon, channels, size)
}

// psnrOf is PSNR against images already in 8-bit form.
func psnrOf(orig []image.Image, recon [][]float32, channels, size int) (float64, error) {
	var sq float64
	for i, r := range recon {
		im, err := datasets.ToImage(r, channels, size, size)
		if err != nil {
			return 0, err
		}
		sq += sqErr(orig[i], im)
	}
	return psnr(sq, float64(len(recon)*channels*size*size)), nil
}

// psnr is 10 log10(1/MSE) for a sum of squared errors over values values
// in [0, 1].
func psnr(sq, values float64) float64 {
	if sq == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(values/sq)
}

// mosaicOf tiles same-sized images into one near-square image.
func mosaicOf(ims []image.Image) image.Image {
	b := ims[0].Bounds()
	w, h := b.Dx(), b.Dy()
	cols := int(math.Ceil(math.Sqrt(float64(len(ims)))))
	rows := (len(ims) + cols - 1) / cols
	rect := image.Rect(0, 0, cols*w, rows*h)
	if _, gray := ims[0].(*image.Gray); gray {
		m := image.NewGray(rect)
		for i, im := range ims {
			x0, y0 := (i%cols)*w, (i/cols)*h
			for y := range h {
				for x := range w {
					m.SetGray(x0+x, y0+y, im.(*image.Gray).GrayAt(b.Min.X+x, b.Min.Y+y))
				}
			}
		}
		return m
	}
	m := image.NewRGBA(rect)
	for i, im := range ims {
		x0, y0 := (i%cols)*w, (i/cols)*h
		for y := range h {
			for x := range w {
				m.Set(x0+x, y0+y, im.At(b.Min.X+x, b.Min.Y+y))
			}
		}
	}
	return m
}
