package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// synthCodes draws n grids of h*w codes in [0, k).
//
// With zipf set they imitate a trained VQ-VAE on MNIST: border cells are
// mostly one background code (MNIST digits sit in the middle), other cells
// copy their left or upper neighbour half the time (strokes are spatially
// coherent), and fresh codes follow a Zipf law (s=1.1) through a fixed
// permutation (a few codes dominate, and they are not the small indices).
// Without zipf the codes are uniform: the incompressible worst case.
func synthCodes(seed uint64, n, h, w, k int, zipf bool) []uint16 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]uint16, n*h*w)
	if !zipf {
		for i := range out {
			out[i] = uint16(r.IntN(k))
		}
		return out
	}
	perm := r.Perm(k)
	z := rand.NewZipf(r, 1.1, 1, uint64(k-1))
	bg := uint16(perm[0])
	for i := range n {
		g := out[i*h*w : (i+1)*h*w]
		for y := range h {
			for x := range w {
				border := y == 0 || x == 0 || y == h-1 || x == w-1
				u := r.Float64()
				switch {
				case border && u < 0.85:
					g[y*w+x] = bg
				case u < 0.25 && x > 0:
					g[y*w+x] = g[y*w+x-1]
				case u < 0.5 && y > 0:
					g[y*w+x] = g[(y-1)*w+x]
				default:
					g[y*w+x] = uint16(perm[z.Uint64()])
				}
			}
		}
	}
	return out
}

func synthLabels(seed uint64, n, classes int) []int32 {
	r := rand.New(rand.NewPCG(seed, 2))
	l := make([]int32, n)
	for i := range l {
		l[i] = int32(r.IntN(classes))
	}
	return l
}

// plainWriter hides any Seek method, forcing the non-seekable path.
type plainWriter struct{ b *bytes.Buffer }

func (p plainWriter) Write(b []byte) (int, error) { return p.b.Write(b) }

func mnistCodeHeader(labels bool) CodeHeader {
	h := CodeHeader{GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1}
	if labels {
		h.Labels, h.NumClasses = true, 10
	}
	return h
}

