package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/iban"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

// CustomerService runs the customers, digital entities and segments of guide §7–§8 and seed 002
// (app.Customers). Every write answers the log position of its last event, so a read can wait for it.
type CustomerService interface {
	RegisterCustomer(ctx context.Context, cp uuid.UUID, in app.CustomerInput, w app.Write) (app.OpenedCustomer, error)
	UpdateCustomer(ctx context.Context, cp, guid uuid.UUID, patch app.CustomerPatch, w app.Write) (app.Written, error)
	// OpenCustomerAccount opens one more account of the customer; Written.GUID is the account's.
	OpenCustomerAccount(ctx context.Context, cp, customerGUID uuid.UUID, iban string, w app.Write) (app.Written, error)
	// OpenEntity opens an additional processing or emission entity; Written.GUID is the account's.
	OpenEntity(ctx context.Context, cp uuid.UUID, in app.EntityInput, w app.Write) (app.Written, error)
	BlockAccount(ctx context.Context, cp, accountGUID uuid.UUID, reason string, w app.Write) (app.Written, error)
	UnblockAccount(ctx context.Context, cp, accountGUID uuid.UUID, w app.Write) (app.Written, error)
	SetSegment(ctx context.Context, cp, accountGUID uuid.UUID, segment string, w app.Write) (app.Written, error)

	Customer(ctx context.Context, cp, guid string) (projections.Customer, bool)
	ListCustomers(ctx context.Context, q projections.CustomerQuery) ([]projections.Customer, int, error)
	Account(ctx context.Context, cp, guid string) (projections.Account, bool)
	CustomerAccounts(ctx context.Context, cp, customerGUID string) ([]projections.Account, bool)
	ListAccounts(ctx context.Context, q projections.AccountQuery) ([]projections.Account, int, error)
	Segments(ctx context.Context, cp string, names []string) map[string][]projections.Account
	// Asset is the platform's asset and its issuer, to describe an account's holdings.
	Asset() (asset money.Asset, issuer string)
}

// branchNamer finds a branch, to show its name next to its GUID.
type branchNamer interface {
	Branch(ctx context.Context, cp, guid string) (projections.Branch, bool)
}

// counterpartyNamer finds a bank, to show its name in the segments answer.
type counterpartyNamer interface {
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
}

// customerHandlers serve customers (seed 002, guide §7.1), digital entities (§8, §16.4) and segments (§7.2).
// Only svc is required; without wait a write answers before the read models show it, without branches
// branch_name is "", without banks the segments answer names the bank with "".
type customerHandlers struct {
	svc      CustomerService
	wait     ReadWaiter
	branches branchNamer
	banks    counterpartyNamer
}

// customerRoutes are the routes of customers, digital entities and segments, bound to svc alone. The router
// should bind them with customerRoutesOf, which also gives read-your-writes and branch and bank names.
func customerRoutes(svc CustomerService) []Route { return customerHandlers{svc: svc}.routes() }

// customerRoutesOf binds the customer routes to everything of d they use.
func customerRoutesOf(d Deps) []Route {
	h := customerHandlers{svc: d.Customers, wait: d.ReadModels}
	if d.Branches != nil {
		h.branches = d.Branches
	}
	if d.Counterparties != nil {
		h.banks = d.Counterparties
	}
	return h.routes()
}

func (h customerHandlers) routes() []Route {
	return []Route{
		{"GET", cp + "/customers", PermCustomersRead, h.listCustomers},
		{"POST", cp + "/customers", PermCustomersCreate, h.createCustomer},
		{"PUT", cp + "/customers/{customer_guid}", PermCustomersUpdate, h.updateCustomer},
		{"GET", cp + "/customers/{customer_guid}/accounts", PermCustomersRead, h.customerAccounts},
		{"POST", cp + "/customers/{customer_guid}/accounts", PermCustomersCreate, h.openCustomerAccount},
		{"GET", cp + "/segments", PermCustomersRead, h.segments},
		{"PATCH", cp + "/segments", PermSegmentsWrite, h.setSegment},
		{"GET", cp + "/accounts", PermAccountsRead, h.listAccounts},
		{"POST", cp + "/accounts", PermAccountsCreate, h.openEntity},
		{"GET", cp + "/branch/{branch_guid}/accounts", PermAccountsRead, h.listBranchAccounts},
		{"POST", cp + "/accounts/{account_guid}/block", PermAccountsBlock, h.block},
		{"POST", cp + "/accounts/{account_guid}/unblock", PermAccountsBlock, h.unblock},
	}
}

