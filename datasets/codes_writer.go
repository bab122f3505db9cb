package datasets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// CodeNoLabel is the label to pass to CodeWriter.Write when the header has
// no labels; any other value is an error there, so labels are never dropped
// silently.
const CodeNoLabel int32 = -1

// CodeWriter streams images' code grids into a code file. It buffers one
// chunk of images; the index grows by 20 bytes per chunk (4096 images), so
// memory stays constant in practice whatever the dataset size. It is not
// safe for concurrent use.
type CodeWriter struct {
	name   string // for error messages
	hdr    CodeHeader
	dst    io.Writer
	bw     *bufio.Writer
	start  int64 // position of the header when dst is an io.WriteSeeker, else -1
	offset int64 // bytes written so far, relative to the header

	codes   []uint16
	labels  []int32
	keys    []string
	n       int // images in the current chunk
	written int64
	index   []codeChunkEntry
	payload []byte
	comp    []byte
	keyRaw  []byte

	err    error // sticky: a writer that failed stays failed
	closed bool

	codec    CodeChunkCodec // prior-coded files (NewCodeWriterCodec)
	inflight []*codedChunk  // chunks the codec is encoding, oldest first

	// finish and abort complete or undo CreateCodeFile's temporary file.
	finish func() error
	abort  func()
}

// NewCodeWriter starts a code file on w, writing the header at once. If w is
// an io.WriteSeeker, hdr.Count may be left 0: Close rewrites the header with
// the number of images written. On a plain io.Writer the header is final,
// so hdr.Count must be exact and Close fails if a different number of images
// was written. Close does not close w.
func NewCodeWriter(w io.Writer, hdr CodeHeader) (*CodeWriter, error) {
	return newCodeWriter(w, hdr, "code stream", nil)
}

func newCodeWriter(w io.Writer, hdr CodeHeader, name string, codec CodeChunkCodec) (*CodeWriter, error) {
	if hdr.Layout == CodeLayoutPrior && codec == nil {
		return nil, fmt.Errorf("code file %s: the prior layout needs a chunk codec (NewCodeWriterCodec, CreateCodeFileCodec)", name)
	}
	if hdr.ChunkImages == 0 {
		hdr.ChunkImages = CodeDefaultChunkImages
	}
	if hdr.Layout == CodeLayoutDefault {
		hdr.Layout = codeLayoutChosen
	}
	if err := hdr.validate(); err != nil {
		return nil, fmt.Errorf("code file %s: %w", name, err)
	}
	cw := &CodeWriter{name: name, hdr: hdr, dst: w, start: -1, codec: codec}
	if ws, ok := w.(io.WriteSeeker); ok {
		pos, err := ws.Seek(0, io.SeekCurrent)
		if err == nil {
			cw.start = pos
		}
	}
	chunk := hdr.ChunkImages
	cw.codes = make([]uint16, chunk*hdr.Cells())
	if hdr.Labels {
		cw.labels = make([]int32, chunk)
	}
	if hdr.Keys {
		cw.keys = make([]string, chunk)
	}
	cw.bw = bufio.NewWriterSize(w, 1<<16)
	cw.put(hdr.marshal())
	if cw.err != nil {
		return nil, cw.err
	}
	return cw, nil
}

// Header returns the header being written, with defaults resolved.
func (cw *CodeWriter) Header() CodeHeader { return cw.hdr }

// Count returns the number of images written so far.
func (cw *CodeWriter) Count() int64 { return cw.written }

func (cw *CodeWriter) put(b []byte) {
	if cw.err != nil {
		return
	}
	if _, err := cw.bw.Write(b); err != nil {
		cw.err = fmt.Errorf("code file %s: write: %w", cw.name, err)
		return
	}
	cw.offset += int64(len(b))
}

// Write appends one image: grid holds GridH*GridW indices in [0, K),
// row-major; label is its class in [0, NumClasses), or CodeNoLabel when the
// header has no labels. An invalid image is rejected with an error naming
// it and the cell or label, and the writer stays usable; a write failure of
// the underlying writer is final. A header with keys needs WriteKeyed.
func (cw *CodeWriter) Write(grid []uint16, label int32) error {
	if cw.hdr.Keys {
		return fmt.Errorf("code file %s: image %d: the header has keys; use WriteKeyed", cw.name, cw.written)
	}
	return cw.write(grid, label, "")
}

