package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeJSON feeds arbitrary bodies to the JSON decoding of the API's
// requests (kind picks sample, edit or codes). It must never panic; a
// refusal is a 4xx that names a field and says what is wrong; an accepted
// body is one JSON object whose decoded request encodes and decodes back
// to itself. The committed corpus (testdata/fuzz/FuzzDecodeJSON) holds
// wrong types, unknown and duplicate fields, trailing data, deep nesting,
// huge numbers and broken UTF-8.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"n":4,"temperature":0.9,"top_p":0.95,"seed":7,"guidance":1.5}`), uint8(0))
	f.Add([]byte(`{"codes":[1,2,3],"redraw":[[0,1],[2,2]],"method":"gibbs","sweeps":2,"class":3}`), uint8(1))
	f.Add([]byte(`{"codes":[0,0,0,0],"class":null}`), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		newReq := []func() any{
			func() any { return new(sampleRequest) },
			func() any { return new(editRequest) },
			func() any { return new(codesRequest) },
		}[int(kind)%3]
		v := newReq()
		e := decodeBody(body, v)
		if e != nil {
			if e.status < 400 || e.status > 499 || e.Message == "" || e.Field == "" {
				t.Fatalf("refusal %+v: want a 4xx naming a field", e)
			}
			return
		}
		// encoding/json takes a bare null as "nothing set", so decodeJSON
		// reads it as {}: harmless, every option keeps its default.
		trimmed := bytes.Trim(body, " \t\r\n")
		if !json.Valid(body) || !(bytes.HasPrefix(trimmed, []byte("{")) || string(trimmed) == "null") {
			t.Fatalf("accepted a body that is not one JSON object: %q", body)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encoding the decoded request: %v", err)
		}
		w := newReq()
		if e := decodeBody(again, w); e != nil {
			t.Fatalf("the re-encoded request %s is refused: %+v", again, e)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed the request: %+v became %+v", v, w)
		}
	})
}

func decodeBody(body []byte, v any) *apiError {
	r := httptest.NewRequest(http.MethodPost, "/api/sample", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return decodeJSON(httptest.NewRecorder(), r, v)
}

// The decoder's limits: a body over the size bound is 413, a wrong
// Content-Type 415, and an unknown field is named.
func TestDecodeJSONLimits(t *testing.T) {
	big := append([]byte(`{"codes":[`), bytes.Repeat([]byte("1,"), maxJSON/2)...)
	big = append(big, []byte("1]}")...)
	if e := decodeBody(big, new(codesRequest)); e == nil || e.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %+v", e)
	}
	r := httptest.NewRequest(http.MethodPost, "/api/sample", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "text/plain")
	if e := decodeJSON(httptest.NewRecorder(), r, new(sampleRequest)); e == nil || e.status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %+v", e)
	}
	if e := decodeBody([]byte(`{"tempurature":1}`), new(sampleRequest)); e == nil || e.Field != "tempurature" || e.status != http.StatusBadRequest {
		t.Errorf("unknown field: %+v", e)
	}
}
