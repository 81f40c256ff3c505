package auth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// bankKeys is a BankKeyFinder over counterparty → kid → key.
type bankKeys map[string]map[string]*rsa.PublicKey

func (b bankKeys) BankKey(_ context.Context, cpty, kid string) (*rsa.PublicKey, error) {
	if k, ok := b[cpty][kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s/%s", ErrUnknownKey, cpty, kid)
}

type failingKeys struct{}

func (failingKeys) BankKey(context.Context, string, string) (*rsa.PublicKey, error) {
	return nil, errors.New("projection not ready")
}

func TestVerifyBankJWT(t *testing.T) {
	bankA, bankB := testRSA(t, 1), testRSA(t, 2)
	keys := bankKeys{
		"bank-a": {"54321": &bankA.PublicKey},
		"bank-b": {"k-b": &bankB.PublicKey, "shared": &bankB.PublicKey},
	}
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "clerk@bank-a.example", "obj": "380501234567", "flow": "sign-up",
			"iat": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix(), "jti": "j-1"}
	}
	good := signRaw(t, jwt.SigningMethodRS256, bankA, "54321", claims())
	ctx := context.Background()

	got, err := VerifyBankJWT(ctx, good, "bank-a", keys, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "clerk@bank-a.example" || got.Object != "380501234567" || got.Flow != FlowSignUp ||
		!got.IssuedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(5*time.Minute)) || got.ID != "j-1" {
		t.Fatalf("claims = %+v", got)
	}
	minimal := jwt.MapClaims{"sub": "clerk", "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix()}
	if got, err := VerifyBankJWT(ctx, signRaw(t, jwt.SigningMethodRS256, bankA, "54321", minimal), "bank-a", keys, t0); err != nil || got.Flow != "" || got.Object != "" {
		t.Fatalf("without obj and flow: %+v, %v", got, err)
	}

	if _, err := VerifyBankJWT(ctx, good, "bank-a", nil, t0); err == nil {
		t.Fatal("nil key store accepted")
	}
	without := func(claim string) string {
		c := claims()
		delete(c, claim)
		return signRaw(t, jwt.SigningMethodRS256, bankA, "54321", c)
	}
	with := func(claim string, v any) string {
		c := claims()
		c[claim] = v
		return signRaw(t, jwt.SigningMethodRS256, bankA, "54321", c)
	}
	// Bank B registers a key under the kid bank A uses; bank B's token must not pass as bank A's.
	keys["bank-b"]["54321"] = &bankB.PublicKey
	pubDER, _ := x509.MarshalPKIXPublicKey(&bankA.PublicKey)

	for name, tc := range map[string]struct {
		token, cpty string
		keys        BankKeyFinder
		want        error
	}{
		"expired":                  {good, "bank-a", keys, ErrTokenExpired},
		"wrong kid":                {signRaw(t, jwt.SigningMethodRS256, bankA, "nope", claims()), "bank-a", keys, ErrUnknownKey},
		"other bank's kid":         {signRaw(t, jwt.SigningMethodRS256, bankB, "k-b", claims()), "bank-a", keys, ErrUnknownKey},
		"other bank's key, my kid": {signRaw(t, jwt.SigningMethodRS256, bankB, "54321", claims()), "bank-a", keys, ErrBadSignature},
		"my token sent as bank B":  {good, "bank-b", keys, ErrBadSignature},
		"alg confusion HS256":      {signRaw(t, jwt.SigningMethodHS256, pubDER, "54321", claims()), "bank-a", keys, ErrAlgorithmNotAllowed},
		"alg none": {signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "54321", claims()),
			"bank-a", keys, ErrAlgorithmNotAllowed},
		"tampered":       {tamperSignature(good), "bank-a", keys, ErrBadSignature},
		"missing sub":    {without("sub"), "bank-a", keys, ErrMissingClaim},
		"missing iat":    {without("iat"), "bank-a", keys, ErrMissingClaim},
		"missing exp":    {without("exp"), "bank-a", keys, ErrMissingClaim},
		"unknown flow":   {with("flow", "sign-out"), "bank-a", keys, ErrInvalidClaim},
		"obj not string": {with("obj", 42), "bank-a", keys, ErrMalformedToken},
		"nbf in future":  {with("nbf", t0.Add(time.Hour).Unix()), "bank-a", keys, ErrTokenNotYetValid},
		"no kid":         {signRaw(t, jwt.SigningMethodRS256, bankA, "", claims()), "bank-a", keys, ErrMalformedToken},
		"store down":     {good, "bank-a", failingKeys{}, ErrKeyLookup},
	} {
		at := t0.Add(time.Minute)
		if name == "expired" {
			at = t0.Add(5*time.Minute + Leeway + time.Second)
		}
		_, err := VerifyBankJWT(ctx, tc.token, tc.cpty, tc.keys, at)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func jwkJSON(t *testing.T, pub *rsa.PublicKey, extra map[string]any) json.RawMessage {
	t.Helper()
	n, e := encodeRSA(pub)
	m := map[string]any{"kty": "RSA", "alg": "RS256", "kid": "54321", "n": n, "e": e}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBankJWK(t *testing.T) {
	pub := &testRSA(t, 1).PublicKey
	k, err := ParseBankJWK(jwkJSON(t, pub, nil))
	if err != nil {
		t.Fatal(err)
	}
	if k.KID != "54321" || !k.Public.Equal(pub) || k.JWK.Use != "sig" || k.JWK.Alg != "RS256" {
		t.Fatalf("key = %+v", k)
	}
	// alg may be absent; the {"data":…} envelope of POST …/jwk is accepted.
	if _, err := ParseBankJWK(jwkJSON(t, pub, map[string]any{"alg": nil})); err != nil {
		t.Fatalf("no alg: %v", err)
	}
	env, _ := json.Marshal(map[string]json.RawMessage{"data": jwkJSON(t, pub, nil)})
	if k, err := ParseBankJWK(env); err != nil || k.KID != "54321" {
		t.Fatalf("envelope: %v", err)
	}

	short := new(big.Int).Lsh(big.NewInt(1), 1023)
	short.Add(short, big.NewInt(1)) // odd 1024-bit modulus
	priv := testRSA(t, 1)
	b64 := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	for name, tc := range map[string]struct {
		in   json.RawMessage
		want error
	}{
		"EC key": {json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",` +
			`"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`), ErrInvalidKey},
		"short modulus":    {jwkJSON(t, pub, map[string]any{"n": b64(short)}), ErrInvalidKey},
		"private d":        {jwkJSON(t, pub, map[string]any{"d": b64(priv.D)}), ErrPrivateKeyMaterial},
		"private p q":      {jwkJSON(t, pub, map[string]any{"p": b64(priv.Primes[0]), "q": b64(priv.Primes[1])}), ErrPrivateKeyMaterial},
		"bad base64 n":     {jwkJSON(t, pub, map[string]any{"n": "!!!not-base64!!!"}), ErrInvalidKey},
		"padded base64 e":  {jwkJSON(t, pub, map[string]any{"e": "AQAB=="}), ErrInvalidKey},
		"even exponent":    {jwkJSON(t, pub, map[string]any{"e": "AQA"}), ErrInvalidKey},
		"no kid":           {jwkJSON(t, pub, map[string]any{"kid": nil}), ErrInvalidKey},
		"kid with spaces":  {jwkJSON(t, pub, map[string]any{"kid": "a b"}), ErrInvalidKey},
		"alg RS512":        {jwkJSON(t, pub, map[string]any{"alg": "RS512"}), ErrInvalidKey},
		"alg HS256":        {jwkJSON(t, pub, map[string]any{"alg": "HS256"}), ErrInvalidKey},
		"use enc":          {jwkJSON(t, pub, map[string]any{"use": "enc"}), ErrInvalidKey},
		"kid not a string": {jwkJSON(t, pub, map[string]any{"kid": 54321}), ErrInvalidKey},
		"no n":             {jwkJSON(t, pub, map[string]any{"n": nil}), ErrInvalidKey},
		"symmetric":        {json.RawMessage(`{"kty":"oct","kid":"1","k":"c2VjcmV0"}`), ErrPrivateKeyMaterial},
		"array":            {json.RawMessage(`[]`), ErrInvalidKey},
		"null":             {json.RawMessage(`null`), ErrInvalidKey},
		"empty":            {nil, ErrInvalidKey},
		"huge":             {json.RawMessage(`{"kid":"` + strings.Repeat("a", 20000) + `"}`), ErrInvalidKey},
	} {
		_, err := ParseBankJWK(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	// The refusal names the private members so the bank knows what to remove, and never echoes their values.
	_, err = ParseBankJWK(jwkJSON(t, pub, map[string]any{"d": b64(priv.D)}))
	if !strings.Contains(err.Error(), "(d)") || strings.Contains(err.Error(), b64(priv.D)[:16]) {
		t.Fatalf("private-part error = %v", err)
	}
}
