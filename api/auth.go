package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
)

// apiToken is one configured API token: the SHA-256 digest of its secret, so that comparing a
// presented token takes the same time whatever its length or content, and the spaces it is
// limited to (nil: every space).
type apiToken struct {
	digest [sha256.Size]byte
	spaces []string
}

// inSpace reports whether t may act in space; routes without a space (space "") are open
// to every token.
func (t apiToken) inSpace(space string) bool {
	return t.spaces == nil || space == "" || slices.Contains(t.spaces, space)
}

type tokens []apiToken

// tokenKey carries the request's token in its context, once authenticated.
type tokenKey struct{}

// unrestricted reports whether the request's token may act in every space: only such a
// token sees webhooks stored before spaces were (which have none).
func unrestricted(r *http.Request) bool {
	t, ok := r.Context().Value(tokenKey{}).(apiToken)
	return ok && t.spaces == nil
}

// newTokens parses WALHOOK_API_TOKENS entries: "token", or "token@space1|space2" for a
// token limited to those spaces.
func newTokens(list []string) tokens {
	var t tokens
	for _, s := range list {
		s = strings.TrimSpace(s)
		secret, spaces, limited := strings.Cut(s, "@")
		if secret == "" {
			continue
		}
		tk := apiToken{digest: sha256.Sum256([]byte(secret))}
		if limited {
			tk.spaces = []string{}
			for sp := range strings.SplitSeq(spaces, "|") {
				if sp = strings.TrimSpace(sp); sp != "" {
					tk.spaces = append(tk.spaces, sp)
				}
			}
		}
		t = append(t, tk)
	}
	return t
}

// find returns the configured token r carries: "Bearer <token>", or Basic auth with the
// token as password (any user name). Every token is compared, in constant time.
func (t tokens) find(r *http.Request) (apiToken, bool) {
	given, ok := presented(r.Header.Get("Authorization"))
	if !ok {
		return apiToken{}, false
	}
	return t.match(given)
}

// match returns the configured token given is, comparing with every one in constant time.
func (t tokens) match(given string) (apiToken, bool) {
	d := sha256.Sum256([]byte(given))
	found := -1
	for i := range t {
		if subtle.ConstantTimeCompare(d[:], t[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return apiToken{}, false
	}
	return t[found], true
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
