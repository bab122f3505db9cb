package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vqgen/vqgen/app"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages quote "> 0"; nothing here goes into HTML
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.status, e)
}

// failure turns an error from a job or the backend into a response.
func (s *Server) failure(err error) *apiError {
	var fe *FieldError
	var oe *app.OptionError
	switch {
	case errors.As(err, &fe):
		return badField(fe.Field, "%v", fe.Err)
	case errors.As(err, &oe):
		return badField(oe.Option, "%v", oe)
	case errors.Is(err, errQueueFull):
		return &apiError{status: http.StatusServiceUnavailable, Message: fmt.Sprintf("the server is busy: %d jobs running and %d waiting; retry shortly", s.cfg.Workers, s.cfg.Queue)}
	case errors.Is(err, errShuttingDown):
		return &apiError{status: http.StatusServiceUnavailable, Message: "the server is shutting down"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, Message: fmt.Sprintf("the job ran longer than the server's limit of %s and was stopped", s.cfg.JobTimeout)}
	case errors.Is(err, errCancelled), errors.Is(err, context.Canceled):
		return &apiError{status: http.StatusConflict, Message: "the job was cancelled"}
	}
	return &apiError{status: http.StatusInternalServerError, Message: err.Error()}
}

// methods dispatches on the request method and answers others with 405.
func methods(h map[string]http.HandlerFunc) http.HandlerFunc {
	var allow []string
	for m := range h {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	return func(w http.ResponseWriter, r *http.Request) {
		if f := h[r.Method]; f != nil {
			f(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, Field: "method",
			Message: fmt.Sprintf("%s %s: want %s", r.Method, r.URL.Path, strings.Join(allow, " or "))})
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	get := func(f http.HandlerFunc) http.HandlerFunc { return methods(map[string]http.HandlerFunc{"GET": f}) }
	post := func(f http.HandlerFunc) http.HandlerFunc { return methods(map[string]http.HandlerFunc{"POST": f}) }
	mux.HandleFunc("/api/info", get(s.handleInfo))
	mux.HandleFunc("/api/test-images/{index}", get(s.handleTestImage))
	mux.HandleFunc("/api/encode", post(s.handleEncode))
	mux.HandleFunc("/api/decode", post(s.handleDecode))
	mux.HandleFunc("/api/codes", post(s.handleCodes))
	mux.HandleFunc("/api/sample", post(drawHandler(s, "sample", s.sampleOptions, s.b.Sample)))
	mux.HandleFunc("/api/edit", post(drawHandler(s, "edit", s.editOptions, func(ctx context.Context, j editJob, p app.Progress) (*Result, error) {
		return s.b.Edit(ctx, j.grid, j.keep, j.o, p)
	})))
	mux.HandleFunc("/api/jobs/{id}", get(s.handleJob))
	mux.HandleFunc("/api/jobs/{id}/cancel", post(s.handleCancel))
	mux.HandleFunc("/api/jobs/{id}/images/{file}", get(s.handleJobImage))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, Field: "path", Message: fmt.Sprintf("no API endpoint %s (see docs/http-api.md)", r.URL.Path)})
	})
	mux.Handle("/", get(s.handleStatic))
	return mux
}

type limitsJSON struct {
	MaxN            int     `json:"max_n"`
	MaxSweeps       int     `json:"max_sweeps"`
	MaxUpload       int64   `json:"max_upload_bytes"`
	MaxUploadPixels int64   `json:"max_upload_pixels"`
	Workers         int     `json:"workers"`
	Queue           int     `json:"queue"`
	JobTimeout      float64 `json:"job_timeout_s"`
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	c := s.cfg
	writeJSON(w, http.StatusOK, struct {
		Info
		Limits limitsJSON `json:"limits"`
	}{s.info, limitsJSON{c.MaxN, c.MaxSweeps, c.MaxUpload, c.MaxUploadPixels, c.Workers, c.Queue, c.JobTimeout.Seconds()}})
}

