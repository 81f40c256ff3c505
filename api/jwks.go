package api

import (
	"context"
	"net/http"
)

// PublicKey is one public key of the platform in JWK form (RFC 7517), as the JWKS endpoint publishes it.
type PublicKey struct {
	Alg string `json:"alg"`
	E   string `json:"e"`
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	Use string `json:"use"`
}

// JWKSSource gives the platform's current token-signing public keys, newest first. Banks check platform
// JWTs (including X-Session-ID on their callbacks) against them by kid.
type JWKSSource interface {
	PublicKeys(ctx context.Context) ([]PublicKey, error)
}

// JWKSFunc adapts a function to JWKSSource, so that the key store need not know this package.
type JWKSFunc func(ctx context.Context) ([]PublicKey, error)

func (f JWKSFunc) PublicKeys(ctx context.Context) ([]PublicKey, error) { return f(ctx) }

// jwksCacheSeconds lets banks cache the key set briefly; a rotation publishes the new key before signing
// with it, so a five-minute-old copy still verifies.
const jwksCacheSeconds = "300"

type jwksResponse struct {
	Keys []PublicKey `json:"keys"`
}

func jwksHandler(src JWKSSource) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if src == nil {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Message: "signing keys are not available yet; retry later", Retryable: true}
		}
		keys, err := src.PublicKeys(r.Context())
		if err != nil {
			return err
		}
		if keys == nil {
			keys = []PublicKey{}
		}
		w.Header().Set("Cache-Control", "public, max-age="+jwksCacheSeconds)
		writeJSON(w, http.StatusOK, jwksResponse{Keys: keys})
		return nil
	}
}
