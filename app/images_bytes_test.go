package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/datasets"
)

// pngHeader is the start of a PNG that announces a w x h grey image and
// holds no pixels.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // 8-bit grey, no interlace
	chunk := append([]byte("IHDR"), ihdr...)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)))
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

func TestDecodeImageAndLoadSet(t *testing.T) {
	_, m := trainedPair(t)
	set, err := m.VQVAE.LoadSet("test")
	if err != nil {
		t.Fatal(err)
	}
	if set.Name == "" || len(set.Images) != pair.cfg.Data.TestLimit || len(set.Labels) != len(set.Images) {
		t.Fatalf("test set %q: %d images, %d labels; want %d of each", set.Name, len(set.Images), len(set.Labels), pair.cfg.Data.TestLimit)
	}
	ds, err := m.VQVAE.LoadData("test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.Images[7], ds.Image(7)) || set.Label(7) != int(ds.Labels[7]) {
		t.Errorf("image 7 of the set differs from LoadData's")
	}
	if (&ImageSet{Images: set.Images}).Label(0) != -1 {
		t.Errorf("an unlabelled set's label is not -1")
	}

	// An image through its PNG bytes comes back as it went in (8 bits).
	s := m.VQVAE.Shape()
	var buf bytes.Buffer
	if err := EncodePNG(&buf, set.Images[7], s.Channels, s.Size); err != nil {
		t.Fatal(err)
	}
	px, err := m.VQVAE.DecodeImage("upload.png", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range px {
		if math.Abs(float64(v-set.Images[7][i])) > 0.5/255+1e-6 {
			t.Fatalf("pixel %d: %g after the PNG round trip, want %g", i, v, set.Images[7][i])
		}
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("hello"), "not a PNG or JPEG"},
		{"truncated", buf.Bytes()[:buf.Len()/2], "upload.png"},
		{"bomb", pngHeader(20000, 20000), "20000x20000"},
	} {
		if _, err := m.VQVAE.DecodeImage("upload.png", c.data); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "upload.png") {
			t.Errorf("%s: %v, want an error naming upload.png and %q", c.name, err, c.want)
		}
	}
}

func TestWriteCodes(t *testing.T) {
	_, m := trainedPair(t)
	s := m.VQVAE.Shape()
	codes := make([]int32, 2*s.Cells())
	for i := range codes {
		codes[i] = int32(i % s.K)
	}
	var buf bytes.Buffer
	if err := m.WriteCodes(&buf, codes, []int32{4, 9}); err != nil {
		t.Fatal(err)
	}
	f, err := datasets.NewCodeReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "download")
	if err != nil {
		t.Fatal(err)
	}
	grids, labels, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Header(); h.Count != 2 || h.GridH != s.GridH || h.K != s.K || h.NumClasses != 10 || !slices.Equal(labels, []int32{4, 9}) {
		t.Fatalf("header %+v, labels %v", h, labels)
	}
	for i, c := range grids {
		if int32(c) != codes[i] {
			t.Fatalf("code %d: %d, want %d", i, c, codes[i])
		}
	}
	bad := slices.Clone(codes)
	bad[3] = int32(s.K)
	for _, c := range []struct {
		name           string
		codes, classes []int32
		option         string
	}{
		{"part of a grid", codes[:s.Cells()+1], []int32{1, 2}, "codes"},
		{"no codes", nil, nil, "codes"},
		{"code out of range", bad, []int32{1, 2}, "codes"},
		{"no classes", codes, nil, "class"},
		{"one class short", codes, []int32{1}, "class"},
		{"unknown class", codes, []int32{1, 10}, "class"},
		{"negative class", codes, []int32{-1, 1}, "class"},
	} {
		var oe *OptionError
		if err := m.WriteCodes(&bytes.Buffer{}, c.codes, c.classes); !errors.As(err, &oe) || oe.Option != c.option {
			t.Errorf("%s: %v, want an OptionError for %s", c.name, err, c.option)
		}
	}
}

// TestChecksAgreeWithOperations: CheckSample and CheckEdit refuse what
// Sample and Edit refuse, with the same error, and pass the defaults.
func TestChecksAgreeWithOperations(t *testing.T) {
	_, m := trainedPair(t)
	ctx := context.Background()
	if err := m.CheckSample(m.SampleDefaults()); err != nil {
		t.Errorf("CheckSample(defaults): %v", err)
	}
	for _, set := range []func(*SampleOptions){
		func(o *SampleOptions) { o.Temperature = math.Inf(1) },
		func(o *SampleOptions) { o.TopP = 0 },
		func(o *SampleOptions) { o.Class = 10 },
		func(o *SampleOptions) { o.Guidance = math.NaN() },
		func(o *SampleOptions) { o.N = -3 },
		func(o *SampleOptions) { o.Batch = -1 },
	} {
		o := m.SampleDefaults()
		set(&o)
		_, want := m.Sample(ctx, o, nil)
		if got := m.CheckSample(o); want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%+v: CheckSample says %v, Sample %v", o, got, want)
		}
	}

	s := m.VQVAE.Shape()
	grid := make([]int32, s.Cells())
	keep, _ := s.CentreHole()
	for _, method := range []string{MethodGibbs, MethodRaster} {
		o := m.EditDefaults(method)
		o.Class = 2
		if err := m.CheckEdit(o); err != nil {
			t.Errorf("CheckEdit(%s defaults): %v", method, err)
		}
	}
	for _, c := range []struct {
		option string
		set    func(*EditOptions)
	}{
		{"n", func(o *EditOptions) { o.N = 0 }},
		{"method", func(o *EditOptions) { o.Method = "ddpm" }},
		{"sweeps", func(o *EditOptions) { o.Sweeps = 0 }},
		{"temperature", func(o *EditOptions) { o.Temperature = -1 }},
		{"top_k", func(o *EditOptions) { o.TopK = 3 }},
		{"top_p", func(o *EditOptions) { o.TopP = 0.5 }},
		{"class", func(o *EditOptions) { o.Class = -1 }},
		{"class", func(o *EditOptions) { o.Class = 10 }},
		{"batch", func(o *EditOptions) { o.Batch = -2 }},
	} {
		o := m.EditDefaults(MethodGibbs)
		o.Class = 2
		c.set(&o)
		_, want := m.Edit(ctx, grid, keep, o, nil)
		got := m.CheckEdit(o)
		var oe *OptionError
		if !errors.As(got, &oe) || oe.Option != c.option || want == nil || got.Error() != want.Error() {
			t.Errorf("%s: CheckEdit says %v, Edit %v; want an OptionError for %s from both", c.option, got, want, c.option)
		}
	}
}
