package api

import (
	"context"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeRBAC accepts every role write and knows no roles, so that route-wide tests (bad input, the route ×
// role matrix) reach the role handlers instead of their 503 for a missing service.
type fakeRBAC struct{}

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
