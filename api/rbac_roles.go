package api

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/projections"
)

// RBACService runs the role writes and reads of guide §6.2 and §16.2 (app.Directory). branchRole says whether
// the route is the branch-access one, so that each API family touches only its own kind of role.
type RBACService interface {
	CreateRole(ctx context.Context, cp uuid.UUID, role string, w app.Write) (app.Written, error)
	CreateBranchRole(ctx context.Context, cp, branchGUID uuid.UUID, role string, w app.Write) (app.Written, error)
	DeleteRole(ctx context.Context, cp uuid.UUID, role string, branchRole bool, w app.Write) (app.Written, error)
	GrantPermission(ctx context.Context, cp uuid.UUID, role, permission string, branchRole bool, w app.Write) (app.Written, error)
	RevokePermission(ctx context.Context, cp uuid.UUID, role, permission string, branchRole bool, w app.Write) (app.Written, error)
	AddMember(ctx context.Context, cp uuid.UUID, role string, employeeGUID uuid.UUID, branchRole bool, w app.Write) (app.Written, error)
	RemoveMember(ctx context.Context, cp uuid.UUID, role string, employeeGUID uuid.UUID, branchRole bool, w app.Write) (app.Written, error)
	RoleUsers(ctx context.Context, cp, role string, page projections.ListPage) ([]projections.Employee, int, error)
	Roles(ctx context.Context, cp string) ([]projections.Role, error)
	// BranchRoles returns the branch-access roles of a branch of bank cp; an unknown branch or another
	// bank's is branch.ErrNotFound.
	BranchRoles(ctx context.Context, cp, branchGUID string) ([]projections.Role, error)
	// CheckBranchPermission reports whether an employee holds permission (a catalogue name) in a branch
	// through a branch-access role of that branch; an unknown employee or branch is its ErrNotFound.
	CheckBranchPermission(ctx context.Context, cp, employeeGUID, branchGUID, permission string) (bool, error)
}

type roleWriteHandlers struct {
	svc    RBACService
	branch bool
}

// rbacRoutes are guide §6.2's role writes and reads that need RBAC storage.
func rbacRoutes(svc RBACService) []Route {
	h := roleWriteHandlers{svc: svc}
	return []Route{
		{"GET", cp + "/rbac/role", PermRBACRead, h.listRoles},
		{"POST", cp + "/rbac/role", PermRBACWrite, h.createRole},
		{"DELETE", cp + "/rbac/role", PermRBACWrite, h.deleteRole},
		{"GET", cp + "/rbac/scope", PermRBACRead, h.scopes},
		{"POST", cp + "/rbac/permission", PermRBACWrite, h.grant},
		{"DELETE", cp + "/rbac/permission", PermRBACWrite, h.revoke},
		{"GET", cp + "/rbac/user", PermRBACRead, h.users},
		{"POST", cp + "/rbac/user", PermRBACWrite, h.addUser},
		{"DELETE", cp + "/rbac/user", PermRBACWrite, h.removeUser},
	}
}

// branchAccessRoutes are guide §16.2's branch-access role writes and reads.
func branchAccessRoutes(svc RBACService) []Route {
	h := roleWriteHandlers{svc: svc, branch: true}
	return []Route{
		{"POST", cp + "/branches-access/role", PermBranchesAccessWrite, h.createRole},
		{"DELETE", cp + "/branches-access/role", PermBranchesAccessWrite, h.deleteRole},
		{"GET", cp + "/branches-access/scope", PermBranchesAccessRead, h.scopes},
		{"GET", cp + "/branches-access/{branch_guid}/permission/table", PermBranchesAccessRead, h.branchPermissionTable},
		{"GET", cp + "/branches-access/check", PermBranchesAccessRead, h.checkBranchPermission},
		{"POST", cp + "/branches-access/permission", PermBranchesAccessWrite, h.grant},
		{"DELETE", cp + "/branches-access/permission", PermBranchesAccessWrite, h.revoke},
		{"GET", cp + "/branches-access/user", PermBranchesAccessRead, h.users},
		{"POST", cp + "/branches-access/user", PermBranchesAccessWrite, h.addUser},
		{"DELETE", cp + "/branches-access/user", PermBranchesAccessWrite, h.removeUser},
	}
}

type roleRequest struct {
	RoleName   string `json:"role_name"`
	BranchGUID string `json:"branch_guid"`
}

func (q roleRequest) Validate() error {
	return firstError(requireString("role_name", q.RoleName), maxLen("role_name", q.RoleName, 400), optionalGUID("branch_guid", q.BranchGUID))
}

type rolePermissionRequest struct {
	PermissionGUID string `json:"permission_guid"`
	RoleName       string `json:"role_name"`
	BranchGUID     string `json:"branch_guid"`
}

func (q rolePermissionRequest) Validate() error {
	return firstError(requireString("permission_guid", q.PermissionGUID), optionalGUID("permission_guid", q.PermissionGUID),
		requireString("role_name", q.RoleName), maxLen("role_name", q.RoleName, 400), optionalGUID("branch_guid", q.BranchGUID))
}

type roleUserRequest struct {
	RoleName string `json:"role_name"`
	UserGUID string `json:"user_guid"`
}

func (q roleUserRequest) Validate() error {
	return firstError(requireString("role_name", q.RoleName), maxLen("role_name", q.RoleName, 400),
		requireString("user_guid", q.UserGUID), optionalGUID("user_guid", q.UserGUID))
}

