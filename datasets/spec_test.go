package datasets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	cases := []struct {
		in   string
		want Spec
		err  string
	}{
		{"mnist:train", Spec{"mnist", "", "train"}, ""},
		{"mnist:test", Spec{"mnist", "", "test"}, ""},
		{"idx:data/mnist:test", Spec{"idx", "data/mnist", "test"}, ""},
		{`images:C:\pics:train`, Spec{"images", `C:\pics`, "train"}, ""},
		{"images:a:b:c:train", Spec{"images", "a:b:c", "train"}, ""},
		{"images:photos/2024", Spec{"images", "photos/2024", ""}, ""},
		{"images:train", Spec{"images", "train", ""}, ""},
		{"images:photos:val", Spec{}, `unknown split "val"`},
		{"images:", Spec{}, "empty folder"},
		{"mnist", Spec{}, "no split"},
		{"mnist:val", Spec{}, `unknown split "val"`},
		{"mnist:dir:train", Spec{}, "mnist takes no folder"},
		{"idx:train", Spec{}, "needs a folder"},
		{"images::train", Spec{}, "empty folder"},
		{"cifar:train", Spec{}, `unknown kind "cifar"`},
		{"", Spec{}, "no split"},
	}
	for _, c := range cases {
		got, err := ParseSpec(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), SpecForms) || !strings.Contains(err.Error(), `"`+c.in+`"`) {
				t.Errorf("ParseSpec(%q): error %v, want one naming the spec, %q and the valid forms", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if got.String() != c.in {
			t.Errorf("Spec(%q).String() = %q", c.in, got.String())
		}
	}
	if _, err := Load("bogus:train", Options{}); err == nil || !strings.Contains(err.Error(), SpecForms) {
		t.Errorf("Load of an unknown kind: %v", err)
	}
}

// An IDX folder in MNIST layout, raw or gzipped, loads like the embedded
// MNIST; labels are optional.
func TestLoadIDXDir(t *testing.T) {
	mn, err := MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	img := &IDX{Type: IDXUint8, Dims: []int{n, 28, 28}, Data: make([]byte, n*784)}
	for i := range img.Data {
		img.Data[i] = mn.Pix8[i]
	}
	lab := &IDX{Type: IDXUint8, Dims: []int{n}, Data: make([]byte, n)}
	for i := range lab.Data {
		lab.Data[i] = byte(mn.Labels[i])
	}
	imgRaw, _ := img.Encode()
	labRaw, _ := lab.Encode()

	write := func(dir, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gzDir, rawDir, noLab, dotted := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	write(gzDir, "t10k-images-idx3-ubyte.gz", gz(t, imgRaw))
	write(gzDir, "t10k-labels-idx1-ubyte.gz", gz(t, labRaw))
	write(rawDir, "t10k-images-idx3-ubyte", imgRaw)
	write(rawDir, "t10k-labels-idx1-ubyte", labRaw)
	write(noLab, "t10k-images-idx3-ubyte", imgRaw)
	write(dotted, "t10k-images.idx3-ubyte", imgRaw)
	write(dotted, "t10k-labels.idx1-ubyte", labRaw)
	for _, dir := range []string{gzDir, rawDir, noLab, dotted} {
		ds, err := Load("idx:"+dir+":test", Options{Size: 99, Channels: 3})
		if err != nil {
			t.Fatal(err)
		}
		if ds.N != n || ds.C != 1 || ds.H != 28 {
			t.Fatalf("%s: N=%d C=%d H=%d", dir, ds.N, ds.C, ds.H)
		}
		for i := range ds.N {
			if !slices.Equal(ds.Image(i), mn.Image(i)) {
				t.Fatalf("%s: image %d differs from MNIST's", dir, i)
			}
		}
		if dir == noLab {
			if ds.Labels != nil || ds.Classes != 0 {
				t.Fatalf("labels without a labels file")
			}
		} else if ds.Labels[0] != 7 || len(ds.Labels) != n {
			t.Fatalf("%s: labels %v", dir, ds.Labels[:3])
		}
	}

	// Errors name the file and the problem.
	bad := t.TempDir()
	write(bad, "train-images-idx3-ubyte", imgRaw)
	write(bad, "train-labels-idx1-ubyte", labRaw[:len(labRaw)-1])
	short := t.TempDir()
	write(short, "train-images-idx3-ubyte", imgRaw)
	lab2, _ := (&IDX{Type: IDXUint8, Dims: []int{n - 1}, Data: make([]byte, n-1)}).Encode()
	write(short, "train-labels-idx1-ubyte", lab2)
	flat := t.TempDir()
	flatImg, _ := (&IDX{Type: IDXUint8, Dims: []int{n * 784}, Data: img.Data}).Encode()
	write(flat, "train-images-idx3-ubyte", flatImg)
	ints := t.TempDir()
	intImg, _ := (&IDX{Type: IDXInt32, Dims: []int{1, 1, 1}, Data: make([]byte, 4)}).Encode()
	write(ints, "train-images-idx3-ubyte", intImg)
	floats := t.TempDir()
	fImg, _ := (&IDX{Type: IDXFloat32, Dims: []int{1, 1, 1}, Data: []byte{0x40, 0, 0, 0}}).Encode() // 2.0
	write(floats, "train-images-idx3-ubyte", fImg)
	cases := []struct{ dir, want string }{
		{t.TempDir(), "no images file"},
		{bad, "train-labels-idx1-ubyte: truncated IDX data"},
		{short, "49 labels for 50 images"},
		{flat, "want 3 (count, rows, cols)"},
		{ints, "type int are not supported"},
		{floats, "pixel 0 is 2"},
	}
	for _, c := range cases {
		_, err := Load("idx:"+c.dir+":train", Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("idx:%s:train: error %v, want %q", c.dir, err, c.want)
		}
	}
}
