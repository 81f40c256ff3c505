package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	branchdom "github.com/kazna-ledger/kazna/domain/branch"
	employeedom "github.com/kazna-ledger/kazna/domain/employee"
	rbacdom "github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// CodeProtectedRole is a change to the Administrator role (delete it, take a permission from it): 409.
const CodeProtectedRole = "protected_role"

// EmployeeService runs the employee use cases of guide §6.1 (app.Directory).
type EmployeeService interface {
	CreateEmployee(ctx context.Context, cp uuid.UUID, in app.EmployeeInput, w app.Write) (app.Written, error)
	UpdateEmployee(ctx context.Context, cp, guid uuid.UUID, patch app.EmployeePatch, w app.Write) (app.Written, error)
	Employee(ctx context.Context, cp, guid string) (projections.Employee, bool)
	ListEmployees(ctx context.Context, q projections.EmployeeQuery) ([]projections.Employee, int, error)
	RequestVerification(ctx context.Context, email string) error
	SetPassword(ctx context.Context, email, code, password string) (app.Written, error)
}

// branchScope is the branch the caller is confined to (guide §16.1): an employee in a branch sees and acts
// only on that branch's records; one with no branch, a bank system and platform staff see the whole bank.
func branchScope(c Caller) (branchGUID string, all bool) {
	if c.Kind != CallerEmployee || c.BranchGUID == "" {
		return "", true
	}
	return strings.ToLower(c.BranchGUID), false
}

// scopedBranches narrows a list's filter of branch GUIDs to what the caller may see: unchanged for a caller
// who sees the whole bank, only the caller's own branch otherwise. visible is false when the caller asked only
// for branches it cannot see, and the list is then empty.
func scopedBranches(r *http.Request, asked []string) (filter []string, visible bool) {
	c, ok := CallerFrom(r.Context())
	if !ok {
		return asked, true
	}
	own, all := branchScope(c)
	if all {
		return asked, true
	}
	if len(asked) > 0 && !slices.Contains(asked, own) {
		return nil, false
	}
	return []string{own}, true
}

// bankWrite reads the common head of a bank's write, in the order every write answers its errors: the JSON
// body into v, the bank from the path, then the Idempotency-Key header.
func bankWrite(r *http.Request, v any) (uuid.UUID, app.Write, error) {
	if err := decode(r, v); err != nil {
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
	return bank, opts, nil
}

// writeOptions reads the Idempotency-Key header.
func writeOptions(r *http.Request) (app.Write, error) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > directoryKeyBytes || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return app.Write{}, InvalidField("Idempotency-Key", "must be at most "+strconv.Itoa(directoryKeyBytes)+" printable ASCII characters")
	}
	return app.Write{IdempotencyKey: k, Metadata: requestMetadata(r)}, nil
}

// requestMetadata is what every event a request writes records about it: the caller (its token's subject),
// the caller's bank and the request ID that the access log also carries.
func requestMetadata(r *http.Request) eventstore.Metadata {
	m := eventstore.Metadata{RequestID: RequestID(r.Context())}
	if c, ok := CallerFrom(r.Context()); ok {
		m.Actor, m.Counterparty = c.Subject, c.CounterpartyGUID
	}
	return m
}

// directoryKeyBytes bounds the Idempotency-Key header of the directory's writes.
const directoryKeyBytes = 200

var errServiceUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "this service is not available yet; retry later", Retryable: true}

// directoryFields renames the domain's field names to the request's.
var directoryFields = map[string]string{"role": "role_name", "token": "code", "password_hash": "password", "employee_guid": "user_guid"}

