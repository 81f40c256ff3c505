package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kazna-ledger/kazna/auth"
)

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

func testRSAKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

var authNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testKeyring(t *testing.T, i int) *auth.Keyring {
	t.Helper()
	k, err := auth.NewSigningKey(testRSAKey(t, i), authNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(auth.KeyringConfig{MaxTTL: time.Hour, Now: func() time.Time { return authNow }}, k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func issue(t *testing.T, kr *auth.Keyring, c auth.Claims, at time.Time) string {
	t.Helper()
	tok, _, err := kr.Issue(c, time.Hour, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bankKeys is a BankKeyFinder holding bank A's key "bank-a-1".
type bankKeys struct{ pub *rsa.PublicKey }

func (b bankKeys) BankKey(_ context.Context, cp, kid string) (*rsa.PublicKey, error) {
	if cp == bankA && kid == "bank-a-1" {
		return b.pub, nil
	}
	if kid == "broken" {
		return nil, errors.New("store down")
	}
	return nil, auth.ErrUnknownKey
}

func bankJWT(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": "core-banking", "iat": authNow.Unix(), "exp": authNow.Add(time.Minute).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenAuthenticator(t *testing.T) {
	kr := testKeyring(t, 0)
	a := &TokenAuthenticator{Tokens: kr, Now: func() time.Time { return authNow }}
	d := Deps{Authenticator: a, JWKS: KeyringJWKS(kr), Logger: quietLogger()}
	h := NewRouter(d)
	table := "/api/v1/counterparty/" + bankA + "/rbac/permission/table"
	get := func(path string, hdr ...string) int {
		return do(t, h, "GET", path, "", nil, hdr...).Code
	}

	admin := issue(t, kr, auth.Claims{Subject: "admin", Roles: []string{RolePlatformAdministrator}}, authNow)
	if c := get(table, "Authorization", "Bearer "+admin); c != 200 {
		t.Fatalf("platform administrator: %d", c)
	}
	if c := get(table, "Authorization", "bearer "+admin); c != 200 {
		t.Fatalf("the scheme is case-insensitive: %d", c)
	}
	// A bank employee's token: the bank's roles apply, and only within the bank.
	observer := issue(t, kr, auth.Claims{Subject: "obs@a", Counterparty: bankA, Roles: []string{RoleObserver}}, authNow)
	if c := get("/api/v1/counterparty/"+bankA+"/rbac/permission", "Authorization", "Bearer "+observer); c != 403 {
		t.Fatalf("observer without rbac.read: %d", c)
	}
	auditor := issue(t, kr, auth.Claims{Subject: "aud@a", Counterparty: bankA, Roles: []string{RoleAuditor}}, authNow)
	if c := get(table, "Authorization", "Bearer "+auditor); c != 200 {
		t.Fatalf("auditor: %d", c)
	}
	if c := get("/api/v1/counterparty/"+bankB+"/rbac/permission/table", "Authorization", "Bearer "+auditor); c != 403 {
		t.Fatalf("auditor of another bank: %d", c)
	}

	expired := issue(t, kr, auth.Claims{Subject: "admin", Roles: []string{RolePlatformAdministrator}}, authNow.Add(-2*time.Hour))
	tampered := admin[:len(admin)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(admin, "AAAA")]
	other := issue(t, testKeyring(t, 1), auth.Claims{Subject: "admin", Roles: []string{RolePlatformAdministrator}}, authNow)
	for name, hdr := range map[string][]string{
		"none":          nil,
		"expired":       {"Authorization", "Bearer " + expired},
		"tampered":      {"Authorization", "Bearer " + tampered},
		"other issuer":  {"Authorization", "Bearer " + other},
		"basic scheme":  {"Authorization", "Basic YWRtaW46eA=="},
		"garbage":       {"Authorization", "Bearer x.y.z"},
		"bank, no keys": {"CX-Authorization", bankJWT(t, testRSAKey(t, 2), "bank-a-1")},
	} {
		t.Run(name, func(t *testing.T) {
			errorOf(t, do(t, h, "GET", table, "", nil, hdr...), 401, CodeUnauthenticated)
		})
	}
	// Both headers: the guide says Authorization must then be empty.
	w := do(t, h, "GET", table, "", nil, "Authorization", "Bearer "+admin, "CX-Authorization", "anything")
	errorOf(t, w, 400, CodeInvalidRequest)

	// JWKS publishes the keyring's key, by the kid the tokens carry.
	w = do(t, h, "GET", "/api/v1/.well-known/jwks.json", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), kr.JWKS().Keys[0].Kid) {
		t.Fatalf("jwks: %d %s", w.Code, w.Body)
	}
}

func TestTokenAuthenticatorBankJWT(t *testing.T) {
	bankKey := testRSAKey(t, 2)
	a := &TokenAuthenticator{Tokens: testKeyring(t, 0), BankKeys: bankKeys{pub: &bankKey.PublicKey}, Now: func() time.Time { return authNow }}
	h := NewRouter(Deps{Authenticator: a, Logger: quietLogger()})
	table := "/api/v1/counterparty/" + bankA + "/rbac/permission/table"
	tok := bankJWT(t, bankKey, "bank-a-1")
	if w := do(t, h, "GET", table, "", nil, "CX-Authorization", tok); w.Code != 200 {
		t.Fatalf("bank A's system on bank A: %d %s", w.Code, w.Body)
	}
	// The same token on bank B's path: bank A's key is not among bank B's.
	w := do(t, h, "GET", "/api/v1/counterparty/"+bankB+"/rbac/permission/table", "", nil, "CX-Authorization", tok)
	errorOf(t, w, 401, CodeUnauthenticated)
	// A key store that cannot answer is not a refusal.
	w = do(t, h, "GET", table, "", nil, "CX-Authorization", bankJWT(t, bankKey, "broken"))
	errorOf(t, w, 503, CodeUnavailable)

	c, err := a.Authenticate(requestWithVars(t, tok))
	if err != nil || c.Kind != CallerBankSystem || c.Subject != "core-banking" || c.CounterpartyGUID != bankA {
		t.Fatalf("caller %+v %v", c, err)
	}
}

// requestWithVars is a request outside any bank path: a bank JWT there is refused.
func requestWithVars(t *testing.T, tok string) *http.Request {
	t.Helper()
	r, _ := http.NewRequest("GET", "/x", nil)
	r.Header.Set("CX-Authorization", tok)
	if _, err := (&TokenAuthenticator{BankKeys: bankKeys{}}).Authenticate(r); err == nil {
		t.Fatal("a bank JWT outside a bank path must be refused")
	}
	// Route through the router so that mux fills the path variables.
	var got *http.Request
	h := newRouter(Deps{Logger: quietLogger()}, []Route{{"GET", cp + "/probe", Public, func(w http.ResponseWriter, r *http.Request) error {
		got = r
		return nil
	}}})
	do(t, h, "GET", "/api/v1/counterparty/"+bankA+"/probe", "", nil, "CX-Authorization", tok)
	return got
}
