package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vqgen/vqgen/nn"
)

// maxImagePixels refuses images whose header announces more than 100
// megapixels before anything is allocated for them.
const maxImagePixels = 100 << 20

// testPermille is the share of an image folder that goes to the test split,
// in thousandths (10%).
const testPermille = 100

// IsTestFile reports whether the file at rel (a slash-separated path
// relative to the image folder) belongs to the test split: FNV-1a 64 of rel,
// modulo 1000, below 100.
func IsTestFile(rel string) bool {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return h.Sum64()%1000 < testPermille
}

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// listImageDir returns the image files under dir (slash-separated, relative,
// sorted) and the class folders. When dir has subfolders, each is a class
// (sorted names give class ids 0, 1, ...) and holds that class's images at
// any depth; images beside class folders are an error. Hidden files and
// folders (".name") and files that are not .png, .jpg or .jpeg are skipped.
func listImageDir(dir string) (files []string, classOf []int, classes []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	slices.Sort(classes)
	perClass := make([]int, len(classes))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isImageFile(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		c := -1
		if len(classes) > 0 {
			top, _, nested := strings.Cut(rel, "/")
			if !nested {
				return fmt.Errorf("%s: image beside the class folders (%s); move it into one of them", p, strings.Join(classes, ", "))
			}
			c, _ = slices.BinarySearch(classes, top)
			perClass[c]++
		}
		files = append(files, rel)
		classOf = append(classOf, c)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no PNG or JPEG images found", dir)
	}
	for i, n := range perClass {
		if n == 0 {
			return nil, nil, nil, fmt.Errorf("%s: class folder %q has no PNG or JPEG images", dir, classes[i])
		}
	}
	return files, classOf, classes, nil
}

// loadImageDir decodes the images of one split of dir, resized and
// centre-cropped to opt.Size with opt.Channels channels.
func loadImageDir(spec, dir, split string, opt Options) (*Dataset, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s: %s is not a folder", spec, dir)
	}
	all, allClass, classes, err := listImageDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	}
	var files []string
	var classOf []int
	for i, rel := range all {
		if IsTestFile(rel) == (split == "test") {
			files = append(files, rel)
			classOf = append(classOf, allClass[i])
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: none of the %d images in %s falls in the %s split (about %d%% go to test, by a hash of the path)", spec, len(all), dir, split, testPermille/10)
	}
	c, s := opt.Channels, opt.Size
	ds := &Dataset{Name: spec, N: len(files), C: c, H: s, W: s, Pixels: make([]float32, len(files)*c*s*s)}
	if len(classes) > 0 {
		ds.Classes, ds.ClassNames = len(classes), classes
		ds.Labels = make([]int32, len(files))
		for i, k := range classOf {
			ds.Labels[i] = int32(k)
		}
	}
	errs := make([]error, len(files))
	nn.ParallelFor(len(files), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			errs[i] = readImageInto(filepath.Join(dir, filepath.FromSlash(files[i])), s, c, ds.Image(i))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", spec, firstErr(errs))
	}
	return ds, nil
}

func firstErr(errs []error) error {
	n := 0
	var first error
	for _, e := range errs {
		if e != nil {
			if first == nil {
				first = e
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more unreadable images)", first, n-1)
	}
	return first
}

// ReadImage decodes a PNG or JPEG file and returns it resized (shorter side
// to size, see the package comment) and centre-cropped to size x size, with
// channels 1 (grayscale, ITU-R 601 luma) or 3 (RGB), as CHW values in [0, 1].
// Transparent pixels are composited over black, the MNIST background.
func ReadImage(path string, size, channels int) ([]float32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeImage(path, data, size, channels)
}

// DecodeImage is ReadImage for an image already in memory (an upload); name
// labels errors.
func DecodeImage(name string, data []byte, size, channels int) ([]float32, error) {
	if size < 1 || size > 4096 || (channels != 1 && channels != 3) {
		return nil, fmt.Errorf("%s: size %d, channels %d: want size 1 to 4096 and channels 1 or 3", name, size, channels)
	}
	out := make([]float32, channels*size*size)
	if err := decodeImageInto(name, data, size, channels, out); err != nil {
		return nil, err
	}
	return out, nil
}

func readImageInto(path string, size, channels int, dst []float32) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return decodeImageInto(path, data, size, channels, dst)
}

