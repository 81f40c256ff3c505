package emission

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
)

// Direction says whether a request creates e-money (issue: the issuer pays the emission entity) or deletes it
// (burn: the emission entity pays the issuer back).
type Direction string

const (
	Issue Direction = "issue"
	Burn  Direction = "burn"
)

// Valid reports whether d is issue or burn.
func (d Direction) Valid() bool { return d == Issue || d == Burn }

// Status is where a request is in its life.
type Status string

const (
	StatusCreated   Status = "CREATED"   // open: waiting for the platform's confirmation or cancellation
	StatusConfirmed Status = "CONFIRMED" // counted in the totals; its payment carries it on chain
	StatusCancelled Status = "CANCELLED" // withdrawn before confirmation: never counted
	StatusFailed    Status = "FAILED"    // confirmed, but its payment failed: taken out of the totals again
)

// Statuses lists every status, in the order of a request's life.
var Statuses = []Status{StatusCreated, StatusConfirmed, StatusCancelled, StatusFailed}

// Bounds.
const (
	MaxReasonRunes = 500
	// MaxByBytes bounds who acted (a token's subject).
	MaxByBytes = 512
	// MaxAssetBytes bounds asset_code (a Stellar code has 12 characters) and asset_issuer (56).
	MaxAssetBytes = 64
)

// Stream is the emission stream of the counterparty with this GUID: the consistency boundary of the reserve
// rule and of the one-open-request rule.
func Stream(counterparty uuid.UUID) string { return "emission-" + counterparty.String() }

// PaymentGUID is the GUID of the payment that carries a request on chain. It is derived from the request, so
// that a retried confirmation starts the same payment.
func PaymentGUID(request uuid.UUID) uuid.UUID { return uuid.NewSHA1(request, []byte("payment")) }

// balanceNamespace names the GUIDs of emission balances.
var balanceNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/kazna-ledger/kazna/emission-balance"))

// BalanceGUID is the GUID of a counterparty's emission balance (guide §9 history: "balance"): one per
// counterparty, since the platform issues one asset, derived so that it needs no event of its own.
func BalanceGUID(counterparty string) string {
	return uuid.NewSHA1(balanceNamespace, []byte(strings.ToLower(counterparty))).String()
}

