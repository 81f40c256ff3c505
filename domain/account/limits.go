package account

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Limits on a customer's outgoing payments (guide §14) are checked by the reservation, on the account stream
// with its expected revision: two concurrent payments cannot together pass a window, as they cannot together
// overdraw the account. The caller resolves which rules apply (domain/limits) and passes them with Reserve.

// ErrLimitExceeded is a reservation a limit refuses; the error is a *LimitError that says which.
var ErrLimitExceeded = errors.New("account: limit exceeded")

// MaxWindow is how long an account keeps its outgoing payments: the longest window a limit may have.
const MaxWindow = 366 * 24 * time.Hour

// Spend is one outgoing payment as the window limits count it.
type Spend struct {
	Payment uuid.UUID `json:"payment"`
	At      time.Time `json:"at"`
	Amount  int64     `json:"amount"`
}

// SpendLimits are the limits one reservation is checked against. Bounds are exclusive, as the guide's
// (a payment must be above Min and below Max; a window's sum with the payment must stay below its Max); a
// window's MaxCount is inclusive (at most that many payments). Zero is no bound. Sources name where each
// bound came from (individual, standard, kyc), for the refusal and the history.
type SpendLimits struct {
	Min             int64         `json:"min,omitempty"`
	Max             int64         `json:"max,omitempty"`
	OperationSource string        `json:"operation_source,omitempty"`
	Windows         []SpendWindow `json:"windows,omitempty"`
}

// SpendWindow bounds the payments of a trailing window of Days days: those reserved after at − Days.
type SpendWindow struct {
	Period   string `json:"period"`
	Days     int    `json:"days"`
	Max      int64  `json:"max,omitempty"`
	MaxCount int    `json:"max_count,omitempty"`
	Source   string `json:"source,omitempty"`
}

// LimitError says which limit refused a payment, over which window, and what is still allowed.
type LimitError struct {
	// Limit is operation_min, operation_max, window_amount or window_count.
	Limit  string
	Source string
	Period string // windows only
	Days   int    // windows only
	// Bound is the limit itself: an amount in minor units, or a number of payments for window_count.
	Bound int64
	// Used is what the window already holds (its sum, or its count), before this payment.
	Used int64
	// Allowed is the largest amount (window_amount, operation_max) or the number of payments (window_count)
	// still allowed now; for operation_min, the smallest amount allowed.
	Allowed int64
	Amount  int64
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "operation_min":
		return fmt.Sprintf("account: limit exceeded: a payment must be above the %s minimum of %d (amount %d)", e.Source, e.Bound, e.Amount)
	case "operation_max":
		return fmt.Sprintf("account: limit exceeded: a payment must be below the %s maximum of %d (amount %d)", e.Source, e.Bound, e.Amount)
	case "window_count":
		return fmt.Sprintf("account: limit exceeded: the %s %s limit allows %d payments in %d days, %d made", e.Source, e.Period, e.Bound, e.Days, e.Used)
	}
	return fmt.Sprintf("account: limit exceeded: the %s %s limit keeps %d days' payments below %d; %d used, at most %d more allowed (amount %d)",
		e.Source, e.Period, e.Days, e.Bound, e.Used, e.Allowed, e.Amount)
}

func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// check refuses amount at time at if a limit forbids it, given the account's outgoing payments.
func (l *SpendLimits) check(outgoing []Spend, amount int64, at time.Time) error {
	if l == nil {
		return nil
	}
	if l.Min > 0 && amount <= l.Min {
		return &LimitError{Limit: "operation_min", Source: l.OperationSource, Bound: l.Min, Allowed: l.Min + 1, Amount: amount}
	}
	if l.Max > 0 && amount >= l.Max {
		return &LimitError{Limit: "operation_max", Source: l.OperationSource, Bound: l.Max, Allowed: l.Max - 1, Amount: amount}
	}
	for _, w := range l.Windows {
		since := at.Add(-time.Duration(w.Days) * 24 * time.Hour)
		var sum, count int64
		for _, s := range outgoing {
			if s.At.After(since) {
				sum += s.Amount
				count++
			}
		}
		if w.Max > 0 && sum+amount >= w.Max {
			return &LimitError{Limit: "window_amount", Source: w.Source, Period: w.Period, Days: w.Days, Bound: w.Max, Used: sum,
				Allowed: max(0, w.Max-1-sum), Amount: amount}
		}
		if w.MaxCount > 0 && count+1 > int64(w.MaxCount) {
			return &LimitError{Limit: "window_count", Source: w.Source, Period: w.Period, Days: w.Days, Bound: int64(w.MaxCount), Used: count,
				Allowed: max(0, int64(w.MaxCount)-count), Amount: amount}
		}
	}
	return nil
}

// Recorded is the copy of the limits kept in history (on the reservation event, and the payment's
// confirmation): nil when there are none.
func (l *SpendLimits) Recorded() *SpendLimits {
	if l == nil || (l.Min == 0 && l.Max == 0 && len(l.Windows) == 0) {
		return nil
	}
	c := *l
	c.Windows = slices.Clone(l.Windows)
	return &c
}

// spend adds an outgoing payment and forgets those older than MaxWindow before it. Appending in place is
// safe: the state owns its slice (see Funds).
func spend(out []Spend, s Spend) []Spend {
	cut := 0
	for cut < len(out) && out[cut].At.Before(s.At.Add(-MaxWindow)) {
		cut++
	}
	if cut > 0 {
		out = append(out[:0], out[cut:]...)
	}
	return append(out, s)
}

// unspend takes a released payment out (it never left the account).
func unspend(out []Spend, payment uuid.UUID) []Spend {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].Payment == payment {
			return append(out[:i], out[i+1:]...)
		}
	}
	return out
}
