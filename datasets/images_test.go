package datasets

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
		{"red-gray.png", uniform(10, 6, color.NRGBA{255, 0, 0, 255}), 1, []float64{0.299}, 0.5 / 255},
		{"half-alpha.png", uniform(5, 5, color.NRGBA{0, 0, 0, 128}), 1, []float64{127.0 / 255}, 1e-6},
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
	// 40x10 16-bit image: left quarter black, middle half a ramp, right
	// quarter white.
	w, h := 40, 10
	ramp := func(x int) float64 {
		switch {
		case x >= 30:
			return 1
		case x >= 10:
			return float64(x-10) / 20
		}
		return 0
	}
	src := image.NewGray16(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			src.SetGray16(x, y, color.Gray16{uint16(math.Round(ramp(x) * 0xffff))})
		}
	}
	// The 40x10 image scales to 20x5 (scale 2) and the crop starts at scaled
	// column (20-5)/2 = 7, so output column i is centred on source
	// u = 2(i+7+0.5)-0.5, 14.5..22.5: inside the ramp, where the symmetric
	// triangle weights reproduce the ramp exactly, up to the final rounding
	// to 8 bits.
	got := Render(src, 5, 1)
	for y := range 5 {
		for x := range 5 {
			u := (float64(x+7)+0.5)*2 - 0.5
			want := math.Round((u-10)/20*255) / 255
			if g := float64(got[y*5+x]); math.Abs(g-want) > 1e-6 {
				t.Fatalf("(%d,%d) = %g, want %g", x, y, g, want)
			}
		}
	}
	// Identity size: an 8-bit image comes back unchanged.
	sq := image.NewGray(image.Rect(0, 0, h, h))
	for i := range sq.Pix {
		sq.Pix[i] = uint8(i * 7)
	}
	id := Render(sq, h, 1)
	for i, v := range sq.Pix {
		if id[i] != u8ToUnit[v] {
			t.Fatalf("identity resize changed pixel %d: %d -> %g", i, v, id[i]*255)
		}
	}
	// A sub-image (as a crop tool makes) is rendered from its own bounds.
	sub := src.SubImage(image.Rect(10, 0, 20, 10))
	got = Render(sub, 10, 1)
	for x := range 10 {
		if want := math.Round(ramp(10+x)*255) / 255; math.Abs(float64(got[x])-want) > 1e-6 {
			t.Fatalf("sub-image column %d = %g, want %g", x, got[x], want)
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
	list, err := listImageDir(dir, LabelsFolders)
	if err != nil {
		t.Fatal(err)
	}
	nTest := 0
	for _, f := range list.files {
		if IsTestFile(f.rel) {
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

// images:DIR names every image of a folder; its train and test splits
// partition it; keys are the relative paths in byte order; LabelsNone
// ignores class folders and takes images at any depth.
func TestWholeFolderSpec(t *testing.T) {
	dir := makeFolder(t, []string{"b-day", "a"}, 20)
	all, err := Load("images:"+dir, Options{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	train, _ := Load("images:"+dir+":train", Options{Size: 4})
	test, _ := Load("images:"+dir+":test", Options{Size: 4})
	if all.N != 40 || train.N+test.N != 40 || all.Name != "images:"+dir {
		t.Fatalf("whole folder %d images (%q), splits %d + %d", all.N, all.Name, train.N, test.N)
	}
	if all.Classes != 2 || all.ClassNames[0] != "a" || all.Labels[0] != 0 || all.Labels[39] != 1 {
		t.Fatalf("classes %v, labels %d..%d", all.ClassNames, all.Labels[0], all.Labels[39])
	}
	if !slices.IsSorted(all.Keys) || all.Keys[0] != "a/img"+itoa(0)+".png" || len(all.Keys) != all.N {
		t.Fatalf("keys %v... not the sorted relative paths", all.Keys[:3])
	}
	for i, k := range train.Keys {
		if IsTestFile(k) || !slices.Contains(all.Keys, k) {
			t.Fatalf("train key %d %q", i, k)
		}
		if !slices.Equal(train.Image(i), all.Image(slices.Index(all.Keys, k))) {
			t.Fatalf("train image %q differs from the whole folder's", k)
		}
	}
	// Byte order, not the walk's order: "a.png" < "a/..." since '.' < '/'.
	writeTestImage(t, filepath.Join(dir, "a.png"), uniform(3, 3, color.Gray{5}))
	writeTestImage(t, filepath.Join(dir, "a", "deep", "er", "x.png"), uniform(3, 3, color.Gray{6}))
	if _, err := Load("images:"+dir, Options{Size: 4}); err == nil || !strings.Contains(err.Error(), `data.labels = "none"`) {
		t.Fatalf("loose image beside class folders: %v", err)
	}
	none, err := Load("images:"+dir, Options{Size: 4, Labels: LabelsNone})
	if err != nil {
		t.Fatal(err)
	}
	if none.N != 42 || none.Labels != nil || none.Classes != 0 || none.Keys[0] != "a.png" || !slices.Contains(none.Keys, "a/deep/er/x.png") {
		t.Fatalf("labels none: %d images, labels %v, keys %v", none.N, none.Labels != nil, none.Keys[:2])
	}
	if !slices.IsSorted(none.Keys) {
		t.Fatal("keys not in byte order")
	}
	if _, err := Load("images:"+dir, Options{Labels: "dates"}); err == nil || !strings.Contains(err.Error(), `labels "dates"`) {
		t.Fatalf("bad labels mode: %v", err)
	}
}

// Decoding reports its progress from one goroutine at a time, in
// increasing steps, ending at the total.
func TestDecodeProgress(t *testing.T) {
	dir := makeFolder(t, nil, 60)
	var calls [][2]int
	var active atomic.Int32
	ds, err := Load("images:"+dir, Options{Size: 4, Progress: func(done, total int) {
		if active.Add(1) != 1 {
			t.Error("progress called concurrently")
		}
		calls = append(calls, [2]int{done, total})
		active.Add(-1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 || calls[0] != [2]int{0, 60} || calls[len(calls)-1] != [2]int{60, 60} {
		t.Fatalf("progress calls %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] <= calls[i-1][0] {
			t.Fatalf("progress went %v", calls)
		}
	}
	// Image i of the unlabelled folder is uniform grey i.
	for i := range ds.N {
		if ds.Pix8[i*16] != uint8(i) {
			t.Fatalf("image %d (%s) is grey %d", i, ds.Keys[i], ds.Pix8[i*16])
		}
	}
}

// The decoded cache is used when the files are unchanged, and never trusted
// when a file's size or time changed or the cache itself is damaged.
func TestDecodedCache(t *testing.T) {
	dir := makeFolder(t, nil, 30)
	// The decoder ignores bytes after a PNG's end: padding every file
	// leaves room to swap one for another image of the same byte size.
	all, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, p := range all {
		os.WriteFile(p, append(mustRead(t, p), make([]byte, 256)...), 0o644)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	opt := Options{Size: 4, Channels: 3, CacheDir: cache}
	first, err := Load("images:"+dir+":train", opt)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.pixels"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	// Change a file's pixels but keep its size and time: a cache hit
	// returns the old pixels, which shows the cache was read.
	victim := filepath.Join(dir, first.Keys[0])
	st, _ := os.Stat(victim)
	orig := mustRead(t, victim)
	writeTestImage(t, victim, uniform(8, 6, color.Gray{200}))
	swapped := mustRead(t, victim)
	if len(swapped) > len(orig) {
		t.Fatalf("the grey-200 PNG is %d bytes, the original %d: pad the original instead", len(swapped), len(orig))
	}
	os.WriteFile(victim, append(swapped, make([]byte, len(orig)-len(swapped))...), 0o644)
	os.Chtimes(victim, st.ModTime(), st.ModTime())
	hit, err := Load("images:"+dir+":train", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hit.Pix8, first.Pix8) {
		t.Fatal("unchanged listing did not read the cache")
	}
	// A damaged cache is rebuilt: the changed file shows.
	b := mustRead(t, files[0])
	b[len(b)/2] ^= 1
	os.WriteFile(files[0], b, 0o644)
	rebuilt, err := Load("images:"+dir+":train", opt)
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt.Pix8[0] != 200 {
		t.Fatalf("damaged cache trusted: first pixel %d, want 200", rebuilt.Pix8[0])
	}
	// A changed time makes the cache stale.
	writeTestImage(t, victim, uniform(8, 6, color.Gray{100}))
	os.Chtimes(victim, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	stale, err := Load("images:"+dir+":train", opt)
	if err != nil {
		t.Fatal(err)
	}
	if stale.Pix8[0] != 100 {
		t.Fatalf("stale cache trusted: first pixel %d, want 100", stale.Pix8[0])
	}
	// Another size or channel count is another cache file; all give the
	// same pixels as decoding without a cache.
	for _, o := range []Options{{Size: 5, Channels: 1, CacheDir: cache}, {Size: 5, Channels: 1, CacheDir: cache}} {
		c, err := Load("images:"+dir+":train", o)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := Load("images:"+dir+":train", Options{Size: 5, Channels: 1})
		if !slices.Equal(c.Pix8, plain.Pix8) {
			t.Fatal("cached pixels differ from decoded ones")
		}
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "*.pixels")); len(files) != 2 {
		t.Fatalf("cache files %v, want one per size", files)
	}
}