// CodeBankRefused is a sign-up that the bank's authorization service refused (it answered 401, guide §4): 422.
const CodeBankRefused = "bank_refused"

// customersRules map the errors of the customer use cases to answers. Like directoryRules, they belong in
// errorTable and live here until the lead merges them. Errors no rule knows go on to directoryError (branches,
// list queries) and then to writeError's table.
var customersRules = []struct {
	target error
	answer func(err error) *Error
}{
	{customer.ErrLoginTaken, func(error) *Error {
		e := Conflict("a customer of this bank already has this login")
		e.Field = "login"
		return e
	}},
	{app.ErrIBANTaken, func(error) *Error {
		e := Conflict("another account already has this IBAN")
		e.Field = "iban"
		return e
	}},
	{app.ErrNoBankAuthorization, func(error) *Error {
		return Unprocessable("the bank has no authorization service (auth_url) to ask about its customers; set it with PUT /api/v1/counterparties/{guid}")
	}},
	{app.ErrCustomerKeyMismatch, func(error) *Error {
		return Unprocessable("the bank's authorization service answered another key for this customer than at sign-up; the customer's Stellar key cannot be opened")
	}},
	{app.ErrBranchEmission, func(error) *Error {
		return Unprocessable("for branch accounts only the processing kind is possible")
	}},
	{app.ErrAccountNotOpened, func(error) *Error {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Retryable: true,
			Message: "the account is not open on Stellar yet; retry in a moment"}
	}},
	{stellar.ErrRateLimited, stellarUnavailable},
	// A refused uniqueness claim that the app did not name otherwise.
	{uniqueness.ErrTaken, func(error) *Error {
		e := Conflict("another account already has this IBAN")
		e.Field = "iban"
		return e
	}},
	{customer.ErrAlreadyExists, func(error) *Error { return Conflict("the customer already exists") }},
	{account.ErrAlreadyExists, func(error) *Error { return Conflict("the account already exists") }},
	{customer.ErrNotFound, func(error) *Error { return NotFound("customer") }},
	{account.ErrNotFound, func(error) *Error { return NotFound("account") }},
	{customer.ErrDisabled, func(error) *Error {
		return Unprocessable("the customer is disabled; enable it first (PUT …/customers/{customer_guid} with is_disabled false)")
	}},
	{customer.ErrTooManyAccounts, func(error) *Error {
		return Unprocessable("a customer has at most " + strconv.Itoa(customer.MaxAccounts) + " accounts")
	}},
	{account.ErrNotOpened, func(error) *Error {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Retryable: true,
			Message: "the account is not open on Stellar yet; retry in a moment"}
	}},
	{account.ErrInvalid, func(err error) *Error {
		_, why, _ := strings.Cut(err.Error(), "invalid command: ")
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "the account refuses this change: %s", why)
	}},
	{app.ErrUnknownAsset, func(error) *Error { return unknownAsset("asset_code") }},
	{bankauth.ErrRefused, func(error) *Error {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeBankRefused,
			Message: "the bank's authorization service refused the sign-up: it does not let this employee or system register this customer or entity (check the login or key keeper with the bank)"}
	}},
	{bankauth.ErrTimeout, func(error) *Error {
		return bankUnavailable("the bank's authorization service did not answer in time; nothing was registered, retry the request")
	}},
	{bankauth.ErrUnavailable, func(error) *Error {
		return bankUnavailable("the bank's authorization service is unavailable; nothing was registered, retry the request")
	}},
	{bankauth.ErrBadAnswer, func(error) *Error {
		return bankUnavailable("the bank's authorization service gave an answer Kazna cannot use (it needs external_id and key); nothing was registered, retry once the bank fixes it")
	}},
	{app.ErrNotReady, func(error) *Error { return errServiceUnavailable }},
}

func bankUnavailable(message string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: message, Retryable: true}
}

func unknownAsset(field string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Field: field,
		Message: "the platform issues one asset: name it by its code (or Stellar code) and issuer, as GET …/customers/{customer_guid}/accounts shows them"}
}

// customersError turns an error of CustomerService into its answer; others pass to directoryError.
func customersError(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range customersRules {
		if errors.Is(err, r.target) {
			e := *r.answer(err)
			e.Err = err
			return &e
		}
	}
	var txErr *stellar.TxError
	var unknownOutcome *stellar.UnknownOutcomeError
	if errors.As(err, &txErr) || errors.As(err, &unknownOutcome) {
		e := stellarUnavailable(err)
		e.Err = err
		return e
	}
	var ie *iban.Error
	if errors.As(err, &ie) {
		e := InvalidField("iban", ie.Reason)
		e.Err = err
		return e
	}
	var inv interface{ InvalidField() (string, string) }
	if errors.As(err, &inv) {
		field, reason := inv.InvalidField()
		if field == "external_id" { // the bank's answer, not the caller's input
			e := bankUnavailable("the bank's authorization service gave an unusable external_id: " + reason)
			e.Err = err
			return e
		}
		e := InvalidField(field, reason)
		e.Err = err
		return e
	}
	return directoryError(err)
}

