package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Client credentials of API applications (RFC 6749 §4.4) and the access tokens Kazna issues for them.
//
// A client secret is 256 random bits, so it needs no slow password hash: nobody can guess it, and SHA-256 of it
// is as good as the secret is long while costing a microsecond, which keeps the token endpoint cheap. The hash
// is bound to the application, so that two applications' hashes never compare equal even for one secret.

const (
	// ClientSecretBytes is the entropy of a client secret.
	ClientSecretBytes = 32
	// clientSecretPrefix marks Kazna's client secrets, so that secret scanners (and people) recognise a leaked one.
	clientSecretPrefix = "kzs_"
	// maxClientSecretBytes bounds a presented secret before it is hashed.
	maxClientSecretBytes = 256

	// AudienceApplications is the aud of application access tokens. Platform tokens carry AudienceAPI, so neither
	// kind can be replayed as the other.
	AudienceApplications = "kazna-api-applications"
	// applicationTokenType is the typ header of application access tokens (RFC 9068 §2.1), which lets the API
	// tell them from platform tokens before verifying anything.
	applicationTokenType = "at+jwt"
)

// NewClientSecret makes a new client secret: the prefix and 32 random bytes in unpadded base64url.
func NewClientSecret() (string, error) {
	b := make([]byte, ClientSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: client secret: %w", err)
	}
	s := clientSecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	clear(b)
	return s, nil
}

// HashClientSecret is the stored form of an application's secret: SHA-256 over a label, the application's
// client_id and the secret, in hex. Compare hashes in constant time (crypto/subtle).
func HashClientSecret(clientID, secret string) []byte {
	h := sha256.New()
	h.Write([]byte("kazna client secret v1\x00"))
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	if len(secret) > maxClientSecretBytes {
		secret = secret[:maxClientSecretBytes] // longer than any secret Kazna makes: it will not match
	}
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// HashClientSecretHex is HashClientSecret in hex, as events store it.
func HashClientSecretHex(clientID, secret string) string {
	return hex.EncodeToString(HashClientSecret(clientID, secret))
}

// ApplicationClaims are what an application access token says: which application, of which bank, may call
// which products, having authenticated with which version of its secret.
type ApplicationClaims struct {
	// Application is the application's GUID, which is also its client_id and the token's sub.
	Application string
	// Counterparty is the GUID of the application's bank.
	Counterparty string
	// Scope lists the products granted, separated by spaces (RFC 6749 §3.3).
	Scope string
	// SecretVersion is the version of the secret the token was obtained with: revoking that secret revokes the
	// token too.
	SecretVersion int

	// Set by Issue; ignored on input.
	ID        string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

type applicationClaims struct {
	Counterparty  string `json:"cpty"`
	ClientID      string `json:"client_id"`
	Scope         string `json:"scope"`
	SecretVersion int    `json:"sver"`
	jwt.RegisteredClaims
}

// ApplicationTokens issues and verifies application access tokens with a platform keyring: the same keys, the
// same JWKS, another audience and token type. It is safe for concurrent use.
type ApplicationTokens struct {
	keys *Keyring

	mu       sync.Mutex
	verified map[[32]byte]verifiedApplicationToken
}

type verifiedApplicationToken struct {
	claims ApplicationClaims
	until  time.Time
}

// NewApplicationTokens uses keys to sign and verify.
func NewApplicationTokens(keys *Keyring) *ApplicationTokens {
	return &ApplicationTokens{keys: keys}
}

// MaxTTL is the longest lifetime Issue accepts (the keyring's).
func (t *ApplicationTokens) MaxTTL() time.Duration { return t.keys.MaxTTL() }

// Issue signs an access token for c, valid from now for ttl (0 < ttl ≤ MaxTTL).
func (t *ApplicationTokens) Issue(c ApplicationClaims, ttl time.Duration, now time.Time) (string, time.Duration, error) {
	if ttl <= 0 || ttl > t.keys.maxTTL {
		return "", 0, fmt.Errorf("auth: issue application token: lifetime %v outside (0, %v]", ttl, t.keys.maxTTL)
	}
	if c.Application == "" || c.Counterparty == "" || c.SecretVersion < 1 {
		return "", 0, errors.New("auth: issue application token: application, counterparty and secret version are required")
	}
	if len(c.Application) > maxClaimLen || len(c.Counterparty) > maxClaimLen || len(c.Scope) > maxClaimLen {
		return "", 0, fmt.Errorf("auth: issue application token: a claim is longer than %d bytes", maxClaimLen)
	}
	now = now.UTC()
	ac := applicationClaims{
		Counterparty: c.Counterparty, ClientID: c.Application, Scope: c.Scope, SecretVersion: c.SecretVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Application,
			Audience:  jwt.ClaimStrings{AudienceApplications},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
	}
	k := t.keys.signingKey(now)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, ac)
	tok.Header["kid"] = k.kid
	tok.Header["typ"] = applicationTokenType
	s, err := tok.SignedString(k.key)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign application token with %s: %w", k, err)
	}
	return s, ttl, nil
}

