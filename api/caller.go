package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/kazna-ledger/kazna/domain/application"
)

// CallerKind is who is calling, which decides how permissions apply.
type CallerKind int

const (
	CallerUnknown CallerKind = iota
	// CallerPlatformStaff is an employee of the processing centre (platform JWT, no counterparty).
	CallerPlatformStaff
	// CallerEmployee is a bank employee signed in with a platform JWT; the roles of the bank apply.
	CallerEmployee
	// CallerBankSystem is a bank's own system with a JWT the bank signed (CX-Authorization). The guide says
	// the platform checks no permission rules for it: it holds every bank permission, within its own bank.
	CallerBankSystem
	// CallerApplication is a bank's API application with an access token of the client credentials grant: it
	// acts within its own bank and calls only the endpoints of the API products it is subscribed to.
	CallerApplication
)

func (k CallerKind) String() string {
	switch k {
	case CallerPlatformStaff:
		return "platform staff"
	case CallerEmployee:
		return "employee"
	case CallerBankSystem:
		return "bank system"
	case CallerApplication:
		return "application"
	}
	return "unknown"
}

// Caller is the authenticated party of a request.
type Caller struct {
	Subject          string // the token's sub: an employee's login or GUID, a bank system's name
	Kind             CallerKind
	CounterpartyGUID string // the caller's bank; empty for platform staff
	Roles            []string
	BranchGUID       string          // the employee's branch; empty means the whole bank (guide §16.1)
	Permissions      map[string]bool // granted permission names, as ResolvePermissions computes them

	// An application (CallerApplication): its GUID, and the API products it may call now.
	Application string
	Products    application.ProductSet
}

// Authenticator tells who sent a request, from Authorization: Bearer … (platform JWT) or CX-Authorization
// (bank-signed JWT). It returns an error when the request carries no credentials or ones it does not accept;
// that becomes 401. An *Error it returns is sent as is (for example 503 when keys cannot be loaded).
// The Caller it returns has its Permissions resolved (ResolvePermissions over the bank's roles, or over
// PlatformRoles for platform staff).
type Authenticator interface {
	Authenticate(r *http.Request) (Caller, error)
}

// IsPlatformAdministrator reports whether the caller administers the processing centre, the only caller that
// may act within any bank.
func (c Caller) IsPlatformAdministrator() bool {
	return c.Kind == CallerPlatformStaff && slices.Contains(c.Roles, RolePlatformAdministrator)
}

// may reports whether the caller holds permission p. A platform permission needs platform staff whatever the
// Permissions map says, so that a mistake in a bank's role set cannot reach the platform's powers.
func (c Caller) may(p Permission) bool {
	switch c.Kind {
	case CallerBankSystem:
		return !p.Platform
	case CallerEmployee:
		return !p.Platform && c.Permissions[p.Name]
	case CallerPlatformStaff:
		return c.Permissions[p.Name]
	case CallerApplication:
		return !p.Platform && productsOf(p.Name)&c.Products != 0
	}
	return false
}

// valid reports whether an authenticator returned a usable caller; anything else fails closed.
func (c Caller) valid() bool {
	switch c.Kind {
	case CallerPlatformStaff:
		return c.Subject != "" && c.CounterpartyGUID == ""
	case CallerEmployee, CallerBankSystem, CallerApplication:
		_, ok := parseGUID(c.CounterpartyGUID)
		return c.Subject != "" && ok
	}
	return false
}

// ownsCounterparty reports whether the caller belongs to bank guid (canonical form).
func (c Caller) ownsCounterparty(guid string) bool {
	own, ok := parseGUID(c.CounterpartyGUID)
	return ok && own == guid
}

type callerKey struct{}

// CallerFrom returns the authenticated caller of a request; false on public routes.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// RoleDirectory holds the roles of each bank and the permissions of each role (RBAC storage).
type RoleDirectory interface {
	Roles(ctx context.Context, counterpartyGUID string) ([]Role, error)
}

// DefaultRoleDirectory gives every bank the default roles. It serves until RBAC storage exists.
type DefaultRoleDirectory struct{}

func (DefaultRoleDirectory) Roles(context.Context, string) ([]Role, error) {
	return DefaultRoles(), nil
}
