package httpapi

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/prism-agent/prism-agent/api"
)

// docsFiles is the API page and the assets it loads, all served by the
// agent itself: the page works without the Internet and its
// Content-Security-Policy can allow the agent's origin only.
//
//go:embed docs/index.html docs/assets
var docsFiles embed.FS

// docsCSP allows the page to load scripts and styles from the agent only
// and to call the agent's API only; nothing inline, no frames, no plugins.
// Images may also be data: URIs, which Swagger UI's stylesheet uses for its
// icons; an image cannot run script.
const docsCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// docsRoutes serves the API page at /docs, its assets under /docs/assets/
// and the OpenAPI document at /docs/openapi.yaml, to anyone: they describe
// the API and hold no data.
func (s *Server) docsRoutes(r chi.Router) {
	assets, err := fs.Sub(docsFiles, "docs/assets")
	if err != nil {
		panic("httpapi: embedded docs assets are missing: " + err.Error())
	}
	files := http.StripPrefix("/docs/assets/", http.FileServerFS(assets))

	r.Get("/docs", func(w http.ResponseWriter, r *http.Request) {
		page, _ := docsFiles.ReadFile("docs/index.html")
		docsHeaders(w, "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	r.Get("/docs/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		docsHeaders(w, "application/yaml")
		_, _ = w.Write(api.OpenAPI)
	})
	r.Get("/docs/assets/*", func(w http.ResponseWriter, r *http.Request) {
		docsHeaders(w, "")
		files.ServeHTTP(w, r)
	})
}

func docsHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The files change with the agent's version only; revalidating keeps a
	// browser from mixing the assets of two versions after an upgrade.
	h.Set("Cache-Control", "no-cache")
}
