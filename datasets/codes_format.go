package datasets

// Code files hold a dataset as the VQ-VAE's codebook indices: one grid of
// GridH x GridW indices in [0, K) per image, plus an optional class label.
// The byte layout is specified in CODES.md; this file holds the pieces shared
// by the writer and the reader: the header, the index, the trailer and the
// chunk payload codecs (codes_chunk.go). Every byte of a finished file lies in exactly one
// region guarded by a CRC-32C (header, chunk, index, trailer), and the regions
// tile the file with no gaps, so a single flipped bit anywhere is always
// detected: CRC-32C catches every error burst of up to 32 bits.

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
)

// On-disk constants; see CODES.md.
const (
	codeMagic          = "VQGCODES"
	codeTrailerMagic   = "VQGCEND\x00"
	codeVersion        = 2 // written; versions 1 and 2 are read
	codeMinVersion     = 1
	codeHeaderSize     = 128
	codeHeaderCRCAt    = 124
	codeIndexEntrySize = 20
	codeTrailerSize    = 32
	codeFlagLabels     = 1
	codeFlagKeys       = 2 // version 2 on

	// CodeMaxK is the largest codebook a code file can hold: indices are
	// stored in at most 16 bits.
	CodeMaxK = 1 << 16
	// CodeMaxClasses bounds the label range; labels take one or two bytes.
	CodeMaxClasses = 1 << 16
	// CodeDefaultChunkImages is the chunk size used when CodeHeader.ChunkImages
	// is zero: MNIST's 60,000 training images become 15 chunks.
	CodeDefaultChunkImages = 4096
	// codeMaxChunkRaw bounds the decompressed size of one chunk, so a reader
	// never allocates more than this for a chunk whatever the file claims.
	codeMaxChunkRaw = 1 << 28
	// codeMaxCount bounds the image count so that offsets and products of
	// counts and sizes cannot overflow int64.
	codeMaxCount = 1 << 40
	// codeMaxImageDim bounds the recorded image size and channel count.
	codeMaxImageDim = 1 << 20
	// CodeMaxKeyLen is the longest per-image key, in bytes (PATH_MAX on
	// Linux).
	CodeMaxKeyLen = 4096
	// codeKeyBlockHead is the size of a key block's two length fields.
	codeKeyBlockHead = 8
)

// ErrCodeFileCorrupt is wrapped by every error that reports a damaged or
// malformed code file, so callers can tell bad data from I/O failures.
var ErrCodeFileCorrupt = errors.New("corrupt code file")

var codeCRCTable = crc32.MakeTable(crc32.Castagnoli)

func codeCRC(b []byte) uint32 { return crc32.Checksum(b, codeCRCTable) }

// CodeFingerprint identifies the VQ-VAE that produced a file's codes: the
// SHA-256 of its codebook and decoder weights. Codes are only meaningful
// with the codebook that made them, so stage two and the sampler compare
// fingerprints before mixing a code file with a model.
type CodeFingerprint [32]byte

// String returns the fingerprint as 64 lowercase hex digits.
func (f CodeFingerprint) String() string { return hex.EncodeToString(f[:]) }

// IsZero reports whether no fingerprint was recorded.
func (f CodeFingerprint) IsZero() bool { return f == CodeFingerprint{} }

// ParseCodeFingerprint parses 64 hex digits, as written by String.
func ParseCodeFingerprint(s string) (CodeFingerprint, error) {
	var f CodeFingerprint
	if len(s) != 2*len(f) {
		return f, fmt.Errorf("code fingerprint %q: want %d hex digits, got %d", s, 2*len(f), len(s))
	}
	if _, err := hex.Decode(f[:], []byte(s)); err != nil {
		return f, fmt.Errorf("code fingerprint %q: %v", s, err)
	}
	return f, nil
}

// CodeLayout says how a chunk's indices are laid out before compression.
// All layouts hold the same values; they differ in how well zstd compresses
// them (see MeasureCodeLayouts and CODES.md).
type CodeLayout uint8

