package datasets

// Prior-coded chunks (layout CodeLayoutPrior): the header names a prior,
// and each chunk is coded with that prior's probabilities by a
// CodeChunkCodec, which a later package provides (stage2_prior/coding):
// datasets knows the container, not the model. CODES.md documents the
// header fields; the chunk's contents are the codec's.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Header bytes of the prior fields (layout prior only; reserved zeros
// otherwise).
const (
	codePriorAt       = 80  // prior fingerprint, 16 bytes
	codePriorNumAt    = 96  // numerics version, uint16
	codePriorNameAt   = 100 // prior file name, 24 bytes
	codePriorNameSize = 24
	// CodeDefaultPriorChunkImages is the chunk size of prior-coded files
	// when CodeHeader.ChunkImages is zero. A chunk is decoded as one batch
	// (all its images advance through the prior together), so it bounds
	// the decoder's memory; at 512 images the per-chunk bytes (index
	// entry, the codec's own fields) cost under 0.1 byte an image.
	CodeDefaultPriorChunkImages = 512
)

// ErrCodeNeedsPrior is wrapped by the error reading a prior-coded chunk
// without a CodeChunkCodec, and by SetChunkCodec's error for a codec of
// another prior: the caller must supply the prior the file names.
var ErrCodeNeedsPrior = errors.New("code file is coded with a prior")

// CodePrior identifies the prior whose probabilities code a file's
// chunks.
type CodePrior struct {
	// Fingerprint is the first 16 bytes of the prior's fingerprint (a
	// SHA-256 of its architecture and weights).
	Fingerprint [16]byte
	// Numerics is the version of the arithmetic the probabilities were
	// computed with; a reader that cannot reproduce it must refuse.
	Numerics uint16
	// Name is the prior's file name (base name, at most 24 bytes of UTF-8)
	// when the file was written, so that errors can say which file to pass.
	Name string
}

// FingerprintString returns the fingerprint as 32 hex digits.
func (p CodePrior) FingerprintString() string { return hex.EncodeToString(p.Fingerprint[:]) }

// String describes the prior for messages: "prior.safetensors
// (fingerprint 0a1b..., numerics 1)".
func (p CodePrior) String() string {
	name := p.Name
	if name == "" {
		name = "prior"
	}
	return fmt.Sprintf("%s (fingerprint %s, numerics version %d)", name, p.FingerprintString(), p.Numerics)
}

func (p *CodePrior) validate(present bool) error {
	if !present {
		if *p != (CodePrior{}) {
			return fmt.Errorf("header field prior = %v: only a prior-coded file (layout prior) names a prior", *p)
		}
		return nil
	}
	switch {
	case p.Fingerprint == [16]byte{}:
		return fmt.Errorf("header field prior fingerprint: zero in a prior-coded file")
	case p.Numerics == 0:
		return fmt.Errorf("header field prior numerics = 0: must be a version >= 1")
	case len(p.Name) > codePriorNameSize || !utf8.ValidString(p.Name) || strings.IndexByte(p.Name, 0) >= 0:
		return fmt.Errorf("header field prior name %q: must be at most %d bytes of UTF-8 without NUL", p.Name, codePriorNameSize)
	}
	return nil
}

// marshal writes the prior fields into b = header[80:124].
func (p *CodePrior) marshal(b []byte) {
	copy(b[0:16], p.Fingerprint[:])
	b[codePriorNumAt-codePriorAt] = byte(p.Numerics)
	b[codePriorNumAt-codePriorAt+1] = byte(p.Numerics >> 8)
	copy(b[codePriorNameAt-codePriorAt:], p.Name)
}

func unmarshalCodePrior(b []byte) (CodePrior, error) {
	var p CodePrior
	copy(p.Fingerprint[:], b[0:16])
	p.Numerics = uint16(b[16]) | uint16(b[17])<<8
	if b[18] != 0 || b[19] != 0 {
		return p, fmt.Errorf("header reserved bytes 98..99 are %d %d, want 0", b[18], b[19])
	}
	name := b[codePriorNameAt-codePriorAt:]
	n := 0
	for n < len(name) && name[n] != 0 {
		n++
	}
	for _, c := range name[n:] {
		if c != 0 {
			return p, fmt.Errorf("header field prior name: bytes after its end must be 0")
		}
	}
	p.Name = string(name[:n])
	return p, p.validate(true)
}

