package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Employee is a bank employee as the employees read model shows it. It never carries the password hash.
type Employee struct {
	GUID             string
	CounterpartyGUID string
	Login            string
	Email            string
	Name             string
	Surname          string
	PaternalName     string
	Phone            string
	BranchGUID       string
	// Roles are the roles the employee was given (employee.ChangeRoles); the rbac stream, and so the Roles
	// read model, is the authority for what they grant.
	Roles     []string
	Disabled  bool
	Verified  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EmployeeLogin is what signing in needs of an employee.
type EmployeeLogin struct {
	GUID             string
	CounterpartyGUID string
	Roles            []string
	PasswordHash     string // empty until the employee has set a password
	Disabled         bool
	Verified         bool
}

// EmployeeQuery filters and pages a counterparty's employees (guide §6.1). CounterpartyGUID is required, so
// that a handler that forgets it cannot list another bank's staff.
type EmployeeQuery struct {
	CounterpartyGUID string
	GUIDs            []string
	Logins           []string
	Names            []string
	BranchGUIDs      []string
	IncludeDisabled  bool
	ListPage
}

// Employees is the read model of bank employees, with an index by login within a counterparty.
type Employees struct {
	known map[string]bool

	mu      sync.RWMutex
	byGUID  map[string]*employeeRow
	byLogin map[string]string // loginKey(counterparty, login) → employee GUID
}

type employeeRow struct {
	Employee
	passwordHash string
}

// NewEmployees returns an empty read model; feed it to a Runner.
func NewEmployees() *Employees {
	return &Employees{known: knownTypes(employee.Events.Types()), byGUID: map[string]*employeeRow{}, byLogin: map[string]string{}}
}

func loginKey(counterpartyGUID, login string) string {
	return strings.ToLower(counterpartyGUID) + "\x00" + strings.ToLower(login)
}

func (p *Employees) Name() string { return "employees" }

func (p *Employees) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: employee.EventTypePrefixes}
}

func (p *Employees) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := employee.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := e.(employee.EmployeeCreated); ok {
		r := &employeeRow{Employee: Employee{GUID: c.GUID, CounterpartyGUID: c.CounterpartyGUID, Roles: slices.Clone(c.Roles), CreatedAt: c.At}}
		p.setProfile(r, c.Profile, c.At)
		p.byGUID[c.GUID] = r
		return nil
	}
	var guid string
	switch e := e.(type) {
	case employee.EmployeeUpdated:
		guid = e.GUID
	case employee.EmployeeDisabled:
		guid = e.GUID
	case employee.EmployeeEnabled:
		guid = e.GUID
	case employee.EmployeeVerificationIssued:
		return nil // the token hash is the aggregate's business, not a reader's
	case employee.EmployeePasswordSet:
		guid = e.GUID
	case employee.EmployeeRolesChanged:
		guid = e.GUID
	default:
		return fmt.Errorf("projections: employees: no rule for %T", e)
	}
	r := p.byGUID[guid]
	if r == nil {
		return nil
	}
	switch e := e.(type) {
	case employee.EmployeeUpdated:
		p.setProfile(r, e.Profile, e.At)
	case employee.EmployeeDisabled:
		r.Disabled, r.UpdatedAt = true, e.At
	case employee.EmployeeEnabled:
		r.Disabled, r.UpdatedAt = false, e.At
	case employee.EmployeePasswordSet:
		r.passwordHash, r.Verified, r.UpdatedAt = e.PasswordHash, true, e.At
	case employee.EmployeeRolesChanged:
		r.Roles, r.UpdatedAt = slices.Clone(e.Roles), e.At
	}
	return nil
}

func (p *Employees) setProfile(r *employeeRow, pr employee.Profile, at time.Time) {
	if r.Login != "" && p.byLogin[loginKey(r.CounterpartyGUID, r.Login)] == r.GUID {
		delete(p.byLogin, loginKey(r.CounterpartyGUID, r.Login))
	}
	r.Login, r.Email, r.Name, r.Surname, r.PaternalName, r.Phone, r.BranchGUID =
		pr.Login, pr.Email, pr.Name, pr.Surname, pr.PaternalName, pr.Phone, pr.BranchGUID
	r.UpdatedAt = at
	p.byLogin[loginKey(r.CounterpartyGUID, r.Login)] = r.GUID
}