const (
	// CodeLayoutDefault (0) selects the layout chosen by measurement,
	// CodeLayoutRaw16 (see CODES.md for the measurement). It is never stored in a file.
	CodeLayoutDefault CodeLayout = 0
	// CodeLayoutRaw16 stores each index as a little-endian uint16, image by
	// image, row-major within an image.
	CodeLayoutRaw16 CodeLayout = 1
	// CodeLayoutPacked stores each index in ceil(log2 K) bits (at least 1),
	// least significant bit first, in the order of Raw16; the last byte is
	// padded with zero bits.
	CodeLayoutPacked CodeLayout = 2
	// CodeLayoutPlanes stores the low bytes of all indices (in Raw16 order),
	// then all their high bytes.
	CodeLayoutPlanes CodeLayout = 3
	// CodeLayoutPlanesByPos is CodeLayoutPlanes with the indices taken grid
	// position by grid position (position 0 of every image, then position 1,
	// ...), which puts values from the same spatial context side by side.
	CodeLayoutPlanesByPos CodeLayout = 4
	codeLayoutCount                  = 5

	// CodeLayoutPrior stores each chunk coded with a prior's probabilities
	// (an entropy coder driven by the model) instead of zstd: see CODES.md,
	// "Prior-coded chunks". Reading and writing such files needs a
	// CodeChunkCodec for the prior that CodeHeader.Prior names. It is not in
	// CodeLayouts, which lists the layouts readable without a model.
	CodeLayoutPrior CodeLayout = 5
)

// CodeLayouts lists the layouts a reader understands, in id order.
var CodeLayouts = []CodeLayout{CodeLayoutRaw16, CodeLayoutPacked, CodeLayoutPlanes, CodeLayoutPlanesByPos}

// codeLayoutChosen is what CodeLayoutDefault resolves to; CODES.md has the
// measurements behind the choice.
const codeLayoutChosen = CodeLayoutRaw16

func (l CodeLayout) String() string {
	switch l {
	case CodeLayoutDefault:
		return "default"
	case CodeLayoutRaw16:
		return "raw16"
	case CodeLayoutPacked:
		return "packed"
	case CodeLayoutPlanes:
		return "planes"
	case CodeLayoutPlanesByPos:
		return "planes-by-pos"
	case CodeLayoutPrior:
		return "prior"
	}
	return fmt.Sprintf("layout(%d)", uint8(l))
}

// CodeHeader describes a code file. Count, GridH, GridW, K and the image
// shape are required; ChunkImages and Layout have defaults.
type CodeHeader struct {
	// Count is the number of images. A writer on a plain io.Writer must know
	// it up front; one on an io.WriteSeeker (such as a file) patches the
	// header with the number actually written when it closes.
	Count int64
	// GridH and GridW are the code grid's shape (7x7 for MNIST).
	GridH, GridW int
	// K is the codebook size; every index is in [0, K).
	K int
	// ImageH, ImageW and Channels are the shape of the images the codes
	// decode to (28x28x1 for MNIST).
	ImageH, ImageW, Channels int
	// Labels says whether each image carries a class label in [0, NumClasses).
	Labels bool
	// Keys says whether each image carries a key: a name of 1 to
	// CodeMaxKeyLen bytes, for an image folder the source file's path
	// relative to the folder (slash-separated). Keys are opaque bytes
	// compared in byte order; `vqgen encode` writes images in that order.
	// Version 2.
	Keys bool
	// NumClasses is the number of classes; 0 exactly when Labels is false.
	NumClasses int
	// ChunkImages is the number of images per compressed chunk; 0 selects
	// CodeDefaultChunkImages.
	ChunkImages int
	// Layout is the in-chunk layout of the indices; 0 selects the default.
	Layout CodeLayout
	// Fingerprint identifies the VQ-VAE that made the codes.
	Fingerprint CodeFingerprint
	// Prior identifies the prior that codes the chunks when Layout is
	// CodeLayoutPrior (a writer takes it from its CodeChunkCodec); it is
	// the zero value for every other layout.
	Prior CodePrior
}

// Cells returns the number of indices per image, GridH*GridW.
func (h *CodeHeader) Cells() int { return h.GridH * h.GridW }

// codeBits is the width of one index in the packed layout.
func codeBits(k int) int { return max(1, bits.Len(uint(k-1))) }

// codeLabelWidth is the number of bytes per stored label.
func codeLabelWidth(numClasses int) int {
	if numClasses <= 256 {
		return 1
	}
	return 2
}

