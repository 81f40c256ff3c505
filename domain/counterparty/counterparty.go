package counterparty

import (
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// Bounds.
const (
	MaxNameRunes        = 200
	MaxHoldingNameRunes = 200
	MaxDescriptionRunes = 2000
	MaxURLBytes         = 2048
	MaxKIDBytes         = 256
	MaxJWKBytes         = 16 << 10
	// MaxKeys bounds a bank's registered keys: a few for rotation, not a key per user.
	MaxKeys = 32
)

// Paths of the bank authorization service (guide §4), appended to Profile.AuthURL to default the three URLs.
const (
	UserAuthPath = "/user_auth"
	UserIDPath   = "/external_id"
	UserKeyPath  = "/key"
)

var stellarBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Stream is the stream of the counterparty with this GUID.
func Stream(guid uuid.UUID) string { return "counterparty-" + guid.String() }

// NameStream is the reservation stream of a counterparty name (see package uniqueness): names are unique
// across counterparties after uniqueness.Normalise.
func NameStream(name string) string { return uniqueness.Stream("counterparty-name-", name) }

// Profile is what a bank's administrator may change after registration.
type Profile struct {
	Name        string `json:"name"`
	HoldingName string `json:"holding_name,omitempty"`
	Description string `json:"description,omitempty"`
	// AuthURL is the base URL of the bank authorization service. When it is given, each of the three URLs
	// below that is empty defaults to AuthURL followed by the guide's path (/user_auth, /external_id, /key).
	AuthURL     string `json:"auth_url,omitempty"`
	UserAuthURL string `json:"user_auth_url,omitempty"`
	UserIDURL   string `json:"user_id_url,omitempty"`
	UserKeyURL  string `json:"user_key_url,omitempty"`
	// CallbackURL receives Kazna's callbacks (guide §12) and the multisig /sign request.
	CallbackURL string `json:"callback_url,omitempty"`
	AutoIssue   bool   `json:"auto_issue"`
	AutoBurn    bool   `json:"auto_burn"`
	Multisig    bool   `json:"multisig"`
}

// normalise checks p and returns it trimmed, with the three authorization URLs defaulted from AuthURL.
func (p Profile) normalise() (Profile, error) {
	var err error
	if p.Name, err = checkText("name", p.Name, MaxNameRunes, true); err != nil {
		return p, err
	}
	if p.HoldingName, err = checkText("holding_name", p.HoldingName, MaxHoldingNameRunes, false); err != nil {
		return p, err
	}
	if p.Description, err = checkText("description", p.Description, MaxDescriptionRunes, false); err != nil {
		return p, err
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"auth_url", &p.AuthURL}, {"user_auth_url", &p.UserAuthURL}, {"user_id_url", &p.UserIDURL}, {"user_key_url", &p.UserKeyURL}, {"callback_url", &p.CallbackURL}} {
		if *f.v, err = checkURL(f.name, *f.v); err != nil {
			return p, err
		}
	}
	if p.AuthURL != "" {
		u, _ := url.Parse(p.AuthURL) // checked above
		if u.RawQuery != "" {
			return p, invalid("auth_url", "a base URL must have no query")
		}
		base := strings.TrimRight(p.AuthURL, "/")
		for _, d := range []struct {
			v    *string
			path string
		}{{&p.UserAuthURL, UserAuthPath}, {&p.UserIDURL, UserIDPath}, {&p.UserKeyURL, UserKeyPath}} {
			if *d.v == "" {
				*d.v = base + d.path
			}
		}
	}
	return p, nil
}

