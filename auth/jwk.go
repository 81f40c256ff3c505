package auth

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Bounds on keys: below minKeyBits RSA is too weak for a bank; above maxKeyBits verification becomes a cost an
// attacker could choose for us.
const (
	minKeyBits     = 2048
	maxKeyBits     = 8192
	maxKIDLen      = 256
	maxJWKBytes    = 16 << 10
	algRS256       = "RS256"
	keyTypeRSA     = "RSA"
	keyUseSignings = "sig"
)

// JWK is one RSA public key as published in a JWKS (RFC 7517), in the shape of guide §3.1's
// /.well-known/jwks.json entry. N and E are unpadded base64url big-endian integers.
type JWK struct {
	Alg string `json:"alg"`
	E   string `json:"e"`
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	Use string `json:"use"`
}

// JWKSet is the body of /.well-known/jwks.json: the public keys that verify Kazna's tokens.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// PublicKey returns the key with the given kid. It answers ErrUnknownKey when no key has that kid.
func (s JWKSet) PublicKey(kid string) (*rsa.PublicKey, error) {
	for _, k := range s.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Kty != keyTypeRSA || (k.Alg != "" && k.Alg != algRS256) {
			return nil, fmt.Errorf("%w: key %q is %s/%s, not RSA/RS256", ErrAlgorithmNotAllowed, kid, k.Kty, k.Alg)
		}
		return rsaPublicKey(k.N, k.E)
	}
	return nil, fmt.Errorf("%w: no key with kid %q", ErrUnknownKey, kid)
}

// publicJWK renders pub as a JWK for RS256 signatures.
func publicJWK(kid string, pub *rsa.PublicKey) JWK {
	n, e := encodeRSA(pub)
	return JWK{Alg: algRS256, E: e, Kid: kid, Kty: keyTypeRSA, N: n, Use: keyUseSignings}
}

func encodeRSA(pub *rsa.PublicKey) (n, e string) {
	return base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
}

// Thumbprint is the RFC 7638 JWK thumbprint of an RSA public key: SHA-256 over the canonical JSON
// {"e":…,"kty":"RSA","n":…}, unpadded base64url. Kazna uses it as the kid of its own signing keys, so a kid names
// exactly one key and can be recomputed by anyone holding the public key.
func Thumbprint(pub *rsa.PublicKey) string {
	n, e := encodeRSA(pub)
	// The members are base64url strings, so plain concatenation is canonical JSON.
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// rsaPublicKey decodes base64url n and e into a key and checks its size and exponent.
func rsaPublicKey(nB64, eB64 string) (*rsa.PublicKey, error) {
	if nB64 == "" || eB64 == "" {
		return nil, fmt.Errorf("%w: n and e are required", ErrInvalidKey)
	}
	if len(nB64) > maxKeyBits/6+4 {
		return nil, fmt.Errorf("%w: modulus longer than %d bits", ErrInvalidKey, maxKeyBits)
	}
	nb, err := base64.RawURLEncoding.Strict().DecodeString(nB64)
	if err != nil {
		return nil, fmt.Errorf("%w: n is not unpadded base64url", ErrInvalidKey)
	}
	eb, err := base64.RawURLEncoding.Strict().DecodeString(eB64)
	if err != nil {
		return nil, fmt.Errorf("%w: e is not unpadded base64url", ErrInvalidKey)
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minKeyBits || bits > maxKeyBits {
		return nil, fmt.Errorf("%w: modulus is %d bits, want %d to %d", ErrInvalidKey, bits, minKeyBits, maxKeyBits)
	}
	if n.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: modulus is even", ErrInvalidKey)
	}
	e := new(big.Int).SetBytes(eb)
	// crypto/rsa accepts exponents up to 2^31-1; 3 is the smallest sane one.
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: exponent must be an odd number from 3 to 2^31-1", ErrInvalidKey)
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// privateJWKMembers are the RFC 7518 §6.3.2 (RSA) and §6.4 (symmetric) members that only a private key has.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// BankKey is a bank's public signing key, registered with POST /counterparty/{guid}/jwk. The caller stores JWK
// (public only) and keys it by counterparty and KID.
type BankKey struct {
	KID    string
	Public *rsa.PublicKey
	// JWK is the normalised public key (alg RS256, use sig), fit for storing and for GET …/jwk.
	JWK JWK
}

// ParseBankJWK checks the JWK a bank registers: the value of "data" in POST …/jwk (the whole {"data":{…}}
// envelope is accepted too). It must be an RSA public key for RS256 signatures with a kid and a modulus of at least
// 2048 bits. A JWK carrying private parts is refused: the bank must send only its public key.
func ParseBankJWK(data json.RawMessage) (BankKey, error) {
	if len(data) > maxJWKBytes {
		return BankKey{}, fmt.Errorf("%w: JWK larger than %d bytes", ErrInvalidKey, maxJWKBytes)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return BankKey{}, fmt.Errorf("%w: JWK must be a JSON object", ErrInvalidKey)
	}
	if inner, ok := members["data"]; ok && len(members) == 1 {
		members = nil
		if err := json.Unmarshal(inner, &members); err != nil || members == nil {
			return BankKey{}, fmt.Errorf("%w: \"data\" must be a JSON object", ErrInvalidKey)
		}
	}
	var present []string
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			present = append(present, m)
		}
	}
	if len(present) > 0 {
		return BankKey{}, fmt.Errorf("%w (%s): register only the public key (kty, kid, n, e), and treat this "+
			"private key as exposed", ErrPrivateKeyMaterial, strings.Join(present, ", "))
	}
	str := func(name string) (string, error) {
		raw, ok := members[name]
		if !ok || bytes.Equal(raw, []byte("null")) {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: %q must be a string", ErrInvalidKey, name)
		}
		return s, nil
	}
	var f [5]string
	for i, name := range []string{"kty", "alg", "kid", "n", "e"} {
		s, err := str(name)
		if err != nil {
			return BankKey{}, err
		}
		f[i] = s
	}
	kty, alg, kid, n, e := f[0], f[1], f[2], f[3], f[4]
	if kty != keyTypeRSA {
		return BankKey{}, fmt.Errorf("%w: kty is %q, want \"RSA\"", ErrInvalidKey, kty)
	}
	if alg != "" && alg != algRS256 {
		return BankKey{}, fmt.Errorf("%w: alg is %q, want \"RS256\"", ErrInvalidKey, alg)
	}
	if use, err := str("use"); err != nil {
		return BankKey{}, err
	} else if use != "" && use != keyUseSignings {
		return BankKey{}, fmt.Errorf("%w: use is %q, want \"sig\"", ErrInvalidKey, use)
	}
	if err := checkKID(kid); err != nil {
		return BankKey{}, err
	}
	pub, err := rsaPublicKey(n, e)
	if err != nil {
		return BankKey{}, err
	}
	return BankKey{KID: kid, Public: pub, JWK: publicJWK(kid, pub)}, nil
}

// checkKID requires a kid of printable ASCII, so it can be shown, stored and compared without surprises.
func checkKID(kid string) error {
	if kid == "" {
		return fmt.Errorf("%w: kid is required", ErrInvalidKey)
	}
	if len(kid) > maxKIDLen {
		return fmt.Errorf("%w: kid longer than %d characters", ErrInvalidKey, maxKIDLen)
	}
	for i := 0; i < len(kid); i++ {
		if kid[i] < 0x21 || kid[i] > 0x7e {
			return fmt.Errorf("%w: kid must be printable ASCII without spaces", ErrInvalidKey)
		}
	}
	return nil
}
