package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	branchdom "github.com/kazna-ledger/kazna/domain/branch"
	employeedom "github.com/kazna-ledger/kazna/domain/employee"
)

// scopesResponse is the guide's "Get scopes" answer (schema ScopeList).
type scopesResponse struct {
	Scopes []Scope `json:"scopes"`
}

// scopes lists the keto scopes of the route family's kind: endpoint scopes under /rbac, branch scopes (the
// keto_scope_name of guide §16.3 step 8) under /branches-access. They come from the catalogue, so no storage
// is needed.
func (h roleWriteHandlers) scopes(w http.ResponseWriter, r *http.Request) error {
	if _, err := bankOf(r); err != nil {
		return err
	}
	kind := KetoKindEndpoint
	if h.branch {
		kind = KetoKindBranch
	}
	writeJSON(w, http.StatusOK, scopesResponse{Scopes: Scopes(kind)})
	return nil
}

// branchPermissionTable is guide §16.2's "Get roles with branch-access permissions for table": the
// permission table of the branch's branch-access roles, narrowed to role_names when given.
func (h roleWriteHandlers) branchPermissionTable(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	branch, err := pathGUID(r, "branch_guid")
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	names, err := listParam(q, "role_names")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if err := ownBranch(r, branch); err != nil {
		return err
	}
	roles, err := h.svc.BranchRoles(r.Context(), bank.String(), branch)
	if err != nil {
		return branchAccessError(err)
	}
	table := make([]Role, 0, len(roles))
	for _, ro := range roles {
		// Role names are unique regardless of case (rbac), so matching them so finds what the caller meant.
		if len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, ro.Name) }) {
			continue
		}
		table = append(table, Role{Name: ro.Name, Permissions: ro.Permissions})
	}
	writeJSON(w, http.StatusOK, BranchPermissionTable(table))
	return nil
}

// branchAccessCheck is the answer of GET /branches-access/check (schema BranchAccessCheck).
type branchAccessCheck struct {
	Allowed bool `json:"allowed"`
}

// checkBranchPermission is guide §16.2's "Check branch permission for user guid": whether the employee holds
// the branch permission in the branch through one of the branch's branch-access roles.
func (h roleWriteHandlers) checkBranchPermission(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	user, err := requiredGUIDParam(q, "user_guid")
	if err != nil {
		return err
	}
	branch, err := requiredGUIDParam(q, "branch_guid")
	if err != nil {
		return err
	}
	permGUID, err := requiredGUIDParam(q, "permission_guid")
	if err != nil {
		return err
	}
	permission, err := h.permission(permGUID)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if err := ownBranch(r, branch); err != nil {
		return err
	}
	allowed, err := h.svc.CheckBranchPermission(r.Context(), bank.String(), user, branch, permission)
	if err != nil {
		return branchAccessError(err)
	}
	writeJSON(w, http.StatusOK, branchAccessCheck{Allowed: allowed})
	return nil
}

// requiredGUIDParam reads a GUID query parameter that must be present.
func requiredGUIDParam(q url.Values, name string) (string, error) {
	g, ok, err := guidParam(q, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", MissingField(name)
	}
	return g, nil
}

// ownBranch hides every other branch from an employee confined to a branch (guide §16.1), as the branch
// endpoints do: to such a caller another branch does not exist.
func ownBranch(r *http.Request, branchGUID string) error {
	c, ok := CallerFrom(r.Context())
	if !ok {
		return nil
	}
	if own, all := branchScope(c); !all && own != branchGUID {
		return branchNotFound(nil)
	}
	return nil
}

func branchNotFound(err error) *Error {
	e := NotFound("branch")
	e.Field, e.Err = "branch_guid", err
	return e
}

// branchAccessError is directoryError that also names the parameter of a 404, since a check names three
// records and the caller must learn which one is unknown.
func branchAccessError(err error) error {
	switch {
	case errors.Is(err, branchdom.ErrNotFound):
		return branchNotFound(err)
	case errors.Is(err, employeedom.ErrNotFound):
		e := NotFound("employee")
		e.Field, e.Err = "user_guid", err
		return e
	}
	return directoryError(err)
}
