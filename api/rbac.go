package api

import "net/http"

// rbacHandlers serve the role-management reads that need no storage beyond the role directory.
type rbacHandlers struct {
	roles RoleDirectory
}

// permissionTitlesResponse is the guide's GET /rbac/permission answer: the names of the permissions a bank's
// roles can hold, in table order.
type permissionTitlesResponse struct {
	Permissions []string `json:"permissions"`
}

func (h rbacHandlers) permissionTitles(w http.ResponseWriter, r *http.Request) error {
	resp := permissionTitlesResponse{Permissions: counterpartyPermissionNames()}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// availablePermissionsResponse lists the permissions a bank can grant, with GUIDs and keto kinds (guide §6.3
// step 6 and §16.3 step 6: pick a permission's GUID by keto_kind).
type availablePermissionsResponse struct {
	Permissions []Permission `json:"permissions"`
	Total       int          `json:"total"`
}

func (h rbacHandlers) availablePermissions(w http.ResponseWriter, r *http.Request) error {
	resp := availablePermissionsResponse{Permissions: []Permission{}}
	for _, p := range catalogue {
		if !p.Platform {
			resp.Permissions = append(resp.Permissions, p)
		}
	}
	resp.Total = len(resp.Permissions)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (h rbacHandlers) permissionTable(w http.ResponseWriter, r *http.Request) error {
	bank, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return err
	}
	roles, err := h.roles.Roles(r.Context(), bank)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PermissionTable(roles))
	return nil
}