// CodeChunkCodec codes the chunks of prior-coded files. Its methods must be
// safe for concurrent use: writers encode, and LoadAll decodes, several
// chunks at once.
type CodeChunkCodec interface {
	// Prior identifies the model and the numerics version the codec
	// writes; a writer records it in the header.
	Prior() CodePrior
	// EncodeChunk appends the coded form of n images (codes: n grids back
	// to back; labels: n labels, or nil when h has none) to dst.
	EncodeChunk(dst []byte, h *CodeHeader, codes []uint16, labels []int32, n int) ([]byte, error)
	// DecodeChunk decodes the n images of a chunk into codes and labels.
	// It must not panic on any src, must never store an index >= K or a
	// label >= NumClasses, and must report data that does not decode to
	// what was encoded (damage, another prior, other numerics) as an
	// error.
	DecodeChunk(src []byte, h *CodeHeader, n int, codes []uint16, labels []int32) error
}

// codePriorChunkBound bounds a prior-coded chunk of n images: every symbol
// costs at most 32 bits, plus a fixed allowance for the codec's fields.
func codePriorChunkBound(h *CodeHeader, n int) int64 {
	syms := int64(n) * int64(h.Cells()+1)
	return 4*syms + 1024
}

// NewCodeWriterCodec is NewCodeWriter for a prior-coded file (hdr.Layout
// CodeLayoutPrior, or 0 which selects it): codec codes the chunks and names
// the prior in the header.
func NewCodeWriterCodec(w io.Writer, hdr CodeHeader, codec CodeChunkCodec) (*CodeWriter, error) {
	hdr, err := codecHeader(hdr, codec, "code stream")
	if err != nil {
		return nil, err
	}
	return newCodeWriter(w, hdr, "code stream", codec)
}

// CreateCodeFileCodec is CreateCodeFile for a prior-coded file.
func CreateCodeFileCodec(path string, hdr CodeHeader, overwrite bool, codec CodeChunkCodec) (*CodeWriter, error) {
	hdr, err := codecHeader(hdr, codec, path)
	if err != nil {
		return nil, err
	}
	return createCodeFile(path, hdr, overwrite, codec)
}

func codecHeader(hdr CodeHeader, codec CodeChunkCodec, name string) (CodeHeader, error) {
	if codec == nil {
		return hdr, fmt.Errorf("code file %s: a prior-coded file needs a chunk codec", name)
	}
	if hdr.Layout == CodeLayoutDefault {
		hdr.Layout = CodeLayoutPrior
	}
	if hdr.Layout != CodeLayoutPrior {
		return hdr, fmt.Errorf("code file %s: layout %v with a chunk codec: only the prior layout is coded by one", name, hdr.Layout)
	}
	if hdr.ChunkImages == 0 {
		hdr.ChunkImages = CodeDefaultPriorChunkImages
	}
	hdr.Prior = codec.Prior()
	return hdr, nil
}

// codedChunk is a chunk being encoded in the background.
type codedChunk struct {
	done  chan struct{}
	n     int
	bytes []byte
	err   error
}

// flushCoded hands the current chunk to a goroutine and writes finished
// chunks in order, keeping at most GOMAXPROCS chunks in flight.
func (cw *CodeWriter) flushCoded() {
	h := &cw.hdr
	n := cw.n
	codes := append([]uint16(nil), cw.codes[:n*h.Cells()]...)
	var labels []int32
	if h.Labels {
		labels = append([]int32(nil), cw.labels[:n]...)
	}
	// The key block goes first, as in every layout (CODES.md, "Keys"); the
	// codec appends the coded grids after it.
	var head []byte
	if h.Keys {
		head, _ = appendCodeKeyBlock(nil, cw.keys[:n], nil)
	}
	c := &codedChunk{done: make(chan struct{}), n: n}
	go func() {
		defer close(c.done)
		c.bytes, c.err = cw.codec.EncodeChunk(head, h, codes, labels, n)
	}()
	cw.inflight = append(cw.inflight, c)
	cw.n = 0
	for len(cw.inflight) >= runtime.GOMAXPROCS(0) {
		cw.drainCoded()
	}
}

// drainCoded waits for the oldest chunk in flight and writes it.
func (cw *CodeWriter) drainCoded() {
	c := cw.inflight[0]
	cw.inflight = cw.inflight[1:]
	<-c.done
	if cw.err != nil {
		return
	}
	if c.err != nil {
		cw.err = fmt.Errorf("code file %s: chunk %d: %w", cw.name, len(cw.index), c.err)
		return
	}
	if int64(len(c.bytes)) > codePriorChunkBound(&cw.hdr, c.n) || len(c.bytes) == 0 {
		cw.err = fmt.Errorf("code file %s: chunk %d: codec produced %d bytes for %d images", cw.name, len(cw.index), len(c.bytes), c.n)
		return
	}
	e := codeChunkEntry{offset: cw.offset, size: int64(len(c.bytes)), images: c.n, crc: codeCRC(c.bytes)}
	cw.index = append(cw.index, e)
	cw.put(c.bytes)
}