// directoryRules map the directory's domain and app errors to answers. They belong in errorTable; they
// live here until the lead merges them (errors.go is edited elsewhere).
var directoryRules = []struct {
	target error
	answer func(err error) *Error
}{
	{employeedom.ErrNotFound, func(error) *Error { return NotFound("employee") }},
	{branchdom.ErrNotFound, func(error) *Error { return NotFound("branch") }},
	{rbacdom.ErrNotFound, func(error) *Error { return NotFound("role") }},
	{app.ErrUnknownBranch, func(error) *Error {
		e := NotFound("branch (or it is deleted)")
		e.Field = "branch_guid"
		return e
	}},
	{app.ErrUnknownRole, func(error) *Error { return InvalidField("roles", "names a role the bank does not have") }},
	{employeedom.ErrLoginTaken, func(error) *Error { return Conflict("an employee of this bank already has this login") }},
	{employeedom.ErrAlreadyExists, func(error) *Error { return Conflict("the employee already exists") }},
	{branchdom.ErrNameTaken, func(error) *Error { return Conflict("a branch of this bank already has this name") }},
	{branchdom.ErrAlreadyExists, func(error) *Error { return Conflict("the branch already exists") }},
	{rbacdom.ErrAlreadyExists, func(error) *Error { return Conflict("a role of this bank already has this name") }},
	{rbacdom.ErrProtectedRole, func(error) *Error {
		return &Error{Status: http.StatusConflict, Code: CodeProtectedRole, Message: "the Administrator role cannot be deleted or lose a permission"}
	}},
	{rbacdom.ErrNotSeeded, func(error) *Error { return Conflict("the bank's roles are not set up yet") }},
	{rbacdom.ErrUnknownPermission, func(error) *Error {
		return InvalidField("permission_guid", "is not a permission a bank role can hold")
	}},
	{rbacdom.ErrLimit, func(err error) *Error { return Unprocessable("a limit is reached: " + limitText(err)) }},
	{app.ErrRoleKind, func(error) *Error {
		return Unprocessable("the role is of the other kind: use /rbac for endpoint roles and /branches-access for branch-access roles")
	}},
	{branchdom.ErrDeleted, func(error) *Error { return Unprocessable("the branch is deleted; restore it first") }},
	{employeedom.ErrDisabled, func(error) *Error { return Unprocessable("the employee is disabled") }},
	{app.ErrVerificationRefused, func(error) *Error {
		return InvalidField("code", "is not valid, already used or expired; ask for a new one")
	}},
	{projections.ErrInvalidListQuery, func(error) *Error {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "invalid list query")
	}},
}

func limitText(err error) string {
	_, after, _ := strings.Cut(err.Error(), "limit reached: ")
	return after
}

// directoryError turns an error of the directory services into its answer; others pass to writeError.
func directoryError(err error) error {
	if err == nil {
		return nil
	}
	var pr *app.PasswordRuleError
	if errors.As(err, &pr) {
		_, rule, _ := strings.Cut(pr.Error(), ": ")
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "password", Message: "password: " + rule, Err: err}
	}
	var inv interface{ InvalidField() (string, string) }
	if errors.As(err, &inv) {
		field, reason := inv.InvalidField()
		if f, ok := directoryFields[field]; ok {
			field = f
		}
		return InvalidField(field, reason)
	}
	for _, r := range directoryRules {
		if errors.Is(err, r.target) {
			e := r.answer(err)
			e.Err = err
			return e
		}
	}
	return err
}

type employeeHandlers struct{ svc EmployeeService }

// employeeRoutes are guide §6.1's employee endpoints and the public verification pair.
func employeeRoutes(svc EmployeeService) []Route {
	h := employeeHandlers{svc: svc}
	return []Route{
		{"POST", "/api/v1/auth/verification", Public, h.requestVerification},
		{"POST", "/api/v1/auth/set-password", Public, h.setPassword},
		{"GET", cp + "/employees", PermEmployeesRead, h.list},
		{"POST", cp + "/employees", PermEmployeesCreate, h.create},
		{"GET", cp + "/employees/{employee_guid}", PermEmployeesRead, h.get},
		{"PUT", cp + "/employees/{employee_guid}", PermEmployeesUpdate, h.update},
	}
}

type employeeCreateRequest struct {
	Email        string   `json:"email"`
	BranchGUID   string   `json:"branch_guid"`
	Name         string   `json:"name"`
	PaternalName string   `json:"paternal_name"`
	Phone        string   `json:"phone"`
	Surname      string   `json:"surname"`
	Roles        []string `json:"roles"`
}

