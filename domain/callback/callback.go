package callback

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/text"
)

// Kind is the kind of a notice; it is also the last segment of the path on the bank's side (guide §12).
type Kind string

const (
	KindPayIn    Kind = "pay-in"   // to the receiver's bank of a transfer between two banks
	KindPayOut   Kind = "pay-out"  // to the sender's bank of a transfer between two banks
	KindTransfer Kind = "transfer" // to the one bank of a transfer inside it
)

// Valid reports whether k is one of the guide's three kinds.
func (k Kind) Valid() bool { return k == KindPayIn || k == KindPayOut || k == KindTransfer }

// Path is where a notice of kind k goes under the bank's callback_url: /api/dcm/notify/pay-in and so on.
func (k Kind) Path() string { return "/api/dcm/notify/" + string(k) }

// Bounds.
const (
	// MaxErrorRunes bounds the error text of an attempt (a network error, or the start of the bank's answer).
	MaxErrorRunes = 300
	// MaxReasonRunes bounds the reason of an abandonment.
	MaxReasonRunes = 300
	// MaxURLBytes bounds the URL of an attempt: a counterparty's callback_url (2048 bytes) and the path.
	MaxURLBytes = 2048 + 64
	// MaxSealedBytes bounds a sealed secret: 32 bytes and the vault's header and tag, with room to spare.
	MaxSealedBytes = 1024
)

