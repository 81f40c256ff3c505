package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/projections"
)

// PaymentService runs transfers (guide §10, §16.5): app.Payments for the writes, the payments read model for
// the reads.
type PaymentService interface {
	Asset() (money.Asset, string)
	CreatePayment(ctx context.Context, cp uuid.UUID, in app.PaymentInput, w app.Write) (app.Written, error)
	ConfirmPayment(ctx context.Context, cp, id uuid.UUID, bankGUID, branch string, w app.Write) (app.ConfirmedPayment, error)
	CancelPayment(ctx context.Context, cp, id uuid.UUID, w app.Write) (app.Written, error)
	PaymentView(ctx context.Context, guid string) (projections.Payment, bool)
	ListPayments(q projections.PaymentQuery) ([]projections.Payment, int, error)
}

type paymentHandlers struct {
	svc  PaymentService
	wait ReadWaiter
}

func paymentRoutesOf(d Deps) []Route {
	h := paymentHandlers{svc: d.Payments, wait: d.ReadModels}
	return []Route{
		{"GET", cp + "/payments", PermPaymentsRead, h.list},
		{"POST", cp + "/payments", PermPaymentsCreate, h.create},
		{"GET", cp + "/payments/{payment_guid}", PermPaymentsRead, h.get},
		{"DELETE", cp + "/payments/{payment_guid}", PermPaymentsCreate, h.cancel},
		{"POST", cp + "/payments/confirm", PermPaymentsConfirm, h.confirm},
		{"GET", cp + "/branch/{branch_guid}/payments", PermPaymentsRead, h.list},
		{"POST", cp + "/branch/{branch_guid}/payments", PermPaymentsCreate, h.create},
		{"POST", cp + "/branch/{branch_guid}/payments/confirm", PermPaymentsConfirm, h.confirm},
	}
}

// CodeInsufficientFunds is a confirmation the sender's available balance does not cover (422).
const CodeInsufficientFunds = "insufficient_funds"

// CodeRouteNotAllowed is a payment between kinds of account the guide's route rules do not allow (422).
const CodeRouteNotAllowed = "route_not_allowed"

// paymentsRules map the errors of the payment use cases to answers.
var paymentsRules = []struct {
	target error
	answer func(err error) *Error
}{
	{account.ErrInsufficientFunds, func(error) *Error {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInsufficientFunds,
			Message: "the sender's available balance (balance − reserved) does not cover the amount; nothing was reserved"}
	}},
	{app.ErrBalanceAllowed, func(err error) *Error {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeBalanceAllowed,
			Message: "the payment would take the receiving customer's balance above its balance_allowed; nothing was reserved"}
	}},
	{account.ErrTargetBalance, func(error) *Error {
		e := Unprocessable("the sender's balance after this payment would not be target_balance; read the balance and retry")
		e.Field = "target_balance"
		return e
	}},
	{account.ErrBlocked, func(err error) *Error {
		if strings.HasPrefix(err.Error(), "receiver") {
			return Unprocessable("the receiver's account is blocked")
		}
		return Unprocessable("the sender's account is blocked")
	}},
	{payment.ErrBankGUID, func(err error) *Error {
		_, why, _ := strings.Cut(err.Error(), "receiver's counterparty: ")
		e := Unprocessable("bank_guid must name the receiver's bank (leave it out only for a transfer inside your bank)")
		if why != "" {
			e.Message += ": " + why
		}
		e.Field = "bank_guid"
		return e
	}},
	{payment.ErrNotConfirmable, func(error) *Error {
		return Conflict("the payment is no longer a draft (it was cancelled or failed); create a new one")
	}},
	{payment.ErrNotCancellable, func(error) *Error {
		return Conflict("only a draft (status CREATED) can be cancelled; this payment is confirmed")
	}},
	{payment.ErrAlreadyExists, func(error) *Error { return Conflict("the payment already exists with other content") }},
	{payment.ErrNotFound, func(error) *Error { return NotFound("payment") }},
	{app.ErrAccountUnknown, func(err error) *Error {
		msg := "no such open account"
		var u *app.UnknownAccountError
		if errors.As(err, &u) {
			msg = u.Error()
		}
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg}
	}},
	{app.ErrEmissionPayment, func(error) *Error {
		return Conflict("this payment carries an issue or burn; its emission request moves it (guide §9), not POST …/payments/confirm")
	}},
	{app.ErrCategoryUnknown, func(error) *Error {
		e := Unprocessable("category_guid names no category (or a deleted one); see GET /api/v1/dictionary/payment/category")
		e.Field = "category_guid"
		return e
	}},
	{app.ErrSenderDisabled, func(error) *Error { return Unprocessable("the sender's customer is disabled") }},
	{app.ErrWrongBranch, func(error) *Error { return NotFound("payment or account in this branch") }},
	{account.ErrNotOpened, func(error) *Error { return Unprocessable("the account is not open on Stellar yet") }},
}

