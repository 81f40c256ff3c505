package projections

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Counterparty is a bank as the counterparties read model shows it.
type Counterparty struct {
	GUID                  string
	Name                  string
	HoldingName           string
	Description           string
	AssetCode             string
	AssetIssuer           string
	EmissionAccountGUID   string
	ProcessingAccountGUID string
	AuthURL               string
	UserAuthURL           string
	UserIDURL             string
	UserKeyURL            string
	CallbackURL           string
	AutoIssue             bool
	AutoBurn              bool
	Multisig              bool
	Disabled              bool
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// BankKey is a bank's registered public key as GET …/jwk lists it.
type BankKey struct {
	GUID      string
	KID       string
	JWK       json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CounterpartyQuery filters and pages the counterparties list. Filters of one kind match any of their values;
// filters of different kinds must all match.
type CounterpartyQuery struct {
	GUIDs        []string
	Names        []string // as uniqueness.Normalise compares them
	HoldingNames []string
	ListPage
}

// Counterparties is the read model of banks and their keys. It satisfies auth.BankKeyFinder.
type Counterparties struct {
	known map[string]bool

	mu     sync.RWMutex
	byGUID map[string]*Counterparty
	keys   map[string]map[string]*bankKeyRow // counterparty GUID → key GUID → key
}

type bankKeyRow struct {
	BankKey
	public   *rsa.PublicKey
	parseErr error // a stored key that does not parse is reported at lookup, never fatal to the Runner
}

// NewCounterparties returns an empty read model; feed it to a Runner.
func NewCounterparties() *Counterparties {
	return &Counterparties{known: knownTypes(counterparty.Events.Types()), byGUID: map[string]*Counterparty{}, keys: map[string]map[string]*bankKeyRow{}}
}

func (p *Counterparties) Name() string { return "counterparties" }

func (p *Counterparties) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: counterparty.EventTypePrefixes}
}

func (p *Counterparties) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := counterparty.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := e.(type) {
	case counterparty.CounterpartyRegistered:
		c := &Counterparty{GUID: e.GUID, AssetCode: e.AssetCode, AssetIssuer: e.AssetIssuer,
			EmissionAccountGUID: e.EmissionAccountGUID, ProcessingAccountGUID: e.ProcessingAccountGUID, CreatedAt: e.At}
		setProfile(c, e.Profile, e.At)
		p.byGUID[e.GUID] = c
	case counterparty.CounterpartyUpdated:
		if c := p.byGUID[e.GUID]; c != nil {
			setProfile(c, e.Profile, e.At)
		}
	case counterparty.CounterpartyDisabled:
		if c := p.byGUID[e.GUID]; c != nil {
			c.Disabled, c.UpdatedAt = true, e.At
		}
	case counterparty.CounterpartyEnabled:
		if c := p.byGUID[e.GUID]; c != nil {
			c.Disabled, c.UpdatedAt = false, e.At
		}
	case counterparty.BankKeyRegistered:
		p.putKey(e.CounterpartyGUID, BankKey{GUID: e.KeyGUID, KID: e.KID, JWK: e.JWK, CreatedAt: e.At, UpdatedAt: e.At})
	case counterparty.BankKeyUpdated:
		k := BankKey{GUID: e.KeyGUID, KID: e.KID, JWK: e.JWK, CreatedAt: e.At, UpdatedAt: e.At}
		if old := p.keys[e.CounterpartyGUID][e.KeyGUID]; old != nil {
			k.CreatedAt = old.CreatedAt
		}
		p.putKey(e.CounterpartyGUID, k)
	}
	return nil
}

func setProfile(c *Counterparty, pr counterparty.Profile, at time.Time) {
	c.Name, c.HoldingName, c.Description = pr.Name, pr.HoldingName, pr.Description
	c.AuthURL, c.UserAuthURL, c.UserIDURL, c.UserKeyURL, c.CallbackURL = pr.AuthURL, pr.UserAuthURL, pr.UserIDURL, pr.UserKeyURL, pr.CallbackURL
	c.AutoIssue, c.AutoBurn, c.Multisig = pr.AutoIssue, pr.AutoBurn, pr.Multisig
	c.UpdatedAt = at
}

func (p *Counterparties) putKey(cp string, k BankKey) {
	keys := p.keys[cp]
	if keys == nil {
		keys = map[string]*bankKeyRow{}
		p.keys[cp] = keys
	}
	row := &bankKeyRow{BankKey: k}
	row.public, row.parseErr = parseRSAJWK(k.JWK)
	keys[k.GUID] = row
}

