package projections

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Role is one role of a bank: its permissions and its members. An api.RoleDirectory is a thin adapter:
// api.Role{Name: r.Name, Permissions: r.Permissions} for each role with no BranchGUID.
type Role struct {
	Name string
	// BranchGUID is set for a branch-access role (guide §16.2).
	BranchGUID  string
	Permissions []string // sorted
	Members     []string // employee GUIDs, sorted
	CreatedAt   time.Time
}

// Roles is the read model of every bank's roles, with an index from member to roles.
type Roles struct {
	known map[string]bool

	mu    sync.RWMutex
	banks map[string]*bankRoles // counterparty GUID →
	seq   uint64                // creation order of roles, so that lists keep seeding order (Administrator first)
}

type bankRoles struct {
	roles  map[string]*roleRow
	member map[string]map[string]bool // employee GUID → role names
	// grants caches EndpointGrants: every request's permission check asks for them, and building them from
	// the rows (members sorted and all) was a thirtieth of a loaded node's CPU. Any change to the bank's roles
	// drops it (Apply).
	grants []Role
}

type roleRow struct {
	name, branch string
	perms        map[string]bool
	members      map[string]bool
	createdAt    time.Time
	seq          uint64
}

// NewRoles returns an empty read model; feed it to a Runner.
func NewRoles() *Roles {
	return &Roles{known: knownTypes(rbac.Events.Types()), banks: map[string]*bankRoles{}}
}

func (p *Roles) Name() string { return "roles" }

func (p *Roles) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: rbac.EventTypePrefixes}
}

func (p *Roles) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := rbac.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.banks {
		b.grants = nil // cheap, and right whatever the event changes (rbac events are rare)
	}
	switch e := e.(type) {
	case rbac.RolesSeeded:
		b := &bankRoles{roles: map[string]*roleRow{}, member: map[string]map[string]bool{}}
		for _, spec := range e.Roles {
			r := p.newRole(spec.Name, "", e.At)
			for _, perm := range spec.Permissions {
				r.perms[perm] = true
			}
			b.roles[spec.Name] = r
		}
		p.banks[e.CounterpartyGUID] = b
	case rbac.RoleCreated:
		if b := p.banks[e.CounterpartyGUID]; b != nil {
			b.roles[e.Role] = p.newRole(e.Role, e.BranchGUID, e.At)
		}
	case rbac.RoleDeleted:
		if b := p.banks[e.CounterpartyGUID]; b != nil && b.roles[e.Role] != nil {
			for m := range b.roles[e.Role].members {
				b.unlink(m, e.Role)
			}
			delete(b.roles, e.Role)
		}
	case rbac.RolePermissionGranted:
		if r := p.role(e.CounterpartyGUID, e.Role); r != nil {
			r.perms[e.Permission] = true
		}
	case rbac.RolePermissionRevoked:
		if r := p.role(e.CounterpartyGUID, e.Role); r != nil {
			delete(r.perms, e.Permission)
		}
	case rbac.RoleMemberAdded:
		if r := p.role(e.CounterpartyGUID, e.Role); r != nil {
			r.members[e.EmployeeGUID] = true
			b := p.banks[e.CounterpartyGUID]
			if b.member[e.EmployeeGUID] == nil {
				b.member[e.EmployeeGUID] = map[string]bool{}
			}
			b.member[e.EmployeeGUID][e.Role] = true
		}
	case rbac.RoleMemberRemoved:
		if r := p.role(e.CounterpartyGUID, e.Role); r != nil {
			delete(r.members, e.EmployeeGUID)
			p.banks[e.CounterpartyGUID].unlink(e.EmployeeGUID, e.Role)
		}
	}
	return nil
}

func (p *Roles) newRole(name, branch string, at time.Time) *roleRow {
	p.seq++
	return &roleRow{name: name, branch: branch, perms: map[string]bool{}, members: map[string]bool{}, createdAt: at, seq: p.seq}
}

func (p *Roles) role(cp, name string) *roleRow {
	if b := p.banks[cp]; b != nil {
		return b.roles[name]
	}
	return nil
}

func (b *bankRoles) unlink(member, role string) {
	delete(b.member[member], role)
	if len(b.member[member]) == 0 {
		delete(b.member, member)
	}
}

