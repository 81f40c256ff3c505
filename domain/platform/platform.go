package platform

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kazna-ledger/kazna/domain/money"
)

// Stream is the one stream of the platform aggregate.
const Stream = "platform"

// Bounds on what an event may carry, so that a bad command cannot bloat the log.
const (
	maxLoginBytes   = 320 // an email address
	maxSealedBytes  = 64 << 10
	maxHashBytes    = 128 // a bcrypt hash is 60 bytes
	maxKIDBytes     = 256
	maxAddressBytes = 56 // a Stellar G… address
	// MaxSigningKeys bounds the signing keys the aggregate remembers; far above any rotation schedule
	// (one key a month is 12 a year).
	MaxSigningKeys = 10_000
)

// Event is a fact of the platform aggregate.
type Event interface{ isPlatformEvent() }

// AssetDefined: the platform's e-money asset, its code on Stellar and its minor-unit decimals.
type AssetDefined struct {
	Code        string    `json:"code"`
	StellarCode string    `json:"stellar_code"`
	Decimals    int32     `json:"decimals"`
	At          time.Time `json:"at"`
}

// IssuerKeyGenerated: the issuer's key was made and sealed, before any account exists on chain, so that a
// crash after the account is created can never lose the seed.
type IssuerKeyGenerated struct {
	Address    string    `json:"address"`
	SealedSeed []byte    `json:"sealed_seed"`
	At         time.Time `json:"at"`
}

// IssuerCreated: the issuer account exists on chain with AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_CLAWBACK_ENABLED.
type IssuerCreated struct {
	Address string    `json:"address"`
	At      time.Time `json:"at"`
}

// SigningKeyAdded: a platform JWT signing key (auth.SigningKey.MarshalPrivate, sealed) that signs from
// ActiveFrom; it is published in the JWKS from At.
type SigningKeyAdded struct {
	KID        string    `json:"kid"`
	SealedKey  []byte    `json:"sealed_key"`
	ActiveFrom time.Time `json:"active_from"`
	At         time.Time `json:"at"`
}

// SigningKeyRetired: a signing key stops signing at RetiredAt (when its successor becomes active); it keeps
// verifying the tokens it signed until they expire.
type SigningKeyRetired struct {
	KID       string    `json:"kid"`
	RetiredAt time.Time `json:"retired_at"`
	At        time.Time `json:"at"`
}

// AdministratorCreated: the platform administrator, with the bcrypt hash of their password.
type AdministratorCreated struct {
	Login        string    `json:"login"`
	PasswordHash string    `json:"password_hash"`
	At           time.Time `json:"at"`
}

// AdministratorPasswordChanged: the platform administrator's new password hash.
type AdministratorPasswordChanged struct {
	PasswordHash string    `json:"password_hash"`
	At           time.Time `json:"at"`
}

func (AssetDefined) isPlatformEvent()                 {}
func (IssuerKeyGenerated) isPlatformEvent()           {}
func (IssuerCreated) isPlatformEvent()                {}
func (SigningKeyAdded) isPlatformEvent()              {}
func (SigningKeyRetired) isPlatformEvent()            {}
func (AdministratorCreated) isPlatformEvent()         {}
func (AdministratorPasswordChanged) isPlatformEvent() {}

// SigningKey is a signing key as the aggregate remembers it.
type SigningKey struct {
	KID        string
	SealedKey  []byte
	ActiveFrom time.Time
	// RetiredAt is zero for the current key.
	RetiredAt time.Time
}

// State is the platform as its events built it.
type State struct {
	Asset        money.Asset
	AssetDefined bool

	IssuerAddress    string
	IssuerSealedSeed []byte
	IssuerCreated    bool

	// SigningKeys in the order they were added; the last one is the current key.
	SigningKeys []SigningKey

	AdminLogin        string
	AdminPasswordHash string
}

// CurrentKey returns the newest signing key.
func (s State) CurrentKey() (SigningKey, bool) {
	if len(s.SigningKeys) == 0 {
		return SigningKey{}, false
	}
	return s.SigningKeys[len(s.SigningKeys)-1], true
}

// HasAdministrator reports whether the platform administrator exists.
func (s State) HasAdministrator() bool { return s.AdminLogin != "" }

// Bootstrapped reports whether every start-up step is recorded.
func (s State) Bootstrapped() bool {
	return s.AssetDefined && s.IssuerCreated && len(s.SigningKeys) > 0 && s.HasAdministrator()
}