// writeCodesBytes writes a code file to memory through the non-seekable path.
func writeCodesBytes(t testing.TB, hdr CodeHeader, codes []uint16, labels []int32) []byte {
	t.Helper()
	var buf bytes.Buffer
	hdr.Count = int64(len(codes) / hdr.Cells())
	cw, err := NewCodeWriter(plainWriter{&buf}, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteBatch(codes, labels); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openCodesBytes(b []byte) (*CodeFile, error) {
	return NewCodeReader(bytes.NewReader(b), int64(len(b)), "mem.codes")
}

func TestCodeRoundTrip(t *testing.T) {
	cases := []struct {
		name          string
		n, h, w, k    int
		chunk         int
		labels        bool
		classes       int
		layout        CodeLayout
		zipf, seekful bool
	}{
		{"empty", 0, 7, 7, 512, 0, true, 10, 0, true, true},
		{"empty-plain", 0, 7, 7, 512, 0, false, 0, 0, true, false},
		{"one", 1, 7, 7, 512, 0, true, 10, 0, true, true},
		{"mnist-like-labels", 10000, 7, 7, 512, 0, true, 10, 0, true, true},
		{"mnist-like-nolabels-plain", 9000, 7, 7, 512, 0, false, 0, 0, true, false},
		{"chunk-multiple", 64, 7, 7, 512, 16, true, 10, 0, true, true},
		{"non-multiple", 67, 7, 7, 512, 16, true, 10, 0, true, false},
		{"chunk-of-one", 5, 2, 3, 512, 1, true, 3, 0, false, true},
		{"raw16", 100, 7, 7, 512, 32, true, 10, CodeLayoutRaw16, false, true},
		{"packed-9bit", 101, 7, 7, 512, 32, true, 10, CodeLayoutPacked, false, true},
		{"packed-K1", 33, 3, 5, 1, 8, false, 0, CodeLayoutPacked, false, true},
		{"packed-K3", 33, 3, 5, 3, 8, false, 0, CodeLayoutPacked, false, false},
		{"packed-K65536", 33, 4, 4, 65536, 8, true, 1000, CodeLayoutPacked, false, true},
		{"planes-K257", 70, 5, 5, 257, 16, true, 300, CodeLayoutPlanes, false, true},
		{"bypos-K65536", 70, 4, 6, 65536, 16, true, 65536, CodeLayoutPlanesByPos, false, false},
		{"bypos-odd-chunk", 50, 7, 7, 512, 17, true, 10, CodeLayoutPlanesByPos, true, true},
		{"wide-grid", 3, 1, 300, 512, 2, false, 0, 0, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			codes := synthCodes(uint64(len(c.name)), c.n, c.h, c.w, c.k, c.zipf && c.k >= 16)
			var labels []int32
			if c.labels {
				labels = synthLabels(7, c.n, c.classes)
			}
			var fp CodeFingerprint
			fp[0], fp[31] = 0xab, 0x01
			hdr := CodeHeader{GridH: c.h, GridW: c.w, K: c.k, ImageH: 28, ImageW: 28, Channels: 1,
				Labels: c.labels, NumClasses: c.classes, ChunkImages: c.chunk, Layout: c.layout, Fingerprint: fp}
			if !c.labels {
				hdr.NumClasses = 0
			}
			var f *CodeFile
			var err error
			if c.seekful {
				path := filepath.Join(t.TempDir(), "x.codes")
				cw, err := CreateCodeFile(path, hdr, false) // Count left 0: patched on Close
				if err != nil {
					t.Fatal(err)
				}
				if err := cw.WriteBatch(codes, labels); err != nil {
					t.Fatal(err)
				}
				if err := cw.Close(); err != nil {
					t.Fatal(err)
				}
				if f, err = OpenCodeFile(path); err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
					t.Errorf("directory holds %d entries after Close, want only the code file", len(ents))
				}
			} else {
				if f, err = openCodesBytes(writeCodesBytes(t, hdr, codes, labels)); err != nil {
					t.Fatal(err)
				}
			}
			got := f.Header()
			wantChunk := c.chunk
			if wantChunk == 0 {
				wantChunk = CodeDefaultChunkImages
			}
			wantLayout := c.layout
			if wantLayout == 0 {
				wantLayout = codeLayoutChosen
			}
			if got.Count != int64(c.n) || got.K != c.k || got.GridH != c.h || got.GridW != c.w || got.ChunkImages != wantChunk ||
				got.Layout != wantLayout || got.Labels != c.labels || got.Fingerprint != fp || got.ImageH != 28 || got.Channels != 1 {
				t.Fatalf("header %+v does not match what was written", got)
			}
			if want := (c.n + wantChunk - 1) / wantChunk; f.NumChunks() != want {
				t.Fatalf("NumChunks = %d, want %d", f.NumChunks(), want)
			}
			gc, gl, err := f.LoadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(gc, codes) || !slices.Equal(gl, labels) || (gl == nil) != (labels == nil) {
				t.Fatalf("LoadAll differs from what was written")
			}
			// Every chunk read alone matches its slice of the data.
			cells := c.h * c.w
			for i := f.NumChunks() - 1; i >= 0; i-- {
				n, first := f.ChunkImages(i)
				g, l, err := f.ReadChunk(i)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(g, codes[first*int64(cells):(first+int64(n))*int64(cells)]) {
					t.Fatalf("chunk %d grids differ", i)
				}
				if labels != nil && !slices.Equal(l, labels[first:first+int64(n)]) {
					t.Fatalf("chunk %d labels differ", i)
				}
			}
			var seen int64
			err = f.Iterate(func(i int64, grid []uint16, label int32) error {
				if i != seen || !slices.Equal(grid, codes[i*int64(cells):(i+1)*int64(cells)]) {
					return fmt.Errorf("image %d differs", i)
				}
				if want := CodeNoLabel; labels != nil && label != labels[i] || labels == nil && label != want {
					return fmt.Errorf("image %d label %d", i, label)
				}
				seen++
				return nil
			})
			if err != nil || seen != int64(c.n) {
				t.Fatalf("Iterate: %v after %d images", err, seen)
			}
			s, err := f.Stats()
			if err != nil {
				t.Fatal(err)
			}
			hist := make([]int64, c.k)
			for _, v := range codes {
				hist[v]++
			}
			if !slices.Equal(s.Usage, hist) || s.Count != int64(c.n) || s.FileBytes != f.Size() {
				t.Fatalf("Stats usage/count/size wrong")
			}
		})
	}
}

func TestCodeStatsEntropy(t *testing.T) {
	// 4 codes used equally often: exactly 2 bits per code.
	codes := make([]uint16, 0, 4*49*8)
	for i := range 4 * 49 * 8 {
		codes = append(codes, uint16(i%4)*100)
	}
	f, err := openCodesBytes(writeCodesBytes(t, mnistCodeHeader(false), codes, nil))
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CodesUsed != 4 || s.EntropyBits != 2 || s.Perplexity != 4 || s.Count != 32 {
		t.Fatalf("stats %+v: want 4 codes used, 2 bits, perplexity 4, 32 images", s)
	}
	if want := float64(f.Size()) / 32; s.BytesPerImage != want {
		t.Fatalf("BytesPerImage %v, want %v", s.BytesPerImage, want)
	}
}