// Bounds of the customer fields, checked before the domain counts characters (a rune is at most 4 bytes).
const (
	maxCustomerNameBytes = 4 * customer.MaxNameRunes
	maxSegmentBytes      = 4 * customer.MaxSegmentRunes
	maxStatusBytes       = 4 * customer.MaxStatusRunes
	// maxAssetFieldBytes bounds asset_code and asset_issuer: a Stellar code is 12 characters, an issuer 56.
	maxAssetFieldBytes = 64
	// maxIBANInputBytes is an IBAN in paper form: 34 characters in groups of 4.
	maxIBANInputBytes = iban.MaxLength + (iban.MaxLength-1)/4
)

// amountJSON is a decimal amount in a body, kept as the JSON text until the asset's minor unit is known, so
// that it is never a float. It is a JSON number (seed 002); null is the same as absent.
type amountJSON = json.RawMessage

// amountText returns the number's text, "" when absent or null, or a 400 when it is not a JSON number.
func amountText(field string, raw amountJSON) (string, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return "", nil
	}
	if c := s[0]; c != '-' && (c < '0' || c > '9') {
		return "", InvalidField(field, "must be a number like 1000.50")
	}
	return s, nil
}

// parseAmount reads a decimal amount of asset exactly: more decimal places than the asset's minor unit are
// refused, never rounded.
func parseAmount(field, s string, asset money.Asset) (money.Amount, error) {
	a, err := money.Parse(s, asset)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, money.ErrTooManyDecimals):
		return 0, InvalidField(field, fmt.Sprintf("has more than %d decimal places (the minor unit of %s)", asset.Decimals, asset.Code))
	case errors.Is(err, money.ErrOutOfRange):
		return 0, InvalidField(field, "is out of range")
	}
	return 0, InvalidField(field, "must be a decimal number like 1000.50 (no exponent)")
}

// bodyAmount reads an optional, non-negative amount of a body.
func bodyAmount(field string, raw amountJSON, asset money.Asset) (*money.Amount, error) {
	s, err := amountText(field, raw)
	if err != nil || s == "" {
		return nil, err
	}
	a, err := parseAmount(field, s, asset)
	if err != nil {
		return nil, err
	}
	if a < 0 {
		return nil, InvalidField(field, "must not be negative")
	}
	return &a, nil
}

// amountNumber renders minor units as a JSON number in the asset's units, exactly: 0, 12.5, 1000.
func amountNumber(a money.Amount, asset money.Asset) json.Number {
	return json.Number(a.Decimal(asset).String())
}

// apiTime is the seed's time format: RFC 3339 in UTC with microseconds ("2023-07-14T11:31:14.137931Z").
func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// checkIBAN validates an optional IBAN (electronic or paper form) and returns its electronic form.
func checkIBAN(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > maxIBANInputBytes {
		return "", InvalidField(field, "is longer than an IBAN")
	}
	v, err := iban.Parse(s)
	if err != nil {
		var ie *iban.Error
		if errors.As(err, &ie) {
			return "", InvalidField(field, ie.Reason)
		}
		return "", InvalidField(field, "is not an IBAN")
	}
	return string(v), nil
}

// checkAsset refuses an asset the platform does not issue before anything is written: the platform has one
// asset, named by its code or its Stellar code, and one issuer.
func checkAsset(codeField, code, issuerField, issuer string, asset money.Asset, platformIssuer string) error {
	if code != "" && !asset.Names(code) {
		return unknownAsset(codeField)
	}
	if issuer != "" && issuer != platformIssuer {
		return unknownAsset(issuerField)
	}
	return nil
}

// requestScope is branchScope of the request's caller; a request without one (public) sees the whole bank.
func requestScope(r *http.Request) (own string, all bool) {
	c, ok := CallerFrom(r.Context())
	if !ok {
		return "", true
	}
	return branchScope(c)
}

