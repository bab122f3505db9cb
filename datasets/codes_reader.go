package datasets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
)

// CodeFile is an open code file. Opening checks the header, the trailer and
// the chunk index; each chunk is checked when it is read. Methods are safe
// for concurrent use.
type CodeFile struct {
	name   string
	r      io.ReaderAt
	closer io.Closer
	size   int64
	hdr    CodeHeader
	index  []codeChunkEntry

	mu       sync.Mutex
	codec    CodeChunkCodec // prior-coded files only (SetChunkCodec)
	progress func(done int64) error
}

// OpenCodeFile opens and validates the code file at path.
func OpenCodeFile(path string) (*CodeFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("code file %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("code file %s: %w", path, err)
	}
	cf, err := NewCodeReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	cf.closer = f
	return cf, nil
}

// NewCodeReader reads a code file of size bytes from r; name is used in
// error messages. Close does not close r.
func NewCodeReader(r io.ReaderAt, size int64, name string) (*CodeFile, error) {
	cf := &CodeFile{name: name, r: r, size: size}
	if err := cf.open(); err != nil {
		return nil, err
	}
	return cf, nil
}

func (f *CodeFile) corrupt(format string, args ...any) error {
	return fmt.Errorf("code file %s: %w: %s", f.name, ErrCodeFileCorrupt, fmt.Sprintf(format, args...))
}

func (f *CodeFile) readAt(b []byte, off int64, what string) error {
	n, err := f.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return f.corrupt("%s: truncated at byte %d", what, off+int64(n))
	}
	return fmt.Errorf("code file %s: %s: %w", f.name, what, err)
}