func (q employeeCreateRequest) Validate() error {
	return firstError(requireString("email", q.Email), maxLen("email", q.Email, employeedom.MaxLoginBytes),
		optionalGUID("branch_guid", q.BranchGUID), maxItems("roles", len(q.Roles), employeedom.MaxRoles))
}

func optionalGUID(field, v string) error {
	if v == "" {
		return nil
	}
	if _, ok := parseGUID(v); !ok {
		return InvalidField(field, "must be a GUID like 3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17")
	}
	return nil
}

func maxItems(field string, n, limit int) error {
	if n > limit {
		return InvalidField(field, "too many items")
	}
	return nil
}

type employeeCreateResponse struct {
	EmployeeGUID string `json:"employee_guid"`
	Verified     bool   `json:"verified"`
}

// bankOf reads the bank of the path (the guard has checked that the caller may act in it).
func bankOf(r *http.Request) (uuid.UUID, error) {
	g, err := pathGUID(r, "counterparty_guid")
	if err != nil {
		return uuid.Nil, err
	}
	return guidValue("counterparty_guid", g)
}

func (h employeeHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req employeeCreateRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	// An employee confined to a branch can create employees only in that branch.
	if c, ok := CallerFrom(r.Context()); ok {
		if own, all := branchScope(c); !all {
			if req.BranchGUID != "" && !strings.EqualFold(req.BranchGUID, own) {
				return Forbidden("you may add employees only to your own branch")
			}
			req.BranchGUID = own
		}
	}
	res, err := h.svc.CreateEmployee(r.Context(), bank, app.EmployeeInput{Email: req.Email, Name: req.Name,
		Surname: req.Surname, PaternalName: req.PaternalName, Phone: req.Phone, BranchGUID: strings.ToLower(req.BranchGUID), Roles: req.Roles}, opts)
	if err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusOK, employeeCreateResponse{EmployeeGUID: res.GUID, Verified: false})
	return nil
}

type employeeUpdateRequest struct {
	BranchGUID   *string `json:"branch_guid"`
	Name         *string `json:"name"`
	PaternalName *string `json:"paternal_name"`
	Phone        *string `json:"phone"`
	Surname      *string `json:"surname"`
	IsDisabled   *bool   `json:"is_disabled"`
	Login        *string `json:"login"`
}

func (q employeeUpdateRequest) Validate() error {
	if q.BranchGUID != nil {
		return optionalGUID("branch_guid", *q.BranchGUID)
	}
	return nil
}

// visible finds an employee the caller may see: in the bank, and in the caller's branch if confined.
func (h employeeHandlers) visible(r *http.Request, bank, guid string) (projections.Employee, error) {
	e, ok := h.svc.Employee(r.Context(), bank, guid)
	if !ok {
		return e, NotFound("employee")
	}
	if c, ok := CallerFrom(r.Context()); ok {
		if own, all := branchScope(c); !all && !strings.EqualFold(e.BranchGUID, own) {
			return e, NotFound("employee") // another branch's staff do not exist for this caller
		}
	}
	return e, nil
}

func (h employeeHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var req employeeUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "employee_guid")
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
	if c, ok := CallerFrom(r.Context()); ok && req.BranchGUID != nil {
		if own, all := branchScope(c); !all && !strings.EqualFold(*req.BranchGUID, own) {
			return Forbidden("you may not move an employee out of your branch")
		}
	}
	if req.BranchGUID != nil {
		low := strings.ToLower(*req.BranchGUID)
		req.BranchGUID = &low
	}
	id, err := guidValue("employee_guid", guid)
	if err != nil {
		return err
	}
	_, err = h.svc.UpdateEmployee(r.Context(), bank, id, app.EmployeePatch{Login: req.Login, Name: req.Name,
		Surname: req.Surname, PaternalName: req.PaternalName, Phone: req.Phone, BranchGUID: req.BranchGUID, Disabled: req.IsDisabled}, opts)
	if err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// employeeView is schema Employee.
