package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// guard accepts a request only when it is addressed to this server and,
// where a browser says where it comes from, comes from this server's own
// page. The Host check defeats DNS rebinding (a page on evil.example whose
// name is made to resolve to 127.0.0.1 still sends Host: evil.example); the
// Origin and Sec-Fetch-Site checks refuse cross-site requests, which a
// browser sends with the user's network position but not with our page.
type guard struct {
	hosts []string // accepted Host values, lower case, with port
	port  string
	anyIP bool // listening on every address: any IP literal with our port
}

// newGuard derives the accepted Host values from the address the user
// asked for (addr, possibly a name such as localhost:8080) and the one the
// listener got (bound, which has the real port when addr said :0).
func newGuard(addr string, bound net.Addr, extra []string) (*guard, error) {
	bh, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return nil, err
	}
	g := &guard{port: port}
	add := func(h string) {
		hp := strings.ToLower(net.JoinHostPort(h, port))
		if !slices.Contains(g.hosts, hp) {
			g.hosts = append(g.hosts, hp)
		}
	}
	if ah, _, err := net.SplitHostPort(addr); err == nil && ah != "" && net.ParseIP(ah) == nil {
		add(ah) // the name the user chose
	}
	ip := net.ParseIP(bh)
	switch {
	case ip == nil:
		add(bh)
	case ip.IsUnspecified():
		g.anyIP = true
		add("localhost")
	default:
		add(ip.String())
		if ip.IsLoopback() {
			add("localhost")
		}
	}
	for _, h := range extra {
		if _, _, err := net.SplitHostPort(h); err == nil {
			g.hosts = append(g.hosts, strings.ToLower(h))
		} else {
			add(h)
		}
	}
	return g, nil
}

// hostOK reports whether a Host header (or an Origin's host) names us.
func (g *guard) hostOK(h string) bool {
	h = strings.ToLower(h)
	if _, _, err := net.SplitHostPort(h); err != nil && g.port == "80" {
		h = net.JoinHostPort(strings.Trim(h, "[]"), "80")
	}
	if slices.Contains(g.hosts, h) {
		return true
	}
	if !g.anyIP {
		return false
	}
	// An IP literal cannot be rebound; names other than ours can.
	host, port, err := net.SplitHostPort(h)
	return err == nil && port == g.port && net.ParseIP(host) != nil
}

func (g *guard) check(r *http.Request) *apiError {
	if !g.hostOK(r.Host) {
		return &apiError{status: http.StatusForbidden, Field: "Host",
			Message: fmt.Sprintf("Host %q is not this server's address (%s); open the page by that address", r.Host, strings.Join(g.hosts, " or "))}
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if o == "null" || err != nil || u.Scheme != "http" || !g.hostOK(u.Host) {
			return &apiError{status: http.StatusForbidden, Field: "Origin",
				Message: fmt.Sprintf("cross-origin request from %q refused: only this server's own page may call the API", o)}
		}
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || r.Method != http.MethodGet {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
		default:
			return &apiError{status: http.StatusForbidden, Field: "Sec-Fetch-Site",
				Message: "cross-site request refused: only this server's own page may call the API"}
		}
	}
	return nil
}

// securityHeaders keeps the page from being framed, sniffed or made to load
// anything but its own files.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		if e := g.check(r); e != nil {
			writeError(w, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}
