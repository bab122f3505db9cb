package datasets

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestImage(t testing.TB, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
}

func uniform(w, h int, c color.Color) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, c)
		}
	}
	return m
}

func TestReadImageColours(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name     string
		img      image.Image
		channels int
		want     []float64 // per channel
		tol      float64
	}{
		{"red.png", uniform(10, 6, color.NRGBA{255, 0, 0, 255}), 3, []float64{1, 0, 0}, 1e-6},
		{"red-gray.png", uniform(10, 6, color.NRGBA{255, 0, 0, 255}), 1, []float64{0.299}, 1e-6},
		{"half-alpha.png", uniform(5, 5, color.NRGBA{255, 255, 255, 128}), 1, []float64{128.0 / 255}, 1e-3},
		{"gray.png", uniform(3, 7, color.Gray{51}), 1, []float64{0.2}, 1e-6},
		{"blue.jpg", uniform(16, 16, color.NRGBA{0, 0, 255, 255}), 3, []float64{0, 0, 1}, 0.03},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		writeTestImage(t, p, c.img)
		for _, size := range []int{1, 4, 9} {
			got, err := ReadImage(p, size, c.channels)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.channels*size*size {
				t.Fatalf("%s size %d: %d values", c.name, size, len(got))
			}
			for i, v := range got {
				if w := c.want[i/(size*size)]; math.Abs(float64(v)-w) > c.tol {
					t.Fatalf("%s size %d: value %d = %g, want %g", c.name, size, i, v, w)
				}
			}
		}
	}
}

// A horizontal ramp survives resizing as a ramp, and the centre crop of a
// wide image keeps its middle: left and right quarters are cut off.
func TestResizeCrop(t *testing.T) {
	// 40x10 image: left quarter black, middle half a ramp, right quarter white.
	w, h := 40, 10
	src := make([]float32, w*h)
	for y := range h {
		for x := range w {
			v := float32(0)
			switch {
			case x >= 30:
				v = 1
			case x >= 10:
				v = float32(x-10) / 20
			}
			src[y*w+x] = v
		}
	}
	dst := make([]float32, 5*5)
	resizeCrop(src, 1, w, h, 5, dst)
	// The 40x10 image scales to 20x5 (scale 2) and the crop starts at scaled
	// column (20-5)/2 = 7, so output column i is centred on source
	// u = 2(i+7+0.5)-0.5, 14.5..22.5: inside the ramp, where the symmetric
	// triangle weights reproduce the ramp exactly.
	for y := range 5 {
		for x := range 5 {
			u := (float64(x+7)+0.5)*2 - 0.5
			want := (u - 10) / 20
			if got := float64(dst[y*5+x]); math.Abs(got-want) > 1e-5 {
				t.Fatalf("(%d,%d) = %g, want %g", x, y, got, want)
			}
		}
	}
	// Identity size: the image comes back unchanged.
	id := make([]float32, h*h)
	sqImg := make([]float32, h*h)
	for y := range h {
		copy(sqImg[y*h:(y+1)*h], src[y*w+10:y*w+20])
	}
	resizeCrop(sqImg, 1, h, h, h, id)
	for i := range sqImg {
		if math.Abs(float64(id[i]-sqImg[i])) > 1e-6 {
			t.Fatalf("identity resize changed pixel %d: %g -> %g", i, sqImg[i], id[i])
		}
	}
}

// makeFolder writes n images per class (or unlabelled when classes is nil),
// each uniform with a gray level that identifies it.
func makeFolder(t testing.TB, classes []string, n int) string {
	dir := t.TempDir()
	for ci, cl := range append([]string{}, classes...) {
		for i := range n {
			writeTestImage(t, filepath.Join(dir, cl, "img"+itoa(i)+".png"), uniform(8, 6, color.Gray{uint8(ci * 40)}))
		}
	}
	if len(classes) == 0 {
		for i := range n {
			writeTestImage(t, filepath.Join(dir, "img"+itoa(i)+".png"), uniform(8, 6, color.Gray{uint8(i)}))
		}
	}
	return dir
}

