package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	// Issuer is the iss of every token Kazna signs.
	Issuer = "kazna"
	// AudienceAPI is the aud of platform access tokens. Session tokens carry AudienceBankAuth instead, so a session
	// token handed to a bank can never be replayed against Kazna's API.
	AudienceAPI = "kazna-api"

	// signingKeyBits is the size of keys made by GenerateSigningKey.
	signingKeyBits = 2048
	// DefaultMaxTTL is the longest lifetime of a platform token when KeyringConfig.MaxTTL is zero.
	DefaultMaxTTL = time.Hour
	// maxMaxTTL caps KeyringConfig.MaxTTL: a retired key stays trusted for that long.
	maxMaxTTL = 7 * 24 * time.Hour
	// maxSealedKeyBytes bounds ParsePrivate's input.
	maxSealedKeyBytes = 64 << 10
	// maxClaimLen bounds each string claim Kazna signs.
	maxClaimLen = 1024
	maxRoles    = 256
)

// SigningKey is one of Kazna's RSA private keys for RS256 tokens. Its kid is the RFC 7638 thumbprint of the public
// key unless it was loaded with another kid by ParsePrivate. The private key is unexported so that it cannot reach
// a log or a JSON body by accident; MarshalPrivate is the only way out, for sealed storage.
type SigningKey struct {
	kid       string
	key       *rsa.PrivateKey
	createdAt time.Time
	// activeFrom is when the key starts signing; before that it is only published.
	activeFrom time.Time
	// retiredAt is when the key stops signing (the next key's activeFrom); zero for the newest key.
	retiredAt time.Time
}

// GenerateSigningKey makes a new 2048-bit RSA signing key, created now (wall clock).
func GenerateSigningKey() (SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return SigningKey{}, fmt.Errorf("auth: generate signing key: %w", err)
	}
	return NewSigningKey(priv, time.Now())
}

// NewSigningKey wraps an existing RSA private key (at least 2048 bits) as a signing key; its kid is the key's
// RFC 7638 thumbprint.
func NewSigningKey(priv *rsa.PrivateKey, createdAt time.Time) (SigningKey, error) {
	if err := checkPrivate(priv); err != nil {
		return SigningKey{}, err
	}
	createdAt = createdAt.UTC()
	return SigningKey{kid: Thumbprint(&priv.PublicKey), key: priv, createdAt: createdAt, activeFrom: createdAt}, nil
}

func checkPrivate(priv *rsa.PrivateKey) error {
	if priv == nil || priv.N == nil {
		return fmt.Errorf("%w: no private key", ErrInvalidKey)
	}
	if bits := priv.N.BitLen(); bits < minKeyBits || bits > maxKeyBits {
		return fmt.Errorf("%w: RSA key is %d bits, want %d to %d", ErrInvalidKey, bits, minKeyBits, maxKeyBits)
	}
	if err := priv.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return nil
}

// KID is the key id put in the header of every token this key signs.
func (k SigningKey) KID() string { return k.kid }

// Public is the key's public half.
func (k SigningKey) Public() *rsa.PublicKey {
	if k.key == nil {
		return nil
	}
	return &k.key.PublicKey
}

// CreatedAt is when the key was made.
func (k SigningKey) CreatedAt() time.Time { return k.createdAt }

// ActiveFrom is when the key starts (or started) signing.
func (k SigningKey) ActiveFrom() time.Time { return k.activeFrom }

// RetiredAt is when the key stops (or stopped) signing; zero for the newest key.
func (k SigningKey) RetiredAt() time.Time { return k.retiredAt }

// String names the key without its secret.
func (k SigningKey) String() string { return "signing key " + k.kid }

// sealedKey is the serialised form of a SigningKey. Version guards future changes of the format.
type sealedKey struct {
	Version    int        `json:"v"`
	KID        string     `json:"kid"`
	CreatedAt  time.Time  `json:"created_at"`
	ActiveFrom time.Time  `json:"active_from"`
	RetiredAt  *time.Time `json:"retired_at,omitempty"`
	PKCS8      []byte     `json:"pkcs8"`
}

// MarshalPrivate serialises the key (PKCS#8 DER, kid, created, active-from and retired times) as JSON. The result is secret:
// the caller must seal it (encrypt) before storing it, and must never log it.
func (k SigningKey) MarshalPrivate() ([]byte, error) {
	if err := checkPrivate(k.key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, fmt.Errorf("auth: marshal signing key %s: %w", k.kid, err)
	}
	s := sealedKey{Version: 1, KID: k.kid, CreatedAt: k.createdAt, ActiveFrom: k.activeFrom, PKCS8: der}
	if !k.retiredAt.IsZero() {
		r := k.retiredAt
		s.RetiredAt = &r
	}
	return json.Marshal(s)
}

