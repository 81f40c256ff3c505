package rbac

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
)

// Administrator is the role that can be neither deleted nor stripped of a permission (the guide's rule, and
// the same name as api.RoleAdministrator).
const Administrator = "Administrator"

// BranchPermissionPrefix starts the names of the permissions a branch-access role holds (keto kind "branch",
// for example "branch.customers.read"); endpoint roles hold the others.
const BranchPermissionPrefix = "branch."

// Bounds.
const (
	MaxRoles           = 200
	MaxRoleNameRunes   = 100
	MaxPermissionBytes = 100
	MaxRolePermissions = 200
	// MaxRoleMembers bounds a role's members; the whole stream is folded to decide, so it is a real bound.
	MaxRoleMembers = 50_000
)

// Stream is the RBAC stream of a counterparty.
func Stream(counterpartyGUID uuid.UUID) string { return "rbac-" + counterpartyGUID.String() }

// Catalogue reports whether a permission name exists and a bank's role may hold it. The app layer passes
// func(n string) bool { p, ok := api.PermissionByName(n); return ok && !p.Platform }.
type Catalogue func(name string) bool

// Role is one role of the counterparty.
type Role struct {
	Name string
	// BranchGUID binds a branch-access role to its branch; empty for an endpoint role.
	BranchGUID  string
	Permissions map[string]bool
	Members     map[string]bool // employee GUIDs
	CreatedAt   time.Time
}

// State is the counterparty's roles. Evolve copies what it changes, so a State once returned never changes.
type State struct {
	Seeded           bool
	CounterpartyGUID string
	Roles            map[string]Role
}

// role finds a role by name, ignoring case, so that "administrator" is not a second Administrator.
func (s State) role(name string) (Role, bool) {
	if r, ok := s.Roles[name]; ok {
		return r, true
	}
	for n, r := range s.Roles {
		if strings.EqualFold(n, name) {
			return r, true
		}
	}
	return Role{}, false
}

// RoleSpec is a role and its permissions, as Seed takes them (api.DefaultRoles, converted).
type RoleSpec struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// Commands. Catalogue fields are not part of a request's identity, so they are left out of its JSON (and
// of command.Handle's default fingerprint).
type (
	// Seed gives a new counterparty its default roles; it must include Administrator.
	Seed struct {
		CounterpartyGUID uuid.UUID  `json:"counterparty_guid"`
		Roles            []RoleSpec `json:"roles"`
		Known            Catalogue  `json:"-"`
		At               time.Time  `json:"at"`
	}
	// CreateRole creates an endpoint role, or with a BranchGUID a branch-access role of that branch.
	CreateRole struct {
		Role       string    `json:"role"`
		BranchGUID uuid.UUID `json:"branch_guid"`
		At         time.Time `json:"at"`
	}
	DeleteRole struct {
		Role string    `json:"role"`
		At   time.Time `json:"at"`
	}
	GrantPermission struct {
		Role       string    `json:"role"`
		Permission string    `json:"permission"`
		Known      Catalogue `json:"-"`
		At         time.Time `json:"at"`
	}
	RevokePermission struct {
		Role       string    `json:"role"`
		Permission string    `json:"permission"`
		At         time.Time `json:"at"`
	}
	AddMember struct {
		Role         string    `json:"role"`
		EmployeeGUID uuid.UUID `json:"employee_guid"`
		At           time.Time `json:"at"`
	}
	RemoveMember struct {
		Role         string    `json:"role"`
		EmployeeGUID uuid.UUID `json:"employee_guid"`
		At           time.Time `json:"at"`
	}
)

// Event is an event of an RBAC stream. Every type name starts with "Role", so one prefix selects them all.
type Event interface{ isRBACEvent() }

