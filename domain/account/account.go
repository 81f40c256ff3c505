package account

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
)

// Kind is what an account is for.
type Kind string

const (
	// KindEmission is a counterparty's emission (identification) entity: it receives issued e-money.
	KindEmission Kind = "emission"
	// KindProcessing is a counterparty's processing entity.
	KindProcessing Kind = "processing"
	// KindCustomer is a customer's account: its seed is sealed under the customer's secret as well as the
	// platform's (custody.SealCustomerSeed), so Kazna cannot sign for it without the bank.
	KindCustomer Kind = "customer"
)

// Valid reports whether k is a kind Kazna opens.
func (k Kind) Valid() bool { return k == KindEmission || k == KindProcessing || k == KindCustomer }

// Bounds of an account's descriptive fields.
const (
	MaxIBANBytes      = 34 // ISO 13616
	MaxKeyKeeperBytes = 256
	MaxSegmentRunes   = 100
	MaxReasonRunes    = 500
)

// maxSealedBytes bounds a sealed seed: a 56-byte Stellar seed plus custody's envelope is far below it.
const maxSealedBytes = 4096

var (
	ErrNotFound       = errors.New("account: not found")
	ErrAlreadyExists  = errors.New("account: already exists with another key or owner")
	ErrNotGenerated   = errors.New("account: no key recorded yet")
	ErrUnknownCommand = errors.New("account: unknown command")
	ErrInvalid        = errors.New("account: invalid command")
	// ErrNotOpened is a change to an account that is not open on chain yet.
	ErrNotOpened = errors.New("account: not opened yet")
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
		Owner            Owner     `json:"owner"`
		At               time.Time `json:"at"`
	}
	// RecordOpened records that the account exists on chain with an authorized trustline to the asset.
	RecordOpened struct {
		AssetCode   string    `json:"asset_code"`
		AssetIssuer string    `json:"asset_issuer"`
		At          time.Time `json:"at"`
	}
	// Block stops the account from sending (and, on chain, deauthorizes its trustline: the app layer does
	// that before recording it, so a recorded block is also a block on chain).
	Block struct {
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	// Unblock reverses Block, once the trustline is authorized again.
	Unblock struct {
		At time.Time `json:"at"`
	}
	// SetSegment names the segment (guide §7.2) the account belongs to; empty takes it out of any.
	SetSegment struct {
		Segment string    `json:"segment"`
		At      time.Time `json:"at"`
	}
)

// Owner says whose account it is beyond its counterparty. All fields are optional: an entity of the bank
// itself has no customer, and an entity of the whole counterparty no branch.
type Owner struct {
	CustomerGUID   string `json:"customer_guid,omitempty"`
	BranchGUID     string `json:"branch_guid,omitempty"`
	IBAN           string `json:"iban,omitempty"`
	KeyKeeperLogin string `json:"key_keeper_login,omitempty"`
}

// Event is an event of an account stream.
type Event interface{ isAccountEvent() }

type (
	AccountKeyGenerated struct {
		GUID             string    `json:"guid"`
		Kind             Kind      `json:"kind"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Address          string    `json:"address"`
		SealedSeed       []byte    `json:"sealed_seed"`
		Owner            Owner     `json:"owner"`
		At               time.Time `json:"at"`
	}
	AccountOpened struct {
		GUID             string    `json:"guid"`
		Kind             Kind      `json:"kind"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Address          string    `json:"address"`
		AssetCode        string    `json:"asset_code"`
		AssetIssuer      string    `json:"asset_issuer"`
		Owner            Owner     `json:"owner"`
		At               time.Time `json:"at"`
	}
	AccountBlocked struct {
		GUID   string    `json:"guid"`
		Reason string    `json:"reason,omitempty"`
		At     time.Time `json:"at"`
	}
	AccountUnblocked struct {
		GUID string    `json:"guid"`
		At   time.Time `json:"at"`
	}
	AccountSegmentSet struct {
		GUID    string    `json:"guid"`
		Segment string    `json:"segment"`
		At      time.Time `json:"at"`
	}
)

func (AccountKeyGenerated) isAccountEvent() {}
func (AccountOpened) isAccountEvent()       {}
func (AccountBlocked) isAccountEvent()      {}
func (AccountUnblocked) isAccountEvent()    {}
func (AccountSegmentSet) isAccountEvent()   {}

// State is an account as its decisions need it.
type State struct {
	GUID             string
	Kind             Kind
	CounterpartyGUID string
	Address          string
	SealedSeed       []byte
	Owner            Owner
	Opened           bool
	AssetCode        string
	AssetIssuer      string
	Blocked          bool
	Segment          string
	Funds            Funds
}

// Generated reports whether the account's key is recorded.
func (s State) Generated() bool { return s.Address != "" }

