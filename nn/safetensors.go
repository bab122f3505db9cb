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
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/vqgen/vqgen/internal/atomicfile"
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

// SaveSafetensors writes tensors, in the given order, and meta to path,
// replacing an existing file. It writes through package atomicfile (a
// temporary file in the same directory, synced and renamed over path), so
// readers see either the old file or the complete new one.
func SaveSafetensors(path string, tensors []NamedTensor, meta map[string]string) error {
	header, err := safetensorsHeader(tensors, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := atomicfile.Create(path, true)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriterSize(f, 1<<20)
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
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
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
