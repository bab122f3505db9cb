package sampler

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// free lists the redrawn cells of a keep mask as "r,c" strings.
func freeCells(keep []bool, w int) string {
	var s []string
	for p, k := range keep {
		if !k {
			s = append(s, strings.Join([]string{itoa(p / w), itoa(p % w)}, ","))
		}
	}
	return strings.Join(s, " ")
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestRectAndPixelRect(t *testing.T) {
	cases := []struct {
		name   string
		s      string
		pixels bool
		want   string
		err    string
	}{
		{"one cell", "1,2,1,2", false, "1,2", ""},
		{"block", "0,1,1,2", false, "0,1 0,2 1,1 1,2", ""},
		{"pixels inside one cell", "4,4,7,7", true, "1,1", ""},
		{"pixels across cells", "3,0,4,4", true, "0,0 0,1 1,0 1,1", ""},
		{"rect outside", "0,0,3,1", false, "", "the grid is 3x3"},
		{"pixels outside", "0,0,12,1", true, "", "the image is 12x12 pixels"},
		{"reversed", "2,0,1,1", false, "", "r0 <= r1"},
		{"not numbers", "a,0,1,1", false, "", `"a" is not an integer`},
		{"three numbers", "0,0,1", false, "", "four comma-separated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseRect("rect", c.s)
			var keep []bool
			if err == nil {
				if c.pixels {
					keep, err = PixelRectKeep("pixel-rect", r, 3, 3, 4)
				} else {
					keep, err = RectKeep("rect", r, 3, 3)
				}
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := freeCells(keep, 3); got != c.want {
				t.Errorf("redrawn %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseKeepList(t *testing.T) {
	cases := []struct{ s, want, err string }{
		{"0,0;2,2", "0,1 0,2 1,0 1,1 1,2 2,0 2,1", ""},
		{" 1,1 ; ", "0,0 0,1 0,2 1,0 1,2 2,0 2,1 2,2", ""},
		{"1,3", "", "cell 1,3 is outside the 3x3 grid"},
		{"1", "", `cell "1" is not "row,col"`},
		{"1,x", "", "is not two integers"},
	}
	for _, c := range cases {
		keep, err := ParseKeepList("keep", c.s, 3, 3)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "keep ") {
				t.Errorf("%q: err %v, want one starting with the option name keep and containing %q", c.s, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := freeCells(keep, 3); got != c.want {
			t.Errorf("%q: redrawn %q, want %q", c.s, got, c.want)
		}
	}
}

func TestMaskKeep(t *testing.T) {
	white := color.Gray{255}
	cases := []struct {
		name     string
		iw, ih   int
		whitePix [][2]int // x, y
		// A pixel covers [x/iw, (x+1)/iw) of the width, a cell
		// [c/w, (c+1)/w); every cell with a positive overlap is redrawn.
		want string
		h, w int
	}{
		{"28px mask, one pixel", 28, 28, [][2]int{{5, 9}}, "2,1", 7, 7},
		{"28px mask, block edge", 28, 28, [][2]int{{3, 3}, {4, 4}}, "0,0 1,1", 7, 7},
		{"mask smaller than grid", 2, 2, [][2]int{{1, 0}}, "0,3 0,4 0,5 0,6 1,3 1,4 1,5 1,6 2,3 2,4 2,5 2,6 3,3 3,4 3,5 3,6", 7, 7},
		{"odd size", 3, 3, [][2]int{{1, 1}}, "1,1 1,2 1,3 2,1 2,2 2,3 3,1 3,2 3,3", 5, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := image.NewGray(image.Rect(0, 0, c.iw, c.ih))
			for _, p := range c.whitePix {
				img.Set(p[0], p[1], white)
			}
			got := freeCells(MaskKeep(img, c.h, c.w), c.w)
			if got != c.want {
				t.Errorf("redrawn %q, want %q", got, c.want)
			}
		})
	}
}

func TestLoadMaskKeep(t *testing.T) {
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 14, 14))
	img.Set(13, 0, color.Gray{200})
	path := filepath.Join(dir, "m.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	keep, err := LoadMaskKeep(path, 7, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := freeCells(keep, 7); got != "0,6" {
		t.Errorf("redrawn %q, want \"0,6\"", got)
	}
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing.png")} {
		if _, err := LoadMaskKeep(p, 7, 7); err == nil || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: err %v, want one naming the file", p, err)
		}
	}
}