// codePayloadSize is the exact decompressed size of a chunk of n images.
func codePayloadSize(h *CodeHeader, n int) int {
	values := n * h.Cells()
	var size int
	if h.Layout == CodeLayoutPacked {
		size = (values*codeBits(h.K) + 7) / 8
	} else {
		size = 2 * values
	}
	if h.Labels {
		size += n * codeLabelWidth(h.NumClasses)
	}
	return size
}

// codeZstdMaxRatio bounds zstd's expansion on decompression: every block
// regenerates at most 128 KiB and takes at least 4 bytes (an RLE block's
// 3-byte header and its byte), so s compressed bytes yield at most 32768*s.
// The reader uses it to reject index entries that claim more images than
// their bytes could hold, before any allocation.
const codeZstdMaxRatio = 128 << 10 / 4

// codeCompressBound bounds the compressed size of a chunk: zstd never
// expands data by more than a few bytes per 128 KiB block plus a frame header.
func codeCompressBound(raw int) int { return raw + raw/1024 + 1024 }

// validate checks the header's fields for a writer (resolving defaults into
// a copy) or a reader. It returns an error naming the first bad field.
func (h *CodeHeader) validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("header field %s = %v: %s", field, v, why)
	}
	switch {
	case h.Count < 0 || h.Count > codeMaxCount:
		return bad("count", h.Count, fmt.Sprintf("must be in [0, %d]", int64(codeMaxCount)))
	case h.K < 1 || h.K > CodeMaxK:
		return bad("K", h.K, fmt.Sprintf("must be in [1, %d]", CodeMaxK))
	case h.GridH < 1 || h.GridH > 0xffff:
		return bad("grid height", h.GridH, "must be in [1, 65535]")
	case h.GridW < 1 || h.GridW > 0xffff:
		return bad("grid width", h.GridW, "must be in [1, 65535]")
	case h.ImageH < 1 || h.ImageH > codeMaxImageDim:
		return bad("image height", h.ImageH, fmt.Sprintf("must be in [1, %d]", codeMaxImageDim))
	case h.ImageW < 1 || h.ImageW > codeMaxImageDim:
		return bad("image width", h.ImageW, fmt.Sprintf("must be in [1, %d]", codeMaxImageDim))
	case h.Channels < 1 || h.Channels > codeMaxImageDim:
		return bad("channels", h.Channels, fmt.Sprintf("must be in [1, %d]", codeMaxImageDim))
	case h.Labels && (h.NumClasses < 1 || h.NumClasses > CodeMaxClasses):
		return bad("classes", h.NumClasses, fmt.Sprintf("must be in [1, %d] when labels are present", CodeMaxClasses))
	case !h.Labels && h.NumClasses != 0:
		return bad("classes", h.NumClasses, "must be 0 when labels are absent")
	case h.ChunkImages < 1:
		return bad("chunk images", h.ChunkImages, "must be at least 1")
	case (h.Layout == CodeLayoutDefault || h.Layout >= codeLayoutCount) && h.Layout != CodeLayoutPrior:
		return bad("layout", uint8(h.Layout), "unknown layout id")
	}
	if err := h.Prior.validate(h.Layout == CodeLayoutPrior); err != nil {
		return err
	}
	if int64(h.GridH)*int64(h.GridW)*2+2 > codeMaxChunkRaw {
		return bad("grid", fmt.Sprintf("%dx%d", h.GridH, h.GridW), "too many cells for one image")
	}
	if int64(h.ChunkImages)*(int64(h.Cells())*2+2) > codeMaxChunkRaw {
		return bad("chunk images", h.ChunkImages, fmt.Sprintf("a chunk of %d grids of %d cells exceeds %d bytes", h.ChunkImages, h.Cells(), codeMaxChunkRaw))
	}
	return nil
}

// numChunks is the number of chunks Count images need.
func (h *CodeHeader) numChunks() int64 {
	return (h.Count + int64(h.ChunkImages) - 1) / int64(h.ChunkImages)
}

// chunkLen is the number of images in chunk i.
func (h *CodeHeader) chunkLen(i int64) int {
	return int(min(int64(h.ChunkImages), h.Count-i*int64(h.ChunkImages)))
}

