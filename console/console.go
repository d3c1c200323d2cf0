// Package console serves walhook's operator console: a few static files (HTML, CSS and
// JavaScript, no framework, no CDN, no build step) embedded in the binary and mounted at
// /console/. The page talks to the webhook REST API with the operator's token and reads
// the reader's state from /metrics; it holds no state on the server.
//
// Guarantees: every response carries a Content-Security-Policy that allows scripts, styles
// and fetches from walhook's own origin only (no inline script or style, no framing), and
// the page renders API data as text, never as HTML. The token stays in the browser's
// sessionStorage unless the operator asks to be remembered on that device.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

// Path is where the console is mounted; a request for Path without the trailing slash
// is redirected to it.
const Path = "/console/"

// CSP is the Content-Security-Policy of every console response: same-origin scripts,
// styles, images and fetches; no inline script or style attribute, no plugins, no
// framing, no form posts to other origins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed static
var static embed.FS

// Handler serves the console's files under Path: GET and HEAD only, with the security
// headers on every answer. Mount it at Path on the service's mux.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Path, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Files change with the binary; revalidate so an upgrade is seen at once.
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})
}