func itoa(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func TestImageFolder(t *testing.T) {
	classes := []string{"zebra", "cat", "dog"}
	dir := makeFolder(t, classes, 40)
	// Noise that must be skipped.
	os.WriteFile(filepath.Join(dir, "cat", "notes.txt"), []byte("x"), 0o644)
	writeTestImage(t, filepath.Join(dir, ".cache", "x.png"), uniform(2, 2, color.Gray{1}))
	writeTestImage(t, filepath.Join(dir, "dog", "deeper", "d.png"), uniform(2, 3, color.Gray{80}))

	train, err := Load("images:"+dir+":train", Options{Size: 4, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	test, err := Load("images:"+dir+":test", Options{Size: 4, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if train.N+test.N != 121 || test.N == 0 || test.N > 25 {
		t.Fatalf("split %d train + %d test, want 121 with about 10%% test", train.N, test.N)
	}
	if train.C != 3 || train.H != 4 || train.W != 4 || train.Classes != 3 {
		t.Fatalf("shape %dx%dx%d, %d classes", train.C, train.H, train.W, train.Classes)
	}
	if strings.Join(train.ClassNames, ",") != "cat,dog,zebra" {
		t.Fatalf("class names %v, want sorted", train.ClassNames)
	}
	// Each image's gray level encodes its folder: cat 40, dog 80, zebra 0.
	want := []float32{40.0 / 255, 80.0 / 255, 0}
	for _, ds := range []*Dataset{train, test} {
		for i := range ds.N {
			l := ds.Labels[i]
			for _, v := range ds.Image(i) {
				if math.Abs(float64(v-want[l])) > 1e-6 {
					t.Fatalf("%s image %d (class %s): value %g, want %g", ds.Name, i, ds.ClassNames[l], v, want[l])
				}
			}
		}
	}
	// Adding files moves no existing file between splits.
	writeTestImage(t, filepath.Join(dir, "cat", "new1.png"), uniform(8, 6, color.Gray{40}))
	writeTestImage(t, filepath.Join(dir, "cat", "new2.png"), uniform(8, 6, color.Gray{40}))
	files, _, _, err := listImageDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	nTest := 0
	for _, f := range files {
		if IsTestFile(f) {
			nTest++
		}
	}
	added := 0
	for _, f := range []string{"cat/new1.png", "cat/new2.png"} {
		if IsTestFile(f) {
			added++
		}
	}
	if nTest != test.N+added {
		t.Fatalf("after adding 2 files the test split has %d files, want %d", nTest, test.N+added)
	}
}

func TestImageFolderUnlabelled(t *testing.T) {
	dir := makeFolder(t, nil, 30)
	ds, err := Load("images:"+dir+":train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Labels != nil || ds.Classes != 0 || ds.C != 1 || ds.H != 28 {
		t.Fatalf("labels %v, classes %d, C %d, H %d", ds.Labels, ds.Classes, ds.C, ds.H)
	}
}

func TestImageFolderErrors(t *testing.T) {
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("x"), 0o644)

	broken := makeFolder(t, nil, 30)
	os.WriteFile(filepath.Join(broken, "img"+itoa(3)+".png"), []byte("not a png"), 0o644)
	os.WriteFile(filepath.Join(broken, "zz-broken.jpg"), []byte("\xff\xd8\xff garbage"), 0o644)

	mixed := makeFolder(t, []string{"a", "b"}, 2)
	writeTestImage(t, filepath.Join(mixed, "loose.png"), uniform(2, 2, color.Gray{1}))

	emptyClass := makeFolder(t, []string{"a"}, 2)
	os.Mkdir(filepath.Join(emptyClass, "b"), 0o755)

	file := filepath.Join(empty, "readme.txt")
	cases := []struct {
		spec string
		opt  Options
		want []string
	}{
		{"images:" + empty + ":train", Options{}, []string{empty, "no PNG or JPEG images"}},
		{"images:" + broken + ":train", Options{}, []string{"img" + itoa(3) + ".png", "not a PNG or JPEG"}},
		{"images:" + broken + ":train", Options{Channels: 2}, []string{"channels 2"}},
		{"images:" + broken + ":train", Options{Size: -3}, []string{"size -3"}},
		{"images:" + mixed + ":train", Options{}, []string{"loose.png", "beside the class folders"}},
		{"images:" + emptyClass + ":train", Options{}, []string{`class folder "b"`}},
		{"images:" + filepath.Join(empty, "nope") + ":train", Options{}, []string{"nope"}},
		{"images:" + file + ":train", Options{}, []string{"readme.txt", "not a folder"}},
	}
	for _, c := range cases {
		_, err := Load(c.spec, c.opt)
		if err == nil {
			t.Fatalf("%s: no error", c.spec)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.spec, err, w)
			}
		}
	}
	if _, err := ReadImage(filepath.Join(broken, "zz-broken.jpg"), 8, 1); err == nil || !strings.Contains(err.Error(), "zz-broken.jpg") {
		t.Errorf("ReadImage on a broken JPEG: %v", err)
	}
	if _, err := ReadImage(filepath.Join(broken, "img"+itoa(0)+".png"), 0, 1); err == nil {
		t.Error("ReadImage with size 0 succeeded")
	}
}

// A split that gets no files is an error, not an empty dataset.
func TestImageFolderEmptySplit(t *testing.T) {
	dir := t.TempDir()
	// Find one name that hashes to train.
	name := ""
	for i := 0; name == ""; i++ {
		if n := "f" + itoa(i) + ".png"; !IsTestFile(n) {
			name = n
		}
	}
	writeTestImage(t, filepath.Join(dir, name), uniform(3, 3, color.Gray{9}))
	if _, err := Load("images:"+dir+":test", Options{}); err == nil || !strings.Contains(err.Error(), "test split") {
		t.Fatalf("empty test split: %v", err)
	}
}