// Key is a bank's registered public key.
type Key struct {
	GUID      string          `json:"guid"`
	KID       string          `json:"kid"`
	JWK       json.RawMessage `json:"jwk"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// State is a counterparty as its decisions need it.
type State struct {
	Exists                bool
	GUID                  string
	Profile               Profile
	AssetCode             string
	AssetIssuer           string
	EmissionAccountGUID   string
	ProcessingAccountGUID string
	Disabled              bool
	// Keys by GUID. Evolve replaces the map rather than writing into it, so that a State, once returned, never
	// changes under whoever holds it.
	Keys map[string]Key
	// SignerKeys are the bank's multisignature signer addresses (multisig.go); replaced, never written into.
	SignerKeys []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// keyByKID finds a key by kid.
func (s State) keyByKID(kid string) (Key, bool) {
	for _, k := range s.Keys {
		if k.KID == kid {
			return k, true
		}
	}
	return Key{}, false
}

// Commands. Time is passed in (At); GUIDs are chosen by the caller so that a retried request names the same
// objects.
type (
	Register struct {
		GUID                  uuid.UUID `json:"guid"`
		Profile               Profile   `json:"profile"`
		AssetCode             string    `json:"asset_code"`
		AssetIssuer           string    `json:"asset_issuer"`
		EmissionAccountGUID   uuid.UUID `json:"emission_account_guid"`
		ProcessingAccountGUID uuid.UUID `json:"processing_account_guid"`
		At                    time.Time `json:"at"`
	}
	// Update replaces the profile. A rename needs the new name's claim first (NameStream).
	Update struct {
		Profile Profile   `json:"profile"`
		At      time.Time `json:"at"`
	}
	Disable struct {
		At time.Time `json:"at"`
	}
	Enable struct {
		At time.Time `json:"at"`
	}
	// RegisterJWK registers a bank's public key. KeyGUID is the key's GUID in the API ("guid" of POST …/jwk).
	// A kid may be registered once per counterparty.
	RegisterJWK struct {
		KeyGUID uuid.UUID       `json:"key_guid"`
		KID     string          `json:"kid"`
		JWK     json.RawMessage `json:"jwk"`
		At      time.Time       `json:"at"`
	}
	// UpdateJWK replaces the key material of a registered key (rotation before expiry). KID may change, but
	// not to another key's kid.
	UpdateJWK struct {
		KeyGUID uuid.UUID       `json:"key_guid"`
		KID     string          `json:"kid"`
		JWK     json.RawMessage `json:"jwk"`
		At      time.Time       `json:"at"`
	}
)

// Event is an event of a counterparty stream. Each carries the counterparty's GUID so that a read model needs
// no stream-name parsing.
type Event interface{ isCounterpartyEvent() }

type (
	CounterpartyRegistered struct {
		GUID                  string    `json:"guid"`
		Profile               Profile   `json:"profile"`
		AssetCode             string    `json:"asset_code"`
		AssetIssuer           string    `json:"asset_issuer"`
		EmissionAccountGUID   string    `json:"emission_account_guid"`
		ProcessingAccountGUID string    `json:"processing_account_guid"`
		At                    time.Time `json:"at"`
	}
	CounterpartyUpdated struct {
		GUID    string    `json:"guid"`
		Profile Profile   `json:"profile"`
		At      time.Time `json:"at"`
	}
	CounterpartyDisabled struct {
		GUID string    `json:"guid"`
		At   time.Time `json:"at"`
	}
	CounterpartyEnabled struct {
		GUID string    `json:"guid"`
		At   time.Time `json:"at"`
	}
	BankKeyRegistered struct {
		CounterpartyGUID string          `json:"counterparty_guid"`
		KeyGUID          string          `json:"key_guid"`
		KID              string          `json:"kid"`
		JWK              json.RawMessage `json:"jwk"`
		At               time.Time       `json:"at"`
	}
	BankKeyUpdated struct {
		CounterpartyGUID string          `json:"counterparty_guid"`
		KeyGUID          string          `json:"key_guid"`
		KID              string          `json:"kid"`
		JWK              json.RawMessage `json:"jwk"`
		At               time.Time       `json:"at"`
	}
)

func (CounterpartyRegistered) isCounterpartyEvent() {}
func (CounterpartyUpdated) isCounterpartyEvent()    {}
func (CounterpartyDisabled) isCounterpartyEvent()   {}
func (CounterpartyEnabled) isCounterpartyEvent()    {}
func (BankKeyRegistered) isCounterpartyEvent()      {}
func (BankKeyUpdated) isCounterpartyEvent()         {}

// Evolve folds one event into the state.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case CounterpartyRegistered:
		s = State{Exists: true, GUID: e.GUID, Profile: e.Profile, AssetCode: e.AssetCode, AssetIssuer: e.AssetIssuer,
			EmissionAccountGUID: e.EmissionAccountGUID, ProcessingAccountGUID: e.ProcessingAccountGUID,
			CreatedAt: e.At, UpdatedAt: e.At}
	case CounterpartyUpdated:
		s.Profile, s.UpdatedAt = e.Profile, e.At
	case CounterpartyDisabled:
		s.Disabled, s.UpdatedAt = true, e.At
	case CounterpartyEnabled:
		s.Disabled, s.UpdatedAt = false, e.At
	case BankKeyRegistered:
		s.Keys = withKey(s.Keys, Key{GUID: e.KeyGUID, KID: e.KID, JWK: e.JWK, CreatedAt: e.At, UpdatedAt: e.At})
	case BankKeyUpdated:
		k := s.Keys[e.KeyGUID]
		k.GUID, k.KID, k.JWK, k.UpdatedAt = e.KeyGUID, e.KID, e.JWK, e.At
		s.Keys = withKey(s.Keys, k)
	case CounterpartySignerKeysSet:
		s.SignerKeys, s.UpdatedAt = e.Addresses, e.At
	}
	return s
}

func withKey(keys map[string]Key, k Key) map[string]Key {
	out := maps.Clone(keys)
	if out == nil {
		out = map[string]Key{}
	}
	out[k.GUID] = k
	return out
}

// Decide decides a command in a state.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Register:
		return decideRegister(s, c)
	case Update:
		if !s.Exists {
			return nil, ErrNotFound
		}
		p, err := c.Profile.normalise()
		if err != nil {
			return nil, err
		}
		if p == s.Profile {
			return nil, nil
		}
		return []Event{CounterpartyUpdated{GUID: s.GUID, Profile: p, At: c.At}}, nil
	case Disable:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Disabled {
			return nil, nil
		}
		return []Event{CounterpartyDisabled{GUID: s.GUID, At: c.At}}, nil
	case Enable:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if !s.Disabled {
			return nil, nil
		}
		return []Event{CounterpartyEnabled{GUID: s.GUID, At: c.At}}, nil
	case RegisterJWK:
		return decideRegisterJWK(s, c)
	case UpdateJWK:
		return decideUpdateJWK(s, c)
	case SetSignerKeys:
		return decideSignerKeys(s, c)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func decideRegister(s State, c Register) ([]Event, error) {
	if err := checkGUID("guid", c.GUID); err != nil {
		return nil, err
	}
	if s.Exists {
		return nil, ErrAlreadyExists
	}
	p, err := c.Profile.normalise()
	if err != nil {
		return nil, err
	}
	if err := checkAssetCode(c.AssetCode); err != nil {
		return nil, err
	}
	if err := checkAccountID("asset_issuer", c.AssetIssuer); err != nil {
		return nil, err
	}
	if err := checkGUID("emission_account_guid", c.EmissionAccountGUID); err != nil {
		return nil, err
	}
	if err := checkGUID("processing_account_guid", c.ProcessingAccountGUID); err != nil {
		return nil, err
	}
	if c.EmissionAccountGUID == c.ProcessingAccountGUID || c.EmissionAccountGUID == c.GUID || c.ProcessingAccountGUID == c.GUID {
		return nil, invalid("processing_account_guid", "the counterparty, emission and processing GUIDs must differ")
	}
	return []Event{CounterpartyRegistered{
		GUID: c.GUID.String(), Profile: p, AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer,
		EmissionAccountGUID: c.EmissionAccountGUID.String(), ProcessingAccountGUID: c.ProcessingAccountGUID.String(),
		At: c.At,
	}}, nil
}

func decideRegisterJWK(s State, c RegisterJWK) ([]Event, error) {
	if !s.Exists {
		return nil, ErrNotFound
	}
	if err := checkGUID("key_guid", c.KeyGUID); err != nil {
		return nil, err
	}
	if err := checkKID(c.KID); err != nil {
		return nil, err
	}
	jwk, err := checkJWK(c.KID, c.JWK)
	if err != nil {
		return nil, err
	}
	if _, dup := s.Keys[c.KeyGUID.String()]; dup {
		return nil, fmt.Errorf("%w: key GUID %s is registered", ErrAlreadyExists, c.KeyGUID)
	}
	if _, dup := s.keyByKID(c.KID); dup {
		return nil, &KeyExists{KID: c.KID}
	}
	if len(s.Keys) >= MaxKeys {
		return nil, ErrTooManyKeys
	}
	return []Event{BankKeyRegistered{CounterpartyGUID: s.GUID, KeyGUID: c.KeyGUID.String(), KID: c.KID, JWK: jwk, At: c.At}}, nil
}

func decideUpdateJWK(s State, c UpdateJWK) ([]Event, error) {
	if !s.Exists {
		return nil, ErrNotFound
	}
	if err := checkGUID("key_guid", c.KeyGUID); err != nil {
		return nil, err
	}
	if err := checkKID(c.KID); err != nil {
		return nil, err
	}
	jwk, err := checkJWK(c.KID, c.JWK)
	if err != nil {
		return nil, err
	}
	k, ok := s.Keys[c.KeyGUID.String()]
	if !ok {
		return nil, ErrKeyNotFound
	}
	if other, dup := s.keyByKID(c.KID); dup && other.GUID != k.GUID {
		return nil, &KeyExists{KID: c.KID}
	}
	if k.KID == c.KID && string(k.JWK) == string(jwk) {
		return nil, nil
	}
	return []Event{BankKeyUpdated{CounterpartyGUID: s.GUID, KeyGUID: k.GUID, KID: c.KID, JWK: jwk, At: c.At}}, nil
}

// KeyExists is a kid already registered for the counterparty; it matches ErrKeyExists.
type KeyExists struct{ KID string }

func (e *KeyExists) Error() string {
	return "counterparty: kid " + quote(e.KID) + " is already registered"
}
func (e *KeyExists) Unwrap() error { return ErrKeyExists }

// Decider is the counterparty aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of counterparty streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, CounterpartyRegistered](r, "CounterpartyRegistered"),
		command.Register[Event, CounterpartyUpdated](r, "CounterpartyUpdated"),
		command.Register[Event, CounterpartyDisabled](r, "CounterpartyDisabled"),
		command.Register[Event, CounterpartyEnabled](r, "CounterpartyEnabled"),
		command.Register[Event, BankKeyRegistered](r, "BankKeyRegistered"),
		command.Register[Event, BankKeyUpdated](r, "BankKeyUpdated"),
		command.Register[Event, CounterpartySignerKeysSet](r, "CounterpartySignerKeysSet"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Counterparty", "BankKey"}
