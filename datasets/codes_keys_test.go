package datasets

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Keys round-trip in every layout, with and without labels, across
// chunks, through every reader entry point; LoadAll and Stats are as for a
// keyless file.
func TestCodeKeysRoundTrip(t *testing.T) {
	const n = 23
	codes := synthCodes(9, n, 4, 4, 700, true)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("trip/%03d-ŝnow.jpg", i)
	}
	keys[5] = strings.Repeat("k", CodeMaxKeyLen)
	keys[6] = "x"
	for _, layout := range CodeLayouts {
		for _, labelled := range []bool{false, true} {
			h := CodeHeader{Count: n, GridH: 4, GridW: 4, K: 700, ImageH: 16, ImageW: 16, Channels: 3, ChunkImages: 5, Layout: layout, Keys: true}
			var labels []int32
			if labelled {
				h.Labels, h.NumClasses = true, 3
				labels = synthLabels(4, n, 3)
			}
			path := filepath.Join(t.TempDir(), "k.vqc")
			cw, err := CreateCodeFile(path, h, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := cw.WriteBatchKeyed(codes, labels, keys); err != nil {
				t.Fatal(err)
			}
			if err := cw.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := OpenCodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !f.Header().Keys {
				t.Fatal("header lost the keys flag")
			}
			got, err := f.Keys()
			if err != nil || !slices.Equal(got, keys) {
				t.Fatalf("%v labels=%v: keys %v, %v", layout, labelled, got, err)
			}
			c, l, err := f.LoadAll()
			if err != nil || !slices.Equal(c, codes) || !slices.Equal(l, labels) {
				t.Fatalf("%v labels=%v: LoadAll %v", layout, labelled, err)
			}
			var it []string
			err = f.IterateKeyed(func(i int64, grid []uint16, label int32, key string) error {
				if !slices.Equal(grid, codes[i*16:(i+1)*16]) || (labelled && label != labels[i]) {
					return fmt.Errorf("image %d differs", i)
				}
				it = append(it, key)
				return nil
			})
			if err != nil || !slices.Equal(it, keys) {
				t.Fatalf("IterateKeyed: %v", err)
			}
			g, _, ck, err := f.ReadChunkKeys(4)
			if err != nil || !slices.Equal(ck, keys[20:]) || !slices.Equal(g, codes[20*16:]) {
				t.Fatalf("ReadChunkKeys(4) = %v, %v", ck, err)
			}
			if _, err := f.Stats(); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}

func TestCodeKeysWriterRejects(t *testing.T) {
	h := CodeHeader{GridH: 1, GridW: 2, K: 4, ImageH: 1, ImageW: 1, Channels: 1, Keys: true}
	cw, err := NewCodeWriter(&bytes.Buffer{}, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{cw.Write([]uint16{1, 2}, CodeNoLabel), "use WriteKeyed"},
		{cw.WriteKeyed([]uint16{1, 2}, CodeNoLabel, ""), "key of 0 bytes"},
		{cw.WriteKeyed([]uint16{1, 2}, CodeNoLabel, strings.Repeat("a", CodeMaxKeyLen+1)), "key of 4097 bytes"},
		{cw.WriteBatchKeyed([]uint16{1, 2, 3, 0}, nil, []string{"a"}), "2 grids with 1 keys"},
		{cw.WriteBatch([]uint16{1, 2}, nil), "header keys=true"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want %q", c.err, c.want)
		}
	}
	if err := cw.WriteKeyed([]uint16{1, 2}, CodeNoLabel, "ok.png"); err != nil {
		t.Fatalf("a valid keyed image after rejected ones: %v", err)
	}
	h.Keys = false
	plain, _ := NewCodeWriter(&bytes.Buffer{}, h)
	if err := plain.WriteKeyed([]uint16{1, 2}, CodeNoLabel, "a"); err == nil || !strings.Contains(err.Error(), "no keys") {
		t.Errorf("key on a keyless header: %v", err)
	}
}

// A version-1 file, written by the writer before keys existed and kept in
// testdata, still reads: same codes and labels, no keys.
func TestCodeReadsVersion1(t *testing.T) {
	b, err := os.ReadFile("testdata/codes-v1.vqc")
	if err != nil {
		t.Fatal(err)
	}
	if b[8] != 1 || b[9] != 0 {
		t.Fatalf("fixture is version %d, not 1", int(b[8])|int(b[9])<<8)
	}
	f, err := openCodesBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	h := f.Header()
	if h.Count != 10 || h.GridH != 3 || h.GridW != 2 || h.K != 300 || h.ImageH != 12 || h.ImageW != 8 || h.Channels != 3 ||
		!h.Labels || h.NumClasses != 4 || h.Keys || h.ChunkImages != 4 || h.Layout != CodeLayoutRaw16 || h.Fingerprint[0] != 0xab {
		t.Fatalf("version-1 header read as %+v", h)
	}
	codes, labels, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(codes, synthCodes(11, 10, 3, 2, 300, false)) || !slices.Equal(labels, synthLabels(12, 10, 4)) {
		t.Fatal("version-1 codes or labels differ from what was written")
	}
	if keys, err := f.Keys(); keys != nil || err != nil {
		t.Fatalf("keys of a version-1 file: %v, %v", keys, err)
	}
	// Today's writer writes version 2; the same data reads back the same.
	again := writeCodesBytes(t, h, codes, labels)
	if again[8] != codeVersion {
		t.Fatalf("writer wrote version %d", again[8])
	}
	c2, l2, err := readAllCodes(again)
	if err != nil || !slices.Equal(c2, codes) || !slices.Equal(l2, labels) {
		t.Fatalf("rewritten as version 2: %v", err)
	}
}

// FuzzCodesKeyBlock drives the key-block decoder beneath the chunk CRC: no
// panic, and accepted keys obey the format's rules.
func FuzzCodesKeyBlock(f *testing.F) {
	b, _ := appendCodeKeyBlock(nil, []string{"a/b.png", "ç.jpg", "z"}, nil)
	f.Add(append(b, 1, 2, 3), uint8(3))
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 9}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		imgs := int(n%16) + 1
		keys := make([]string, imgs)
		rest, err := splitCodeKeyBlock(data, imgs, keys)
		if err != nil {
			return
		}
		if len(rest) < 1 {
			t.Fatal("no codes block left after the keys")
		}
		for i, k := range keys {
			if len(k) < 1 || len(k) > CodeMaxKeyLen {
				t.Fatalf("key %d of %d bytes accepted", i, len(k))
			}
		}
	})
}

