package coding

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/datasets"
)

// TestConvert: a zstd code file converted to the prior layout and back
// holds the same codes and labels; the prior-coded file names its prior,
// is smaller than the zstd one on grids the prior likes, and needs the
// prior to be read; a cancelled conversion leaves no file.
func TestConvert(t *testing.T) {
	ctx := context.Background()
	m := testPrior(t, 40, 3, 3, 4, 11)
	codec := newCodec(t, m)
	codes, labels := sampleGrids(t, m, 300, 12)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	h := *header(m, true)
	h.Layout, h.Count, h.ChunkImages = 0, 300, 64
	cw, err := datasets.CreateCodeFile(p("z.vqc"), h, false)
	writeAll(t, cw, err, codes, labels)

	if _, err := Convert(ctx, p("z.vqc"), p("p.vqc"), ConvertOptions{Layout: datasets.CodeLayoutPrior}, nil); !errors.Is(err, ErrNoCodec) {
		t.Fatalf("to the prior layout without a codec: %v", err)
	}
	var rec phases
	st, err := Convert(ctx, p("z.vqc"), p("p.vqc"), ConvertOptions{Layout: datasets.CodeLayoutPrior, ChunkImages: 100, Codec: codec, Verify: true}, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Images != 300 || st.DstLayout != datasets.CodeLayoutPrior || st.SrcLayout != datasets.CodeLayoutRaw16 || st.DstPrior != codec.Prior() ||
		!st.Verified || st.DstBytes >= st.SrcBytes || rec.last["write p.vqc"] != 300 || rec.last["decode p.vqc"] != 300 {
		t.Fatalf("stats %+v, progress %v", st, rec.last)
	}
	if _, err := Convert(ctx, p("z.vqc"), p("p.vqc"), ConvertOptions{Layout: datasets.CodeLayoutPrior, Codec: codec}, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("replacing without Overwrite: %v", err)
	}
	if _, err := Convert(ctx, p("p.vqc"), p("back.vqc"), ConvertOptions{}, nil); !errors.Is(err, datasets.ErrCodeNeedsPrior) {
		t.Fatalf("reading the prior layout without a codec: %v", err)
	}
	rec = phases{}
	st, err = Convert(ctx, p("p.vqc"), p("back.vqc"), ConvertOptions{Layout: datasets.CodeLayoutPacked, Codec: codec, Verify: true}, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if st.SrcPrior != codec.Prior() || st.DstLayout != datasets.CodeLayoutPacked || rec.last["decode p.vqc"] != 300 {
		t.Fatalf("stats %+v, progress %v", st, rec.last)
	}
	f, err := OpenCodes(p("back.vqc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, gotL, err := f.LoadAll()
	f.Close()
	if err != nil || !slices.Equal(got, codes) || !slices.Equal(gotL, labels) {
		t.Fatalf("round trip changed the codes (%v)", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Convert(cancelled, p("z.vqc"), p("gone.vqc"), ConvertOptions{Layout: datasets.CodeLayoutPrior, Codec: codec}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := os.Stat(p("gone.vqc")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled conversion left a file (%v)", err)
	}
}
