package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// randomIDX builds an IDX array whose element values are known: value i is
// a type-appropriate function of i, so decoding can be checked with At.
func randomIDX(typ IDXType, dims []int, rng *nn.RNG) (*IDX, []float64) {
	x := &IDX{Type: typ, Dims: dims}
	n := x.Len()
	want := make([]float64, n)
	x.Data = make([]byte, n*typ.Size())
	for i := range n {
		u := rng.Uint64()
		switch typ {
		case IDXUint8:
			x.Data[i] = byte(u)
			want[i] = float64(byte(u))
		case IDXInt8:
			x.Data[i] = byte(u)
			want[i] = float64(int8(u))
		case IDXInt16:
			binary.BigEndian.PutUint16(x.Data[2*i:], uint16(u))
			want[i] = float64(int16(u))
		case IDXInt32:
			binary.BigEndian.PutUint32(x.Data[4*i:], uint32(u))
			want[i] = float64(int32(u))
		case IDXFloat32:
			v := float32(rng.Norm())
			binary.BigEndian.PutUint32(x.Data[4*i:], math.Float32bits(v))
			want[i] = float64(v)
		case IDXFloat64:
			v := rng.Float64()*2e6 - 1e6
			binary.BigEndian.PutUint64(x.Data[8*i:], math.Float64bits(v))
			want[i] = v
		}
	}
	return x, want
}

func TestIDXRoundTrip(t *testing.T) {
	rng := nn.NewRNG(1)
	types := []IDXType{IDXUint8, IDXInt8, IDXInt16, IDXInt32, IDXFloat32, IDXFloat64}
	shapes := [][]int{{1}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2, 1}}
	dir := t.TempDir()
	for _, typ := range types {
		for _, dims := range shapes {
			x, want := randomIDX(typ, dims, rng)
			raw, err := x.Encode()
			if err != nil {
				t.Fatal(err)
			}
			for _, compressed := range []bool{false, true} {
				data := raw
				if compressed {
					data = gz(t, raw)
				}
				name := filepath.Join(dir, "f")
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
				decoders := map[string]func() (*IDX, error){
					"DecodeIDX":   func() (*IDX, error) { return DecodeIDX(data, "mem") },
					"ReadIDX":     func() (*IDX, error) { return ReadIDX(bytes.NewReader(data), "stream") },
					"ReadIDXFile": func() (*IDX, error) { return ReadIDXFile(name) },
				}
				for dn, dec := range decoders {
					got, err := dec()
					if err != nil {
						t.Fatalf("%s %v%v gz=%v: %v", dn, typ, dims, compressed, err)
					}
					if got.Type != typ || !equalInts(got.Dims, dims) || got.Len() != len(want) {
						t.Fatalf("%s: got %v%v, want %v%v", dn, got.Type, got.Dims, typ, dims)
					}
					for i, w := range want {
						if g := got.At(i); g != w {
							t.Fatalf("%s %v%v gz=%v: element %d = %g, want %g", dn, typ, dims, compressed, i, g, w)
						}
					}
				}
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIDXErrors(t *testing.T) {
	good, _ := (&IDX{Type: IDXUint8, Dims: []int{2, 3}, Data: []byte{1, 2, 3, 4, 5, 6}}).Encode()
	badGz := gz(t, good)
	badGz[len(badGz)-6] ^= 0xff // CRC in the trailer
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated IDX header"},
		{"short magic", []byte{0, 0, 8}, "truncated IDX header"},
		{"nonzero magic", append([]byte{1, 0}, good[2:]...), "does not start with two zero bytes"},
		{"unknown type", append([]byte{0, 0, 0x0A}, good[3:]...), "unknown IDX element type 0x0A"},
		{"zero dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"truncated dims", good[:9], "truncated IDX header"},
		{"zero dimension", []byte{0, 0, 8, 1, 0, 0, 0, 0}, "dimension 0 is 0"},
		{"huge dims", []byte{0, 0, 0x0E, 2, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff}, "exceed"},
		{"truncated data", good[:len(good)-1], "truncated IDX data"},
		{"trailing data", append(append([]byte{}, good...), 9), "trailing data"},
		{"gzip truncated data", gz(t, good[:len(good)-2]), "truncated IDX data"},
		{"gzip trailing data", gz(t, append(append([]byte{}, good...), 9, 9)), "trailing data"},
		{"gzip bad header", []byte{0x1f, 0x8b, 1, 2, 3}, "bad gzip stream"},
		{"gzip cut off", gz(t, good)[:15], "unexpected end of file"},
		{"gzip bad crc", badGz, "bad gzip stream"},
		{"gzip second member", append(gz(t, good), gz(t, good)...), "trailing data after the gzip stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for dn, dec := range map[string]func() (*IDX, error){
				"DecodeIDX": func() (*IDX, error) { return DecodeIDX(c.data, "some.idx") },
				"ReadIDX":   func() (*IDX, error) { return ReadIDX(bytes.NewReader(c.data), "some.idx") },
			} {
				_, err := dec()
				if err == nil {
					t.Fatalf("%s: no error", dn)
				}
				if !strings.Contains(err.Error(), "some.idx") || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("%s: error %q, want it to name the file and contain %q", dn, err, c.want)
				}
			}
		})
	}
}

func TestIDXEncodeErrors(t *testing.T) {
	for _, x := range []*IDX{
		{Type: 0x07, Dims: []int{1}, Data: []byte{0}},
		{Type: IDXUint8, Dims: nil},
		{Type: IDXUint8, Dims: []int{0}},
		{Type: IDXInt16, Dims: []int{2}, Data: []byte{0, 0, 0}},
	} {
		if _, err := x.Encode(); err == nil {
			t.Errorf("Encode(%v %v, %d bytes): no error", x.Type, x.Dims, len(x.Data))
		}
	}
}

// FuzzDecodeIDX checks that no input makes the decoder panic, that what it
// accepts re-encodes to the same bytes, and that the streaming reader
// agrees with the in-memory one.
func FuzzDecodeIDX(f *testing.F) {
	for _, x := range []*IDX{
		{Type: IDXUint8, Dims: []int{2, 2}, Data: []byte{0, 1, 2, 255}},
		{Type: IDXInt16, Dims: []int{1, 2}, Data: []byte{0x80, 0, 0x7f, 0xff}},
		{Type: IDXFloat64, Dims: []int{1}, Data: []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
	} {
		b, _ := x.Encode()
		f.Add(b)
		f.Add(gz(f, b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeIDX(data, "fuzz")
		y, err2 := ReadIDX(bytes.NewReader(data), "fuzz")
		if (err == nil) != (err2 == nil) {
			t.Fatalf("DecodeIDX error %v, ReadIDX error %v", err, err2)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		if !bytes.Equal(x.Data, y.Data) || !equalInts(x.Dims, y.Dims) || x.Type != y.Type {
			t.Fatal("DecodeIDX and ReadIDX disagree")
		}
		enc, err := x.Encode()
		if err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		if !isGzip(data) && !bytes.Equal(enc, data) {
			t.Fatal("re-encoded bytes differ from the input")
		}
		if len(x.Data) != x.Len()*x.Type.Size() {
			t.Fatalf("%d data bytes for %v%v", len(x.Data), x.Type, x.Dims)
		}
	})
}
