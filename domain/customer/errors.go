package customer

import (
	"errors"
	"fmt"
)

var (
	ErrNotFound      = errors.New("customer: not found")
	ErrAlreadyExists = errors.New("customer: already exists")
	// ErrLoginTaken is a login another customer of the counterparty holds; the app layer returns it when the
	// login's claim (LoginStream) is refused.
	ErrLoginTaken = errors.New("customer: login already taken")
	// ErrDisabled is a disabled customer asked to act (send money, open an account).
	ErrDisabled        = errors.New("customer: disabled")
	ErrTooManyAccounts = errors.New("customer: too many accounts")
	ErrUnknownCommand  = errors.New("customer: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("customer: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, reason string) error { return &ErrInvalid{Field: field, Reason: reason} }
