package api

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kazna-ledger/kazna/auth"
)

// TestRouteRoleMatrixWithRealTokens drives every route with real credentials: platform tokens signed by the
// keyring for each default role, and a bank-signed JWT in CX-Authorization, checked by the real
// TokenAuthenticator against the default role directory. It is the same matrix as TestRouteRoleMatrix with
// nothing faked between the header and the permission check.
func TestRouteRoleMatrixWithRealTokens(t *testing.T) {
	kr := testKeyring(t, 0)
	bankKey := testRSAKey(t, 2)
	d := testDeps()
	d.Authenticator = &TokenAuthenticator{Tokens: kr, BankKeys: bankKeys{pub: &bankKey.PublicKey}, Roles: DefaultRoleDirectory{},
		Now: func() time.Time { return authNow }}
	routes := Routes(d)
	h := newRouter(d, routes)

	real := map[string]string{
		"cx:bank-a-system": "cx:" + bankJWT(t, bankKey, "bank-a-1"),
		"bank-b-admin":     issue(t, kr, auth.Claims{Subject: "admin@b", Counterparty: bankB, Roles: []string{RoleAdministrator}}, authNow),
		"bank-a-nobody":    issue(t, kr, auth.Claims{Subject: "nobody@a", Counterparty: bankA}, authNow),
		"platform-admin":   issue(t, kr, auth.Claims{Subject: "admin", Roles: []string{RolePlatformAdministrator}}, authNow),
		"platform-clerk":   issue(t, kr, auth.Claims{Subject: "clerk@platform"}, authNow),
	}
	for _, r := range DefaultRoles() {
		real["bank-a-"+r.Name] = issue(t, kr, auth.Claims{Subject: r.Name + "@a", Counterparty: bankA, Roles: []string{r.Name}}, authNow)
	}
	checked := 0
	for _, rt := range routes {
		if rt.Permission == Public {
			continue
		}
		perm, ok := PermissionByName(rt.Permission)
		if !ok {
			t.Fatalf("%s %s: unknown permission %q", rt.Method, rt.Path, rt.Permission)
		}
		path := fillPath(rt.Path)
		scoped := strings.HasPrefix(rt.Path, cp+"/")
		for _, c := range matrixCallers() {
			tok, ok := real[c.token]
			if !ok {
				continue // a fake-only caller (platform staff with a custom permission set)
			}
			checked++
			w := do(t, h, rt.Method, path, tok, nil)
			if strings.HasPrefix(c.token, "cx:") && !strings.Contains(rt.Path, "{counterparty_guid}") {
				// A bank JWT names its bank by the path; outside a bank's path it authenticates nobody.
				errorOf(t, w, 401, CodeUnauthenticated)
				continue
			}
			allowed := (!scoped || c.anyBank || c.bank == bankA) && c.may(perm)
			switch {
			case allowed && (w.Code == 401 || w.Code == 403):
				t.Errorf("%s %s as %s: %d %s, want allowed", rt.Method, rt.Path, c.token, w.Code, w.Body)
			case !allowed && w.Code != 403:
				t.Errorf("%s %s as %s: %d %s, want 403", rt.Method, rt.Path, c.token, w.Code, w.Body)
			case !allowed:
				errorOf(t, w, 403, CodeForbidden)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d route × caller pairs checked", checked)
	}
}

// TestBankJWTNegativesThroughHTTP sends bank-signed JWTs that must all be refused with 401 and the JSON
// error: expired, not yet valid, an unknown kid, another bank's key, signed by a key that is not the
// registered one, alg none, HS256 keyed with the public key (algorithm confusion), and a tampered payload
// or signature.
func TestBankJWTNegativesThroughHTTP(t *testing.T) {
	bankKey, otherKey := testRSAKey(t, 2), testRSAKey(t, 1)
	a := &TokenAuthenticator{Tokens: testKeyring(t, 0), BankKeys: bankKeys{pub: &bankKey.PublicKey}, Roles: DefaultRoleDirectory{},
		Now: func() time.Time { return authNow }}
	h := NewRouter(Deps{Authenticator: a, Logger: quietLogger()})
	table := "/api/v1/counterparty/" + bankA + "/rbac/permission/table"
	good := bankJWT(t, bankKey, "bank-a-1")
	if w := do(t, h, "GET", table, "cx:"+good, nil); w.Code != 200 {
		t.Fatalf("the well-formed bank JWT is refused: %d %s", w.Code, w.Body)
	}
	signed := func(method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, claims)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(iat, exp time.Time, extra ...any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "core-banking", "iat": iat.Unix(), "exp": exp.Unix()}
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		return c
	}
	valid := claims(authNow, authNow.Add(time.Minute))
	pubDER := []byte("-----BEGIN PUBLIC KEY-----") // any bytes a confused verifier might use as the HMAC key
	parts := strings.Split(good, ".")
	flip := func(s string) string {
		if s[len(s)-2] == 'A' {
			return s[:len(s)-2] + "B" + s[len(s)-1:]
		}
		return s[:len(s)-2] + "A" + s[len(s)-1:]
	}
	cases := map[string]string{
		"expired":             signed(jwt.SigningMethodRS256, bankKey, "bank-a-1", claims(authNow.Add(-time.Hour), authNow.Add(-10*time.Minute))),
		"not yet valid":       signed(jwt.SigningMethodRS256, bankKey, "bank-a-1", claims(authNow, authNow.Add(time.Hour), "nbf", authNow.Add(10*time.Minute).Unix())),
		"no exp":              signed(jwt.SigningMethodRS256, bankKey, "bank-a-1", jwt.MapClaims{"sub": "core-banking", "iat": authNow.Unix()}),
		"no sub":              signed(jwt.SigningMethodRS256, bankKey, "bank-a-1", jwt.MapClaims{"iat": authNow.Unix(), "exp": authNow.Add(time.Minute).Unix()}),
		"unknown kid":         signed(jwt.SigningMethodRS256, bankKey, "bank-a-9", valid),
		"no kid":              signed(jwt.SigningMethodRS256, bankKey, "", valid),
		"not the bank's key":  signed(jwt.SigningMethodRS256, otherKey, "bank-a-1", valid),
		"alg none":            signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "bank-a-1", valid),
		"HS256 with a pubkey": signed(jwt.SigningMethodHS256, pubDER, "bank-a-1", valid),
		"RS512":               signed(jwt.SigningMethodRS512, bankKey, "bank-a-1", valid),
		"tampered payload":    parts[0] + "." + flip(parts[1]) + "." + parts[2],
		"tampered signature":  parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"garbage":             "not.a.jwt",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			errorOf(t, do(t, h, "GET", table, "cx:"+tok, nil), 401, CodeUnauthenticated)
		})
	}
}
