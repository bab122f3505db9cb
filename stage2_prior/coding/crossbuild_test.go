package coding

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Cross-build decoding. A prior-coded file must decode on any machine and
// build vqgen runs on, so CI writes one with the default build and decodes
// it with others (-tags noasm, VQGEN_DET_PATH=avx2, GOMAXPROCS 1 and 2):
//
//	VQGEN_CODING_WRITE=DIR go test -run TestCrossBuild ./stage2_prior/coding
//	VQGEN_CODING_READ=DIR go test -tags noasm -run TestCrossBuild ./stage2_prior/coding
//
// The writer stores a prior checkpoint, the codes zstd-coded (the
// reference) and the same codes prior-coded, and records the chunk bytes'
// digest; a reader decodes with every batching of the chunks and compares
// with the reference, then re-encodes and compares the bytes. Without
// either variable the test does both in one process.
const (
	crossWriteEnv = "VQGEN_CODING_WRITE"
	crossReadEnv  = "VQGEN_CODING_READ"
	crossImages   = 40
	crossChunk    = 16
)

func TestCrossBuild(t *testing.T) {
	w, r := os.Getenv(crossWriteEnv), os.Getenv(crossReadEnv)
	if w == "" && r == "" {
		w = t.TempDir()
		r = w
	}
	if w != "" {
		crossWrite(t, w)
	}
	if r != "" {
		crossRead(t, r)
	}
}

func crossPrior(t *testing.T) (*prior.Transformer, *configs.Config) {
	cfg := configs.Default()
	cfg.Prior.Arch = "transformer"
	cfg.Prior.Transformer = configs.Transformer{Layers: 2, Dim: 64, Heads: 2, MLPMult: 4}
	m, err := prior.NewTransformer(cfg.Prior.Transformer, prior.Info{Arch: "transformer", K: 512, H: 7, W: 7, Classes: 10}, nn.NewRNG(21))
	if err != nil {
		t.Fatal(err)
	}
	rng := nn.NewRNG(22)
	for _, p := range m.Params() {
		rng.Normal(p.Data.Data, 0, 0.15)
	}
	return m, cfg
}

func crossWrite(t *testing.T, dir string) {
	m, cfg := crossPrior(t)
	fp := datasets.CodeFingerprint{1, 2, 3}
	if err := prior.Save(filepath.Join(dir, "prior.safetensors"), m, cfg, fp.String(), "", 0); err != nil {
		t.Fatal(err)
	}
	codec, ck, err := Load(filepath.Join(dir, "prior.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	codes, labels := sampleGrids(t, ck.Prior.(*prior.Transformer), crossImages, 23)
	h := datasets.CodeHeader{Count: crossImages, GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1,
		Labels: true, NumClasses: 10, Fingerprint: fp}
	for _, f := range []struct {
		name  string
		codec *Codec
	}{{"reference.vqc", nil}, {"prior-coded.vqc", codec}} {
		hh := h
		var cw *datasets.CodeWriter
		var err error
		if f.codec != nil {
			hh.ChunkImages = crossChunk
			cw, err = datasets.CreateCodeFileCodec(filepath.Join(dir, f.name), hh, true, f.codec)
		} else {
			cw, err = datasets.CreateCodeFile(filepath.Join(dir, f.name), hh, true)
		}
		writeAll(t, cw, err, codes, labels)
	}
	t.Logf("wrote %s on path %s", dir, kernels.DetPath())
}

func crossRead(t *testing.T, dir string) {
	codec, ck, err := Load(filepath.Join(dir, "prior.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := datasets.OpenCodeFile(filepath.Join(dir, "reference.vqc"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	wantCodes, wantLabels, err := ref.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenCodes(filepath.Join(dir, "prior-coded.vqc"), codec)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := CheckCodes(ck, f.Header()); err != nil {
		t.Fatal(err)
	}
	// The file's own reader (chunks in parallel).
	codes, labels, err := f.LoadAll()
	if err != nil {
		t.Fatalf("path %s: %v", kernels.DetPath(), err)
	}
	if !slices.Equal(codes, wantCodes) || !slices.Equal(labels, wantLabels) {
		t.Fatalf("path %s: decoded data differs from the reference", kernels.DetPath())
	}
	// Every chunk alone, then all in one batch, then in pairs.
	h := f.Header()
	raw := readRawChunks(t, f.Name(), f)
	for _, group := range [][]int{{0, 1, 2}, {2, 0}, {1}} {
		var jobs []Chunk
		for _, i := range group {
			n, _ := f.ChunkImages(i)
			jobs = append(jobs, Chunk{Src: raw[i], N: n, Codes: make([]uint16, n*49), Labels: make([]int32, n)})
		}
		if err := codec.DecodeChunks(&h, jobs); err != nil {
			t.Fatalf("path %s, chunks %v: %v", kernels.DetPath(), group, err)
		}
		for j, i := range group {
			n, first := f.ChunkImages(i)
			if !slices.Equal(jobs[j].Codes, wantCodes[first*49:(first+int64(n))*49]) {
				t.Fatalf("path %s, chunks %v: chunk %d decoded wrong", kernels.DetPath(), group, i)
			}
		}
	}
	// Re-encoding here gives the writer's bytes.
	for i := range raw {
		n, first := f.ChunkImages(i)
		b, err := codec.EncodeChunk(nil, &h, wantCodes[first*49:(first+int64(n))*49], wantLabels[first:first+int64(n)], n)
		if err != nil || !slices.Equal(b, raw[i]) {
			t.Fatalf("path %s: chunk %d re-encodes differently (%v)", kernels.DetPath(), i, err)
		}
	}
	t.Logf("decoded %s on path %s", dir, kernels.DetPath())
}

// readRawChunks returns each chunk's stored bytes, through a codec that
// records what the reader hands it.
func readRawChunks(t *testing.T, name string, f *datasets.CodeFile) [][]byte {
	rec := &recorder{Codec: nil}
	g, err := datasets.OpenCodeFile(name)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, _, _ := Load(filepath.Join(filepath.Dir(name), "prior.safetensors"))
	rec.Codec = c
	if err := g.SetChunkCodec(rec); err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, g.NumChunks())
	for i := range out {
		rec.last = nil
		if _, _, err := g.ReadChunk(i); err != nil {
			t.Fatal(err)
		}
		out[i] = rec.last
	}
	return out
}

type recorder struct {
	*Codec
	last []byte
}

func (r *recorder) DecodeChunk(src []byte, h *datasets.CodeHeader, n int, codes []uint16, labels []int32) error {
	r.last = slices.Clone(src)
	return r.Codec.DecodeChunk(src, h, n, codes, labels)
}
