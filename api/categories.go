package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	categorydom "github.com/kazna-ledger/kazna/domain/category"
	"github.com/kazna-ledger/kazna/projections"
)

// CategoryService runs the transfer-category use cases of guide §13 (app.Categories). Its writes wait for the
// read model themselves, as the directory's do.
type CategoryService interface {
	Define(ctx context.Context, name, description string, w app.Write) (app.Written, error)
	Change(ctx context.Context, guid uuid.UUID, patch app.CategoryPatch, w app.Write) (app.Written, error)
	Delete(ctx context.Context, guid uuid.UUID, w app.Write) (app.Written, error)
	List(ctx context.Context) []projections.Category
}

type categoryHandlers struct{ svc CategoryService }

// categoryPath is guide §13's dictionary, outside any bank: the categories are the platform's, shared by
// every bank.
const categoryPath = "/api/v1/dictionary/payment/category"

// categoryRoutes are guide §13's category endpoints. Any caller with dictionary.read lists them; only the
// platform (dictionary.write) edits them.
func categoryRoutes(svc CategoryService) []Route {
	h := categoryHandlers{svc: svc}
	return []Route{
		{"GET", categoryPath, PermDictionaryRead, h.list},
		{"POST", categoryPath, PermDictionaryWrite, h.create},
		{"PUT", categoryPath + "/{category_guid}", PermDictionaryWrite, h.update},
		{"DELETE", categoryPath + "/{category_guid}", PermDictionaryWrite, h.delete},
	}
}

// Byte bounds of the text fields, checked before the domain counts characters (each at most 4 bytes).
const (
	maxCategoryNameBytes        = 4 * categorydom.MaxNameRunes
	maxCategoryDescriptionBytes = 4 * categorydom.MaxDescriptionRunes
)

// categoryRules map the category errors to answers; categoryError tries them before the directory's.
var categoryRules = []struct {
	target error
	answer func() *Error
}{
	{categorydom.ErrNotFound, func() *Error { return NotFound("category") }},
	{categorydom.ErrNameTaken, func() *Error { return Conflict("a category already has this name") }},
	{categorydom.ErrAlreadyExists, func() *Error { return Conflict("the category already exists") }},
	{categorydom.ErrDeleted, func() *Error { return Unprocessable("the category is deleted; a deleted category cannot be changed") }},
	{app.ErrTooManyCategories, func() *Error {
		return Unprocessable("the dictionary holds the most categories allowed (" + strconv.Itoa(app.MaxCategories) + ", deleted ones included)")
	}},
}

// categoryError turns an error of the category service into its answer; invalid fields and the rest go
// through directoryError and writeError.
func categoryError(err error) error {
	for _, r := range categoryRules {
		if errors.Is(err, r.target) {
			e := r.answer()
			e.Err = err
			return e
		}
	}
	return directoryError(err)
}

type categoryCreateRequest struct {
	Description string `json:"description"`
	Name        string `json:"name"`
}

func (q categoryCreateRequest) Validate() error {
	return firstError(requireString("name", q.Name), maxLen("name", q.Name, maxCategoryNameBytes),
		maxLen("description", q.Description, maxCategoryDescriptionBytes))
}

type categoryCreateResponse struct {
	GUID string `json:"guid"`
}

func (h categoryHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req categoryCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	res, err := h.svc.Define(r.Context(), req.Name, req.Description, opts)
	if err != nil {
		return categoryError(err)
	}
	writeJSON(w, http.StatusOK, categoryCreateResponse{GUID: res.GUID})
	return nil
}

// categoryUpdateRequest is a merge: a field left out keeps its value.
type categoryUpdateRequest struct {
	Description *string `json:"description"`
	Name        *string `json:"name"`
}

func (q categoryUpdateRequest) Validate() error {
	var errs []error
	if q.Name != nil {
		errs = append(errs, requireString("name", *q.Name), maxLen("name", *q.Name, maxCategoryNameBytes))
	}
	if q.Description != nil {
		errs = append(errs, maxLen("description", *q.Description, maxCategoryDescriptionBytes))
	}
	return firstError(errs...)
}

// categoryGUID reads the path's category GUID (the router has checked its form).
func categoryGUID(r *http.Request) (uuid.UUID, error) {
	g, err := pathGUID(r, "category_guid")
	if err != nil {
		return uuid.Nil, err
	}
	return guidValue("category_guid", g)
}

func (h categoryHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var req categoryUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	guid, err := categoryGUID(r)
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
	if _, err := h.svc.Change(r.Context(), guid, app.CategoryPatch{Name: req.Name, Description: req.Description}, opts); err != nil {
		return categoryError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h categoryHandlers) delete(w http.ResponseWriter, r *http.Request) error {
	guid, err := categoryGUID(r)
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
	if _, err := h.svc.Delete(r.Context(), guid, opts); err != nil {
		return categoryError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// categoryView is guide §13's category object; deleted_at is null while the category is live.
type categoryView struct {
	CreatedAt   time.Time  `json:"created_at"`
	DeletedAt   *time.Time `json:"deleted_at"`
	Description string     `json:"description"`
	GUID        string     `json:"guid"`
	Name        string     `json:"name"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func viewCategory(c projections.Category) categoryView {
	v := categoryView{CreatedAt: c.CreatedAt.UTC(), Description: c.Description, GUID: c.GUID, Name: c.Name, UpdatedAt: c.UpdatedAt.UTC()}
	if c.IsDeleted {
		at := c.DeletedAt.UTC()
		v.DeletedAt = &at
	}
	return v
}

type categoryListResponse struct {
	Categories []categoryView `json:"categories"`
}

// list answers guide §13's list: every category, deleted ones too (with deleted_at), ordered by name.
func (h categoryHandlers) list(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return errServiceUnavailable
	}
	resp := categoryListResponse{Categories: []categoryView{}}
	for _, c := range h.svc.List(r.Context()) {
		resp.Categories = append(resp.Categories, viewCategory(c))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
