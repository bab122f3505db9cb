package server

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// The page: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var webFS embed.FS

var web, _ = fs.Sub(webFS, "web")

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// handleStatic serves the embedded files only: "/" is index.html, and no
// path can leave the embedded tree.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	data, err := fs.ReadFile(web, name)
	ct, known := contentTypes[path.Ext(name)]
	if err != nil || !known {
		writeError(w, &apiError{status: http.StatusNotFound, Field: "path", Message: "no such page: " + r.URL.Path})
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}
