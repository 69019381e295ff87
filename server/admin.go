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
//go:embed admin/index.html admin/admin.js admin/privacy.js admin/issues.js admin/mailbox.js admin/audit.js admin/admin.css
var adminFiles embed.FS

// handleAdminPage serves the Team Access settings page.
func handleAdminPage() http.Handler {
	page, _ := adminFiles.ReadFile("admin/index.html")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		pageHeaders(w, "style-src 'self'")
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

// pageHeaders sets what a browser needs to keep the admin page and GraphiQL safe: scripts and
// connections from this origin only ('self' covers its own ws: and wss:, CSP Level 3), never in
// a frame (clickjacking), no Referer with the page's address sent anywhere.
func pageHeaders(w http.ResponseWriter, styles string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; connect-src 'self'; "+styles+
		"; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
