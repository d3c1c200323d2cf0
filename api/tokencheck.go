package api

import "net/http"

// TokenCheck returns a function reporting whether a request carries one of tokens, checked
// exactly as the webhook API checks them ("Bearer <token>", or Basic auth with the token as
// password; constant time). Other HTTP surfaces (the inbound commands) use it so that one
// definition of the API token holds everywhere.
func TokenCheck(tokens []string) func(*http.Request) bool { return newTokens(tokens).allows }