// smallCodeFile is a 3-chunk file with labels used by the corruption tests.
func smallCodeFile(t testing.TB) ([]byte, []uint16, []int32) {
	hdr := mnistCodeHeader(true)
	hdr.GridH, hdr.GridW, hdr.ChunkImages = 3, 3, 4
	codes := synthCodes(3, 10, 3, 3, 512, false)
	labels := synthLabels(3, 10, 10)
	return writeCodesBytes(t, hdr, codes, labels), codes, labels
}

// smallKeyedCodeFile is smallCodeFile with a key per image.
func smallKeyedCodeFile(t testing.TB) ([]byte, []uint16, []int32, []string) {
	hdr := mnistCodeHeader(true)
	hdr.GridH, hdr.GridW, hdr.ChunkImages, hdr.Keys = 3, 3, 4, true
	codes := synthCodes(3, 10, 3, 3, 512, false)
	labels := synthLabels(3, 10, 10)
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("holiday/2024-%02d/IMG_%04d.jpg", i%3, i*7)
	}
	var buf bytes.Buffer
	hdr.Count = 10
	cw, err := NewCodeWriter(plainWriter{&buf}, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteBatchKeyed(codes, labels, keys); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), codes, labels, keys
}

func TestCodeWriterRejects(t *testing.T) {
	grid := make([]uint16, 49)
	cases := []struct {
		name  string
		hdr   CodeHeader
		write func(cw *CodeWriter) error
		want  string
	}{
		{"code >= K", mnistCodeHeader(true), func(cw *CodeWriter) error {
			g := slices.Clone(grid)
			g[10] = 512
			return cw.Write(g, 0)
		}, "cell (1,3): code 512 >= K=512"},
		{"short grid", mnistCodeHeader(true), func(cw *CodeWriter) error { return cw.Write(grid[:48], 0) }, "grid has 48 codes"},
		{"label too big", mnistCodeHeader(true), func(cw *CodeWriter) error { return cw.Write(grid, 10) }, "label 10"},
		{"negative label", mnistCodeHeader(true), func(cw *CodeWriter) error { return cw.Write(grid, -1) }, "label -1"},
		{"label without labels", mnistCodeHeader(false), func(cw *CodeWriter) error { return cw.Write(grid, 3) }, "no labels"},
		{"count mismatch", CodeHeader{Count: 2, GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1}, func(cw *CodeWriter) error {
			if err := cw.Write(grid, CodeNoLabel); err != nil {
				return err
			}
			return cw.Close()
		}, "declared 2 images but 1"},
		{"batch labels missing", mnistCodeHeader(true), func(cw *CodeWriter) error { return cw.WriteBatch(grid, nil) }, "labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			cw, err := NewCodeWriter(plainWriter{&buf}, c.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.write(cw); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	bad := []CodeHeader{
		{GridH: 7, GridW: 7, K: 0, ImageH: 28, ImageW: 28, Channels: 1},
		{GridH: 0, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1},
		{GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 0},
		{GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1, Labels: true},
		{GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1, Layout: 77},
		{GridH: 7, GridW: 7, K: 512, ImageH: 28, ImageW: 28, Channels: 1, Count: -1},
	}
	for i, h := range bad {
		if _, err := NewCodeWriter(discardWriter{}, h); err == nil || !strings.Contains(err.Error(), "header field") {
			t.Errorf("bad header %d accepted or unclear error: %v", i, err)
		}
	}
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func TestCreateCodeFileNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.codes")
	write := func(overwrite bool, n int) error {
		cw, err := CreateCodeFile(path, mnistCodeHeader(false), overwrite)
		if err != nil {
			return err
		}
		if err := cw.WriteBatch(make([]uint16, 49*n), nil); err != nil {
			return err
		}
		return cw.Close()
	}
	if err := write(false, 1); err != nil {
		t.Fatal(err)
	}
	if err := write(false, 2); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second create without overwrite: err = %v", err)
	}
	// The file appearing while the writer runs is caught at Close too.
	cw, err := CreateCodeFile(filepath.Join(dir, "b.codes"), mnistCodeHeader(false), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.codes"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("close over a file created meanwhile: err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b.codes")); string(b) != "precious" {
		t.Fatal("existing file was overwritten")
	}
	if err := write(true, 3); err != nil {
		t.Fatal(err)
	}
	f, err := OpenCodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Count() != 3 {
		t.Fatalf("overwritten file has %d images, want 3", f.Count())
	}
	f.Close()
	// Abort leaves nothing behind.
	cw, err = CreateCodeFile(filepath.Join(dir, "c.codes"), mnistCodeHeader(false), false)
	if err != nil {
		t.Fatal(err)
	}
	cw.Abort()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"a.codes", "b.codes"}) {
		t.Fatalf("directory holds %v, want only a.codes and b.codes (no temp files)", names)
	}
}

