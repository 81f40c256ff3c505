package payment

import (
	"errors"
	"fmt"
	"time"

	"github.com/kazna-ledger/kazna/domain/text"
)

// Multisignature (guide §11). A payment from an account that needs the bank's signature as well as the
// customer's and the platform's is signed in steps, each recorded on the payment's stream so that the
// payment's history shows them and a restarted worker continues with the right attempt number:
//
//	PaymentSignatureRequested (attempt n) → PaymentSigned (attempt n)            → settled on chain
//	                                      → PaymentSignatureRefused (attempt n)  → asked again later, or FAILED
//
// Whether a refusal stops the payment is decided here, from the refusals recorded so far: a malformed
// envelope (400), keys the bank cannot sign with (401), an answer that is not the bank's valid signature of
// the same transaction, all stop at once; a payment the bank cannot find yet (404) is asked about again up to
// MaxSignatureNotFound times in all; a bank that does not answer (timeout, 5xx, connection refused) up to
// MaxSignatureUnavailable times in all.

// Bounds of the signature steps.
const (
	// MaxSignatureNotFound is how many 404 answers a payment takes: guide §11, "retries POST /sign later, up
	// to 5 retries". The fifth 404 fails the payment.
	MaxSignatureNotFound = 5
	// MaxSignatureUnavailable is how many requests without a usable answer (timeout, 5xx, connection
	// error, an unexpected status) a payment takes before it fails. Not in the guide: a bound of our own.
	MaxSignatureUnavailable = 10
	// MaxSignatureAttempts bounds the requests of one payment whatever the answers were.
	MaxSignatureAttempts = MaxSignatureNotFound + MaxSignatureUnavailable
	// MaxSignerAddresses bounds the addresses of one request (a bank registers a few signer keys).
	MaxSignerAddresses = 8
)

// Refusal is why a bank's signature did not come.
type Refusal string

const (
	RefusalBadRequest   Refusal = "bad_request"  // 400: the bank says the envelope is malformed
	RefusalUnauthorized Refusal = "unauthorized" // 401: the bank holds none of the requested keys
	RefusalNotFound     Refusal = "not_found"    // 404: the bank's payment lookup found nothing (yet)
	RefusalUnavailable  Refusal = "unavailable"  // no usable answer: timeout, 5xx, connection error
	RefusalWrongKey     Refusal = "wrong_key"    // an answer without valid signatures of the requested keys
	RefusalBadAnswer    Refusal = "bad_answer"   // a 2xx answer that is not the guide's body or not the same transaction
)

func (r Refusal) valid() bool {
	switch r {
	case RefusalBadRequest, RefusalUnauthorized, RefusalNotFound, RefusalUnavailable, RefusalWrongKey, RefusalBadAnswer:
		return true
	}
	return false
}

// Signatures is what a payment's signature steps left: counts only, so that a State stays a plain value.
type Signatures struct {
	Requests    int     // requests sent to the bank (the last attempt number)
	Signed      int     // the attempt the bank signed, 0 if none
	Refused     int     // the last attempt refused, 0 if none
	NotFound    int     // 404 answers so far
	Unavailable int     // requests without a usable answer so far
	Stopped     bool    // a refusal stopped the payment: it must fail, not be asked again
	Last        Refusal // the latest refusal
	Reason      string  // the latest refusal's reason
}

// Commands of the signature steps. Attempt numbers start at 1 and follow each other.
type (
	// RequestSignature records that the bank is being asked to sign the transaction with TxHash.
	RequestSignature struct {
		Attempt   int       `json:"attempt"`
		Addresses []string  `json:"addresses"`
		TxHash    string    `json:"tx_hash"`
		At        time.Time `json:"at"`
	}
	// RecordSigned records the bank's valid signatures of the attempt's transaction.
	RecordSigned struct {
		Attempt   int       `json:"attempt"`
		Addresses []string  `json:"addresses"` // the addresses whose signatures were checked
		At        time.Time `json:"at"`
	}
	// RecordSignatureRefusal records why the attempt brought no signature. HTTPStatus is the bank's answer
	// (0 when none came).
	RecordSignatureRefusal struct {
		Attempt    int       `json:"attempt"`
		Refusal    Refusal   `json:"refusal"`
		HTTPStatus int       `json:"http_status,omitempty"`
		Reason     string    `json:"reason"`
		At         time.Time `json:"at"`
	}
)