// ParsePrivate reads a key written by MarshalPrivate. The stored kid is kept as is (tokens were signed with it).
func ParsePrivate(data []byte) (SigningKey, error) {
	if len(data) > maxSealedKeyBytes {
		return SigningKey{}, fmt.Errorf("%w: serialised key larger than %d bytes", ErrInvalidKey, maxSealedKeyBytes)
	}
	var s sealedKey
	if err := json.Unmarshal(data, &s); err != nil {
		return SigningKey{}, fmt.Errorf("%w: serialised key is not valid JSON", ErrInvalidKey)
	}
	if s.Version != 1 {
		return SigningKey{}, fmt.Errorf("%w: serialised key version %d, want 1", ErrInvalidKey, s.Version)
	}
	if err := checkKID(s.KID); err != nil {
		return SigningKey{}, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(s.PKCS8)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: key %s: PKCS#8: %v", ErrInvalidKey, s.KID, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return SigningKey{}, fmt.Errorf("%w: key %s is %T, want RSA", ErrInvalidKey, s.KID, parsed)
	}
	if err := checkPrivate(priv); err != nil {
		return SigningKey{}, fmt.Errorf("key %s: %w", s.KID, err)
	}
	k := SigningKey{kid: s.KID, key: priv, createdAt: s.CreatedAt.UTC(), activeFrom: s.ActiveFrom.UTC()}
	if s.ActiveFrom.IsZero() {
		k.activeFrom = k.createdAt
	}
	if s.RetiredAt != nil {
		k.retiredAt = s.RetiredAt.UTC()
	}
	return k, nil
}

// KeyringConfig tunes a Keyring. Zero values take the defaults.
type KeyringConfig struct {
	// MaxTTL is the longest lifetime Issue accepts, and how long a retired key keeps verifying (plus Leeway).
	// Default DefaultMaxTTL; at most 7 days.
	MaxTTL time.Duration
	// PublishLead is how long Rotate publishes a new key in the JWKS before signing with it. Set it to at least the
	// JWKS cache age banks are told (Cache-Control max-age), so that no bank sees a kid it has not fetched yet.
	// Default 0: the new key signs at once. At most MaxTTL.
	PublishLead time.Duration
	// Now is the clock JWKS and Keys use to drop expired retired keys. Default time.Now.
	Now func() time.Time
}

// Keyring signs platform tokens with its active key and verifies them with every key that may still have a live
// token. It is safe for concurrent use.
//
// Rotation never logs anyone out early: Rotate publishes a new key, which signs from now+PublishLead; the previous
// key signs until then, and keeps verifying and stays in the JWKS until MaxTTL+Leeway after it stopped signing,
// when the last token it signed has expired.
type Keyring struct {
	maxTTL      time.Duration
	publishLead time.Duration
	now         func() time.Time

	mu sync.RWMutex
	// keys are ordered by activeFrom, oldest first. Invariant: only the last (newest) has a zero retiredAt, and
	// every other key retires when the one after it becomes active.
	keys []SigningKey

	verified verifiedTokens
}

// verifiedTokens remembers tokens whose signature was checked, so that a client sending the same bearer token
// on every request pays for the RSA verification once a minute rather than on every request (it was a tenth of
// a loaded node's CPU). Only the signature check is skipped: the token's own time bounds are checked on every
// use, and an entry lives at most verifiedTTL, so a retired key stops being honoured within that time.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	claims Claims
	until  time.Time
}

const (
	verifiedTTL       = time.Minute
	maxVerifiedTokens = 10_000
)

func (v *verifiedTokens) get(token string, now time.Time) (Claims, bool) {
	k := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[k]
	if !ok || !now.Before(e.until) {
		return Claims{}, false
	}
	// The same bounds as the full check (with its Leeway for clock skew), never looser.
	if now.Before(e.claims.NotBefore.Add(-Leeway)) || (!e.claims.ExpiresAt.IsZero() && !now.Before(e.claims.ExpiresAt.Add(Leeway))) {
		return Claims{}, false
	}
	return e.claims, true
}

func (v *verifiedTokens) put(token string, c Claims, now time.Time) {
	k := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = map[[32]byte]verifiedToken{} // forget all: simpler than an LRU, and rare
	}
	v.m[k] = verifiedToken{claims: c, until: now.Add(verifiedTTL)}
}

