package reconciliation

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
)

// An inter-bank recon (guide §15) is one pair of counterparties, one asset and one UTC day. Its totals are
// not events: the recons projection computes them from the settled payments between the two. Its status is:
//
//	calculated        no participant has confirmed yet (no event: every pair with payments starts here)
//	confirmed         one participant confirmed the calculation
//	awaiting_payment  both confirmed; the debtor owes the creditor the saldo
//	paid              the creditor confirmed receipt (or both confirmed a saldo of zero: nothing is owed)
//	overdue           awaiting_payment past its due date; computed when read, with overdue_days
//
// A bank moves a recon only forward: confirm (calculated or confirmed → confirmed / awaiting_payment) and
// paid (awaiting_payment or overdue → paid, by the creditor).

// ReconStatus is the status of an inter-bank recon.
type ReconStatus string

const (
	Calculated      ReconStatus = "calculated"
	Confirmed       ReconStatus = "confirmed"
	AwaitingPayment ReconStatus = "awaiting_payment"
	Paid            ReconStatus = "paid"
	Overdue         ReconStatus = "overdue"
)

// ReconStatuses lists every status a recon shows.
var ReconStatuses = []ReconStatus{Calculated, Confirmed, AwaitingPayment, Paid, Overdue}

var (
	// ErrNotParticipant is a bank acting on a recon between two other banks.
	ErrNotParticipant = errors.New("recon: the counterparty is not a participant of this recon")
	// ErrDayNotOver is a confirmation of a day still running: its totals can still change.
	ErrDayNotOver = errors.New("recon: the day is not over; its totals can still change")
	// ErrNotCreditor is a payment confirmed by someone else than the creditor, who alone knows it arrived.
	ErrNotCreditor = errors.New("recon: only the creditor confirms that the saldo was paid")
	// ErrComputedStatus is a request to set a status that Kazna sets itself.
	ErrComputedStatus = errors.New("recon: this status is set by Kazna, not by an update")
	// ErrCalculationChanged is a confirmation of other figures than the other participant confirmed.
	ErrCalculationChanged = errors.New("recon: the calculation changed since the other participant confirmed it")
	// ErrNothingToReconcile is a recon of a pair and day without settled payments between them.
	ErrNothingToReconcile = errors.New("recon: no settled payments between the pair that day")
)

// TransitionError is a status change the recon's status does not allow.
type TransitionError struct {
	From, To ReconStatus
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("recon: a %s recon cannot become %s", e.From, e.To)
}

// ReconStream is the stream of a recon.
func ReconStream(guid uuid.UUID) string { return "recon-" + guid.String() }

// reconNamespace derives recon GUIDs: the same pair, asset and day always name the same recon, on any node.
var reconNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/kazna-ledger/kazna/recons"))

// ReconGUID is the recon of a pair of counterparties (in either order), an asset and a UTC day.
func ReconGUID(a, b, asset, day string) uuid.UUID {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if b < a {
		a, b = b, a
	}
	return uuid.NewSHA1(reconNamespace, []byte(a+"|"+b+"|"+asset+"|"+day))
}

// Calculation is what the projection says a recon amounts to when a bank updates it: the decider checks
// the update against it. Saldo is what the debtor owes the creditor (minor units, ≥ 0).
type Calculation struct {
	GUID     uuid.UUID `json:"guid"`
	Day      string    `json:"day"`
	Debtor   string    `json:"debtor"`
	Creditor string    `json:"creditor"`
	Saldo    int64     `json:"saldo"`
	TotalIn  int64     `json:"total_in"`  // the creditor's: what it received from the debtor
	TotalOut int64     `json:"total_out"` // the creditor's: what it sent to the debtor
	DayOver  bool      `json:"day_over"`
}

// ReconState is a recon's status (its totals live in the projection).
type ReconState struct {
	Exists     bool
	GUID       string
	Status     ReconStatus
	Confirmed  map[string]time.Time // participant → when it confirmed
	Agreed     Calculation          // what the first confirmation confirmed
	PaidBy     string
	AwaitingAt time.Time
	PaidAt     time.Time
	UpdatedAt  time.Time
}

// UpdateStatus is a participant's status update (the guide's "only status update is allowed").
type UpdateStatus struct {
	Calculation  Calculation `json:"calculation"`
	Counterparty string      `json:"counterparty"`
	Status       ReconStatus `json:"status"`
	By           string      `json:"by"`
	At           time.Time   `json:"at"`
}

// ReconEvent is an event of a recon stream; every type name starts with "Recon" and none with
// "Reconciliation".
type ReconEvent interface{ isReconEvent() }

type (
	// ReconConfirmedBy is one participant's confirmation of the calculation.
	ReconConfirmedBy struct {
		GUID         string    `json:"guid"`
		Day          string    `json:"day"`
		Counterparty string    `json:"counterparty"`
		Debtor       string    `json:"debtor"`
		Creditor     string    `json:"creditor"`
		Saldo        int64     `json:"saldo"`
		TotalIn      int64     `json:"total_in"`
		TotalOut     int64     `json:"total_out"`
		By           string    `json:"by"`
		At           time.Time `json:"at"`
	}
	// ReconAwaitingPayment: both confirmed; the debtor owes the saldo.
	ReconAwaitingPayment struct {
		GUID  string    `json:"guid"`
		Saldo int64     `json:"saldo"`
		At    time.Time `json:"at"`
	}
	// ReconPaid: the creditor confirmed receipt, or there was nothing to pay.
	ReconPaid struct {
		GUID         string    `json:"guid"`
		Counterparty string    `json:"counterparty"` // "" when nothing was owed
		By           string    `json:"by"`
		At           time.Time `json:"at"`
	}
)