type (
	RolesSeeded struct {
		CounterpartyGUID string     `json:"counterparty_guid"`
		Roles            []RoleSpec `json:"roles"`
		At               time.Time  `json:"at"`
	}
	RoleCreated struct {
		CounterpartyGUID string    `json:"counterparty_guid"`
		Role             string    `json:"role"`
		BranchGUID       string    `json:"branch_guid,omitempty"`
		At               time.Time `json:"at"`
	}
	RoleDeleted struct {
		CounterpartyGUID string    `json:"counterparty_guid"`
		Role             string    `json:"role"`
		At               time.Time `json:"at"`
	}
	RolePermissionGranted struct {
		CounterpartyGUID string    `json:"counterparty_guid"`
		Role             string    `json:"role"`
		Permission       string    `json:"permission"`
		At               time.Time `json:"at"`
	}
	RolePermissionRevoked struct {
		CounterpartyGUID string    `json:"counterparty_guid"`
		Role             string    `json:"role"`
		Permission       string    `json:"permission"`
		At               time.Time `json:"at"`
	}
	RoleMemberAdded struct {
		CounterpartyGUID string    `json:"counterparty_guid"`
		Role             string    `json:"role"`
		EmployeeGUID     string    `json:"employee_guid"`
		At               time.Time `json:"at"`
	}
	RoleMemberRemoved struct {
		CounterpartyGUID string    `json:"counterparty_guid"`
		Role             string    `json:"role"`
		EmployeeGUID     string    `json:"employee_guid"`
		At               time.Time `json:"at"`
	}
)

func (RolesSeeded) isRBACEvent()           {}
func (RoleCreated) isRBACEvent()           {}
func (RoleDeleted) isRBACEvent()           {}
func (RolePermissionGranted) isRBACEvent() {}
func (RolePermissionRevoked) isRBACEvent() {}
func (RoleMemberAdded) isRBACEvent()       {}
func (RoleMemberRemoved) isRBACEvent()     {}

// Evolve folds one event into the state.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case RolesSeeded:
		roles := make(map[string]Role, len(e.Roles))
		for _, spec := range e.Roles {
			perms := make(map[string]bool, len(spec.Permissions))
			for _, p := range spec.Permissions {
				perms[p] = true
			}
			roles[spec.Name] = Role{Name: spec.Name, Permissions: perms, Members: map[string]bool{}, CreatedAt: e.At}
		}
		return State{Seeded: true, CounterpartyGUID: e.CounterpartyGUID, Roles: roles}
	case RoleCreated:
		s.Roles = with(s.Roles, Role{Name: e.Role, BranchGUID: e.BranchGUID, Permissions: map[string]bool{}, Members: map[string]bool{}, CreatedAt: e.At})
	case RoleDeleted:
		s.Roles = maps.Clone(s.Roles)
		delete(s.Roles, e.Role)
	case RolePermissionGranted:
		if r, ok := s.Roles[e.Role]; ok {
			r.Permissions = maps.Clone(r.Permissions)
			r.Permissions[e.Permission] = true
			s.Roles = with(s.Roles, r)
		}
	case RolePermissionRevoked:
		if r, ok := s.Roles[e.Role]; ok {
			r.Permissions = maps.Clone(r.Permissions)
			delete(r.Permissions, e.Permission)
			s.Roles = with(s.Roles, r)
		}
	case RoleMemberAdded:
		if r, ok := s.Roles[e.Role]; ok {
			r.Members = maps.Clone(r.Members)
			r.Members[e.EmployeeGUID] = true
			s.Roles = with(s.Roles, r)
		}
	case RoleMemberRemoved:
		if r, ok := s.Roles[e.Role]; ok {
			r.Members = maps.Clone(r.Members)
			delete(r.Members, e.EmployeeGUID)
			s.Roles = with(s.Roles, r)
		}
	}
	return s
}

func with(roles map[string]Role, r Role) map[string]Role {
	out := maps.Clone(roles)
	if out == nil {
		out = map[string]Role{}
	}
	if r.Permissions == nil {
		r.Permissions = map[string]bool{}
	}
	if r.Members == nil {
		r.Members = map[string]bool{}
	}
	out[r.Name] = r
	return out
}