// Evolve applies one event. Events must come from Decide; an event that does not fit the state is applied as
// well as it can be, never panicking.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case AssetDefined:
		s.Asset = money.Asset{Code: e.Code, StellarCode: e.StellarCode, Decimals: e.Decimals}
		s.AssetDefined = true
	case IssuerKeyGenerated:
		s.IssuerAddress, s.IssuerSealedSeed = e.Address, slices.Clone(e.SealedSeed)
	case IssuerCreated:
		s.IssuerCreated = true
	case SigningKeyAdded:
		s.SigningKeys = append(slices.Clone(s.SigningKeys),
			SigningKey{KID: e.KID, SealedKey: slices.Clone(e.SealedKey), ActiveFrom: e.ActiveFrom})
	case SigningKeyRetired:
		keys := slices.Clone(s.SigningKeys)
		for i := range keys {
			if keys[i].KID == e.KID {
				keys[i].RetiredAt = e.RetiredAt
			}
		}
		s.SigningKeys = keys
	case AdministratorCreated:
		s.AdminLogin, s.AdminPasswordHash = e.Login, e.PasswordHash
	case AdministratorPasswordChanged:
		s.AdminPasswordHash = e.PasswordHash
	case IssuerKeyResealed, SigningKeyResealed:
		s = evolveReseal(s, e)
	}
	return s
}

// Commands. Each carries the time it is decided at (the domain reads no clock).
type (
	// Bootstrap defines the platform's asset. Repeating it with the same asset is a no-op; another asset is
	// refused with *AssetChangedError (the asset of a running ledger never changes).
	Bootstrap struct {
		Asset money.Asset
		At    time.Time
	}
	// GenerateIssuerKey records the issuer's freshly made key, sealed. If an issuer key is already recorded
	// (another node got there first) it is a no-op: the recorded key wins, and the caller must reload.
	GenerateIssuerKey struct {
		Address    string
		SealedSeed []byte
		At         time.Time
	}
	// RecordIssuerCreated records that the issuer account of the recorded key exists on chain, set up.
	RecordIssuerCreated struct {
		Address string
		At      time.Time
	}
	// RotateSigningKey adds a signing key that signs from ActiveFrom and retires the current one at that
	// instant. Replaces names the current key the caller decided on ("" for the first key); if the current
	// key is another one (a rotation raced this one), it is a no-op and the caller must reload.
	RotateSigningKey struct {
		Replaces   string
		KID        string
		SealedKey  []byte
		ActiveFrom time.Time
		At         time.Time
	}
	// CreateAdministrator creates the platform administrator. If one exists it is a no-op (the first wins).
	CreateAdministrator struct {
		Login        string
		PasswordHash string
		At           time.Time
	}
	// SetAdministratorPassword changes the administrator's password hash.
	SetAdministratorPassword struct {
		PasswordHash string
		At           time.Time
	}
)

// Domain errors.
var (
	// ErrInvalidCommand is a command with a missing or out-of-bounds field.
	ErrInvalidCommand = errors.New("platform: invalid command")
	// ErrNoIssuerKey is an issuer recorded as created before its key was generated.
	ErrNoIssuerKey = errors.New("platform: no issuer key is recorded")
	// ErrIssuerMismatch is an issuer account other than the one whose key is recorded.
	ErrIssuerMismatch = errors.New("platform: issuer address differs from the recorded issuer key")
	// ErrAssetNotDefined is an issuer key before the asset it issues.
	ErrAssetNotDefined = errors.New("platform: the asset is not defined yet")
	// ErrDuplicateSigningKey is a signing key whose kid the platform already used.
	ErrDuplicateSigningKey = errors.New("platform: signing key kid already used")
	// ErrKeyNotActiveYet is a rotation before the current key has started signing, or a key that would
	// become active before the current one.
	ErrKeyNotActiveYet = errors.New("platform: the current signing key is not active yet")
	// ErrTooManySigningKeys means MaxSigningKeys is reached.
	ErrTooManySigningKeys = errors.New("platform: too many signing keys")
	// ErrAssetChanged matches every *AssetChangedError.
	ErrAssetChanged = errors.New("platform: the asset cannot change")
	// ErrNoAdministrator is a password change before the administrator exists.
	ErrNoAdministrator = errors.New("platform: no administrator yet")
)

// AssetChangedError is a bootstrap with an asset other than the one the platform was started with.
type AssetChangedError struct {
	Recorded, Requested money.Asset
}

func (e *AssetChangedError) Error() string {
	return fmt.Sprintf("platform: the asset is %s (Stellar %s, %d decimals) since the first start; the configuration asks for %s (Stellar %s, %d decimals): an asset cannot change",
		e.Recorded.Code, e.Recorded.StellarCode, e.Recorded.Decimals, e.Requested.Code, e.Requested.StellarCode, e.Requested.Decimals)
}

// Is makes errors.Is(err, ErrAssetChanged) true.
func (e *AssetChangedError) Is(target error) bool { return target == ErrAssetChanged }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCommand, fmt.Sprintf(format, args...))
}

// Decide returns the events cmd produces in state s, or a domain error.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Bootstrap:
		return decideBootstrap(s, c)
	case GenerateIssuerKey:
		return decideIssuerKey(s, c)
	case RecordIssuerCreated:
		return decideIssuerCreated(s, c)
	case RotateSigningKey:
		return decideRotate(s, c)
	case CreateAdministrator:
		return decideAdministrator(s, c)
	case ResealIssuerKey:
		return decideResealIssuer(s, c)
	case ResealSigningKey:
		return decideResealSigningKey(s, c)
	case SetAdministratorPassword:
		if err := checkHash(c.PasswordHash); err != nil {
			return nil, err
		}
		if !s.HasAdministrator() {
			return nil, ErrNoAdministrator
		}
		return []Event{AdministratorPasswordChanged{PasswordHash: c.PasswordHash, At: c.At}}, nil
	}
	return nil, invalid("unknown command %T", cmd)
}