// Keys ride in front of prior-coded chunks too: the codec's body is
// unchanged behind the key block, every image keeps its key, and every
// flipped bit is still detected.
func TestCodeKeysPriorCoded(t *testing.T) {
	codec := newToyCodec(1)
	const n = 20 // chunks of 7: 7, 7, 6
	codes := synthCodes(2, n, 7, 7, 512, true)
	labels := synthLabels(2, n, 10)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("a/%02d.png", i)
	}
	h := priorHeader(true)
	h.Keys, h.Count = true, n
	var buf bytes.Buffer
	cw, err := NewCodeWriterCodec(plainWriter{&buf}, h, codec)
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteBatchKeyed(codes, labels, keys); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	read := func(b []byte) ([]uint16, []int32, []string, error) {
		f, err := openCodesBytes(b)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := f.SetChunkCodec(codec); err != nil {
			return nil, nil, nil, err
		}
		c, l, err := f.LoadAll()
		if err != nil {
			return nil, nil, nil, err
		}
		k, err := f.Keys()
		return c, l, k, err
	}
	c, l, k, err := read(b)
	if err != nil || !slices.Equal(c, codes) || !slices.Equal(l, labels) || !slices.Equal(k, keys) {
		t.Fatalf("prior-coded keyed file read back wrong: %v", err)
	}
	// The keys come first in each chunk: reading them needs no prior and
	// decodes no codes.
	f, err := openCodesBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := f.Keys(); err != nil || !slices.Equal(k, keys) {
		t.Fatalf("keys without the prior: %v", err)
	}
	for i := codeHeaderSize; i < len(b); i++ {
		b[i] ^= 0x10
		_, _, _, err := read(b)
		b[i] ^= 0x10
		if err == nil {
			t.Fatalf("flip in byte %d of %d undetected", i, len(b))
		}
	}
}
