package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// toyCodec stands in for a prior: it stores each chunk as its raw16
// payload behind a CRC and a tag byte, so the container's handling of
// prior-coded files can be tested without a model.
type toyCodec struct {
	prior    CodePrior
	encoding atomic.Int32 // chunks being encoded at once
	maxConc  atomic.Int32
}

func newToyCodec(fp byte) *toyCodec {
	return &toyCodec{prior: CodePrior{Fingerprint: [16]byte{fp, 2, 3}, Numerics: 1, Name: "toy.safetensors"}}
}

func (c *toyCodec) Prior() CodePrior { return c.prior }

func (c *toyCodec) EncodeChunk(dst []byte, h *CodeHeader, codes []uint16, labels []int32, n int) ([]byte, error) {
	now := c.encoding.Add(1)
	defer c.encoding.Add(-1)
	for {
		m := c.maxConc.Load()
		if now <= m || c.maxConc.CompareAndSwap(m, now) {
			break
		}
	}
	// Linger until a second chunk is in flight (or 200 ms pass), so the
	// test sees whether the writer overlaps chunks.
	for deadline := time.Now().Add(200 * time.Millisecond); c.maxConc.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	hh := *h
	hh.Layout = CodeLayoutRaw16
	p := encodeCodePayload(nil, &hh, codes, labels, n)
	dst = append(dst, 0xC0)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(p))
	return append(dst, p...), nil
}

func (c *toyCodec) DecodeChunk(src []byte, h *CodeHeader, n int, codes []uint16, labels []int32) error {
	if len(src) < 5 || src[0] != 0xC0 {
		return fmt.Errorf("toy chunk: bad tag")
	}
	p := src[5:]
	if crc32.ChecksumIEEE(p) != binary.LittleEndian.Uint32(src[1:]) {
		return fmt.Errorf("toy chunk: CRC mismatch")
	}
	hh := *h
	hh.Layout = CodeLayoutRaw16
	return decodeCodePayload(p, &hh, n, codes, labels)
}

func priorHeader(labels bool) CodeHeader {
	h := mnistCodeHeader(labels)
	h.Layout = 0
	h.ChunkImages = 7
	return h
}

func writePriorBytes(t testing.TB, hdr CodeHeader, codec CodeChunkCodec, codes []uint16, labels []int32) []byte {
	t.Helper()
	var buf bytes.Buffer
	hdr.Count = int64(len(codes) / hdr.Cells())
	cw, err := NewCodeWriterCodec(plainWriter{&buf}, hdr, codec)
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

func TestPriorCodedRoundTrip(t *testing.T) {
	for _, withLabels := range []bool{false, true} {
		codec := newToyCodec(1)
		n := 50 // 7 full chunks and one of 1
		codes := synthCodes(1, n, 7, 7, 512, true)
		var labels []int32
		if withLabels {
			labels = synthLabels(1, n, 10)
		}
		b := writePriorBytes(t, priorHeader(withLabels), codec, codes, labels)
		if codec.maxConc.Load() < 2 && testingGOMAXPROCS() > 1 {
			t.Errorf("chunks were encoded one at a time (max %d at once)", codec.maxConc.Load())
		}
		f, err := openCodesBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		h := f.Header()
		if h.Layout != CodeLayoutPrior || h.ChunkImages != 7 || h.Prior != codec.prior {
			t.Fatalf("header %+v", h)
		}
		// Without the prior: a clear error naming it.
		_, _, err = f.LoadAll()
		if !errors.Is(err, ErrCodeNeedsPrior) || !strings.Contains(err.Error(), "toy.safetensors") || !strings.Contains(err.Error(), codec.prior.FingerprintString()) {
			t.Fatalf("LoadAll without the prior: %v", err)
		}
		if _, _, err := f.ReadChunk(0); !errors.Is(err, ErrCodeNeedsPrior) {
			t.Fatalf("ReadChunk without the prior: %v", err)
		}
		// Another prior, other numerics.
		if err := f.SetChunkCodec(newToyCodec(9)); !errors.Is(err, ErrCodeNeedsPrior) || !strings.Contains(err.Error(), "toy.safetensors") {
			t.Fatalf("SetChunkCodec(other prior): %v", err)
		}
		other := newToyCodec(1)
		other.prior.Numerics = 2
		if err := f.SetChunkCodec(other); err == nil || !strings.Contains(err.Error(), "numerics version 1") {
			t.Fatalf("SetChunkCodec(other numerics): %v", err)
		}
		if err := f.SetChunkCodec(codec); err != nil {
			t.Fatal(err)
		}
		gotCodes, gotLabels, err := f.LoadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gotCodes, codes) || !slices.Equal(gotLabels, labels) {
			t.Fatal("LoadAll returned other data")
		}
		var i int
		err = f.Iterate(func(j int64, grid []uint16, label int32) error {
			if !slices.Equal(grid, codes[i*49:(i+1)*49]) || (withLabels && label != labels[i]) {
				return fmt.Errorf("image %d differs", i)
			}
			i++
			return nil
		})
		if err != nil || i != n {
			t.Fatalf("Iterate: %v after %d images", err, i)
		}
	}
}

func testingGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }

func TestPriorCodedEveryBitFlip(t *testing.T) {
	codec := newToyCodec(1)
	codes := synthCodes(2, 9, 7, 7, 512, true)
	b := writePriorBytes(t, priorHeader(true), codec, codes, synthLabels(2, 9, 10))
	for i := range b {
		for bit := range 8 {
			bad := slices.Clone(b)
			bad[i] ^= 1 << bit
			f, err := openCodesBytes(bad)
			if err == nil {
				if err = f.SetChunkCodec(codec); err == nil {
					_, _, err = f.LoadAll()
				}
			}
			if err == nil {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
		}
	}
}

func TestPriorHeaderFields(t *testing.T) {
	codec := newToyCodec(1)
	b := writePriorBytes(t, priorHeader(false), codec, synthCodes(3, 3, 7, 7, 512, false), nil)
	if !bytes.Equal(b[80:96], codec.prior.Fingerprint[:]) || binary.LittleEndian.Uint16(b[96:]) != 1 ||
		string(bytes.TrimRight(b[100:124], "\x00")) != "toy.safetensors" || b[10] != byte(CodeLayoutPrior) {
		t.Fatalf("header bytes 80..124: %x", b[80:124])
	}
	// Header validation names the field.
	reheader := func(mut func(h []byte)) error {
		bad := slices.Clone(b)
		mut(bad[:codeHeaderSize])
		binary.LittleEndian.PutUint32(bad[codeHeaderCRCAt:], codeCRC(bad[:codeHeaderCRCAt]))
		_, err := openCodesBytes(bad)
		return err
	}
	for _, c := range []struct {
		mut  func(h []byte)
		want string
	}{
		{func(h []byte) { clear(h[80:96]) }, "fingerprint"},
		{func(h []byte) { h[96], h[97] = 0, 0 }, "numerics"},
		{func(h []byte) { h[98] = 1 }, "reserved bytes 98..99"},
		{func(h []byte) { h[115] = 0; h[116] = 'x' }, "prior name"},
		{func(h []byte) { h[100] = 0xff }, "prior name"},
		{func(h []byte) { h[10] = byte(CodeLayoutRaw16) }, "reserved byte 80"},
	} {
		if err := reheader(c.mut); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error about %q, got %v", c.want, err)
		}
	}
	// Writers: a prior layout needs a codec; a codec needs the prior layout.
	h := mnistCodeHeader(false)
	h.Layout = CodeLayoutPrior
	if _, err := NewCodeWriter(discardWriter{}, h); err == nil {
		t.Error("NewCodeWriter accepted the prior layout without a codec")
	}
	h.Layout = CodeLayoutRaw16
	if _, err := NewCodeWriterCodec(discardWriter{}, h, codec); err == nil {
		t.Error("NewCodeWriterCodec accepted layout raw16")
	}
	// A zstd file takes no codec.
	f, err := openCodesBytes(writeCodesBytes(t, mnistCodeHeader(false), synthCodes(1, 2, 7, 7, 512, false), nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetChunkCodec(codec); err == nil {
		t.Error("SetChunkCodec on a raw16 file succeeded")
	}
}

func TestCreateCodeFileCodec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.vqc")
	codec := newToyCodec(4)
	cw, err := CreateCodeFileCodec(path, priorHeader(true), false, codec)
	if err != nil {
		t.Fatal(err)
	}
	codes, labels := synthCodes(5, 20, 7, 7, 512, true), synthLabels(5, 20, 10)
	if err := cw.WriteBatch(codes, labels); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenCodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.SetChunkCodec(codec); err != nil {
		t.Fatal(err)
	}
	got, gotL, err := f.LoadAll()
	if err != nil || !slices.Equal(got, codes) || !slices.Equal(gotL, labels) {
		t.Fatalf("LoadAll: %v", err)
	}
	if f.Count() != 20 {
		t.Fatalf("count %d", f.Count())
	}
}

// TestCodeReadProgress: LoadAll, Iterate and Stats report the images read
// through the SetProgress hook, counting up to the whole file, on both a
// prior-coded and a zstd file; an error from the hook stops the read.
func TestCodeReadProgress(t *testing.T) {
	n := 50
	codes := synthCodes(2, n, 7, 7, 512, true)
	labels := synthLabels(2, n, 10)
	zh := mnistCodeHeader(true)
	zh.ChunkImages = 7
	files := map[string][]byte{
		"prior": writePriorBytes(t, priorHeader(true), newToyCodec(1), codes, labels),
		"zstd":  writeCodesBytes(t, zh, codes, labels),
	}
	stop := errors.New("stop")
	for name, b := range files {
		f, err := openCodesBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header().Layout == CodeLayoutPrior {
			if err := f.SetChunkCodec(newToyCodec(1)); err != nil {
				t.Fatal(err)
			}
		}
		reads := map[string]func() error{
			"LoadAll": func() error { _, _, err := f.LoadAll(); return err },
			"Iterate": func() error { return f.Iterate(func(int64, []uint16, int32) error { return nil }) },
			"Stats":   func() error { _, err := f.Stats(); return err },
		}
		for what, read := range reads {
			var seen []int64
			f.SetProgress(func(done int64) error { seen = append(seen, done); return nil })
			if err := read(); err != nil {
				t.Fatalf("%s %s: %v", name, what, err)
			}
			if len(seen) == 0 || seen[len(seen)-1] != int64(n) || !slices.IsSorted(seen) || seen[0] <= 0 {
				t.Errorf("%s %s: progress %v, want increasing counts ending at %d", name, what, seen, n)
			}
			calls := 0
			f.SetProgress(func(int64) error { calls++; return stop })
			if err := read(); !errors.Is(err, stop) || calls != 1 {
				t.Errorf("%s %s: a hook that fails: %v after %d calls, want the hook's error after 1", name, what, err, calls)
			}
		}
		f.SetProgress(nil)
		if _, _, err := f.LoadAll(); err != nil {
			t.Errorf("%s: without the hook: %v", name, err)
		}
	}
}
