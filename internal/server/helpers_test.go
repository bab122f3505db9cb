package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

var pairs struct {
	once       sync.Once
	cond, unc  Backend
	err1, err2 error
}

// tinyBackends opens the tiny conditional pair and the unconditional one.
func tinyBackends(t testing.TB) (cond, uncond Backend) {
	t.Helper()
	p := tinyModels(t)
	pairs.once.Do(func() {
		pairs.cond, pairs.err1 = Open(p.vq, p.prior)
		pairs.unc, pairs.err2 = Open(p.vq, p.uncond)
	})
	if pairs.err1 != nil || pairs.err2 != nil {
		t.Fatal(pairs.err1, pairs.err2)
	}
	return pairs.cond, pairs.unc
}

// testServer serves b on a loopback port for the test's lifetime.
func testServer(t testing.TB, b Backend, cfg Config) (*httptest.Server, *Server) {
	t.Helper()
	s := New(b, cfg)
	ts := httptest.NewUnstartedServer(nil)
	h, err := s.Handler(ts.Listener.Addr().String(), ts.Listener.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		s.sched.shutdown(0)
	})
	return ts, s
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
}

// apiErr decodes an error response.
func (r resp) apiErr(t testing.TB) apiError {
	t.Helper()
	var e apiError
	r.json(t, &e)
	if e.Message == "" {
		t.Fatalf("status %d: no error message in %s", r.status, r.body)
	}
	return e
}

func do(t testing.TB, method, url, ctype string, body []byte, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func postJSON(t testing.TB, url string, v any) resp {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return do(t, "POST", url, "application/json", b)
}

func get(t testing.TB, url string) resp { return do(t, "GET", url, "", nil) }

func newJSONRequest(ctx context.Context, url, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}
