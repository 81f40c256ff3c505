package application

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
)

// Bounds.
const (
	MaxNameRunes        = 200
	MaxDescriptionRunes = 2000
	MaxReasonRunes      = 500
	// MaxGrace bounds how long a replaced secret keeps working: long enough to roll a fleet of servers, short
	// enough that a leaked secret is not usable for long after its replacement.
	MaxGrace = 7 * 24 * time.Hour
	// SecretHashBytes is the size of a stored secret hash (SHA-256).
	SecretHashBytes = 32
)

var (
	ErrNotFound      = errors.New("application: not found")
	ErrAlreadyExists = errors.New("application: already exists")
	// ErrDeleted is any command to a deleted application: it is gone for good.
	ErrDeleted = errors.New("application: deleted")
	// ErrDisabled is a subscription asked for a disabled application.
	ErrDisabled = errors.New("application: disabled")
	// ErrNotSubscribed is an unsubscription from a product the application neither has nor asked for.
	ErrNotSubscribed = errors.New("application: not subscribed to the product")
	// ErrNoRequest is an approval or rejection with no pending request for the product.
	ErrNoRequest      = errors.New("application: no pending subscription request for the product")
	ErrUnknownCommand = errors.New("application: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("application: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Stream is the stream of the application with this GUID.
func Stream(guid uuid.UUID) string { return "application-" + guid.String() }

// Secret is one client secret that may still be used, as its hash.
type Secret struct {
	Version int
	Hash    string // hex SHA-256, as auth.HashClientSecret makes it
	// ValidUntil is when a replaced secret stops working; zero for the current secret.
	ValidUntil time.Time
}

// Subscription is where an application stands with one product.
type Subscription struct {
	// Plan is the plan of the active subscription; "" when there is none.
	Plan  string
	Since time.Time
	// RequestedPlan is the plan of a pending request (sensitive products); "" when none is pending.
	RequestedPlan string
	RequestedAt   time.Time
	// The platform's last decision on a request.
	Rejected  bool
	Reason    string
	DecidedBy string
	DecidedAt time.Time
}

// State is an application.
type State struct {
	Exists       bool
	GUID         string
	Counterparty string
	Name         string
	Description  string
	Disabled     bool
	Deleted      bool
	// Secrets are the secrets that may still work: the current one last, and at most one replaced secret in
	// its grace period before it. Evolve replaces the slice rather than writing into it.
	Secrets       []Secret
	SecretVersion int
	// Subscriptions by product. Evolve replaces the map rather than writing into it, so that a State, once
	// returned, never changes under whoever holds it.
	Subscriptions map[Product]Subscription
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// SecretMatches reports which live secret hash equals hash at now, comparing every live secret in constant
// time so that the answer's timing tells nothing about which one (or how much of it) matched.
func (s State) SecretMatches(hash []byte, now time.Time) (version int, ok bool) {
	for _, sec := range s.Secrets {
		stored, err := hex.DecodeString(sec.Hash)
		if err != nil || len(stored) != len(hash) {
			continue
		}
		live := sec.ValidUntil.IsZero() || now.Before(sec.ValidUntil)
		if subtle.ConstantTimeCompare(stored, hash) == 1 && live {
			version, ok = sec.Version, true
		}
	}
	return version, ok
}

// SecretLive reports whether the secret of version may still be used at now (tokens carry the version of the
// secret they were obtained with, so that revoking a secret also revokes its tokens).
func (s State) SecretLive(version int, now time.Time) bool {
	for _, sec := range s.Secrets {
		if sec.Version == version {
			return sec.ValidUntil.IsZero() || now.Before(sec.ValidUntil)
		}
	}
	return false
}

// Active is the set of products the application may call now.
func (s State) Active() ProductSet {
	var set ProductSet
	for p, sub := range s.Subscriptions {
		if sub.Plan != "" {
			set = set.With(p)
		}
	}
	return set
}

// Commands. Time comes in At.
type (
	Register struct {
		GUID         uuid.UUID `json:"guid"`
		Counterparty uuid.UUID `json:"counterparty_guid"`
		Name         string    `json:"name"`
		Description  string    `json:"description"`
		SecretHash   string    `json:"secret_hash"`
		At           time.Time `json:"at"`
	}
	Disable struct {
		At time.Time `json:"at"`
	}
	Enable struct {
		At time.Time `json:"at"`
	}
	// Delete removes the application for good: its credentials stop working and its subscriptions end.
	Delete struct {
		At time.Time `json:"at"`
	}
	// ReissueSecret replaces the current secret. The replaced one works for Grace more (0: it stops at once);
	// an older one still in its grace period stops at once.
	ReissueSecret struct {
		SecretHash string        `json:"secret_hash"`
		Grace      time.Duration `json:"grace"`
		At         time.Time     `json:"at"`
	}
	// Subscribe asks for product on plan: granted at once, or a request when the product is sensitive. Asking
	// again with another plan changes the plan (for a sensitive product, after approval).
	Subscribe struct {
		Product Product   `json:"product"`
		Plan    string    `json:"plan"`
		At      time.Time `json:"at"`
	}
	// Unsubscribe ends the subscription to product and withdraws a pending request.
	Unsubscribe struct {
		Product Product   `json:"product"`
		At      time.Time `json:"at"`
	}
	// Approve grants a pending request; By is the platform administrator.
	Approve struct {
		Product Product   `json:"product"`
		By      string    `json:"by"`
		At      time.Time `json:"at"`
	}
	// Reject refuses a pending request with a reason the bank will read.
	Reject struct {
		Product Product   `json:"product"`
		By      string    `json:"by"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
)

// Event is an event of an application stream; every type name starts with "Application".
type Event interface{ isApplicationEvent() }

// Events of an application. Each names the application and its bank, so that a reader needs no stream-name
// parsing.
type (
	ApplicationRegistered struct {
		GUID          string    `json:"guid"`
		Counterparty  string    `json:"counterparty_guid"`
		Name          string    `json:"name"`
		Description   string    `json:"description"`
		SecretHash    string    `json:"secret_hash"`
		SecretVersion int       `json:"secret_version"`
		At            time.Time `json:"at"`
	}
	ApplicationDisabled struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		At           time.Time `json:"at"`
	}
	ApplicationEnabled struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		At           time.Time `json:"at"`
	}
	ApplicationDeleted struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		At           time.Time `json:"at"`
	}
	ApplicationSecretReissued struct {
		GUID          string `json:"guid"`
		Counterparty  string `json:"counterparty_guid"`
		SecretHash    string `json:"secret_hash"`
		SecretVersion int    `json:"secret_version"`
		// PreviousValidUntil is when the replaced secret stops working (At when it stopped at once).
		PreviousValidUntil time.Time `json:"previous_valid_until"`
		At                 time.Time `json:"at"`
	}
	// ApplicationSubscribed grants a product at once (or changes the plan of a granted one).
	ApplicationSubscribed struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		Product      Product   `json:"product"`
		Plan         string    `json:"plan"`
		At           time.Time `json:"at"`
	}
	ApplicationSubscriptionRequested struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		Product      Product   `json:"product"`
		Plan         string    `json:"plan"`
		At           time.Time `json:"at"`
	}
	ApplicationSubscriptionApproved struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		Product      Product   `json:"product"`
		Plan         string    `json:"plan"`
		By           string    `json:"by"`
		At           time.Time `json:"at"`
	}
	ApplicationSubscriptionRejected struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		Product      Product   `json:"product"`
		Plan         string    `json:"plan"`
		By           string    `json:"by"`
		Reason       string    `json:"reason"`
		At           time.Time `json:"at"`
	}
	ApplicationUnsubscribed struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty_guid"`
		Product      Product   `json:"product"`
		At           time.Time `json:"at"`
	}
)

func (ApplicationRegistered) isApplicationEvent()            {}
func (ApplicationDisabled) isApplicationEvent()              {}
func (ApplicationEnabled) isApplicationEvent()               {}
func (ApplicationDeleted) isApplicationEvent()               {}
func (ApplicationSecretReissued) isApplicationEvent()        {}
func (ApplicationSubscribed) isApplicationEvent()            {}
func (ApplicationSubscriptionRequested) isApplicationEvent() {}
func (ApplicationSubscriptionApproved) isApplicationEvent()  {}
func (ApplicationSubscriptionRejected) isApplicationEvent()  {}
func (ApplicationUnsubscribed) isApplicationEvent()          {}

// Evolve folds one event into the state.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case ApplicationRegistered:
		return State{Exists: true, GUID: e.GUID, Counterparty: e.Counterparty, Name: e.Name, Description: e.Description,
			Secrets: []Secret{{Version: e.SecretVersion, Hash: e.SecretHash}}, SecretVersion: e.SecretVersion,
			Subscriptions: map[Product]Subscription{}, CreatedAt: e.At, UpdatedAt: e.At}
	case ApplicationDisabled:
		s.Disabled, s.UpdatedAt = true, e.At
	case ApplicationEnabled:
		s.Disabled, s.UpdatedAt = false, e.At
	case ApplicationDeleted:
		s.Deleted, s.UpdatedAt = true, e.At
		s.Secrets, s.Subscriptions = nil, map[Product]Subscription{}
	case ApplicationSecretReissued:
		var secrets []Secret
		if n := len(s.Secrets); n > 0 && e.PreviousValidUntil.After(e.At) {
			prev := s.Secrets[n-1]
			prev.ValidUntil = e.PreviousValidUntil
			secrets = append(secrets, prev)
		}
		s.Secrets = append(secrets, Secret{Version: e.SecretVersion, Hash: e.SecretHash})
		s.SecretVersion, s.UpdatedAt = e.SecretVersion, e.At
	case ApplicationSubscribed:
		s = s.withSubscription(e.Product, func(sub Subscription) Subscription {
			sub.Plan, sub.Since = e.Plan, e.At
			return sub
		}, e.At)
	case ApplicationSubscriptionRequested:
		s = s.withSubscription(e.Product, func(sub Subscription) Subscription {
			sub.RequestedPlan, sub.RequestedAt = e.Plan, e.At
			return sub
		}, e.At)
	case ApplicationSubscriptionApproved:
		s = s.withSubscription(e.Product, func(sub Subscription) Subscription {
			sub.Plan, sub.Since, sub.RequestedPlan = e.Plan, e.At, ""
			sub.Rejected, sub.Reason, sub.DecidedBy, sub.DecidedAt = false, "", e.By, e.At
			return sub
		}, e.At)
	case ApplicationSubscriptionRejected:
		s = s.withSubscription(e.Product, func(sub Subscription) Subscription {
			sub.RequestedPlan = ""
			sub.Rejected, sub.Reason, sub.DecidedBy, sub.DecidedAt = true, e.Reason, e.By, e.At
			return sub
		}, e.At)
	case ApplicationUnsubscribed:
		subs := maps.Clone(s.Subscriptions)
		delete(subs, e.Product)
		s.Subscriptions, s.UpdatedAt = subs, e.At
	}
	return s
}

func (s State) withSubscription(p Product, change func(Subscription) Subscription, at time.Time) State {
	subs := maps.Clone(s.Subscriptions)
	if subs == nil {
		subs = map[Product]Subscription{}
	}
	subs[p] = change(subs[p])
	s.Subscriptions, s.UpdatedAt = subs, at
	return s
}

// Decide decides a command in a state.
func Decide(s State, cmd any) ([]Event, error) {
	if c, ok := cmd.(Register); ok {
		return register(s, c)
	}
	if !s.Exists {
		return nil, ErrNotFound
	}
	if s.Deleted {
		if _, ok := cmd.(Delete); ok {
			return nil, nil
		}
		return nil, ErrDeleted
	}
	id, cp := s.GUID, s.Counterparty
	switch c := cmd.(type) {
	case Disable:
		if s.Disabled {
			return nil, nil
		}
		return []Event{ApplicationDisabled{GUID: id, Counterparty: cp, At: c.At}}, nil
	case Enable:
		if !s.Disabled {
			return nil, nil
		}
		return []Event{ApplicationEnabled{GUID: id, Counterparty: cp, At: c.At}}, nil
	case Delete:
		return []Event{ApplicationDeleted{GUID: id, Counterparty: cp, At: c.At}}, nil
	case ReissueSecret:
		if err := checkHash(c.SecretHash); err != nil {
			return nil, err
		}
		if c.Grace < 0 || c.Grace > MaxGrace {
			return nil, &ErrInvalid{Field: "grace", Reason: fmt.Sprintf("must be between 0 and %v", MaxGrace)}
		}
		return []Event{ApplicationSecretReissued{GUID: id, Counterparty: cp, SecretHash: c.SecretHash,
			SecretVersion: s.SecretVersion + 1, PreviousValidUntil: c.At.Add(c.Grace), At: c.At}}, nil
	case Subscribe:
		if err := checkProduct(c.Product); err != nil {
			return nil, err
		}
		if _, ok := PlanByName(c.Plan); !ok {
			return nil, &ErrInvalid{Field: "plan", Reason: "is not a plan of the catalogue"}
		}
		if s.Disabled {
			return nil, ErrDisabled
		}
		sub := s.Subscriptions[c.Product]
		if !c.Product.Sensitive() {
			if sub.Plan == c.Plan {
				return nil, nil
			}
			return []Event{ApplicationSubscribed{GUID: id, Counterparty: cp, Product: c.Product, Plan: c.Plan, At: c.At}}, nil
		}
		if sub.RequestedPlan == c.Plan || (sub.Plan == c.Plan && sub.RequestedPlan == "") {
			return nil, nil // asked already, or granted already
		}
		return []Event{ApplicationSubscriptionRequested{GUID: id, Counterparty: cp, Product: c.Product, Plan: c.Plan, At: c.At}}, nil
	case Unsubscribe:
		if err := checkProduct(c.Product); err != nil {
			return nil, err
		}
		if sub := s.Subscriptions[c.Product]; sub.Plan == "" && sub.RequestedPlan == "" {
			return nil, ErrNotSubscribed
		}
		return []Event{ApplicationUnsubscribed{GUID: id, Counterparty: cp, Product: c.Product, At: c.At}}, nil
	case Approve:
		if err := checkProduct(c.Product); err != nil {
			return nil, err
		}
		sub := s.Subscriptions[c.Product]
		if sub.RequestedPlan == "" {
			return nil, ErrNoRequest
		}
		return []Event{ApplicationSubscriptionApproved{GUID: id, Counterparty: cp, Product: c.Product, Plan: sub.RequestedPlan,
			By: c.By, At: c.At}}, nil
	case Reject:
		if err := checkProduct(c.Product); err != nil {
			return nil, err
		}
		reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: MaxReasonRunes, Required: true, Multiline: true})
		if err != nil {
			return nil, &ErrInvalid{Field: "reason", Reason: err.Error()}
		}
		sub := s.Subscriptions[c.Product]
		if sub.RequestedPlan == "" {
			return nil, ErrNoRequest
		}
		return []Event{ApplicationSubscriptionRejected{GUID: id, Counterparty: cp, Product: c.Product, Plan: sub.RequestedPlan,
			By: c.By, Reason: reason, At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func register(s State, c Register) ([]Event, error) {
	if c.GUID == uuid.Nil {
		return nil, &ErrInvalid{Field: "guid", Reason: "required (a non-zero GUID)"}
	}
	if c.Counterparty == uuid.Nil {
		return nil, &ErrInvalid{Field: "counterparty_guid", Reason: "required (a non-zero GUID)"}
	}
	if s.Exists {
		return nil, ErrAlreadyExists
	}
	name, err := text.Clean(c.Name, text.Rule{MaxRunes: MaxNameRunes, Required: true})
	if err != nil {
		return nil, &ErrInvalid{Field: "name", Reason: err.Error()}
	}
	desc, err := text.Clean(c.Description, text.Rule{MaxRunes: MaxDescriptionRunes, Multiline: true})
	if err != nil {
		return nil, &ErrInvalid{Field: "description", Reason: err.Error()}
	}
	if err := checkHash(c.SecretHash); err != nil {
		return nil, err
	}
	return []Event{ApplicationRegistered{GUID: c.GUID.String(), Counterparty: c.Counterparty.String(), Name: name,
		Description: desc, SecretHash: c.SecretHash, SecretVersion: 1, At: c.At}}, nil
}

func checkHash(h string) error {
	if b, err := hex.DecodeString(h); err != nil || len(b) != SecretHashBytes {
		return &ErrInvalid{Field: "secret_hash", Reason: fmt.Sprintf("must be %d bytes in hex", SecretHashBytes)}
	}
	return nil
}

func checkProduct(p Product) error {
	if !p.Known() {
		return &ErrInvalid{Field: "product", Reason: "is not a product of the catalogue"}
	}
	return nil
}

// Decider is the application aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of application streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, ApplicationRegistered](r, "ApplicationRegistered"),
		command.Register[Event, ApplicationDisabled](r, "ApplicationDisabled"),
		command.Register[Event, ApplicationEnabled](r, "ApplicationEnabled"),
		command.Register[Event, ApplicationDeleted](r, "ApplicationDeleted"),
		command.Register[Event, ApplicationSecretReissued](r, "ApplicationSecretReissued"),
		command.Register[Event, ApplicationSubscribed](r, "ApplicationSubscribed"),
		command.Register[Event, ApplicationSubscriptionRequested](r, "ApplicationSubscriptionRequested"),
		command.Register[Event, ApplicationSubscriptionApproved](r, "ApplicationSubscriptionApproved"),
		command.Register[Event, ApplicationSubscriptionRejected](r, "ApplicationSubscriptionRejected"),
		command.Register[Event, ApplicationUnsubscribed](r, "ApplicationUnsubscribed"),
	)
	return r
}

// EventTypePrefixes select this package's events, application changes and call counts, in a projection filter.
var EventTypePrefixes = []string{"Application"}