// NewKeyring builds a keyring from stored keys (as returned by Keys): exactly one, the newest, is not retired.
func NewKeyring(cfg KeyringConfig, keys ...SigningKey) (*Keyring, error) {
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxTTL < 0 || cfg.MaxTTL > maxMaxTTL {
		return nil, fmt.Errorf("auth: keyring max TTL %v outside (0, %v]", cfg.MaxTTL, maxMaxTTL)
	}
	if cfg.PublishLead < 0 || cfg.PublishLead > cfg.MaxTTL {
		return nil, fmt.Errorf("auth: keyring publish lead %v outside [0, %v]", cfg.PublishLead, cfg.MaxTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: keyring: no signing key")
	}
	kr := &Keyring{maxTTL: cfg.MaxTTL, publishLead: cfg.PublishLead, now: cfg.Now}
	seen := map[string]bool{}
	current := 0
	for _, k := range keys {
		if err := checkPrivate(k.key); err != nil {
			return nil, fmt.Errorf("auth: keyring: %s: %w", k, err)
		}
		if seen[k.kid] {
			return nil, fmt.Errorf("auth: keyring: kid %q appears twice", k.kid)
		}
		seen[k.kid] = true
		if k.retiredAt.IsZero() {
			current++
		}
		kr.keys = append(kr.keys, k)
	}
	if current != 1 {
		return nil, fmt.Errorf("auth: keyring: %d keys are not retired, want exactly 1", current)
	}
	slices.SortStableFunc(kr.keys, func(a, b SigningKey) int {
		if c := a.activeFrom.Compare(b.activeFrom); c != 0 {
			return c
		}
		// On a tie of activeFrom the unretired key sorts last: it is the newest.
		switch {
		case a.retiredAt.IsZero() == b.retiredAt.IsZero():
			return a.retiredAt.Compare(b.retiredAt)
		case a.retiredAt.IsZero():
			return 1
		default:
			return -1
		}
	})
	if !kr.keys[len(kr.keys)-1].retiredAt.IsZero() {
		return nil, errors.New("auth: keyring: a retired key is newer than the current one")
	}
	return kr, nil
}

// MaxTTL is the longest token lifetime the keyring issues.
func (kr *Keyring) MaxTTL() time.Duration { return kr.maxTTL }

// trusted tells whether k may have signed a token still live at now.
func (kr *Keyring) trusted(k SigningKey, now time.Time) bool {
	return k.retiredAt.IsZero() || now.Before(k.retiredAt.Add(kr.maxTTL+Leeway))
}

// Rotate adds newKey: it is published at once and signs from now+PublishLead, when the previous key retires.
// The previous key keeps verifying the tokens it signed until they have all expired; keys past that are dropped.
// A second rotation is refused until the pending one has taken effect. Persist Keys() afterwards.
func (kr *Keyring) Rotate(newKey SigningKey, now time.Time) error {
	if err := checkPrivate(newKey.key); err != nil {
		return fmt.Errorf("auth: rotate to %s: %w", newKey, err)
	}
	now = now.UTC()
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if slices.ContainsFunc(kr.keys, func(k SigningKey) bool { return k.kid == newKey.kid }) {
		return fmt.Errorf("auth: rotate: kid %q is already in the keyring", newKey.kid)
	}
	last := &kr.keys[len(kr.keys)-1]
	if last.activeFrom.After(now) {
		return fmt.Errorf("auth: rotate: key %s is pending until %s", last.kid, last.activeFrom.Format(time.RFC3339))
	}
	from := now.Add(kr.publishLead)
	last.retiredAt = from
	newKey.activeFrom, newKey.retiredAt = from, time.Time{}
	kr.keys = append(slices.DeleteFunc(kr.keys, func(k SigningKey) bool { return !kr.trusted(k, now) }), newKey)
	return nil
}

// Keys returns the keys to persist, newest first, leaving out retired keys no longer trusted at the keyring's clock.
func (kr *Keyring) Keys() []SigningKey {
	now := kr.now()
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	var out []SigningKey
	for i := len(kr.keys) - 1; i >= 0; i-- {
		if kr.trusted(kr.keys[i], now) {
			out = append(out, kr.keys[i])
		}
	}
	return out
}

// JWKS returns, newest first, the public keys that verify live tokens (and a pending key, published ahead), at the
// keyring's clock: serve it at /api/v1/.well-known/jwks.json.
func (kr *Keyring) JWKS() JWKSet { return kr.JWKSAt(kr.now()) }

// JWKSAt is JWKS at a given instant.
func (kr *Keyring) JWKSAt(now time.Time) JWKSet {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	set := JWKSet{Keys: []JWK{}}
	for i := len(kr.keys) - 1; i >= 0; i-- {
		if k := kr.keys[i]; kr.trusted(k, now) {
			set.Keys = append(set.Keys, publicJWK(k.kid, &k.key.PublicKey))
		}
	}
	return set
}

// publicKey finds a key trusted at now by kid.
func (kr *Keyring) publicKey(kid string, now time.Time) (*rsa.PublicKey, error) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.kid == kid && kr.trusted(k, now) {
			return &k.key.PublicKey, nil
		}
	}
	return nil, fmt.Errorf("%w: no platform key with kid %q", ErrUnknownKey, kid)
}