// visibleCustomer finds a customer the caller may see: in the bank, and in the caller's branch if confined.
// Another branch's customer does not exist for the caller (404, never 403).
func (h customerHandlers) visibleCustomer(r *http.Request, bank, guid string) (projections.Customer, error) {
	c, ok := h.svc.Customer(r.Context(), bank, guid)
	if !ok {
		return c, NotFound("customer")
	}
	if own, all := requestScope(r); !all && !strings.EqualFold(c.Profile.BranchGUID, own) {
		return projections.Customer{}, NotFound("customer")
	}
	return c, nil
}

// accountBranch is the branch an account belongs to: its own (a branch's processing entity) or, for a
// customer's account, its customer's.
func (h customerHandlers) accountBranch(ctx context.Context, bank string, a projections.Account) string {
	if a.Owner.BranchGUID != "" || a.Owner.CustomerGUID == "" {
		return a.Owner.BranchGUID
	}
	if c, ok := h.svc.Customer(ctx, bank, a.Owner.CustomerGUID); ok {
		return c.Profile.BranchGUID
	}
	return ""
}

// visibleAccount finds an account the caller may see, as visibleCustomer does.
func (h customerHandlers) visibleAccount(r *http.Request, bank, guid string) (projections.Account, error) {
	a, ok := h.svc.Account(r.Context(), bank, guid)
	if !ok {
		return a, NotFound("account")
	}
	if own, all := requestScope(r); !all && !strings.EqualFold(h.accountBranch(r.Context(), bank, a), own) {
		return projections.Account{}, NotFound("account")
	}
	return a, nil
}

// customerCreateRequest is seed 002's POST …/customers body.
type customerCreateRequest struct {
	AssetCode          string     `json:"asset_code"`
	AssetIssuer        string     `json:"asset_issuer"`
	BalanceAllowed     amountJSON `json:"balance_allowed"`
	BalanceAssetCode   string     `json:"balance_asset_code"`
	BalanceAssetIssuer string     `json:"balance_asset_issuer"`
	BranchGUID         string     `json:"branch_guid"`
	IBAN               string     `json:"iban"`
	IsDisabled         bool       `json:"is_disabled"`
	KYCLevel           int        `json:"kyc_level"`
	Login              string     `json:"login"`
	Name               string     `json:"name"`
	PaternalName       string     `json:"paternal_name"`
	PhoneNumber        string     `json:"phone_number"`
	Segment            string     `json:"segment"`
	Status             string     `json:"status"`
	Surname            string     `json:"surname"`
}

func (q customerCreateRequest) Validate() error {
	_, amountErr := amountText("balance_allowed", q.BalanceAllowed)
	return firstError(requireString("asset_code", q.AssetCode), maxLen("asset_code", q.AssetCode, maxAssetFieldBytes),
		requireString("asset_issuer", q.AssetIssuer), maxLen("asset_issuer", q.AssetIssuer, maxAssetFieldBytes),
		amountErr, maxLen("balance_asset_code", q.BalanceAssetCode, maxAssetFieldBytes),
		maxLen("balance_asset_issuer", q.BalanceAssetIssuer, maxAssetFieldBytes), optionalGUID("branch_guid", q.BranchGUID),
		maxLen("iban", q.IBAN, maxIBANInputBytes), kycLevel(q.KYCLevel), maxLen("login", q.Login, customer.MaxLoginBytes),
		maxLen("name", q.Name, maxCustomerNameBytes), maxLen("paternal_name", q.PaternalName, maxCustomerNameBytes),
		maxLen("phone_number", q.PhoneNumber, customer.MaxPhoneBytes), maxLen("segment", q.Segment, maxSegmentBytes),
		maxLen("status", q.Status, maxStatusBytes), maxLen("surname", q.Surname, maxCustomerNameBytes))
}

func kycLevel(n int) error {
	if n < 0 || n > customer.MaxKYCLevel {
		return InvalidField("kyc_level", "must be 0 to "+strconv.Itoa(customer.MaxKYCLevel))
	}
	return nil
}

// assetView is one holding of an account (seed 002, "assets").
type assetView struct {
	Activated     bool        `json:"activated"`
	Balance       json.Number `json:"balance"`
	Code          string      `json:"code"`
	MinorUnit     int32       `json:"minor_unit"`
	Name          string      `json:"name"`
	Platform      string      `json:"platform"`
	StellarCode   string      `json:"stellar_code"`
	StellarIssuer string      `json:"stellar_issuer"`
}

// walletAccountView is a customer's account as seed 002 shows it (schema CustomerAccount).
type walletAccountView struct {
	Activated         bool        `json:"activated"`
	Assets            []assetView `json:"assets"`
	AssetsTotal       int         `json:"assets_total"`
	Blocked           bool        `json:"blocked"`
	GUID              string      `json:"guid"`
	IBAN              string      `json:"iban"`
	Name              string      `json:"name"`
	Platform          string      `json:"platform"`
	Registered        bool        `json:"registered"`
	Type              string      `json:"type"`
	WalletAccountGUID string      `json:"wallet_account_guid"`
}