func (ReconConfirmedBy) isReconEvent()     {}
func (ReconAwaitingPayment) isReconEvent() {}
func (ReconPaid) isReconEvent()            {}

// EvolveRecon folds one event into a recon.
func EvolveRecon(s ReconState, e ReconEvent) ReconState {
	switch e := e.(type) {
	case ReconConfirmedBy:
		if !s.Exists {
			s = ReconState{Exists: true, GUID: e.GUID, Status: Confirmed,
				Agreed: Calculation{Day: e.Day, Debtor: e.Debtor, Creditor: e.Creditor, Saldo: e.Saldo, TotalIn: e.TotalIn, TotalOut: e.TotalOut}}
		}
		confirmed := make(map[string]time.Time, 2)
		for k, v := range s.Confirmed {
			confirmed[k] = v
		}
		confirmed[e.Counterparty] = e.At
		s.Confirmed, s.UpdatedAt = confirmed, e.At
	case ReconAwaitingPayment:
		s.Status, s.AwaitingAt, s.UpdatedAt = AwaitingPayment, e.At, e.At
	case ReconPaid:
		s.Status, s.PaidBy, s.PaidAt, s.UpdatedAt = Paid, e.Counterparty, e.At, e.At
	}
	return s
}

// Status is the recon's recorded status (calculated when nothing is recorded).
func (s ReconState) RecordedStatus() ReconStatus {
	if !s.Exists {
		return Calculated
	}
	return s.Status
}

// DecideRecon decides a status update.
func DecideRecon(s ReconState, cmd any) ([]ReconEvent, error) {
	c, ok := cmd.(UpdateStatus)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	calc := c.Calculation
	cp := strings.ToLower(c.Counterparty)
	if calc.GUID == uuid.Nil || calc.Debtor == "" || calc.Creditor == "" {
		return nil, ErrNothingToReconcile
	}
	if cp != calc.Debtor && cp != calc.Creditor {
		return nil, ErrNotParticipant
	}
	from := s.RecordedStatus()
	switch c.Status {
	case Confirmed:
		switch from {
		case Calculated, Confirmed:
		default:
			return nil, &TransitionError{From: from, To: c.Status}
		}
		if !calc.DayOver {
			return nil, ErrDayNotOver
		}
		if _, done := s.Confirmed[cp]; done {
			return nil, nil // confirmed already: a retry
		}
		if s.Exists && (s.Agreed.Debtor != calc.Debtor || s.Agreed.Saldo != calc.Saldo ||
			s.Agreed.TotalIn != calc.TotalIn || s.Agreed.TotalOut != calc.TotalOut) {
			return nil, ErrCalculationChanged
		}
		guid := calc.GUID.String()
		evs := []ReconEvent{ReconConfirmedBy{GUID: guid, Day: calc.Day, Counterparty: cp, Debtor: calc.Debtor, Creditor: calc.Creditor,
			Saldo: calc.Saldo, TotalIn: calc.TotalIn, TotalOut: calc.TotalOut, By: c.By, At: c.At}}
		if len(s.Confirmed) == 1 { // the other participant confirmed before
			if calc.Saldo == 0 {
				return append(evs, ReconPaid{GUID: guid, By: c.By, At: c.At}), nil
			}
			return append(evs, ReconAwaitingPayment{GUID: guid, Saldo: calc.Saldo, At: c.At}), nil
		}
		return evs, nil
	case Paid:
		if from == Paid {
			return nil, nil // a retry
		}
		if from != AwaitingPayment {
			return nil, &TransitionError{From: from, To: c.Status}
		}
		if cp != calc.Creditor {
			return nil, ErrNotCreditor
		}
		return []ReconEvent{ReconPaid{GUID: calc.GUID.String(), Counterparty: cp, By: c.By, At: c.At}}, nil
	case AwaitingPayment, Overdue:
		return nil, ErrComputedStatus
	case Calculated:
		if from == Calculated {
			return nil, nil
		}
		return nil, &TransitionError{From: from, To: c.Status}
	}
	return nil, &ErrInvalid{Field: "status", Reason: fmt.Sprintf("%q is not a recon status", c.Status)}
}

// OverdueDays says whether an awaiting recon is past its due date at now, and by how many days (whole days
// started past the due date, at least 1).
func OverdueDays(status ReconStatus, due, now time.Time) (bool, int) {
	if status != AwaitingPayment || !now.After(due) {
		return false, 0
	}
	return true, int(now.Sub(due)/(24*time.Hour)) + 1
}

// ReconDecider is the recon aggregate.
var ReconDecider = command.Decider[ReconState, any, ReconEvent]{Evolve: EvolveRecon, Decide: DecideRecon}

// ReconEvents is the codec of recon streams.
var ReconEvents = newReconEvents()

func newReconEvents() *command.Registry[ReconEvent] {
	r := command.NewRegistry[ReconEvent]()
	_ = errors.Join(
		command.Register[ReconEvent, ReconConfirmedBy](r, "ReconConfirmedBy"),
		command.Register[ReconEvent, ReconAwaitingPayment](r, "ReconAwaitingPayment"),
		command.Register[ReconEvent, ReconPaid](r, "ReconPaid"),
	)
	return r
}

// AssetGUID names an asset in recons (the guide's asset_guid): derived from its code and issuer, so every
// node names it alike without storing it.
func AssetGUID(code, issuer string) string {
	return uuid.NewSHA1(reconNamespace, []byte("asset|"+code+":"+issuer)).String()
}
