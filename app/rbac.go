package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// ErrRoleKind is a role used where the other kind is needed: an endpoint role given as a branch-access
// role or the reverse.
var ErrRoleKind = errors.New("app: the role is of the other kind (endpoint or branch access)")

func (s *Directory) rbacWrite(ctx context.Context, cp uuid.UUID, cmd any, env command.Envelope) (eventstore.Position, error) {
	res, err := command.Handle(ctx, s.d.Store, rbac.Stream(cp), rbac.Decider, rbac.Events, cmd, env)
	if err != nil {
		return eventstore.Position{}, err
	}
	return res.Position, nil
}

type roleRequest struct {
	Op, Role, Branch, Permission, Employee string
}

// CreateRole creates an endpoint role.
func (s *Directory) CreateRole(ctx context.Context, cp uuid.UUID, role string, w Write) (Written, error) {
	pos, err := s.rbacWrite(ctx, cp, rbac.CreateRole{Role: role, At: s.d.Now()}, envelope(w, "role", roleRequest{Op: "create", Role: role}))
	if err != nil {
		return Written{}, err
	}
	return Written{Position: pos}, s.wait(ctx, pos)
}

// CreateBranchRole creates a branch-access role bound to a live branch of the bank.
func (s *Directory) CreateBranchRole(ctx context.Context, cp, branchGUID uuid.UUID, role string, w Write) (Written, error) {
	if branchGUID == uuid.Nil {
		return Written{}, ErrUnknownBranch
	}
	if err := s.checkBranch(ctx, cp, branchGUID); err != nil {
		return Written{}, err
	}
	pos, err := s.rbacWrite(ctx, cp, rbac.CreateRole{Role: role, BranchGUID: branchGUID, At: s.d.Now()},
		envelope(w, "role", roleRequest{Op: "create", Role: role, Branch: branchGUID.String()}))
	if err != nil {
		return Written{}, err
	}
	return Written{Position: pos}, s.wait(ctx, pos)
}

// DeleteRole deletes a role (never Administrator: rbac.ErrProtectedRole) and takes it off its members'
// employee records, so the two stay in step. branchRole says which kind the caller means.
func (s *Directory) DeleteRole(ctx context.Context, cp uuid.UUID, role string, branchRole bool, w Write) (Written, error) {
	st, err := s.rbacState(ctx, cp)
	if err != nil {
		return Written{}, err
	}
	r, err := roleOf(st, role)
	if err != nil {
		return Written{}, err
	}
	if (r.BranchGUID != "") != branchRole && r.Name != rbac.Administrator {
		return Written{}, ErrRoleKind
	}
	pos, err := s.rbacWrite(ctx, cp, rbac.DeleteRole{Role: r.Name, At: s.d.Now()}, envelope(w, "role", roleRequest{Op: "delete", Role: role}))
	if err != nil {
		return Written{}, err
	}
	for m := range r.Members {
		g, err := uuid.Parse(m)
		if err != nil {
			continue
		}
		p, err := s.syncEmployee(ctx, cp, g, r, false)
		if err != nil {
			return Written{Position: pos}, err
		}
		pos = later(pos, p)
	}
	return Written{Position: pos}, s.wait(ctx, pos)
}

// roleOf finds a role as rbac does (case-insensitive), or rbac.ErrNotFound.
func roleOf(st rbac.State, name string) (rbac.Role, error) {
	if !st.Seeded {
		return rbac.Role{}, rbac.ErrNotSeeded
	}
	name = strings.TrimSpace(name)
	if r, ok := st.Roles[name]; ok {
		return r, nil
	}
	for n, r := range st.Roles {
		if strings.EqualFold(n, name) {
			return r, nil
		}
	}
	return rbac.Role{}, rbac.ErrNotFound
}

