package server

import (
	"net"
	"strings"
	"testing"
)

func TestHostAndOrigin(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{})
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	self := "http://127.0.0.1:" + port
	for _, c := range []struct {
		name   string
		method string
		hdr    []string
		field  string // "" = accepted
	}{
		{"plain", "GET", nil, ""},
		{"localhost", "GET", []string{"Host", "localhost:" + port}, ""},
		{"LOCALHOST", "GET", []string{"Host", "LOCALHOST:" + port}, ""},
		{"same origin", "POST", []string{"Origin", self, "Sec-Fetch-Site", "same-origin"}, ""},
		{"localhost origin", "POST", []string{"Host", "localhost:" + port, "Origin", "http://localhost:" + port}, ""},
		{"rebinding", "GET", []string{"Host", "evil.example:" + port}, "Host"},
		{"rebinding, no port", "GET", []string{"Host", "evil.example"}, "Host"},
		{"other port", "GET", []string{"Host", "127.0.0.1:1"}, "Host"},
		{"other address", "GET", []string{"Host", "10.0.0.1:" + port}, "Host"},
		{"cross-site origin", "POST", []string{"Origin", "http://evil.example"}, "Origin"},
		{"origin with other port", "POST", []string{"Origin", "http://127.0.0.1:1"}, "Origin"},
		{"https origin", "POST", []string{"Origin", "https://127.0.0.1:" + port}, "Origin"},
		{"null origin", "POST", []string{"Origin", "null"}, "Origin"},
		{"cross-site fetch", "GET", []string{"Sec-Fetch-Site", "cross-site"}, "Sec-Fetch-Site"},
		{"same-site fetch", "GET", []string{"Sec-Fetch-Site", "same-site"}, "Sec-Fetch-Site"},
	} {
		body := []byte(`{"n": 1}`)
		path := "/api/sample?wait=1"
		if c.method == "GET" {
			body, path = nil, "/api/info"
		}
		r := do(t, c.method, ts.URL+path, "application/json", body, c.hdr...)
		if c.field == "" {
			if r.status != 200 {
				t.Errorf("%s: %d %s", c.name, r.status, r.body)
			}
			continue
		}
		if e := r.apiErr(t); r.status != 403 || e.Field != c.field {
			t.Errorf("%s: %d %+v, want 403 naming %s", c.name, r.status, e, c.field)
		}
	}
	// A cross-site link to the page itself opens it; only the API is closed.
	if r := do(t, "GET", ts.URL+"/", "", nil, "Sec-Fetch-Site", "cross-site"); r.status != 200 {
		t.Errorf("cross-site navigation to the page: %d", r.status)
	}
}

func TestGuardAddresses(t *testing.T) {
	for _, c := range []struct {
		addr, bound string
		extra       []string
		ok, refused []string
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", nil,
			[]string{"127.0.0.1:8080", "localhost:8080"}, []string{"[::1]:8080", "example.com:8080", "127.0.0.1"}},
		{"localhost:8080", "127.0.0.1:8080", nil,
			[]string{"localhost:8080", "127.0.0.1:8080"}, []string{"127.0.0.2:8080"}},
		{"[::1]:9000", "[::1]:9000", nil,
			[]string{"[::1]:9000", "localhost:9000"}, []string{"127.0.0.1:9000"}},
		{":8080", "[::]:8080", []string{"box.lan"},
			[]string{"192.168.1.5:8080", "[fe80::1]:8080", "localhost:8080", "box.lan:8080"}, []string{"evil.example:8080", "192.168.1.5:80"}},
		{"0.0.0.0:80", "0.0.0.0:80", nil,
			[]string{"10.1.2.3", "10.1.2.3:80", "localhost"}, []string{"evil.example"}},
	} {
		bound, err := net.ResolveTCPAddr("tcp", c.bound)
		if err != nil {
			t.Fatal(err)
		}
		g, err := newGuard(c.addr, bound, c.extra)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range c.ok {
			if !g.hostOK(h) {
				t.Errorf("%s: refused Host %s (accepts %s)", c.addr, h, strings.Join(g.hosts, " "))
			}
		}
		for _, h := range c.refused {
			if g.hostOK(h) {
				t.Errorf("%s: accepted Host %s", c.addr, h)
			}
		}
	}
}
