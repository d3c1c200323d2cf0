package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// tokens holds the SHA-256 digests of the configured API tokens, so that comparing a
// presented token takes the same time whatever its length or content.
type tokens [][sha256.Size]byte

func newTokens(list []string) tokens {
	var t tokens
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			t = append(t, sha256.Sum256([]byte(s)))
		}
	}
	return t
}

// allows reports whether r carries a configured token: "Bearer <token>", or Basic auth with
// the token as password (any user name). Every token is compared, in constant time.
func (t tokens) allows(r *http.Request) bool {
	given, ok := presented(r.Header.Get("Authorization"))
	if !ok {
		return false
	}
	d := sha256.Sum256([]byte(given))
	match := 0
	for i := range t {
		match |= subtle.ConstantTimeCompare(d[:], t[i][:])
	}
	return match == 1
}

// presented extracts the token from an Authorization header value.
func presented(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return rest, rest != ""
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		_, pass, ok := strings.Cut(string(raw), ":")
		return pass, ok && pass != ""
	}
	return "", false
}
