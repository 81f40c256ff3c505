package auth

import "errors"

// Token errors. Every verification failure wraps exactly one of these, so the API can map them to a status code in
// one table (all of them are 401 except ErrKeyLookup, which is an infrastructure failure).
var (
	ErrMalformedToken      = errors.New("malformed token")
	ErrAlgorithmNotAllowed = errors.New("signing algorithm not allowed (only RS256)")
	ErrUnknownKey          = errors.New("unknown signing key")
	ErrBadSignature        = errors.New("bad signature")
	ErrTokenExpired        = errors.New("token expired")
	ErrTokenNotYetValid    = errors.New("token not yet valid")
	ErrMissingClaim        = errors.New("token lacks a required claim")
	ErrInvalidClaim        = errors.New("token has an invalid claim")
	// ErrKeyLookup means the bank key store could not answer; the token was neither accepted nor refused.
	ErrKeyLookup = errors.New("bank key lookup failed")
)

// Key errors.
var (
	// ErrInvalidKey is returned for a signing key or a bank JWK that Kazna will not use.
	ErrInvalidKey = errors.New("invalid key")
	// ErrPrivateKeyMaterial is returned when a bank sends a JWK that contains private parts.
	ErrPrivateKeyMaterial = errors.New("JWK contains private key material")
)
