package auth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Flow says why Kazna asks the bank's authorization service about a user (guide §5).
type Flow string

const (
	// FlowSignIn authorizes an operation of an existing client, for example a payment.
	FlowSignIn Flow = "sign-in"
	// FlowSignUp creates a new client or account.
	FlowSignUp Flow = "sign-up"
	// FlowSignUpProcessing creates a processing account.
	FlowSignUpProcessing Flow = "sign-up-processing"
	// FlowSignUpEmission creates an identification (emission) account.
	FlowSignUpEmission Flow = "sign-up-emission"
)

// Valid tells whether f is one of the four flows of the guide.
func (f Flow) Valid() bool {
	switch f {
	case FlowSignIn, FlowSignUp, FlowSignUpProcessing, FlowSignUpEmission:
		return true
	}
	return false
}

// SignUp tells whether f creates something (any sign-up flow).
func (f Flow) SignUp() bool { return f.Valid() && f != FlowSignIn }

// ParseFlow accepts only the four flows of the guide.
func ParseFlow(s string) (Flow, error) {
	if f := Flow(s); f.Valid() {
		return f, nil
	}
	return "", fmt.Errorf("%w: flow %.40q is not sign-in, sign-up, sign-up-processing or sign-up-emission",
		ErrInvalidClaim, s)
}

const (
	// SessionTTL is the lifetime of an X-Session-ID token: the bank must answer within 1 s, so a minute covers
	// retries and clock skew while keeping a leaked token nearly worthless.
	SessionTTL = 60 * time.Second
	// AudienceBankAuth is the aud of session tokens.
	AudienceBankAuth = "bank-auth"
)

// Session is what an X-Session-ID token says: Subject wants to act on Object, for Flow.
type Session struct {
	Subject   string
	Object    string
	Flow      Flow
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type sessionClaims struct {
	Flow   Flow   `json:"flow"`
	Object string `json:"obj"`
	jwt.RegisteredClaims
}

// IssueSession signs the token Kazna sends in X-Session-ID to a bank's /user_auth, /key or /external_id: claims
// sub (who acts), obj (the customer login or external id), flow, iat, exp (SessionTTL), plus iss, aud and jti.
func (kr *Keyring) IssueSession(sub, obj string, flow Flow, now time.Time) (string, error) {
	switch {
	case sub == "" || obj == "":
		return "", errors.New("auth: session: subject and object are required")
	case len(sub) > maxClaimLen || len(obj) > maxClaimLen:
		return "", fmt.Errorf("auth: session: subject or object longer than %d bytes", maxClaimLen)
	case !flow.Valid():
		_, err := ParseFlow(string(flow))
		return "", fmt.Errorf("auth: session: %w", err)
	}
	now = now.UTC()
	return kr.sign(sessionClaims{
		Flow:   flow,
		Object: obj,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   sub,
			Audience:  jwt.ClaimStrings{AudienceBankAuth},
			ExpiresAt: jwt.NewNumericDate(now.Add(SessionTTL)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
	}, now)
}

// VerifySession checks an X-Session-ID token against Kazna's published keys, as a bank does: RS256 by the key named
// by kid, issued by Kazna for a bank authorization service, not expired, with sub, obj and a known flow.
func VerifySession(token string, keys JWKSet, now time.Time) (Session, error) {
	var sc sessionClaims
	err := verifyRS256(token, &sc, func(kid string) (*rsa.PublicKey, error) { return keys.PublicKey(kid) }, now,
		jwt.WithIssuer(Issuer), jwt.WithAudience(AudienceBankAuth))
	if err != nil {
		return Session{}, fmt.Errorf("auth: session token: %w", err)
	}
	switch {
	case sc.Subject == "":
		return Session{}, fmt.Errorf("auth: session token: %w: sub", ErrMissingClaim)
	case sc.Object == "":
		return Session{}, fmt.Errorf("auth: session token: %w: obj", ErrMissingClaim)
	case sc.IssuedAt == nil:
		return Session{}, fmt.Errorf("auth: session token: %w: iat", ErrMissingClaim)
	case !sc.Flow.Valid():
		_, err := ParseFlow(string(sc.Flow))
		return Session{}, fmt.Errorf("auth: session token: %w", err)
	}
	return Session{
		Subject:   sc.Subject,
		Object:    sc.Object,
		Flow:      sc.Flow,
		ID:        sc.ID,
		IssuedAt:  numericTime(sc.IssuedAt),
		ExpiresAt: numericTime(sc.ExpiresAt),
	}, nil
}
