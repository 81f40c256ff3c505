package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestClientSecret(t *testing.T) {
	a, err := NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewClientSecret()
	if a == b || !strings.HasPrefix(a, clientSecretPrefix) || len(a) != len(clientSecretPrefix)+43 {
		t.Fatalf("secrets %q %q", a, b)
	}
	h := HashClientSecretHex("app-1", a)
	if h != HashClientSecretHex("app-1", a) || len(h) != 64 {
		t.Fatalf("hash %q", h)
	}
	if h == HashClientSecretHex("app-2", a) {
		t.Fatal("the hash is not bound to the application")
	}
	if h == HashClientSecretHex("app-1", b) {
		t.Fatal("two secrets hash alike")
	}
}

func appClaims() ApplicationClaims {
	return ApplicationClaims{Application: "6b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01", Counterparty: "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01",
		Scope: "customers read-only", SecretVersion: 2}
}

func TestApplicationTokenRoundTrip(t *testing.T) {
	kr := testKeyring(t)
	at := NewApplicationTokens(kr)
	tok, ttl, err := at.Issue(appClaims(), 15*time.Minute, t0)
	if err != nil || ttl != 15*time.Minute {
		t.Fatal(ttl, err)
	}
	if !IsApplicationToken(tok) {
		t.Fatal("IsApplicationToken false on an application token")
	}
	c, err := at.Verify(tok, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := appClaims()
	if c.Application != want.Application || c.Counterparty != want.Counterparty || c.Scope != want.Scope || c.SecretVersion != 2 ||
		c.ID == "" || !c.ExpiresAt.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("claims %+v", c)
	}
	// The cache honours expiry.
	if _, err := at.Verify(tok, t0.Add(16*time.Minute)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	// A fresh verifier (no cache) checks the signature.
	if _, err := NewApplicationTokens(kr).Verify(tamperSignature(tok), t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
}

func TestApplicationAndPlatformTokensDoNotMix(t *testing.T) {
	kr := testKeyring(t)
	at := NewApplicationTokens(kr)
	appTok, _, err := at.Issue(appClaims(), time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Verify(appTok, t0); !errors.Is(err, ErrInvalidClaim) {
		t.Fatalf("an application token verified as a platform token: %v", err)
	}
	platTok, _, err := kr.Issue(Claims{Subject: "clerk", Counterparty: appClaims().Counterparty}, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if IsApplicationToken(platTok) {
		t.Fatal("a platform token taken for an application token")
	}
	if _, err := at.Verify(platTok, t0); !errors.Is(err, ErrMalformedToken) {
		t.Fatalf("a platform token verified as an application token: %v", err)
	}
	// A token typed at+jwt but signed for the platform's audience is refused too.
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": Issuer, "aud": AudienceAPI, "sub": "x", "client_id": "x",
		"cpty": "y", "sver": 1, "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(), "jti": "j"})
	forged.Header["kid"], forged.Header["typ"] = kr.signingKey(t0).kid, applicationTokenType
	s, err := forged.SignedString(testRSA(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := at.Verify(s, t0); !errors.Is(err, ErrInvalidClaim) {
		t.Fatalf("wrong audience: %v", err)
	}
	// Signed by a key outside the keyring.
	other := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": Issuer, "aud": AudienceApplications, "sub": "x", "client_id": "x",
		"cpty": "y", "sver": 1, "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(), "jti": "j"})
	other.Header["kid"], other.Header["typ"] = kr.signingKey(t0).kid, applicationTokenType
	s, _ = other.SignedString(testRSA(t, 1))
	if _, err := at.Verify(s, t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("foreign key: %v", err)
	}
}

func TestApplicationTokenIssueBounds(t *testing.T) {
	at := NewApplicationTokens(testKeyring(t))
	if _, _, err := at.Issue(appClaims(), 2*time.Hour, t0); err == nil {
		t.Error("lifetime over the keyring's max accepted")
	}
	c := appClaims()
	c.SecretVersion = 0
	if _, _, err := at.Issue(c, time.Minute, t0); err == nil {
		t.Error("no secret version accepted")
	}
	if IsApplicationToken("not a token") || IsApplicationToken(strings.Repeat("a", 400)+".b.c") {
		t.Error("IsApplicationToken on garbage")
	}
}

func BenchmarkIsApplicationToken(b *testing.B) {
	at := NewApplicationTokens(testKeyring(b))
	tok, _, _ := at.Issue(appClaims(), time.Minute, t0)
	b.ReportAllocs()
	for b.Loop() {
		if !IsApplicationToken(tok) {
			b.Fatal("no")
		}
	}
}