func (h *CodeHeader) marshal() []byte {
	b := make([]byte, codeHeaderSize)
	copy(b[0:8], codeMagic)
	binary.LittleEndian.PutUint16(b[8:], codeVersion)
	b[10] = byte(h.Layout)
	if h.Labels {
		b[11] |= codeFlagLabels
	}
	if h.Keys {
		b[11] |= codeFlagKeys
	}
	binary.LittleEndian.PutUint32(b[12:], uint32(h.ChunkImages))
	binary.LittleEndian.PutUint64(b[16:], uint64(h.Count))
	binary.LittleEndian.PutUint16(b[24:], uint16(h.GridH))
	binary.LittleEndian.PutUint16(b[26:], uint16(h.GridW))
	binary.LittleEndian.PutUint32(b[28:], uint32(h.K))
	binary.LittleEndian.PutUint32(b[32:], uint32(h.ImageH))
	binary.LittleEndian.PutUint32(b[36:], uint32(h.ImageW))
	binary.LittleEndian.PutUint32(b[40:], uint32(h.Channels))
	binary.LittleEndian.PutUint32(b[44:], uint32(h.NumClasses))
	copy(b[48:80], h.Fingerprint[:])
	if h.Layout == CodeLayoutPrior {
		h.Prior.marshal(b[codePriorAt:codeHeaderCRCAt])
	}
	binary.LittleEndian.PutUint32(b[codeHeaderCRCAt:], codeCRC(b[:codeHeaderCRCAt]))
	return b
}

// unmarshalCodeHeader parses and checks a header block: magic, version,
// checksum, then each field.
func unmarshalCodeHeader(b []byte) (CodeHeader, error) {
	var h CodeHeader
	if string(b[0:8]) != codeMagic {
		return h, fmt.Errorf("not a vqgen code file: magic %q, want %q", b[0:8], codeMagic)
	}
	version := binary.LittleEndian.Uint16(b[8:])
	if version < codeMinVersion || version > codeVersion {
		return h, fmt.Errorf("unsupported code file version %d (this build reads versions %d to %d)", version, codeMinVersion, codeVersion)
	}
	if got, want := binary.LittleEndian.Uint32(b[codeHeaderCRCAt:]), codeCRC(b[:codeHeaderCRCAt]); got != want {
		return h, fmt.Errorf("header checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	if CodeLayout(b[10]) == CodeLayoutPrior {
		p, err := unmarshalCodePrior(b[codePriorAt:codeHeaderCRCAt])
		if err != nil {
			return h, err
		}
		h.Prior = p
	} else {
		for i := codePriorAt; i < codeHeaderCRCAt; i++ {
			if b[i] != 0 {
				return h, fmt.Errorf("header reserved byte %d is %d, want 0", i, b[i])
			}
		}
	}
	flags := b[11]
	known := byte(codeFlagLabels | codeFlagKeys)
	if version == 1 {
		known = codeFlagLabels
	}
	if flags&^known != 0 {
		return h, fmt.Errorf("header field flags = %#x: unknown flag bits for version %d", flags, version)
	}
	count := binary.LittleEndian.Uint64(b[16:])
	if count > codeMaxCount {
		return h, fmt.Errorf("header field count = %d: must be at most %d", count, int64(codeMaxCount))
	}
	h = CodeHeader{
		Prior:       h.Prior,
		Layout:      CodeLayout(b[10]),
		Labels:      flags&codeFlagLabels != 0,
		Keys:        flags&codeFlagKeys != 0,
		ChunkImages: int(binary.LittleEndian.Uint32(b[12:])),
		Count:       int64(count),
		GridH:       int(binary.LittleEndian.Uint16(b[24:])),
		GridW:       int(binary.LittleEndian.Uint16(b[26:])),
		K:           int(binary.LittleEndian.Uint32(b[28:])),
		ImageH:      int(binary.LittleEndian.Uint32(b[32:])),
		ImageW:      int(binary.LittleEndian.Uint32(b[36:])),
		Channels:    int(binary.LittleEndian.Uint32(b[40:])),
		NumClasses:  int(binary.LittleEndian.Uint32(b[44:])),
	}
	copy(h.Fingerprint[:], b[48:80])
	return h, h.validate()
}
