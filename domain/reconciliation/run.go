package reconciliation

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
)

// Kind is the type of a discrepancy between the ledger and the chain.
type Kind string

const (
	// MissingOnChain: the ledger settled a payment (or holds an account) that the chain does not show.
	MissingOnChain Kind = "missing_on_chain"
	// MissingInLedger: the chain shows a payment carrying a payment_guid (or an account holding the asset)
	// that the ledger has not settled (or does not know).
	MissingInLedger Kind = "missing_in_ledger"
	// AmountMismatch: the same payment (by GUID or hash) moved another amount, or between other accounts.
	AmountMismatch Kind = "amount_mismatch"
	// BalanceMismatch: an account's ledger balance differs from its balance on chain.
	BalanceMismatch Kind = "balance_mismatch"
	// UnknownOnChainPayment: a payment or clawback of the asset on chain that names no payment of the ledger
	// (no payment_guid, no known hash): something moved money behind the ledger's back.
	UnknownOnChainPayment Kind = "unknown_on_chain_payment"
	// SupplyMismatch: the ledger's outstanding supply (issued − burned) differs from what the issuer has
	// outstanding on chain (the sum of every holder's balance).
	SupplyMismatch Kind = "supply_mismatch"
)

// Kinds lists every discrepancy type, in the order reports count them.
var Kinds = []Kind{MissingOnChain, MissingInLedger, AmountMismatch, BalanceMismatch, UnknownOnChainPayment, SupplyMismatch}

// Subjects of a discrepancy: what it is about.
const (
	SubjectAccount = "account"
	SubjectPayment = "payment"
	SubjectSupply  = "supply"
)

// Run statuses.
type RunStatus string

const (
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
)

// Triggers of a run.
const (
	TriggerSchedule = "schedule"
	TriggerOperator = "operator"
	TriggerCLI      = "cli"
)

// Bounds (Tiger Style): findings per event, per run, and the text an operator writes.
const (
	MaxFindingsPerEvent = 500
	// MaxDiscrepancies bounds what one run records; past it the run counts what it left out (Truncated).
	MaxDiscrepancies   = 100_000
	MaxReasonRunes     = 1000
	MaxDetailRunes     = 500
	maxProgressStage   = 40
	dayLayout          = "2006-01-02"
	maxTriggerAndActor = 200
)