func (f *CodeFile) open() error {
	if f.size < codeHeaderSize+codeTrailerSize {
		// Report a bad magic before a short length: a small non-code file
		// is better described as "not a code file".
		head := make([]byte, min(f.size, 8))
		if f.size >= 0 && f.readAt(head, 0, "header") == nil && string(head) != codeMagic[:len(head)] {
			return f.corrupt("not a vqgen code file: magic %q, want %q", head, codeMagic)
		}
		return f.corrupt("file is %d bytes, shorter than header and trailer (%d bytes): truncated", f.size, codeHeaderSize+codeTrailerSize)
	}
	hb := make([]byte, codeHeaderSize)
	if err := f.readAt(hb, 0, "header"); err != nil {
		return err
	}
	h, err := unmarshalCodeHeader(hb)
	if err != nil {
		return f.corrupt("%v", err)
	}
	f.hdr = h

	tr := make([]byte, codeTrailerSize)
	if err := f.readAt(tr, f.size-codeTrailerSize, "trailer"); err != nil {
		return err
	}
	if string(tr[20:28]) != codeTrailerMagic {
		return f.corrupt("trailer magic %q missing at end of file (%d bytes): truncated or not closed", tr[20:28], f.size)
	}
	if got, want := binary.LittleEndian.Uint32(tr[28:]), codeCRC(tr[:28]); got != want {
		return f.corrupt("trailer checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	indexOffset := binary.LittleEndian.Uint64(tr[0:])
	nChunks := binary.LittleEndian.Uint64(tr[8:])
	if want := uint64(h.numChunks()); nChunks != want {
		return f.corrupt("trailer says %d chunks, header's %d images in chunks of %d need %d", nChunks, h.Count, h.ChunkImages, want)
	}
	// nChunks <= 2^40, so this product cannot overflow.
	indexLen := nChunks * codeIndexEntrySize
	if indexOffset < codeHeaderSize || indexOffset > uint64(f.size) || uint64(f.size)-indexOffset != indexLen+codeTrailerSize {
		return f.corrupt("index at byte %d with %d entries does not end where the trailer starts (file is %d bytes)", indexOffset, nChunks, f.size)
	}
	idx := make([]byte, indexLen)
	if err := f.readAt(idx, int64(indexOffset), "chunk index"); err != nil {
		return err
	}
	if got, want := binary.LittleEndian.Uint32(tr[16:]), codeCRC(idx); got != want {
		return f.corrupt("chunk index checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	f.index = make([]codeChunkEntry, nChunks)
	next := int64(codeHeaderSize)
	bound := codeChunkBound(&h)
	prior := h.Layout == CodeLayoutPrior
	for i := range f.index {
		b := idx[i*codeIndexEntrySize:]
		e := codeChunkEntry{
			offset: int64(binary.LittleEndian.Uint64(b[0:])),
			size:   int64(binary.LittleEndian.Uint32(b[8:])),
			images: int(binary.LittleEndian.Uint32(b[12:])),
			crc:    binary.LittleEndian.Uint32(b[16:]),
		}
		switch {
		case e.offset != next:
			return f.corrupt("chunk %d: index offset %d, want %d (chunks must be contiguous)", i, e.offset, next)
		case e.images != h.chunkLen(int64(i)):
			return f.corrupt("chunk %d: index says %d images, want %d", i, e.images, h.chunkLen(int64(i)))
		case e.size < 1 || e.size > bound:
			return f.corrupt("chunk %d: index size %d bytes outside [1, %d]", i, e.size, bound)
		case !prior && int64(codePayloadSize(&h, e.images)) > codeZstdMaxRatio*e.size:
			return f.corrupt("chunk %d: %d compressed bytes cannot hold %d images (%d bytes)", i, e.size, e.images, codePayloadSize(&h, e.images))
		}
		next += e.size
		f.index[i] = e
	}
	if next != int64(indexOffset) {
		return f.corrupt("chunks end at byte %d but the index starts at byte %d", next, indexOffset)
	}
	return nil
}

// Close releases the file.
func (f *CodeFile) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Name returns the path or name the file was opened with.
func (f *CodeFile) Name() string { return f.name }

// Header returns the file's header.
func (f *CodeFile) Header() CodeHeader { return f.hdr }

// Count returns the number of images.
func (f *CodeFile) Count() int64 { return f.hdr.Count }

// Size returns the file's size in bytes.
func (f *CodeFile) Size() int64 { return f.size }

// NumChunks returns the number of chunks.
func (f *CodeFile) NumChunks() int { return len(f.index) }

// ChunkImages returns the number of images in chunk i and the index of its
// first image.
func (f *CodeFile) ChunkImages(i int) (n int, first int64) {
	return f.index[i].images, int64(i) * int64(f.hdr.ChunkImages)
}

// ReadChunk reads chunk i alone: its images' grids back to back (GridH*GridW
// each) and their labels (nil when the file has none).
func (f *CodeFile) ReadChunk(i int) (grids []uint16, labels []int32, err error) {
	if i < 0 || i >= len(f.index) {
		return nil, nil, fmt.Errorf("code file %s: chunk %d out of range [0, %d)", f.name, i, len(f.index))
	}
	n := f.index[i].images
	grids = make([]uint16, n*f.hdr.Cells())
	if f.hdr.Labels {
		labels = make([]int32, n)
	}
	if _, err := f.readChunkInto(i, nil, grids, labels, nil); err != nil {
		return nil, nil, err
	}
	return grids, labels, nil
}

// ReadChunkKeys reads chunk i alone, like ReadChunk, and also returns its
// images' keys (nil when the file has none).
func (f *CodeFile) ReadChunkKeys(i int) (grids []uint16, labels []int32, keys []string, err error) {
	if i < 0 || i >= len(f.index) {
		return nil, nil, nil, fmt.Errorf("code file %s: chunk %d out of range [0, %d)", f.name, i, len(f.index))
	}
	n := f.index[i].images
	grids = make([]uint16, n*f.hdr.Cells())
	if f.hdr.Labels {
		labels = make([]int32, n)
	}
	if f.hdr.Keys {
		keys = make([]string, n)
	}
	if _, err := f.readChunkInto(i, nil, grids, labels, keys); err != nil {
		return nil, nil, nil, err
	}
	return grids, labels, keys, nil
}

// readChunkInto decodes chunk i into grids, labels and keys (when not nil),
// using buf (grown as needed) for the compressed bytes; it returns the
// buffer for reuse.
func (f *CodeFile) readChunkInto(i int, buf []byte, grids []uint16, labels []int32, keys []string) ([]byte, error) {
	e := &f.index[i]
	buf, err := f.readChunkBytes(i, buf)
	if err != nil {
		return buf, err
	}
	if f.hdr.Layout == CodeLayoutPrior {
		return buf, f.decodePriorChunk(i, buf, e.images, grids, labels, keys)
	}
	if err := decodeCodeChunk(buf, &f.hdr, e.images, grids, labels, keys); err != nil {
		return buf, f.corrupt("chunk %d: %v", i, err)
	}
	return buf, nil
}

// SetProgress makes LoadAll, Iterate and Stats call fn with the number of
// images read so far after each chunk (after each wave of chunks that
// LoadAll decodes in parallel), from the goroutine that called them: a
// prior-coded file takes seconds per thousand images, which a front end
// shows as a progress bar. An error from fn stops the read and is
// returned. nil removes the hook.
func (f *CodeFile) SetProgress(fn func(done int64) error) {
	f.mu.Lock()
	f.progress = fn
	f.mu.Unlock()
}

// reportProgress calls the SetProgress hook, if any.
func (f *CodeFile) reportProgress(done int64) error {
	f.mu.Lock()
	fn := f.progress
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(done)
}

// readChunkBytes reads chunk i's bytes into buf (grown as needed) and
// checks their CRC.
func (f *CodeFile) readChunkBytes(i int, buf []byte) ([]byte, error) {
	e := &f.index[i]
	if int64(cap(buf)) < e.size {
		buf = make([]byte, e.size)
	}
	buf = buf[:e.size]
	if err := f.readAt(buf, e.offset, fmt.Sprintf("chunk %d", i)); err != nil {
		return buf, err
	}
	if got := codeCRC(buf); got != e.crc {
		return buf, f.corrupt("chunk %d (bytes %d..%d): checksum mismatch (stored %08x, computed %08x)", i, e.offset, e.offset+e.size, e.crc, got)
	}
	return buf, nil
}

// Iterate calls fn for every image in order with its index, grid and label
// (CodeNoLabel when the file has none). grid is reused after fn returns.
// Iteration stops at the first error, from the file or from fn.
func (f *CodeFile) Iterate(fn func(i int64, grid []uint16, label int32) error) error {
	return f.iterate(false, func(i int64, grid []uint16, label int32, _ string) error { return fn(i, grid, label) })
}

// IterateKeyed is Iterate with each image's key ("" when the file has
// none): what a merge of shards by key reads.
func (f *CodeFile) IterateKeyed(fn func(i int64, grid []uint16, label int32, key string) error) error {
	return f.iterate(true, fn)
}

func (f *CodeFile) iterate(wantKeys bool, fn func(i int64, grid []uint16, label int32, key string) error) error {
	cells := f.hdr.Cells()
	grids := make([]uint16, f.hdr.ChunkImages*cells)
	var labels []int32
	if f.hdr.Labels {
		labels = make([]int32, f.hdr.ChunkImages)
	}
	var keys []string
	if wantKeys && f.hdr.Keys {
		keys = make([]string, f.hdr.ChunkImages)
	}
	var buf []byte
	var img int64
	for c := range f.index {
		var err error
		if buf, err = f.readChunkInto(c, buf, grids, labels, keys); err != nil {
			return err
		}
		for j := range f.index[c].images {
			l, k := CodeNoLabel, ""
			if labels != nil {
				l = labels[j]
			}
			if keys != nil {
				k = keys[j]
			}
			if err := fn(img, grids[j*cells:(j+1)*cells], l, k); err != nil {
				return err
			}
			img++
		}
		if err := f.reportProgress(img); err != nil {
			return err
		}
	}
	return nil
}

// Keys reads every image's key, in order; nil when the file has none. It
// reads only each chunk's key block, which comes first in the chunk, so it
// needs no prior for a prior-coded file and decodes no codes.
func (f *CodeFile) Keys() ([]string, error) {
	if !f.hdr.Keys {
		return nil, nil
	}
	var keys []string
	var buf []byte
	for i := range f.index {
		e := &f.index[i]
		var err error
		if buf, err = f.readChunkBytes(i, buf); err != nil {
			return nil, err
		}
		keys = slices.Grow(keys, e.images)[:len(keys)+e.images]
		if _, err := splitCodeKeyBlock(buf, e.images, keys[len(keys)-e.images:]); err != nil {
			return nil, f.corrupt("chunk %d: %v", i, err)
		}
	}
	return keys, nil
}

// LoadAll reads the whole file: all grids back to back (Count*GridH*GridW
// values) and the labels (nil when the file has none), for training.
//
// Memory grows with the data actually decoded, not with the header's claim,
// so a crafted count cannot make it allocate more than the chunks deliver.
func (f *CodeFile) LoadAll() (codes []uint16, labels []int32, err error) {
	if f.hdr.Layout == CodeLayoutPrior {
		return f.loadAllCoded()
	}
	cells := int64(f.hdr.Cells())
	total := f.hdr.Count * cells
	if total > math.MaxInt/4 {
		return nil, nil, fmt.Errorf("code file %s: %d images of %d codes do not fit in memory", f.name, f.hdr.Count, cells)
	}
	// A real code file compresses a few times at most; beyond 64x the
	// claim is implausible and the slices grow chunk by chunk instead.
	hint := min(total, max(1<<20, 64*f.size))
	codes = make([]uint16, 0, hint)
	if f.hdr.Labels {
		labels = make([]int32, 0, min(f.hdr.Count, hint))
	}
	var buf []byte
	for c := range f.index {
		n := f.index[c].images
		start := len(codes)
		codes = slices.Grow(codes, n*int(cells))[:start+n*int(cells)]
		var l []int32
		if labels != nil {
			labels = slices.Grow(labels, n)[:len(labels)+n]
			l = labels[len(labels)-n:]
		}
		if buf, err = f.readChunkInto(c, buf, codes[start:], l, nil); err != nil {
			return nil, nil, err
		}
		if err := f.reportProgress(int64(len(codes) / int(cells))); err != nil {
			return nil, nil, err
		}
	}
	return codes, labels, nil
}

// CodeStats summarises a code file for `vqgen codes inspect`.
type CodeStats struct {
	Count     int64   // images
	K         int     // codebook size
	Cells     int     // codes per image
	Usage     []int64 // Usage[c]: occurrences of code c over all images
	CodesUsed int     // codes that occur at least once
	// EntropyBits is the empirical entropy of the code distribution in bits
	// per code, -sum p log2 p over Usage; log2(K) would mean uniform usage.
	EntropyBits float64
	// Perplexity is 2^EntropyBits, the effective number of codes in use.
	Perplexity    float64
	FileBytes     int64
	BytesPerImage float64 // FileBytes / Count (0 for an empty file)
	// DiskBitsPerCode is the file's size in bits per stored code, to compare
	// with EntropyBits: below it means zstd found structure beyond the
	// unigram distribution.
	DiskBitsPerCode float64
	LabelCounts     []int64 // images per class; nil without labels
}

// Stats reads every chunk and returns the file's statistics.
func (f *CodeFile) Stats() (CodeStats, error) {
	s := CodeStats{Count: f.hdr.Count, K: f.hdr.K, Cells: f.hdr.Cells(), Usage: make([]int64, f.hdr.K), FileBytes: f.size}
	if f.hdr.Labels {
		s.LabelCounts = make([]int64, f.hdr.NumClasses)
	}
	count := func(grid []uint16, label int32) {
		for _, v := range grid {
			s.Usage[v]++
		}
		if label >= 0 {
			s.LabelCounts[label]++
		}
	}
	if f.hdr.Layout == CodeLayoutPrior {
		// Prior-coded chunks decode slowly; LoadAll decodes several at
		// once, one per core.
		codes, labels, err := f.LoadAll()
		if err != nil {
			return CodeStats{}, err
		}
		cells := f.hdr.Cells()
		for i := range len(codes) / cells {
			l := CodeNoLabel
			if labels != nil {
				l = labels[i]
			}
			count(codes[i*cells:(i+1)*cells], l)
		}
	} else if err := f.Iterate(func(_ int64, grid []uint16, label int32) error {
		count(grid, label)
		return nil
	}); err != nil {
		return CodeStats{}, err
	}
	s.EntropyBits, s.CodesUsed = codeEntropy(s.Usage)
	s.Perplexity = math.Exp2(s.EntropyBits)
	if s.Count > 0 {
		s.BytesPerImage = float64(s.FileBytes) / float64(s.Count)
		s.DiskBitsPerCode = 8 * float64(s.FileBytes) / float64(s.Count*int64(s.Cells))
	}
	return s, nil
}

// codeEntropy returns -sum p log2 p of a histogram and its support size.
func codeEntropy(hist []int64) (bitsPerCode float64, used int) {
	var total int64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return 0, 0
	}
	for _, c := range hist {
		if c > 0 {
			used++
			p := float64(c) / float64(total)
			bitsPerCode -= p * math.Log2(p)
		}
	}
	return bitsPerCode, used
}
