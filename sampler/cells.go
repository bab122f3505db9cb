package sampler

import (
	"fmt"
	"image"
	_ "image/gif" // mask images: registered decoders
	_ "image/jpeg"
	_ "image/png"
	"os"
	"strconv"
	"strings"
)

// A cell selection is a keep mask over the H*W cells of a grid in raster
// order: true keeps the cell, false redraws it. The helpers below build one
// from the ways a user names the cells to redraw.

// Rect is a rectangle of rows R0..R1 and columns C0..C1, both ends
// inclusive (so "2,0,3,6" is rows 2 and 3, columns 0 to 6).
type Rect struct{ R0, C0, R1, C1 int }

// ParseRect parses "r0,c0,r1,c1" (inclusive corners). name is the option
// the text came from; errors start with it, so a front end can show the
// option its own way (a flag, a form field).
func ParseRect(name, s string) (Rect, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return Rect{}, fmt.Errorf("%s %q: want four comma-separated integers r0,c0,r1,c1", name, s)
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return Rect{}, fmt.Errorf("%s %q: %q is not an integer", name, s, p)
		}
		v[i] = n
	}
	r := Rect{v[0], v[1], v[2], v[3]}
	if r.R0 > r.R1 || r.C0 > r.C1 || r.R0 < 0 || r.C0 < 0 {
		return Rect{}, fmt.Errorf("%s %q: want 0 <= r0 <= r1 and 0 <= c0 <= c1", name, s)
	}
	return r, nil
}

// RectKeep redraws the cells of r in an h x w grid and keeps the rest.
func RectKeep(name string, r Rect, h, w int) ([]bool, error) {
	if r.R0 < 0 || r.C0 < 0 || r.R1 >= h || r.C1 >= w || r.R0 > r.R1 || r.C0 > r.C1 {
		return nil, fmt.Errorf("%s %d,%d,%d,%d: the grid is %dx%d, rows 0..%d and columns 0..%d", name, r.R0, r.C0, r.R1, r.C1, h, w, h-1, w-1)
	}
	keep := make([]bool, h*w)
	for p := range keep {
		y, x := p/w, p%w
		keep[p] = y < r.R0 || y > r.R1 || x < r.C0 || x > r.C1
	}
	return keep, nil
}

// PixelRectKeep redraws every cell that a rectangle of image pixels
// (rows R0..R1, columns C0..C1, inclusive) touches, for an h x w grid whose
// cells each cover factor x factor pixels (the encoder's downsampling).
func PixelRectKeep(name string, r Rect, h, w, factor int) ([]bool, error) {
	if factor <= 0 {
		return nil, fmt.Errorf("sampler: downsampling factor must be > 0, got %d", factor)
	}
	ih, iw := h*factor, w*factor
	if r.R0 < 0 || r.C0 < 0 || r.R1 >= ih || r.C1 >= iw || r.R0 > r.R1 || r.C0 > r.C1 {
		return nil, fmt.Errorf("%s %d,%d,%d,%d: the image is %dx%d pixels, rows 0..%d and columns 0..%d", name, r.R0, r.C0, r.R1, r.C1, ih, iw, ih-1, iw-1)
	}
	return RectKeep(name, Rect{r.R0 / factor, r.C0 / factor, r.R1 / factor, r.C1 / factor}, h, w)
}

// ParseKeepList parses "r,c;r,c;..." as the cells to keep in an h x w grid;
// every other cell is redrawn.
func ParseKeepList(name, s string, h, w int) ([]bool, error) {
	keep := make([]bool, h*w)
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		rc := strings.Split(item, ",")
		if len(rc) != 2 {
			return nil, fmt.Errorf("%s %q: cell %q is not \"row,col\"", name, s, item)
		}
		r, err1 := strconv.Atoi(strings.TrimSpace(rc[0]))
		c, err2 := strconv.Atoi(strings.TrimSpace(rc[1]))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s %q: cell %q is not two integers \"row,col\"", name, s, item)
		}
		if r < 0 || r >= h || c < 0 || c >= w {
			return nil, fmt.Errorf("%s %q: cell %d,%d is outside the %dx%d grid", name, s, r, c, h, w)
		}
		keep[r*w+c] = true
	}
	return keep, nil
}

// MaskKeep maps a mask image of any size onto an h x w grid: the image is
// stretched over the grid, and a cell is redrawn when any pixel whose area
// overlaps the cell is white (luminance >= 50%). Black cells are kept.
func MaskKeep(img image.Image, h, w int) []bool {
	b := img.Bounds()
	ih, iw := b.Dy(), b.Dx()
	keep := make([]bool, h*w)
	for i := range keep {
		keep[i] = true
	}
	for y := 0; y < ih; y++ {
		for x := 0; x < iw; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			// Rec. 601 luma on 16-bit channels.
			if 299*r+587*g+114*bl < 1000*0x8000 {
				continue
			}
			// Pixel y covers [y/ih, (y+1)/ih) of the height; cell rows
			// r0..r1 overlap it (integer form of floor/ceil).
			r0, r1 := y*h/ih, ((y+1)*h-1)/ih
			c0, c1 := x*w/iw, ((x+1)*w-1)/iw
			for cr := r0; cr <= r1; cr++ {
				for cc := c0; cc <= c1; cc++ {
					keep[cr*w+cc] = false
				}
			}
		}
	}
	return keep
}

// LoadMaskKeep reads a PNG, JPEG or GIF mask (white = redraw) and maps it
// with MaskKeep.
func LoadMaskKeep(path string, h, w int) ([]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mask: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("mask %s: not a PNG, JPEG or GIF image: %w", path, err)
	}
	if img.Bounds().Empty() {
		return nil, fmt.Errorf("mask %s: the image is empty", path)
	}
	return MaskKeep(img, h, w), nil
}