// assetName is the asset's display name; the seed names only the hryvnia.
func assetName(code string) string {
	if strings.EqualFold(code, "UAH") {
		return "Ukraine Hryvnia"
	}
	return code
}

// viewWalletAccount renders an account with its one asset (a digital entity holds one asset, guide §1).
// activated and registered say that the account is open on Stellar (the guide: "not used currently"); type is
// the account's GUID (the guide's account_type_guid = wallet_account_guid); name is the account's kind.
func viewWalletAccount(a projections.Account, asset money.Asset, issuer string) walletAccountView {
	code, iss := a.AssetCode, a.AssetIssuer
	if code == "" {
		code = asset.StellarCode
	}
	if iss == "" {
		iss = issuer
	}
	return walletAccountView{
		Activated: a.Opened,
		Assets: []assetView{{Activated: a.Opened, Balance: amountNumber(a.Balance, asset), Code: asset.Code,
			MinorUnit: asset.Decimals, Name: assetName(asset.Code), Platform: "", StellarCode: code, StellarIssuer: iss}},
		AssetsTotal: 1, Blocked: a.Blocked, GUID: a.GUID, IBAN: a.Owner.IBAN, Name: string(a.Kind), Platform: "",
		Registered: a.Opened, Type: a.GUID, WalletAccountGUID: a.GUID,
	}
}

// customerCreateResponse is seed 002's answer to POST …/customers (schema CustomerCreateResponse).
type customerCreateResponse struct {
	CustomerGUID string `json:"customer_guid"`
	walletAccountView
}

func (h customerHandlers) createCustomer(w http.ResponseWriter, r *http.Request) error {
	var req customerCreateRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, issuer := h.svc.Asset()
	ibanText, err := checkIBAN("iban", req.IBAN)
	if err != nil {
		return err
	}
	var allowed money.Amount
	if a, err := bodyAmount("balance_allowed", req.BalanceAllowed, asset); err != nil {
		return err
	} else if a != nil {
		allowed = *a
	}
	if err := firstError(checkAsset("asset_code", req.AssetCode, "asset_issuer", req.AssetIssuer, asset, issuer),
		checkAsset("balance_asset_code", req.BalanceAssetCode, "balance_asset_issuer", req.BalanceAssetIssuer, asset, issuer)); err != nil {
		return err
	}
	branch := strings.ToLower(req.BranchGUID)
	// An employee confined to a branch registers customers only in that branch.
	if own, all := requestScope(r); !all {
		if branch != "" && branch != own {
			return Forbidden("you may register customers only in your own branch")
		}
		branch = own
	}
	profile := customer.Profile{Login: req.Login, Name: req.Name, Surname: req.Surname, PaternalName: req.PaternalName,
		Phone: req.PhoneNumber, KYCLevel: req.KYCLevel, Segment: req.Segment, Status: req.Status, BranchGUID: branch,
		BalanceAllowed: allowed, BalanceAssetCode: req.BalanceAssetCode, BalanceAssetIssuer: req.BalanceAssetIssuer}
	// The domain's own check, before the bank is asked and the account opened, so bad input writes nothing.
	if _, err := profile.Normalise(); err != nil {
		return customersError(err)
	}
	res, err := h.svc.RegisterCustomer(r.Context(), bank, app.CustomerInput{AssetCode: req.AssetCode, AssetIssuer: req.AssetIssuer,
		IBAN: ibanText, Profile: profile, Disabled: req.IsDisabled}, opts)
	if err != nil {
		return customersError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, customerCreateResponse{CustomerGUID: res.CustomerGUID, walletAccountView: viewWalletAccount(res.Account, asset, issuer)})
	return nil
}

// nullableGUID is seed 002's {"valid": bool, "value": "guid"}: valid false clears the value.
type nullableGUID struct {
	Valid *bool  `json:"valid"`
	Value string `json:"value"`
}