// pictureJSON is an image with its codes, as the edit view starts from.
type pictureJSON struct {
	Index          *int    `json:"index,omitempty"`
	Label          *int    `json:"label"` // null: none known
	Codes          []int32 `json:"codes"`
	Image          string  `json:"image"`          // the input at the model's size, a PNG data URL
	Reconstruction string  `json:"reconstruction"` // the codes decoded, a PNG data URL
}

func (s *Server) png(pix []float32) ([]byte, error) {
	var buf bytes.Buffer
	err := app.EncodePNG(&buf, pix, s.info.Channels, s.info.Size)
	return buf.Bytes(), err
}

func dataURL(png []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
}

func (s *Server) pictureJSON(p *Picture, index *int) (*pictureJSON, error) {
	in, err := s.png(p.Pixels)
	if err != nil {
		return nil, err
	}
	rec, err := s.png(p.Recon)
	if err != nil {
		return nil, err
	}
	out := &pictureJSON{Index: index, Codes: p.Codes, Image: dataURL(in), Reconstruction: dataURL(rec)}
	if p.Label >= 0 {
		out.Label = &p.Label
	}
	return out, nil
}

// runSync runs f as a job that the request waits for (and cancels if the
// client goes away), and writes its output as JSON.
func (s *Server) runSync(w http.ResponseWriter, r *http.Request, kind string, f jobFunc) (any, bool) {
	j, err := s.sched.submit(kind, false, f)
	if err != nil {
		writeError(w, s.failure(err))
		return nil, false
	}
	select {
	case <-j.finished:
	case <-r.Context().Done():
		j.cancel(errCancelled)
		<-j.finished
	}
	if j.err != nil {
		writeError(w, s.failure(j.err))
		return nil, false
	}
	return j.out, true
}

func (s *Server) handleTestImage(w http.ResponseWriter, r *http.Request) {
	idx, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		writeError(w, badField("index", "index %q: want an image number 0 to %d", r.PathValue("index"), s.info.TestImages-1))
		return
	}
	if s.info.TestImages == 0 {
		writeError(w, &apiError{status: http.StatusNotFound, Field: "index", Message: fmt.Sprintf("the run has no test set to pick images from (%s); upload one with POST /api/encode", s.info.TestSetError)})
		return
	}
	if idx < 0 || idx >= s.info.TestImages {
		writeError(w, &apiError{status: http.StatusNotFound, Field: "index", Message: fmt.Sprintf("index %d: the test set %s has images 0 to %d", idx, s.info.TestSet, s.info.TestImages-1)})
		return
	}
	out, ok := s.runSync(w, r, "test-image", func(ctx context.Context, _ app.Progress) (any, error) {
		p, err := s.b.TestImage(ctx, idx)
		if err != nil {
			return nil, err
		}
		return s.pictureJSON(p, &idx)
	})
	if ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// readUpload returns the image file of an upload: the raw body
// (Content-Type image/png or image/jpeg) or the "image" part of a form.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	mt, e := wantContentType(r, "image/png", "image/jpeg", "multipart/form-data")
	if e != nil {
		return nil, e
	}
	tooBig := &apiError{status: http.StatusRequestEntityTooLarge, Field: "image",
		Message: fmt.Sprintf("the upload is over the server's limit of %d bytes", s.cfg.MaxUpload)}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+64<<10) // room for a form's headers
	var src io.Reader = body
	if mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, badField("body", "malformed multipart form: %v", err)
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				var big *http.MaxBytesError
				if errors.As(err, &big) {
					return nil, tooBig
				}
				return nil, badField("image", "the form has no part named \"image\"")
			}
			if p.FormName() == "image" {
				src = p
				break
			}
		}
	}
	data, err := io.ReadAll(io.LimitReader(src, s.cfg.MaxUpload+1))
	var big *http.MaxBytesError
	if errors.As(err, &big) || int64(len(data)) > s.cfg.MaxUpload {
		return nil, tooBig
	}
	if err != nil {
		return nil, badField("image", "reading the upload: %v", err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "png" && format != "jpeg") {
		return nil, badField("image", "not a PNG or JPEG image")
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > s.cfg.MaxUploadPixels || px <= 0 {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, Field: "image",
			Message: fmt.Sprintf("the image is %dx%d pixels; the server takes up to %d pixels", cfg.Width, cfg.Height, s.cfg.MaxUploadPixels)}
	}
	return data, nil
}

