package datasets

// Damaged code files: every flipped bit, every truncation and every bad
// header field is refused with ErrCodeFileCorrupt or a named error, never
// read as codes.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// readAllCodes reads every grid and label, and every key of a keyed file.
func readAllCodes(b []byte) ([]uint16, []int32, error) {
	f, err := openCodesBytes(b)
	if err != nil {
		return nil, nil, err
	}
	codes, labels, err := f.LoadAll()
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Keys(); err != nil {
		return nil, nil, err
	}
	return codes, labels, nil
}

// TestCodeEveryBitFlip flips each bit of a small file in turn. Every byte
// lies in a CRC-covered region, so every flip must be an error that names
// the file and wraps ErrCodeFileCorrupt.
func TestCodeEveryBitFlip(t *testing.T) {
	plain, _, _ := smallCodeFile(t)
	keyed, _, _, _ := smallKeyedCodeFile(t)
	for _, orig := range [][]byte{plain, keyed} {
		everyBitFlip(t, orig)
	}
}

func everyBitFlip(t *testing.T, orig []byte) {
	if _, _, err := readAllCodes(orig); err != nil {
		t.Fatal(err)
	}
	b := slices.Clone(orig)
	where := map[string]int{}
	for i := range b {
		for bit := range 8 {
			b[i] ^= 1 << bit
			_, _, err := readAllCodes(b)
			b[i] ^= 1 << bit
			if err == nil {
				t.Fatalf("flip of byte %d bit %d of %d bytes went undetected", i, bit, len(b))
			}
			if !errors.Is(err, ErrCodeFileCorrupt) || !strings.Contains(err.Error(), "mem.codes") {
				t.Fatalf("flip of byte %d bit %d: error %q does not name the file or wrap ErrCodeFileCorrupt", i, bit, err)
			}
			msg := err.Error()
			switch {
			case strings.Contains(msg, "chunk index"):
				where["index"]++
			case strings.Contains(msg, "chunk"):
				where["chunk"]++
			case strings.Contains(msg, "trailer"):
				where["trailer"]++
			default:
				where["header"]++
			}
		}
	}
	t.Logf("%d bytes, %d flips all detected; by region reported: %v", len(b), 8*len(b), where)
	for _, r := range []string{"header", "chunk", "index", "trailer"} {
		if where[r] == 0 {
			t.Errorf("no flip reported in region %s", r)
		}
	}
}

func TestCodeEveryTruncation(t *testing.T) {
	plain, _, _ := smallCodeFile(t)
	keyed, _, _, _ := smallKeyedCodeFile(t)
	for _, orig := range [][]byte{plain, keyed} {
		everyTruncation(t, orig)
	}
}

func everyTruncation(t *testing.T, orig []byte) {
	for n := range len(orig) {
		_, _, err := readAllCodes(orig[:n])
		if err == nil || !errors.Is(err, ErrCodeFileCorrupt) {
			t.Fatalf("truncation to %d of %d bytes: err = %v", n, len(orig), err)
		}
	}
	// Appended garbage is as bad as missing bytes.
	if _, _, err := readAllCodes(append(slices.Clone(orig), 0)); err == nil {
		t.Fatal("a trailing extra byte went undetected")
	}
}

// TestCodeOneChunkAlone damages chunk 0 and checks that the other chunks
// still read, while chunk 0 fails with an error naming it.
func TestCodeOneChunkAlone(t *testing.T) {
	b, codes, labels := smallCodeFile(t)
	b[codeHeaderSize+2] ^= 0x10
	f, err := openCodesBytes(b)
	if err != nil {
		t.Fatalf("open should not read chunk bodies: %v", err)
	}
	g, l, err := f.ReadChunk(2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g, codes[8*9:]) || !slices.Equal(l, labels[8:]) {
		t.Fatal("chunk 2 read alone differs")
	}
	if _, _, err := f.ReadChunk(0); err == nil || !strings.Contains(err.Error(), "chunk 0") {
		t.Fatalf("damaged chunk 0: err = %v, want one naming chunk 0", err)
	}
	if _, _, err := f.ReadChunk(3); err == nil {
		t.Fatal("chunk 3 of 3 should be out of range")
	}
}

// TestCodeBadHeaders rewrites header fields (fixing the checksum, so the
// field checks themselves are exercised) and expects errors naming them.
func TestCodeBadHeaders(t *testing.T) {
	orig, _, _ := smallCodeFile(t)
	u32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	u16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], v) }
	}
	cases := []struct {
		name   string
		mutate func([]byte)
		fixCRC bool
		want   string
	}{
		{"magic", func(b []byte) { b[0] = 'X' }, false, "magic"},
		{"version", u16(8, 3), false, "version 3"},
		{"version 0", u16(8, 0), false, "version 0"},
		{"crc", func(b []byte) { b[30]++ }, false, "header checksum"},
		{"K=0", u32(28, 0), true, "K = 0"},
		{"K too big", u32(28, CodeMaxK+1), true, "K = 65537"},
		{"grid 0 high", u16(24, 0), true, "grid height = 0"},
		{"grid 0 wide", u16(26, 0), true, "grid width = 0"},
		{"chunk 0", u32(12, 0), true, "chunk images = 0"},
		{"chunk huge", u32(12, 1<<30), true, "chunk images"},
		{"layout 0", func(b []byte) { b[10] = 0 }, true, "layout = 0"},
		{"layout 9", func(b []byte) { b[10] = 9 }, true, "layout = 9"},
		{"flags", func(b []byte) { b[11] = 5 }, true, "flags"},
		{"keys in version 1", func(b []byte) { b[8], b[11] = 1, 3 }, true, "unknown flag bits for version 1"},
		{"keys flag without key blocks", func(b []byte) { b[11] = 3 }, true, "chunk 0: key block"},
		{"labels no classes", u32(44, 0), true, "classes = 0"},
		{"no labels with classes", func(b []byte) { b[11] = 0 }, true, "classes = 10"},
		{"image 0", u32(32, 0), true, "image height = 0"},
		{"channels 0", u32(40, 0), true, "channels = 0"},
		{"reserved", func(b []byte) { b[100] = 1 }, true, "reserved byte 100"},
		{"absurd count", func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 1<<39) }, true, "chunks"},
		{"count too big", func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 1<<62) }, true, "count"},
		{"count one fewer", func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 9) }, true, "chunk 2: index says 2 images, want 1"},
		{"count one more chunk", func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 13) }, true, "trailer says 3 chunks"},
		{"K smaller than codes", u32(28, 3), true, "code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(orig)
			c.mutate(b)
			if c.fixCRC {
				binary.LittleEndian.PutUint32(b[codeHeaderCRCAt:], codeCRC(b[:codeHeaderCRCAt]))
			}
			_, _, err := readAllCodes(b)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "mem.codes") {
				t.Fatalf("err = %v, want one containing %q and the file name", err, c.want)
			}
		})
	}
	for _, b := range [][]byte{nil, []byte("hello"), []byte("VQGCODES"), bytes.Repeat([]byte{0}, 300)} {
		if _, err := openCodesBytes(b); err == nil {
			t.Fatalf("%q opened as a code file", b)
		}
	}
}
