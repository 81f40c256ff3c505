package auth

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BankKeyFinder returns a bank's registered public key. It looks only among the keys of counterpartyGUID, and
// answers an error wrapping ErrUnknownKey (or nil, nil) when that counterparty has no key with this kid; any other
// error means the store could not answer.
type BankKeyFinder interface {
	BankKey(ctx context.Context, counterpartyGUID, kid string) (*rsa.PublicKey, error)
}

// BankClaims is what a bank-signed JWT (CX-Authorization) says.
type BankClaims struct {
	// Subject is the bank employee or technical user who acts.
	Subject string
	// Object is the user acted on, if the bank named one.
	Object string
	// Flow is empty when the bank sent none.
	Flow      Flow
	ID        string
	Issuer    string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

type bankClaims struct {
	Object string `json:"obj,omitempty"`
	Flow   string `json:"flow,omitempty"`
	jwt.RegisteredClaims
}

// VerifyBankJWT checks a JWT a bank signed for its own counterparty: the kid header is looked up only among that
// counterparty's keys (another bank's key with the same kid is ErrUnknownKey), RS256 only, sub, iat and exp
// required, exp/nbf/iat checked at now with Leeway; obj and flow are optional, but a flow must be a known one.
func VerifyBankJWT(ctx context.Context, token, counterpartyGUID string, keys BankKeyFinder, now time.Time) (BankClaims, error) {
	if counterpartyGUID == "" || keys == nil {
		return BankClaims{}, errors.New("auth: bank token: counterparty and key store are required")
	}
	var bc bankClaims
	lookup := func(kid string) (*rsa.PublicKey, error) {
		pub, err := keys.BankKey(ctx, counterpartyGUID, kid)
		switch {
		case errors.Is(err, ErrUnknownKey):
			return nil, fmt.Errorf("%w: counterparty %.64q has no key %q", ErrUnknownKey, counterpartyGUID, kid)
		case err != nil:
			return nil, fmt.Errorf("%w: counterparty %.64q, kid %q: %v", ErrKeyLookup, counterpartyGUID, kid, err)
		case pub == nil:
			return nil, fmt.Errorf("%w: counterparty %.64q has no key %q", ErrUnknownKey, counterpartyGUID, kid)
		}
		return pub, nil
	}
	if err := verifyRS256(token, &bc, lookup, now); err != nil {
		return BankClaims{}, fmt.Errorf("auth: bank token: %w", err)
	}
	switch {
	case bc.Subject == "":
		return BankClaims{}, fmt.Errorf("auth: bank token: %w: sub", ErrMissingClaim)
	case bc.IssuedAt == nil:
		return BankClaims{}, fmt.Errorf("auth: bank token: %w: iat", ErrMissingClaim)
	case len(bc.Subject) > maxClaimLen || len(bc.Object) > maxClaimLen:
		return BankClaims{}, fmt.Errorf("auth: bank token: %w: sub or obj longer than %d bytes", ErrInvalidClaim, maxClaimLen)
	}
	var flow Flow
	if bc.Flow != "" {
		f, err := ParseFlow(bc.Flow)
		if err != nil {
			return BankClaims{}, fmt.Errorf("auth: bank token: %w", err)
		}
		flow = f
	}
	return BankClaims{
		Subject:   bc.Subject,
		Object:    bc.Object,
		Flow:      flow,
		ID:        bc.ID,
		Issuer:    bc.Issuer,
		IssuedAt:  numericTime(bc.IssuedAt),
		NotBefore: numericTime(bc.NotBefore),
		ExpiresAt: numericTime(bc.ExpiresAt),
	}, nil
}
