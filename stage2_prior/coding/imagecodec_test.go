package coding

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/progress"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// tinyCodec is an untrained tiny VQ-VAE (7x7 grids of K = 32 on 28x28
// grey images) and a random prior for its grids.
func tinyCodec(t *testing.T, seed uint64) (*vqvae.Model, *Codec) {
	t.Helper()
	cfg := configs.Default()
	cfg.VQVAE.Hidden, cfg.VQVAE.ResHidden, cfg.VQVAE.ResBlocks, cfg.VQVAE.K, cfg.VQVAE.D = 16, 8, 1, 32, 8
	vq, err := vqvae.New(cfg.VQVAE, cfg.Data, nn.NewRNG(seed))
	if err != nil {
		t.Fatal(err)
	}
	m := testPrior(t, 32, 7, 7, 10, seed+1)
	return vq, newCodec(t, m)
}

// blobs draws n 28x28 grey images of a few soft strokes.
func blobs(n int, seed uint64) [][]float32 {
	rng := nn.NewRNG(seed)
	out := make([][]float32, n)
	for i := range out {
		img := make([]float32, 28*28)
		for range 3 {
			cx, cy, r := 6+rng.Float64()*16, 6+rng.Float64()*16, 2+rng.Float64()*4
			for y := range 28 {
				for x := range 28 {
					d := math.Hypot(float64(x)-cx, float64(y)-cy)
					img[y*28+x] = float32(math.Min(1, float64(img[y*28+x])+math.Max(0, 1-d/r)))
				}
			}
		}
		out[i] = img
	}
	return out
}

func TestCompressDecompress(t *testing.T) {
	ctx := context.Background()
	vq, codec := tinyCodec(t, 1)
	images := blobs(37, 2)
	labels := make([]int32, len(images))
	for i := range labels {
		labels[i] = int32(i % 10)
	}
	path := filepath.Join(t.TempDir(), "x.vqz")
	var rec phases
	ims := &Images{Pixels: images, Labels: labels, Classes: 10}
	for i := range images {
		ims.Keys = append(ims.Keys, fmt.Sprintf("blob-%02d.png", i))
	}
	if _, err := CompressFile(ctx, path, vq, codec, ims, false, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.last["compress x.vqz"] != len(images) {
		t.Errorf("progress %v, want compress x.vqz to reach %d", rec.last, len(images))
	}
	if _, err := CompressFile(ctx, path, vq, codec, ims, false, nil); err == nil {
		t.Fatal("CompressFile replaced an existing file")
	}
	back, err := Decompress(ctx, path, vq, codec, &rec)
	if err != nil {
		t.Fatal(err)
	}
	got, gotL := back.Pixels, back.Labels
	if !slices.Equal(back.Keys, ims.Keys) || back.Classes != 10 {
		t.Errorf("keys %v, classes %d: want the compressed images'", back.Keys, back.Classes)
	}
	grids, err := encodeImages(vq, images)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeImages(vq, grids, len(images))
	if err != nil {
		t.Fatal(err)
	}
	if rec.last["decode x.vqz"] != len(images) {
		t.Errorf("progress %v, want decode x.vqz to reach %d", rec.last, len(images))
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("image %d pixel %d: %g, want the VQ-VAE's reconstruction %g", i, j, got[i][j], want[i][j])
			}
		}
		if gotL[i] != labels[i] {
			t.Fatalf("label %d: %d, want %d", i, gotL[i], labels[i])
		}
	}
	// Another VQ-VAE, another prior: errors that say which.
	other, otherCodec := tinyCodec(t, 9)
	if _, err := Decompress(ctx, path, other, codec, nil); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("decompress with another VQ-VAE: %v", err)
	}
	if _, err := Decompress(ctx, path, vq, otherCodec, nil); err == nil || !strings.Contains(err.Error(), "prior.safetensors") {
		t.Errorf("decompress with another prior: %v", err)
	}
	if _, err := Decompress(ctx, path, vq, nil, nil); !errors.Is(err, datasets.ErrCodeNeedsPrior) || !strings.Contains(err.Error(), "prior.safetensors") ||
		!strings.Contains(err.Error(), codec.Prior().FingerprintString()) {
		t.Errorf("decompress without a prior: %v", err)
	}
	// A cancelled context stops compression and leaves no file.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	gone := filepath.Join(t.TempDir(), "y.vqz")
	if _, err := CompressFile(cancelled, gone, vq, codec, ims, false, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("compress with a cancelled context: %v", err)
	}
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled compression left %s (%v)", gone, err)
	}
}

