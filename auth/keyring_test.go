package auth

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	kr := testKeyring(t)
	in := Claims{Subject: "olena@bank.example", Counterparty: "cpty-1", Roles: []string{"admin", "cashier"}, Branch: "br-7"}
	tok, expiresIn, err := kr.Issue(in, 15*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if expiresIn != 15*time.Minute {
		t.Fatalf("expiresIn = %v", expiresIn)
	}
	got, err := kr.Verify(tok, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != in.Subject || got.Counterparty != in.Counterparty || got.Branch != in.Branch ||
		!slices.Equal(got.Roles, in.Roles) {
		t.Fatalf("claims = %+v, want %+v", got, in)
	}
	if !got.IssuedAt.Equal(t0) || !got.NotBefore.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(15*time.Minute)) || got.ID == "" {
		t.Fatalf("times/jti = %+v", got)
	}
	// The header names the signing key and the algorithm; the payload has the documented claim names.
	p := jwt.NewParser()
	var mc jwt.MapClaims
	parsed, _, err := p.ParseUnverified(tok, &mc)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != kr.Keys()[0].KID() || parsed.Header["alg"] != "RS256" {
		t.Fatalf("header = %v", parsed.Header)
	}
	for _, c := range []string{"sub", "cpty", "roles", "branch", "iat", "nbf", "exp", "jti", "iss", "aud"} {
		if _, ok := mc[c]; !ok {
			t.Errorf("claim %q missing from %v", c, mc)
		}
	}
}

func TestIssueRefuses(t *testing.T) {
	kr := testKeyring(t)
	for name, tc := range map[string]struct {
		c   Claims
		ttl time.Duration
	}{
		"no subject":   {Claims{}, time.Minute},
		"zero ttl":     {Claims{Subject: "a"}, 0},
		"ttl over max": {Claims{Subject: "a"}, time.Hour + time.Second},
		"empty role":   {Claims{Subject: "a", Roles: []string{""}}, time.Minute},
		"long subject": {Claims{Subject: strings.Repeat("a", 2000)}, time.Minute},
	} {
		if _, _, err := kr.Issue(tc.c, tc.ttl, t0); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	kr := testKeyring(t)
	kid := kr.Keys()[0].KID()
	good, _, err := kr.Issue(Claims{Subject: "olena"}, 10*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "mallory", "iss": Issuer, "aud": AudienceAPI, "jti": "x",
			"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(time.Hour).Unix(), "roles": []string{"admin"}}
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&testRSA(t, 0).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	session, err := kr.IssueSession("olena", "login-1", FlowSignIn, t0)
	if err != nil {
		t.Fatal(err)
	}
	// A payload swapped into a genuine token: the signature no longer matches.
	parts := strings.Split(good, ".")
	forgedPayload, _ := json.Marshal(claims())
	swapped := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forgedPayload) + "." + parts[2]

	for name, tc := range map[string]struct {
		token string
		at    time.Time
		want  error
	}{
		"expired":             {good, t0.Add(10*time.Minute + Leeway + time.Second), ErrTokenExpired},
		"expired within skew": {good, t0.Add(10*time.Minute + Leeway - time.Second), nil},
		"not yet valid":       {good, t0.Add(-Leeway - time.Second), ErrTokenNotYetValid},
		"nbf within skew":     {good, t0.Add(-Leeway + time.Second), nil},
		"tampered signature":  {tamperSignature(good), t0, ErrBadSignature},
		"tampered payload":    {swapped, t0, ErrBadSignature},
		"alg none": {signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claims()),
			t0, ErrAlgorithmNotAllowed},
		"HS256 with public key PEM": {signRaw(t, jwt.SigningMethodHS256, pubPEM, kid, claims()),
			t0, ErrAlgorithmNotAllowed},
		"HS256 with public key DER": {signRaw(t, jwt.SigningMethodHS256, pubDER, kid, claims()),
			t0, ErrAlgorithmNotAllowed},
		"RS512 with the right key": {signRaw(t, jwt.SigningMethodRS512, testRSA(t, 0), kid, claims()),
			t0, ErrAlgorithmNotAllowed},
		"unknown kid": {signRaw(t, jwt.SigningMethodRS256, testRSA(t, 1), Thumbprint(&testRSA(t, 1).PublicKey), claims()),
			t0, ErrUnknownKey},
		"other key, our kid": {signRaw(t, jwt.SigningMethodRS256, testRSA(t, 1), kid, claims()), t0, ErrBadSignature},
		"no kid":             {signRaw(t, jwt.SigningMethodRS256, testRSA(t, 0), "", claims()), t0, ErrMalformedToken},
		"huge kid": {signRaw(t, jwt.SigningMethodRS256, testRSA(t, 0), strings.Repeat("k", 300), claims()),
			t0, ErrMalformedToken},
		"session token is not an API token": {session, t0, ErrInvalidClaim},
		"garbage":                           {"not.a.token", t0, ErrMalformedToken},
		"two segments":                      {"abc.def", t0, ErrMalformedToken},
		"empty":                             {"", t0, ErrMalformedToken},
		"oversized":                         {strings.Repeat("a", 9000), t0, ErrMalformedToken},
	} {
		_, err := kr.Verify(tc.token, tc.at)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}

	// The forged claims with a valid signature but no exp or wrong issuer.
	noExp := claims()
	delete(noExp, "exp")
	if _, err := kr.Verify(signRaw(t, jwt.SigningMethodRS256, testRSA(t, 0), kid, noExp), t0); !errors.Is(err, ErrMissingClaim) {
		t.Errorf("no exp: %v", err)
	}
	wrongIss := claims()
	wrongIss["iss"] = "someone-else"
	if _, err := kr.Verify(signRaw(t, jwt.SigningMethodRS256, testRSA(t, 0), kid, wrongIss), t0); !errors.Is(err, ErrInvalidClaim) {
		t.Errorf("wrong iss: %v", err)
	}
	future := claims()
	future["iat"] = t0.Add(5 * time.Minute).Unix()
	delete(future, "nbf")
	if _, err := kr.Verify(signRaw(t, jwt.SigningMethodRS256, testRSA(t, 0), kid, future), t0); !errors.Is(err, ErrTokenNotYetValid) {
		t.Errorf("iat in the future: %v", err)
	}
}

