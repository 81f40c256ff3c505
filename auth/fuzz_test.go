package auth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// No input may make the parsers panic. The seeds run with go test; go test -fuzz explores further.

func FuzzParseBankJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"RSA","kid":"1","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte(`{"data":{"kty":"RSA","kid":"1","d":"x"}}`))
	f.Add([]byte(`{"kty":"RSA","kid":"1","n":"` + strings.Repeat("_", 400) + `","e":"AQAB"}`))
	f.Add([]byte(`{"kty":"RSA","kid":"1","n":null,"e":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseBankJWK(json.RawMessage(data))
	})
}

func FuzzVerify(f *testing.F) {
	kr := testKeyring(f)
	good, _, _ := kr.Issue(Claims{Subject: "a"}, time.Minute, t0)
	f.Add(good)
	f.Add(tamperSignature(good))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6W119.e30.AA")
	keys := bankKeys{"bank-a": {"1": kr.Keys()[0].Public()}}
	f.Fuzz(func(t *testing.T, tok string) {
		_, _ = kr.Verify(tok, t0)
		_, _ = VerifySession(tok, kr.JWKSAt(t0), t0)
		_, _ = VerifyBankJWT(context.Background(), tok, "bank-a", keys, t0)
	})
}
