package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/vqgen/vqgen/app"
)

// maxJSON bounds a JSON request body: a grid of 64x64 codes with a full
// redraw list is well under it.
const maxJSON = 1 << 20

// apiError is every error response: {"error": "...", "field": "..."}.
type apiError struct {
	status  int
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
	Job     string `json:"job,omitempty"`
}

func badField(field, format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, a...)}
}

// wantContentType checks the request's media type against the accepted ones.
func wantContentType(r *http.Request, accepted ...string) (string, *apiError) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range accepted {
			if mt == a {
				return mt, nil
			}
		}
	}
	if ct == "" {
		ct = "none"
	}
	return "", &apiError{status: http.StatusUnsupportedMediaType, Field: "Content-Type",
		Message: fmt.Sprintf("Content-Type %s: want %s", ct, strings.Join(accepted, " or "))}
}

// decodeJSON reads a JSON body into v, refusing unknown fields, wrong
// types, trailing data and bodies over maxJSON, each with the field to fix.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *apiError {
	if _, e := wantContentType(r, "application/json"); e != nil {
		return e
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSON))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return badField("body", "unexpected data after the JSON object")
		}
		if _, err2 := dec.Token(); err2 != io.EOF {
			return badField("body", "unexpected data after the JSON object")
		}
		return nil
	}
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		big  *http.MaxBytesError
		name string
	)
	switch {
	case errors.As(err, &big):
		return &apiError{status: http.StatusRequestEntityTooLarge, Field: "body", Message: fmt.Sprintf("the request body is over %d bytes", maxJSON)}
	case errors.As(err, &syn):
		return badField("body", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		// Fields of the embedded filterRequest are top-level in JSON.
		f := strings.ReplaceAll(typ.Field, "filterRequest.", "")
		if f == "" {
			f = "body"
		}
		return badField(f, "%s: want a JSON %s, got %s", f, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badField("body", "the request body is empty or cut short; want a JSON object")
	}
	if _, rest, ok := strings.Cut(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(rest, `"`)
		if name == "" {
			// The field to fix is the nameless key itself; name the
			// body so the error still points somewhere.
			return badField("body", "unknown field \"\" (a key with an empty name)")
		}
		return badField(name, "unknown field %q", name)
	}
	return badField("body", "%v", err)
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "integer"
	case strings.HasPrefix(goKind, "float"):
		return "number"
	case goKind == "slice", goKind == "array":
		return "array"
	case goKind == "struct", goKind == "map":
		return "object"
	}
	return goKind
}

// filterRequest holds the options sample and edit share. A field left out
// keeps its default from Info (package app's, read from the prior's
// checkpoint); package app checks every value (Backend.CheckSample and
// CheckEdit), the server only its own limits and the request's shape.
type filterRequest struct {
	N           *int     `json:"n"`
	Class       *int     `json:"class"`
	Temperature *float64 `json:"temperature"`
	TopK        *int     `json:"top_k"`
	TopP        *float64 `json:"top_p"`
	Seed        *uint64  `json:"seed"`
}

type sampleRequest struct {
	filterRequest
	Guidance *float64 `json:"guidance"`
}

type editRequest struct {
	filterRequest
	Codes  []int32 `json:"codes"`
	Redraw [][]int `json:"redraw"` // [row, col] cells to draw anew
	Method *string `json:"method"`
	Sweeps *int    `json:"sweeps"`
}

type decodeRequest struct {
	Codes []int32 `json:"codes"`
}

type codesRequest struct {
	Codes []int32 `json:"codes"`
	Class *int    `json:"class"`
}

// set overwrites *dst with the request's value, if it has one.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// apply sets the shared options the request gives.
func (f *filterRequest) apply(n, class *int, temperature *float64, topK *int, topP *float64, seed *uint64) {
	set(n, f.N)
	set(class, f.Class)
	set(temperature, f.Temperature)
	set(topK, f.TopK)
	set(topP, f.TopP)
	set(seed, f.Seed)
}

// checkN holds a request to the server's limit on images per job.
func (s *Server) checkN(n int) *apiError {
	if n < 1 || n > s.cfg.MaxN {
		return badField("n", "n %d: want 1 to %d images", n, s.cfg.MaxN)
	}
	return nil
}

// checkGrid validates a code grid for the loaded model, naming the first
// bad cell.
func (s *Server) checkGrid(codes []int32) *apiError {
	hw := s.info.Cells()
	if len(codes) != hw {
		return badField("codes", "codes: %d values, want the %dx%d grid's %d in raster order", len(codes), s.info.GridH, s.info.GridW, hw)
	}
	for i, c := range codes {
		if c < 0 || int(c) >= s.info.K {
			return badField(fmt.Sprintf("codes[%d]", i), "codes[%d] (row %d, column %d) is %d: want 0 to %d", i, i/s.info.GridW, i%s.info.GridW, c, s.info.K-1)
		}
	}
	return nil
}

func (s *Server) sampleOptions(r *sampleRequest) (app.SampleOptions, *apiError) {
	o := s.info.Sample
	r.apply(&o.N, &o.Class, &o.Temperature, &o.TopK, &o.TopP, &o.Seed)
	set(&o.Guidance, r.Guidance)
	if e := s.checkN(o.N); e != nil {
		return o, e
	}
	if err := s.b.CheckSample(o); err != nil {
		return o, s.failure(err)
	}
	return o, nil
}

// editJob is a checked edit request.
type editJob struct {
	grid []int32
	keep []bool
	o    app.EditOptions
}

func (s *Server) editOptions(r *editRequest) (editJob, *apiError) {
	if e := s.checkGrid(r.Codes); e != nil {
		return editJob{}, e
	}
	gh, gw := s.info.GridH, s.info.GridW
	keep := make([]bool, gh*gw)
	for i := range keep {
		keep[i] = true
	}
	if len(r.Redraw) == 0 {
		return editJob{}, badField("redraw", "redraw: give the cells to draw anew as [row, col] pairs")
	}
	for i, rc := range r.Redraw {
		f := fmt.Sprintf("redraw[%d]", i)
		if len(rc) != 2 {
			return editJob{}, badField(f, "%s: want a [row, col] pair, got %d numbers", f, len(rc))
		}
		if rc[0] < 0 || rc[0] >= gh || rc[1] < 0 || rc[1] >= gw {
			return editJob{}, badField(f, "%s: cell [%d, %d] is outside the %dx%d grid (rows 0 to %d, columns 0 to %d)", f, rc[0], rc[1], gh, gw, gh-1, gw-1)
		}
		keep[rc[0]*gw+rc[1]] = false
	}
	method := s.info.Edit.Method
	set(&method, r.Method)
	o, ok := s.info.EditMethods[method]
	if !ok {
		return editJob{}, badField("method", "method %q: want %s", method, strings.Join(slices.Sorted(maps.Keys(s.info.EditMethods)), " or "))
	}
	r.apply(&o.N, &o.Class, &o.Temperature, &o.TopK, &o.TopP, &o.Seed)
	set(&o.Sweeps, r.Sweeps)
	if e := s.checkN(o.N); e != nil {
		return editJob{}, e
	}
	if o.Sweeps > s.cfg.MaxSweeps {
		return editJob{}, badField("sweeps", "sweeps %d: want at most %d", o.Sweeps, s.cfg.MaxSweeps)
	}
	if err := s.b.CheckEdit(o); err != nil {
		return editJob{}, s.failure(err)
	}
	return editJob{r.Codes, keep, o}, nil
}
