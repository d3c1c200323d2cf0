package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestHandlerServesFilesWithHeaders checks that each file is served under Path with the
// security headers, and that other methods are refused.
func TestHandlerServesFilesWithHeaders(t *testing.T) {
	h := Handler()
	for _, tc := range []struct{ path, contentType, contains string }{
		{Path, "text/html", `<script src="console.js" defer></script>`},
		{Path + "console.js", "text/javascript", "parseMetrics"},
		{Path + "console.css", "text/css", ":root"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", tc.path, got, CSP)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v lack nosniff or DENY", tc.path, rec.Header())
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST %s: %d, Allow %q; want 405, GET, HEAD", Path, rec.Code, rec.Header().Get("Allow"))
	}
}

// TestCSPIsStrict pins what the policy must never allow: inline or evaluated script,
// inline styles, other origins.
func TestCSPIsStrict(t *testing.T) {
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:", "data: ;"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP %q contains %q", CSP, bad)
		}
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP %q lacks %q", CSP, want)
		}
	}
}

// TestStaticFilesAvoidHTMLInjection is a lint of the embedded files: the script never
// parses strings as HTML (API data would become markup), and the page has no inline
// script, event-handler attribute or style attribute (the CSP would block them).
func TestStaticFilesAvoidHTMLInjection(t *testing.T) {
	read := func(name string) string {
		b, err := fs.ReadFile(static, "static/"+name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	js := read("console.js")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage.setItem(TOKEN_KEY"} {
		if strings.Contains(js, sink) {
			t.Errorf("console.js uses %s", sink)
		}
	}
	// The token reaches localStorage only through session.save's remember branch.
	if !strings.Contains(js, "const store = remember ? localStorage : sessionStorage;") {
		t.Error("console.js: session.save no longer picks sessionStorage unless remember is ticked")
	}
	html := read("index.html")
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(\s[^>]*)?>[^<]+</script>`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`<style`),
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("index.html has an inline script: %s", tag)
		}
	}
	for _, re := range inline {
		if m := re.FindString(html); m != "" {
			t.Errorf("index.html has inline code or style: %s", m)
		}
	}
}
