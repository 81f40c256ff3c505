package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/projections"
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

// TestTokenAuthenticatorBranch: the branch claim of a platform token becomes Caller.BranchGUID (and so the
// branch scope of every handler); a branch claim that is not a GUID refuses the token.
func TestTokenAuthenticatorBranch(t *testing.T) {
	kr := testKeyring(t, 0)
	a := &TokenAuthenticator{Tokens: kr, Now: func() time.Time { return authNow }}
	caller := func(c auth.Claims) (Caller, error) {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+issue(t, kr, c, authNow))
		return a.Authenticate(r)
	}
	c, err := caller(auth.Claims{Subject: "teller", Counterparty: bankA, Roles: []string{RoleOperator}, Branch: strings.ToUpper(branchX)})
	if err != nil || c.Kind != CallerEmployee || c.BranchGUID != branchX || c.CounterpartyGUID != bankA {
		t.Fatalf("branch claim: %+v %v", c, err)
	}
	if c, err := caller(auth.Claims{Subject: "head", Counterparty: bankA, Roles: []string{RoleOperator}}); err != nil || c.BranchGUID != "" {
		t.Fatalf("no branch claim: %+v %v", c, err)
	}
	for _, bad := range []string{"branch-7", "not-a-guid-at-all-but-36-chars-long!", branchX + "0", " " + branchX} {
		if _, err := caller(auth.Claims{Subject: "teller", Counterparty: bankA, Roles: []string{RoleOperator}, Branch: bad}); err == nil {
			t.Errorf("branch claim %q accepted", bad)
		}
	}
	if _, err := caller(auth.Claims{Subject: "staff", Roles: []string{RolePlatformAdministrator}, Branch: "x"}); err == nil {
		t.Error("platform staff: a malformed branch claim accepted")
	}
}

// TestBranchTokenThroughRouter: end to end, an employee whose token names branch X lists only branch X's
// employees and cannot read the head office's; a malformed branch claim is a 401.
func TestBranchTokenThroughRouter(t *testing.T) {
	kr := testKeyring(t, 0)
	svc := &fakeEmployees{list: []projections.Employee{
		{GUID: uuid.NewString(), CounterpartyGUID: bankA, Login: "head"},
		{GUID: uuid.NewString(), CounterpartyGUID: bankA, Login: "teller", BranchGUID: branchX},
		{GUID: uuid.NewString(), CounterpartyGUID: bankA, Login: "other", BranchGUID: uuid.NewString()},
	}}
	a := &TokenAuthenticator{Tokens: kr, Now: func() time.Time { return authNow }}
	h := newRouter(Deps{Authenticator: a, Logger: quietLogger()}, employeeRoutes(svc))
	base := "/api/v1/counterparty/" + bankA + "/employees"
	tok := func(branch string) string {
		return issue(t, kr, auth.Claims{Subject: uuid.NewString(), Counterparty: bankA, Roles: []string{RoleAdministrator}, Branch: branch}, authNow)
	}
	if code, body := call(t, h, "GET", base, tok(""), ""); code != 200 || body["total"] != float64(3) {
		t.Fatalf("bank-wide token: %d %v", code, body)
	}
	code, body := call(t, h, "GET", base, tok(branchX), "")
	if code != 200 || body["total"] != float64(1) {
		t.Fatalf("branch token: %d %v", code, body)
	}
	if items, _ := body["employees"].([]any); len(items) != 1 || items[0].(map[string]any)["login"] != "teller" {
		t.Fatalf("branch token listed %v", body)
	}
	if code, _ := call(t, h, "GET", base+"/"+svc.list[0].GUID, tok(branchX), ""); code != 404 {
		t.Fatalf("head office employee read with a branch token: %d", code)
	}
	if code, body := call(t, h, "GET", base, tok("branch-7"), ""); code != 401 || body["code"] != CodeUnauthenticated {
		t.Fatalf("malformed branch claim: %d %v", code, body)
	}
}