// Events of the signature steps.
type (
	PaymentSignatureRequested struct {
		GUID      string    `json:"guid"`
		Attempt   int       `json:"attempt"`
		Addresses []string  `json:"addresses"`
		TxHash    string    `json:"tx_hash"`
		At        time.Time `json:"at"`
	}
	PaymentSigned struct {
		GUID      string    `json:"guid"`
		Attempt   int       `json:"attempt"`
		Addresses []string  `json:"addresses"`
		At        time.Time `json:"at"`
	}
	// PaymentSignatureRefused carries the decision it led to: Final is true when the payment must fail
	// (FAILED follows once the reservation is released), false when the bank is asked again later.
	PaymentSignatureRefused struct {
		GUID       string    `json:"guid"`
		Attempt    int       `json:"attempt"`
		Refusal    Refusal   `json:"refusal"`
		HTTPStatus int       `json:"http_status,omitempty"`
		Reason     string    `json:"reason"`
		Final      bool      `json:"final"`
		At         time.Time `json:"at"`
	}
)

func (PaymentSignatureRequested) isPaymentEvent() {}
func (PaymentSigned) isPaymentEvent()             {}
func (PaymentSignatureRefused) isPaymentEvent()   {}

// evolveSignature folds a signature event; ok is false for any other event.
func evolveSignature(s State, e Event) (State, bool) {
	switch e := e.(type) {
	case PaymentSignatureRequested:
		s.Signatures.Requests = e.Attempt
		s.UpdatedAt = e.At
	case PaymentSigned:
		s.Signatures.Signed = e.Attempt
		s.UpdatedAt = e.At
	case PaymentSignatureRefused:
		sg := &s.Signatures
		switch e.Refusal {
		case RefusalNotFound:
			sg.NotFound++
		case RefusalUnavailable:
			sg.Unavailable++
		}
		sg.Refused, sg.Last, sg.Reason, sg.Stopped = e.Attempt, e.Refusal, e.Reason, sg.Stopped || e.Final
		s.UpdatedAt = e.At
	default:
		return s, false
	}
	return s, true
}

// decideSignature decides a signature command; ok is false for any other command.
func decideSignature(s State, cmd any) (evs []Event, err error, ok bool) {
	switch c := cmd.(type) {
	case RequestSignature:
		evs, err = requestSignature(s, c)
	case RecordSigned:
		evs, err = recordSigned(s, c)
	case RecordSignatureRefusal:
		evs, err = recordRefusal(s, c)
	default:
		return nil, nil, false
	}
	return evs, err, true
}

func requestSignature(s State, c RequestSignature) ([]Event, error) {
	if err := signable(s); err != nil {
		return nil, err
	}
	sg := s.Signatures
	switch {
	case c.Attempt >= 1 && c.Attempt <= sg.Requests:
		return nil, nil // recorded already: a retry of the write
	case c.Attempt != sg.Requests+1:
		return nil, invalid("attempt", "%d does not follow attempt %d", c.Attempt, sg.Requests)
	case sg.Stopped:
		return nil, fmt.Errorf("%w: the bank's refusal stopped it (%s)", ErrSignatureStopped, sg.Last)
	case c.Attempt > MaxSignatureAttempts:
		return nil, fmt.Errorf("%w: %d requests made", ErrSignatureStopped, sg.Requests)
	case len(c.Addresses) == 0 || len(c.Addresses) > MaxSignerAddresses:
		return nil, invalid("addresses", "1 to %d signer addresses", MaxSignerAddresses)
	case c.TxHash == "":
		return nil, invalid("tx_hash", "required")
	}
	return []Event{PaymentSignatureRequested{GUID: s.Created.GUID, Attempt: c.Attempt,
		Addresses: append([]string(nil), c.Addresses...), TxHash: c.TxHash, At: c.At}}, nil
}