// IsApplicationToken reports whether token's header says it is an application access token (typ at+jwt). It
// verifies nothing; it only chooses the verifier, cheaply, without allocating on the heap.
func IsApplicationToken(token string) bool {
	head, _, ok := strings.Cut(token, ".")
	if !ok || len(head) > 256 {
		return false
	}
	var buf [192]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(head))
	if err != nil {
		return false
	}
	return bytes.Contains(buf[:n], []byte(`"typ":"`+applicationTokenType+`"`))
}

const (
	verifiedApplicationTTL       = time.Minute
	maxVerifiedApplicationTokens = 10_000
)

// Verify checks an application access token at now: RS256 by a key of the keyring trusted at now, typ at+jwt,
// issued by Kazna for the applications' audience, not expired, already valid, with its application, bank and
// secret version. Like Keyring.Verify it remembers a verified token for a minute, so that an application sending
// the same token on every call pays for the RSA check once a minute; the time bounds are checked on every use.
func (t *ApplicationTokens) Verify(token string, now time.Time) (ApplicationClaims, error) {
	key := sha256.Sum256([]byte(token))
	t.mu.Lock()
	e, ok := t.verified[key]
	t.mu.Unlock()
	if ok && now.Before(e.until) && !now.Before(e.claims.NotBefore.Add(-Leeway)) && now.Before(e.claims.ExpiresAt.Add(Leeway)) {
		return e.claims, nil
	}
	c, err := t.verify(token, now)
	if err != nil {
		return ApplicationClaims{}, err
	}
	t.mu.Lock()
	if t.verified == nil || len(t.verified) >= maxVerifiedApplicationTokens {
		t.verified = map[[32]byte]verifiedApplicationToken{} // forget all: simpler than an LRU, and rare
	}
	t.verified[key] = verifiedApplicationToken{claims: c, until: now.Add(verifiedApplicationTTL)}
	t.mu.Unlock()
	return c, nil
}

func (t *ApplicationTokens) verify(token string, now time.Time) (ApplicationClaims, error) {
	if !IsApplicationToken(token) {
		return ApplicationClaims{}, fmt.Errorf("auth: application token: %w: typ is not %s", ErrMalformedToken, applicationTokenType)
	}
	var ac applicationClaims
	err := verifyRS256(token, &ac, func(kid string) (*rsa.PublicKey, error) { return t.keys.publicKey(kid, now) }, now,
		jwt.WithIssuer(Issuer), jwt.WithAudience(AudienceApplications))
	if err != nil {
		return ApplicationClaims{}, fmt.Errorf("auth: application token: %w", err)
	}
	switch {
	case ac.Subject == "" || ac.ClientID != ac.Subject:
		return ApplicationClaims{}, fmt.Errorf("auth: application token: %w: sub and client_id", ErrInvalidClaim)
	case ac.Counterparty == "":
		return ApplicationClaims{}, fmt.Errorf("auth: application token: %w: cpty", ErrMissingClaim)
	case ac.SecretVersion < 1:
		return ApplicationClaims{}, fmt.Errorf("auth: application token: %w: sver", ErrMissingClaim)
	case ac.IssuedAt == nil || ac.ID == "":
		return ApplicationClaims{}, fmt.Errorf("auth: application token: %w: iat and jti", ErrMissingClaim)
	}
	return ApplicationClaims{
		Application:   ac.Subject,
		Counterparty:  ac.Counterparty,
		Scope:         ac.Scope,
		SecretVersion: ac.SecretVersion,
		ID:            ac.ID,
		IssuedAt:      numericTime(ac.IssuedAt),
		NotBefore:     numericTime(ac.NotBefore),
		ExpiresAt:     numericTime(ac.ExpiresAt),
	}, nil
}
