// Package limits holds a counterparty's limits on outgoing payments (guide §14): per operation (an exclusive
// minimum and maximum) and per trailing window (an exclusive maximum sum, and beyond the guide a maximum count
// of payments), set for one customer's account (individual), for a segment (standard), or for a KYC level
// (a default, beyond the guide). An individual rule overrides the standard one, which overrides the KYC
// default, part by part: the operation bounds as a whole, each window by its length.
//
// The rules live in one stream per counterparty. They are configuration: the check itself runs on the
// sender's account stream, atomically with the reservation (domain/account), so that concurrent payments
// cannot together pass a window.
package limits

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
)

// Scope says whom a rule applies to.
type Scope string

const (
	Individual Scope = "individual" // one customer's account of one asset
	Standard   Scope = "standard"   // every account in a segment
	KYC        Scope = "kyc"        // every customer of a KYC level: the counterparty's default
)

// Periods of the guide, and how many days each trailing window spans. Custom windows take their days (> 1).
const (
	Day    = "day"
	Week   = "week"
	Month  = "month"
	Year   = "year"
	Custom = "custom"
)

// Periods lists the period names, for validation and the OpenAPI enum.
var Periods = []string{Day, Week, Month, Year, Custom}

// MaxWindowDays bounds a custom window: an account keeps its outgoing payments this long.
const MaxWindowDays = 366

// MaxKYCLevel is the highest KYC level a default may name (as domain/customer bounds it).
const MaxKYCLevel = 100

// Bounds of free text.
const (
	MaxSegmentRunes   = 100
	MaxPeriodKeyBytes = 100
	MaxAssetBytes     = 64
)

// WindowDays is the length in days of a period's trailing window: a month is 30 days and a year 365 (the
// guide's "last month / year"); a custom window is days long, 2 to MaxWindowDays.
func WindowDays(period string, days int) (int, error) {
	switch period {
	case Day:
		return 1, nil
	case Week:
		return 7, nil
	case Month:
		return 30, nil
	case Year:
		return 365, nil
	case Custom:
		if days < 2 || days > MaxWindowDays {
			return 0, &ErrInvalid{Field: "days", Reason: fmt.Sprintf("a custom period spans 2 to %d days", MaxWindowDays)}
		}
		return days, nil
	}
	return 0, &ErrInvalid{Field: "period", Reason: "must be one of " + strings.Join(Periods, ", ")}
}

// ErrInvalid is a command with a field the rules refuse.
type ErrInvalid struct{ Field, Reason string }

func (e *ErrInvalid) Error() string { return "limits: " + e.Field + ": " + e.Reason }

// ErrNotFound is the removal of a rule that is not set.
var ErrNotFound = errors.New("limits: no such limit")

// Stream is the limits stream of a counterparty.
func Stream(counterparty uuid.UUID) string { return "limits-" + counterparty.String() }

// Target is what a rule applies to: exactly the fields of its scope are set, and the asset.
type Target struct {
	Scope Scope `json:"scope"`
	// CustomerGUID and AccountTypeGUID name an individual rule's customer and account (the guide's
	// account_type_guid is the account's GUID, wallet_account_guid).
	CustomerGUID    string `json:"customer_guid,omitempty"`
	AccountTypeGUID string `json:"account_type_guid,omitempty"`
	Segment         string `json:"segment_name,omitempty"`
	KYCLevel        int    `json:"kyc_level,omitempty"`
	AssetCode       string `json:"asset_code"`
	AssetIssuer     string `json:"asset_issuer"`
}

// Key identifies the target within a counterparty.
func (t Target) Key() string {
	switch t.Scope {
	case Individual:
		return "i/" + t.CustomerGUID + "/" + t.AccountTypeGUID + "/" + t.AssetCode + "/" + t.AssetIssuer
	case Standard:
		return "s/" + t.Segment + "/" + t.AssetCode + "/" + t.AssetIssuer
	}
	return "k/" + strconv.Itoa(t.KYCLevel) + "/" + t.AssetCode + "/" + t.AssetIssuer
}