var (
	ErrNotFound            = errors.New("reconciliation: not found")
	ErrAlreadyExists       = errors.New("reconciliation: a run with this GUID exists")
	ErrNotRunning          = errors.New("reconciliation: the run is not running")
	ErrStillRunning        = errors.New("reconciliation: the run is still running")
	ErrDiscrepancyNotFound = errors.New("reconciliation: no such discrepancy in the run")
	ErrAlreadyResolved     = errors.New("reconciliation: the discrepancy is resolved already")
	ErrUnknownCommand      = errors.New("reconciliation: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("reconciliation: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

// RunStream is the stream of a reconciliation run.
func RunStream(guid uuid.UUID) string { return "reconciliation-" + guid.String() }

// Discrepancy is one difference a run found. Amounts are minor units of the asset; nil where a side has
// nothing to show (a payment missing on chain has no chain amount).
type Discrepancy struct {
	ID               int    `json:"id"` // 1, 2, … within the run, in the order found
	Type             Kind   `json:"type"`
	Subject          string `json:"subject"`
	AccountGUID      string `json:"account_guid,omitempty"`
	CounterpartyGUID string `json:"counterparty_guid,omitempty"`
	Address          string `json:"address,omitempty"`
	PaymentGUID      string `json:"payment_guid,omitempty"`
	Hash             string `json:"hash,omitempty"`
	LedgerAmount     *int64 `json:"ledger_amount,omitempty"`
	ChainAmount      *int64 `json:"chain_amount,omitempty"`
	Detail           string `json:"detail,omitempty"`
}

// Resolution is an operator's closing of a discrepancy.
type Resolution struct {
	Reason string
	By     string
	At     time.Time
}

// Counts are what a run checked.
type Counts struct {
	Accounts      int   `json:"accounts"`       // ledger accounts compared with the chain
	ChainHolders  int   `json:"chain_holders"`  // accounts holding the asset on chain
	Payments      int   `json:"payments"`       // ledger payments settled in the day
	ChainPayments int   `json:"chain_payments"` // payments and clawbacks of the asset on chain in the day
	LedgerSupply  int64 `json:"ledger_supply"`  // issued − burned, minor units
	ChainSupply   int64 `json:"chain_supply"`   // the holders' balances, minor units
	Truncated     int   `json:"truncated"`      // discrepancies found past MaxDiscrepancies, not recorded
}

// RunState is a run.
type RunState struct {
	Exists        bool
	GUID          string
	Day           string // YYYY-MM-DD, UTC
	Trigger       string
	StartedBy     string
	Status        RunStatus
	Reason        string // why it failed
	Checked       int
	Total         int
	Stage         string
	Counts        Counts
	Discrepancies []Discrepancy
	Resolved      map[int]Resolution
	StartedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time
}

// Commands of a run.
type (
	Start struct {
		GUID    uuid.UUID `json:"guid"`
		Day     string    `json:"day"`
		Trigger string    `json:"trigger"`
		By      string    `json:"by"`
		At      time.Time `json:"at"`
	}
	Progress struct {
		Stage   string    `json:"stage"`
		Checked int       `json:"checked"`
		Total   int       `json:"total"`
		At      time.Time `json:"at"`
	}
	// Record adds findings (without IDs: the run numbers them).
	Record struct {
		Discrepancies []Discrepancy `json:"discrepancies"`
		At            time.Time     `json:"at"`
	}
	Complete struct {
		Counts Counts    `json:"counts"`
		At     time.Time `json:"at"`
	}
	Fail struct {
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	Resolve struct {
		ID     int       `json:"id"`
		Reason string    `json:"reason"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
)

// RunEvent is an event of a run stream; every type name starts with "Reconciliation".
type RunEvent interface{ isRunEvent() }

type (
	ReconciliationStarted struct {
		GUID    string    `json:"guid"`
		Day     string    `json:"day"`
		Trigger string    `json:"trigger"`
		By      string    `json:"by"`
		At      time.Time `json:"at"`
	}
	ReconciliationProgressed struct {
		GUID    string    `json:"guid"`
		Stage   string    `json:"stage"`
		Checked int       `json:"checked"`
		Total   int       `json:"total"`
		At      time.Time `json:"at"`
	}
	ReconciliationDiscrepanciesFound struct {
		GUID          string        `json:"guid"`
		Discrepancies []Discrepancy `json:"discrepancies"`
		At            time.Time     `json:"at"`
	}
	ReconciliationCompleted struct {
		GUID   string    `json:"guid"`
		Counts Counts    `json:"counts"`
		At     time.Time `json:"at"`
	}
	ReconciliationFailed struct {
		GUID   string    `json:"guid"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	ReconciliationDiscrepancyResolved struct {
		GUID   string    `json:"guid"`
		ID     int       `json:"id"`
		Reason string    `json:"reason"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
)

func (ReconciliationStarted) isRunEvent()             {}
func (ReconciliationProgressed) isRunEvent()          {}
func (ReconciliationDiscrepanciesFound) isRunEvent()  {}
func (ReconciliationCompleted) isRunEvent()           {}
func (ReconciliationFailed) isRunEvent()              {}
func (ReconciliationDiscrepancyResolved) isRunEvent() {}

// EvolveRun folds one event into a run.
func EvolveRun(s RunState, e RunEvent) RunState {
	switch e := e.(type) {
	case ReconciliationStarted:
		s = RunState{Exists: true, GUID: e.GUID, Day: e.Day, Trigger: e.Trigger, StartedBy: e.By, Status: RunRunning,
			StartedAt: e.At, UpdatedAt: e.At}
	case ReconciliationProgressed:
		s.Stage, s.Checked, s.Total, s.UpdatedAt = e.Stage, e.Checked, e.Total, e.At
	case ReconciliationDiscrepanciesFound:
		s.Discrepancies = append(s.Discrepancies, e.Discrepancies...)
		s.UpdatedAt = e.At
	case ReconciliationCompleted:
		s.Status, s.Counts, s.UpdatedAt, s.FinishedAt = RunCompleted, e.Counts, e.At, e.At
	case ReconciliationFailed:
		s.Status, s.Reason, s.UpdatedAt, s.FinishedAt = RunFailed, e.Reason, e.At, e.At
	case ReconciliationDiscrepancyResolved:
		if s.Resolved == nil {
			s.Resolved = map[int]Resolution{}
		} else {
			s.Resolved = cloneResolved(s.Resolved) // states are values: never change the one given
		}
		s.Resolved[e.ID] = Resolution{Reason: e.Reason, By: e.By, At: e.At}
		s.UpdatedAt = e.At
	}
	return s
}

func cloneResolved(m map[int]Resolution) map[int]Resolution {
	out := make(map[int]Resolution, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// DecideRun decides a command of a run.
func DecideRun(s RunState, cmd any) ([]RunEvent, error) {
	switch c := cmd.(type) {
	case Start:
		if c.GUID == uuid.Nil {
			return nil, &ErrInvalid{Field: "guid", Reason: "required (a non-zero GUID)"}
		}
		if _, err := ParseDay(c.Day); err != nil {
			return nil, err
		}
		if s.Exists {
			if s.Day == c.Day && s.Trigger == c.Trigger {
				return nil, nil // a retry of the same start
			}
			return nil, ErrAlreadyExists
		}
		if c.Trigger == "" || len(c.Trigger) > maxTriggerAndActor || len(c.By) > maxTriggerAndActor {
			return nil, &ErrInvalid{Field: "trigger", Reason: "required, at most 200 bytes (as is by)"}
		}
		return []RunEvent{ReconciliationStarted{GUID: c.GUID.String(), Day: c.Day, Trigger: c.Trigger, By: c.By, At: c.At}}, nil
	case Progress:
		if err := running(s); err != nil {
			return nil, err
		}
		if c.Checked < 0 || c.Total < 0 || c.Checked > c.Total || len(c.Stage) > maxProgressStage {
			return nil, &ErrInvalid{Field: "progress", Reason: "checked must be 0…total, stage at most 40 bytes"}
		}
		return []RunEvent{ReconciliationProgressed{GUID: s.GUID, Stage: c.Stage, Checked: c.Checked, Total: c.Total, At: c.At}}, nil
	case Record:
		if err := running(s); err != nil {
			return nil, err
		}
		if len(c.Discrepancies) == 0 {
			return nil, nil
		}
		if len(c.Discrepancies) > MaxFindingsPerEvent {
			return nil, &ErrInvalid{Field: "discrepancies", Reason: fmt.Sprintf("at most %d per record", MaxFindingsPerEvent)}
		}
		if len(s.Discrepancies)+len(c.Discrepancies) > MaxDiscrepancies {
			return nil, &ErrInvalid{Field: "discrepancies", Reason: fmt.Sprintf("a run records at most %d", MaxDiscrepancies)}
		}
		found := make([]Discrepancy, len(c.Discrepancies))
		for i, d := range c.Discrepancies {
			if err := checkDiscrepancy(d); err != nil {
				return nil, err
			}
			d.ID = len(s.Discrepancies) + i + 1
			found[i] = d
		}
		return []RunEvent{ReconciliationDiscrepanciesFound{GUID: s.GUID, Discrepancies: found, At: c.At}}, nil
	case Complete:
		if err := running(s); err != nil {
			return nil, err
		}
		return []RunEvent{ReconciliationCompleted{GUID: s.GUID, Counts: c.Counts, At: c.At}}, nil
	case Fail:
		if err := running(s); err != nil {
			return nil, err
		}
		reason := truncate(strings.TrimSpace(c.Reason), MaxReasonRunes)
		if reason == "" {
			return nil, &ErrInvalid{Field: "reason", Reason: "required"}
		}
		return []RunEvent{ReconciliationFailed{GUID: s.GUID, Reason: reason, At: c.At}}, nil
	case Resolve:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Status == RunRunning {
			return nil, ErrStillRunning
		}
		if c.ID < 1 || c.ID > len(s.Discrepancies) {
			return nil, ErrDiscrepancyNotFound
		}
		reason := strings.TrimSpace(c.Reason)
		if reason == "" {
			return nil, &ErrInvalid{Field: "reason", Reason: "required: say why the difference is accepted or how it was corrected"}
		}
		if utf8.RuneCountInString(reason) > MaxReasonRunes {
			return nil, &ErrInvalid{Field: "reason", Reason: fmt.Sprintf("at most %d characters", MaxReasonRunes)}
		}
		if r, done := s.Resolved[c.ID]; done {
			if r.Reason == reason && r.By == c.By {
				return nil, nil // a retry
			}
			return nil, ErrAlreadyResolved
		}
		return []RunEvent{ReconciliationDiscrepancyResolved{GUID: s.GUID, ID: c.ID, Reason: reason, By: c.By, At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func running(s RunState) error {
	if !s.Exists {
		return ErrNotFound
	}
	if s.Status != RunRunning {
		return ErrNotRunning
	}
	return nil
}

func checkDiscrepancy(d Discrepancy) error {
	known := false
	for _, k := range Kinds {
		known = known || d.Type == k
	}
	if !known {
		return &ErrInvalid{Field: "type", Reason: fmt.Sprintf("%q is not a discrepancy type", d.Type)}
	}
	switch d.Subject {
	case SubjectAccount, SubjectPayment, SubjectSupply:
	default:
		return &ErrInvalid{Field: "subject", Reason: fmt.Sprintf("%q is not account, payment or supply", d.Subject)}
	}
	if utf8.RuneCountInString(d.Detail) > MaxDetailRunes {
		return &ErrInvalid{Field: "detail", Reason: fmt.Sprintf("at most %d characters", MaxDetailRunes)}
	}
	return nil
}

func truncate(s string, runes int) string {
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes])
}

// ParseDay reads a UTC day "YYYY-MM-DD".
func ParseDay(day string) (time.Time, error) {
	t, err := time.Parse(dayLayout, day)
	if err != nil {
		return time.Time{}, &ErrInvalid{Field: "day", Reason: "must be a date like 2026-05-01"}
	}
	return t, nil
}

// Day is the UTC day of t, "YYYY-MM-DD".
func Day(t time.Time) string { return t.UTC().Format(dayLayout) }

// RunDecider is the run aggregate.
var RunDecider = command.Decider[RunState, any, RunEvent]{Evolve: EvolveRun, Decide: DecideRun}

// RunEvents is the codec of run streams.
var RunEvents = newRunEvents()

func newRunEvents() *command.Registry[RunEvent] {
	r := command.NewRegistry[RunEvent]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[RunEvent, ReconciliationStarted](r, "ReconciliationStarted"),
		command.Register[RunEvent, ReconciliationProgressed](r, "ReconciliationProgressed"),
		command.Register[RunEvent, ReconciliationDiscrepanciesFound](r, "ReconciliationDiscrepanciesFound"),
		command.Register[RunEvent, ReconciliationCompleted](r, "ReconciliationCompleted"),
		command.Register[RunEvent, ReconciliationFailed](r, "ReconciliationFailed"),
		command.Register[RunEvent, ReconciliationDiscrepancyResolved](r, "ReconciliationDiscrepancyResolved"),
	)
	return r
}

// RunEventTypePrefixes select the run events in a projection filter.
var RunEventTypePrefixes = []string{"Reconciliation"}
