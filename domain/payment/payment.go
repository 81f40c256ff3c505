package payment

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/text"
)

// Status is where a payment is in its life (guide §10 status enum).
type Status string

const (
	StatusCreated   Status = "CREATED"   // a draft: nothing reserved
	StatusPending   Status = "PENDING"   // confirmed: funds reserved, settlement on Stellar under way
	StatusConfirmed Status = "CONFIRMED" // settled on Stellar, booked on both accounts
	StatusFailed    Status = "FAILED"    // settlement refused; the reservation is released
	StatusCancelled Status = "CANCELLED" // a draft withdrawn before confirmation
)

// Statuses lists every status, in the order of a payment's life.
var Statuses = []Status{StatusCreated, StatusPending, StatusConfirmed, StatusFailed, StatusCancelled}

// Final reports whether nothing more can happen to a payment in status s.
func (s Status) Final() bool {
	return s == StatusConfirmed || s == StatusFailed || s == StatusCancelled
}

// Kind is the kind of an account as payments see it: the account kinds, and the issuer ("root", guide §10
// example), which sends issued money and receives burned money.
type Kind string

const (
	KindRoot       Kind = "root"
	KindEmission   Kind = "emission"
	KindProcessing Kind = "processing"
	KindCustomer   Kind = "customer"
)

// Bounds.
const (
	MaxPurposeRunes = 500
	MaxReasonRunes  = 500
)