func (r *roleRow) view() Role {
	return Role{Name: r.name, BranchGUID: r.branch, Permissions: slices.Sorted(maps.Keys(r.perms)),
		Members: slices.Sorted(maps.Keys(r.members)), CreatedAt: r.createdAt}
}

// Roles returns a bank's roles in creation order (the seeded defaults first, in the order given), endpoint
// and branch-access roles alike. A bank whose roles were never seeded has none: nil, nil.
func (p *Roles) Roles(_ context.Context, counterpartyGUID string) ([]Role, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.banks[strings.ToLower(counterpartyGUID)]
	if b == nil {
		return nil, nil
	}
	return b.views(func(*roleRow) bool { return true }), nil
}

// EndpointGrants returns a bank's endpoint roles (not the branch-access ones) with their permissions only, in
// creation order: what a permission check needs, without members. The slice is shared; do not change it.
func (p *Roles) EndpointGrants(_ context.Context, counterpartyGUID string) []Role {
	key := strings.ToLower(counterpartyGUID)
	p.mu.RLock()
	b := p.banks[key]
	if b == nil {
		p.mu.RUnlock()
		return nil
	}
	if g := b.grants; g != nil {
		p.mu.RUnlock()
		return g
	}
	p.mu.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if b = p.banks[key]; b == nil {
		return nil
	}
	if b.grants == nil {
		rows := slices.Collect(maps.Values(b.roles))
		rows = slices.DeleteFunc(rows, func(r *roleRow) bool { return r.branch != "" })
		slices.SortFunc(rows, func(x, y *roleRow) int { return cmp.Compare(x.seq, y.seq) })
		g := make([]Role, 0, len(rows))
		for _, r := range rows {
			g = append(g, Role{Name: r.name, Permissions: slices.Sorted(maps.Keys(r.perms)), CreatedAt: r.createdAt})
		}
		b.grants = g
	}
	return b.grants
}

// BranchRoles returns the branch-access roles of one branch of a bank, in creation order; none (an empty
// slice) for a branch without roles or a bank never seeded. Whether the branch exists is the branches read
// model's to say.
func (p *Roles) BranchRoles(_ context.Context, counterpartyGUID, branchGUID string) []Role {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.banks[strings.ToLower(counterpartyGUID)]
	if b == nil || branchGUID == "" {
		return []Role{}
	}
	return b.views(func(r *roleRow) bool { return strings.EqualFold(r.branch, branchGUID) })
}

// HoldsInBranch reports whether an employee is a member of a branch-access role of branchGUID that holds
// permission. It reads membership and grants under one lock, so that a concurrent change is seen whole or
// not at all.
func (p *Roles) HoldsInBranch(_ context.Context, counterpartyGUID, employeeGUID, branchGUID, permission string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.banks[strings.ToLower(counterpartyGUID)]
	if b == nil || branchGUID == "" {
		return false
	}
	for name := range b.member[strings.ToLower(employeeGUID)] {
		if r := b.roles[name]; r != nil && strings.EqualFold(r.branch, branchGUID) && r.perms[permission] {
			return true
		}
	}
	return false
}

// views returns the bank's roles that keep accepts, in creation order.
func (b *bankRoles) views(keep func(*roleRow) bool) []Role {
	rows := slices.Collect(maps.Values(b.roles))
	rows = slices.DeleteFunc(rows, func(r *roleRow) bool { return !keep(r) })
	slices.SortFunc(rows, func(x, y *roleRow) int { return cmp.Compare(x.seq, y.seq) })
	out := make([]Role, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.view())
	}
	return out
}

// Role returns one role of a bank by its exact name.
func (p *Roles) Role(_ context.Context, counterpartyGUID, name string) (Role, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r := p.role(strings.ToLower(counterpartyGUID), name)
	if r == nil {
		return Role{}, false
	}
	return r.view(), true
}

// MemberRoles returns the names of the roles an employee is a member of, sorted.
func (p *Roles) MemberRoles(_ context.Context, counterpartyGUID, employeeGUID string) []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.banks[strings.ToLower(counterpartyGUID)]
	if b == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(b.member[strings.ToLower(employeeGUID)]))
}
