package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Reading and validating safetensors files (the format: safetensors.go).

// LoadSafetensors reads and validates the safetensors file at path.
func LoadSafetensors(path string) (*SafetensorsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return ReadSafetensors(f, st.Size(), path)
}

// dtypeSize is the byte width of each dtype the reader understands.
var dtypeSize = map[string]uint64{"F32": 4, "I32": 4, "I64": 8}

// knownDtypes are the other dtypes of the format, named in errors so that a
// valid but unsupported file is not reported as corrupt.
var knownDtypes = map[string]bool{
	"BOOL": true, "U8": true, "I8": true, "F8_E5M2": true, "F8_E4M3": true,
	"I16": true, "U16": true, "F16": true, "BF16": true, "U32": true,
	"U64": true, "F64": true,
}

type stHeaderEntry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// ReadSafetensors parses a safetensors file of size bytes from r; name is
// used in error messages. Every field is checked before it is used, so a
// malformed input yields an error, never a panic or an allocation larger
// than the input.
func ReadSafetensors(r io.ReaderAt, size int64, name string) (*SafetensorsFile, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: safetensors: %s", name, fmt.Sprintf(format, args...))
	}
	if size < 8 {
		return nil, fail("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var nb [8]byte
	if err := readFull(r, nb[:], 0); err != nil {
		return nil, fail("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n > MaxSafetensorsHeader {
		// A safetensors file's header follows its length at byte 8 and
		// opens with '{'; anything else is some other kind of file.
		var b [1]byte
		if uint64(size) > 8 && readFull(r, b[:], 8) == nil && b[0] != '{' {
			return nil, fail("not a safetensors file (its first 8 bytes give a header length of %d, over the %d-byte limit)", n, MaxSafetensorsHeader)
		}
		return nil, fail("header length %d exceeds the %d-byte limit", n, MaxSafetensorsHeader)
	}
	if n > uint64(size-8) {
		return nil, fail("header length %d runs past the end of the %d-byte file", n, size)
	}
	if n < 2 {
		return nil, fail("header length %d is too short for a JSON object", n)
	}
	hdr := make([]byte, n)
	if err := readFull(r, hdr, 8); err != nil {
		return nil, fail("reading %d-byte header: %v", n, err)
	}
	entries, meta, err := parseSafetensorsHeader(hdr)
	if err != nil {
		return nil, fail("header: %v", err)
	}
	bufSize := uint64(size) - 8 - n
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b stHeaderEntry) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		if a.end < b.end {
			return -1
		} else if a.end > b.end {
			return 1
		}
		return 0
	})
	var pos uint64
	for _, e := range sorted {
		switch {
		case e.begin > pos:
			return nil, fail("tensor %q: data_offsets [%d, %d] leave a gap after byte %d of the buffer", e.name, e.begin, e.end, pos)
		case e.begin < pos:
			return nil, fail("tensor %q: data_offsets [%d, %d] overlap the previous tensor, which ends at %d", e.name, e.begin, e.end, pos)
		case e.end > bufSize:
			return nil, fail("tensor %q: data_offsets [%d, %d] run past the %d-byte buffer", e.name, e.begin, e.end, bufSize)
		}
		pos = e.end
	}
	if pos != bufSize {
		return nil, fail("tensors cover %d bytes of the %d-byte buffer; trailing bytes are not allowed", pos, bufSize)
	}
	f := &SafetensorsFile{Path: name, Entries: make([]SafetensorsEntry, len(sorted)), Metadata: meta, byName: make(map[string]int, len(sorted))}
	base := int64(8 + n)
	var raw []byte
	for i, e := range sorted {
		raw = slices.Grow(raw[:0], int(e.end-e.begin))[:e.end-e.begin]
		if err := readFull(r, raw, base+int64(e.begin)); err != nil {
			return nil, fail("tensor %q: reading data: %v", e.name, err)
		}
		out := SafetensorsEntry{Name: e.name, Dtype: e.dtype, Shape: e.shape}
		switch e.dtype {
		case "F32":
			d := make([]float32, len(raw)/4)
			for j := range d {
				d[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
			out.Tensor = &Tensor{Shape: e.shape, Data: d}
		case "I32":
			d := make([]int64, len(raw)/4)
			for j := range d {
				d[j] = int64(int32(binary.LittleEndian.Uint32(raw[4*j:])))
			}
			out.Ints = d
		case "I64":
			d := make([]int64, len(raw)/8)
			for j := range d {
				d[j] = int64(binary.LittleEndian.Uint64(raw[8*j:]))
			}
			out.Ints = d
		}
		f.Entries[i] = out
		f.byName[e.name] = i
	}
	return f, nil
}

// readFull is ReadAt that accepts the io.EOF a ReaderAt may return along
// with a complete read at the end of its input.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseSafetensorsHeader walks the header's JSON tokens rather than
// unmarshalling into a map, because encoding/json silently keeps the last of
// duplicate keys, and the format forbids duplicates.
func parseSafetensorsHeader(hdr []byte) ([]stHeaderEntry, map[string]string, error) {
	if hdr[0] != '{' {
		return nil, nil, fmt.Errorf("does not start with '{' (starts with %q)", hdr[0])
	}
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the '{' checked above
		return nil, nil, err
	}
	var entries []stHeaderEntry
	meta := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %v", err)
		}
		key := k.(string) // object keys are always strings
		if seen[key] {
			return nil, nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, fmt.Errorf("%s: %v", metadataKey, err)
			}
			continue
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %v", key, err)
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("invalid JSON: %v", err)
	}
	rest := hdr[dec.InputOffset():]
	if i := bytes.IndexFunc(rest, func(r rune) bool { return r != ' ' }); i >= 0 {
		return nil, nil, fmt.Errorf("byte %d after the JSON object is %q; only space padding may follow it", int(dec.InputOffset())+i, rest[i])
	}
	return entries, meta, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("%s must be a JSON %s, found %v", what, delimKind(want), tokenDesc(t))
	}
	return nil
}