// GrantPermission gives role a permission by catalogue name; the api resolves permission_guid to the name
// and refuses the platform's permissions before calling.
func (s *Directory) GrantPermission(ctx context.Context, cp uuid.UUID, role, permission string, branchRole bool, w Write) (Written, error) {
	if err := s.checkKind(ctx, cp, role, branchRole); err != nil {
		return Written{}, err
	}
	pos, err := s.rbacWrite(ctx, cp, rbac.GrantPermission{Role: role, Permission: permission, Known: s.d.Catalogue, At: s.d.Now()},
		envelope(w, "permission", roleRequest{Op: "grant", Role: role, Permission: permission}))
	if err != nil {
		return Written{}, err
	}
	return Written{Position: pos}, s.wait(ctx, pos)
}

// RevokePermission takes a permission from role (never from Administrator).
func (s *Directory) RevokePermission(ctx context.Context, cp uuid.UUID, role, permission string, branchRole bool, w Write) (Written, error) {
	if err := s.checkKind(ctx, cp, role, branchRole); err != nil {
		return Written{}, err
	}
	pos, err := s.rbacWrite(ctx, cp, rbac.RevokePermission{Role: role, Permission: permission, At: s.d.Now()},
		envelope(w, "permission", roleRequest{Op: "revoke", Role: role, Permission: permission}))
	if err != nil {
		return Written{}, err
	}
	return Written{Position: pos}, s.wait(ctx, pos)
}

func (s *Directory) checkKind(ctx context.Context, cp uuid.UUID, role string, branchRole bool) error {
	st, err := s.rbacState(ctx, cp)
	if err != nil {
		return err
	}
	r, err := roleOf(st, role)
	if err != nil {
		return err
	}
	if (r.BranchGUID != "") != branchRole {
		return ErrRoleKind
	}
	return nil
}

// AddMember makes an employee of the bank a member of role (rbac, the authority) and records it on the
// employee: an endpoint role joins the employee's roles, a branch-access role sets the employee's branch.
func (s *Directory) AddMember(ctx context.Context, cp uuid.UUID, role string, employeeGUID uuid.UUID, branchRole bool, w Write) (Written, error) {
	return s.member(ctx, cp, role, employeeGUID, branchRole, true, w)
}

// RemoveMember is AddMember's reverse.
func (s *Directory) RemoveMember(ctx context.Context, cp uuid.UUID, role string, employeeGUID uuid.UUID, branchRole bool, w Write) (Written, error) {
	return s.member(ctx, cp, role, employeeGUID, branchRole, false, w)
}

func (s *Directory) member(ctx context.Context, cp uuid.UUID, role string, g uuid.UUID, branchRole, add bool, w Write) (Written, error) {
	if _, err := s.employeeState(ctx, cp, g); err != nil {
		return Written{}, err
	}
	st, err := s.rbacState(ctx, cp)
	if err != nil {
		return Written{}, err
	}
	r, err := roleOf(st, role)
	if err != nil {
		return Written{}, err
	}
	if (r.BranchGUID != "") != branchRole {
		return Written{}, ErrRoleKind
	}
	var pos eventstore.Position
	if add {
		pos, err = s.addMember(ctx, cp, r.Name, g, w)
	} else {
		pos, err = s.rbacWrite(ctx, cp, rbac.RemoveMember{Role: r.Name, EmployeeGUID: g, At: s.d.Now()},
			envelope(w, "member", roleRequest{Op: "remove", Role: r.Name, Employee: g.String()}))
	}
	if err != nil {
		return Written{}, err
	}
	p, err := s.syncEmployee(ctx, cp, g, r, add)
	if err != nil {
		return Written{Position: pos}, err
	}
	pos = later(pos, p)
	return Written{Position: pos}, s.wait(ctx, pos)
}

func (s *Directory) addMember(ctx context.Context, cp uuid.UUID, role string, g uuid.UUID, w Write) (eventstore.Position, error) {
	return s.rbacWrite(ctx, cp, rbac.AddMember{Role: role, EmployeeGUID: g, At: s.d.Now()},
		envelope(w, "member/"+role, roleRequest{Op: "add", Role: role, Employee: g.String()}))
}

