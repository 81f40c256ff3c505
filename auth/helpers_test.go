package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RSA key generation is slow; the test binary makes three keys once and shares them.
var (
	keysOnce sync.Once
	rsaKeys  [3]*rsa.PrivateKey
)

func testRSA(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
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

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testSigningKey(t testing.TB, i int) SigningKey {
	t.Helper()
	k, err := NewSigningKey(testRSA(t, i), t0)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	kr, err := NewKeyring(KeyringConfig{MaxTTL: time.Hour, Now: func() time.Time { return t0 }}, testSigningKey(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// signRaw signs arbitrary claims with any method and key, for forging tokens.
func signRaw(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamperSignature flips one character in the middle of the signature.
func tamperSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