// normalized checks a target and returns it in canonical form (lower-case GUIDs, trimmed text, only the
// fields of its scope).
func (t Target) normalized() (Target, error) {
	out := Target{Scope: t.Scope, AssetCode: strings.TrimSpace(t.AssetCode), AssetIssuer: strings.TrimSpace(t.AssetIssuer)}
	switch t.Scope {
	case Individual:
		c, err1 := uuid.Parse(strings.TrimSpace(t.CustomerGUID))
		a, err2 := uuid.Parse(strings.TrimSpace(t.AccountTypeGUID))
		if err1 != nil || c == uuid.Nil {
			return Target{}, &ErrInvalid{Field: "customer_guid", Reason: "is not a GUID"}
		}
		if err2 != nil || a == uuid.Nil {
			return Target{}, &ErrInvalid{Field: "account_type_guid", Reason: "is not a GUID"}
		}
		out.CustomerGUID, out.AccountTypeGUID = c.String(), a.String()
	case Standard:
		s := strings.TrimSpace(t.Segment)
		if s == "" || len([]rune(s)) > MaxSegmentRunes {
			return Target{}, &ErrInvalid{Field: "segment_name", Reason: fmt.Sprintf("1 to %d characters", MaxSegmentRunes)}
		}
		out.Segment = s
	case KYC:
		if t.KYCLevel < 0 || t.KYCLevel > MaxKYCLevel {
			return Target{}, &ErrInvalid{Field: "kyc_level", Reason: fmt.Sprintf("0 to %d", MaxKYCLevel)}
		}
		out.KYCLevel = t.KYCLevel
	default:
		return Target{}, &ErrInvalid{Field: "scope", Reason: "individual, standard or kyc"}
	}
	if out.AssetCode == "" || len(out.AssetCode) > MaxAssetBytes {
		return Target{}, &ErrInvalid{Field: "asset_code", Reason: "is required"}
	}
	if out.AssetIssuer == "" || len(out.AssetIssuer) > MaxAssetBytes {
		return Target{}, &ErrInvalid{Field: "asset_issuer", Reason: "is required"}
	}
	return out, nil
}

// Operation bounds one payment: it must be above Min and below Max, both exclusive (guide §14: "to allow
// payments up to 100, set max=100.1"). Zero is no bound.
type Operation struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// Window bounds the payments of a trailing window of Days days: their sum stays below Max (exclusive, as
// the guide's max) and their number at most MaxCount. Zero is no bound. PeriodKey is the caller's label,
// kept and shown as given.
type Window struct {
	Period    string `json:"period"`
	Days      int    `json:"days"`
	Max       int64  `json:"max"`
	MaxCount  int    `json:"max_count,omitempty"`
	PeriodKey string `json:"period_key,omitempty"`
}

// Rules are the rules of one target.
type Rules struct {
	Target    Target         `json:"target"`
	Operation *Operation     `json:"operation,omitempty"`
	Windows   map[int]Window `json:"windows,omitempty"` // by Days
	UpdatedAt time.Time      `json:"updated_at"`
}

// State is a counterparty's rules. Evolve never changes a map it returned before (a new map per change), so a
// state may be shared once folded: changes are rare and reads happen at every confirmation.
type State struct {
	Rules map[string]Rules // by Target.Key
}

// Commands.
type (
	SetOperation struct {
		Target    Target    `json:"target"`
		Operation Operation `json:"operation"`
		At        time.Time `json:"at"`
	}
	RemoveOperation struct {
		Target Target    `json:"target"`
		At     time.Time `json:"at"`
	}
	SetWindow struct {
		Target Target    `json:"target"`
		Window Window    `json:"window"`
		At     time.Time `json:"at"`
	}
	RemoveWindow struct {
		Target Target    `json:"target"`
		Period string    `json:"period"`
		Days   int       `json:"days"`
		At     time.Time `json:"at"`
	}
)

// Event is an event of a limits stream. Every type name starts with "Limit".
type Event interface{ isLimitsEvent() }

