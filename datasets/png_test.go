package datasets

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

func TestWriteGridPNG(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		c, n, cols  int
		wantW, want int // grid width and height for 3x2 (h x w) tiles
	}{
		{1, 5, 3, 3*2 + 2*GridGap, 2*3 + GridGap},
		{3, 2, 4, 2*2 + GridGap, 3},
		{1, 1, 1, 2, 3},
	}
	for k, c := range cases {
		const h, w = 3, 2
		imgs := make([][]float32, c.n)
		for i := range imgs {
			imgs[i] = make([]float32, c.c*h*w)
			for j := range imgs[i] {
				imgs[i][j] = float32(i) / float32(c.n) // tile i is uniform
			}
		}
		imgs[0][0] = 7                   // clamps to 1
		imgs[0][1] = float32(math.NaN()) // shows as 0
		imgs[0][2] = -3                  // clamps to 0
		path := filepath.Join(dir, "grid"+itoa(k)+".png")
		if err := WriteGridPNG(path, imgs, c.c, h, w, c.cols); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(path)
		m, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		b := m.Bounds()
		if b.Dx() != c.wantW || b.Dy() != c.want {
			t.Fatalf("case %d: grid %dx%d, want %dx%d", k, b.Dx(), b.Dy(), c.wantW, c.want)
		}
		cols := min(c.cols, c.n)
		for i := range c.n {
			ox, oy := (i%cols)*(w+GridGap), (i/cols)*(h+GridGap)
			want := uint32(math.Round(float64(i) / float64(c.n) * 255))
			for y := range h {
				for x := range w {
					r, g, bl, _ := m.At(ox+x, oy+y).RGBA()
					exp := want
					if i == 0 && y == 0 && x == 0 && c.c == 1 {
						exp = 255
					}
					if i == 0 && c.c == 3 && y == 0 && x == 0 {
						// channel 0 pixel 0 = 7 -> 255, pixel (0,1) is NaN, pixel (1,0) is -3
						if r>>8 != 255 {
							t.Fatalf("case %d: clamped red = %d", k, r>>8)
						}
						continue
					}
					if i == 0 && (y*w+x == 1 || y*w+x == 2) {
						exp = 0
						if c.c == 3 {
							if r>>8 != 0 {
								t.Fatalf("case %d: NaN/negative red = %d", k, r>>8)
							}
							continue
						}
					}
					if r>>8 != exp || g>>8 != exp || bl>>8 != exp {
						t.Fatalf("case %d tile %d (%d,%d): rgb %d %d %d, want %d", k, i, x, y, r>>8, g>>8, bl>>8, exp)
					}
				}
			}
		}
		if c.n > 1 {
			if r, _, _, _ := m.At(w, 0).RGBA(); r>>8 != gridGapValue {
				t.Fatalf("case %d: gap pixel %d, want %d", k, r>>8, gridGapValue)
			}
		}
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".png") || strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("left over %s", e.Name())
		}
	}
}

func TestGridErrors(t *testing.T) {
	dir := t.TempDir()
	good := [][]float32{make([]float32, 4)}
	cases := []struct {
		name    string
		imgs    [][]float32
		c, cols int
		want    string
	}{
		{"none", nil, 1, 1, "no images"},
		{"channels", good, 2, 1, "2 channels"},
		{"cols", good, 1, 0, "0 columns"},
		{"size", [][]float32{make([]float32, 3)}, 1, 1, "image 0 has 3 values"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".png")
		err := WriteGridPNG(p, c.imgs, c.c, 2, 2, c.cols)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want it to name %s and say %q", c.name, err, p, c.want)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s: file written despite the error", c.name)
		}
	}
	if err := WriteGridPNG(filepath.Join(dir, "no", "such", "dir.png"), good, 1, 2, 2, 1); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// A tensor written as PNG and read back with ReadImage at its own size
// comes back to within 8-bit rounding.
func TestPNGRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rng := nn.NewRNG(3)
	for _, c := range []int{1, 3} {
		x := nn.NewTensor(2, c, 5, 7)
		rng.Uniform(x.Data, 0, 1)
		img := x.Data[:c*35]
		p := filepath.Join(dir, "one"+itoa(c)+".png")
		if err := WritePNG(p, img, c, 5, 7); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := EncodePNG(&buf, img, c, 5, 7); err != nil {
			t.Fatal(err)
		}
		if disk, _ := os.ReadFile(p); !bytes.Equal(disk, buf.Bytes()) {
			t.Fatal("WritePNG and EncodePNG disagree")
		}
		cfg, _ := png.DecodeConfig(bytes.NewReader(buf.Bytes()))
		if cfg.Width != 7 || cfg.Height != 5 {
			t.Fatalf("PNG is %dx%d", cfg.Width, cfg.Height)
		}
		// ReadImage crops to a square: compare the central 5x5.
		back, err := ReadImage(p, 5, c)
		if err != nil {
			t.Fatal(err)
		}
		for ch := range c {
			for y := range 5 {
				for xx := range 5 {
					got, want := back[ch*25+y*5+xx], img[ch*35+y*7+xx+1]
					if math.Abs(float64(got-want)) > 0.5/255+1e-6 {
						t.Fatalf("c=%d (%d,%d,%d): %g, want %g", c, ch, y, xx, got, want)
					}
				}
			}
		}
		if err := WriteTensorGridPNG(filepath.Join(dir, "t.png"), x, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteTensorGridPNG(filepath.Join(dir, "bad.png"), nn.NewTensor(2, 3), 1); err == nil {
		t.Error("a 2-D tensor was written as a grid")
	}
}
