package evaluate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/datasets"
)

func TestLoadImageDir(t *testing.T) {
	dir := t.TempDir()
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	// Written out of order: the result must follow sorted names.
	for _, i := range []int{2, 0, 1} {
		if err := datasets.WritePNG(filepath.Join(dir, "s"+string(rune('0'+i))+".png"), test.Image(i), 1, 28, 28); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.png"), []byte("ignored"), 0o644)
	ims, names, note, err := LoadImageDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "s0.png,s1.png,s2.png" || note != "" {
		t.Fatalf("names %v, note %q", names, note)
	}
	for i, im := range ims {
		for j, v := range im {
			// PNG stores 8 bits: within half a step of the source.
			if d := v - test.Image(i)[j]; d > 0.5/255+1e-6 || d < -0.5/255-1e-6 {
				t.Fatalf("image %d pixel %d = %g, source %g", i, j, v, test.Image(i)[j])
			}
		}
	}

	big := make([]float32, 56*56)
	for i := range big {
		big[i] = float32(i%56) / 56
	}
	if err := datasets.WritePNG(filepath.Join(dir, "s3.png"), big, 1, 56, 56); err != nil {
		t.Fatal(err)
	}
	ims, _, note, err = LoadImageDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 4 || len(ims[3]) != imageLen || !strings.Contains(note, "s3.png (56x56)") {
		t.Errorf("%d images, note %q: want 4 with s3.png noted as resized", len(ims), note)
	}
}

func TestLoadImageDirErrors(t *testing.T) {
	empty := t.TempDir()
	fake := t.TempDir()
	os.WriteFile(filepath.Join(fake, "a.png"), []byte("not a png"), 0o644)
	tests := []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(empty, "nope"), "nope"},
		{"empty", empty, "no .png files"},
		{"not png", fake, "a.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := LoadImageDir(tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestReadLabels(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text string
		n          int
		want       []int32
		err        string
	}{
		{"plain", "3\n1\n4\n", 3, []int32{3, 1, 4}, ""},
		{"comments and blanks", "# requested digits\n 7 \n\n0\r\n", 2, []int32{7, 0}, ""},
		{"no final newline", "9\n2", 2, []int32{9, 2}, ""},
		{"too few", "1\n2\n", 3, nil, "2 labels for 3 images"},
		{"too many", "1\n2\n3\n", 2, nil, "3 labels for 2 images"},
		{"out of range", "1\n10\n", 2, nil, ":2: label \"10\""},
		{"negative", "-1\n", 1, nil, ":1: label \"-1\""},
		{"not a number", "1\nseven\n", 2, nil, ":2: label \"seven\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.WriteFile(path, []byte(tc.text), 0o644)
			got, err := ReadLabels(path, tc.n)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %v, want one naming %s and %q", err, path, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("labels %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("labels %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := ReadLabels(filepath.Join(dir, "absent"), 1); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing file: error %v", err)
	}
}