// drainAllCoded writes every chunk still in flight.
func (cw *CodeWriter) drainAllCoded() {
	for len(cw.inflight) > 0 {
		cw.drainCoded()
	}
}

// SetChunkCodec gives the reader the codec for a prior-coded file's chunks.
// It fails, wrapping ErrCodeNeedsPrior, when the codec's prior or numerics
// are not the file's; it is an error on a file of another layout.
func (f *CodeFile) SetChunkCodec(codec CodeChunkCodec) error {
	if f.hdr.Layout != CodeLayoutPrior {
		return fmt.Errorf("code file %s: layout %v is not prior-coded; it needs no prior to read", f.name, f.hdr.Layout)
	}
	have, want := codec.Prior(), f.hdr.Prior
	if have.Fingerprint != want.Fingerprint {
		return fmt.Errorf("code file %s: %w: it needs %v; the prior given (%s) has fingerprint %s", f.name, ErrCodeNeedsPrior, want, have.Name, have.FingerprintString())
	}
	if have.Numerics != want.Numerics {
		return fmt.Errorf("code file %s: %w: its chunks use numerics version %d, which this build cannot reproduce (it has version %d); decode it with the vqgen version that wrote it", f.name, ErrCodeNeedsPrior, want.Numerics, have.Numerics)
	}
	f.mu.Lock()
	f.codec = codec
	f.mu.Unlock()
	return nil
}

// needsPrior is the error for reading a prior-coded chunk without a codec.
func (f *CodeFile) needsPrior() error {
	return fmt.Errorf("code file %s: %w: pass the prior %v (its chunks cannot be read without it)", f.name, ErrCodeNeedsPrior, f.hdr.Prior)
}

func (f *CodeFile) chunkCodec() CodeChunkCodec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.codec
}

// decodePriorChunk decodes a prior-coded chunk's bytes (CRC already
// checked).
func (f *CodeFile) decodePriorChunk(i int, buf []byte, n int, grids []uint16, labels []int32, keys []string) error {
	codec := f.chunkCodec()
	if codec == nil {
		return f.needsPrior()
	}
	if f.hdr.Keys {
		var err error
		if buf, err = splitCodeKeyBlock(buf, n, keys); err != nil {
			return f.corrupt("chunk %d: %v", i, err)
		}
	}
	if err := codec.DecodeChunk(buf, &f.hdr, n, grids, labels); err != nil {
		return f.corrupt("chunk %d: %v", i, err)
	}
	return nil
}

// loadAllCoded is LoadAll for prior-coded files: chunks decode in waves
// of GOMAXPROCS in parallel, each into its place. The slices grow wave by
// wave, so memory follows the data actually decoded, not the header's
// claim (a prior can code likely grids in almost no bytes, so the file's
// size bounds nothing).
func (f *CodeFile) loadAllCoded() (codes []uint16, labels []int32, err error) {
	if f.chunkCodec() == nil {
		return nil, nil, f.needsPrior()
	}
	cells := f.hdr.Cells()
	if f.hdr.Count*int64(cells) > math.MaxInt/4 {
		return nil, nil, fmt.Errorf("code file %s: %d images of %d codes do not fit in memory", f.name, f.hdr.Count, cells)
	}
	w := runtime.GOMAXPROCS(0)
	for c0 := 0; c0 < len(f.index); c0 += w {
		c1 := min(c0+w, len(f.index))
		_, first := f.ChunkImages(c0)
		n1, last := f.ChunkImages(c1 - 1)
		end := int(last) + n1
		codes = slices.Grow(codes, (end-int(first))*cells)[:end*cells]
		if f.hdr.Labels {
			labels = slices.Grow(labels, end-int(first))[:end]
		}
		errs := make([]error, c1-c0)
		var wg sync.WaitGroup
		for c := c0; c < c1; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, first := f.ChunkImages(c)
				var l []int32
				if labels != nil {
					l = labels[first : first+int64(n)]
				}
				_, errs[c-c0] = f.readChunkInto(c, nil, codes[int(first)*cells:(int(first)+n)*cells], l, nil)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, nil, err
			}
		}
		if err := f.reportProgress(int64(end)); err != nil {
			return nil, nil, err
		}
	}
	if codes == nil {
		codes = []uint16{}
	}
	if f.hdr.Labels && labels == nil {
		labels = []int32{}
	}
	return codes, labels, nil
}