func recordSigned(s State, c RecordSigned) ([]Event, error) {
	if !s.Exists() {
		return nil, ErrNotFound
	}
	if s.Signatures.Signed == c.Attempt && c.Attempt > 0 {
		return nil, nil
	}
	if err := signable(s); err != nil {
		return nil, err
	}
	if c.Attempt != s.Signatures.Requests || c.Attempt < 1 || s.Signatures.Refused == c.Attempt {
		return nil, invalid("attempt", "%d is not the open request (%d)", c.Attempt, s.Signatures.Requests)
	}
	if len(c.Addresses) == 0 {
		return nil, invalid("addresses", "at least one signer signed")
	}
	return []Event{PaymentSigned{GUID: s.Created.GUID, Attempt: c.Attempt, Addresses: append([]string(nil), c.Addresses...), At: c.At}}, nil
}

func recordRefusal(s State, c RecordSignatureRefusal) ([]Event, error) {
	if err := signable(s); err != nil {
		return nil, err
	}
	sg := s.Signatures
	if c.Attempt != sg.Requests || c.Attempt < 1 {
		return nil, invalid("attempt", "%d is not the open request (%d)", c.Attempt, sg.Requests)
	}
	if sg.Refused == c.Attempt {
		return nil, nil // this attempt's refusal is recorded already
	}
	if sg.Signed == c.Attempt {
		return nil, invalid("attempt", "attempt %d was signed", c.Attempt)
	}
	if !c.Refusal.valid() {
		return nil, invalid("refusal", "%q is not a refusal", c.Refusal)
	}
	reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: MaxReasonRunes})
	if err != nil || reason == "" {
		return nil, invalid("reason", "1 to %d printable characters", MaxReasonRunes)
	}
	final := false
	switch c.Refusal {
	case RefusalNotFound:
		final = sg.NotFound+1 >= MaxSignatureNotFound
	case RefusalUnavailable:
		final = sg.Unavailable+1 >= MaxSignatureUnavailable
	default:
		final = true
	}
	final = final || c.Attempt >= MaxSignatureAttempts
	return []Event{PaymentSignatureRefused{GUID: s.Created.GUID, Attempt: c.Attempt, Refusal: c.Refusal,
		HTTPStatus: c.HTTPStatus, Reason: reason, Final: final, At: c.At}}, nil
}

// signable: only a payment being settled is signed.
func signable(s State) error {
	if !s.Exists() {
		return ErrNotFound
	}
	if s.Status != StatusPending {
		return fmt.Errorf("%w: it is %s", ErrNotPending, s.Status)
	}
	return nil
}

// ErrSignatureStopped is a request for a signature of a payment whose signature steps are over.
var ErrSignatureStopped = errors.New("payment: no more signature requests")

// FailureReason is what a payment whose signature steps stopped records as its reason.
func (sg Signatures) FailureReason() string {
	switch sg.Last {
	case RefusalBadRequest:
		return "the bank refused to sign: the envelope is malformed (HTTP 400): " + sg.Reason
	case RefusalUnauthorized:
		return "the bank refused to sign: it holds none of the requested keys (HTTP 401): " + sg.Reason
	case RefusalNotFound:
		return fmt.Sprintf("the bank did not find the payment in %d signature requests (HTTP 404)", sg.NotFound)
	case RefusalUnavailable:
		return fmt.Sprintf("the bank's signing service did not answer in %d requests: %s", sg.Unavailable, sg.Reason)
	case RefusalWrongKey:
		return "bank signed with the wrong key: " + sg.Reason
	case RefusalBadAnswer:
		return "the bank's signing answer is unusable: " + sg.Reason
	}
	return "the bank's signature did not come: " + sg.Reason
}
