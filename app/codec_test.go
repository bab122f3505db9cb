package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCodingBenchmarks: `vqgen bench` has the prior coding lines in its
// pipeline set, selectable by name.
func TestCodingBenchmarks(t *testing.T) {
	list, err := Benchmarks("pipeline", []string{"prior_encode_img_s", "prior_decode_img_s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "prior_encode_img_s" || list[1].Name != "prior_decode_img_s" || list[0].Unit != "images/s" || list[0].Run == nil {
		t.Fatalf("got %+v", list)
	}
	if _, err := Benchmarks("core", []string{"prior_encode_img_s"}); err == nil {
		t.Error("prior_encode_img_s found in the core set")
	}
}

// TestConvertCancel: a cancelled conversion to the prior layout returns
// the context's error and leaves no file.
func TestConvertCancel(t *testing.T) {
	dir, _ := trainedPair(t)
	run := filepath.Join(dir, "run")
	out := filepath.Join(t.TempDir(), "p.vqc")
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{cancel: cancel, after: 1}
	_, err := Convert(ctx, ConvertOptions{In: filepath.Join(run, CodesTrainFile), Out: out, Prior: filepath.Join(run, PriorDir, PriorFile), ChunkImages: 50}, rec)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled conversion: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled conversion left %s (%v)", out, err)
	}
	var oe *OptionError
	if _, err := Convert(context.Background(), ConvertOptions{In: filepath.Join(run, CodesTrainFile), Out: out, Layout: "prior"}, nil); !errors.As(err, &oe) || oe.Option != "prior" {
		t.Errorf("layout prior without a prior: %v, want an error naming the option prior", err)
	}
}

// TestOutputNames: decompressed images are named after their keys when
// those make distinct file names inside the folder, and numbered
// otherwise.
func TestOutputNames(t *testing.T) {
	numbered := []string{"image-0000.png", "image-0001.png"}
	for _, c := range []struct {
		keys, want []string
	}{
		{nil, numbered},
		{[]string{"a.jpg", "b.png"}, []string{"a.png", "b.png"}},
		{[]string{"2024/06/x.jpeg", "y"}, []string{filepath.Join("2024", "06", "x.png"), "y.png"}},
		{[]string{"a.jpg", "a.png"}, numbered},                            // the same name twice
		{[]string{"../a.png", "b.png"}, numbered},                         // outside the folder
		{[]string{"/etc/a.png", "b.png"}, numbered},                       // absolute
		{[]string{`a\b.png`, "c.png"}, numbered},                          // a separator elsewhere
		{[]string{"a.png"}, []string{"image-0000.png", "image-0001.png"}}, // not one per image
	} {
		if got := OutputNames(c.keys, 2); !slices.Equal(got, c.want) {
			t.Errorf("OutputNames(%q) = %q, want %q", c.keys, got, c.want)
		}
	}
	if got := OutputNames(nil, 12345); got[12344] != "image-12344.png" || got[0] != "image-00000.png" {
		t.Errorf("12345 images: %s ... %s", got[0], got[12344])
	}
}
