package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// IDXType is the element type code in byte 2 of an IDX magic number.
type IDXType byte

// The IDX element types (LeCun's format; all multi-byte values big-endian).
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size is the element size in bytes, 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "ubyte"
	case IDXInt8:
		return "byte"
	case IDXInt16:
		return "short"
	case IDXInt32:
		return "int"
	case IDXFloat32:
		return "float"
	case IDXFloat64:
		return "double"
	}
	return fmt.Sprintf("unknown(0x%02X)", byte(t))
}

// MaxIDXBytes bounds the payload an IDX header may announce (4 GiB), so a
// corrupt header fails with an error instead of an impossible allocation.
const MaxIDXBytes = 1 << 32

// IDX is a decoded IDX array. Data holds the elements exactly as stored:
// big-endian, Type.Size() bytes each, row-major over Dims.
type IDX struct {
	Type IDXType
	Dims []int
	Data []byte
}

// Len is the number of elements, the product of Dims.
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// At returns element i as a float64 (exact for every IDX type).
func (x *IDX) At(i int) float64 {
	d := x.Data
	switch x.Type {
	case IDXUint8:
		return float64(d[i])
	case IDXInt8:
		return float64(int8(d[i]))
	case IDXInt16:
		return float64(int16(binary.BigEndian.Uint16(d[2*i:])))
	case IDXInt32:
		return float64(int32(binary.BigEndian.Uint32(d[4*i:])))
	case IDXFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(d[4*i:])))
	case IDXFloat64:
		return math.Float64frombits(binary.BigEndian.Uint64(d[8*i:]))
	}
	panic(fmt.Sprintf("datasets: IDX element type %v", x.Type))
}

// Encode returns the raw (uncompressed) IDX file bytes for x.
func (x *IDX) Encode() ([]byte, error) {
	if x.Type.Size() == 0 {
		return nil, fmt.Errorf("IDX encode: unknown element type %v", x.Type)
	}
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return nil, fmt.Errorf("IDX encode: %d dimensions, want 1 to 255", len(x.Dims))
	}
	n := 1
	for i, d := range x.Dims {
		if d <= 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("IDX encode: dimension %d is %d, want 1 to %d", i, d, math.MaxInt32)
		}
		n *= d
	}
	if len(x.Data) != n*x.Type.Size() {
		return nil, fmt.Errorf("IDX encode: %d data bytes for dims %v of %v, want %d", len(x.Data), x.Dims, x.Type, n*x.Type.Size())
	}
	out := make([]byte, 4+4*len(x.Dims), 4+4*len(x.Dims)+len(x.Data))
	out[2], out[3] = byte(x.Type), byte(len(x.Dims))
	for i, d := range x.Dims {
		binary.BigEndian.PutUint32(out[4+4*i:], uint32(d))
	}
	return append(out, x.Data...), nil
}

// ReadIDXFile reads an IDX file, gzipped or raw.
func ReadIDXFile(path string) (*IDX, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeIDX(data, path)
}

// DecodeIDX decodes an IDX file held in memory, gzipped (recognised by the
// gzip magic 1f 8b; an IDX file itself starts with two zero bytes) or raw.
// name labels errors. A raw file's Data aliases data.
func DecodeIDX(data []byte, name string) (*IDX, error) {
	if isGzip(data) {
		// The uncompressed size cannot exceed what deflate can expand
		// len(data) bytes to (about 1032:1), which bounds the up-front
		// allocation even when the header lies.
		return readIDX(bytes.NewReader(data), name, 1032*int64(len(data)))
	}
	x, hdr, err := parseIDXHeader(data, name)
	if err != nil {
		return nil, err
	}
	payload := data[hdr:]
	want := int64(x.Len()) * int64(x.Type.Size())
	if int64(len(payload)) < want {
		return nil, fmt.Errorf("%s: truncated IDX data: header %s promises %d bytes, file has %d", name, x.describe(), want, len(payload))
	}
	if int64(len(payload)) > want {
		return nil, fmt.Errorf("%s: %d bytes of trailing data after the %d bytes of IDX %s", name, int64(len(payload))-want, want, x.describe())
	}
	x.Data = payload
	return x, nil
}

// ReadIDX reads an IDX stream, gzipped or raw; name labels errors.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	return readIDX(r, name, 1<<20)
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

