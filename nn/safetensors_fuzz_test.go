package nn

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"
)

// FuzzLoadSafetensors feeds arbitrary bytes to the reader. It must never
// panic, and whatever it accepts must satisfy the format's invariants and
// survive a write/read round trip unchanged.
func FuzzLoadSafetensors(f *testing.F) {
	f.Add(stBytes(`{}`, nil))
	f.Add(stBytes(`{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32le(1, -2)))
	f.Add(stBytes(`{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]},"z":{"dtype":"F32","shape":[0,5],"data_offsets":[12,12]}}   `, make([]byte, 12)))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		var ts []NamedTensor
		total := 0
		for _, e := range sf.Entries {
			n := 1
			for _, d := range e.Shape {
				n *= d
			}
			switch e.Dtype {
			case "F32":
				if len(e.Tensor.Data) != n {
					t.Fatalf("%s: %d values for shape %v", e.Name, len(e.Tensor.Data), e.Shape)
				}
				total += 4 * n
				ts = append(ts, NamedTensor{e.Name, e.Tensor})
			case "I32", "I64":
				if len(e.Ints) != n {
					t.Fatalf("%s: %d ints for shape %v", e.Name, len(e.Ints), e.Shape)
				}
				total += int(dtypeSize[e.Dtype]) * n
			default:
				t.Fatalf("accepted dtype %q", e.Dtype)
			}
		}
		if total > len(data) {
			t.Fatalf("tensors hold %d bytes, more than the %d-byte file", total, len(data))
		}
		if len(ts) != len(sf.Entries) {
			return // the writer stores F32 only
		}
		path := filepath.Join(t.TempDir(), "rt.safetensors")
		if err := SaveSafetensors(path, ts, sf.Metadata); err != nil {
			t.Fatalf("re-saving an accepted file: %v", err)
		}
		back, err := LoadSafetensors(path)
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		if len(back.Entries) != len(ts) || len(back.Metadata) != len(sf.Metadata) {
			t.Fatalf("round trip changed the file: %d entries, %d metadata", len(back.Entries), len(back.Metadata))
		}
		for k, v := range sf.Metadata {
			if back.Metadata[k] != v {
				t.Fatalf("metadata %q: %q became %q", k, v, back.Metadata[k])
			}
		}
		for i, nt := range ts {
			e := back.Entries[i]
			if e.Name != nt.Name || !e.Tensor.SameShape(nt.Tensor) {
				t.Fatalf("entry %d: %q%v became %q%v", i, nt.Name, nt.Tensor.Shape, e.Name, e.Shape)
			}
			for j, x := range nt.Tensor.Data {
				if math.Float32bits(x) != math.Float32bits(e.Tensor.Data[j]) {
					t.Fatalf("%s[%d] changed", nt.Name, j)
				}
			}
		}
	})
}
