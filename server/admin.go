package server

import (
	"embed"
	"mime"
	"net/http"
	"path"
)

// adminFiles is the admin page: static files built into the binary, calling the GraphQL API with
// the admin's key (no server-side templates: see DEPENDENCIES.md).
//
//go:embed admin/index.html admin/admin.js admin/admin.css
var adminFiles embed.FS

// handleAdminPage serves the Team Access settings page.
func handleAdminPage() http.Handler {
	page, _ := adminFiles.ReadFile("admin/index.html")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; img-src 'self' data:")
		_, _ = w.Write(page)
	})
}

// handleAdminAsset serves the admin page's script and style sheet.
func handleAdminAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.PathValue("file"))
		b, err := adminFiles.ReadFile("admin/" + name)
		if err != nil || name == "index.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}