func delimKind(d json.Delim) string {
	if d == '{' {
		return "object"
	}
	return "array"
}

func tokenDesc(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		if v == '[' {
			return "an array"
		}
		return string(v)
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return fmt.Sprintf("%v", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", t)
}

func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	if err := expectDelim(dec, '{', "value"); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		key := k.(string)
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		v, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q must be a string, found %s", key, tokenDesc(v))
		}
		m[key] = s
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	return m, nil
}

func parseEntry(dec *json.Decoder, name string) (stHeaderEntry, error) {
	e := stHeaderEntry{name: name}
	if err := expectDelim(dec, '{', "entry"); err != nil {
		return e, err
	}
	var haveDtype, haveShape, haveOffsets bool
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return e, fmt.Errorf("invalid JSON: %v", err)
		}
		field := k.(string)
		switch field {
		case "dtype":
			if haveDtype {
				return e, errors.New(`field "dtype" appears twice`)
			}
			haveDtype = true
			v, err := dec.Token()
			if err != nil {
				return e, fmt.Errorf("invalid JSON: %v", err)
			}
			s, ok := v.(string)
			if !ok {
				return e, fmt.Errorf("dtype must be a string, found %s", tokenDesc(v))
			}
			if _, ok := dtypeSize[s]; !ok {
				if knownDtypes[s] {
					return e, fmt.Errorf("dtype %s is not supported (F32, I32 and I64 are)", s)
				}
				return e, fmt.Errorf("unknown dtype %q", s)
			}
			e.dtype = s
		case "shape":
			if haveShape {
				return e, errors.New(`field "shape" appears twice`)
			}
			haveShape = true
			dims, err := parseUints(dec, "shape")
			if err != nil {
				return e, err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt32 {
					return e, fmt.Errorf("shape dimension %d is %d, too large", i, d)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			if haveOffsets {
				return e, errors.New(`field "data_offsets" appears twice`)
			}
			haveOffsets = true
			offs, err := parseUints(dec, "data_offsets")
			if err != nil {
				return e, err
			}
			if len(offs) != 2 {
				return e, fmt.Errorf("data_offsets must hold 2 numbers, found %d", len(offs))
			}
			e.begin, e.end = offs[0], offs[1]
			if e.end < e.begin {
				return e, fmt.Errorf("data_offsets [%d, %d] end before they begin", e.begin, e.end)
			}
		default:
			return e, fmt.Errorf("unknown field %q", field)
		}
	}
	if _, err := dec.Token(); err != nil {
		return e, fmt.Errorf("invalid JSON: %v", err)
	}
	switch {
	case !haveDtype:
		return e, errors.New(`missing field "dtype"`)
	case !haveShape:
		return e, errors.New(`missing field "shape"`)
	case !haveOffsets:
		return e, errors.New(`missing field "data_offsets"`)
	}
	// numel * size, guarding against overflow: the byte count must fit the
	// declared offsets, which are themselves bounded by the file size later.
	want := dtypeSize[e.dtype]
	for _, d := range e.shape {
		if d != 0 && want > math.MaxInt64/uint64(d) {
			return e, fmt.Errorf("shape %v is too large", e.shape)
		}
		want *= uint64(d)
	}
	if got := e.end - e.begin; got != want {
		return e, fmt.Errorf("data_offsets [%d, %d] span %d bytes, but %s%v needs %d", e.begin, e.end, got, e.dtype, e.shape, want)
	}
	return e, nil
}

// parseUints reads a JSON array of non-negative integers.
func parseUints(dec *json.Decoder, what string) ([]uint64, error) {
	if err := expectDelim(dec, '[', what); err != nil {
		return nil, err
	}
	var out []uint64
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		num, ok := t.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s must hold non-negative integers, found %s", what, tokenDesc(t))
		}
		u, err := strconv.ParseUint(num.String(), 10, 64)
		if err != nil || u > math.MaxInt64 {
			return nil, fmt.Errorf("%s must hold non-negative integers, found %s", what, num)
		}
		out = append(out, u)
		if len(out) > 64 {
			return nil, fmt.Errorf("%s has more than 64 entries", what)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	return out, nil
}