var (
	// ErrOutOfOrder is an attempt whose number is not the next one of its notice: another writer recorded
	// it first (or the writer's view of the log is stale). Reload and look again.
	ErrOutOfOrder = errors.New("callback: attempt out of order")
	// ErrFinal is a write to a notice that is delivered or abandoned already.
	ErrFinal = errors.New("callback: notice delivered or abandoned already")
	// ErrSealChanged is a reseal whose Prev is not the stored sealed secret (a concurrent rotation).
	ErrSealChanged = errors.New("callback: the sealed secret changed")
	// ErrNoSecret is a reseal of a counterparty that has no secret.
	ErrNoSecret       = errors.New("callback: no secret set")
	ErrUnknownCommand = errors.New("callback: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("callback: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, format string, args ...any) error {
	return &ErrInvalid{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// LogStream is the delivery log of the notices of one payment.
func LogStream(paymentGUID uuid.UUID) string { return "callback-" + paymentGUID.String() }

// SecretStream is the stream of a counterparty's callback signing secret.
func SecretStream(counterpartyGUID uuid.UUID) string {
	return "callback-secret-" + counterpartyGUID.String()
}

// SecretOwner is the custody owner a counterparty's secret is sealed for, so that a sealed secret cannot be
// moved to another counterparty.
func SecretOwner(counterpartyGUID string) string { return "callback-secret/" + counterpartyGUID }

// Notice is one notification that a payment owes to one bank.
type Notice struct {
	Kind         Kind   `json:"kind"`
	Counterparty string `json:"counterparty_guid"`
}

// Owed lists the notices a settled payment owes (guide §12), the sender's bank first: pay-out to the sender's
// bank and pay-in to the receiver's for a transfer between two banks, one transfer notice for a transfer
// inside one bank. An issue or a burn (Emission set) owes none: it follows the bank's own emission request,
// whose outcome the bank reads from the emission history, and it is no transfer of the guide's §12.
func Owed(p payment.PaymentCreated) []Notice {
	if p.Emission != "" {
		return nil
	}
	from, to := p.Sender.CounterpartyGUID, p.Receiver.CounterpartyGUID
	switch {
	case from == "" || to == "":
		return nil // a party outside any bank: only the issuer, which emission payments alone involve
	case from == to:
		return []Notice{{Kind: KindTransfer, Counterparty: from}}
	}
	return []Notice{{Kind: KindPayOut, Counterparty: from}, {Kind: KindPayIn, Counterparty: to}}
}

// Policy bounds the delivery of one notice: exponential backoff from FirstRetry doubling up to MaxRetry, at
// most MaxAttempts attempts, and none later than MaxAge after the payment settled.
type Policy struct {
	FirstRetry  time.Duration `json:"first_retry"`
	MaxRetry    time.Duration `json:"max_retry"`
	MaxAttempts int           `json:"max_attempts"`
	MaxAge      time.Duration `json:"max_age"`
}

// Defaults and limits of Policy. With the defaults a bank that is down is tried for about eight hours
// (1 s, 2 s, … 34 min, then hourly), 20 attempts in all.
const (
	DefaultFirstRetry  = time.Second
	DefaultMaxRetry    = time.Hour
	DefaultMaxAttempts = 20
	DefaultMaxAge      = 24 * time.Hour
	MaxAttemptsLimit   = 100
	MaxAgeLimit        = 30 * 24 * time.Hour
)

// WithDefaults fills the zero fields.
func (p Policy) WithDefaults() Policy {
	if p.FirstRetry == 0 {
		p.FirstRetry = DefaultFirstRetry
	}
	if p.MaxRetry == 0 {
		p.MaxRetry = max(DefaultMaxRetry, p.FirstRetry)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxAge == 0 {
		p.MaxAge = DefaultMaxAge
	}
	return p
}

// Validate refuses a policy outside the bounds.
func (p Policy) Validate() error {
	switch {
	case p.FirstRetry <= 0 || p.MaxRetry < p.FirstRetry:
		return fmt.Errorf("callback: retry pauses %v to %v: want 0 < first ≤ max", p.FirstRetry, p.MaxRetry)
	case p.MaxAttempts < 1 || p.MaxAttempts > MaxAttemptsLimit:
		return fmt.Errorf("callback: %d attempts, want 1 to %d", p.MaxAttempts, MaxAttemptsLimit)
	case p.MaxAge <= 0 || p.MaxAge > MaxAgeLimit:
		return fmt.Errorf("callback: max age %v, want up to %v", p.MaxAge, MaxAgeLimit)
	}
	return nil
}

// Pause is the wait after failed attempt n (1-based) before attempt n+1: FirstRetry·2^(n-1), at most MaxRetry.
func (p Policy) Pause(n int) time.Duration {
	d := p.FirstRetry
	for i := 1; i < n && d < p.MaxRetry; i++ {
		d *= 2
	}
	return min(d, p.MaxRetry)
}

// Succeeded reports whether an HTTP status means the bank took the notice: any 2xx.
func Succeeded(status int) bool { return status >= 200 && status <= 299 }

// Permanent reports whether an HTTP status is a refusal that a retry cannot change: a 4xx other than 408
// (timeout) and 429 (rate limit).
func Permanent(status int) bool {
	return status >= 400 && status <= 499 && status != 408 && status != 429
}

// Progress is where one notice stands.
type Progress struct {
	Attempts  int
	FirstAt   time.Time // of the first attempt
	LastAt    time.Time // of the last attempt, or of the abandonment
	Delivered bool
	Abandoned bool
}

// Final reports whether nothing more will be sent.
func (p Progress) Final() bool { return p.Delivered || p.Abandoned }

// State is the delivery log of one payment.
type State struct {
	Payment string
	// Notices by notice. Evolve replaces the map rather than writing into it, so that a State, once returned,
	// never changes under whoever holds it.
	Notices map[Notice]Progress
}

// Commands. Time comes in At.
type (
	// RecordAttempt records one attempt to deliver a notice and what came of it: Status is the HTTP status
	// (0 when no answer came) and Error what went wrong. The decision applies the policy: a 2xx delivers,
	// a permanent refusal, the last allowed attempt or a next attempt that would fall after Deadline abandons.
	RecordAttempt struct {
		Payment  string    `json:"payment_guid"`
		Notice   Notice    `json:"notice"`
		URL      string    `json:"url"`
		Attempt  int       `json:"attempt"`
		Status   int       `json:"status"`
		Error    string    `json:"error,omitempty"`
		At       time.Time `json:"at"`
		Policy   Policy    `json:"policy"`
		Deadline time.Time `json:"deadline"` // settlement + MaxAge; zero: none
	}
	// Abandon gives a notice up without an attempt (its time ran out while nobody could send it, or the bank
	// removed its callback_url).
	Abandon struct {
		Payment string    `json:"payment_guid"`
		Notice  Notice    `json:"notice"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
)

// Event is an event of a delivery log.
type Event interface{ isCallbackEvent() }

// Events of a delivery log. Each names its payment, notice kind and bank, so that a reader needs no
// stream-name parsing.
type (
	CallbackAttempted struct {
		Payment      string    `json:"payment_guid"`
		Kind         Kind      `json:"kind"`
		Counterparty string    `json:"counterparty_guid"`
		URL          string    `json:"url"`
		Attempt      int       `json:"attempt"`
		Status       int       `json:"status"`
		Error        string    `json:"error,omitempty"`
		At           time.Time `json:"at"`
	}
	CallbackDelivered struct {
		Payment      string    `json:"payment_guid"`
		Kind         Kind      `json:"kind"`
		Counterparty string    `json:"counterparty_guid"`
		Attempt      int       `json:"attempt"`
		At           time.Time `json:"at"`
	}
	CallbackAbandoned struct {
		Payment      string    `json:"payment_guid"`
		Kind         Kind      `json:"kind"`
		Counterparty string    `json:"counterparty_guid"`
		Attempts     int       `json:"attempts"`
		Reason       string    `json:"reason"`
		At           time.Time `json:"at"`
	}
)

func (CallbackAttempted) isCallbackEvent() {}
func (CallbackDelivered) isCallbackEvent() {}
func (CallbackAbandoned) isCallbackEvent() {}

// NoticeOf is the notice an event of a delivery log is about, and its payment.
func NoticeOf(e Event) (paymentGUID string, n Notice) {
	switch e := e.(type) {
	case CallbackAttempted:
		return e.Payment, Notice{e.Kind, e.Counterparty}
	case CallbackDelivered:
		return e.Payment, Notice{e.Kind, e.Counterparty}
	case CallbackAbandoned:
		return e.Payment, Notice{e.Kind, e.Counterparty}
	}
	return "", Notice{}
}

// Apply folds one event into the progress of its notice. It is Evolve for one notice, so that a process
// that follows many logs keeps one Progress per notice without a State per payment.
func (p Progress) Apply(e Event) Progress {
	switch e := e.(type) {
	case CallbackAttempted:
		if p.Attempts == 0 {
			p.FirstAt = e.At
		}
		p.Attempts, p.LastAt = max(p.Attempts, e.Attempt), e.At
	case CallbackDelivered:
		p.Delivered = true
	case CallbackAbandoned:
		p.Abandoned, p.LastAt = true, e.At
	}
	return p
}

// Evolve folds one event.
func Evolve(s State, e Event) State {
	pay, n := NoticeOf(e)
	if pay == "" {
		return s
	}
	notices := maps.Clone(s.Notices)
	if notices == nil {
		notices = map[Notice]Progress{}
	}
	notices[n] = notices[n].Apply(e)
	return State{Payment: pay, Notices: notices}
}

// Decide decides a command.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case RecordAttempt:
		return recordAttempt(s, c)
	case Abandon:
		if err := checkNotice(s, c.Payment, c.Notice); err != nil {
			return nil, err
		}
		reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: MaxReasonRunes, Required: true})
		if err != nil {
			return nil, invalid("reason", "%v", err)
		}
		p := s.Notices[c.Notice]
		if p.Final() {
			return nil, ErrFinal
		}
		return []Event{abandoned(c.Payment, c.Notice, p.Attempts, reason, c.At)}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func recordAttempt(s State, c RecordAttempt) ([]Event, error) {
	if err := checkNotice(s, c.Payment, c.Notice); err != nil {
		return nil, err
	}
	if err := c.Policy.Validate(); err != nil {
		return nil, invalid("policy", "%v", err)
	}
	switch {
	case c.URL == "" || len(c.URL) > MaxURLBytes:
		return nil, invalid("url", "1 to %d bytes", MaxURLBytes)
	case c.Status != 0 && (c.Status < 100 || c.Status > 599):
		return nil, invalid("status", "an HTTP status or 0, got %d", c.Status)
	case c.Attempt < 1:
		return nil, invalid("attempt", "numbered from 1")
	}
	errText, err := text.Clean(c.Error, text.Rule{MaxRunes: MaxErrorRunes})
	if err != nil {
		return nil, invalid("error", "%v", err)
	}
	p := s.Notices[c.Notice]
	if p.Final() {
		return nil, ErrFinal
	}
	if c.Attempt != p.Attempts+1 {
		return nil, fmt.Errorf("%w: attempt %d of %s to %s, %d recorded", ErrOutOfOrder, c.Attempt, c.Notice.Kind, c.Notice.Counterparty, p.Attempts)
	}
	out := []Event{CallbackAttempted{Payment: c.Payment, Kind: c.Notice.Kind, Counterparty: c.Notice.Counterparty,
		URL: c.URL, Attempt: c.Attempt, Status: c.Status, Error: errText, At: c.At}}
	var reason string
	switch {
	case Succeeded(c.Status):
		return append(out, CallbackDelivered{Payment: c.Payment, Kind: c.Notice.Kind, Counterparty: c.Notice.Counterparty,
			Attempt: c.Attempt, At: c.At}), nil
	case Permanent(c.Status):
		reason = fmt.Sprintf("the bank refused the notice with HTTP %d; a retry cannot change that", c.Status)
	case c.Attempt >= c.Policy.MaxAttempts:
		reason = fmt.Sprintf("no success in %d attempts", c.Attempt)
	case !c.Deadline.IsZero() && !c.At.Add(c.Policy.Pause(c.Attempt)).Before(c.Deadline):
		reason = fmt.Sprintf("the next attempt would come later than %v after the settlement", c.Policy.MaxAge)
	default:
		return out, nil
	}
	return append(out, abandoned(c.Payment, c.Notice, c.Attempt, reason, c.At)), nil
}

func abandoned(pay string, n Notice, attempts int, reason string, at time.Time) CallbackAbandoned {
	return CallbackAbandoned{Payment: pay, Kind: n.Kind, Counterparty: n.Counterparty, Attempts: attempts, Reason: reason, At: at}
}

// checkNotice checks the payment and notice of a command against each other and the log.
func checkNotice(s State, pay string, n Notice) error {
	if _, err := uuid.Parse(pay); err != nil || len(pay) != 36 {
		return invalid("payment_guid", "a GUID")
	}
	if s.Payment != "" && s.Payment != pay {
		return invalid("payment_guid", "this log is payment %s's", s.Payment)
	}
	if !n.Kind.Valid() {
		return invalid("kind", "pay-in, pay-out or transfer")
	}
	if _, err := uuid.Parse(n.Counterparty); err != nil || len(n.Counterparty) != 36 {
		return invalid("counterparty_guid", "a GUID")
	}
	return nil
}

// Decider is the delivery log aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of delivery logs.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks the round trip.
	_ = errors.Join(
		command.Register[Event, CallbackAttempted](r, "CallbackAttempted"),
		command.Register[Event, CallbackDelivered](r, "CallbackDelivered"),
		command.Register[Event, CallbackAbandoned](r, "CallbackAbandoned"),
	)
	return r
}

// EventTypePrefixes select this package's events (delivery logs and secrets) in a subscription filter.
var EventTypePrefixes = []string{"Callback"}