// Evolve folds one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case AccountKeyGenerated:
		s = State{GUID: e.GUID, Kind: e.Kind, CounterpartyGUID: e.CounterpartyGUID, Address: e.Address,
			SealedSeed: slices.Clone(e.SealedSeed), Owner: e.Owner}
	case AccountOpened:
		s.Opened, s.AssetCode, s.AssetIssuer = true, e.AssetCode, e.AssetIssuer
	case AccountBlocked:
		s.Blocked = true
	case AccountUnblocked:
		s.Blocked = false
	case AccountSegmentSet:
		s.Segment = e.Segment
	case AccountKeyResealed:
		s.SealedSeed = slices.Clone(e.SealedSeed)
	case AccountFundsReserved, AccountFundsReleased, AccountDebited, AccountCredited:
		s = evolveFunds(s, e)
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
		if !c.Kind.Valid() {
			return nil, fmt.Errorf("%w: kind %.20q", ErrInvalid, c.Kind)
		}
		if err := c.Owner.check(c.Kind); err != nil {
			return nil, err
		}
		if !strkey.IsValidEd25519PublicKey(c.Address) {
			return nil, fmt.Errorf("%w: address is not a Stellar account ID", ErrInvalid)
		}
		if len(c.SealedSeed) == 0 || len(c.SealedSeed) > maxSealedBytes {
			return nil, fmt.Errorf("%w: sealed seed must be 1 to %d bytes", ErrInvalid, maxSealedBytes)
		}
		if s.Generated() {
			if s.Kind == c.Kind && s.CounterpartyGUID == c.CounterpartyGUID.String() && s.Address == c.Address && s.Owner == c.Owner {
				return nil, nil
			}
			return nil, ErrAlreadyExists
		}
		return []Event{AccountKeyGenerated{GUID: c.GUID.String(), Kind: c.Kind, CounterpartyGUID: c.CounterpartyGUID.String(),
			Address: c.Address, SealedSeed: slices.Clone(c.SealedSeed), Owner: c.Owner, At: c.At}}, nil
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
			AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer, Owner: s.Owner, At: c.At}}, nil
	case Block:
		if !s.Opened {
			return nil, ErrNotOpened
		}
		if s.Blocked {
			return nil, nil
		}
		reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: MaxReasonRunes})
		if err != nil {
			return nil, fmt.Errorf("%w: reason %v", ErrInvalid, err)
		}
		return []Event{AccountBlocked{GUID: s.GUID, Reason: reason, At: c.At}}, nil
	case Unblock:
		if !s.Opened {
			return nil, ErrNotOpened
		}
		if !s.Blocked {
			return nil, nil
		}
		return []Event{AccountUnblocked{GUID: s.GUID, At: c.At}}, nil
	case SetSegment:
		if !s.Opened {
			return nil, ErrNotOpened
		}
		seg, err := text.Clean(c.Segment, text.Rule{MaxRunes: MaxSegmentRunes})
		if err != nil {
			return nil, fmt.Errorf("%w: segment %v", ErrInvalid, err)
		}
		if seg == s.Segment {
			return nil, nil
		}
		return []Event{AccountSegmentSet{GUID: s.GUID, Segment: seg, At: c.At}}, nil
	case ResealKey:
		return decideReseal(s, c)
	}
	if evs, ok, err := decideFunds(s, cmd); ok {
		return evs, err
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

// check enforces who may own which kind: a customer account has a customer and no key keeper (the
// customer's own secret protects it); an emission entity belongs to the whole counterparty (guide §8: branch
// accounts are processing only). The IBAN's check digits are the app layer's to verify (package iban);
// here only its size is bounded.
func (o Owner) check(k Kind) error {
	for _, g := range []struct{ field, v string }{{"customer_guid", o.CustomerGUID}, {"branch_guid", o.BranchGUID}} {
		if g.v == "" {
			continue
		}
		if id, err := uuid.Parse(g.v); err != nil || id == uuid.Nil || id.String() != g.v {
			return fmt.Errorf("%w: %s is not a canonical GUID", ErrInvalid, g.field)
		}
	}
	switch {
	case k == KindCustomer && o.CustomerGUID == "":
		return fmt.Errorf("%w: a customer account needs its customer", ErrInvalid)
	case k != KindCustomer && o.CustomerGUID != "":
		return fmt.Errorf("%w: only a customer account has a customer", ErrInvalid)
	case k == KindEmission && o.BranchGUID != "":
		return fmt.Errorf("%w: a branch account can only be a processing account", ErrInvalid)
	case k == KindCustomer && o.KeyKeeperLogin != "":
		return fmt.Errorf("%w: a customer account has no key keeper", ErrInvalid)
	case len(o.IBAN) > MaxIBANBytes || len(o.KeyKeeperLogin) > MaxKeyKeeperBytes:
		return fmt.Errorf("%w: iban or key_keeper_login too long", ErrInvalid)
	}
	return nil
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
		command.Register[Event, AccountBlocked](r, "AccountBlocked"),
		command.Register[Event, AccountUnblocked](r, "AccountUnblocked"),
		command.Register[Event, AccountSegmentSet](r, "AccountSegmentSet"),
		command.Register[Event, AccountKeyResealed](r, "AccountKeyResealed"),
		command.Register[Event, AccountFundsReserved](r, "AccountFundsReserved"),
		command.Register[Event, AccountFundsReleased](r, "AccountFundsReleased"),
		command.Register[Event, AccountDebited](r, "AccountDebited"),
		command.Register[Event, AccountCredited](r, "AccountCredited"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Account"}