func readIDX(r io.Reader, name string, maxPrealloc int64) (*IDX, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(2)
	var src io.Reader = br
	gz := isGzip(head)
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip stream: %v", name, err)
		}
		// One IDX array per file: a second gzip member would be trailing data.
		zr.Multistream(false)
		src = zr
		defer zr.Close()
	}
	hdr := make([]byte, 4, 4+4*255)
	if _, err := io.ReadFull(src, hdr); err != nil {
		return nil, fmt.Errorf("%s: truncated IDX header: %v", name, readErr(err, gz))
	}
	nd := int(hdr[3])
	if nd > 0 {
		hdr = hdr[:4+4*nd]
		if _, err := io.ReadFull(src, hdr[4:]); err != nil {
			return nil, fmt.Errorf("%s: truncated IDX header (%d dimensions announced): %v", name, nd, readErr(err, gz))
		}
	}
	x, _, err := parseIDXHeader(hdr, name)
	if err != nil {
		return nil, err
	}
	want := int64(x.Len()) * int64(x.Type.Size())
	var buf bytes.Buffer
	buf.Grow(int(min(want, maxPrealloc)) + 1)
	// Reading one byte past the promised length detects trailing data.
	if _, err := buf.ReadFrom(io.LimitReader(src, want+1)); err != nil {
		return nil, fmt.Errorf("%s: reading IDX data: %v", name, readErr(err, gz))
	}
	switch n := int64(buf.Len()); {
	case n < want:
		return nil, fmt.Errorf("%s: truncated IDX data: header %s promises %d bytes, file has %d", name, x.describe(), want, n)
	case n > want:
		return nil, fmt.Errorf("%s: trailing data after the %d bytes of IDX %s", name, want, x.describe())
	}
	if gz {
		// Drain the stream so a corrupt gzip trailer (CRC, size) is reported.
		if _, err := io.Copy(io.Discard, src); err != nil {
			return nil, fmt.Errorf("%s: bad gzip stream: %v", name, err)
		}
		if _, err := br.Peek(1); err == nil {
			return nil, fmt.Errorf("%s: trailing data after the gzip stream", name)
		}
	}
	x.Data = buf.Bytes()
	return x, nil
}

func readErr(err error, gz bool) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of file")
	}
	if gz {
		return fmt.Errorf("bad gzip stream: %v", err)
	}
	return err
}

// parseIDXHeader validates the magic number and dimensions at the start of
// b and returns the header size in bytes.
func parseIDXHeader(b []byte, name string) (*IDX, int, error) {
	if len(b) < 4 {
		return nil, 0, fmt.Errorf("%s: truncated IDX header: %d bytes, need at least 4", name, len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, 0, fmt.Errorf("%s: not an IDX file: magic % x does not start with two zero bytes", name, b[:4])
	}
	t := IDXType(b[2])
	if t.Size() == 0 {
		return nil, 0, fmt.Errorf("%s: unknown IDX element type 0x%02X (want 08, 09, 0B, 0C, 0D or 0E)", name, b[2])
	}
	nd := int(b[3])
	if nd == 0 {
		return nil, 0, fmt.Errorf("%s: IDX header announces 0 dimensions", name)
	}
	hdr := 4 + 4*nd
	if len(b) < hdr {
		return nil, 0, fmt.Errorf("%s: truncated IDX header: %d dimensions need %d bytes, file has %d", name, nd, hdr, len(b))
	}
	x := &IDX{Type: t, Dims: make([]int, nd)}
	total := int64(t.Size())
	for i := range nd {
		d := int64(binary.BigEndian.Uint32(b[4+4*i:]))
		if d == 0 || d > math.MaxInt32 {
			return nil, 0, fmt.Errorf("%s: IDX dimension %d is %d, want 1 to %d", name, i, d, math.MaxInt32)
		}
		total *= d
		if total > MaxIDXBytes {
			return nil, 0, fmt.Errorf("%s: IDX dims %v exceed %d bytes of data", name, dimsPrefix(b, i+1), int64(MaxIDXBytes))
		}
		x.Dims[i] = int(d)
	}
	return x, hdr, nil
}

func dimsPrefix(b []byte, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint32(b[4+4*i:]))
	}
	return out
}

func (x *IDX) describe() string { return fmt.Sprintf("%v%v", x.Type, x.Dims) }
