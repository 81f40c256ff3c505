package account

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/kazna-ledger/kazna/command"
)

// Kind is what an account is for.
type Kind string

const (
	// KindEmission is a counterparty's emission (identification) entity: it receives issued e-money.
	KindEmission Kind = "emission"
	// KindProcessing is a counterparty's processing entity.
	KindProcessing Kind = "processing"
)

// maxSealedBytes bounds a sealed seed: a 56-byte Stellar seed plus custody's envelope is far below it.
const maxSealedBytes = 4096

var (
	ErrNotFound       = errors.New("account: not found")
	ErrAlreadyExists  = errors.New("account: already exists with another key or owner")
	ErrNotGenerated   = errors.New("account: no key recorded yet")
	ErrUnknownCommand = errors.New("account: unknown command")
	ErrInvalid        = errors.New("account: invalid command")
)

// Stream is the stream of the account with this GUID.
func Stream(guid uuid.UUID) string { return "account-" + guid.String() }

// Commands.
type (
	// GenerateKey records the account's address and sealed seed, before anything happens on chain.
	// Repeating it with the same kind, counterparty and address is a no-op, so that a retried request
	// that had recorded its key continues with it.
	GenerateKey struct {
		GUID             uuid.UUID `json:"guid"`
		Kind             Kind      `json:"kind"`
		CounterpartyGUID uuid.UUID `json:"counterparty_guid"`
		Address          string    `json:"address"`
		SealedSeed       []byte    `json:"sealed_seed"`
		At               time.Time `json:"at"`
	}
	// RecordOpened records that the account exists on chain with an authorized trustline to the asset.
	RecordOpened struct {
		AssetCode   string    `json:"asset_code"`
		AssetIssuer string    `json:"asset_issuer"`
		At          time.Time `json:"at"`
	}
)

// Event is an event of an account stream.
type Event interface{ isAccountEvent() }

type (
	AccountKeyGenerated struct {
		GUID             string    `json:"guid"`
		Kind             Kind      `json:"kind"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Address          string    `json:"address"`
		SealedSeed       []byte    `json:"sealed_seed"`
		At               time.Time `json:"at"`
	}
	AccountOpened struct {
		GUID             string    `json:"guid"`
		Kind             Kind      `json:"kind"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Address          string    `json:"address"`
		AssetCode        string    `json:"asset_code"`
		AssetIssuer      string    `json:"asset_issuer"`
		At               time.Time `json:"at"`
	}
)

func (AccountKeyGenerated) isAccountEvent() {}
func (AccountOpened) isAccountEvent()       {}

// State is an account as its decisions need it.
type State struct {
	GUID             string
	Kind             Kind
	CounterpartyGUID string
	Address          string
	SealedSeed       []byte
	Opened           bool
	AssetCode        string
	AssetIssuer      string
}

// Generated reports whether the account's key is recorded.
func (s State) Generated() bool { return s.Address != "" }

// Evolve folds one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case AccountKeyGenerated:
		s = State{GUID: e.GUID, Kind: e.Kind, CounterpartyGUID: e.CounterpartyGUID, Address: e.Address,
			SealedSeed: slices.Clone(e.SealedSeed)}
	case AccountOpened:
		s.Opened, s.AssetCode, s.AssetIssuer = true, e.AssetCode, e.AssetIssuer
	}
	return s
}

// Decide decides a command.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case GenerateKey:
		if c.GUID == uuid.Nil || c.CounterpartyGUID == uuid.Nil {
			return nil, fmt.Errorf("%w: guid and counterparty_guid are required", ErrInvalid)
		}
		if c.Kind != KindEmission && c.Kind != KindProcessing {
			return nil, fmt.Errorf("%w: kind %.20q", ErrInvalid, c.Kind)
		}
		if !strkey.IsValidEd25519PublicKey(c.Address) {
			return nil, fmt.Errorf("%w: address is not a Stellar account ID", ErrInvalid)
		}
		if len(c.SealedSeed) == 0 || len(c.SealedSeed) > maxSealedBytes {
			return nil, fmt.Errorf("%w: sealed seed must be 1 to %d bytes", ErrInvalid, maxSealedBytes)
		}
		if s.Generated() {
			if s.Kind == c.Kind && s.CounterpartyGUID == c.CounterpartyGUID.String() && s.Address == c.Address {
				return nil, nil
			}
			return nil, ErrAlreadyExists
		}
		return []Event{AccountKeyGenerated{GUID: c.GUID.String(), Kind: c.Kind, CounterpartyGUID: c.CounterpartyGUID.String(),
			Address: c.Address, SealedSeed: slices.Clone(c.SealedSeed), At: c.At}}, nil
	case RecordOpened:
		if !s.Generated() {
			return nil, ErrNotGenerated
		}
		if s.Opened {
			return nil, nil
		}
		if c.AssetCode == "" || !strkey.IsValidEd25519PublicKey(c.AssetIssuer) {
			return nil, fmt.Errorf("%w: asset code and issuer are required", ErrInvalid)
		}
		return []Event{AccountOpened{GUID: s.GUID, Kind: s.Kind, CounterpartyGUID: s.CounterpartyGUID, Address: s.Address,
			AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer, At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

// Decider is the account aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of account streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks both round-trip.
	_ = errors.Join(
		command.Register[Event, AccountKeyGenerated](r, "AccountKeyGenerated"),
		command.Register[Event, AccountOpened](r, "AccountOpened"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Account"}
