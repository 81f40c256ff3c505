package auth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// Leeway is the clock skew tolerated on exp, nbf and iat, between Kazna nodes and between Kazna and banks.
	Leeway = 30 * time.Second
	// maxTokenBytes bounds a token before any decoding; real tokens are well under 2 KiB.
	maxTokenBytes = 8 << 10
)

// keyLookup returns the public key for a kid, or an error wrapping ErrUnknownKey (or ErrKeyLookup).
type keyLookup func(kid string) (*rsa.PublicKey, error)

// verifyRS256 parses token into claims, accepting only RS256 signatures by the key that lookup returns for the
// token's kid header, and checks exp (required), nbf and iat at now with Leeway. Every error wraps one of the
// package's token errors.
func verifyRS256(token string, claims jwt.Claims, lookup keyLookup, now time.Time, opts ...jwt.ParserOption) error {
	if token == "" {
		return fmt.Errorf("%w: empty token", ErrMalformedToken)
	}
	if len(token) > maxTokenBytes {
		return fmt.Errorf("%w: token longer than %d bytes", ErrMalformedToken, maxTokenBytes)
	}
	opts = append([]jwt.ParserOption{
		jwt.WithValidMethods([]string{algRS256}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(Leeway),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	}, opts...)
	tok, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, ok := t.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, fmt.Errorf("%w: no kid in the token header", ErrMalformedToken)
		}
		// A kid of bounded printable ASCII is safe to look up and to name in errors.
		if err := checkKID(kid); err != nil {
			return nil, fmt.Errorf("%w: kid header: %v", ErrMalformedToken, err)
		}
		pub, err := lookup(kid)
		if err != nil {
			return nil, err
		}
		if pub == nil {
			return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
		}
		if bits := pub.N.BitLen(); bits < minKeyBits || bits > maxKeyBits {
			return nil, fmt.Errorf("%w: key %q has %d bits", ErrInvalidKey, kid, bits)
		}
		return pub, nil
	})
	if err != nil {
		return classify(tok, err)
	}
	return nil
}

// classify maps a jwt/v5 error to exactly one of this package's token errors, keeping the library's text as
// detail. The text never contains the token: jwt/v5 reports what failed, not the input.
func classify(tok *jwt.Token, err error) error {
	for _, own := range []error{ErrKeyLookup, ErrUnknownKey, ErrInvalidKey, ErrAlgorithmNotAllowed, ErrMalformedToken} {
		if errors.Is(err, own) {
			// Our keyfunc's error: drop jwt's "token is unverifiable: error while executing keyfunc" prefix.
			return unwrapKeyfunc(err, own)
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %v", ErrMalformedToken, err)
	case tok != nil && tok.Header != nil && tok.Header["alg"] != algRS256:
		return fmt.Errorf("%w: alg %.32q", ErrAlgorithmNotAllowed, fmt.Sprint(tok.Header["alg"]))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: %v", ErrTokenExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: %v", ErrTokenNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: %v", ErrMissingClaim, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenInvalidIssuer),
		errors.Is(err, jwt.ErrTokenInvalidSubject), errors.Is(err, jwt.ErrTokenInvalidId):
		return fmt.Errorf("%w: %v", ErrInvalidClaim, err)
	default:
		return fmt.Errorf("%w: %v", ErrMalformedToken, err)
	}
}

// unwrapKeyfunc returns the keyfunc's own error (which wraps own), without jwt's wrapping around it.
func unwrapKeyfunc(err, own error) error {
	// jwt/v5 wraps keyfunc errors as fmt.Errorf("%w: %s: %w", ErrTokenUnverifiable, msg, keyErr).
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if errors.Is(e, own) {
				return e
			}
		}
	}
	return err
}

// numericTime converts an optional NumericDate to a time (zero when absent).
func numericTime(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time.UTC()
}
