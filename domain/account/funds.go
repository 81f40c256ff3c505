package account

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
)

// Money on an account. The account stream is the consistency boundary of its balance: a payment reserves
// funds on the sender's stream with the expected revision, so two concurrent spends cannot both pass, and
// settles (debits) or releases the reservation later. Amounts are minor units of the platform's asset.
//
//	available = balance − reserved
//
// Every funds event names its payment, and the account remembers the payments it has booked, so a step
// replayed after a crash (a second debit or credit of the same payment) changes nothing.

var (
	// ErrInsufficientFunds is a reservation larger than the available balance.
	ErrInsufficientFunds = errors.New("account: insufficient funds")
	// ErrBlocked is a payment from or to a blocked account.
	ErrBlocked = errors.New("account: account is blocked")
	// ErrTargetBalance is a reservation whose sender's expected balance after the payment is not the one the
	// account would have (guide §10 target_balance: an optimistic check by the caller).
	ErrTargetBalance = errors.New("account: balance after the payment would not be target_balance")
	// ErrNotReserved is a debit of a payment that holds no reservation on the account.
	ErrNotReserved = errors.New("account: no reservation for this payment")
)

// Funds commands.
type (
	// Reserve holds Amount for Payment until it is settled or released. TargetBalance, when set, is the
	// balance the sender expects after the payment.
	Reserve struct {
		Payment       uuid.UUID `json:"payment"`
		Amount        int64     `json:"amount"`
		TargetBalance *int64    `json:"target_balance,omitempty"`
		// BankGUID is the receiver's bank as the confirmation named it (empty: internal); kept on the event so
		// that a settlement that finds the reservation can finish the confirmation.
		BankGUID string `json:"bank_guid,omitempty"`
		// Limits, when set, are checked in the same decision as the funds (see SpendLimits).
		Limits *SpendLimits `json:"limits,omitempty"`
		At     time.Time    `json:"at"`
	}
	// Release gives a reservation back (the payment failed or was cancelled).
	Release struct {
		Payment uuid.UUID `json:"payment"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
	// Debit settles the payment's reservation: the balance goes down by its amount.
	Debit struct {
		Payment uuid.UUID `json:"payment"`
		At      time.Time `json:"at"`
	}
	// Credit adds Amount for Payment.
	Credit struct {
		Payment uuid.UUID `json:"payment"`
		Amount  int64     `json:"amount"`
		At      time.Time `json:"at"`
	}
)

// Funds events.
type (
	AccountFundsReserved struct {
		GUID     string `json:"guid"`
		Payment  string `json:"payment"`
		Amount   int64  `json:"amount"`
		BankGUID string `json:"bank_guid,omitempty"`
		// Limits are the limits the reservation passed, for the payment's history.
		Limits *SpendLimits `json:"limits,omitempty"`
		At     time.Time    `json:"at"`
	}
	AccountFundsReleased struct {
		GUID    string    `json:"guid"`
		Payment string    `json:"payment"`
		Amount  int64     `json:"amount"`
		Reason  string    `json:"reason,omitempty"`
		At      time.Time `json:"at"`
	}
	AccountDebited struct {
		GUID    string    `json:"guid"`
		Payment string    `json:"payment"`
		Amount  int64     `json:"amount"`
		At      time.Time `json:"at"`
	}
	AccountCredited struct {
		GUID    string    `json:"guid"`
		Payment string    `json:"payment"`
		Amount  int64     `json:"amount"`
		At      time.Time `json:"at"`
	}
)

func (AccountFundsReserved) isAccountEvent() {}
func (AccountFundsReleased) isAccountEvent() {}
func (AccountDebited) isAccountEvent()       {}
func (AccountCredited) isAccountEvent()      {}

// Funds is the money part of an account's state. Its maps are owned by the state: Evolve changes them in
// place, so a State must not be shared between two folds.
type Funds struct {
	Balance  int64
	Reserved int64
	// Reservations are the open reservations by payment GUID.
	Reservations map[uuid.UUID]int64
	// Booked are the payments already debited or credited here (a payment touches an account once).
	Booked map[uuid.UUID]struct{}
	// Outgoing are a customer account's payments out over the longest window a limit may have, reserved or
	// settled (a released reservation leaves), oldest first: what the window limits add up.
	Outgoing []Spend
}

// Available is what the account can still spend.
func (f Funds) Available() int64 { return f.Balance - f.Reserved }

func evolveFunds(s State, e Event) State {
	f := &s.Funds
	if f.Reservations == nil {
		f.Reservations = map[uuid.UUID]int64{}
		f.Booked = map[uuid.UUID]struct{}{}
	}
	switch e := e.(type) {
	case AccountFundsReserved:
		id := paymentID(e.Payment)
		f.Reservations[id] = e.Amount
		f.Reserved += e.Amount
		if s.Kind == KindCustomer {
			f.Outgoing = spend(f.Outgoing, Spend{Payment: id, At: e.At, Amount: e.Amount})
		}
	case AccountFundsReleased:
		id := paymentID(e.Payment)
		f.Reserved -= f.Reservations[id]
		delete(f.Reservations, id)
		f.Outgoing = unspend(f.Outgoing, id)
	case AccountDebited:
		id := paymentID(e.Payment)
		f.Reserved -= f.Reservations[id]
		delete(f.Reservations, id)
		f.Balance -= e.Amount
		f.Booked[id] = struct{}{}
	case AccountCredited:
		id := paymentID(e.Payment)
		f.Balance += e.Amount
		f.Booked[id] = struct{}{}
	}
	return s
}

// paymentID parses a payment GUID the decider wrote; a malformed one (never written by Decide) maps to Nil.
func paymentID(s string) uuid.UUID {
	id, _ := uuid.Parse(s)
	return id
}

func checkPaymentAmount(payment uuid.UUID, amount int64) error {
	if payment == uuid.Nil {
		return fmt.Errorf("%w: payment is required", ErrInvalid)
	}
	if amount <= 0 {
		return fmt.Errorf("%w: amount must be positive", ErrInvalid)
	}
	return nil
}

// decideFunds decides a funds command; handled is false for a command that is not one.
func decideFunds(s State, cmd any) (evs []Event, handled bool, err error) {
	switch c := cmd.(type) {
	case Reserve:
		if err := checkPaymentAmount(c.Payment, c.Amount); err != nil {
			return nil, true, err
		}
		if !s.Opened {
			return nil, true, ErrNotOpened
		}
		if amt, ok := s.Funds.Reservations[c.Payment]; ok {
			if amt != c.Amount {
				return nil, true, fmt.Errorf("%w: payment %s already holds another amount", ErrInvalid, c.Payment)
			}
			return nil, true, nil // a retry
		}
		if _, ok := s.Funds.Booked[c.Payment]; ok {
			return nil, true, nil // already settled: the retry of a reservation that has run its course
		}
		if s.Blocked {
			return nil, true, ErrBlocked
		}
		if c.Amount > s.Funds.Available() {
			return nil, true, fmt.Errorf("%w: available %d, payment %d", ErrInsufficientFunds, s.Funds.Available(), c.Amount)
		}
		if c.TargetBalance != nil && s.Funds.Available()-c.Amount != *c.TargetBalance {
			return nil, true, ErrTargetBalance
		}
		if err := c.Limits.check(s.Funds.Outgoing, c.Amount, c.At); err != nil {
			return nil, true, err
		}
		return []Event{AccountFundsReserved{GUID: s.GUID, Payment: c.Payment.String(), Amount: c.Amount, BankGUID: c.BankGUID,
			Limits: c.Limits.Recorded(), At: c.At}}, true, nil
	case Release:
		if c.Payment == uuid.Nil {
			return nil, true, fmt.Errorf("%w: payment is required", ErrInvalid)
		}
		amt, ok := s.Funds.Reservations[c.Payment]
		if !ok {
			return nil, true, nil
		}
		return []Event{AccountFundsReleased{GUID: s.GUID, Payment: c.Payment.String(), Amount: amt, Reason: c.Reason, At: c.At}}, true, nil
	case Debit:
		if c.Payment == uuid.Nil {
			return nil, true, fmt.Errorf("%w: payment is required", ErrInvalid)
		}
		if _, ok := s.Funds.Booked[c.Payment]; ok {
			return nil, true, nil
		}
		amt, ok := s.Funds.Reservations[c.Payment]
		if !ok {
			return nil, true, ErrNotReserved
		}
		return []Event{AccountDebited{GUID: s.GUID, Payment: c.Payment.String(), Amount: amt, At: c.At}}, true, nil
	case Credit:
		if err := checkPaymentAmount(c.Payment, c.Amount); err != nil {
			return nil, true, err
		}
		if !s.Opened {
			return nil, true, ErrNotOpened
		}
		if _, ok := s.Funds.Booked[c.Payment]; ok {
			return nil, true, nil
		}
		if s.Funds.Balance > math.MaxInt64-c.Amount {
			return nil, true, fmt.Errorf("%w: balance would overflow", ErrInvalid)
		}
		return []Event{AccountCredited{GUID: s.GUID, Payment: c.Payment.String(), Amount: c.Amount, At: c.At}}, true, nil
	}
	return nil, false, nil
}