// WriteKeyed is Write for a header with keys: key names the image (1 to
// CodeMaxKeyLen bytes).
func (cw *CodeWriter) WriteKeyed(grid []uint16, label int32, key string) error {
	if !cw.hdr.Keys {
		return fmt.Errorf("code file %s: image %d: key %q given but the header has no keys", cw.name, cw.written, key)
	}
	if len(key) < 1 || len(key) > CodeMaxKeyLen {
		return fmt.Errorf("code file %s: image %d: key of %d bytes, want 1 to %d", cw.name, cw.written, len(key), CodeMaxKeyLen)
	}
	return cw.write(grid, label, key)
}

func (cw *CodeWriter) write(grid []uint16, label int32, key string) error {
	if cw.err != nil {
		return cw.err
	}
	if cw.closed {
		return fmt.Errorf("code file %s: write after close", cw.name)
	}
	h := &cw.hdr
	cells := h.Cells()
	if len(grid) != cells {
		return fmt.Errorf("code file %s: image %d: grid has %d codes, want %dx%d=%d", cw.name, cw.written, len(grid), h.GridH, h.GridW, cells)
	}
	for j, v := range grid {
		if int(v) >= h.K {
			return fmt.Errorf("code file %s: image %d cell (%d,%d): code %d >= K=%d", cw.name, cw.written, j/h.GridW, j%h.GridW, v, h.K)
		}
	}
	if h.Labels {
		if label < 0 || int(label) >= h.NumClasses {
			return fmt.Errorf("code file %s: image %d: label %d outside [0, %d)", cw.name, cw.written, label, h.NumClasses)
		}
		cw.labels[cw.n] = label
	} else if label != CodeNoLabel {
		return fmt.Errorf("code file %s: image %d: label %d given but the header has no labels (pass CodeNoLabel)", cw.name, cw.written, label)
	}
	if cw.written >= codeMaxCount {
		return fmt.Errorf("code file %s: more than %d images", cw.name, int64(codeMaxCount))
	}
	copy(cw.codes[cw.n*cells:], grid)
	if h.Keys {
		cw.keys[cw.n] = key
	}
	cw.n++
	cw.written++
	if cw.n == h.ChunkImages {
		cw.flushChunk()
	}
	return cw.err
}

// WriteBatch appends len(labels) images (or len(grids)/cells without
// labels): grids holds their grids back to back. labels must be nil when
// the header has no labels. A header with keys needs WriteBatchKeyed.
func (cw *CodeWriter) WriteBatch(grids []uint16, labels []int32) error {
	return cw.WriteBatchKeyed(grids, labels, nil)
}

