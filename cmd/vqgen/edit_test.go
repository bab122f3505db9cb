package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/datasets"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

func editFlagsFor(run, out string) *editFlags {
	f := &editFlags{vq: filepath.Join(run, "vqvae.safetensors"), prior: filepath.Join(run, "prior.safetensors"),
		data: "mnist:test", index: 3, n: 4, out: out + ".png", codes: out + ".vqc"}
	f.temperature, f.topP, f.seed, f.class = 1, 1, 5, -1
	return f
}

// writeMask writes a 28x28 mask, white where white(x, y).
func writeMask(t *testing.T, path string, white func(x, y int) bool) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for y := range 28 {
		for x := range 28 {
			if white(x, y) {
				img.SetGray(x, y, color.Gray{255})
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestEditKeepsFixedCells(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	mask := filepath.Join(tmp, "bottom-mask.png")
	writeMask(t, mask, func(x, y int) bool { return y >= 20 }) // bottom rows 5 and 6
	m, _, err := vqvae.Load(filepath.Join(run, "vqvae.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	orig := encodeOne(m, test.Image(3))
	cases := []struct {
		name   string
		set    func(*editFlags)
		redraw func(r, c int) bool
	}{
		{"cells gibbs", func(f *editFlags) { f.cells = "1,2,3,4" }, func(r, c int) bool { return r >= 1 && r <= 3 && c >= 2 && c <= 4 }},
		{"cells raster top-k", func(f *editFlags) { f.cells = "2,2,4,4"; f.method = "raster"; f.topK = 5 }, func(r, c int) bool { return r >= 2 && r <= 4 && c >= 2 && c <= 4 }},
		// x 0..7 is columns 0 and 1; y 20..27 is rows 5 and 6.
		{"pixels", func(f *editFlags) { f.pixels = "0,20,7,27" }, func(r, c int) bool { return r >= 5 && c <= 1 }},
		{"mask", func(f *editFlags) { f.mask = mask }, func(r, c int) bool { return r >= 5 }},
		{"keep", func(f *editFlags) { f.keep = "0,0;3,3;6,6" }, func(r, c int) bool { return !(r == c && r%3 == 0) }},
		{"image with class", func(f *editFlags) {
			p := filepath.Join(tmp, "digit.png")
			if err := datasets.WritePNG(p, test.Image(3), 1, 28, 28); err != nil {
				t.Fatal(err)
			}
			f.data, f.image, f.class, f.cells = "", p, 0, "0,0,6,2"
		}, func(r, c int) bool { return c <= 2 }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(tmp, strings.ReplaceAll(c.name, " ", "-"))
			f := editFlagsFor(run, out)
			c.set(f)
			f.seed = uint64(i + 1)
			cmd, buf := testCmd()
			if err := runEdit(cmd, f); err != nil {
				t.Fatalf("%v\n%s", err, buf)
			}
			if _, err := os.Stat(f.out); err != nil {
				t.Fatal(err)
			}
			grids, labels, h := readCodes(t, f.codes)
			if h.Count != int64(f.n) {
				t.Fatalf("%d edited grids, want %d", h.Count, f.n)
			}
			want := int32(test.Labels[3])
			if f.class >= 0 {
				want = int32(f.class)
			}
			moved := false
			for e := 0; e < f.n; e++ {
				if labels[e] != want {
					t.Errorf("edit %d has class %d, want %d", e, labels[e], want)
				}
				for p := 0; p < 49; p++ {
					got := int32(grids[e*49+p])
					if !c.redraw(p/7, p%7) {
						if got != orig[p] {
							t.Errorf("edit %d: kept cell (%d,%d) changed from %d to %d", e, p/7, p%7, orig[p], got)
						}
					} else if got != orig[p] {
						moved = true
					}
				}
			}
			if !moved {
				t.Errorf("no redrawn cell of any edit differs from the original")
			}
		})
	}
}

func TestEditErrors(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	cases := []struct {
		name string
		set  func(*editFlags)
		want string
	}{
		{"no selector", func(f *editFlags) {}, "one of --cells"},
		{"two selectors", func(f *editFlags) { f.cells = "0,0,1,1"; f.keep = "0,0" }, "--cells and --keep"},
		{"cells outside", func(f *editFlags) { f.cells = "0,0,7,7" }, "--cells"},
		{"gibbs top-k", func(f *editFlags) { f.cells = "0,0,1,1"; f.method = "gibbs"; f.topK = 3 }, "--method raster"},
		{"bad method", func(f *editFlags) { f.cells = "0,0,1,1"; f.method = "icm" }, `--method "icm"`},
		{"image needs class", func(f *editFlags) { f.cells = "0,0,1,1"; f.data = ""; f.image = filepath.Join(run, "samples.png") }, "--class"},
		{"image and data", func(f *editFlags) { f.cells = "0,0,1,1"; f.image = "x.png" }, "not both"},
		{"index out of range", func(f *editFlags) { f.cells = "0,0,1,1"; f.index = 10000 }, "--index 10000"},
		{"keep all", func(f *editFlags) {
			var cells []string
			for p := range 49 {
				cells = append(cells, string(rune('0'+p/7))+","+string(rune('0'+p%7)))
			}
			f.keep = strings.Join(cells, ";")
		}, "nothing to redraw"},
		{"missing mask", func(f *editFlags) { f.mask = filepath.Join(tmp, "none.png") }, "none.png"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := editFlagsFor(run, filepath.Join(tmp, "e"))
			c.set(f)
			cmd, _ := testCmd()
			err := runEdit(cmd, f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
