package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
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

// filterRequest holds the options sample and edit share.
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

type codesRequest struct {
	Codes []int32 `json:"codes"`
	Class *int    `json:"class"`
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// check validates the shared options against the model and the server's
// limits; it returns n with 0 meaning the model's default.
func (s *Server) checkFilter(f *filterRequest) (int, *apiError) {
	n := 0
	if f.N != nil {
		n = *f.N
		if n < 1 || n > s.cfg.MaxN {
			return 0, badField("n", "n %d: want 1 to %d images", n, s.cfg.MaxN)
		}
	}
	if e := s.checkClass(f.Class); e != nil {
		return 0, e
	}
	if t := f.Temperature; t != nil && !(*t > 0 && finite(*t)) {
		return 0, badField("temperature", "temperature %g: want a number > 0 (1 leaves the prior as trained)", *t)
	}
	if k := f.TopK; k != nil && *k < 0 {
		return 0, badField("top_k", "top_k %d: want >= 0 (0 turns it off)", *k)
	}
	if p := f.TopP; p != nil && !(*p > 0 && *p <= 1) {
		return 0, badField("top_p", "top_p %g: want a value in (0, 1] (1 turns it off)", *p)
	}
	return n, nil
}

func (s *Server) checkClass(c *int) *apiError {
	if c == nil {
		return nil
	}
	if s.info.Classes == 0 {
		return badField("class", "class %d: the prior is unconditional (trained without labels); leave class out", *c)
	}
	if *c < 0 || *c >= s.info.Classes {
		return badField("class", "class %d: the prior knows classes 0 to %d", *c, s.info.Classes-1)
	}
	return nil
}

// checkGrid validates a code grid for the loaded model.
func (s *Server) checkGrid(codes []int32) *apiError {
	hw := s.info.GridH * s.info.GridW
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

func (s *Server) sampleOptions(r *sampleRequest) (SampleOptions, *apiError) {
	n, e := s.checkFilter(&r.filterRequest)
	if e != nil {
		return SampleOptions{}, e
	}
	if g := r.Guidance; g != nil {
		if !(*g >= 0 && finite(*g)) {
			return SampleOptions{}, badField("guidance", "guidance %g: want a finite number >= 0 (1 turns it off)", *g)
		}
		if *g != 1 && *g != 0 && s.info.Classes == 0 {
			return SampleOptions{}, badField("guidance", "guidance %g: the prior is unconditional, so there is no class to guide towards (1 turns it off)", *g)
		}
	}
	f := r.filterRequest
	return SampleOptions{N: n, Class: f.Class, Temperature: f.Temperature, TopK: f.TopK, TopP: f.TopP,
		Guidance: r.Guidance, Seed: f.Seed}, nil
}

func (s *Server) editOptions(r *editRequest) (EditOptions, *apiError) {
	n, e := s.checkFilter(&r.filterRequest)
	if e != nil {
		return EditOptions{}, e
	}
	if e := s.checkGrid(r.Codes); e != nil {
		return EditOptions{}, e
	}
	gh, gw := s.info.GridH, s.info.GridW
	redraw := make([]bool, gh*gw)
	if len(r.Redraw) == 0 {
		return EditOptions{}, badField("redraw", "redraw: give the cells to draw anew as [row, col] pairs")
	}
	for i, rc := range r.Redraw {
		f := fmt.Sprintf("redraw[%d]", i)
		if len(rc) != 2 {
			return EditOptions{}, badField(f, "%s: want a [row, col] pair, got %d numbers", f, len(rc))
		}
		if rc[0] < 0 || rc[0] >= gh || rc[1] < 0 || rc[1] >= gw {
			return EditOptions{}, badField(f, "%s: cell [%d, %d] is outside the %dx%d grid (rows 0 to %d, columns 0 to %d)", f, rc[0], rc[1], gh, gw, gh-1, gw-1)
		}
		redraw[rc[0]*gw+rc[1]] = true
	}
	method := s.info.Edit.Method
	if r.Method != nil {
		method = *r.Method
		if method != "gibbs" && method != "raster" {
			return EditOptions{}, badField("method", "method %q: want gibbs or raster", method)
		}
	}
	if sw := r.Sweeps; sw != nil && (*sw < 0 || *sw > s.cfg.MaxSweeps) {
		return EditOptions{}, badField("sweeps", "sweeps %d: want 1 to %d (0: the default %d)", *sw, s.cfg.MaxSweeps, s.info.Edit.Sweeps)
	}
	if method == "gibbs" {
		if k := r.TopK; k != nil && *k != 0 {
			return EditOptions{}, badField("top_k", "top_k %d: gibbs samples the tempered prior given the kept cells and takes no top-k; use method raster, or 0", *k)
		}
		if p := r.TopP; p != nil && *p != 1 {
			return EditOptions{}, badField("top_p", "top_p %g: gibbs samples the tempered prior given the kept cells and takes no top-p; use method raster, or 1", *p)
		}
	}
	if s.info.Classes > 0 && r.Class == nil {
		return EditOptions{}, badField("class", "class: the prior is class-conditional; give the class to draw for (0 to %d)", s.info.Classes-1)
	}
	f := r.filterRequest
	return EditOptions{Grid: r.Codes, Redraw: redraw, N: n, Method: method, Sweeps: r.Sweeps, Class: f.Class,
		Temperature: f.Temperature, TopK: f.TopK, TopP: f.TopP, Seed: f.Seed}, nil
}