func (s *Server) handleEncode(w http.ResponseWriter, r *http.Request) {
	data, e := s.readUpload(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	out, ok := s.runSync(w, r, "encode", func(ctx context.Context, _ app.Progress) (any, error) {
		p, err := s.b.Encode(ctx, data)
		if err != nil {
			return nil, err
		}
		return s.pictureJSON(p, nil)
	})
	if ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// readGrid decodes a JSON body holding a code grid into req and checks
// the grid (*codes, a field of req), or answers with the error.
func (s *Server) readGrid(w http.ResponseWriter, r *http.Request, req any, codes *[]int32) bool {
	e := decodeJSON(w, r, req)
	if e == nil {
		e = s.checkGrid(*codes)
	}
	if e != nil {
		writeError(w, e)
		return false
	}
	return true
}

func (s *Server) handleDecode(w http.ResponseWriter, r *http.Request) {
	var req decodeRequest
	if !s.readGrid(w, r, &req, &req.Codes) {
		return
	}
	out, ok := s.runSync(w, r, "decode", func(ctx context.Context, _ app.Progress) (any, error) {
		ims, err := s.b.Decode(ctx, [][]int32{req.Codes})
		if err != nil {
			return nil, err
		}
		return s.png(ims[0])
	})
	if ok {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Disposition", `attachment; filename="vqgen.png"`)
		w.Write(out.([]byte))
	}
}

func (s *Server) handleCodes(w http.ResponseWriter, r *http.Request) {
	var req codesRequest
	if !s.readGrid(w, r, &req, &req.Codes) {
		return
	}
	var buf bytes.Buffer
	if err := s.b.WriteCodes(&buf, req.Codes, req.Class); err != nil {
		writeError(w, s.failure(err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="vqgen.vqc"`)
	w.Write(buf.Bytes())
}

// item is one drawn grid of a finished job.
type item struct {
	codes []int32
	class *int
	png   []byte
}

// render turns a sampler result into the job's items.
func (s *Server) render(r *Result) ([]item, error) {
	items := make([]item, len(r.Grids))
	for i := range r.Grids {
		png, err := s.png(r.Images[i])
		if err != nil {
			return nil, err
		}
		items[i] = item{codes: r.Grids[i], png: png}
		if r.Classes != nil {
			c := int(r.Classes[i])
			items[i].class = &c
		}
	}
	return items, nil
}

// drawHandler answers POST /api/sample and /api/edit: it parses the
// request, checks its options, and starts the job that draws and renders.
func drawHandler[Req, Opt any](s *Server, kind string, options func(*Req) (Opt, *apiError),
	draw func(context.Context, Opt, app.Progress) (*Result, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if e := decodeJSON(w, r, &req); e != nil {
			writeError(w, e)
			return
		}
		opt, e := options(&req)
		if e != nil {
			writeError(w, e)
			return
		}
		s.start(w, r, kind, func(ctx context.Context, pr app.Progress) (any, error) {
			res, err := draw(ctx, opt, pr)
			if err != nil {
				return nil, err
			}
			return s.render(res)
		})
	}
}

// waitParam reads ?wait=1 (or true/false).
func waitParam(r *http.Request) (bool, *apiError) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badField("wait", "wait %q: want true or false (1 or 0)", v)
	}
	return b, nil
}

// start submits a job and answers 202 with its state, or with ?wait=1
// waits for it and answers with its result (or its error).
func (s *Server) start(w http.ResponseWriter, r *http.Request, kind string, f jobFunc) {
	wait, e := waitParam(r)
	if e != nil {
		writeError(w, e)
		return
	}
	j, err := s.sched.submit(kind, true, f)
	if err != nil {
		writeError(w, s.failure(err))
		return
	}
	s.log.Printf("%s %s queued", kind, j.id)
	if !wait {
		w.Header().Set("Location", "/api/jobs/"+j.id)
		writeJSON(w, http.StatusAccepted, s.jobJSON(j))
		return
	}
	select {
	case <-j.finished:
	case <-r.Context().Done():
		j.cancel(errCancelled)
		<-j.finished
		return
	}
	if j.err != nil {
		e := s.failure(j.err)
		e.Job = j.id
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, s.jobJSON(j))
}

type itemJSON struct {
	Codes []int32 `json:"codes"`
	Class *int    `json:"class"`
	Image string  `json:"image"` // PNG data URL
	URL   string  `json:"url"`   // the same PNG
}

type jobJSON struct {
	ID      string     `json:"id"`
	Kind    string     `json:"kind"`
	State   string     `json:"state"`
	Done    int        `json:"done"`
	Total   int        `json:"total"`
	Seconds float64    `json:"seconds"` // running time so far
	Error   *apiError  `json:"error,omitempty"`
	Items   []itemJSON `json:"items,omitempty"`
}

func (s *Server) jobJSON(j *job) *jobJSON {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := &jobJSON{ID: j.id, Kind: j.kind, State: j.state, Done: j.done, Total: j.total}
	switch {
	case !j.ended.IsZero() && !j.started.IsZero():
		out.Seconds = j.ended.Sub(j.started).Seconds()
	case !j.started.IsZero():
		out.Seconds = time.Since(j.started).Seconds()
	}
	if j.err != nil {
		out.Error = s.failure(j.err)
	}
	if items, ok := j.out.([]item); ok {
		for i, it := range items {
			out.Items = append(out.Items, itemJSON{Codes: it.codes, Class: it.class, Image: dataURL(it.png),
				URL: fmt.Sprintf("/api/jobs/%s/images/%d.png", j.id, i)})
		}
	}
	return out
}

func (s *Server) jobFor(w http.ResponseWriter, r *http.Request) *job {
	id := r.PathValue("id")
	j := s.sched.get(id)
	if j == nil {
		writeError(w, &apiError{status: http.StatusNotFound, Field: "id",
			Message: fmt.Sprintf("no job %q (finished jobs are kept until %d newer ones finish)", id, s.cfg.KeepJobs)})
	}
	return j
}

// handleJob answers with a job's state; with ?wait=1, once it has ended.
func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	wait, e := waitParam(r)
	if e != nil {
		writeError(w, e)
		return
	}
	j := s.jobFor(w, r)
	if j == nil {
		return
	}
	if wait {
		select {
		case <-j.finished:
		case <-r.Context().Done():
			return
		}
	}
	writeJSON(w, http.StatusOK, s.jobJSON(j))
}

// handleCancel cancels a job and answers once it has stopped (its worker
// is free then), or after a few seconds with its state so far.
func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	j := s.jobFor(w, r)
	if j == nil {
		return
	}
	j.cancel(errCancelled)
	select {
	case <-j.finished:
	case <-time.After(5 * time.Second):
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, s.jobJSON(j))
}

func (s *Server) handleJobImage(w http.ResponseWriter, r *http.Request) {
	j := s.jobFor(w, r)
	if j == nil {
		return
	}
	name := r.PathValue("file")
	i, err := strconv.Atoi(strings.TrimSuffix(name, ".png"))
	j.mu.Lock()
	items, _ := j.out.([]item)
	j.mu.Unlock()
	if err != nil || !strings.HasSuffix(name, ".png") || i < 0 || i >= len(items) {
		writeError(w, &apiError{status: http.StatusNotFound, Field: "file",
			Message: fmt.Sprintf("job %s has no image %q (it has %d: 0.png to %d.png)", j.id, name, len(items), len(items)-1)})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(items[i].png)
}