func TestRotationKeepsOldTokensUntilTheyExpire(t *testing.T) {
	kr := testKeyring(t)
	oldKID := kr.Keys()[0].KID()
	oldTok, _, err := kr.Issue(Claims{Subject: "olena"}, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := t0.Add(time.Minute)
	if err := kr.Rotate(testSigningKey(t, 1), rotatedAt); err != nil {
		t.Fatal(err)
	}
	newKID := testSigningKey(t, 1).KID()

	newTok, _, err := kr.Issue(Claims{Subject: "taras"}, time.Hour, rotatedAt)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(newTok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != newKID {
		t.Fatalf("new token kid = %v, want %s", parsed.Header["kid"], newKID)
	}

	kids := func(at time.Time) []string {
		var out []string
		for _, k := range kr.JWKSAt(at).Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	// Right after rotation and until the old token's expiry, both keys are published and the old token verifies.
	for _, at := range []time.Time{rotatedAt, t0.Add(59 * time.Minute)} {
		if got := kids(at); !slices.Equal(got, []string{newKID, oldKID}) {
			t.Fatalf("JWKS at %v = %v", at, got)
		}
		if _, err := kr.Verify(oldTok, at); err != nil {
			t.Fatalf("old token at %v: %v", at, err)
		}
	}
	// Once every token of the old key has expired, the old key drops out.
	after := rotatedAt.Add(time.Hour + Leeway)
	if got := kids(after); !slices.Equal(got, []string{newKID}) {
		t.Fatalf("JWKS after expiry = %v", got)
	}
	if _, err := kr.Verify(oldTok, after); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old token after expiry: %v", err)
	}
	if _, err := kr.Verify(newTok, after.Add(-time.Minute)); err != nil {
		t.Fatalf("new token: %v", err)
	}

	// Keys() is what the caller persists: it carries the retirement time.
	keys := kr.Keys()
	if len(keys) != 2 || keys[0].KID() != newKID || !keys[1].RetiredAt().Equal(rotatedAt) {
		t.Fatalf("Keys = %v", keys)
	}
	// A keyring rebuilt from persisted keys behaves the same.
	var blobs [][]byte
	for _, k := range keys {
		b, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	var loaded []SigningKey
	for _, b := range blobs {
		k, err := ParsePrivate(b)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, k)
	}
	kr2, err := NewKeyring(KeyringConfig{MaxTTL: time.Hour}, loaded[1], loaded[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr2.Verify(oldTok, t0.Add(30*time.Minute)); err != nil {
		t.Fatalf("old token on reloaded keyring: %v", err)
	}
	if got := kr2.JWKSAt(after); len(got.Keys) != 1 || got.Keys[0].Kid != newKID {
		t.Fatalf("reloaded JWKS after expiry = %v", got)
	}

	if err := kr.Rotate(testSigningKey(t, 1), after); err == nil {
		t.Fatal("rotating to the current key succeeded")
	}
}

func TestJWKSShape(t *testing.T) {
	kr := testKeyring(t)
	b, err := json.Marshal(kr.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 1 {
		t.Fatalf("keys = %s", b)
	}
	k := got.Keys[0]
	if len(k) != 6 || k["alg"] != "RS256" || k["kty"] != "RSA" || k["use"] != "sig" || k["e"] != "AQAB" ||
		k["kid"] != Thumbprint(&testRSA(t, 0).PublicKey) || k["n"] == "" {
		t.Fatalf("jwk = %s", b)
	}
	// Anyone can check the published key against the kid and verify our tokens with it.
	pub, err := kr.JWKS().PublicKey(k["kid"])
	if err != nil || !pub.Equal(&testRSA(t, 0).PublicKey) {
		t.Fatalf("PublicKey = %v, %v", pub, err)
	}
	if strings.Contains(string(b), `"d"`) {
		t.Fatal("private part in JWKS")
	}
}

func TestThumbprintRFC7638Example(t *testing.T) {
	// The example key of RFC 7638 §3.1 and its published thumbprint.
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs" +
		"tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91" +
		"CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	pub, err := rsaPublicKey(n, "AQAB")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Thumbprint(pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
}

func TestSigningKeySerialisation(t *testing.T) {
	k := testSigningKey(t, 2)
	b, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePrivate(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.KID() != k.KID() || !got.CreatedAt().Equal(k.CreatedAt()) || !got.RetiredAt().IsZero() ||
		!got.Public().Equal(k.Public()) {
		t.Fatalf("round trip: %v", got)
	}
	if s := k.String(); strings.Contains(s, "PRIVATE") || s != "signing key "+k.KID() {
		t.Fatalf("String = %q", s)
	}
	if b, _ := json.Marshal(k); string(b) != "{}" {
		t.Fatalf("json.Marshal(SigningKey) leaks: %s", b)
	}

	var env map[string]any
	_ = json.Unmarshal(b, &env)
	for name, mutate := range map[string]func(m map[string]any){
		"no kid":      func(m map[string]any) { delete(m, "kid") },
		"bad version": func(m map[string]any) { m["v"] = 2 },
		"bad der":     func(m map[string]any) { m["pkcs8"] = "AAAA" },
	} {
		m := map[string]any{}
		for k, v := range env {
			m[k] = v
		}
		mutate(m)
		bad, _ := json.Marshal(m)
		if _, err := ParsePrivate(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, junk := range [][]byte{nil, []byte("{"), []byte(strings.Repeat(" ", 70000))} {
		if _, err := ParsePrivate(junk); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("junk %.10q: %v", junk, err)
		}
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	a, b := testSigningKey(t, 0), testSigningKey(t, 1)
	if _, err := NewKeyring(KeyringConfig{}); err == nil {
		t.Error("empty keyring accepted")
	}
	if _, err := NewKeyring(KeyringConfig{}, a, b); err == nil {
		t.Error("two current keys accepted")
	}
	if _, err := NewKeyring(KeyringConfig{}, a, a); err == nil {
		t.Error("duplicate kid accepted")
	}
	if _, err := NewKeyring(KeyringConfig{MaxTTL: 30 * 24 * time.Hour}, a); err == nil {
		t.Error("month-long max TTL accepted")
	}
	if _, err := NewKeyring(KeyringConfig{}, SigningKey{}); err == nil {
		t.Error("zero key accepted")
	}
	if _, err := NewSigningKey(&rsa.PrivateKey{}, t0); err == nil {
		t.Error("empty RSA key accepted")
	}
}

func TestGenerateSigningKey(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA generation")
	}
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.Public().N.BitLen() < 2048 || k.KID() != Thumbprint(k.Public()) {
		t.Fatalf("key = %v (%d bits)", k, k.Public().N.BitLen())
	}
}

func TestRotationPublishesAhead(t *testing.T) {
	// Banks cache the JWKS; with a publish lead the new key is in the JWKS before any token carries its kid.
	lead := 5 * time.Minute
	kr, err := NewKeyring(KeyringConfig{MaxTTL: time.Hour, PublishLead: lead, Now: func() time.Time { return t0 }},
		testSigningKey(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	oldKID, newKID := testSigningKey(t, 0).KID(), testSigningKey(t, 1).KID()
	kidOf := func(at time.Time) string {
		tok, err := kr.IssueSession("clerk", "obj", FlowSignIn, at)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifySession(tok, kr.JWKSAt(at), at); err != nil {
			t.Fatalf("session at %v: %v", at, err)
		}
		return p.Header["kid"].(string)
	}
	if err := kr.Rotate(testSigningKey(t, 1), t0); err != nil {
		t.Fatal(err)
	}
	if got := kr.JWKSAt(t0).Keys; len(got) != 2 || got[0].Kid != newKID || got[1].Kid != oldKID {
		t.Fatalf("JWKS right after rotation = %v", got)
	}
	if k := kidOf(t0.Add(lead - time.Second)); k != oldKID {
		t.Fatalf("signed with %s before the lead ran out", k)
	}
	if k := kidOf(t0.Add(lead)); k != newKID {
		t.Fatalf("signed with %s after the lead", k)
	}
	if err := kr.Rotate(testSigningKey(t, 2), t0.Add(time.Minute)); err == nil {
		t.Fatal("second rotation accepted while the first is pending")
	}
	// The pending state survives a restart.
	kr2, err := NewKeyring(KeyringConfig{MaxTTL: time.Hour, PublishLead: lead}, kr.Keys()...)
	if err != nil {
		t.Fatal(err)
	}
	if k := kr2.signingKey(t0.Add(time.Minute)).KID(); k != oldKID {
		t.Fatalf("reloaded keyring signs with %s during the lead", k)
	}
	// The old key retired when the new one took over, and is trusted for MaxTTL after that.
	if got := kr.JWKSAt(t0.Add(lead + time.Hour + Leeway - time.Second)).Keys; len(got) != 2 {
		t.Fatalf("old key dropped early: %v", got)
	}
	if got := kr.JWKSAt(t0.Add(lead + time.Hour + Leeway)).Keys; len(got) != 1 || got[0].Kid != newKID {
		t.Fatalf("old key kept too long: %v", got)
	}
}

// A token verified once is not verified again within verifiedTTL, but its own time bounds still hold, and a
// tampered copy is never taken for it.
func TestVerifiedTokensKeepTheirBounds(t *testing.T) {
	kr := testKeyring(t)
	tok, _, err := kr.Issue(Claims{Subject: "olena@bank.example"}, 10*time.Second, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Verify(tok, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := kr.verified.get(tok, t0.Add(2*time.Second)); !ok {
		t.Fatal("a verified token was not remembered")
	}
	if _, err := kr.Verify(tok[:len(tok)-2]+"AA", t0.Add(2*time.Second)); err == nil {
		t.Fatal("a tampered token passed")
	}
	// Within the entry's life but after the token expired: refused.
	if _, err := kr.Verify(tok, t0.Add(10*time.Second+Leeway+time.Second)); err == nil {
		t.Fatal("an expired token passed from the cache")
	}
	// Before its nbf: refused, even though it was verified (at another time) before.
	if _, err := kr.Verify(tok, t0.Add(-Leeway-time.Second)); err == nil {
		t.Fatal("a token passed before its nbf")
	}
}