var (
	ErrNotFound       = errors.New("emission: request not found")
	ErrAlreadyExists  = errors.New("emission: a request with this GUID exists with other content")
	ErrUnknownCommand = errors.New("emission: unknown command")
	// ErrOpenRequest is a new request while another one is open (guide §9: one at a time).
	ErrOpenRequest = errors.New("emission: the counterparty has an open request")
	// ErrNotOpen is a confirmation or cancellation of a request that is no longer open.
	ErrNotOpen = errors.New("emission: the request is no longer open")
	// ErrNotConfirmed is the failure of a request that was never confirmed: only a confirmed request has a
	// payment that can fail.
	ErrNotConfirmed = errors.New("emission: the request is not confirmed")
	// ErrReserve is a request that the reserve rule refuses (see ReserveError).
	ErrReserve = errors.New("emission: the reserve balance does not cover the e-money in circulation")
	// ErrBurnExceeds is a burn of more than the e-money in circulation (see BurnExceedsError).
	ErrBurnExceeds = errors.New("emission: the burn exceeds the e-money in circulation")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("emission: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map every domain package's invalid-field errors with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, format string, args ...any) error {
	return &ErrInvalid{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// OpenRequestError names the request that is open. It matches ErrOpenRequest.
type OpenRequestError struct {
	GUID      string
	Direction Direction
}

func (e *OpenRequestError) Error() string {
	return fmt.Sprintf("%v: %s request %s is waiting for confirmation or cancellation", ErrOpenRequest, e.Direction, e.GUID)
}
func (e *OpenRequestError) Is(target error) bool { return target == ErrOpenRequest }

// NotOpenError is a confirmation or cancellation of a closed request. It matches ErrNotOpen.
type NotOpenError struct {
	GUID   string
	Status Status
}

func (e *NotOpenError) Error() string {
	return fmt.Sprintf("%v: %s is %s", ErrNotOpen, e.GUID, e.Status)
}
func (e *NotOpenError) Is(target error) bool { return target == ErrNotOpen }

// ReserveError is the reserve rule broken, with its figures in minor units (guide §9):
// issue: Reserve ≥ Issued − Burned + Requested; burn: Reserve ≥ Issued − Burned − Requested. Issued and
// Burned are the totals of confirmed requests. ReserveKnown is false when the bank never reported a reserve
// (it counts as zero). It matches ErrReserve.
type ReserveError struct {
	Direction    Direction
	Requested    int64
	Reserve      int64
	ReserveKnown bool
	Issued       int64
	Burned       int64
}

// Needed is the reserve the request needs.
func (e *ReserveError) Needed() int64 {
	if e.Direction == Burn {
		return e.Issued - e.Burned - e.Requested
	}
	return e.Issued - e.Burned + e.Requested
}

func (e *ReserveError) Error() string {
	sign := "+"
	if e.Direction == Burn {
		sign = "−"
	}
	return fmt.Sprintf("%v: %s needs reserve ≥ issued %d − burned %d %s requested %d = %d, the reserve is %d (minor units)",
		ErrReserve, e.Direction, e.Issued, e.Burned, sign, e.Requested, e.Needed(), e.Reserve)
}
func (e *ReserveError) Is(target error) bool { return target == ErrReserve }

// BurnExceedsError is a burn of more than Issued − Burned, in minor units. It matches ErrBurnExceeds.
type BurnExceedsError struct {
	Requested int64
	Issued    int64
	Burned    int64
}

func (e *BurnExceedsError) Error() string {
	return fmt.Sprintf("%v: burn of %d, but issued %d − burned %d = %d (minor units)", ErrBurnExceeds, e.Requested,
		e.Issued, e.Burned, e.Issued-e.Burned)
}
func (e *BurnExceedsError) Is(target error) bool { return target == ErrBurnExceeds }

// Commands. Time is passed in (At); GUIDs are chosen by the caller so that a retried request names the same
// request.
type (
	// Request asks to issue or burn Amount minor units. Reserve is the bank's reserve balance as it reports
	// it now (nil: the last one reported stays). AutoConfirm is set when the counterparty's auto_issue or
	// auto_burn flag confirms its own requests: the request and its confirmation are then one append.
	Request struct {
		GUID                uuid.UUID `json:"guid"`
		CounterpartyGUID    uuid.UUID `json:"counterparty_guid"`
		Direction           Direction `json:"direction"`
		Amount              int64     `json:"amount"`
		Reserve             *int64    `json:"reserve,omitempty"`
		EmissionAccountGUID uuid.UUID `json:"emission_account_guid"`
		AssetCode           string    `json:"asset_code"`
		AssetIssuer         string    `json:"asset_issuer"`
		AutoConfirm         bool      `json:"auto_confirm,omitempty"`
		By                  string    `json:"by,omitempty"`
		At                  time.Time `json:"at"`
	}
	// Confirm is the platform's approval of an open request: its amount counts in the totals from now on.
	Confirm struct {
		GUID uuid.UUID `json:"guid"`
		By   string    `json:"by,omitempty"`
		At   time.Time `json:"at"`
	}
	// Cancel withdraws an open request.
	Cancel struct {
		GUID uuid.UUID `json:"guid"`
		By   string    `json:"by,omitempty"`
		At   time.Time `json:"at"`
	}
	// Fail records that the payment of a confirmed request failed: its amount leaves the totals again.
	Fail struct {
		GUID   uuid.UUID `json:"guid"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
)

// Events. Each carries the counterparty's GUID, so that a read model needs no stream-name parsing.
type (
	// EmissionRequested is a new open request. Reserve is the reserve reported with it (nil for none);
	// ReserveBalance is the reserve the rule was checked against (Reserve, or the last one reported).
	EmissionRequested struct {
		GUID                string    `json:"guid"`
		CounterpartyGUID    string    `json:"counterparty_guid"`
		Direction           Direction `json:"direction"`
		Amount              int64     `json:"amount"`
		Reserve             *int64    `json:"reserve,omitempty"`
		ReserveBalance      int64     `json:"reserve_balance"`
		EmissionAccountGUID string    `json:"emission_account_guid"`
		AssetCode           string    `json:"asset_code"`
		AssetIssuer         string    `json:"asset_issuer"`
		By                  string    `json:"by,omitempty"`
		At                  time.Time `json:"at"`
	}
	// EmissionConfirmed counts the request in the totals; PaymentGUID names the payment that carries it.
	// Auto says the counterparty's auto_issue / auto_burn flag confirmed it.
	EmissionConfirmed struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		PaymentGUID      string    `json:"payment_guid"`
		Auto             bool      `json:"auto,omitempty"`
		By               string    `json:"by,omitempty"`
		At               time.Time `json:"at"`
	}
	EmissionCancelled struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		By               string    `json:"by,omitempty"`
		At               time.Time `json:"at"`
	}
	EmissionFailed struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Reason           string    `json:"reason"`
		At               time.Time `json:"at"`
	}
)

// Event is an event of an emission stream.
type Event interface{ isEmissionEvent() }

func (EmissionRequested) isEmissionEvent() {}
func (EmissionConfirmed) isEmissionEvent() {}
func (EmissionCancelled) isEmissionEvent() {}
func (EmissionFailed) isEmissionEvent()    {}

// Record is one request as the aggregate knows it.
type Record struct {
	Requested   EmissionRequested
	Status      Status
	PaymentGUID string
	Reason      string
	UpdatedBy   string
	UpdatedAt   time.Time
}

// State is a counterparty's emission as its decisions need it.
type State struct {
	CounterpartyGUID string
	// Issued and Burned are the totals of confirmed requests (failed ones taken out again), minor units.
	Issued, Burned int64
	// Reserve is the reserve balance the bank last reported; ReserveKnown is false until it reports one
	// (the reserve then counts as zero).
	Reserve      int64
	ReserveKnown bool
	// Open is the GUID of the open request, "" when none is.
	Open string
	// Requests by GUID. Evolve writes into this map (copying it on every event would make a long stream
	// quadratic), so a State is a fold in progress: keep the latest one only, or Clone it first.
	Requests map[string]Record
}

// Outstanding is the e-money of the counterparty in circulation: issued − burned.
func (s State) Outstanding() int64 { return s.Issued - s.Burned }

// Clone returns a State that later Evolve calls on s do not change.
func (s State) Clone() State {
	if s.Requests != nil {
		m := make(map[string]Record, len(s.Requests))
		for k, v := range s.Requests {
			m[k] = v
		}
		s.Requests = m
	}
	return s
}

// Evolve folds one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case EmissionRequested:
		if s.Requests == nil {
			s.Requests = map[string]Record{}
		}
		s.CounterpartyGUID = e.CounterpartyGUID
		s.Requests[e.GUID] = Record{Requested: e, Status: StatusCreated, UpdatedBy: e.By, UpdatedAt: e.At}
		s.Open = e.GUID
		if e.Reserve != nil {
			s.Reserve, s.ReserveKnown = *e.Reserve, true
		}
	case EmissionConfirmed:
		r, ok := s.Requests[e.GUID]
		if !ok || r.Status != StatusCreated {
			return s
		}
		r.Status, r.PaymentGUID, r.UpdatedBy, r.UpdatedAt = StatusConfirmed, e.PaymentGUID, e.By, e.At
		s.Requests[e.GUID] = r
		if r.Requested.Direction == Burn {
			s.Burned += r.Requested.Amount
		} else {
			s.Issued += r.Requested.Amount
		}
		s = closeOpen(s, e.GUID)
	case EmissionCancelled:
		r, ok := s.Requests[e.GUID]
		if !ok || r.Status != StatusCreated {
			return s
		}
		r.Status, r.UpdatedBy, r.UpdatedAt = StatusCancelled, e.By, e.At
		s.Requests[e.GUID] = r
		s = closeOpen(s, e.GUID)
	case EmissionFailed:
		r, ok := s.Requests[e.GUID]
		if !ok || r.Status == StatusFailed {
			return s
		}
		if r.Status == StatusConfirmed {
			if r.Requested.Direction == Burn {
				s.Burned -= r.Requested.Amount
			} else {
				s.Issued -= r.Requested.Amount
			}
		}
		r.Status, r.Reason, r.UpdatedAt = StatusFailed, e.Reason, e.At
		s.Requests[e.GUID] = r
		s = closeOpen(s, e.GUID)
	}
	return s
}

func closeOpen(s State, guid string) State {
	if s.Open == guid {
		s.Open = ""
	}
	return s
}

// Decide decides a command.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Request:
		return decideRequest(s, c)
	case Confirm:
		r, ok := s.Requests[c.GUID.String()]
		if !ok {
			return nil, ErrNotFound
		}
		if err := checkBy(c.By); err != nil {
			return nil, err
		}
		switch r.Status {
		case StatusConfirmed:
			return nil, nil // a retry
		case StatusCreated:
			// The totals may have moved since the request (a failed payment takes its amount out), so the
			// rule is checked again against the reserve the request was made with.
			if err := checkRule(s, r.Requested.Direction, r.Requested.Amount, r.Requested.ReserveBalance, s.ReserveKnown); err != nil {
				return nil, err
			}
			return []Event{confirmed(r.Requested, false, c.By, c.At)}, nil
		}
		return nil, &NotOpenError{GUID: r.Requested.GUID, Status: r.Status}
	case Cancel:
		r, ok := s.Requests[c.GUID.String()]
		if !ok {
			return nil, ErrNotFound
		}
		if err := checkBy(c.By); err != nil {
			return nil, err
		}
		switch r.Status {
		case StatusCancelled:
			return nil, nil
		case StatusCreated:
			return []Event{EmissionCancelled{GUID: r.Requested.GUID, CounterpartyGUID: s.CounterpartyGUID, By: c.By, At: c.At}}, nil
		}
		return nil, &NotOpenError{GUID: r.Requested.GUID, Status: r.Status}
	case Fail:
		r, ok := s.Requests[c.GUID.String()]
		if !ok {
			return nil, ErrNotFound
		}
		reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: MaxReasonRunes, Required: true})
		if err != nil {
			return nil, invalid("reason", "%v", err)
		}
		switch r.Status {
		case StatusFailed:
			return nil, nil
		case StatusConfirmed:
			return []Event{EmissionFailed{GUID: r.Requested.GUID, CounterpartyGUID: s.CounterpartyGUID, Reason: reason, At: c.At}}, nil
		}
		return nil, fmt.Errorf("%w: %s is %s", ErrNotConfirmed, r.Requested.GUID, r.Status)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func decideRequest(s State, c Request) ([]Event, error) {
	ev, err := requested(s, c)
	if err != nil {
		return nil, err
	}
	if r, ok := s.Requests[ev.GUID]; ok {
		if sameRequest(r.Requested, ev) {
			return nil, nil // a retry: whatever became of it since
		}
		return nil, ErrAlreadyExists
	}
	if s.CounterpartyGUID != "" && s.CounterpartyGUID != ev.CounterpartyGUID {
		return nil, invalid("counterparty_guid", "the stream belongs to counterparty %s", s.CounterpartyGUID)
	}
	if s.Open != "" {
		return nil, &OpenRequestError{GUID: s.Open, Direction: s.Requests[s.Open].Requested.Direction}
	}
	if err := checkRule(s, ev.Direction, ev.Amount, ev.ReserveBalance, s.ReserveKnown || ev.Reserve != nil); err != nil {
		return nil, err
	}
	if !c.AutoConfirm {
		return []Event{ev}, nil
	}
	return []Event{ev, confirmed(ev, true, c.By, c.At)}, nil
}

// requested validates a request and builds its event; the reserve in force is the one given, or the last
// one reported.
func requested(s State, c Request) (EmissionRequested, error) {
	switch {
	case c.GUID == uuid.Nil:
		return EmissionRequested{}, invalid("guid", "required")
	case c.CounterpartyGUID == uuid.Nil:
		return EmissionRequested{}, invalid("counterparty_guid", "required")
	case !c.Direction.Valid():
		return EmissionRequested{}, invalid("direction", "must be %s or %s", Issue, Burn)
	case c.Amount <= 0:
		return EmissionRequested{}, invalid("amount", "must be positive")
	case c.Reserve != nil && *c.Reserve < 0:
		return EmissionRequested{}, invalid("reserve_balance", "must not be negative")
	case c.EmissionAccountGUID == uuid.Nil:
		return EmissionRequested{}, invalid("emission_account_guid", "the counterparty has no emission account")
	}
	for _, f := range []struct{ name, v string }{{"asset_code", c.AssetCode}, {"asset_issuer", c.AssetIssuer}} {
		if strings.TrimSpace(f.v) == "" {
			return EmissionRequested{}, invalid(f.name, "required")
		}
		if len(f.v) > MaxAssetBytes || !utf8.ValidString(f.v) {
			return EmissionRequested{}, invalid(f.name, "at most %d bytes of UTF-8", MaxAssetBytes)
		}
	}
	if err := checkBy(c.By); err != nil {
		return EmissionRequested{}, err
	}
	reserve := s.Reserve
	if c.Reserve != nil {
		reserve = *c.Reserve
	}
	return EmissionRequested{GUID: c.GUID.String(), CounterpartyGUID: c.CounterpartyGUID.String(), Direction: c.Direction,
		Amount: c.Amount, Reserve: c.Reserve, ReserveBalance: reserve, EmissionAccountGUID: c.EmissionAccountGUID.String(),
		AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer, By: c.By, At: c.At}, nil
}

func checkBy(by string) error {
	if len(by) > MaxByBytes || !utf8.ValidString(by) {
		return invalid("by", "at most %d bytes of UTF-8", MaxByBytes)
	}
	return nil
}

// checkRule applies guide §9 to a request of amount in direction, against reserve (known: the bank reported
// one). Amounts are bounded by int64; a total that would leave that range is refused rather than wrapped.
func checkRule(s State, d Direction, amount, reserve int64, known bool) error {
	reserveErr := &ReserveError{Direction: d, Requested: amount, Reserve: reserve, ReserveKnown: known, Issued: s.Issued, Burned: s.Burned}
	outstanding := s.Outstanding()
	if d == Burn {
		if amount > outstanding {
			return &BurnExceedsError{Requested: amount, Issued: s.Issued, Burned: s.Burned}
		}
		if s.Burned > math.MaxInt64-amount {
			return invalid("amount", "the burned total would leave the range of amounts")
		}
		if reserve < outstanding-amount {
			return reserveErr
		}
		return nil
	}
	if s.Issued > math.MaxInt64-amount { // outstanding ≤ issued, so outstanding+amount fits too
		return invalid("amount", "the issued total would leave the range of amounts")
	}
	if reserve < outstanding+amount {
		return reserveErr
	}
	return nil
}

func confirmed(r EmissionRequested, auto bool, by string, at time.Time) EmissionConfirmed {
	return EmissionConfirmed{GUID: r.GUID, CounterpartyGUID: r.CounterpartyGUID,
		PaymentGUID: PaymentGUID(uuid.MustParse(r.GUID)).String(), Auto: auto, By: by, At: at}
}

// sameRequest compares two requests as a retry sees them: the same money, asset and reserve, whoever sends
// it and whenever (the reserve in force may have moved since, which does not make it another request).
func sameRequest(a, b EmissionRequested) bool {
	same := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.GUID == b.GUID && a.CounterpartyGUID == b.CounterpartyGUID && a.Direction == b.Direction && a.Amount == b.Amount &&
		same(a.Reserve, b.Reserve) && a.EmissionAccountGUID == b.EmissionAccountGUID && a.AssetCode == b.AssetCode &&
		a.AssetIssuer == b.AssetIssuer
}

// Decider is the emission aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of emission streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks the round trip.
	_ = errors.Join(
		command.Register[Event, EmissionRequested](r, "EmissionRequested"),
		command.Register[Event, EmissionConfirmed](r, "EmissionConfirmed"),
		command.Register[Event, EmissionCancelled](r, "EmissionCancelled"),
		command.Register[Event, EmissionFailed](r, "EmissionFailed"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Emission"}
