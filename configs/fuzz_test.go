package configs

import (
	"encoding/binary"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the config decoder. It must never
// panic; a refusal must name the file; whatever it accepts must pass
// Validate and survive Encode and Parse unchanged. The committed corpus
// (testdata/fuzz/FuzzParse) holds syntax errors, wrong types, unknown keys,
// out-of-range values and cross-key rules.
func FuzzParse(f *testing.F) {
	for _, name := range BuiltinNames() {
		b, err := builtin.ReadFile(name + ".toml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		roundTrip(t, c)
	})
}

// roundTrip checks that an accepted config encodes to TOML that parses
// back to the same config.
func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatalf("Encode of an accepted config: %v", err)
	}
	back, err := Parse(b, "encoded")
	if err != nil {
		t.Fatalf("the encoded config does not parse: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
	}
}

// FuzzValidate sets every key of the schema from the fuzzer's bytes (ints
// and floats around their edges, strings from valid and invalid choices)
// and checks that validation and the decoder agree: a config Validate
// accepts encodes and parses back unchanged, and one it refuses is refused
// by Parse too, naming the same first key.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x00, 0x80, 0x7f, 0x01, 0xfe, 0x10, 0x20, 0x30, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		fill(reflect.ValueOf(c).Elem(), &data)
		verr := c.Validate()
		if verr == nil {
			roundTrip(t, c)
			return
		}
		var ve *Error
		if !errorAs(verr, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("Validate error %v is not an *Error with problems", verr)
		}
		b, err := c.Encode()
		if err != nil {
			return // NaN and the like cannot be written; nothing to compare
		}
		_, perr := Parse(b, "encoded")
		if perr == nil {
			t.Fatalf("Validate refuses (%v) what Parse accepts:\n%s", verr, b)
		}
		// Parse names the key, or, for a value TOML cannot hold (a seed
		// above 2^63), the line and column.
		if !strings.Contains(perr.Error(), ve.Problems[0].Key) && !syntaxPos.MatchString(perr.Error()) {
			t.Fatalf("Validate blames %s, Parse does not: %v", ve.Problems[0].Key, perr)
		}
	})
}

func errorAs(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

var syntaxPos = regexp.MustCompile(`^encoded:\d+:\d+: `)

var (
	edgeInts   = []int64{0, 1, -1, 2, 3, 7, 8, 28, 64, 65536, 65537, math.MaxInt32, math.MinInt32, math.MaxInt64}
	edgeFloats = []float64{0, 1, -1, 0.5, 0.99, 1e-5, 2, 1e308, -0.0, math.Inf(1), math.NaN(), math.SmallestNonzeroFloat64}
	strChoices = []string{"", "ema", "gradient", "pixelcnn", "transformer", "raster", "gibbs", "mnist:train", "mnist:test", "x\n[y]", "\"q\""}
)

// fill sets v's fields, depth first, from the bytes in *data: each value
// takes one byte choosing an edge value, or the next bytes as a raw one.
func fill(v reflect.Value, data *[]byte) {
	next := func(n int) []byte {
		b := make([]byte, n)
		copy(b, *data)
		*data = (*data)[min(n, len(*data)):]
		return b
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), data)
		}
	case reflect.Int, reflect.Int64:
		if len(*data) == 0 {
			return
		}
		sel := next(1)[0]
		if int(sel) < len(edgeInts) {
			v.SetInt(edgeInts[sel])
		} else if sel >= 0xf0 {
			v.SetInt(int64(int32(binary.LittleEndian.Uint32(next(4)))))
		}
	case reflect.Uint64:
		if len(*data) > 0 {
			v.SetUint(binary.LittleEndian.Uint64(next(8)))
		}
	case reflect.Float64:
		if len(*data) == 0 {
			return
		}
		sel := next(1)[0]
		if int(sel) < len(edgeFloats) {
			v.SetFloat(edgeFloats[sel])
		} else if sel >= 0xf0 {
			v.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(next(8))))
		}
	case reflect.String:
		if len(*data) > 0 {
			if sel := int(next(1)[0]); sel < len(strChoices) {
				v.SetString(strChoices[sel])
			}
		}
	case reflect.Bool:
		if len(*data) > 0 {
			v.SetBool(next(1)[0]&1 == 1)
		}
	}
}