// TestCodePayloadRejects exercises the payload checks that sit beneath the
// chunk CRC: a crafted file with valid checksums reaches them.
func TestCodePayloadRejects(t *testing.T) {
	h := CodeHeader{Count: 2, GridH: 1, GridW: 3, K: 300, ImageH: 1, ImageW: 1, Channels: 1, ChunkImages: 2, Labels: true, NumClasses: 5}
	codes := []uint16{0, 299, 7, 150, 1, 298}
	labels := []int32{4, 0}
	for _, layout := range CodeLayouts {
		h.Layout = layout
		p := encodeCodePayload(nil, &h, codes, labels, 2)
		gc, gl := make([]uint16, 6), make([]int32, 2)
		if err := decodeCodePayload(p, &h, 2, gc, gl); err != nil || !slices.Equal(gc, codes) || !slices.Equal(gl, labels) {
			t.Fatalf("%v: round trip: %v %v %v", layout, err, gc, gl)
		}
		if err := decodeCodePayload(p[:len(p)-1], &h, 2, gc, gl); err == nil {
			t.Fatalf("%v: short payload accepted", layout)
		}
		bad := slices.Clone(p)
		bad[len(bad)-1] = 5 // last label = NumClasses
		if err := decodeCodePayload(bad, &h, 2, gc, gl); err == nil || !strings.Contains(err.Error(), "label 5") {
			t.Fatalf("%v: label 5 of 5 classes: err = %v", layout, err)
		}
		big := slices.Clone(codes)
		big[4] = 300 // one past K; the encoder does not check, the decoder must
		p = encodeCodePayload(nil, &h, big, labels, 2)
		if err := decodeCodePayload(p, &h, 2, gc, gl); err == nil || !strings.Contains(err.Error(), "image 1 cell (0,1): code 300") {
			t.Fatalf("%v: code 300 >= K: err = %v", layout, err)
		}
	}
	// Packed: 6 codes of 9 bits = 54 bits in 7 bytes; the 2 padding bits must be 0.
	h.Layout = CodeLayoutPacked
	p := encodeCodePayload(nil, &h, codes, labels, 2)
	p[6] |= 0x80
	if err := decodeCodePayload(p, &h, 2, make([]uint16, 6), make([]int32, 2)); err == nil || !strings.Contains(err.Error(), "padding") {
		t.Fatalf("nonzero padding: err = %v", err)
	}
}

