package api

import (
	_ "embed"
	"net/http"
)

// openapiDocument is the OpenAPI 3.0 document of the API: the source of truth of the wire format. It is kept
// as JSON (which is also YAML) so that tests read it with the standard library.
//
//go:embed openapi.json
var openapiDocument []byte

func serveOpenAPI(contentType string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(openapiDocument)
		return nil
	}
}