// WriteBatchKeyed is WriteBatch with one key per image; keys must be nil
// exactly when the header has no keys.
func (cw *CodeWriter) WriteBatchKeyed(grids []uint16, labels []int32, keys []string) error {
	cells := cw.hdr.Cells()
	if len(grids)%cells != 0 {
		return fmt.Errorf("code file %s: batch of %d codes is not a multiple of the grid's %d cells", cw.name, len(grids), cells)
	}
	n := len(grids) / cells
	if cw.hdr.Labels != (labels != nil) || (labels != nil && len(labels) != n) {
		return fmt.Errorf("code file %s: batch of %d grids with %d labels; header labels=%v", cw.name, n, len(labels), cw.hdr.Labels)
	}
	if cw.hdr.Keys != (keys != nil) || (keys != nil && len(keys) != n) {
		return fmt.Errorf("code file %s: batch of %d grids with %d keys; header keys=%v", cw.name, n, len(keys), cw.hdr.Keys)
	}
	for i := range n {
		l := CodeNoLabel
		if labels != nil {
			l = labels[i]
		}
		var err error
		if keys != nil {
			err = cw.WriteKeyed(grids[i*cells:(i+1)*cells], l, keys[i])
		} else {
			err = cw.Write(grids[i*cells:(i+1)*cells], l)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (cw *CodeWriter) flushChunk() {
	if cw.err != nil || cw.n == 0 {
		return
	}
	if cw.codec != nil {
		cw.flushCoded()
		return
	}
	cw.payload = encodeCodePayload(cw.payload[:0], &cw.hdr, cw.codes, cw.labels, cw.n)
	cw.comp = cw.comp[:0]
	if cw.hdr.Keys {
		cw.comp, cw.keyRaw = appendCodeKeyBlock(cw.comp, cw.keys[:cw.n], cw.keyRaw)
	}
	cw.comp = codeEncoder().EncodeAll(cw.payload, cw.comp)
	e := codeChunkEntry{offset: cw.offset, size: int64(len(cw.comp)), images: cw.n, crc: codeCRC(cw.comp)}
	cw.index = append(cw.index, e)
	cw.put(cw.comp)
	cw.n = 0
}

// Close writes the last chunk, the index and the trailer, and flushes. For
// a writer from CreateCodeFile it also syncs and renames the file into
// place; on any error the temporary file is removed.
func (cw *CodeWriter) Close() error {
	if cw.closed {
		return cw.err
	}
	cw.closed = true
	err := cw.finishStream()
	if err != nil {
		cw.err = err
		if cw.abort != nil {
			cw.abort()
		}
		return err
	}
	if cw.finish != nil {
		if err := cw.finish(); err != nil {
			cw.err = err
			return err
		}
	}
	return nil
}

func (cw *CodeWriter) finishStream() error {
	cw.flushChunk()
	cw.drainAllCoded()
	if cw.err != nil {
		return cw.err
	}
	h := &cw.hdr
	if cw.written != h.Count {
		if cw.start < 0 {
			return fmt.Errorf("code file %s: header declared %d images but %d were written (a non-seekable writer needs the exact count up front)", cw.name, h.Count, cw.written)
		}
		h.Count = cw.written
	}
	indexOffset := cw.offset
	idx := make([]byte, len(cw.index)*codeIndexEntrySize)
	for i := range cw.index {
		cw.index[i].marshal(idx[i*codeIndexEntrySize:])
	}
	cw.put(idx)
	tr := make([]byte, codeTrailerSize)
	binary.LittleEndian.PutUint64(tr[0:], uint64(indexOffset))
	binary.LittleEndian.PutUint64(tr[8:], uint64(len(cw.index)))
	binary.LittleEndian.PutUint32(tr[16:], codeCRC(idx))
	copy(tr[20:28], codeTrailerMagic)
	binary.LittleEndian.PutUint32(tr[28:], codeCRC(tr[:28]))
	cw.put(tr)
	if cw.err != nil {
		return cw.err
	}
	if err := cw.bw.Flush(); err != nil {
		return fmt.Errorf("code file %s: write: %w", cw.name, err)
	}
	if cw.start >= 0 {
		// Patch the count (and the header checksum) in place.
		ws := cw.dst.(io.WriteSeeker)
		if _, err := ws.Seek(cw.start, io.SeekStart); err != nil {
			return fmt.Errorf("code file %s: seek to header: %w", cw.name, err)
		}
		if _, err := ws.Write(h.marshal()); err != nil {
			return fmt.Errorf("code file %s: rewrite header: %w", cw.name, err)
		}
		if _, err := ws.Seek(cw.start+cw.offset, io.SeekStart); err != nil {
			return fmt.Errorf("code file %s: seek to end: %w", cw.name, err)
		}
	}
	return nil
}

// Abort abandons the file: for a writer from CreateCodeFile the temporary
// file is removed and nothing appears at the target path.
func (cw *CodeWriter) Abort() {
	if cw.closed {
		return
	}
	cw.closed = true
	cw.err = errors.New("code file " + cw.name + ": aborted")
	if cw.abort != nil {
		cw.abort()
	}
}

// CreateCodeFile starts a code file at path. The data goes through package
// atomicfile to a temporary file in the same directory, which Close syncs
// and moves to path, so a crash or error never leaves a half-written file
// under the real name. An existing file at path is an error (matching
// fs.ErrExist) unless overwrite is set; without overwrite the final step
// also fails if another process created path in the meantime.
func CreateCodeFile(path string, hdr CodeHeader, overwrite bool) (*CodeWriter, error) {
	return createCodeFile(path, hdr, overwrite, nil)
}

func createCodeFile(path string, hdr CodeHeader, overwrite bool, codec CodeChunkCodec) (*CodeWriter, error) {
	f, err := atomicfile.Create(path, overwrite)
	if err != nil {
		return nil, fmt.Errorf("code file: %w", err)
	}
	cw, err := newCodeWriter(f, hdr, path, codec)
	if err != nil {
		f.Abort()
		return nil, err
	}
	cw.abort = func() { f.Abort() }
	cw.finish = func() error {
		if err := f.Commit(); err != nil {
			return fmt.Errorf("code file: %w", err)
		}
		return nil
	}
	return cw, nil
}