func decodeImageInto(name string, data []byte, size, channels int, dst []float32) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: cannot decode image: %v", name, decodeErr(err))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return fmt.Errorf("%s: %s image is %dx%d pixels, want 1 to %d pixels", name, format, cfg.Width, cfg.Height, maxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: cannot decode %s image: %v", name, format, decodeErr(err))
	}
	planes, w, h := toPlanes(img, channels)
	resizeCrop(planes, channels, w, h, size, dst)
	return nil
}

func decodeErr(err error) error {
	if errors.Is(err, image.ErrFormat) {
		return errors.New("not a PNG or JPEG file")
	}
	return err
}

// toPlanes converts img to channels float32 planes (CHW) in [0, 1].
func toPlanes(img image.Image, channels int) ([]float32, int, int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]float32, channels*w*h)
	if g, ok := img.(*image.Gray); ok && channels == 1 {
		for y := range h {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for x, v := range row {
				out[y*w+x] = u8ToUnit[v]
			}
		}
		return out, w, h
	}
	// rgb returns premultiplied 16-bit channels; premultiplying composites
	// transparent pixels over black.
	var rgb func(x, y int) (r, g, b uint32)
	switch m := img.(type) {
	case *image.YCbCr:
		rgb = func(x, y int) (uint32, uint32, uint32) {
			r, g, b, _ := m.YCbCrAt(x, y).RGBA()
			return r, g, b
		}
	case *image.RGBA:
		rgb = func(x, y int) (uint32, uint32, uint32) {
			r, g, b, _ := m.RGBAAt(x, y).RGBA()
			return r, g, b
		}
	case *image.NRGBA:
		rgb = func(x, y int) (uint32, uint32, uint32) {
			r, g, b, _ := m.NRGBAAt(x, y).RGBA()
			return r, g, b
		}
	case *image.Gray:
		rgb = func(x, y int) (uint32, uint32, uint32) {
			v, _, _, _ := m.GrayAt(x, y).RGBA()
			return v, v, v
		}
	default:
		rgb = func(x, y int) (uint32, uint32, uint32) {
			r, g, b, _ := img.At(x, y).RGBA()
			return r, g, b
		}
	}
	const k = 1.0 / 0xffff
	plane := w * h
	for y := range h {
		for x := range w {
			r, g, bl := rgb(b.Min.X+x, b.Min.Y+y)
			i := y*w + x
			if channels == 1 {
				out[i] = float32((0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) * k)
			} else {
				out[i] = float32(float64(r) * k)
				out[plane+i] = float32(float64(g) * k)
				out[2*plane+i] = float32(float64(bl) * k)
			}
		}
	}
	return out, w, h
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

// resizeCrop resizes c planes of w x h so the shorter side is size and
// writes the centred size x size crop to dst (CHW).
func resizeCrop(src []float32, c, w, h, size int, dst []float32) {
	fw, fh := size, size
	if w < h {
		fh = max(size, int(math.Round(float64(h)*float64(size)/float64(w))))
	} else {
		fw = max(size, int(math.Round(float64(w)*float64(size)/float64(h))))
	}
	tx := filterTaps(w, fw, (fw-size)/2, size)
	ty := filterTaps(h, fh, (fh-size)/2, size)
	y0 := ty[0].start
	y1 := ty[size-1].start + len(ty[size-1].w)
	tmp := make([]float32, (y1-y0)*size)
	for ch := range c {
		plane := src[ch*w*h : (ch+1)*w*h]
		for y := y0; y < y1; y++ {
			row := plane[y*w : (y+1)*w]
			trow := tmp[(y-y0)*size : (y-y0+1)*size]
			for i, t := range tx {
				var acc float32
				for k, wt := range t.w {
					acc += wt * row[t.start+k]
				}
				trow[i] = acc
			}
		}
		out := dst[ch*size*size : (ch+1)*size*size]
		for j, t := range ty {
			orow := out[j*size : (j+1)*size]
			clear(orow)
			for k, wt := range t.w {
				trow := tmp[(t.start+k-y0)*size : (t.start+k-y0+1)*size]
				for i := range orow {
					orow[i] += wt * trow[i]
				}
			}
			for i, v := range orow { // rounding can step just outside [0, 1]
				orow[i] = min(max(v, 0), 1)
			}
		}
	}
}