// customerUpdateRequest is seed 002's PUT …/customers/{customer_guid} body; absent fields stay as they are.
type customerUpdateRequest struct {
	BalanceAllowed     amountJSON    `json:"balance_allowed"`
	BalanceAssetCode   *string       `json:"balance_asset_code"`
	BalanceAssetIssuer *string       `json:"balance_asset_issuer"`
	BranchGUID         *nullableGUID `json:"branch_guid"`
	IsDisabled         *bool         `json:"is_disabled"`
	KYCLevel           *int          `json:"kyc_level"`
	Name               *string       `json:"name"`
	PaternalName       *string       `json:"paternal_name"`
	PhoneNumber        *string       `json:"phone_number"`
	Segment            *string       `json:"segment"`
	Status             *string       `json:"status"`
	Surname            *string       `json:"surname"`
	WalletUserGUID     *string       `json:"wallet_user_guid"`
}

func optionalMaxLen(field string, v *string, n int) error {
	if v == nil {
		return nil
	}
	return maxLen(field, *v, n)
}

func (q customerUpdateRequest) Validate() error {
	_, amountErr := amountText("balance_allowed", q.BalanceAllowed)
	errs := []error{amountErr, optionalMaxLen("balance_asset_code", q.BalanceAssetCode, maxAssetFieldBytes),
		optionalMaxLen("balance_asset_issuer", q.BalanceAssetIssuer, maxAssetFieldBytes)}
	if b := q.BranchGUID; b != nil {
		switch {
		case b.Valid == nil:
			errs = append(errs, MissingField("branch_guid.valid"))
		case *b.Valid && b.Value == "":
			errs = append(errs, MissingField("branch_guid.value"))
		case *b.Valid:
			errs = append(errs, optionalGUID("branch_guid.value", b.Value))
		case b.Value != "":
			errs = append(errs, InvalidField("branch_guid.value", "must be empty when valid is false (which takes the customer out of its branch)"))
		}
	}
	if q.KYCLevel != nil {
		errs = append(errs, kycLevel(*q.KYCLevel))
	}
	errs = append(errs, optionalMaxLen("name", q.Name, maxCustomerNameBytes), optionalMaxLen("paternal_name", q.PaternalName, maxCustomerNameBytes),
		optionalMaxLen("phone_number", q.PhoneNumber, customer.MaxPhoneBytes), optionalMaxLen("segment", q.Segment, maxSegmentBytes),
		optionalMaxLen("status", q.Status, maxStatusBytes), optionalMaxLen("surname", q.Surname, maxCustomerNameBytes))
	if q.WalletUserGUID != nil {
		errs = append(errs, optionalGUID("wallet_user_guid", *q.WalletUserGUID))
	}
	return firstError(errs...)
}