// signingKey is the key that signs at now: the newest one already active.
func (kr *Keyring) signingKey(now time.Time) SigningKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for i := len(kr.keys) - 1; i > 0; i-- {
		if !kr.keys[i].activeFrom.After(now) {
			return kr.keys[i]
		}
	}
	return kr.keys[0]
}

// sign signs claims with the key active at now, naming it in the kid header.
func (kr *Keyring) sign(claims jwt.Claims, now time.Time) (string, error) {
	k := kr.signingKey(now)
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign with %s: %w", k, err)
	}
	return s, nil
}

// Claims are what a platform access token says: who acts, for which counterparty, with which roles.
type Claims struct {
	// Subject is who acts: an employee's login or a technical user.
	Subject string
	// Counterparty is the GUID of the bank the subject works for; empty for platform staff.
	Counterparty string
	// Roles are role names, as given at login.
	Roles []string
	// Branch is the GUID of the subject's branch, if access is limited to one.
	Branch string

	// Set by Issue; ignored on input.
	ID        string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

type platformClaims struct {
	Counterparty string   `json:"cpty,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Branch       string   `json:"branch,omitempty"`
	jwt.RegisteredClaims
}

// Issue signs a platform access token for claims, valid from now for ttl (0 < ttl ≤ MaxTTL). It returns the token
// and its lifetime (for the expires_in of a login answer).
func (kr *Keyring) Issue(c Claims, ttl time.Duration, now time.Time) (string, time.Duration, error) {
	if ttl <= 0 || ttl > kr.maxTTL {
		return "", 0, fmt.Errorf("auth: issue: lifetime %v outside (0, %v]", ttl, kr.maxTTL)
	}
	if c.Subject == "" {
		return "", 0, errors.New("auth: issue: subject is required")
	}
	if len(c.Subject) > maxClaimLen || len(c.Counterparty) > maxClaimLen || len(c.Branch) > maxClaimLen {
		return "", 0, fmt.Errorf("auth: issue: a claim is longer than %d bytes", maxClaimLen)
	}
	if len(c.Roles) > maxRoles {
		return "", 0, fmt.Errorf("auth: issue: more than %d roles", maxRoles)
	}
	for _, r := range c.Roles {
		if r == "" || len(r) > maxClaimLen {
			return "", 0, errors.New("auth: issue: empty or overlong role name")
		}
	}
	now = now.UTC()
	pc := platformClaims{
		Counterparty: c.Counterparty,
		Roles:        c.Roles,
		Branch:       c.Branch,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{AudienceAPI},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
	}
	s, err := kr.sign(pc, now)
	if err != nil {
		return "", 0, err
	}
	return s, ttl, nil
}

// Verify checks a platform access token at now: RS256 only, signed by a key of this keyring still trusted at now,
// issued by Kazna for Kazna's API, not expired, already valid. Errors wrap the package's token errors.
func (kr *Keyring) Verify(token string, now time.Time) (Claims, error) {
	if c, ok := kr.verified.get(token, now); ok {
		return c, nil
	}
	c, err := kr.verify(token, now)
	if err == nil {
		kr.verified.put(token, c, now)
	}
	return c, err
}

func (kr *Keyring) verify(token string, now time.Time) (Claims, error) {
	var pc platformClaims
	err := verifyRS256(token, &pc, func(kid string) (*rsa.PublicKey, error) { return kr.publicKey(kid, now) }, now,
		jwt.WithIssuer(Issuer), jwt.WithAudience(AudienceAPI))
	if err != nil {
		return Claims{}, fmt.Errorf("auth: platform token: %w", err)
	}
	switch {
	case pc.Subject == "":
		return Claims{}, fmt.Errorf("auth: platform token: %w: sub", ErrMissingClaim)
	case pc.IssuedAt == nil:
		return Claims{}, fmt.Errorf("auth: platform token: %w: iat", ErrMissingClaim)
	case pc.ID == "":
		return Claims{}, fmt.Errorf("auth: platform token: %w: jti", ErrMissingClaim)
	}
	return Claims{
		Subject:      pc.Subject,
		Counterparty: pc.Counterparty,
		Roles:        pc.Roles,
		Branch:       pc.Branch,
		ID:           pc.ID,
		IssuedAt:     numericTime(pc.IssuedAt),
		NotBefore:    numericTime(pc.NotBefore),
		ExpiresAt:    numericTime(pc.ExpiresAt),
	}, nil
}
