package api

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the OpenAPI 3.0 description of every route; a test keeps the two in step.
//
//go:embed openapi.json
var openapiJSON []byte

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) *apiError {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapiJSON)
	return nil
}
