package api

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	branchdom "github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/projections"
)

// BranchService runs the branch use cases of guide §16.1 (app.Directory). Its writes wait for the read
// models themselves, as the employee writes do.
type BranchService interface {
	CreateBranch(ctx context.Context, cp uuid.UUID, name string, w app.Write) (app.Written, error)
	UpdateBranch(ctx context.Context, cp, guid uuid.UUID, patch app.BranchPatch, w app.Write) (app.Written, error)
	Branch(ctx context.Context, cp, guid string) (projections.Branch, bool)
	ListBranches(ctx context.Context, q projections.BranchQuery) ([]projections.Branch, int, error)
}

type branchHandlers struct{ svc BranchService }

// branchRoutes are guide §16.1's branch endpoints.
func branchRoutes(svc BranchService) []Route {
	h := branchHandlers{svc: svc}
	return []Route{
		{"GET", cp + "/branches", PermBranchesRead, h.list},
		{"POST", cp + "/branches", PermBranchesWrite, h.create},
		{"GET", cp + "/branches/{branch_guid}", PermBranchesRead, h.get},
		{"PUT", cp + "/branches/{branch_guid}", PermBranchesWrite, h.update},
	}
}

// maxBranchNameBytes bounds a branch name before the domain counts its characters (at most
// branchdom.MaxNameRunes, each at most 4 bytes in UTF-8).
const maxBranchNameBytes = 4 * branchdom.MaxNameRunes

type branchCreateRequest struct {
	Name string `json:"name"`
}

func (q branchCreateRequest) Validate() error {
	return firstError(requireString("name", q.Name), maxLen("name", q.Name, maxBranchNameBytes))
}

type branchCreateResponse struct {
	GUID string `json:"guid"`
}

func (h branchHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req branchCreateRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	// An employee confined to a branch acts only on that branch; a new branch is not it.
	if c, ok := CallerFrom(r.Context()); ok {
		if _, all := branchScope(c); !all {
			return Forbidden("an employee of a branch cannot create branches")
		}
	}
	res, err := h.svc.CreateBranch(r.Context(), bank, req.Name, opts)
	if err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusOK, branchCreateResponse{GUID: res.GUID})
	return nil
}

type branchUpdateRequest struct {
	IsDeleted *bool   `json:"is_deleted"`
	Name      *string `json:"name"`
}

func (q branchUpdateRequest) Validate() error {
	if q.Name == nil {
		return nil
	}
	return firstError(requireString("name", *q.Name), maxLen("name", *q.Name, maxBranchNameBytes))
}

// visible returns the branch if it exists in the bank and the caller may see it: to an employee confined to
// another branch it does not exist.
func (h branchHandlers) visible(r *http.Request, bank, guid string) (projections.Branch, error) {
	b, ok := h.svc.Branch(r.Context(), bank, guid)
	if !ok {
		return b, NotFound("branch")
	}
	if c, ok := CallerFrom(r.Context()); ok {
		if own, all := branchScope(c); !all && own != b.GUID {
			return projections.Branch{}, NotFound("branch")
		}
	}
	return b, nil
}

func (h branchHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var req branchUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "branch_guid")
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if _, err := h.visible(r, bank.String(), guid); err != nil {
		return err
	}
	id, err := guidValue("branch_guid", guid)
	if err != nil {
		return err
	}
	_, err = h.svc.UpdateBranch(r.Context(), bank, id, app.BranchPatch{Name: req.Name, Deleted: req.IsDeleted}, opts)
	if err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// branchView is schema Branch.
type branchView struct {
	CounterpartyGUID string    `json:"counterparty_guid"`
	CreatedAt        time.Time `json:"created_at"`
	GUID             string    `json:"guid"`
	IsDeleted        bool      `json:"is_deleted"`
	Name             string    `json:"name"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func viewBranch(b projections.Branch) branchView {
	return branchView{CounterpartyGUID: b.CounterpartyGUID, CreatedAt: b.CreatedAt.UTC(), GUID: b.GUID,
		IsDeleted: b.IsDeleted, Name: b.Name, UpdatedAt: b.UpdatedAt.UTC()}
}

func (h branchHandlers) get(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "branch_guid")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	b, err := h.visible(r, bank.String(), guid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewBranch(b))
	return nil
}

// branchListResponse is schema BranchList.
type branchListResponse struct {
	List  []branchView `json:"list"`
	Total int          `json:"total"`
}

// list answers guide §16.1's list. Soft-deleted branches are left out unless include_deleted=true (the read
// model's BranchQuery.IncludeDeleted, as include_disabled for employees); they are listed with is_deleted.
func (h branchHandlers) list(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	page, err := createdOrder(r)
	if err != nil {
		return err
	}
	query := projections.BranchQuery{CounterpartyGUID: bank.String(), ListPage: page}
	if query.GUIDs, err = guidListParam(q, "guids"); err != nil {
		return err
	}
	if query.Names, err = listParam(q, "names"); err != nil {
		return err
	}
	if query.IncludeDeleted, _, err = boolParam(q, "include_deleted"); err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	resp := branchListResponse{List: []branchView{}}
	var visible bool
	if query.GUIDs, visible = scopedBranches(r, query.GUIDs); !visible {
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	list, total, err := h.svc.ListBranches(r.Context(), query)
	if err != nil {
		return directoryError(err)
	}
	for _, b := range list {
		resp.List = append(resp.List, viewBranch(b))
	}
	resp.Total = total
	writeJSON(w, http.StatusOK, resp)
	return nil
}
