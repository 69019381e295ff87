package server

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// graphiqlFiles is the GraphiQL page and its assets, built into the binary so the page works
// without a CDN (scripts/vendor-graphiql.sh refreshes them). Static files, not a template:
// html/template in the binary would defeat dead-code elimination of msgraph-sdk-go.
//
//go:embed graphiql/index.html graphiql/graphiql-init.js graphiql/*.gz graphiql/THIRD_PARTY_LICENSES.txt
var graphiqlFiles embed.FS

// handleGraphiQL serves the GraphiQL page.
func handleGraphiQL() http.Handler {
	page, _ := graphiqlFiles.ReadFile("graphiql/index.html")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		pageHeaders(w, "style-src 'self' 'unsafe-inline'") // GraphiQL's editor sets inline styles
		_, _ = w.Write(page)
	})
}

// handleGraphiQLAsset serves GraphiQL's scripts and styles: gzipped as stored when the client
// accepts gzip (every browser does), decompressed otherwise.
func handleGraphiQLAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.PathValue("file"))
		if name == "index.html" {
			http.Redirect(w, r, "/graphiql", http.StatusMovedPermanently)
			return
		}
		body, gzipped := readAsset(name)
		if body == nil {
			http.NotFound(w, r)
			return
		}
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "text/plain; charset=utf-8"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Vary", "Accept-Encoding")
		if gzipped {
			if acceptsGzip(r) {
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write(body)
				return
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				http.Error(w, "corrupt asset", http.StatusInternalServerError)
				return
			}
			_, _ = io.Copy(w, zr)
			return
		}
		_, _ = w.Write(body)
	})
}

// readAsset finds NAME, preferring its gzipped copy.
func readAsset(name string) (body []byte, gzipped bool) {
	if b, err := graphiqlFiles.ReadFile("graphiql/" + name + ".gz"); err == nil {
		return b, true
	}
	if b, err := graphiqlFiles.ReadFile("graphiql/" + name); err == nil {
		return b, false
	}
	return nil, false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
