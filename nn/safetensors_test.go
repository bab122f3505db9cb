package nn

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// stBytes assembles a safetensors file from a raw header and buffer.
func stBytes(header string, buf []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(buf)
	return b.Bytes()
}

func readBytes(b []byte) (*SafetensorsFile, error) {
	return ReadSafetensors(bytes.NewReader(b), int64(len(b)), "test.safetensors")
}

func f32le(xs ...float32) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func TestSafetensorsRoundTrip(t *testing.T) {
	rng := NewRNG(1)
	in := []NamedTensor{
		{"enc.conv1.weight", NewTensor(4, 1, 3, 3)},
		{"enc.conv1.bias", NewTensor(4)},
		{"codebook", NewTensor(5, 2)},
		{"scalar", NewTensor()},
		{"empty", NewTensor(0, 3)},
		{"a \"quoted\" name/ü", NewTensor(3)},
	}
	for _, nt := range in {
		rng.Normal(nt.Tensor.Data, 0, 1)
	}
	in[2].Tensor.Data[0] = float32(math.NaN())
	in[2].Tensor.Data[1] = float32(math.Inf(-1))
	in[2].Tensor.Data[2] = float32(math.Copysign(0, -1))
	meta := map[string]string{"format": "pt", "step": "12", "note": "ünïcode \"q\"\n"}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := SaveSafetensors(path, in, meta); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 || raw[8] != '{' {
		t.Errorf("header length %d not 8-aligned or header starts with %q", n, raw[8])
	}
	f, err := LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != len(in) {
		t.Fatalf("%d entries, want %d", len(f.Entries), len(in))
	}
	for i, nt := range in {
		e := f.Entries[i]
		if e.Name != nt.Name || e.Dtype != "F32" || !e.Tensor.SameShape(nt.Tensor) {
			t.Fatalf("entry %d: %q %s %v, want %q F32 %v", i, e.Name, e.Dtype, e.Shape, nt.Name, nt.Tensor.Shape)
		}
		for j, x := range nt.Tensor.Data {
			if math.Float32bits(x) != math.Float32bits(e.Tensor.Data[j]) {
				t.Fatalf("%s[%d] = %g, want %g", nt.Name, j, e.Tensor.Data[j], x)
			}
		}
		if got, err := f.Tensor(nt.Name); err != nil || got != e.Tensor {
			t.Errorf("Tensor(%q) = %v, %v", nt.Name, got, err)
		}
	}
	if len(f.Metadata) != len(meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	for k, v := range meta {
		if f.Metadata[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, f.Metadata[k], v)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d files after save, want just the result (temp file left?)", len(ents))
	}
}

// TestSafetensorsFixture pins the writer's bytes to a layout written out by
// hand from the format description, and reads a hand-written file with
// another key order, whitespace and the integer dtypes.
func TestSafetensorsFixture(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	want := stBytes(header, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0x40, 0x40}) // 1, -2, 3
	path := filepath.Join(t.TempDir(), "fixture.safetensors")
	err := SaveSafetensors(path, []NamedTensor{{"w", FromData([]float32{1, -2}, 2)}, {"b", FromData([]float32{3})}}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, want) {
		t.Fatalf("writer bytes differ from the spec layout:\n got %q\nwant %q", got, want)
	}

	// Offsets listed out of order; reader must order entries by offset.
	hand := "{\n  \"ids\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [4, 20]},\n" +
		"  \"small\": {\"shape\": [1], \"dtype\": \"I32\", \"data_offsets\": [0, 4]},\n" +
		"  \"__metadata__\": {}\n}   "
	buf := []byte{0xff, 0xff, 0xff, 0xff} // int32 -1
	buf = binary.LittleEndian.AppendUint64(buf, 511)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(1)<<40)
	f, err := readBytes(stBytes(hand, buf))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 2 || f.Entries[0].Name != "small" || f.Entries[1].Name != "ids" {
		t.Fatalf("entries %+v, want small then ids", f.Entries)
	}
	if f.Entries[0].Ints[0] != -1 || f.Entries[1].Ints[0] != 511 || f.Entries[1].Ints[1] != 1<<40 {
		t.Errorf("integer values %v %v", f.Entries[0].Ints, f.Entries[1].Ints)
	}
	if _, err := f.Tensor("ids"); err == nil || !strings.Contains(err.Error(), "dtype I64") {
		t.Errorf("Tensor on an I64 entry: %v", err)
	}
}