// TestMeasureCodeLayouts measures every layout on synthetic MNIST-sized
// code sets; CODES.md quotes its log. Uniform codes carry 9 bits each, so no
// layout may compress them below that, and the correlated set must compress
// below 9 bits in every layout.
func TestMeasureCodeLayouts(t *testing.T) {
	const n = 60000
	sets := []struct {
		name string
		zipf bool
	}{{"zipf+spatial", true}, {"uniform", false}}
	for _, s := range sets {
		codes := synthCodes(42, n, 7, 7, 512, s.zipf)
		hist := make([]int64, 512)
		for _, v := range codes {
			hist[v]++
		}
		ent, used := codeEntropy(hist)
		sizes, err := MeasureCodeLayouts(codes, 512, 7, 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("synthetic %s: %d images 7x7 K=512, %d codes used, unigram entropy %.3f bits/code", s.name, n, used, ent)
		for _, z := range sizes {
			t.Logf("  %-14s raw %8d B  zstd %8d B  %6.2f B/image  %5.3f bits/code", z.Layout, z.RawBytes, z.Bytes, z.BytesPerImage, z.BitsPerCode)
			if z.Layout == CodeLayoutPacked && z.RawBytes != int64(15*((4096*49*9+7)/8)-((4096-(n-14*4096))*49*9)/8) {
				t.Errorf("packed raw size %d is not 9 bits per code", z.RawBytes)
			}
			if !s.zipf && z.BitsPerCode < 8.99 {
				t.Errorf("%v compressed uniform 9-bit codes to %.3f bits/code: impossible", z.Layout, z.BitsPerCode)
			}
			if s.zipf && z.BitsPerCode >= 9 {
				t.Errorf("%v did not compress correlated codes: %.3f bits/code", z.Layout, z.BitsPerCode)
			}
		}
	}
	if _, err := MeasureCodeLayouts([]uint16{1, 2, 512}, 512, 1, 3, 0); err == nil {
		t.Fatal("code 512 >= K accepted")
	}
}

// assembleCodeFile builds a file around arbitrary chunk bytes with valid
// checksums everywhere, as a crafted file would have.
func assembleCodeFile(h CodeHeader, chunks [][]byte, images []int) []byte {
	b := h.marshal()
	var idx []byte
	for i, c := range chunks {
		e := codeChunkEntry{offset: int64(len(b)), size: int64(len(c)), images: images[i], crc: codeCRC(c)}
		var eb [codeIndexEntrySize]byte
		e.marshal(eb[:])
		idx = append(idx, eb[:]...)
		b = append(b, c...)
	}
	tr := make([]byte, codeTrailerSize)
	binary.LittleEndian.PutUint64(tr[0:], uint64(len(b)))
	binary.LittleEndian.PutUint64(tr[8:], uint64(len(chunks)))
	binary.LittleEndian.PutUint32(tr[16:], codeCRC(idx))
	copy(tr[20:28], codeTrailerMagic)
	binary.LittleEndian.PutUint32(tr[28:], codeCRC(tr[:28]))
	return append(append(b, idx...), tr...)
}

// TestCodeCraftedChunks checks what lies beneath valid checksums: a chunk
// claiming more images than its bytes can hold is refused at open (before
// any allocation), and garbage or a wrong-sized payload fails on read.
func TestCodeCraftedChunks(t *testing.T) {
	h := CodeHeader{Count: 1 << 20, GridH: 1, GridW: 1, K: 2, ImageH: 1, ImageW: 1, Channels: 1, ChunkImages: 1 << 20, Layout: CodeLayoutRaw16}
	_, err := openCodesBytes(assembleCodeFile(h, [][]byte{make([]byte, 10)}, []int{1 << 20}))
	if err == nil || !strings.Contains(err.Error(), "chunk 0: 10 compressed bytes cannot hold") {
		t.Fatalf("implausible chunk: err = %v", err)
	}
	h = mnistCodeHeader(false)
	h.Count, h.ChunkImages, h.Layout = 2, 2, CodeLayoutPlanes
	good := encodeCodePayload(nil, &h, make([]uint16, 98), nil, 2)
	cases := []struct {
		name  string
		chunk []byte
		want  string
	}{
		{"garbage", []byte("not zstd at all"), "chunk 0: zstd"},
		{"short payload", codeEncoder().EncodeAll(good[:len(good)-1], nil), "chunk 0: decompressed size 195, want 196"},
		{"long payload", codeEncoder().EncodeAll(append(slices.Clone(good), 0), nil), "chunk 0: zstd"},
		{"code >= K", codeEncoder().EncodeAll(append(slices.Repeat([]byte{0}, 98), slices.Repeat([]byte{2}, 98)...), nil), "code 512 >= K=512"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := openCodesBytes(assembleCodeFile(h, [][]byte{c.chunk}, []int{2}))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.LoadAll(); err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrCodeFileCorrupt) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	f, err := openCodesBytes(assembleCodeFile(h, [][]byte{codeEncoder().EncodeAll(good, nil)}, []int{2}))
	if err != nil {
		t.Fatal(err)
	}
	if codes, _, err := f.LoadAll(); err != nil || len(codes) != 98 {
		t.Fatalf("assembled valid file: %v, %d codes", err, len(codes))
	}
}

// BenchmarkCodeWriteMNIST and BenchmarkCodeLoadAllMNIST time a whole
// MNIST-sized file (60,000 synthetic 7x7 grids with labels) in memory.
func BenchmarkCodeWriteMNIST(b *testing.B) {
	codes := synthCodes(42, 60000, 7, 7, 512, true)
	labels := synthLabels(42, 60000, 10)
	b.ResetTimer()
	for range b.N {
		writeCodesBytes(b, mnistCodeHeader(true), codes, labels)
	}
}

func BenchmarkCodeLoadAllMNIST(b *testing.B) {
	data := writeCodesBytes(b, mnistCodeHeader(true), synthCodes(42, 60000, 7, 7, 512, true), synthLabels(42, 60000, 10))
	b.SetBytes(60000 * 49 * 2)
	b.ResetTimer()
	for range b.N {
		if _, _, err := readAllCodes(data); err != nil {
			b.Fatal(err)
		}
	}
}