func (h customerHandlers) updateCustomer(w http.ResponseWriter, r *http.Request) error {
	var req customerUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "customer_guid")
	if err != nil {
		return err
	}
	if req.WalletUserGUID != nil && *req.WalletUserGUID != "" && !strings.EqualFold(*req.WalletUserGUID, guid) {
		return InvalidField("wallet_user_guid", "must be the customer_guid of the path (or be left out)")
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, issuer := h.svc.Asset()
	patch := app.CustomerPatch{Name: req.Name, Surname: req.Surname, PaternalName: req.PaternalName, Phone: req.PhoneNumber,
		Segment: req.Segment, Status: req.Status, BalanceAssetCode: req.BalanceAssetCode, BalanceAssetIssuer: req.BalanceAssetIssuer,
		KYCLevel: req.KYCLevel, Disabled: req.IsDisabled}
	if patch.BalanceAllowed, err = bodyAmount("balance_allowed", req.BalanceAllowed, asset); err != nil {
		return err
	}
	if err := checkAsset("balance_asset_code", deref(req.BalanceAssetCode), "balance_asset_issuer", deref(req.BalanceAssetIssuer), asset, issuer); err != nil {
		return err
	}
	if b := req.BranchGUID; b != nil {
		branch := ""
		if *b.Valid {
			branch = strings.ToLower(b.Value)
		}
		patch.Branch = &branch
	}
	if _, err := h.visibleCustomer(r, bank.String(), guid); err != nil {
		return err
	}
	if own, all := requestScope(r); !all && patch.Branch != nil && *patch.Branch != own {
		return Forbidden("you may not move a customer out of your branch")
	}
	id, err := guidValue("customer_guid", guid)
	if err != nil {
		return err
	}
	res, err := h.svc.UpdateCustomer(r.Context(), bank, id, patch, opts)
	if err != nil {
		return customersError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// customerView is a customer as seed 002's list shows it (schema Customer).
type customerView struct {
	WalletUserGUID     string      `json:"wallet_user_guid"`
	CounterpartyGUID   string      `json:"counterparty_guid"`
	Login              string      `json:"login"`
	KYCLevel           int         `json:"kyc_level"`
	IsDisabled         bool        `json:"is_disabled"`
	BalanceAllowed     json.Number `json:"balance_allowed"`
	BalanceAssetCode   string      `json:"balance_asset_code"`
	BalanceAssetIssuer string      `json:"balance_asset_issuer"`
	BranchGUID         string      `json:"branch_guid"`
	BranchName         string      `json:"branch_name"`
	Name               string      `json:"name"`
	PaternalName       string      `json:"paternal_name"`
	PhoneNumber        string      `json:"phone_number"`
	Segment            string      `json:"segment"`
	Status             string      `json:"status"`
	Surname            string      `json:"surname"`
	CreatedAt          string      `json:"created_at"`
	UpdatedAt          string      `json:"updated_at"`
}

func viewCustomer(c projections.Customer, asset money.Asset, branchName string) customerView {
	p := c.Profile
	return customerView{WalletUserGUID: c.GUID, CounterpartyGUID: c.CounterpartyGUID, Login: p.Login, KYCLevel: p.KYCLevel,
		IsDisabled: c.Disabled, BalanceAllowed: amountNumber(p.BalanceAllowed, asset), BalanceAssetCode: p.BalanceAssetCode,
		BalanceAssetIssuer: p.BalanceAssetIssuer, BranchGUID: p.BranchGUID, BranchName: branchName, Name: p.Name,
		PaternalName: p.PaternalName, PhoneNumber: p.Phone, Segment: p.Segment, Status: p.Status, Surname: p.Surname,
		CreatedAt: apiTime(c.CreatedAt), UpdatedAt: apiTime(c.UpdatedAt)}
}

// branchNames looks branch names up once per branch of a page.
type branchNames struct {
	h     customerHandlers
	bank  string
	names map[string]string
}

func (b *branchNames) name(ctx context.Context, guid string) string {
	if guid == "" || b.h.branches == nil {
		return ""
	}
	if n, ok := b.names[guid]; ok {
		return n
	}
	br, _ := b.h.branches.Branch(ctx, b.bank, guid)
	if b.names == nil {
		b.names = map[string]string{}
	}
	b.names[guid] = br.Name
	return br.Name
}

type customerListResponse struct {
	Customers []customerView `json:"customers"`
	Total     int            `json:"total"`
}

// customerOrderFields are the sort fields of projections.CustomerOrders, without the "-" of descending.
func customerOrderFields() []string {
	var out []string
	for _, o := range projections.CustomerOrders {
		if !strings.HasPrefix(string(o), "-") {
			out = append(out, string(o))
		}
	}
	return out
}

// stringFilters are the seed's list filters that pass to the query as given.
func stringFilters(q url.Values, query *projections.CustomerQuery) error {
	for _, f := range []struct {
		name string
		dst  *[]string
	}{
		{"logins", &query.Logins}, {"balance_asset_codes", &query.BalanceAssetCodes}, {"balance_asset_issuers", &query.BalanceAssetIssuers},
		{"names", &query.Names}, {"paternal_names", &query.PaternalNames}, {"phone_numbers", &query.PhoneNumbers},
		{"segments", &query.Segments}, {"statuses", &query.Statuses}, {"surnames", &query.Surnames},
	} {
		var err error
		if *f.dst, err = listParam(q, f.name); err != nil {
			return err
		}
	}
	return nil
}

func timeFilters(q url.Values, query *projections.CustomerQuery) error {
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"min_created_at", &query.MinCreated}, {"max_created_at", &query.MaxCreated}, {"min_updated_at", &query.MinUpdated}, {"max_updated_at", &query.MaxUpdated}} {
		var err error
		if *f.dst, _, err = timeParam(q, f.name); err != nil {
			return err
		}
	}
	return nil
}

func kycLevelsParam(q url.Values) ([]int, error) {
	items, err := listParam(q, "kyc_levels")
	if err != nil {
		return nil, err
	}
	var out []int
	for i, item := range items {
		n, err := strconv.Atoi(item)
		if err != nil || n < 0 || n > customer.MaxKYCLevel {
			return nil, InvalidField("kyc_levels", "item "+strconv.Itoa(i+1)+" must be a whole number from 0 to "+strconv.Itoa(customer.MaxKYCLevel))
		}
		out = append(out, n)
	}
	return out, nil
}

