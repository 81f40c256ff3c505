package rbac

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is a role the counterparty does not have.
	ErrNotFound = errors.New("rbac: role not found")
	// ErrNotSeeded is a counterparty whose roles were never seeded: nothing can be changed before Seed.
	ErrNotSeeded     = errors.New("rbac: roles not seeded for this counterparty")
	ErrAlreadyExists = errors.New("rbac: already exists")
	// ErrProtectedRole is a change that would delete Administrator or take a permission from it: the bank
	// would lock itself out.
	ErrProtectedRole = errors.New("rbac: the role is protected")
	// ErrUnknownPermission is a permission name the catalogue does not have (or that a bank role cannot hold).
	ErrUnknownPermission = errors.New("rbac: unknown permission")
	ErrLimit             = errors.New("rbac: limit reached")
	ErrUnknownCommand    = errors.New("rbac: unknown command")
)

// ErrInvalid is a command field that breaks a rule.
type ErrInvalid struct {
	Field  string
	Reason string
}

func (e *ErrInvalid) Error() string { return fmt.Sprintf("rbac: invalid %s: %s", e.Field, e.Reason) }

// InvalidField lets the API map the invalid-field errors of every domain package with one interface.
func (e *ErrInvalid) InvalidField() (field, reason string) { return e.Field, e.Reason }

func invalid(field, reason string) error { return &ErrInvalid{Field: field, Reason: reason} }