// paymentsError turns an error of PaymentService into its answer; others pass on to customersError.
func paymentsError(err error) error {
	if err == nil {
		return nil
	}
	var route *payment.RouteError
	if errors.As(err, &route) {
		scope := "within one counterparty"
		if route.External {
			scope = "between two counterparties"
		}
		msg := "route " + route.Route() + " is not allowed " + scope + " (guide §10: within a bank emission → processing, " +
			"processing → customer, customer → customer, processing → emission, customer → processing; between banks " +
			"processing → processing, customer → customer)"
		if route.Reason != "" {
			msg += ": " + route.Reason
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeRouteNotAllowed, Err: err, Message: msg}
	}
	for _, r := range paymentsRules {
		if errors.Is(err, r.target) {
			e := *r.answer(err)
			e.Err = err
			return &e
		}
	}
	return customersError(err)
}

// paymentCreateRequest is guide §10's POST …/payments body.
type paymentCreateRequest struct {
	Amount        amountJSON `json:"amount"`
	AssetCode     string     `json:"asset_code"`
	AssetIssuer   string     `json:"asset_issuer"`
	CategoryGUID  string     `json:"category_guid"`
	Purpose       string     `json:"purpose"`
	ReceiverIBAN  string     `json:"receiver_iban"`
	ReceiverID    string     `json:"receiver_id"`
	SenderIBAN    string     `json:"sender_iban"`
	SenderID      string     `json:"sender_id"`
	TargetBalance amountJSON `json:"target_balance"`
}

func (q paymentCreateRequest) Validate() error {
	amount, amountErr := amountText("amount", q.Amount)
	if amountErr == nil && amount == "" {
		amountErr = MissingField("amount")
	}
	_, targetErr := amountText("target_balance", q.TargetBalance)
	sides := func(field string, id, ib string) error {
		if strings.TrimSpace(id) == "" && strings.TrimSpace(ib) == "" {
			return MissingField(field + "_id")
		}
		return firstError(optionalGUID(field+"_id", id), maxLen(field+"_iban", ib, maxIBANInputBytes))
	}
	return firstError(amountErr, targetErr, requireString("asset_code", q.AssetCode), maxLen("asset_code", q.AssetCode, maxAssetFieldBytes),
		requireString("asset_issuer", q.AssetIssuer), maxLen("asset_issuer", q.AssetIssuer, maxAssetFieldBytes),
		optionalGUID("category_guid", q.CategoryGUID), maxLen("purpose", q.Purpose, 4*payment.MaxPurposeRunes),
		sides("sender", q.SenderID, q.SenderIBAN), sides("receiver", q.ReceiverID, q.ReceiverIBAN))
}

type guidResponse struct {
	GUID string `json:"guid"`
}

// branchOf reads the path's branch (the §16.5 routes) and checks the caller may act in it.
func branchOf(r *http.Request) (string, error) {
	if _, ok := mux.Vars(r)["branch_guid"]; !ok {
		if own, all := requestScope(r); !all {
			return own, nil // an employee confined to a branch acts in it on the bank's routes too
		}
		return "", nil
	}
	branch, err := pathGUID(r, "branch_guid")
	if err != nil {
		return "", err
	}
	if own, all := requestScope(r); !all && own != branch {
		return "", branchNotFound(nil)
	}
	return branch, nil
}