// syncEmployee brings the employee's record in line with a membership change of role r.
func (s *Directory) syncEmployee(ctx context.Context, cp, g uuid.UUID, r rbac.Role, member bool) (eventstore.Position, error) {
	st, err := s.employeeState(ctx, cp, g)
	if errors.Is(err, employee.ErrNotFound) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, err
	}
	var cmd any
	if r.BranchGUID == "" {
		roles := slices.DeleteFunc(slices.Clone(st.Roles), func(n string) bool { return n == r.Name })
		if member {
			roles = append(roles, r.Name)
		}
		cmd = employee.ChangeRoles{Roles: roles, At: s.d.Now()}
	} else {
		p := st.Profile
		in := employee.ProfileInput{Login: p.Login, Email: p.Email, Name: p.Name, Surname: p.Surname, PaternalName: p.PaternalName, Phone: p.Phone}
		switch {
		case member:
			in.BranchGUID, _ = uuid.Parse(r.BranchGUID)
		case p.BranchGUID != r.BranchGUID:
			in.BranchGUID, _ = uuid.Parse(p.BranchGUID)
		}
		cmd = employee.Update{Profile: in, At: s.d.Now()}
	}
	res, err := command.Handle(ctx, s.d.Store, employee.Stream(g), employee.Decider, employee.Events, cmd, command.Envelope{})
	return res.Position, err
}

// RoleUsers returns a page of the employees who are members of role (guide §6.2 "Get users list").
func (s *Directory) RoleUsers(ctx context.Context, cp, role string, page projections.ListPage) ([]projections.Employee, int, error) {
	r, ok := s.d.Roles.Role(ctx, cp, role)
	if !ok {
		return nil, 0, rbac.ErrNotFound
	}
	if len(r.Members) == 0 {
		return []projections.Employee{}, 0, nil
	}
	return s.d.Employees.List(ctx, projections.EmployeeQuery{CounterpartyGUID: cp, GUIDs: r.Members[:min(len(r.Members), projections.MaxListFilterValues)],
		IncludeDisabled: true, ListPage: page})
}

// Roles returns the bank's roles.
func (s *Directory) Roles(ctx context.Context, cp string) ([]projections.Role, error) {
	return s.d.Roles.Roles(ctx, cp)
}

// BranchRoles returns the branch-access roles of one of the bank's branches, for its permission table (guide
// §16.2). A branch of another bank, or none, is branch.ErrNotFound. A deleted branch still answers: its roles
// live on until deleted, and a back office must be able to see what they grant.
func (s *Directory) BranchRoles(ctx context.Context, cp, branchGUID string) ([]projections.Role, error) {
	if _, ok := s.d.Branches.Branch(ctx, cp, branchGUID); !ok {
		return nil, fmt.Errorf("%w: branch %s of bank %s", branch.ErrNotFound, branchGUID, cp)
	}
	return s.d.Roles.BranchRoles(ctx, cp, branchGUID), nil
}

// CheckBranchPermission reports whether an employee holds permission in a branch through a branch-access role
// of that branch (guide §16.2 "Check branch permission for user guid"). An employee or branch that is not the
// bank's is employee.ErrNotFound or branch.ErrNotFound. The check fails closed: a disabled employee or a
// deleted branch holds nothing, whatever the roles still say, because a bank acts on the answer.
func (s *Directory) CheckBranchPermission(ctx context.Context, cp, employeeGUID, branchGUID, permission string) (bool, error) {
	e, ok := s.d.Employees.Employee(ctx, cp, employeeGUID)
	if !ok {
		return false, fmt.Errorf("%w: employee %s of bank %s", employee.ErrNotFound, employeeGUID, cp)
	}
	b, ok := s.d.Branches.Branch(ctx, cp, branchGUID)
	if !ok {
		return false, fmt.Errorf("%w: branch %s of bank %s", branch.ErrNotFound, branchGUID, cp)
	}
	if e.Disabled || b.IsDeleted {
		return false, nil
	}
	return s.d.Roles.HoldsInBranch(ctx, cp, employeeGUID, branchGUID, permission), nil
}
