package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSessionRoundTrip(t *testing.T) {
	kr := testKeyring(t)
	tok, err := kr.IssueSession("clerk@bank.example", "380501234567", FlowSignUpEmission, t0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := VerifySession(tok, kr.JWKS(), t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s.Subject != "clerk@bank.example" || s.Object != "380501234567" || s.Flow != FlowSignUpEmission ||
		!s.ExpiresAt.Equal(t0.Add(SessionTTL)) || !s.IssuedAt.Equal(t0) {
		t.Fatalf("session = %+v", s)
	}
	var mc jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &mc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"sub", "obj", "flow", "iat", "exp"} {
		if _, ok := mc[c]; !ok {
			t.Errorf("claim %s missing", c)
		}
	}
	if _, err := VerifySession(tok, kr.JWKS(), t0.Add(SessionTTL+Leeway+time.Second)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired session: %v", err)
	}
	// A platform API token is not a session token.
	api, _, _ := kr.Issue(Claims{Subject: "x"}, time.Minute, t0)
	if _, err := VerifySession(api, kr.JWKS(), t0); !errors.Is(err, ErrInvalidClaim) {
		t.Fatalf("API token as session: %v", err)
	}
	if _, err := VerifySession(tok, JWKSet{}, t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("empty JWKS: %v", err)
	}
}

func TestIssueSessionRefuses(t *testing.T) {
	kr := testKeyring(t)
	for name, tc := range map[string]struct {
		sub, obj string
		flow     Flow
	}{
		"unknown flow": {"a", "b", Flow("sign-out")},
		"empty flow":   {"a", "b", ""},
		"no subject":   {"", "b", FlowSignIn},
		"no object":    {"a", "", FlowSignIn},
	} {
		if _, err := kr.IssueSession(tc.sub, tc.obj, tc.flow, t0); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
	for _, f := range []string{"sign-in", "sign-up", "sign-up-processing", "sign-up-emission"} {
		if _, err := ParseFlow(f); err != nil {
			t.Errorf("ParseFlow(%q): %v", f, err)
		}
	}
	if FlowSignIn.SignUp() || !FlowSignUpProcessing.SignUp() || Flow("x").SignUp() {
		t.Error("SignUp()")
	}
}