func amountParam(q url.Values, name string, asset money.Asset) (*money.Amount, error) {
	s, ok, err := single(q, name)
	if err != nil || !ok {
		return nil, err
	}
	a, err := parseAmount(name, s, asset)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// customerQuery reads every filter of seed 002's GET …/customers.
func (h customerHandlers) customerQuery(r *http.Request, bank string) (projections.CustomerQuery, error) {
	query := projections.CustomerQuery{CounterpartyGUID: bank}
	q, err := queryValues(r)
	if err != nil {
		return query, err
	}
	if query.GUIDs, err = guidListParam(q, "wallet_user_guids"); err != nil {
		return query, err
	}
	if query.BranchGUIDs, err = guidListParam(q, "branch_guids"); err != nil {
		return query, err
	}
	if query.KYCLevels, err = kycLevelsParam(q); err != nil {
		return query, err
	}
	if err := stringFilters(q, &query); err != nil {
		return query, err
	}
	if disabled, present, err := boolParam(q, "is_disabled"); err != nil {
		return query, err
	} else if present {
		query.Disabled = &disabled
	}
	if query.Search, _, err = single(q, "search_string"); err != nil {
		return query, err
	}
	if err := timeFilters(q, &query); err != nil {
		return query, err
	}
	page, err := pageParams(q)
	if err != nil {
		return query, err
	}
	query.Offset, query.Limit = page.Offset, page.Limit
	o, err := orderParam(q, Order{Field: string(projections.CustomersByCreated)}, customerOrderFields()...)
	if err != nil {
		return query, err
	}
	query.Order = projections.CustomerOrder(o.Field)
	if o.Desc {
		query.Order = projections.CustomerOrder("-" + o.Field)
	}
	if h.svc == nil {
		return query, errServiceUnavailable
	}
	asset, _ := h.svc.Asset()
	if query.MinBalanceAllowed, err = amountParam(q, "min_balance_allowed", asset); err != nil {
		return query, err
	}
	if query.MaxBalanceAllowed, err = amountParam(q, "max_balance_allowed", asset); err != nil {
		return query, err
	}
	query.BranchScope, _ = requestScope(r)
	return query, nil
}

func (h customerHandlers) listCustomers(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	query, err := h.customerQuery(r, bank.String())
	if err != nil {
		return err
	}
	list, total, err := h.svc.ListCustomers(r.Context(), query)
	if err != nil {
		return customersError(err)
	}
	asset, _ := h.svc.Asset()
	names := branchNames{h: h, bank: bank.String()}
	resp := customerListResponse{Customers: make([]customerView, 0, len(list)), Total: total}
	for _, c := range list {
		resp.Customers = append(resp.Customers, viewCustomer(c, asset, names.name(r.Context(), c.Profile.BranchGUID)))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type customerAccountsResponse struct {
	Accounts []walletAccountView `json:"accounts"`
	Total    int                 `json:"total"`
}

func (h customerHandlers) customerAccounts(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "customer_guid")
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	s, _, err := single(q, "iban")
	if err != nil {
		return err
	}
	want, err := checkIBAN("iban", s)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if _, err := h.visibleCustomer(r, bank.String(), guid); err != nil {
		return err
	}
	list, ok := h.svc.CustomerAccounts(r.Context(), bank.String(), guid)
	if !ok {
		return NotFound("customer")
	}
	asset, issuer := h.svc.Asset()
	resp := customerAccountsResponse{Accounts: []walletAccountView{}}
	for _, a := range list {
		if want == "" || a.Owner.IBAN == want {
			resp.Accounts = append(resp.Accounts, viewWalletAccount(a, asset, issuer))
		}
	}
	resp.Total = len(resp.Accounts)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type customerAccountRequest struct {
	IBAN string `json:"iban"`
}

func (q customerAccountRequest) Validate() error { return maxLen("iban", q.IBAN, maxIBANInputBytes) }

type customerAccountResponse struct {
	WalletAccountGUID string `json:"wallet_account_guid"`
}

func (h customerHandlers) openCustomerAccount(w http.ResponseWriter, r *http.Request) error {
	var req customerAccountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "customer_guid")
	if err != nil {
		return err
	}
	ibanText, err := checkIBAN("iban", req.IBAN)
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
	if _, err := h.visibleCustomer(r, bank.String(), guid); err != nil {
		return err
	}
	id, err := guidValue("customer_guid", guid)
	if err != nil {
		return err
	}
	res, err := h.svc.OpenCustomerAccount(r.Context(), bank, id, ibanText, opts)
	if err != nil {
		return customersError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, customerAccountResponse{WalletAccountGUID: res.GUID})
	return nil
}

// stellarUnavailable answers a Stellar network that did not open the account: nothing the caller sent is
// wrong, and a retry with the same Idempotency-Key resumes where the opening stopped.
func stellarUnavailable(error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Retryable: true,
		Message: "the Stellar network did not complete the account opening; retry with the same Idempotency-Key to resume it"}
}