var (
	ErrNotFound       = errors.New("payment: not found")
	ErrAlreadyExists  = errors.New("payment: already exists with other content")
	ErrUnknownCommand = errors.New("payment: unknown command")
	// ErrNotConfirmable is a confirmation of a payment that is no longer a draft (cancelled or failed).
	ErrNotConfirmable = errors.New("payment: only a draft can be confirmed")
	// ErrNotCancellable is a cancellation of a payment that is no longer a draft.
	ErrNotCancellable = errors.New("payment: only a draft can be cancelled")
	// ErrNotPending is a settlement or failure of a payment that is not being settled.
	ErrNotPending = errors.New("payment: not pending")
	// ErrBankGUID is a confirmation whose bank_guid does not name the receiver's bank (or is missing for a
	// transfer to another counterparty, guide §10).
	ErrBankGUID = errors.New("payment: bank_guid must name the receiver's counterparty")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string { return fmt.Sprintf("payment: invalid %s: %s", e.Field, e.Reason) }

// InvalidField lets the API map every domain package's invalid-field errors with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, format string, args ...any) error {
	return &ErrInvalid{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// RouteError is a payment between two kinds of account that the guide's route rules do not allow.
type RouteError struct {
	From, To Kind
	External bool // between two counterparties
	Reason   string
}

func (e *RouteError) Error() string {
	scope := "within one counterparty"
	if e.External {
		scope = "between two counterparties"
	}
	msg := fmt.Sprintf("payment: route %s → %s is not allowed %s", e.From, e.To, scope)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Route names the route for messages: "customer → processing".
func (e *RouteError) Route() string { return string(e.From) + " → " + string(e.To) }

// Party is one side of a payment as it was when the payment was created.
type Party struct {
	AccountGUID      string `json:"account_guid,omitempty"` // empty for the issuer
	Kind             Kind   `json:"kind"`
	CounterpartyGUID string `json:"counterparty_guid,omitempty"`
	Address          string `json:"address"`
	IBAN             string `json:"iban,omitempty"`
	BranchGUID       string `json:"branch_guid,omitempty"`
	CustomerGUID     string `json:"customer_guid,omitempty"`
}

// routes are the guide's recommended routes (§10): inside one counterparty, and between two.
var (
	internalRoutes = map[[2]Kind]bool{
		{KindEmission, KindProcessing}: true,
		{KindProcessing, KindCustomer}: true,
		{KindCustomer, KindCustomer}:   true,
		{KindProcessing, KindEmission}: true,
		{KindCustomer, KindProcessing}: true,
	}
	externalRoutes = map[[2]Kind]bool{
		{KindProcessing, KindProcessing}: true,
		{KindCustomer, KindCustomer}:     true,
	}
)

// CheckRoute applies the route rules to a payment a bank asks for. Issue and burn (root ↔ emission) are the
// platform's own and never pass through here. A branch customer may pay only a processing account of its own
// branch, or another customer (guide §10, transfer-rules matrix).
func CheckRoute(from, to Party) error {
	external := from.CounterpartyGUID != to.CounterpartyGUID
	pair := [2]Kind{from.Kind, to.Kind}
	ok := internalRoutes[pair]
	if external {
		ok = externalRoutes[pair]
	}
	if !ok {
		return &RouteError{From: from.Kind, To: to.Kind, External: external}
	}
	if from.Kind == KindCustomer && from.BranchGUID != "" && to.Kind == KindProcessing && to.BranchGUID != from.BranchGUID {
		return &RouteError{From: from.Kind, To: to.Kind, External: external, Reason: "a branch customer pays only its own branch's processing account"}
	}
	return nil
}

// Stream is the stream of the payment with this GUID.
func Stream(guid uuid.UUID) string { return "payment-" + guid.String() }

// Commands.
type (
	// Create records a draft. System is set for the platform's own payments (issue and burn), which skip
	// the route rules and are confirmed at once by their emission request.
	Create struct {
		GUID             uuid.UUID `json:"guid"`
		CounterpartyGUID uuid.UUID `json:"counterparty_guid"` // the bank that creates it (the sender's)
		BranchGUID       string    `json:"branch_guid,omitempty"`
		Sender           Party     `json:"sender"`
		Receiver         Party     `json:"receiver"`
		Amount           int64     `json:"amount"`
		AssetCode        string    `json:"asset_code"`
		AssetIssuer      string    `json:"asset_issuer"`
		CategoryGUID     string    `json:"category_guid,omitempty"`
		Category         string    `json:"category,omitempty"`
		Purpose          string    `json:"purpose,omitempty"`
		TargetBalance    *int64    `json:"target_balance,omitempty"`
		Emission         string    `json:"emission,omitempty"` // the emission request of an issue or burn
		CreatedBy        string    `json:"created_by,omitempty"`
		At               time.Time `json:"at"`
	}
	// Confirm moves a draft to PENDING once the sender's funds are reserved. BankGUID is the receiver's bank
	// as the caller named it (guide §10: empty for an internal transfer).
	Confirm struct {
		BankGUID string `json:"bank_guid,omitempty"`
		By       string `json:"by,omitempty"`
		// Limits are the limits the sender's reservation passed (guide §14), kept in the payment's history.
		Limits *account.SpendLimits `json:"limits,omitempty"`
		At     time.Time            `json:"at"`
	}
	// Settle records the Stellar transaction that carried the payment; the payment is CONFIRMED.
	Settle struct {
		Hash   string    `json:"hash"`
		Ledger int32     `json:"ledger"`
		At     time.Time `json:"at"`
	}
	// Fail records why the network refused the payment.
	Fail struct {
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	// Cancel withdraws a draft.
	Cancel struct {
		By string    `json:"by,omitempty"`
		At time.Time `json:"at"`
	}
)

// Events.
type (
	PaymentCreated struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		BranchGUID       string    `json:"branch_guid,omitempty"`
		Sender           Party     `json:"sender"`
		Receiver         Party     `json:"receiver"`
		Amount           int64     `json:"amount"`
		AssetCode        string    `json:"asset_code"`
		AssetIssuer      string    `json:"asset_issuer"`
		CategoryGUID     string    `json:"category_guid,omitempty"`
		Category         string    `json:"category,omitempty"`
		Purpose          string    `json:"purpose,omitempty"`
		TargetBalance    *int64    `json:"target_balance,omitempty"`
		Emission         string    `json:"emission,omitempty"`
		CreatedBy        string    `json:"created_by,omitempty"`
		At               time.Time `json:"at"`
	}
	PaymentConfirmed struct {
		GUID     string `json:"guid"`
		BankGUID string `json:"bank_guid,omitempty"`
		By       string `json:"by,omitempty"`
		// Limits are the limits the sender's reservation passed, when any applied.
		Limits *account.SpendLimits `json:"limits,omitempty"`
		At     time.Time            `json:"at"`
	}
	PaymentSettled struct {
		GUID   string    `json:"guid"`
		Hash   string    `json:"hash"`
		Ledger int32     `json:"ledger"`
		At     time.Time `json:"at"`
	}
	PaymentFailed struct {
		GUID   string    `json:"guid"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	PaymentCancelled struct {
		GUID string    `json:"guid"`
		By   string    `json:"by,omitempty"`
		At   time.Time `json:"at"`
	}
)

// Event is an event of a payment stream.
type Event interface{ isPaymentEvent() }

func (PaymentCreated) isPaymentEvent()   {}
func (PaymentConfirmed) isPaymentEvent() {}
func (PaymentSettled) isPaymentEvent()   {}
func (PaymentFailed) isPaymentEvent()    {}
func (PaymentCancelled) isPaymentEvent() {}

// State is a payment as its decisions need it.
type State struct {
	Created   PaymentCreated
	Status    Status
	BankGUID  string
	Hash      string
	Ledger    int32
	Reason    string
	UpdatedAt time.Time
	// Signatures are the multisignature steps (signatures.go); zero for a payment that needs none.
	Signatures Signatures
}

// Exists reports whether the payment was created.
func (s State) Exists() bool { return s.Status != "" }

// Evolve folds one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case PaymentCreated:
		s = State{Created: e, Status: StatusCreated, UpdatedAt: e.At}
	case PaymentConfirmed:
		s.Status, s.BankGUID, s.UpdatedAt = StatusPending, e.BankGUID, e.At
	case PaymentSettled:
		s.Status, s.Hash, s.Ledger, s.UpdatedAt = StatusConfirmed, e.Hash, e.Ledger, e.At
	case PaymentFailed:
		s.Status, s.Reason, s.UpdatedAt = StatusFailed, e.Reason, e.At
	case PaymentCancelled:
		s.Status, s.UpdatedAt = StatusCancelled, e.At
	default:
		s, _ = evolveSignature(s, e)
	}
	return s
}

// Decide decides a command.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Create:
		ev, err := created(c)
		if err != nil {
			return nil, err
		}
		if s.Exists() {
			if sameDraft(s.Created, ev) {
				return nil, nil
			}
			return nil, ErrAlreadyExists
		}
		return []Event{ev}, nil
	case Confirm:
		if !s.Exists() {
			return nil, ErrNotFound
		}
		if err := checkBank(s.Created, c.BankGUID); err != nil {
			return nil, err
		}
		switch s.Status {
		case StatusCreated:
			return []Event{PaymentConfirmed{GUID: s.Created.GUID, BankGUID: c.BankGUID, By: c.By, Limits: c.Limits, At: c.At}}, nil
		case StatusPending, StatusConfirmed:
			return nil, nil // confirmed already: a retry
		}
		return nil, ErrNotConfirmable
	case Settle:
		if !s.Exists() {
			return nil, ErrNotFound
		}
		if c.Hash == "" {
			return nil, invalid("hash", "required")
		}
		switch s.Status {
		case StatusConfirmed:
			if s.Hash == c.Hash {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: settled already by %s", ErrNotPending, s.Hash)
		case StatusPending:
			return []Event{PaymentSettled{GUID: s.Created.GUID, Hash: c.Hash, Ledger: c.Ledger, At: c.At}}, nil
		}
		return nil, ErrNotPending
	case Fail:
		if !s.Exists() {
			return nil, ErrNotFound
		}
		reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: MaxReasonRunes})
		if err != nil || reason == "" {
			return nil, invalid("reason", "1 to %d printable characters", MaxReasonRunes)
		}
		switch s.Status {
		case StatusFailed:
			return nil, nil
		case StatusPending, StatusCreated:
			return []Event{PaymentFailed{GUID: s.Created.GUID, Reason: reason, At: c.At}}, nil
		}
		return nil, ErrNotPending
	case Cancel:
		if !s.Exists() {
			return nil, ErrNotFound
		}
		switch s.Status {
		case StatusCancelled:
			return nil, nil
		case StatusCreated:
			return []Event{PaymentCancelled{GUID: s.Created.GUID, By: c.By, At: c.At}}, nil
		}
		return nil, ErrNotCancellable
	}
	if evs, err, ok := decideSignature(s, cmd); ok {
		return evs, err
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

// checkBank applies guide §10: bank_guid is mandatory for a transfer to another counterparty and must name
// the receiver's; for an internal transfer it may be left out (or name the bank itself).
func checkBank(p PaymentCreated, bank string) error {
	external := p.Sender.CounterpartyGUID != p.Receiver.CounterpartyGUID
	switch {
	case p.Emission != "":
		return nil
	case external && bank == "":
		return fmt.Errorf("%w: bank_guid is required for a transfer to another counterparty", ErrBankGUID)
	case bank != "" && bank != p.Receiver.CounterpartyGUID:
		return fmt.Errorf("%w: the receiver belongs to %s", ErrBankGUID, p.Receiver.CounterpartyGUID)
	}
	return nil
}

func created(c Create) (PaymentCreated, error) {
	if c.GUID == uuid.Nil || c.CounterpartyGUID == uuid.Nil {
		return PaymentCreated{}, invalid("guid", "guid and counterparty_guid are required")
	}
	if c.Amount <= 0 {
		return PaymentCreated{}, invalid("amount", "must be positive")
	}
	if c.AssetCode == "" || c.AssetIssuer == "" {
		return PaymentCreated{}, invalid("asset_code", "asset code and issuer are required")
	}
	for _, p := range []struct {
		field string
		p     Party
	}{{"sender", c.Sender}, {"receiver", c.Receiver}} {
		if p.p.Address == "" {
			return PaymentCreated{}, invalid(p.field+"_id", "the account has no Stellar address")
		}
		if p.p.Kind != KindRoot && p.p.AccountGUID == "" {
			return PaymentCreated{}, invalid(p.field+"_id", "required")
		}
	}
	if c.Sender.Address == c.Receiver.Address {
		return PaymentCreated{}, invalid("receiver_id", "the sender and the receiver are the same account")
	}
	if c.Emission == "" {
		if c.Sender.Kind == KindRoot || c.Receiver.Kind == KindRoot {
			return PaymentCreated{}, invalid("sender_id", "only the platform's emission pays from or to the issuer")
		}
		if c.Sender.CounterpartyGUID != c.CounterpartyGUID.String() {
			return PaymentCreated{}, invalid("sender_id", "the sender's account belongs to another counterparty")
		}
		if err := CheckRoute(c.Sender, c.Receiver); err != nil {
			return PaymentCreated{}, err
		}
	} else if (c.Sender.Kind == KindRoot) == (c.Receiver.Kind == KindRoot) {
		return PaymentCreated{}, invalid("sender_id", "an emission payment goes between the issuer and an emission account")
	}
	purpose, err := text.Clean(c.Purpose, text.Rule{MaxRunes: MaxPurposeRunes})
	if err != nil {
		return PaymentCreated{}, invalid("purpose", "%v", err)
	}
	return PaymentCreated{GUID: c.GUID.String(), CounterpartyGUID: c.CounterpartyGUID.String(), BranchGUID: c.BranchGUID,
		Sender: c.Sender, Receiver: c.Receiver, Amount: c.Amount, AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer,
		CategoryGUID: c.CategoryGUID, Category: c.Category, Purpose: purpose, TargetBalance: c.TargetBalance,
		Emission: c.Emission, CreatedBy: c.CreatedBy, At: c.At}, nil
}

// sameDraft compares two drafts without their times, so a retried create (received later) is the same one.
func sameDraft(a, b PaymentCreated) bool {
	a.At, b.At = time.Time{}, time.Time{}
	ta, tb := a.TargetBalance, b.TargetBalance
	a.TargetBalance, b.TargetBalance = nil, nil
	if (ta == nil) != (tb == nil) || (ta != nil && *ta != *tb) {
		return false
	}
	return a == b
}

// Decider is the payment aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of payment streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks the round trip.
	_ = errors.Join(
		command.Register[Event, PaymentCreated](r, "PaymentCreated"),
		command.Register[Event, PaymentConfirmed](r, "PaymentConfirmed"),
		command.Register[Event, PaymentSettled](r, "PaymentSettled"),
		command.Register[Event, PaymentFailed](r, "PaymentFailed"),
		command.Register[Event, PaymentCancelled](r, "PaymentCancelled"),
		command.Register[Event, PaymentSignatureRequested](r, "PaymentSignatureRequested"),
		command.Register[Event, PaymentSigned](r, "PaymentSigned"),
		command.Register[Event, PaymentSignatureRefused](r, "PaymentSignatureRefused"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Payment"}