func (h paymentHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req paymentCreateRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	branch, err := branchOf(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, issuer := h.svc.Asset()
	if err := checkAsset("asset_code", req.AssetCode, "asset_issuer", req.AssetIssuer, asset, issuer); err != nil {
		return err
	}
	amountText, _ := amountText("amount", req.Amount)
	amount, err := parseAmount("amount", amountText, asset)
	if err != nil {
		return err
	}
	if amount <= 0 {
		return InvalidField("amount", "must be positive")
	}
	var target *int64
	if t, err := bodyAmount("target_balance", req.TargetBalance, asset); err != nil {
		return err
	} else if t != nil {
		v := int64(*t)
		target = &v
	}
	senderIBAN, err := checkIBAN("sender_iban", req.SenderIBAN)
	if err != nil {
		return err
	}
	receiverIBAN, err := checkIBAN("receiver_iban", req.ReceiverIBAN)
	if err != nil {
		return err
	}
	res, err := h.svc.CreatePayment(r.Context(), bank, app.PaymentInput{SenderID: strings.ToLower(req.SenderID), SenderIBAN: senderIBAN,
		ReceiverID: strings.ToLower(req.ReceiverID), ReceiverIBAN: receiverIBAN, Amount: int64(amount), AssetCode: req.AssetCode,
		AssetIssuer: req.AssetIssuer, CategoryGUID: strings.ToLower(req.CategoryGUID), Purpose: req.Purpose, TargetBalance: target,
		BranchGUID: branch}, opts)
	if err != nil {
		return paymentsError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, guidResponse{GUID: res.GUID})
	return nil
}

// paymentConfirmRequest is guide §10's confirmation body.
type paymentConfirmRequest struct {
	BankGUID    string `json:"bank_guid"`
	PaymentGUID string `json:"payment_guid"`
}

func (q paymentConfirmRequest) Validate() error {
	if strings.TrimSpace(q.PaymentGUID) == "" {
		return MissingField("payment_guid")
	}
	return firstError(optionalGUID("payment_guid", q.PaymentGUID), optionalGUID("bank_guid", q.BankGUID))
}

// paymentConfirmResponse answers a confirmation (INFERRED: the guide shows no body): the payment and its
// status, PENDING until the settlement worker records it on Stellar.
type paymentConfirmResponse struct {
	GUID   string `json:"guid"`
	Status string `json:"status"`
}

func (h paymentHandlers) confirm(w http.ResponseWriter, r *http.Request) error {
	var req paymentConfirmRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	branch, err := branchOf(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	id, _ := parseUUID(req.PaymentGUID)
	res, err := h.svc.ConfirmPayment(r.Context(), bank, id, strings.ToLower(req.BankGUID), branch, opts)
	if le := (*account.LimitError)(nil); errors.As(err, &le) {
		asset, _ := h.svc.Asset()
		return limitRefusal(le, asset)
	}
	if err != nil {
		return paymentsError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, paymentConfirmResponse{GUID: res.GUID, Status: string(res.Status)})
	return nil
}

func (h paymentHandlers) cancel(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "payment_guid")
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
	res, err := h.svc.CancelPayment(r.Context(), bank, uuid.MustParse(guid), opts)
	if err != nil {
		return paymentsError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// visible finds a payment the caller may see: its bank is a side (or created it), and a caller confined to a
// branch sees only the branch's payments. Others do not exist for it (404).
func (h paymentHandlers) visible(r *http.Request, bank, guid string) (projections.Payment, error) {
	p, ok := h.svc.PaymentView(r.Context(), guid)
	if !ok || !p.VisibleTo(bank) {
		return p, NotFound("payment")
	}
	if own, all := requestScope(r); !all && !inBranch(p, bank, own) {
		return projections.Payment{}, NotFound("payment")
	}
	return p, nil
}

func inBranch(p projections.Payment, bank, branch string) bool {
	return strings.EqualFold(p.BranchGUID, branch) ||
		(strings.EqualFold(p.Sender.CounterpartyGUID, bank) && strings.EqualFold(p.Sender.BranchGUID, branch)) ||
		(strings.EqualFold(p.Receiver.CounterpartyGUID, bank) && strings.EqualFold(p.Receiver.BranchGUID, branch))
}

func (h paymentHandlers) get(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "payment_guid")
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	withStellar, _, err := boolParam(q, "with_stellar_info")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	p, err := h.visible(r, bank.String(), guid)
	if err != nil {
		return err
	}
	asset, _ := h.svc.Asset()
	writeJSON(w, http.StatusOK, viewPayment(p, asset, withStellar))
	return nil
}

// paymentView is guide §10's payment object. stellar_info is present only when asked for; the fields after
// it in the struct are Kazna's additions (documented in the OpenAPI document).
type paymentView struct {
	Amount               json.Number  `json:"amount"`
	AssetCode            string       `json:"asset_code"`
	AssetIssuer          string       `json:"asset_issuer"`
	Category             string       `json:"category"`
	CategoryGUID         string       `json:"category_guid"`
	CreatedAt            string       `json:"created_at"`
	DeletedAt            *string      `json:"deleted_at"`
	Fee                  json.Number  `json:"fee"`
	GUID                 string       `json:"guid"`
	Purpose              string       `json:"purpose"`
	ReceiverAccountKind  string       `json:"receiver_account_account_kind"`
	ReceiverCounterparty string       `json:"receiver_counterparty"`
	ReceiverID           string       `json:"receiver_id"`
	SenderAccountKind    string       `json:"sender_account_account_kind"`
	SenderCounterparty   string       `json:"sender_counterparty"`
	SenderID             string       `json:"sender_id"`
	Status               string       `json:"status"`
	StellarInfo          *stellarInfo `json:"stellar_info,omitempty"`
	TargetBalance        *json.Number `json:"target_balance"`
	UpdatedAt            string       `json:"updated_at"`
	ReceiverIBAN         string       `json:"receiver_iban,omitempty"`
	SenderIBAN           string       `json:"sender_iban,omitempty"`
	BankGUID             string       `json:"bank_guid,omitempty"`
	FailureReason        string       `json:"failure_reason,omitempty"`
	EmissionGUID         string       `json:"emission_guid,omitempty"`
	BranchGUID           string       `json:"branch_guid,omitempty"`
	CreatedBy            string       `json:"created_by,omitempty"`
}

type stellarInfo struct {
	Hash   string `json:"hash"`
	Ledger int32  `json:"ledger,omitempty"`
}

func viewPayment(p projections.Payment, asset money.Asset, withStellar bool) paymentView {
	v := paymentView{Amount: amountNumber(money.Amount(p.Amount), asset), AssetCode: p.AssetCode, AssetIssuer: p.AssetIssuer,
		Category: p.Category, CategoryGUID: p.CategoryGUID, CreatedAt: apiTime(p.CreatedAt), Fee: amountNumber(money.Amount(p.Fee), asset),
		GUID: p.GUID, Purpose: p.Purpose, ReceiverAccountKind: string(p.Receiver.Kind), ReceiverCounterparty: p.Receiver.CounterpartyGUID,
		ReceiverID: p.Receiver.AccountGUID, SenderAccountKind: string(p.Sender.Kind), SenderCounterparty: p.Sender.CounterpartyGUID,
		SenderID: p.Sender.AccountGUID, Status: string(p.Status), UpdatedAt: apiTime(p.UpdatedAt), ReceiverIBAN: p.Receiver.IBAN,
		SenderIBAN: p.Sender.IBAN, BankGUID: p.BankGUID, FailureReason: p.Reason, EmissionGUID: p.Emission, BranchGUID: p.BranchGUID,
		CreatedBy: p.CreatedBy}
	if !p.DeletedAt.IsZero() {
		s := apiTime(p.DeletedAt)
		v.DeletedAt = &s
	}
	if p.TargetBalance != nil {
		n := amountNumber(money.Amount(*p.TargetBalance), asset)
		v.TargetBalance = &n
	}
	if withStellar {
		v.StellarInfo = &stellarInfo{Hash: p.Hash, Ledger: p.Ledger}
	}
	return v
}

type paymentsResponse struct {
	Payments []paymentView `json:"payments"`
	Total    int           `json:"total"`
}

func (h paymentHandlers) list(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	branch, err := branchOf(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, _ := h.svc.Asset()
	q, err := paymentQuery(r, bank.String(), asset)
	if err != nil {
		return err
	}
	q.Branch = branch
	ps, total, err := h.svc.ListPayments(q)
	if err != nil {
		return paymentsError(err)
	}
	out := paymentsResponse{Payments: make([]paymentView, len(ps)), Total: total}
	for i, p := range ps {
		out.Payments[i] = viewPayment(p, asset, true)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// paymentQuery reads the list filters of guide §10 (names of the older guide where the bank guide gives
// only prose): guids, sender_ids, receiver_ids, sender_counterparty_guid, receiver_counterparty_guid,
// external_transaction_ids (Stellar hashes), min_amount, max_amount, statuses, asset_codes, asset_issuers,
// category_guids, created_at_min/max, updated_at_min/max, order (asc|desc by created_at), offset, limit.
func paymentQuery(r *http.Request, bank string, asset money.Asset) (projections.PaymentQuery, error) {
	q, err := queryValues(r)
	if err != nil {
		return projections.PaymentQuery{}, err
	}
	out := projections.PaymentQuery{Counterparty: bank}
	page, err := pageParams(q)
	if err != nil {
		return out, err
	}
	out.Offset, out.Limit = page.Offset, page.Limit
	for _, l := range []struct {
		name string
		dst  *[]string
		guid bool
	}{{"guids", &out.GUIDs, true}, {"sender_ids", &out.SenderIDs, true}, {"receiver_ids", &out.ReceiverIDs, true},
		{"category_guids", &out.CategoryGUIDs, true}, {"external_transaction_ids", &out.Hashes, false},
		{"asset_codes", &out.AssetCodes, false}, {"asset_issuers", &out.AssetIssuers, false}} {
		var vs []string
		if l.guid {
			vs, err = guidListParam(q, l.name)
		} else {
			vs, err = listParam(q, l.name)
		}
		if err != nil {
			return out, err
		}
		*l.dst = vs
	}
	for i, c := range out.AssetCodes {
		if asset.Names(c) {
			out.AssetCodes[i] = asset.StellarCode // payments record the Stellar code; the API code (UAH) names it too
		}
	}
	if g, ok, err := guidParam(q, "category_guid"); err != nil {
		return out, err
	} else if ok {
		out.CategoryGUIDs = append(out.CategoryGUIDs, g)
	}
	for _, g := range []struct {
		name string
		dst  *string
	}{{"sender_counterparty_guid", &out.SenderCounterparty}, {"receiver_counterparty_guid", &out.ReceiverCounterparty}} {
		v, _, err := guidParam(q, g.name)
		if err != nil {
			return out, err
		}
		*g.dst = v
	}
	statuses, err := listParam(q, "statuses")
	if err != nil {
		return out, err
	}
	for _, s := range statuses {
		st := payment.Status(strings.ToUpper(s))
		if !validStatus(st) {
			return out, InvalidField("statuses", "must be among CREATED, PENDING, CONFIRMED, FAILED, CANCELLED")
		}
		out.Statuses = append(out.Statuses, st)
	}
	for _, a := range []struct {
		name string
		dst  **int64
	}{{"min_amount", &out.MinAmount}, {"max_amount", &out.MaxAmount}} {
		v, ok, err := single(q, a.name)
		if err != nil {
			return out, err
		}
		if !ok || v == "" {
			continue
		}
		amt, err := parseAmount(a.name, v, asset)
		if err != nil {
			return out, err
		}
		n := int64(amt)
		*a.dst = &n
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"created_at_min", &out.CreatedFrom}, {"created_at_max", &out.CreatedTo}, {"updated_at_min", &out.UpdatedFrom}, {"updated_at_max", &out.UpdatedTo}} {
		v, ok, err := timeParam(q, t.name)
		if err != nil {
			return out, err
		}
		if ok {
			*t.dst = v
		}
	}
	order, ok, err := single(q, "order")
	if err != nil {
		return out, err
	}
	if ok && order != "" {
		switch strings.ToLower(order) {
		case "asc", "created_at":
			out.Order = "asc"
		case "desc", "-created_at":
			out.Order = "desc"
		default:
			return out, InvalidField("order", "must be asc or desc (by created_at)")
		}
	}
	return out, nil
}

func validStatus(s payment.Status) bool {
	for _, v := range payment.Statuses {
		if v == s {
			return true
		}
	}
	return false
}
