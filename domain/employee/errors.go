package employee

import (
	"errors"
	"fmt"
)

var (
	ErrNotFound      = errors.New("employee: not found")
	ErrAlreadyExists = errors.New("employee: already exists")
	// ErrLoginTaken is a login another employee of the counterparty holds; the app layer returns it when
	// the login's claim (LoginStream) is refused.
	ErrLoginTaken = errors.New("employee: login already taken")
	ErrDisabled   = errors.New("employee: disabled")
	// The three token refusals are kept apart for the audit log; the API should answer them alike, so that
	// a guesser learns nothing.
	ErrTokenInvalid   = errors.New("employee: verification token does not match")
	ErrTokenExpired   = errors.New("employee: verification token expired")
	ErrTokenUsed      = errors.New("employee: verification token already used")
	ErrUnknownCommand = errors.New("employee: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("employee: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, reason string) error { return &ErrInvalid{Field: field, Reason: reason} }