// Decide decides a command in a state.
func Decide(s State, cmd any) ([]Event, error) {
	if c, ok := cmd.(Seed); ok {
		return decideSeed(s, c)
	}
	if !s.Seeded {
		if _, known := cmd.(interface{ rbacCommand() }); known {
			return nil, ErrNotSeeded
		}
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	cp := s.CounterpartyGUID
	switch c := cmd.(type) {
	case CreateRole:
		name, err := checkRoleName(c.Role)
		if err != nil {
			return nil, err
		}
		if r, ok := s.role(name); ok {
			return nil, fmt.Errorf("%w: role %q (as %q)", ErrAlreadyExists, name, r.Name)
		}
		if len(s.Roles) >= MaxRoles {
			return nil, fmt.Errorf("%w: at most %d roles", ErrLimit, MaxRoles)
		}
		branch := ""
		if c.BranchGUID != uuid.Nil {
			branch = c.BranchGUID.String()
		}
		return []Event{RoleCreated{CounterpartyGUID: cp, Role: name, BranchGUID: branch, At: c.At}}, nil
	case DeleteRole:
		r, err := s.existing(c.Role)
		if err != nil {
			return nil, err
		}
		if r.Name == Administrator {
			return nil, fmt.Errorf("%w: %s cannot be deleted", ErrProtectedRole, Administrator)
		}
		return []Event{RoleDeleted{CounterpartyGUID: cp, Role: r.Name, At: c.At}}, nil
	case GrantPermission:
		r, err := s.existing(c.Role)
		if err != nil {
			return nil, err
		}
		if err := checkPermission(c.Permission, c.Known); err != nil {
			return nil, err
		}
		branchPerm := strings.HasPrefix(c.Permission, BranchPermissionPrefix)
		if isBranch := r.BranchGUID != ""; branchPerm != isBranch {
			if isBranch {
				return nil, invalid("permission", "a branch-access role holds only branch.* permissions")
			}
			return nil, invalid("permission", "branch.* permissions belong to branch-access roles")
		}
		if r.Permissions[c.Permission] {
			return nil, nil
		}
		if len(r.Permissions) >= MaxRolePermissions {
			return nil, fmt.Errorf("%w: at most %d permissions per role", ErrLimit, MaxRolePermissions)
		}
		return []Event{RolePermissionGranted{CounterpartyGUID: cp, Role: r.Name, Permission: c.Permission, At: c.At}}, nil
	case RevokePermission:
		r, err := s.existing(c.Role)
		if err != nil {
			return nil, err
		}
		if r.Name == Administrator {
			return nil, fmt.Errorf("%w: %s keeps every permission", ErrProtectedRole, Administrator)
		}
		if !r.Permissions[c.Permission] {
			return nil, nil
		}
		return []Event{RolePermissionRevoked{CounterpartyGUID: cp, Role: r.Name, Permission: c.Permission, At: c.At}}, nil
	case AddMember:
		r, err := s.existing(c.Role)
		if err != nil {
			return nil, err
		}
		if c.EmployeeGUID == uuid.Nil {
			return nil, invalid("employee_guid", "required (a non-zero GUID)")
		}
		if r.Members[c.EmployeeGUID.String()] {
			return nil, nil
		}
		if len(r.Members) >= MaxRoleMembers {
			return nil, fmt.Errorf("%w: at most %d members per role", ErrLimit, MaxRoleMembers)
		}
		return []Event{RoleMemberAdded{CounterpartyGUID: cp, Role: r.Name, EmployeeGUID: c.EmployeeGUID.String(), At: c.At}}, nil
	case RemoveMember:
		r, err := s.existing(c.Role)
		if err != nil {
			return nil, err
		}
		if !r.Members[c.EmployeeGUID.String()] {
			return nil, nil
		}
		return []Event{RoleMemberRemoved{CounterpartyGUID: cp, Role: r.Name, EmployeeGUID: c.EmployeeGUID.String(), At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func (CreateRole) rbacCommand()       {}
func (DeleteRole) rbacCommand()       {}
func (GrantPermission) rbacCommand()  {}
func (RevokePermission) rbacCommand() {}
func (AddMember) rbacCommand()        {}
func (RemoveMember) rbacCommand()     {}

func (s State) existing(name string) (Role, error) {
	if len(name) > 4*MaxRoleNameRunes+64 {
		return Role{}, invalid("role", "too long")
	}
	r, ok := s.role(strings.TrimSpace(name))
	if !ok {
		return Role{}, fmt.Errorf("%w: %q", ErrNotFound, strings.TrimSpace(name))
	}
	return r, nil
}

func decideSeed(s State, c Seed) ([]Event, error) {
	if c.CounterpartyGUID == uuid.Nil {
		return nil, invalid("counterparty_guid", "required (a non-zero GUID)")
	}
	if s.Seeded {
		return nil, fmt.Errorf("%w: roles already seeded", ErrAlreadyExists)
	}
	if len(c.Roles) == 0 || len(c.Roles) > MaxRoles {
		return nil, invalid("roles", fmt.Sprintf("must be 1 to %d roles", MaxRoles))
	}
	specs := make([]RoleSpec, 0, len(c.Roles))
	seen := map[string]bool{}
	admin := false
	for _, spec := range c.Roles {
		name, err := checkRoleName(spec.Name)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(name)] {
			return nil, invalid("roles", fmt.Sprintf("role %q appears twice", name))
		}
		seen[strings.ToLower(name)] = true
		admin = admin || name == Administrator
		if len(spec.Permissions) > MaxRolePermissions {
			return nil, invalid("roles", fmt.Sprintf("role %q has over %d permissions", name, MaxRolePermissions))
		}
		perms := make([]string, 0, len(spec.Permissions))
		for _, p := range spec.Permissions {
			if err := checkPermission(p, c.Known); err != nil {
				return nil, err
			}
			if strings.HasPrefix(p, BranchPermissionPrefix) {
				return nil, invalid("roles", "a seeded role is an endpoint role; it cannot hold "+p)
			}
			perms = append(perms, p)
		}
		slices.Sort(perms)
		specs = append(specs, RoleSpec{Name: name, Permissions: slices.Compact(perms)})
	}
	if !admin {
		return nil, invalid("roles", "must include "+Administrator)
	}
	return []Event{RolesSeeded{CounterpartyGUID: c.CounterpartyGUID.String(), Roles: specs, At: c.At}}, nil
}

func checkRoleName(name string) (string, error) {
	clean, err := text.Clean(name, text.Rule{MaxRunes: MaxRoleNameRunes, Required: true})
	if err != nil {
		return "", invalid("role", err.Error())
	}
	return clean, nil
}

// checkPermission fails closed: with no catalogue, no permission is known.
func checkPermission(name string, known Catalogue) error {
	if name == "" || len(name) > MaxPermissionBytes || known == nil || !known(name) {
		return fmt.Errorf("%w: %q", ErrUnknownPermission, truncate(name))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// Decider is the RBAC aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of RBAC streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, RolesSeeded](r, "RolesSeeded"),
		command.Register[Event, RoleCreated](r, "RoleCreated"),
		command.Register[Event, RoleDeleted](r, "RoleDeleted"),
		command.Register[Event, RolePermissionGranted](r, "RolePermissionGranted"),
		command.Register[Event, RolePermissionRevoked](r, "RolePermissionRevoked"),
		command.Register[Event, RoleMemberAdded](r, "RoleMemberAdded"),
		command.Register[Event, RoleMemberRemoved](r, "RoleMemberRemoved"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Role"}
