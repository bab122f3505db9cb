package datasets

// The chunk payload of a code file (CODES.md): index records, the zstd
// codecs shared by writer and reader, the index and label planes of each
// layout, the per-image key block, and decodeCodeChunk, which checks a
// chunk's CRC before trusting a byte of it.

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// codeChunkEntry is one index record.
type codeChunkEntry struct {
	offset int64
	size   int64 // compressed bytes
	images int
	crc    uint32
}

func (e *codeChunkEntry) marshal(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], uint64(e.offset))
	binary.LittleEndian.PutUint32(b[8:], uint32(e.size))
	binary.LittleEndian.PutUint32(b[12:], uint32(e.images))
	binary.LittleEndian.PutUint32(b[16:], e.crc)
}

// codeEncoder and codeDecoder are shared by all writers and readers: their
// EncodeAll/DecodeAll are safe for concurrent use, and sharing them avoids
// allocating zstd's tables per file.
var codeEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		// Each chunk is covered by our own CRC-32C; zstd's would be a
		// second checksum over the same bytes.
		zstd.WithEncoderCRC(false),
		zstd.WithZeroFrames(true))
	if err != nil {
		panic(err) // only static options above; cannot fail
	}
	return enc
})

var codeDecoder = sync.OnceValue(func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil,
		// Decoding is capped at the destination's capacity, which the
		// reader sets to the chunk's exact expected size: a hostile frame
		// cannot make it allocate more.
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(codeMaxChunkRaw),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		panic(err) // only static options above; cannot fail
	}
	return dec
})

// encodeCodePayload appends the uncompressed payload of n images (codes
// n*cells values, labels n values or nil) to dst.
func encodeCodePayload(dst []byte, h *CodeHeader, codes []uint16, labels []int32, n int) []byte {
	cells := h.Cells()
	values := codes[:n*cells]
	switch h.Layout {
	case CodeLayoutRaw16:
		for _, v := range values {
			dst = binary.LittleEndian.AppendUint16(dst, v)
		}
	case CodeLayoutPacked:
		nb := uint(codeBits(h.K))
		var acc uint64
		var have uint
		for _, v := range values {
			acc |= uint64(v) << have
			have += nb
			for have >= 8 {
				dst = append(dst, byte(acc))
				acc >>= 8
				have -= 8
			}
		}
		if have > 0 {
			dst = append(dst, byte(acc))
		}
	case CodeLayoutPlanes:
		for _, v := range values {
			dst = append(dst, byte(v))
		}
		for _, v := range values {
			dst = append(dst, byte(v>>8))
		}
	case CodeLayoutPlanesByPos:
		for shift := 0; shift <= 8; shift += 8 {
			for p := range cells {
				for i := range n {
					dst = append(dst, byte(values[i*cells+p]>>shift))
				}
			}
		}
	default:
		panic(fmt.Sprintf("encodeCodePayload: layout %d", h.Layout)) // headers are validated before use
	}
	if h.Labels {
		two := codeLabelWidth(h.NumClasses) == 2
		for _, l := range labels[:n] {
			if two {
				dst = binary.LittleEndian.AppendUint16(dst, uint16(l))
			} else {
				dst = append(dst, byte(l))
			}
		}
	}
	return dst
}

// decodeCodePayload decodes an uncompressed payload of n images into codes
// (n*cells values) and, when the header has labels, labels (n values). It
// rejects a payload of the wrong size, indices >= K, labels >= NumClasses
// and nonzero padding bits, so a decoded payload re-encodes to the same
// bytes. Errors name the image (counted within the chunk) and grid cell.
func decodeCodePayload(p []byte, h *CodeHeader, n int, codes []uint16, labels []int32) error {
	if want := codePayloadSize(h, n); len(p) != want {
		return fmt.Errorf("decompressed size %d, want %d for %d images", len(p), want, n)
	}
	cells := h.Cells()
	values := n * cells
	codes = codes[:values]
	k := uint16(h.K - 1) // K <= 65536, so K-1 fits and v >= K is v > K-1
	badCode := func(j int, v int) error {
		i, c := j/cells, j%cells
		return fmt.Errorf("image %d cell (%d,%d): code %d >= K=%d", i, c/h.GridW, c%h.GridW, v, h.K)
	}
	switch h.Layout {
	case CodeLayoutRaw16:
		for j := range codes {
			codes[j] = binary.LittleEndian.Uint16(p[2*j:])
		}
		p = p[2*values:]
	case CodeLayoutPacked:
		nb := uint(codeBits(h.K))
		mask := uint64(1)<<nb - 1
		var acc uint64
		var have uint
		pos := 0
		for j := range codes {
			for have < nb {
				acc |= uint64(p[pos]) << have
				pos++
				have += 8
			}
			v := acc & mask
			if v > uint64(k) {
				return badCode(j, int(v))
			}
			codes[j] = uint16(v)
			acc >>= nb
			have -= nb
		}
		if acc != 0 {
			return fmt.Errorf("nonzero padding bits after the last code")
		}
		p = p[pos:]
	case CodeLayoutPlanes:
		lo, hi := p[:values], p[values:2*values]
		for j := range codes {
			codes[j] = uint16(lo[j]) | uint16(hi[j])<<8
		}
		p = p[2*values:]
	case CodeLayoutPlanesByPos:
		lo, hi := p[:values], p[values:2*values]
		for pos := range cells {
			plo, phi := lo[pos*n:(pos+1)*n], hi[pos*n:(pos+1)*n]
			for i := range n {
				codes[i*cells+pos] = uint16(plo[i]) | uint16(phi[i])<<8
			}
		}
		p = p[2*values:]
	default:
		return fmt.Errorf("unknown layout %d", h.Layout)
	}
	for j, v := range codes {
		if v > k {
			return badCode(j, int(v))
		}
	}
	if !h.Labels {
		return nil
	}
	two := codeLabelWidth(h.NumClasses) == 2
	for i := range n {
		var l int
		if two {
			l = int(binary.LittleEndian.Uint16(p[2*i:]))
		} else {
			l = int(p[i])
		}
		if l >= h.NumClasses {
			return fmt.Errorf("image %d: label %d >= classes=%d", i, l, h.NumClasses)
		}
		labels[i] = int32(l)
	}
	return nil
}

