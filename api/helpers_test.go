package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/limits"
)

const (
	bankA = "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	bankB = "7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02"
)

// tokens is the fake authenticator's token → caller table.
type tokens map[string]Caller

var errBadToken = errors.New("fake: unknown token")

// Authenticate reads a bank JWT from CX-Authorization or a platform JWT from Authorization: Bearer, as the real
// authenticator will.
func (t tokens) Authenticate(r *http.Request) (Caller, error) {
	tok := r.Header.Get("CX-Authorization")
	if tok == "" {
		var ok bool
		tok, ok = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return Caller{}, errors.New("fake: no credentials")
		}
	}
	c, ok := t[tok]
	if !ok {
		return Caller{}, errBadToken
	}
	return c, nil
}

func employee(bank string, roles ...string) Caller {
	return Caller{Subject: "emp@" + bank[:4], Kind: CallerEmployee, CounterpartyGUID: bank, Roles: roles,
		Permissions: ResolvePermissions(CallerEmployee, DefaultRoles(), roles)}
}

func platformAdmin() Caller {
	return Caller{Subject: "admin@platform", Kind: CallerPlatformStaff, Roles: []string{RolePlatformAdministrator},
		Permissions: ResolvePermissions(CallerPlatformStaff, PlatformRoles(), []string{RolePlatformAdministrator})}
}

func bankSystem(bank string) Caller {
	return Caller{Subject: "system@" + bank[:4], Kind: CallerBankSystem, CounterpartyGUID: bank}
}

// testTokens: one token per default role of bank A, plus an administrator of bank B, the platform
// administrator, platform staff without that role, and bank A's system.
func testTokens() tokens {
	t := tokens{
		"platform-admin": platformAdmin(),
		"platform-clerk": {Subject: "clerk@platform", Kind: CallerPlatformStaff},
		// Platform staff holding permissions but not the administrator role: still kept out of banks.
		"platform-reader": {Subject: "reader@platform", Kind: CallerPlatformStaff, Roles: []string{"Platform reader"},
			Permissions: map[string]bool{PermRBACRead: true, PermCounterpartiesRead: true, PermEmissionConfirm: true}},
		"bank-a-system": bankSystem(bankA),
		"bank-b-admin":  employee(bankB, RoleAdministrator),
		"bank-a-nobody": employee(bankA),
	}
	for _, r := range DefaultRoles() {
		t["bank-a-"+r.Name] = employee(bankA, r.Name)
	}
	return t
}

type fakeJWKS struct{}

func (fakeJWKS) PublicKeys(context.Context) ([]PublicKey, error) {
	return []PublicKey{{Alg: "RS256", E: "AQAB", Kid: "k1", Kty: "RSA", N: "xyz", Use: "sig"}}, nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testDeps() Deps {
	return Deps{Authenticator: testTokens(), JWKS: fakeJWKS{}, Logger: quietLogger(), Counterparties: newFakeCounterparties(), BankKeys: fakeBankKeys{},
		Employees: &fakeEmployees{}, RBAC: fakeRBAC{}, Branches: &fakeBranches{}, Customers: newFakeCustomers(), Categories: &fakeCategories{},
		Callbacks: &fakeCallbacks{}, Emission: &fakeEmission{}, PaymentLimits: &fakeLimits{state: map[uuid.UUID]limits.State{}}, Payments: newFakePayments(), Audit: emptyAudit(),
		Applications: newFakeApplications(), Reconciliations: newFakeReconciliations(), Recons: emptyRecons{}, Signers: &fakeSigners{}}
}

// testRouter is the real router plus test-only routes.
func testRouter(extra ...Route) http.Handler {
	d := testDeps()
	return newRouter(d, append(Routes(d), extra...))
}

// do sends a request; token "" sends no credentials, a token starting with "cx:" goes in CX-Authorization.
func do(t *testing.T, h http.Handler, method, target, token string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	switch {
	case strings.HasPrefix(token, "cx:"):
		r.Header.Set("CX-Authorization", strings.TrimPrefix(token, "cx:"))
	case token != "":
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorOf checks that w is a JSON error with status and code and returns its body.
func errorOf(t *testing.T, w *httptest.ResponseRecorder, status int, code string) errorBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var body errorBody
	dec := json.NewDecoder(strings.NewReader(w.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %q is not the error shape: %v", w.Body, err)
	}
	if body.Code != code || body.Error == "" {
		t.Fatalf("error body %+v, want code %q and a message", body, code)
	}
	return body
}