func decideBootstrap(s State, c Bootstrap) ([]Event, error) {
	a := c.Asset
	if err := a.Validate(); err != nil {
		return nil, invalid("%v", err)
	}
	if !stellarCode(a.StellarCode) || len(a.Code) > 12 {
		return nil, invalid("asset codes must be 1 to 12 letters or digits, got %.16q and %.16q", a.Code, a.StellarCode)
	}
	if s.AssetDefined {
		if s.Asset != a {
			return nil, &AssetChangedError{Recorded: s.Asset, Requested: a}
		}
		return nil, nil
	}
	return []Event{AssetDefined{Code: a.Code, StellarCode: a.StellarCode, Decimals: a.Decimals, At: c.At}}, nil
}

// stellarCode is Stellar's rule for an asset code: 1 to 12 ASCII letters or digits.
func stellarCode(code string) bool {
	if len(code) < 1 || len(code) > 12 {
		return false
	}
	for i := 0; i < len(code); i++ {
		ch := code[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9') {
			return false
		}
	}
	return true
}

func decideIssuerKey(s State, c GenerateIssuerKey) ([]Event, error) {
	if err := checkAddress(c.Address); err != nil {
		return nil, err
	}
	if len(c.SealedSeed) == 0 || len(c.SealedSeed) > maxSealedBytes {
		return nil, invalid("sealed seed must be 1 to %d bytes", maxSealedBytes)
	}
	if !s.AssetDefined {
		return nil, ErrAssetNotDefined
	}
	if s.IssuerAddress != "" {
		return nil, nil // the first recorded key wins
	}
	return []Event{IssuerKeyGenerated{Address: c.Address, SealedSeed: slices.Clone(c.SealedSeed), At: c.At}}, nil
}

func decideIssuerCreated(s State, c RecordIssuerCreated) ([]Event, error) {
	if err := checkAddress(c.Address); err != nil {
		return nil, err
	}
	switch {
	case s.IssuerAddress == "":
		return nil, ErrNoIssuerKey
	case s.IssuerAddress != c.Address:
		return nil, ErrIssuerMismatch
	case s.IssuerCreated:
		return nil, nil
	}
	return []Event{IssuerCreated{Address: c.Address, At: c.At}}, nil
}

func decideRotate(s State, c RotateSigningKey) ([]Event, error) {
	if c.KID == "" || len(c.KID) > maxKIDBytes {
		return nil, invalid("kid must be 1 to %d bytes", maxKIDBytes)
	}
	if len(c.SealedKey) == 0 || len(c.SealedKey) > maxSealedBytes {
		return nil, invalid("sealed key must be 1 to %d bytes", maxSealedBytes)
	}
	if c.ActiveFrom.IsZero() || c.ActiveFrom.Before(c.At) {
		return nil, invalid("active_from must not be before the command's time")
	}
	cur, has := s.CurrentKey()
	if has && cur.KID != c.Replaces || !has && c.Replaces != "" {
		return nil, nil // another rotation won; the caller reloads
	}
	if slices.ContainsFunc(s.SigningKeys, func(k SigningKey) bool { return k.KID == c.KID }) {
		return nil, ErrDuplicateSigningKey
	}
	if len(s.SigningKeys) >= MaxSigningKeys {
		return nil, ErrTooManySigningKeys
	}
	added := SigningKeyAdded{KID: c.KID, SealedKey: slices.Clone(c.SealedKey), ActiveFrom: c.ActiveFrom, At: c.At}
	if !has {
		return []Event{added}, nil
	}
	if cur.ActiveFrom.After(c.At) || !c.ActiveFrom.After(cur.ActiveFrom) {
		return nil, ErrKeyNotActiveYet
	}
	return []Event{SigningKeyRetired{KID: cur.KID, RetiredAt: c.ActiveFrom, At: c.At}, added}, nil
}

func decideAdministrator(s State, c CreateAdministrator) ([]Event, error) {
	if c.Login == "" || len(c.Login) > maxLoginBytes {
		return nil, invalid("login must be 1 to %d bytes", maxLoginBytes)
	}
	if err := checkHash(c.PasswordHash); err != nil {
		return nil, err
	}
	if s.HasAdministrator() {
		return nil, nil // the first administrator stays
	}
	return []Event{AdministratorCreated{Login: c.Login, PasswordHash: c.PasswordHash, At: c.At}}, nil
}

func checkAddress(a string) error {
	if len(a) != maxAddressBytes || a[0] != 'G' {
		return invalid("issuer address must be a Stellar G… address")
	}
	return nil
}

// checkHash accepts a bcrypt hash ($2a$/$2b$/$2y$…); the domain never sees a password.
func checkHash(h string) error {
	if len(h) < 7 || len(h) > maxHashBytes || h[0] != '$' || h[1] != '2' {
		return invalid("password hash must be a bcrypt hash")
	}
	return nil
}
