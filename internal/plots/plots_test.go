package plots

import (
	"errors"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func curve(n int, f func(i int) float64) Series {
	s := Series{X: make([]float64, n), Y: make([]float64, n)}
	for i := range n {
		s.X[i] = float64(i * 25)
		s.Y[i] = f(i)
	}
	return s
}

func TestLinePNG(t *testing.T) {
	train := curve(40, func(i int) float64 { return 1 / float64(i+1) })
	train.Name = "train"
	val := curve(8, func(i int) float64 { return 1.2 / float64(5*i+1) })
	val.Name = "val"
	bad := curve(10, func(i int) float64 { return float64(i) - 2 }) // y <= 0 for i <= 2
	bad.Y[5] = math.NaN()
	bad.Name = "shifted"
	tests := []struct {
		name string
		opt  Options
		ser  []Series
		w, h int
	}{
		{"default size", Options{}, []Series{train, val}, 800, 500},
		{"log y, odd size", Options{LogY: true, Width: 641, Height: 333}, []Series{train, val, bad}, 641, 333},
		{"linear with NaN", Options{Width: 300, Height: 200}, []Series{bad}, 300, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "loss.png")
			if err := LinePNG(path, "VQ-VAE loss", "step", "loss", tt.ser, tt.opt); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
			// Something was drawn: a plot is far from a blank page, and the
			// first series' colour appears.
			dark, coloured := 0, 0
			for y := 0; y < tt.h; y++ {
				for x := 0; x < tt.w; x++ {
					r, g, b, _ := img.At(x, y).RGBA()
					if r < 0x8000 && g < 0x8000 && b < 0x8000 {
						dark++
					}
					if max(r, g, b)-min(r, g, b) > 0x4000 {
						coloured++
					}
				}
			}
			if dark < 500 || coloured < 100 {
				t.Errorf("looks blank: %d dark, %d coloured pixels", dark, coloured)
			}
		})
	}
}

func TestLinePNGErrors(t *testing.T) {
	dir := t.TempDir()
	ok := Series{Name: "a", X: []float64{0, 1}, Y: []float64{1, 2}}
	tests := []struct {
		name string
		ser  []Series
		opt  Options
		want string
	}{
		{"length mismatch", []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1}}}, Options{}, `series "a": 2 x values but 1 y values`},
		{"nothing to draw", []Series{{Name: "a", X: []float64{1}, Y: []float64{-1}}}, Options{LogY: true}, "no series has a point"},
		{"no series", nil, Options{}, "no series has a point"},
		{"too small", []Series{ok}, Options{Width: 10, Height: 10}, "size 10x10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "p.png")
			err := LinePNG(path, "t", "x", "y", tt.ser, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("want %q naming %s, got %v", tt.want, path, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file was left behind: %v", err)
			}
		})
	}
	path := filepath.Join(dir, "keep.png")
	os.WriteFile(path, []byte("x"), 0o644)
	if err := LinePNG(path, "t", "x", "y", []Series{ok}, Options{NoOverwrite: true}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("NoOverwrite: %v", err)
	}
	if err := LinePNG(path, "t", "x", "y", []Series{ok}, Options{}); err != nil {
		t.Errorf("overwrite: %v", err)
	}
}

func TestHistogramPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.png")
	counts := make([]float64, 512)
	for i := range counts {
		counts[i] = float64(i % 37)
	}
	if err := HistogramPNG(path, "usage", "code", "count", counts, Options{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 400 {
		t.Fatalf("size %v, want 1000x400", b)
	}
	if err := HistogramPNG(path, "", "", "", nil, Options{}); err == nil {
		t.Fatal("empty histogram accepted")
	}
}
