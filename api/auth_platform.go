package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/kazna-ledger/kazna/auth"
)

// TokenVerifier checks a platform access token (auth.Keyring).
type TokenVerifier interface {
	Verify(token string, now time.Time) (auth.Claims, error)
}

// TokenAuthenticator is the Authenticator of Kazna's two kinds of JWT: a platform token in
// Authorization: Bearer (platform staff and bank employees, obtained by login) and a bank-signed token in
// CX-Authorization (a bank's own system, checked against the keys that bank registered, and valid only on
// that bank's paths). A request with both is refused: the guide says Authorization must then be empty.
type TokenAuthenticator struct {
	// Tokens verifies platform tokens. Nil refuses them.
	Tokens TokenVerifier
	// BankKeys finds a bank's registered keys. Nil refuses every bank JWT (no bank can register a key yet).
	BankKeys auth.BankKeyFinder
	// Roles holds each bank's roles, for employees' permissions. Nil means DefaultRoleDirectory.
	Roles RoleDirectory
	// Now is the clock tokens are checked at. Nil means time.Now.
	Now func() time.Time
}

var _ Authenticator = (*TokenAuthenticator)(nil)

// Authenticate tells who sent r. Refusals are plain errors (401 through the middleware, which does not say
// what was wrong); a request that is malformed as a whole is a 400, a key store that cannot answer a 503.
func (a *TokenAuthenticator) Authenticate(r *http.Request) (Caller, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	authz, cx := r.Header.Values("Authorization"), r.Header.Values("CX-Authorization")
	if len(authz) > 1 || len(cx) > 1 {
		return Caller{}, errorf(http.StatusBadRequest, CodeInvalidRequest, "", "send the Authorization or CX-Authorization header once")
	}
	bearer, bank := firstValue(authz), firstValue(cx)
	switch {
	case bearer != "" && bank != "":
		return Caller{}, errorf(http.StatusBadRequest, CodeInvalidRequest, "",
			"send either Authorization (platform token) or CX-Authorization (bank JWT), not both; with a bank JWT Authorization must be empty")
	case bank != "":
		return a.bankCaller(r, bank, now())
	case bearer != "":
		return a.platformCaller(r.Context(), bearer, now())
	}
	return Caller{}, errors.New("no credentials")
}

func firstValue(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return strings.TrimSpace(v[0])
}

func (a *TokenAuthenticator) platformCaller(ctx context.Context, header string, now time.Time) (Caller, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Caller{}, errors.New("authorization scheme is not Bearer")
	}
	if a.Tokens == nil {
		return Caller{}, errors.New("platform tokens are not accepted: no keyring")
	}
	c, err := a.Tokens.Verify(strings.TrimSpace(token), now)
	if err != nil {
		return Caller{}, err
	}
	// The branch limits an employee to one branch's customers, accounts and payments (branchScope); a claim
	// that is not a GUID would scope to nothing sensible, so the token is refused.
	branch := ""
	if c.Branch != "" {
		b, ok := parseGUID(c.Branch)
		if !ok {
			return Caller{}, fmt.Errorf("%w: branch is not a GUID", auth.ErrInvalidClaim)
		}
		branch = b
	}
	if c.Counterparty == "" {
		return Caller{Subject: c.Subject, Kind: CallerPlatformStaff, Roles: c.Roles, BranchGUID: branch,
			Permissions: ResolvePermissions(CallerPlatformStaff, PlatformRoles(), c.Roles)}, nil
	}
	bank, ok := parseGUID(c.Counterparty)
	if !ok {
		return Caller{}, fmt.Errorf("%w: counterparty is not a GUID", auth.ErrInvalidClaim)
	}
	dir := a.Roles
	if dir == nil {
		dir = DefaultRoleDirectory{}
	}
	roles, err := dir.Roles(ctx, bank)
	if err != nil {
		return Caller{}, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the roles of your bank could not be read; retry later", Retryable: true, Err: err}
	}
	return Caller{Subject: c.Subject, Kind: CallerEmployee, CounterpartyGUID: bank, Roles: c.Roles, BranchGUID: branch,
		Permissions: ResolvePermissions(CallerEmployee, roles, c.Roles)}, nil
}

func (a *TokenAuthenticator) bankCaller(r *http.Request, token string, now time.Time) (Caller, error) {
	if a.BankKeys == nil {
		return Caller{}, errors.New("bank JWTs are not accepted: no bank key store")
	}
	// A bank JWT acts only within its bank, so the bank is the one the path names.
	bank, ok := parseGUID(mux.Vars(r)["counterparty_guid"])
	if !ok {
		return Caller{}, errors.New("a bank JWT is valid only on its bank's paths")
	}
	c, err := auth.VerifyBankJWT(r.Context(), token, bank, a.BankKeys, now)
	if errors.Is(err, auth.ErrKeyLookup) {
		return Caller{}, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the bank's keys could not be read; retry later", Retryable: true, Err: err}
	}
	if err != nil {
		return Caller{}, err
	}
	return Caller{Subject: c.Subject, Kind: CallerBankSystem, CounterpartyGUID: bank}, nil
}

// KeySet is what KeyringJWKS publishes (auth.Keyring).
type KeySet interface {
	JWKS() auth.JWKSet
}

// KeyringJWKS publishes a keyring's public keys on the JWKS endpoint.
func KeyringJWKS(ks KeySet) JWKSSource {
	return JWKSFunc(func(context.Context) ([]PublicKey, error) {
		set := ks.JWKS()
		out := make([]PublicKey, 0, len(set.Keys))
		for _, k := range set.Keys {
			out = append(out, PublicKey{Alg: k.Alg, E: k.E, Kid: k.Kid, Kty: k.Kty, N: k.N, Use: k.Use})
		}
		return out, nil
	})
}