func TestSafetensorsMalformed(t *testing.T) {
	e := func(name, dt string, shape string, b, en int) string {
		return `"` + name + `":{"dtype":"` + dt + `","shape":` + shape + `,"data_offsets":[` + strconv.Itoa(b) + `,` + strconv.Itoa(en) + `]}`
	}
	buf8 := make([]byte, 8)
	cases := []struct {
		name   string
		file   []byte
		substr string
	}{
		{"empty file", nil, "shorter than the 8-byte"},
		{"seven bytes", make([]byte, 7), "shorter than the 8-byte"},
		{"header length short of the JSON", append(binary.LittleEndian.AppendUint64(nil, 10), `{"__metadata__":{}}`...), "invalid JSON"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 50), `{}`...), "runs past the end"},
		{"header over cap", append(binary.LittleEndian.AppendUint64(nil, 1<<40), `{}`...), "exceeds"},
		{"header length 0", binary.LittleEndian.AppendUint64(nil, 0), "too short"},
		{"not an object", stBytes(`[1,2]`, nil), "start with '{'"},
		{"leading space", stBytes(` {}`, nil), "start with '{'"},
		{"invalid json", stBytes(`{"a":}`, nil), "invalid JSON"},
		{"unterminated", stBytes(`{"a":{"dtype":"F32"`, nil), "invalid JSON"},
		{"trailing garbage", stBytes(`{}  x`, nil), "only space padding"},
		{"trailing newline", stBytes("{}\n", nil), "only space padding"},
		{"two objects", stBytes(`{}{}`, nil), "only space padding"},
		{"invalid utf8", stBytes("{\"\xff\":1}", nil), "UTF-8"},
		{"duplicate tensor", stBytes(`{`+e("a", "F32", "[1]", 0, 4)+`,`+e("a", "F32", "[1]", 4, 8)+`}`, buf8), `key "a" appears twice`},
		{"duplicate metadata", stBytes(`{"__metadata__":{},"__metadata__":{}}`, nil), "appears twice"},
		{"duplicate metadata key", stBytes(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `"k" appears twice`},
		{"duplicate field", stBytes(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, buf8[:4]), `"dtype" appears twice`},
		{"metadata number", stBytes(`{"__metadata__":{"step":12}}`, nil), `"step" must be a string, found number 12`},
		{"metadata nested", stBytes(`{"__metadata__":{"x":{"y":"z"}}}`, nil), "must be a string"},
		{"metadata not object", stBytes(`{"__metadata__":"x"}`, nil), "must be a JSON object"},
		{"entry not object", stBytes(`{"a":[1]}`, nil), `tensor "a": entry must be a JSON object`},
		{"unsupported dtype", stBytes(`{`+e("a", "F16", "[2]", 0, 4)+`}`, buf8[:4]), "dtype F16 is not supported"},
		{"unknown dtype", stBytes(`{`+e("a", "Q4", "[2]", 0, 4)+`}`, buf8[:4]), `unknown dtype "Q4"`},
		{"dtype not string", stBytes(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, buf8[:4]), "dtype must be a string"},
		{"missing shape", stBytes(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, buf8[:4]), `missing field "shape"`},
		{"missing offsets", stBytes(`{"a":{"dtype":"F32","shape":[1]}}`, buf8[:4]), `missing field "data_offsets"`},
		{"missing dtype", stBytes(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, buf8[:4]), `missing field "dtype"`},
		{"unknown field", stBytes(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, buf8[:4]), `unknown field "x"`},
		{"negative dim", stBytes(`{`+e("a", "F32", "[-1]", 0, 4)+`}`, buf8[:4]), "non-negative integers, found -1"},
		{"float dim", stBytes(`{`+e("a", "F32", "[1.0]", 0, 4)+`}`, buf8[:4]), "found 1.0"},
		{"huge dim", stBytes(`{`+e("a", "F32", "[99999999999999999999]", 0, 4)+`}`, buf8[:4]), "non-negative integers"},
		{"overflowing shape", stBytes(`{`+e("a", "F32", "[2147483647,2147483647,2147483647]", 0, 4)+`}`, buf8[:4]), "too large"},
		{"three offsets", stBytes(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, buf8[:4]), "2 numbers, found 3"},
		{"offsets reversed", stBytes(`{`+e("a", "F32", "[0]", 4, 0)+`}`, buf8[:4]), "end before they begin"},
		{"wrong size", stBytes(`{`+e("a", "F32", "[3]", 0, 8)+`}`, buf8), "span 8 bytes, but F32[3] needs 12"},
		{"wrong size i64", stBytes(`{`+e("a", "I64", "[2]", 0, 8)+`}`, buf8), "needs 16"},
		{"past buffer", stBytes(`{`+e("a", "F32", "[4]", 0, 16)+`}`, buf8), "run past the 8-byte buffer"},
		{"gap at start", stBytes(`{`+e("a", "F32", "[1]", 4, 8)+`}`, buf8), `tensor "a": data_offsets [4, 8] leave a gap`},
		{"gap between", stBytes(`{`+e("a", "F32", "[1]", 0, 4)+`,`+e("b", "F32", "[1]", 8, 12)+`}`, make([]byte, 12)), `"b": data_offsets [8, 12] leave a gap after byte 4`},
		{"overlap", stBytes(`{`+e("a", "F32", "[2]", 0, 8)+`,`+e("b", "F32", "[1]", 4, 8)+`}`, buf8), "overlap"},
		{"same range twice", stBytes(`{`+e("a", "F32", "[2]", 0, 8)+`,`+e("b", "F32", "[2]", 0, 8)+`}`, buf8), "overlap"},
		{"trailing bytes", stBytes(`{`+e("a", "F32", "[1]", 0, 4)+`}`, buf8), "cover 4 bytes of the 8-byte buffer"},
		{"buffer without tensors", stBytes(`{}`, buf8), "cover 0 bytes"},
	}
	for _, c := range cases {
		_, err := readBytes(c.file)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.substr) || !strings.HasPrefix(err.Error(), "test.safetensors: ") {
			t.Errorf("%s: error %q, want it to name the file and mention %q", c.name, err, c.substr)
		}
	}
}

func TestSafetensorsTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.safetensors")
	ts := []NamedTensor{{"a", NewTensor(3, 5)}, {"b", NewTensor(7)}}
	NewRNG(2).Normal(ts[0].Tensor.Data, 0, 1)
	if err := SaveSafetensors(path, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	if _, err := readBytes(full); err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(full); cut++ {
		if _, err := readBytes(full[:cut]); err == nil {
			t.Fatalf("file cut to %d of %d bytes read without error", cut, len(full))
		}
	}
	// and a byte appended
	if _, err := readBytes(append(full, 0)); err == nil {
		t.Fatal("file with an extra byte read without error")
	}
}

func TestSaveSafetensorsRejects(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		ts     []NamedTensor
		meta   map[string]string
		substr string
	}{
		{"duplicate", []NamedTensor{{"a", NewTensor(1)}, {"a", NewTensor(2)}}, nil, `"a" used twice`},
		{"empty name", []NamedTensor{{"", NewTensor(1)}}, nil, "empty name"},
		{"reserved", []NamedTensor{{"__metadata__", NewTensor(1)}}, nil, "reserved"},
		{"nil", []NamedTensor{{"a", nil}}, nil, "nil"},
		{"shape mismatch", []NamedTensor{{"a", &Tensor{Shape: []int{2, 2}, Data: make([]float32, 3)}}}, nil, "shape [2 2] but 3 values"},
		{"bad utf8", []NamedTensor{{"a\xff", NewTensor(1)}}, nil, "UTF-8"},
		{"bad meta utf8", []NamedTensor{{"a", NewTensor(1)}}, map[string]string{"k": "\xfe"}, "UTF-8"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".safetensors")
		err := SaveSafetensors(path, c.ts, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.substr) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file and mentioning %q", c.name, err, c.substr)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Errorf("%s: file written despite the error", c.name)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left behind", len(ents))
	}
}

func TestSaveLoadParams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.safetensors")
	ps := testParams(NewRNG(3), []int{2, 3}, []int{4})
	if err := SaveParams(path, ps, map[string]string{"epoch": "3"}); err != nil {
		t.Fatal(err)
	}
	qs := testParams(NewRNG(4), []int{2, 3}, []int{4})
	meta, err := LoadParams(path, qs)
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != "3" {
		t.Errorf("metadata %v", meta)
	}
	for i := range ps {
		for j := range ps[i].Data.Data {
			if ps[i].Data.Data[j] != qs[i].Data.Data[j] {
				t.Fatalf("%s[%d] not restored", ps[i].Name, j)
			}
		}
	}
	cases := []struct {
		name   string
		ps     []*Param
		substr string
	}{
		{"missing", append(testParams(NewRNG(5), []int{2, 3}, []int{4}), NewParam("extra.bias", 2)), `no tensor "extra.bias"`},
		{"shape", []*Param{NewParam("a.weight", 3, 2), NewParam("b.weight", 4)}, `"a.weight" has shape [2 3], parameter wants [3 2]`},
	}
	for _, c := range cases {
		before := c.ps[0].Data.Clone()
		_, err := LoadParams(path, c.ps)
		if err == nil || !strings.Contains(err.Error(), c.substr) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and mentioning %q", c.name, err, path, c.substr)
		}
		for j := range before.Data {
			if c.ps[0].Data.Data[j] != before.Data[j] {
				t.Errorf("%s: a failed load modified %s", c.name, c.ps[0].Name)
				break
			}
		}
	}
	if _, err := LoadParams(filepath.Join(t.TempDir(), "nope"), ps); err == nil {
		t.Error("missing file: no error")
	}
}
