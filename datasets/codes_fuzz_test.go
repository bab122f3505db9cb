package datasets

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzCodesReader feeds arbitrary bytes to the whole reader. It must never
// panic, and whatever it accepts must satisfy the header's promises.
func FuzzCodesReader(f *testing.F) {
	b, _, _ := smallCodeFile(f)
	f.Add(b)
	f.Add(writeCodesBytes(f, mnistCodeHeader(false), synthCodes(1, 3, 7, 7, 512, true), nil))
	f.Add([]byte("VQGCODES"))
	kb, _, _, _ := smallKeyedCodeFile(f)
	f.Add(kb)
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := NewCodeReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		h := cf.Header()
		codes, labels, err := cf.LoadAll()
		if err != nil {
			return
		}
		if int64(len(codes)) != h.Count*int64(h.Cells()) || (labels != nil) != h.Labels {
			t.Fatalf("LoadAll returned %d codes, %d labels for header %+v", len(codes), len(labels), h)
		}
		for _, v := range codes {
			if int(v) >= h.K {
				t.Fatalf("accepted code %d >= K=%d", v, h.K)
			}
		}
		for _, l := range labels {
			if l < 0 || int(l) >= h.NumClasses {
				t.Fatalf("accepted label %d outside [0, %d)", l, h.NumClasses)
			}
		}
		if _, err := cf.Stats(); err != nil {
			t.Fatalf("Stats failed after LoadAll succeeded: %v", err)
		}
		keys, err := cf.Keys()
		if err != nil {
			t.Fatalf("Keys failed after LoadAll succeeded: %v", err)
		}
		if (!h.Keys && keys != nil) || (h.Keys && int64(len(keys)) != h.Count) {
			t.Fatalf("%d keys for header %+v", len(keys), h)
		}
	})
}

// FuzzCodesChunk drives the chunk decoder beneath the CRC, which is what a
// crafted file with valid checksums reaches. data is tried both as a zstd
// chunk and as an uncompressed payload; the small integers pick a header.
// An accepted payload must re-encode to the same bytes (the decoder admits
// exactly one encoding of each dataset).
func FuzzCodesChunk(f *testing.F) {
	for _, layout := range CodeLayouts {
		h := CodeHeader{Count: 3, GridH: 2, GridW: 3, K: 300, ImageH: 1, ImageW: 1, Channels: 1, ChunkImages: 3, Labels: true, NumClasses: 5, Layout: layout}
		codes := synthCodes(5, 3, 2, 3, 300, true)
		p := encodeCodePayload(nil, &h, codes, []int32{0, 4, 2}, 3)
		f.Add(p, uint8(layout), uint16(299), uint8(2), uint8(3), uint8(3), uint16(5))
		f.Add(codeEncoder().EncodeAll(p, nil), uint8(layout), uint16(299), uint8(2), uint8(3), uint8(3), uint16(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, layout uint8, km1 uint16, gh, gw, n uint8, classes uint16) {
		h := CodeHeader{
			GridH: int(gh%8) + 1, GridW: int(gw%8) + 1, K: int(km1) + 1,
			ImageH: 1, ImageW: 1, Channels: 1,
			Layout: CodeLayout(layout%(codeLayoutCount-1) + 1),
		}
		imgs := int(n%16) + 1
		h.Count, h.ChunkImages = int64(imgs), imgs
		if classes > 0 {
			h.Labels, h.NumClasses = true, int(classes)
		}
		if err := h.validate(); err != nil {
			t.Fatalf("fuzz header invalid: %v", err)
		}
		codes := make([]uint16, imgs*h.Cells())
		var labels []int32
		if h.Labels {
			labels = make([]int32, imgs)
		}
		_ = decodeCodeChunk(data, &h, imgs, codes, labels, nil)
		if err := decodeCodePayload(data, &h, imgs, codes, labels); err != nil {
			return
		}
		for _, v := range codes {
			if int(v) >= h.K {
				t.Fatalf("accepted code %d >= K=%d", v, h.K)
			}
		}
		again := encodeCodePayload(nil, &h, codes, labels, imgs)
		if !slices.Equal(again, data) {
			t.Fatalf("payload does not re-encode to itself:\n in %x\nout %x", data, again)
		}
	})
}