type employeeView struct {
	GUID             string    `json:"guid"`
	CounterpartyGUID string    `json:"counterparty_guid"`
	Login            string    `json:"login"`
	Email            string    `json:"email,omitempty"`
	BranchGUID       string    `json:"branch_guid,omitempty"`
	Name             string    `json:"name,omitempty"`
	PaternalName     string    `json:"paternal_name,omitempty"`
	Phone            string    `json:"phone,omitempty"`
	Surname          string    `json:"surname,omitempty"`
	Roles            []string  `json:"roles"`
	IsDisabled       bool      `json:"is_disabled"`
	Verified         bool      `json:"verified"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func viewEmployee(e projections.Employee) employeeView {
	roles := e.Roles
	if roles == nil {
		roles = []string{}
	}
	return employeeView{GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, Login: e.Login, Email: e.Email,
		BranchGUID: e.BranchGUID, Name: e.Name, PaternalName: e.PaternalName, Phone: e.Phone, Surname: e.Surname,
		Roles: roles, IsDisabled: e.Disabled, Verified: e.Verified, CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
}

func (h employeeHandlers) get(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "employee_guid")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	e, err := h.visible(r, bank.String(), guid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewEmployee(e))
	return nil
}

type employeeListResponse struct {
	Employees []employeeView `json:"employees"`
	Total     int            `json:"total"`
}

// createdOrder reads order: only creation time is indexed by the read models.
func createdOrder(r *http.Request) (projections.ListPage, error) {
	q, err := queryValues(r)
	if err != nil {
		return projections.ListPage{}, err
	}
	page, err := pageParams(q)
	if err != nil {
		return projections.ListPage{}, err
	}
	o, err := orderParam(q, Order{Field: "created_at"}, "created_at")
	if err != nil {
		return projections.ListPage{}, err
	}
	lp := projections.ListPage{Offset: page.Offset, Limit: page.Limit}
	if o.Desc {
		lp.Order = projections.CreatedDesc
	}
	return lp, nil
}

func (h employeeHandlers) list(w http.ResponseWriter, r *http.Request) error {
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
	query := projections.EmployeeQuery{CounterpartyGUID: bank.String(), ListPage: page}
	if query.GUIDs, err = guidListParam(q, "guids"); err != nil {
		return err
	}
	if query.Logins, err = listParam(q, "logins"); err != nil {
		return err
	}
	if query.Names, err = listParam(q, "names"); err != nil {
		return err
	}
	if query.BranchGUIDs, err = guidListParam(q, "branch_guids"); err != nil {
		return err
	}
	if query.IncludeDisabled, _, err = boolParam(q, "include_disabled"); err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	resp := employeeListResponse{Employees: []employeeView{}}
	var visible bool
	if query.BranchGUIDs, visible = scopedBranches(r, query.BranchGUIDs); !visible {
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	list, total, err := h.svc.ListEmployees(r.Context(), query)
	if err != nil {
		return directoryError(err)
	}
	for _, e := range list {
		resp.Employees = append(resp.Employees, viewEmployee(e))
	}
	resp.Total = total
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type verificationRequest struct {
	Email string `json:"email"`
}

func (q verificationRequest) Validate() error {
	return firstError(requireString("email", q.Email), maxLen("email", q.Email, employeedom.MaxLoginBytes))
}

// requestVerification always answers 202: whether the address belongs to anyone is not the caller's to learn.
func (h employeeHandlers) requestVerification(w http.ResponseWriter, r *http.Request) error {
	var req verificationRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if err := h.svc.RequestVerification(r.Context(), req.Email); err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
	return nil
}

type setPasswordRequest struct {
	Email    string `json:"email"`
	Code     string `json:"code"`
	Password string `json:"password"`
}

func (q setPasswordRequest) Validate() error {
	return firstError(requireString("email", q.Email), maxLen("email", q.Email, employeedom.MaxLoginBytes),
		requireString("code", q.Code), maxLen("code", q.Code, employeedom.MaxTokenBytes),
		requireString("password", q.Password), maxLen("password", q.Password, maxPasswordBytes))
}

func (h employeeHandlers) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req setPasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if _, err := h.svc.SetPassword(r.Context(), req.Email, req.Code, req.Password); err != nil {
		return directoryError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