func TestEvalCodec(t *testing.T) {
	vq, codec := tinyCodec(t, 3)
	images := blobs(30, 4)
	var rec phases
	ev, err := EvalCodec(context.Background(), vq, codec, images, nil, 0, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Images != 30 || ev.Pixels != 784 || len(ev.Rows) != 5 {
		t.Fatalf("eval %+v", ev)
	}
	var buf bytes.Buffer
	for _, ph := range []string{"compress", "png", "jpeg (one file per image)", "jpeg (one mosaic)"} {
		if _, ok := rec.last[ph]; !ok {
			t.Errorf("no progress phase %q: %v", ph, rec.last)
		}
	}
	if _, err := Compress(context.Background(), &buf, vq, codec, &Images{Pixels: images}, nil); err != nil {
		t.Fatal(err)
	}
	vq0 := ev.Rows[0]
	if vq0.Codec != "vqgen" || vq0.Bytes != int64(buf.Len()) || math.Abs(vq0.BitsPerPixel-8*float64(buf.Len())/(30*784)) > 1e-9 {
		t.Fatalf("vqgen row %+v, file %d bytes", vq0, buf.Len())
	}
	for _, r := range ev.Rows[1:3] {
		if !math.IsInf(r.PSNR, 1) || r.Bytes <= 0 {
			t.Fatalf("PNG row %+v", r)
		}
	}
	for _, r := range ev.Rows[3:] {
		if r.Quality < 1 || r.Quality > 100 || (r.PSNR < vq0.PSNR && r.Quality < 100) {
			t.Fatalf("JPEG row %+v does not reach vqgen's %.2f dB", r, vq0.PSNR)
		}
	}
	t.Logf("%+v", ev.Rows)
}

func TestCodecRowJSON(t *testing.T) {
	b, err := json.Marshal([]CodecRow{{Codec: "png", Bytes: 10, PSNR: math.Inf(1)}, {Codec: "jpeg", PSNR: 20.5, Quality: 7}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"codec":"png","bytes":10,"bytes_per_image":0,"bits_per_pixel":0,"psnr_db":null,"lossless":true},` +
		`{"codec":"jpeg","bytes":0,"bytes_per_image":0,"bits_per_pixel":0,"quality":7,"psnr_db":20.5,"lossless":false}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

// TestEncodeDataset: `vqgen encode --prior` writes the grids stage one's
// encoder writes, prior-coded.
func TestEncodeDataset(t *testing.T) {
	vq, codec := tinyCodec(t, 5)
	imgs := blobs(40, 6)
	ds := &datasets.Dataset{Name: "blobs", N: 40, C: 1, H: 28, W: 28, Classes: 10, Labels: make([]int32, 40)}
	for i, im := range imgs {
		ds.Pixels = append(ds.Pixels, im...)
		ds.Labels[i] = int32(i * 7 % 10)
		ds.Keys = append(ds.Keys, fmt.Sprintf("blob-%02d.png", i))
	}
	dir := t.TempDir()
	if err := vqvae.EncodeDataset(vq, ds, filepath.Join(dir, "z.vqc"), false, 16, nil); err != nil {
		t.Fatal(err)
	}
	var rec phases
	if err := EncodeDataset(context.Background(), vq, ds, filepath.Join(dir, "p.vqc"), codec, false, &rec); err != nil {
		t.Fatal(err)
	}
	z, err := OpenCodes(filepath.Join(dir, "z.vqc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenCodes(filepath.Join(dir, "p.vqc"), codec)
	if err != nil {
		t.Fatal(err)
	}
	zc, zl, err1 := z.LoadAll()
	pc, pl, err2 := p.LoadAll()
	if err1 != nil || err2 != nil || !slices.Equal(zc, pc) || !slices.Equal(zl, pl) || rec.last["encode p.vqc"] != 40 {
		t.Fatalf("prior-coded encode differs from stage one's (%v, %v, progress %v)", err1, err2, rec.last)
	}
	if p.Header().Fingerprint != z.Header().Fingerprint {
		t.Fatal("fingerprint differs")
	}
	// Both keep the images' keys, and so does a conversion back to zstd.
	zk, err1 := z.Keys()
	pk, err2 := p.Keys()
	if err1 != nil || err2 != nil || !slices.Equal(zk, ds.Keys) || !slices.Equal(pk, ds.Keys) {
		t.Fatalf("keys: stage one %v, prior-coded %v (%v, %v)", zk[:min(2, len(zk))], pk[:min(2, len(pk))], err1, err2)
	}
	if _, err := Convert(context.Background(), filepath.Join(dir, "p.vqc"), filepath.Join(dir, "back.vqc"), ConvertOptions{Layout: datasets.CodeLayoutRaw16, Codec: codec}, nil); err != nil {
		t.Fatal(err)
	}
	back, err := OpenCodes(filepath.Join(dir, "back.vqc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bk, err := back.Keys(); err != nil || !slices.Equal(bk, ds.Keys) {
		t.Fatalf("keys after converting back: %v", err)
	}
}

// phases records progress: the last count of each phase, and that phases
// are begun and ended in pairs.
type phases struct {
	cur  string
	open bool
	last map[string]int
}

func (p *phases) Begin(ph progress.Phase) {
	if p.last == nil {
		p.last = map[string]int{}
	}
	if p.open {
		panic("phase " + ph.Name + " begun inside " + p.cur)
	}
	p.cur, p.open = ph.Name, true
	p.last[ph.Name] = 0
}
func (p *phases) Update(done int, _ ...progress.Field) { p.last[p.cur] = done }
func (p *phases) Note(string)                          {}
func (p *phases) End()                                 { p.open = false }