// Events.
type (
	LimitOperationSet struct {
		Target    Target    `json:"target"`
		Operation Operation `json:"operation"`
		At        time.Time `json:"at"`
	}
	LimitOperationRemoved struct {
		Target Target    `json:"target"`
		At     time.Time `json:"at"`
	}
	LimitWindowSet struct {
		Target Target    `json:"target"`
		Window Window    `json:"window"`
		At     time.Time `json:"at"`
	}
	LimitWindowRemoved struct {
		Target Target    `json:"target"`
		Days   int       `json:"days"`
		At     time.Time `json:"at"`
	}
)

func (LimitOperationSet) isLimitsEvent()     {}
func (LimitOperationRemoved) isLimitsEvent() {}
func (LimitWindowSet) isLimitsEvent()        {}
func (LimitWindowRemoved) isLimitsEvent()    {}

// Decide turns a command into events. Setting a rule to what it already is decides nothing.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case SetOperation:
		t, err := c.Target.normalized()
		if err != nil {
			return nil, err
		}
		o := c.Operation
		if o.Min < 0 {
			return nil, &ErrInvalid{Field: "min", Reason: "must not be negative"}
		}
		if o.Max < 0 {
			return nil, &ErrInvalid{Field: "max", Reason: "must not be negative"}
		}
		if o.Min == 0 && o.Max == 0 {
			return nil, &ErrInvalid{Field: "max", Reason: "give min, max or both"}
		}
		if o.Max > 0 && o.Min >= o.Max-1 {
			return nil, &ErrInvalid{Field: "min", Reason: "both bounds are exclusive: min must be below max by more than one minor unit, or no payment passes"}
		}
		if r, ok := s.Rules[t.Key()]; ok && r.Operation != nil && *r.Operation == o {
			return nil, nil
		}
		return []Event{LimitOperationSet{Target: t, Operation: o, At: c.At}}, nil
	case RemoveOperation:
		t, err := c.Target.normalized()
		if err != nil {
			return nil, err
		}
		if r, ok := s.Rules[t.Key()]; !ok || r.Operation == nil {
			return nil, ErrNotFound
		}
		return []Event{LimitOperationRemoved{Target: t, At: c.At}}, nil
	case SetWindow:
		t, err := c.Target.normalized()
		if err != nil {
			return nil, err
		}
		w := c.Window
		days, err := WindowDays(w.Period, w.Days)
		if err != nil {
			return nil, err
		}
		w.Days = days
		w.PeriodKey = strings.TrimSpace(w.PeriodKey)
		if len(w.PeriodKey) > MaxPeriodKeyBytes {
			return nil, &ErrInvalid{Field: "period_key", Reason: fmt.Sprintf("at most %d bytes", MaxPeriodKeyBytes)}
		}
		if w.Max < 0 {
			return nil, &ErrInvalid{Field: "max", Reason: "must not be negative"}
		}
		if w.MaxCount < 0 {
			return nil, &ErrInvalid{Field: "max_count", Reason: "must not be negative"}
		}
		if w.Max == 0 && w.MaxCount == 0 {
			return nil, &ErrInvalid{Field: "max", Reason: "give max, max_count or both"}
		}
		if r, ok := s.Rules[t.Key()]; ok && r.Windows[days] == w {
			return nil, nil
		}
		return []Event{LimitWindowSet{Target: t, Window: w, At: c.At}}, nil
	case RemoveWindow:
		t, err := c.Target.normalized()
		if err != nil {
			return nil, err
		}
		days, err := WindowDays(c.Period, c.Days)
		if err != nil {
			return nil, err
		}
		if r, ok := s.Rules[t.Key()]; !ok || r.Windows[days] == (Window{}) {
			return nil, ErrNotFound
		}
		return []Event{LimitWindowRemoved{Target: t, Days: days, At: c.At}}, nil
	}
	return nil, fmt.Errorf("limits: unknown command %T", cmd)
}