// start decodes the body and reads the bank and the Idempotency-Key: the common head of every write.
func (h roleWriteHandlers) start(r *http.Request, body any) (uuid.UUID, app.Write, error) {
	if err := decode(r, body); err != nil {
		return uuid.Nil, app.Write{}, err
	}
	bank, err := bankOf(r)
	if err != nil {
		return uuid.Nil, app.Write{}, err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return uuid.Nil, app.Write{}, err
	}
	if h.svc == nil {
		return uuid.Nil, app.Write{}, errServiceUnavailable
	}
	return bank, opts, nil
}

func done(w http.ResponseWriter, _ app.Written, err error) error {
	if err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h roleWriteHandlers) createRole(w http.ResponseWriter, r *http.Request) error {
	var req roleRequest
	bank, opts, err := h.start(r, &req)
	if err != nil {
		return err
	}
	if !h.branch {
		if req.BranchGUID != "" {
			return InvalidField("branch_guid", "endpoint roles have no branch; use /branches-access/role")
		}
		res, err := h.svc.CreateRole(r.Context(), bank, req.RoleName, opts)
		return done(w, res, err)
	}
	if req.BranchGUID == "" {
		return MissingField("branch_guid")
	}
	branch, err := guidValue("branch_guid", req.BranchGUID)
	if err != nil {
		return err
	}
	res, err := h.svc.CreateBranchRole(r.Context(), bank, branch, req.RoleName, opts)
	return done(w, res, err)
}

func (h roleWriteHandlers) deleteRole(w http.ResponseWriter, r *http.Request) error {
	var req roleRequest
	bank, opts, err := h.start(r, &req)
	if err != nil {
		return err
	}
	res, err := h.svc.DeleteRole(r.Context(), bank, req.RoleName, h.branch, opts)
	return done(w, res, err)
}

// permission resolves permission_guid in the catalogue; platform permissions are no bank role's, and each
// API family takes only its own keto kind.
func (h roleWriteHandlers) permission(guid string) (string, error) {
	p, ok := PermissionByGUID(guid)
	if !ok {
		e := NotFound("permission")
		e.Field = "permission_guid"
		return "", e
	}
	if p.Platform {
		return "", InvalidField("permission_guid", "is a platform permission; no bank role can hold it")
	}
	if want := map[bool]string{true: KetoKindBranch, false: KetoKindEndpoint}[h.branch]; p.KetoKind != want {
		return "", InvalidField("permission_guid", "has keto_kind "+p.KetoKind+"; this endpoint takes "+want)
	}
	return p.Name, nil
}

func (h roleWriteHandlers) grant(w http.ResponseWriter, r *http.Request) error {
	return h.changePermission(w, r, true)
}

func (h roleWriteHandlers) revoke(w http.ResponseWriter, r *http.Request) error {
	return h.changePermission(w, r, false)
}

// changePermission grants or revokes one permission of a role: the common body of POST and DELETE
// …/permission.
func (h roleWriteHandlers) changePermission(w http.ResponseWriter, r *http.Request, grant bool) error {
	var req rolePermissionRequest
	bank, opts, err := h.start(r, &req)
	if err != nil {
		return err
	}
	if h.branch && req.BranchGUID == "" {
		return MissingField("branch_guid")
	}
	name, err := h.permission(req.PermissionGUID)
	if err != nil {
		return err
	}
	change := h.svc.RevokePermission
	if grant {
		change = h.svc.GrantPermission
	}
	res, err := change(r.Context(), bank, req.RoleName, name, h.branch, opts)
	return done(w, res, err)
}

func (h roleWriteHandlers) addUser(w http.ResponseWriter, r *http.Request) error {
	var req roleUserRequest
	bank, opts, err := h.start(r, &req)
	if err != nil {
		return err
	}
	user, err := guidValue("user_guid", req.UserGUID)
	if err != nil {
		return err
	}
	res, err := h.svc.AddMember(r.Context(), bank, req.RoleName, user, h.branch, opts)
	return done(w, res, err)
}

func (h roleWriteHandlers) removeUser(w http.ResponseWriter, r *http.Request) error {
	var req roleUserRequest
	bank, opts, err := h.start(r, &req)
	if err != nil {
		return err
	}
	user, err := guidValue("user_guid", req.UserGUID)
	if err != nil {
		return err
	}
	res, err := h.svc.RemoveMember(r.Context(), bank, req.RoleName, user, h.branch, opts)
	return done(w, res, err)
}

type roleUser struct {
	GUID  string `json:"guid"`
	Login string `json:"login"`
	Name  string `json:"name,omitempty"`
}

type roleUsersResponse struct {
	Users []roleUser `json:"users"`
	Total int        `json:"total"`
}

func (h roleWriteHandlers) users(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	role, ok, err := single(q, "role_name")
	if err != nil {
		return err
	}
	if !ok || role == "" {
		return MissingField("role_name")
	}
	page, err := createdOrder(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	list, total, err := h.svc.RoleUsers(r.Context(), bank.String(), role, page)
	if err != nil {
		return directoryError(err)
	}
	resp := roleUsersResponse{Users: []roleUser{}, Total: total}
	for _, e := range list {
		resp.Users = append(resp.Users, roleUser{GUID: e.GUID, Login: e.Login, Name: e.Name})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type roleView struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	Protected   bool     `json:"protected"`
}

func (h roleWriteHandlers) listRoles(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	roles, err := h.svc.Roles(r.Context(), bank.String())
	if err != nil {
		return directoryError(err)
	}
	resp := struct {
		Roles []roleView `json:"roles"`
	}{Roles: []roleView{}}
	for _, ro := range roles {
		if ro.BranchGUID == "" {
			resp.Roles = append(resp.Roles, roleView{Name: ro.Name, Permissions: append([]string{}, ro.Permissions...), Protected: ProtectedRole(ro.Name)})
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