// Counterparty returns one counterparty by GUID.
func (p *Counterparties) Counterparty(_ context.Context, guid string) (Counterparty, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	c := p.byGUID[strings.ToLower(guid)]
	if c == nil {
		return Counterparty{}, false
	}
	return *c, true
}

// List returns a page of the counterparties that match q, and how many match in all.
func (p *Counterparties) List(_ context.Context, q CounterpartyQuery) ([]Counterparty, int, error) {
	page, err := q.check()
	if err != nil {
		return nil, 0, err
	}
	guids, err := guidSet("guids", q.GUIDs)
	if err != nil {
		return nil, 0, err
	}
	names, err := nameSet("names", q.Names)
	if err != nil {
		return nil, 0, err
	}
	holdings, err := nameSet("holding_names", q.HoldingNames)
	if err != nil {
		return nil, 0, err
	}
	p.mu.RLock()
	var out []Counterparty
	for _, c := range p.byGUID {
		if guids.matchGUID(c.GUID) && names.matchName(c.Name) && holdings.matchName(c.HoldingName) {
			out = append(out, *c)
		}
	}
	p.mu.RUnlock()
	items, total := listed(out, func(c Counterparty) (time.Time, string) { return c.CreatedAt, c.GUID }, page)
	return items, total, nil
}

// BankKeys returns a counterparty's registered keys, oldest first.
func (p *Counterparties) BankKeys(_ context.Context, counterpartyGUID string) []BankKey {
	p.mu.RLock()
	var out []BankKey
	for _, k := range p.keys[strings.ToLower(counterpartyGUID)] {
		out = append(out, k.BankKey)
	}
	p.mu.RUnlock()
	items, _ := listed(out, func(k BankKey) (time.Time, string) { return k.CreatedAt, k.GUID }, ListPage{Limit: counterparty.MaxKeys})
	return items
}

// BankKey returns the public key kid of counterpartyGUID, for auth.VerifyBankJWT. It answers nil, nil when the
// counterparty has no such key, or is unknown or disabled (a disabled bank's tokens are refused), and an error
// when the stored key does not parse.
func (p *Counterparties) BankKey(_ context.Context, counterpartyGUID, kid string) (*rsa.PublicKey, error) {
	cp := strings.ToLower(counterpartyGUID)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if c := p.byGUID[cp]; c == nil || c.Disabled {
		return nil, nil
	}
	for _, k := range p.keys[cp] {
		if k.KID != kid {
			continue
		}
		if k.parseErr != nil {
			return nil, k.parseErr
		}
		// A copy, so that no caller can change the key the next caller gets.
		return &rsa.PublicKey{N: new(big.Int).Set(k.public.N), E: k.public.E}, nil
	}
	return nil, nil
}

// Bounds of a stored bank key, as auth checks them when the key is registered.
const (
	minBankKeyBits = 2048
	maxBankKeyBits = 8192
)

var errBadBankKey = errors.New("projections: stored bank key does not parse")

// parseRSAJWK reads the n and e of a public JWK (unpadded base64url big-endian integers, RFC 7518 §6.3.1).
func parseRSAJWK(jwk json.RawMessage) (*rsa.PublicKey, error) {
	var k struct {
		Kty string `json:"kty"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	if err := json.Unmarshal(jwk, &k); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadBankKey, err)
	}
	if k.Kty != "RSA" || len(k.N) > maxBankKeyBits/6+4 || len(k.E) > 8 {
		return nil, fmt.Errorf("%w: not an RSA key of at most %d bits", errBadBankKey, maxBankKeyBits)
	}
	nb, errN := base64.RawURLEncoding.Strict().DecodeString(k.N)
	eb, errE := base64.RawURLEncoding.Strict().DecodeString(k.E)
	if errN != nil || errE != nil {
		return nil, fmt.Errorf("%w: n and e must be unpadded base64url", errBadBankKey)
	}
	n, e := new(big.Int).SetBytes(nb), new(big.Int).SetBytes(eb)
	if bits := n.BitLen(); bits < minBankKeyBits || bits > maxBankKeyBits || n.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: modulus of %d bits, want an odd one of %d to %d", errBadBankKey, n.BitLen(), minBankKeyBits, maxBankKeyBits)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: exponent must be odd, 3 to 2^31-1", errBadBankKey)
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}
