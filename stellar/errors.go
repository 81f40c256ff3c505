package stellar

import (
	"errors"
	"fmt"
	"strings"
)

// Every error this package returns means the transaction was definitely NOT applied, except
// *UnknownOutcomeError, which means it may have been: look it up (FindPayment, or the hashes it carries) before
// deciding. Use OutcomeUnknown to tell them apart.

// ErrNotFound means the account, transaction or payment does not exist on the network.
var ErrNotFound = errors.New("stellar: not found")

// ErrRateLimited means Horizon kept answering 429 until the retries ran out; nothing was accepted.
var ErrRateLimited = errors.New("stellar: rate limited by horizon")

// ErrClosed means the Batcher was closed before the payment was submitted.
var ErrClosed = errors.New("stellar: batcher closed")

// TxError is a final rejection by the network, with its result codes: the transaction was not applied (a
// failed operation rolls back the whole transaction).
type TxError struct {
	TxCode  string   // e.g. "tx_failed", "tx_bad_auth"
	OpCodes []string // one per operation when TxCode is "tx_failed", e.g. ["op_success", "op_underfunded"]
	Hash    string   // hash of the rejected transaction, when known
}

func (e *TxError) Error() string {
	if len(e.OpCodes) == 0 {
		return "stellar: transaction rejected: " + e.TxCode
	}
	return fmt.Sprintf("stellar: transaction rejected: %s [%s]", e.TxCode, strings.Join(e.OpCodes, ", "))
}

// HasOpCode reports whether any operation failed with code.
func (e *TxError) HasOpCode(code string) bool {
	for _, c := range e.OpCodes {
		if c == code {
			return true
		}
	}
	return false
}

// UnknownOutcomeError means a transaction was sent but no final answer came back (timeouts, 504, retries
// exhausted): it may or may not be applied, and may still be applied until its time bounds pass.
type UnknownOutcomeError struct {
	Hashes []string // every signed envelope that was sent; at most one of them can ever apply
	Err    error
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("stellar: outcome unknown for transaction %s: %v", strings.Join(e.Hashes, ", "), e.Err)
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// OutcomeUnknown reports whether err leaves open whether the transaction was applied.
func OutcomeUnknown(err error) bool {
	var u *UnknownOutcomeError
	return errors.As(err, &u)
}

// InvalidInputError is bad input caught before anything was sent: a malformed address or secret, an invalid
// asset, a non-positive or unconvertible amount, too many operations or signatures.
type InvalidInputError struct {
	Field  string
	Reason string
}

func (e *InvalidInputError) Error() string {
	return fmt.Sprintf("stellar: invalid %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, args ...any) error {
	return &InvalidInputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
