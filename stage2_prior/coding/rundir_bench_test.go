package coding

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/datasets"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// Measurements on a trained run (VQGEN_RUN_DIR: a directory holding
// vqvae.safetensors, prior.safetensors and codes-test.vqc, such as the
// default MNIST run's), for docs/prior-coding.md:
//
//	VQGEN_RUN_DIR=runs/mnist go test -run XXX -bench RunDir -benchtime 1x ./stage2_prior/coding
//
// Without the variable there is nothing to measure and they skip.

func runDir(b *testing.B) string {
	dir := os.Getenv("VQGEN_RUN_DIR")
	if dir == "" {
		b.Skip("VQGEN_RUN_DIR is not set")
	}
	return dir
}

// BenchmarkRunDirConvert prior-codes the run's test codes and back, and
// reports the prior-coded file's bytes per image (labels, header and index
// included).
func BenchmarkRunDirConvert(b *testing.B) {
	dir := runDir(b)
	codec, ck, err := Load(filepath.Join(dir, "prior.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "codes-test.vqc")
	f, err := datasets.OpenCodeFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := CheckCodes(ck, f.Header()); err != nil {
		b.Fatal(err)
	}
	want, wantL, err := f.LoadAll()
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	tmp := b.TempDir()
	ctx := context.Background()
	for b.Loop() {
		st, err := Convert(ctx, src, filepath.Join(tmp, "p.vqc"), ConvertOptions{Layout: datasets.CodeLayoutPrior, Codec: codec, Overwrite: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Convert(ctx, filepath.Join(tmp, "p.vqc"), filepath.Join(tmp, "back.vqc"), ConvertOptions{Codec: codec, Overwrite: true}, nil); err != nil {
			b.Fatal(err)
		}
		g, err := datasets.OpenCodeFile(filepath.Join(tmp, "back.vqc"))
		if err != nil {
			b.Fatal(err)
		}
		got, gotL, err := g.LoadAll()
		g.Close()
		if err != nil || !slices.Equal(got, want) || !slices.Equal(gotL, wantL) {
			b.Fatalf("round trip changed the codes (%v)", err)
		}
		b.ReportMetric(st.DstBytesPerImage, "bytes/image")
		b.ReportMetric(float64(st.SrcBytes)/float64(st.Images), "zstd-bytes/image")
	}
}

// BenchmarkRunDirEvalCodec runs EvalCodec on mnist:test and logs its JSON.
func BenchmarkRunDirEvalCodec(b *testing.B) {
	dir := runDir(b)
	vq, _, err := vqvae.Load(filepath.Join(dir, "vqvae.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	codec, _, err := Load(filepath.Join(dir, "prior.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	ds, err := datasets.Load("mnist:test", datasets.Options{})
	if err != nil {
		b.Fatal(err)
	}
	imgs := make([][]float32, ds.N)
	for i := range imgs {
		imgs[i] = slices.Clone(ds.Image(i))
	}
	for b.Loop() {
		ev, err := EvalCodec(context.Background(), vq, codec, imgs, ds.Labels, ds.Classes, nil)
		if err != nil {
			b.Fatal(err)
		}
		js, _ := json.MarshalIndent(ev, "", "  ")
		b.Logf("%s", js)
		b.ReportMetric(ev.Rows[0].BitsPerPixel, "vqgen-bpp")
		b.ReportMetric(ev.Rows[0].PSNR, "vqgen-dB")
	}
}