// Evolve folds one event into a new state (copy on write: see State).
func Evolve(s State, e Event) State {
	var t Target
	var at time.Time
	switch e := e.(type) {
	case LimitOperationSet:
		t, at = e.Target, e.At
	case LimitOperationRemoved:
		t, at = e.Target, e.At
	case LimitWindowSet:
		t, at = e.Target, e.At
	case LimitWindowRemoved:
		t, at = e.Target, e.At
	default:
		return s
	}
	rules := maps.Clone(s.Rules)
	if rules == nil {
		rules = map[string]Rules{}
	}
	r := rules[t.Key()]
	r.Target, r.UpdatedAt = t, at
	switch e := e.(type) {
	case LimitOperationSet:
		o := e.Operation
		r.Operation = &o
	case LimitOperationRemoved:
		r.Operation = nil
	case LimitWindowSet:
		r.Windows = maps.Clone(r.Windows)
		if r.Windows == nil {
			r.Windows = map[int]Window{}
		}
		r.Windows[e.Window.Days] = e.Window
	case LimitWindowRemoved:
		r.Windows = maps.Clone(r.Windows)
		delete(r.Windows, e.Days)
	}
	if r.Operation == nil && len(r.Windows) == 0 {
		delete(rules, t.Key())
	} else {
		rules[t.Key()] = r
	}
	return State{Rules: rules}
}

// Account is what the rules for one payment depend on: the sender's customer, account, segment, KYC level
// and the asset.
type Account struct {
	CustomerGUID, AccountGUID, Segment string
	KYCLevel                           int
	AssetCode, AssetIssuer             string
}

// Applied is a bound and where it comes from.
type Applied[T any] struct {
	Bound  T     `json:"bound"`
	Source Scope `json:"source"`
}

// Effective are the rules that apply to an account's payments.
type Effective struct {
	Operation *Applied[Operation]
	Windows   []Applied[Window] // by Days, shortest first
}

// None reports whether no rule applies.
func (e Effective) None() bool { return e.Operation == nil && len(e.Windows) == 0 }

// For resolves the rules of an account: individual over standard over the KYC default, part by part.
func (s State) For(a Account) Effective {
	var out Effective
	if len(s.Rules) == 0 {
		return out
	}
	targets := []Target{{Scope: KYC, KYCLevel: a.KYCLevel}}
	if a.Segment != "" {
		targets = append(targets, Target{Scope: Standard, Segment: a.Segment})
	}
	if a.CustomerGUID != "" && a.AccountGUID != "" {
		targets = append(targets, Target{Scope: Individual, CustomerGUID: a.CustomerGUID, AccountTypeGUID: a.AccountGUID})
	}
	windows := map[int]Applied[Window]{}
	for _, t := range targets { // the weakest first: a later scope overrides
		t.AssetCode, t.AssetIssuer = a.AssetCode, a.AssetIssuer
		r, ok := s.Rules[t.Key()]
		if !ok {
			continue
		}
		if r.Operation != nil {
			out.Operation = &Applied[Operation]{Bound: *r.Operation, Source: t.Scope}
		}
		for d, w := range r.Windows {
			windows[d] = Applied[Window]{Bound: w, Source: t.Scope}
		}
	}
	for _, d := range sortedKeys(windows) {
		out.Windows = append(out.Windows, windows[d])
	}
	return out
}

func sortedKeys(m map[int]Applied[Window]) []int { return slices.Sorted(maps.Keys(m)) }

// List returns the rules of one scope, optionally only those of a customer (individual), in a stable order.
func (s State) List(scope Scope, customerGUID string) []Rules {
	var out []Rules
	for _, r := range s.Rules {
		if r.Target.Scope != scope || (customerGUID != "" && !strings.EqualFold(r.Target.CustomerGUID, customerGUID)) {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rules) int { return strings.Compare(a.Target.Key(), b.Target.Key()) })
	return out
}

// Decider is the limits aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of limits streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, LimitOperationSet](r, "LimitOperationSet"),
		command.Register[Event, LimitOperationRemoved](r, "LimitOperationRemoved"),
		command.Register[Event, LimitWindowSet](r, "LimitWindowSet"),
		command.Register[Event, LimitWindowRemoved](r, "LimitWindowRemoved"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Limit"}
