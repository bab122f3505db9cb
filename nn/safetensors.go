// Safetensors checkpoints.
//
// The format (https://github.com/huggingface/safetensors, README "Format") is
//
//	8 bytes   N, a little-endian uint64
//	N bytes   a UTF-8 JSON object starting with '{', optionally padded with
//	          trailing spaces: {"name": {"dtype": "F32", "shape": [..],
//	          "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
//	rest      the byte buffer; offsets are relative to its start
//
// Tensor data is little-endian and row-major. The buffer must be covered
// exactly by the tensors' byte ranges: no holes, no overlaps, nothing after
// the last tensor (this is what keeps a file from hiding a second payload).
// Names are unique and "__metadata__" values are strings only.
//
// Writers here pad the header with spaces to a multiple of 8 bytes so tensor
// data is 8-byte aligned, write tensors in the caller's order, and store only
// F32. Readers accept F32, I32 and I64 (code indices) and reject every other
// dtype with an error naming it.
//
// Compatibility with PyTorch: parameter names follow state_dict conventions
// ("enc.conv1.weight") and layouts are PyTorch's (conv weights OIHW, linear
// weights [out, in], images NCHW), so a file written by SaveParams loads with
//
//	from safetensors.torch import load_file
//	model.load_state_dict(load_file("model.safetensors"))
//
// into the equivalent torch.nn module, and vice versa LoadParams reads a file
// saved by safetensors.torch.save_file(model.state_dict(), path) when the
// tensors are float32.
package nn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxSafetensorsHeader is the largest header accepted, as in the reference
// implementation: a larger length field almost certainly means a corrupt or
// hostile file, and refusing it bounds the memory a header can make us take.
const MaxSafetensorsHeader = 100 << 20

const metadataKey = "__metadata__"

// NamedTensor is a tensor with its checkpoint name.
type NamedTensor struct {
	Name   string
	Tensor *Tensor
}

// SafetensorsEntry is one tensor read from a file. F32 tensors are in
// Tensor; I32 and I64 tensors are widened into Ints.
type SafetensorsEntry struct {
	Name   string
	Dtype  string // "F32", "I32" or "I64"
	Shape  []int
	Tensor *Tensor // F32 only
	Ints   []int64 // I32 and I64 only
}

// SafetensorsFile is a parsed safetensors file.
type SafetensorsFile struct {
	Path     string             // as given to the reader, for error messages
	Entries  []SafetensorsEntry // in data-offset order
	Metadata map[string]string  // never nil
	byName   map[string]int
}

// Entry returns the entry called name.
func (f *SafetensorsFile) Entry(name string) (*SafetensorsEntry, bool) {
	i, ok := f.byName[name]
	if !ok {
		return nil, false
	}
	return &f.Entries[i], true
}

// Tensor returns the F32 tensor called name, or an error naming the file if
// it is missing or has another dtype.
func (f *SafetensorsFile) Tensor(name string) (*Tensor, error) {
	e, ok := f.Entry(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", f.Path, name)
	}
	if e.Dtype != "F32" {
		return nil, fmt.Errorf("%s: tensor %q has dtype %s, want F32", f.Path, name, e.Dtype)
	}
	return e.Tensor, nil
}

// Tensors returns the F32 tensors by name.
func (f *SafetensorsFile) Tensors() map[string]*Tensor {
	m := make(map[string]*Tensor, len(f.Entries))
	for i := range f.Entries {
		if e := &f.Entries[i]; e.Dtype == "F32" {
			m[e.Name] = e.Tensor
		}
	}
	return m
}

// ParamTensors returns ps as named tensors (aliasing their data) for
// SaveSafetensors.
func ParamTensors(ps []*Param) []NamedTensor {
	ts := make([]NamedTensor, len(ps))
	for i, p := range ps {
		ts[i] = NamedTensor{p.Name, p.Data}
	}
	return ts
}

// SaveParams writes the parameters' data to path as safetensors.
func SaveParams(path string, ps []*Param, meta map[string]string) error {
	return SaveSafetensors(path, ParamTensors(ps), meta)
}

// LoadParams reads path and copies each parameter's tensor into ps. Every
// parameter must be present as F32 with its exact shape; entries that match
// no parameter are ignored, so one file can also carry optimizer state. No
// parameter is touched unless all of them check out.
func LoadParams(path string, ps []*Param) (map[string]string, error) {
	f, err := LoadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if err := f.AssignParams(ps); err != nil {
		return nil, err
	}
	return f.Metadata, nil
}

// AssignParams copies the file's tensors into ps with LoadParams' checks.
func (f *SafetensorsFile) AssignParams(ps []*Param) error {
	for _, p := range ps {
		t, err := f.Tensor(p.Name)
		if err != nil {
			return fmt.Errorf("loading parameters: %w", err)
		}
		if !t.SameShape(p.Data) {
			return fmt.Errorf("%s: tensor %q has shape %v, parameter wants %v", f.Path, p.Name, t.Shape, p.Data.Shape)
		}
	}
	for _, p := range ps {
		t, _ := f.Tensor(p.Name)
		copy(p.Data.Data, t.Data)
	}
	return nil
}

// SaveSafetensors writes tensors, in the given order, and meta to path. It
// writes a temporary file in the same directory, syncs it and renames it
// over path, so readers see either the old file or the complete new one.
func SaveSafetensors(path string, tensors []NamedTensor, meta map[string]string) (err error) {
	header, err := safetensorsHeader(tensors, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	w.Write(n[:])
	w.Write(header)
	buf := make([]byte, 0, 64<<10)
	for _, nt := range tensors {
		for _, v := range nt.Tensor.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				w.Write(buf)
				buf = buf[:0]
			}
		}
	}
	w.Write(buf)
	if err = w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not every platform can sync a
	// directory, and the file is complete either way, so this is best effort.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// safetensorsHeader builds the padded JSON header for tensors laid out
// back to back in the given order.
func safetensorsHeader(tensors []NamedTensor, meta map[string]string) ([]byte, error) {
	var h bytes.Buffer
	h.WriteByte('{')
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys) // deterministic bytes for equal inputs
		h.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, meta[k])
		}
		h.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var off uint64
	for i, nt := range tensors {
		switch {
		case nt.Name == "":
			return nil, fmt.Errorf("tensor %d has an empty name", i)
		case nt.Name == metadataKey:
			return nil, fmt.Errorf("tensor %d: the name %q is reserved", i, metadataKey)
		case seen[nt.Name]:
			return nil, fmt.Errorf("tensor name %q used twice", nt.Name)
		case !utf8.ValidString(nt.Name):
			return nil, fmt.Errorf("tensor name %q is not valid UTF-8", nt.Name)
		case nt.Tensor == nil:
			return nil, fmt.Errorf("tensor %q is nil", nt.Name)
		}
		seen[nt.Name] = true
		n := 1
		for _, d := range nt.Tensor.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q has negative dimension in shape %v", nt.Name, nt.Tensor.Shape)
			}
			n *= d
		}
		if n != len(nt.Tensor.Data) {
			return nil, fmt.Errorf("tensor %q has shape %v but %d values", nt.Name, nt.Tensor.Shape, len(nt.Tensor.Data))
		}
		if len(meta) > 0 || i > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, nt.Name)
		h.WriteString(`:{"dtype":"F32","shape":[`)
		for j, d := range nt.Tensor.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		end := off + 4*uint64(n)
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata %q: not valid UTF-8", k)
		}
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxSafetensorsHeader {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit", h.Len(), MaxSafetensorsHeader)
	}
	return h.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // cannot fail for a string
	b.Write(q)
}

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