// codeChunkBound bounds a chunk's stored size: its compressed (or
// prior-coded) payload and, with keys, a key block of ChunkImages keys of
// the longest length.
func codeChunkBound(h *CodeHeader) int64 {
	b := int64(codeCompressBound(codePayloadSize(h, h.ChunkImages)))
	if h.Layout == CodeLayoutPrior {
		b = codePriorChunkBound(h, h.ChunkImages)
	}
	if h.Keys {
		b += codeKeyBlockHead + int64(codeCompressBound(h.ChunkImages*codeKeyRawMax))
	}
	return b
}

// codeKeyRawMax is the most raw bytes one key takes: a two-byte uvarint
// length (4096 < 2^14) and the key.
const codeKeyRawMax = 2 + CodeMaxKeyLen

// appendCodeKeyBlock appends a chunk's key block for keys: the compressed
// and raw sizes of the key list (uint32 each), then the list as one zstd
// frame. The raw list is each key's length as a uvarint, then its bytes.
func appendCodeKeyBlock(dst []byte, keys []string, raw []byte) ([]byte, []byte) {
	raw = raw[:0]
	for _, k := range keys {
		raw = binary.AppendUvarint(raw, uint64(len(k)))
		raw = append(raw, k...)
	}
	at := len(dst)
	dst = append(dst, make([]byte, codeKeyBlockHead)...)
	dst = codeEncoder().EncodeAll(raw, dst)
	binary.LittleEndian.PutUint32(dst[at:], uint32(len(dst)-at-codeKeyBlockHead))
	binary.LittleEndian.PutUint32(dst[at+4:], uint32(len(raw)))
	return dst, raw
}

// splitCodeKeyBlock decodes the key block at the start of a chunk into
// keys (n of them) and returns the rest of the chunk, the codes block.
func splitCodeKeyBlock(chunk []byte, n int, keys []string) ([]byte, error) {
	if len(chunk) < codeKeyBlockHead {
		return nil, fmt.Errorf("key block: %d bytes, shorter than its %d-byte head", len(chunk), codeKeyBlockHead)
	}
	comp := int64(binary.LittleEndian.Uint32(chunk))
	raw := int64(binary.LittleEndian.Uint32(chunk[4:]))
	switch {
	case comp < 1 || comp > int64(len(chunk)-codeKeyBlockHead-1):
		return nil, fmt.Errorf("key block: %d compressed bytes in a chunk of %d (the codes must follow)", comp, len(chunk))
	case raw < 2*int64(n) || raw > int64(n)*codeKeyRawMax:
		return nil, fmt.Errorf("key block: %d raw bytes cannot hold %d keys of 1 to %d bytes", raw, n, CodeMaxKeyLen)
	case raw > codeZstdMaxRatio*comp:
		return nil, fmt.Errorf("key block: %d compressed bytes cannot hold %d raw bytes", comp, raw)
	}
	list, err := codeDecoder().DecodeAll(chunk[codeKeyBlockHead:codeKeyBlockHead+comp], make([]byte, 0, raw))
	if err != nil {
		return nil, fmt.Errorf("key block: zstd: %v", err)
	}
	if int64(len(list)) != raw {
		return nil, fmt.Errorf("key block: decompressed %d bytes, want %d", len(list), raw)
	}
	for i := range n {
		l, m := binary.Uvarint(list)
		if m <= 0 || l < 1 || l > CodeMaxKeyLen || uint64(len(list)-m) < l {
			return nil, fmt.Errorf("image %d: key length %d (want 1 to %d bytes, within the list)", i, l, CodeMaxKeyLen)
		}
		if m != uvarintLen(l) {
			return nil, fmt.Errorf("image %d: key length not minimally encoded", i)
		}
		if keys != nil {
			keys[i] = string(list[m : m+int(l)])
		}
		list = list[m+int(l):]
	}
	if len(list) != 0 {
		return nil, fmt.Errorf("key block: %d bytes after the last key", len(list))
	}
	return chunk[codeKeyBlockHead+comp:], nil
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// decodeCodeChunk decodes one chunk's bytes (already checked against the
// index CRC): the key block when the header has keys (into keys, when not
// nil), then the compressed payload. It is the part of the reader that a
// CRC does not protect from a crafted file, and is fuzzed on its own.
func decodeCodeChunk(comp []byte, h *CodeHeader, n int, codes []uint16, labels []int32, keys []string) error {
	if h.Keys {
		var err error
		if comp, err = splitCodeKeyBlock(comp, n, keys); err != nil {
			return err
		}
	}
	want := codePayloadSize(h, n)
	raw, err := codeDecoder().DecodeAll(comp, make([]byte, 0, want))
	if err != nil {
		return fmt.Errorf("zstd: %v", err)
	}
	return decodeCodePayload(raw, h, n, codes, labels)
}
