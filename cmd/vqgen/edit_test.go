package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/datasets"
)

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

func edit(t *testing.T, run, out string, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"edit", "--data", "mnist:test", "--index", "3", "--n", "4", "--out", out + ".png", "--out-codes", out + ".vqc"}, models(run)...)
	return vqgen(t, append(all, args...)...)
}

func TestEditKeepsFixedCells(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	mask := filepath.Join(tmp, "bottom-mask.png")
	writeMask(t, mask, func(x, y int) bool { return y >= 20 }) // bottom rows 5 and 6
	v, err := app.LoadVQVAE(filepath.Join(run, "vqvae.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := v.Encode([][]float32{test.Image(3)})
	if err != nil {
		t.Fatal(err)
	}
	digit := filepath.Join(tmp, "digit.png")
	if err := datasets.WritePNG(digit, test.Image(3), 1, 28, 28); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		class  int32
		redraw func(r, c int) bool
	}{
		{"cells gibbs", []string{"--cells", "1,2,3,4", "--method", "gibbs"}, -1, func(r, c int) bool { return r >= 1 && r <= 3 && c >= 2 && c <= 4 }},
		{"cells raster top-k", []string{"--cells", "2,2,4,4", "--method", "raster", "--top-k", "5"}, -1, func(r, c int) bool { return r >= 2 && r <= 4 && c >= 2 && c <= 4 }},
		// x 0..7 is columns 0 and 1; y 20..27 is rows 5 and 6.
		{"pixels", []string{"--pixels", "0,20,7,27"}, -1, func(r, c int) bool { return r >= 5 && c <= 1 }},
		{"mask", []string{"--mask", mask}, -1, func(r, c int) bool { return r >= 5 }},
		{"keep", []string{"--keep", "0,0;3,3;6,6"}, -1, func(r, c int) bool { return !(r == c && r%3 == 0) }},
		{"image with class", []string{"--data", "", "--image", digit, "--class", "0", "--cells", "0,0,6,2"}, 0, func(r, c int) bool { return c <= 2 }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(tmp, strings.ReplaceAll(c.name, " ", "-"))
			if msg, err := edit(t, run, out, append(c.args, "--seed", fmt.Sprint(i+1))...); err != nil {
				t.Fatalf("%v\n%s", err, msg)
			}
			if _, err := os.Stat(out + ".png"); err != nil {
				t.Fatal(err)
			}
			grids, labels, h := readCodes(t, out+".vqc")
			if h.Count != 4 {
				t.Fatalf("%d edited grids, want 4", h.Count)
			}
			want := test.Labels[3]
			if c.class >= 0 {
				want = c.class
			}
			moved := false
			for e := 0; e < 4; e++ {
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

func TestEditErrorsNameTheFlag(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	var all []string
	for p := range 49 {
		all = append(all, fmt.Sprintf("%d,%d", p/7, p%7))
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no selector", nil, "one of cells, pixels, mask or keep"},
		{"two selectors", []string{"--cells", "0,0,1,1", "--keep", "0,0"}, "--cells and keep each choose the cells"},
		{"cells outside", []string{"--cells", "0,0,7,7"}, "--cells 0,0,7,7: the grid is 7x7"},
		{"gibbs top-k", []string{"--cells", "0,0,1,1", "--method", "gibbs", "--top-k", "3"}, "--top-k 3 with top-p"},
		{"bad method", []string{"--cells", "0,0,1,1", "--method", "icm"}, `--method "icm"`},
		{"image needs class", []string{"--cells", "0,0,1,1", "--data", "", "--image", filepath.Join(run, "samples.png")}, "--class -1: the prior is class-conditional"},
		{"image and data", []string{"--cells", "0,0,1,1", "--image", "x.png"}, "--image and data both given"},
		{"index out of range", []string{"--cells", "0,0,1,1", "--index", "10000"}, "--index 10000"},
		{"keep all", []string{"--keep", strings.Join(all, ";")}, "nothing to redraw"},
		{"missing mask", []string{"--mask", filepath.Join(tmp, "none.png")}, "none.png"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := edit(t, run, filepath.Join(tmp, "e"), c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