func (r *employeeRow) view() Employee {
	e := r.Employee
	e.Roles = slices.Clone(r.Roles)
	return e
}

func (r *employeeRow) login() EmployeeLogin {
	return EmployeeLogin{GUID: r.GUID, CounterpartyGUID: r.CounterpartyGUID, Roles: slices.Clone(r.Roles),
		PasswordHash: r.passwordHash, Disabled: r.Disabled, Verified: r.Verified}
}

// Employee returns one employee of a counterparty by GUID.
func (p *Employees) Employee(_ context.Context, counterpartyGUID, guid string) (Employee, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r := p.byGUID[strings.ToLower(guid)]
	if r == nil || !strings.EqualFold(r.CounterpartyGUID, counterpartyGUID) {
		return Employee{}, false
	}
	return r.view(), true
}

// Login finds the employee of a counterparty who signs in with login.
func (p *Employees) Login(_ context.Context, counterpartyGUID, login string) (EmployeeLogin, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r := p.byGUID[p.byLogin[loginKey(counterpartyGUID, login)]]
	if r == nil {
		return EmployeeLogin{}, false
	}
	return r.login(), true
}

// maxLoginMatches bounds LoginsAnywhere: a login is unique per counterparty, so more matches than this are
// not a sign-in anyone can resolve.
const maxLoginMatches = 16

// LoginsAnywhere finds the employees of every counterparty who sign in with login, for a sign-in form that
// asks no counterparty: one match is the employee, more is ambiguous and must be refused. At most
// maxLoginMatches are returned, in counterparty order.
func (p *Employees) LoginsAnywhere(_ context.Context, login string) []EmployeeLogin {
	suffix := "\x00" + strings.ToLower(login)
	p.mu.RLock()
	var out []EmployeeLogin
	for k, guid := range p.byLogin {
		if strings.HasSuffix(k, suffix) && !strings.Contains(k[:len(k)-len(suffix)], "\x00") {
			if r := p.byGUID[guid]; r != nil {
				out = append(out, r.login())
			}
		}
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b EmployeeLogin) int { return strings.Compare(a.CounterpartyGUID, b.CounterpartyGUID) })
	return out[:min(len(out), maxLoginMatches)]
}

// List returns a page of a counterparty's employees that match q, and how many match in all. Disabled
// employees are left out unless q.IncludeDisabled.
func (p *Employees) List(_ context.Context, q EmployeeQuery) ([]Employee, int, error) {
	page, err := q.check()
	if err != nil {
		return nil, 0, err
	}
	if q.CounterpartyGUID == "" {
		return nil, 0, fmt.Errorf("%w: a counterparty is required", ErrInvalidListQuery)
	}
	guids, err := guidSet("guids", q.GUIDs)
	if err != nil {
		return nil, 0, err
	}
	logins, err := guidSet("logins", q.Logins) // logins compare lower-case, as stored
	if err != nil {
		return nil, 0, err
	}
	names, err := nameSet("names", q.Names)
	if err != nil {
		return nil, 0, err
	}
	branches, err := guidSet("branch_guids", q.BranchGUIDs)
	if err != nil {
		return nil, 0, err
	}
	p.mu.RLock()
	var out []Employee
	for _, r := range p.byGUID {
		if strings.EqualFold(r.CounterpartyGUID, q.CounterpartyGUID) && (q.IncludeDisabled || !r.Disabled) &&
			guids.matchGUID(r.GUID) && logins.matchGUID(r.Login) && names.matchName(r.Name) && branches.matchGUID(r.BranchGUID) {
			out = append(out, r.view())
		}
	}
	p.mu.RUnlock()
	items, total := listed(out, func(e Employee) (time.Time, string) { return e.CreatedAt, e.GUID }, page)
	return items, total, nil
}
