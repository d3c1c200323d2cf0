package api

import "net/http"

// TokenCheck returns a function reporting whether a request carries one of tokens
// (WALHOOK_API_TOKENS entries), checked exactly as the webhook API checks them ("Bearer
// <token>", or Basic auth with the token as password; constant time). Surfaces without a
// space, such as the inbound commands, accept every configured token, space-limited ones
// too, as the API's space-less routes do. One definition of the API token holds everywhere.
func TokenCheck(tokens []string) func(*http.Request) bool {
	t := newTokens(tokens)
	return func(r *http.Request) bool {
		_, ok := t.find(r)
		return ok
	}
}

// CheckHeaders validates static request headers as the API validates a webhook's headers
// (names walhook sets are refused, values bounded); the error names the offending
// header. Other surfaces that send static headers (the inbound webhook.send) use it.
func CheckHeaders(h map[string]string) error {
	if err := checkHeaders(h); err != nil {
		return err
	}
	return nil
}
