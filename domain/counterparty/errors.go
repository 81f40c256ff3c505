package counterparty

import (
	"errors"
	"fmt"
)

var (
	ErrNotFound      = errors.New("counterparty: not found")
	ErrAlreadyExists = errors.New("counterparty: already exists")
	// ErrNameTaken is another counterparty's name. The decider never returns it (it sees one stream); the
	// app layer returns it when the name's claim is refused with uniqueness.ErrTaken.
	ErrNameTaken      = errors.New("counterparty: name already taken")
	ErrKeyNotFound    = errors.New("counterparty: bank key not found")
	ErrKeyExists      = errors.New("counterparty: bank key already registered")
	ErrTooManyKeys    = errors.New("counterparty: too many bank keys")
	ErrUnknownCommand = errors.New("counterparty: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string {
	return fmt.Sprintf("counterparty: invalid %s: %s", e.Field, e.Reason)
}

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, reason string) error { return &ErrInvalid{Field: field, Reason: reason} }
