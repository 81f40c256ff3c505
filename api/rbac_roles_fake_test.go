package api

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	branchdom "github.com/kazna-ledger/kazna/domain/branch"
	employeedom "github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeRBAC accepts every role write and knows no endpoint roles, so that route-wide tests (bad input, the
// route × role matrix) reach the role handlers instead of their 503 for a missing service. For the
// branch-access reads it knows one branch of bank A (fakeBranch) with the roles of fakeBranchRoles, and two
// employees: fakeTeller, a member of "Kyiv tellers", and fakeOutsider, a member of nothing.
type fakeRBAC struct{}

const (
	fakeBranch   = "5a6b7c8d-1e2f-4a3b-9c4d-5e6f7a8b9c01"
	fakeTeller   = "6b7c8d9e-2f3a-4b4c-8d5e-6f7a8b9c0d02"
	fakeOutsider = "7c8d9e0f-3a4b-4c5d-9e6f-7a8b9c0d1e03"
)

// fakeBranchRoles are fakeBranch's branch-access roles, in creation order.
func fakeBranchRoles() []projections.Role {
	return []projections.Role{
		{Name: "Kyiv tellers", BranchGUID: fakeBranch, Permissions: []string{PermBranchCustomersRead}, Members: []string{fakeTeller}},
		{Name: "Kyiv clerks", BranchGUID: fakeBranch, Permissions: []string{PermBranchEmployeesRead, PermBranchEmployeesWrite}, Members: []string{}},
	}
}

func (fakeRBAC) BranchRoles(_ context.Context, cp, branch string) ([]projections.Role, error) {
	if cp != bankA || branch != fakeBranch {
		return nil, branchdom.ErrNotFound
	}
	return fakeBranchRoles(), nil
}

func (f fakeRBAC) CheckBranchPermission(ctx context.Context, cp, user, branch, permission string) (bool, error) {
	if cp != bankA || (user != fakeTeller && user != fakeOutsider) {
		return false, employeedom.ErrNotFound
	}
	roles, err := f.BranchRoles(ctx, cp, branch)
	if err != nil {
		return false, err
	}
	for _, r := range roles {
		if slices.Contains(r.Members, user) && slices.Contains(r.Permissions, permission) {
			return true, nil
		}
	}
	return false, nil
}

func (fakeRBAC) CreateRole(context.Context, uuid.UUID, string, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) CreateBranchRole(context.Context, uuid.UUID, uuid.UUID, string, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) DeleteRole(context.Context, uuid.UUID, string, bool, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) GrantPermission(context.Context, uuid.UUID, string, string, bool, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) RevokePermission(context.Context, uuid.UUID, string, string, bool, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) AddMember(context.Context, uuid.UUID, string, uuid.UUID, bool, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) RemoveMember(context.Context, uuid.UUID, string, uuid.UUID, bool, app.Write) (app.Written, error) {
	return app.Written{}, nil
}
func (fakeRBAC) RoleUsers(context.Context, string, string, projections.ListPage) ([]projections.Employee, int, error) {
	return nil, 0, nil
}
func (fakeRBAC) Roles(context.Context, string) ([]projections.Role, error) { return nil, nil }
