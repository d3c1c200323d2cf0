package api

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the OpenAPI 3.1 description of every route and of the requests walhook
// sends (its webhooks section); openapi_test.go keeps it in step with routes and lints it.
//
//go:embed openapi.json
var openapiJSON []byte

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) *apiError {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapiJSON)
	return nil
}
