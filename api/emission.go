package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/projections"
)

// EmissionService runs the issuing and burning of e-money (guide §9, app.Emission): a bank's requests, the
// platform's confirmation or cancellation, and the history.
type EmissionService interface {
	Request(ctx context.Context, cp uuid.UUID, in app.EmissionInput, w app.Write) (app.EmissionResult, error)
	Confirm(ctx context.Context, guid uuid.UUID, w app.Write) (app.EmissionResult, error)
	Cancel(ctx context.Context, guid uuid.UUID, w app.Write) (app.EmissionResult, error)
	List(ctx context.Context, q projections.EmissionQuery) ([]app.EmissionRecord, int, error)
	// Asset is the platform's asset and its issuer, to read and write amounts.
	Asset() (asset money.Asset, issuer string)
}

// emissionHandlers serve guide §9 and the platform's side of it. Without wait a write answers before the
// read models show it.
type emissionHandlers struct {
	svc  EmissionService
	wait ReadWaiter
}

// emissionRoutes are the bank's emission endpoints and the platform administrator's request list,
// confirmation and cancellation.
func emissionRoutes(d Deps) []Route {
	h := emissionHandlers{svc: d.Emission, wait: d.ReadModels}
	return []Route{
		{"POST", cp + "/emission/issue", PermEmissionIssue, h.issue},
		{"POST", cp + "/emission/burn", PermEmissionBurn, h.burn},
		{"GET", cp + "/emission/history", PermEmissionRead, h.history},
		{"GET", "/api/v1/emission/requests", PermEmissionConfirm, h.requests},
		{"POST", "/api/v1/emission/requests/{emission_guid}/confirm", PermEmissionConfirm, h.confirm},
		{"POST", "/api/v1/emission/requests/{emission_guid}/cancel", PermEmissionConfirm, h.cancel},
	}
}

// emissionRequest is guide §9's body of …/emission/issue and …/emission/burn. Amounts are JSON numbers.
type emissionRequest struct {
	Amount         amountJSON `json:"amount"`
	AssetCode      string     `json:"asset_code"`
	AssetIssuer    string     `json:"asset_issuer"`
	ReserveBalance amountJSON `json:"reserve_balance"`
}

func (q emissionRequest) Validate() error {
	amount, amountErr := amountText("amount", q.Amount)
	if amountErr == nil && amount == "" {
		amountErr = MissingField("amount")
	}
	_, reserveErr := amountText("reserve_balance", q.ReserveBalance)
	return firstError(amountErr, requireString("asset_code", q.AssetCode), maxLen("asset_code", q.AssetCode, maxAssetFieldBytes),
		requireString("asset_issuer", q.AssetIssuer), maxLen("asset_issuer", q.AssetIssuer, maxAssetFieldBytes), reserveErr)
}

// emissionWriteResponse answers a request, a confirmation or a cancellation. The guide's request answers {};
// Kazna adds the request's GUID, its status and, once confirmed, the payment that carries it.
type emissionWriteResponse struct {
	GUID        string `json:"guid"`
	Status      string `json:"status"`
	PaymentGUID string `json:"payment_guid"`
}

func (h emissionHandlers) issue(w http.ResponseWriter, r *http.Request) error {
	return h.request(w, r, emission.Issue)
}

func (h emissionHandlers) burn(w http.ResponseWriter, r *http.Request) error {
	return h.request(w, r, emission.Burn)
}

func (h emissionHandlers) request(w http.ResponseWriter, r *http.Request, d emission.Direction) error {
	var req emissionRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, issuer := h.svc.Asset()
	text, _ := amountText("amount", req.Amount) // Validate checked it
	amount, err := parseAmount("amount", text, asset)
	if err != nil {
		return err
	}
	if amount <= 0 {
		return InvalidField("amount", "must be positive")
	}
	reserve, err := bodyAmount("reserve_balance", req.ReserveBalance, asset)
	if err != nil {
		return err
	}
	if err := checkAsset("asset_code", req.AssetCode, "asset_issuer", req.AssetIssuer, asset, issuer); err != nil {
		return err
	}
	res, err := h.svc.Request(r.Context(), bank, app.EmissionInput{Direction: d, Amount: amount, Reserve: reserve,
		AssetCode: req.AssetCode, AssetIssuer: req.AssetIssuer}, opts)
	// A request refused by its payment was written all the same (FAILED): its answer waits for the read models too.
	readYourWrite(r, h.wait, res.Position)
	if err != nil {
		return emissionError(err, asset, res.GUID)
	}
	writeJSON(w, http.StatusOK, emissionWriteResponse{GUID: res.GUID, Status: string(res.Status), PaymentGUID: res.PaymentGUID})
	return nil
}

func (h emissionHandlers) confirm(w http.ResponseWriter, r *http.Request) error {
	return h.decide(w, r, EmissionService.Confirm)
}

func (h emissionHandlers) cancel(w http.ResponseWriter, r *http.Request) error {
	return h.decide(w, r, EmissionService.Cancel)
}

// decide runs the platform's confirmation or cancellation of the request in the path. The body is empty
// (or {}).
func (h emissionHandlers) decide(w http.ResponseWriter, r *http.Request,
	op func(EmissionService, context.Context, uuid.UUID, app.Write) (app.EmissionResult, error)) error {
	if err := emptyBody(r); err != nil {
		return err
	}
	g, err := pathGUID(r, "emission_guid")
	if err != nil {
		return err
	}
	id, err := guidValue("emission_guid", g)
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
	asset, _ := h.svc.Asset()
	res, err := op(h.svc, r.Context(), id, opts)
	readYourWrite(r, h.wait, res.Position)
	if err != nil {
		return emissionError(err, asset, g)
	}
	writeJSON(w, http.StatusOK, emissionWriteResponse{GUID: res.GUID, Status: string(res.Status), PaymentGUID: res.PaymentGUID})
	return nil
}

// emptyBody accepts no body, or an empty JSON object.
func emptyBody(r *http.Request) error {
	if r.Body == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "could not read the request body")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	var none struct{}
	return decode(r, &none)
}

// Views: guide §9's history item, exactly its fields.
type (
	emissionBalanceView struct {
		AssetCode            string      `json:"asset_code"`
		CounterpartyGUID     string      `json:"counterparty_guid"`
		CreatedAt            string      `json:"created_at"`
		EmissionAccountGUID  string      `json:"emission_account_guid"`
		GUID                 string      `json:"guid"`
		ReserveBalanceAmount json.Number `json:"reserve_balance_amount"`
		UpdatedAt            string      `json:"updated_at"`
	}
	emissionHistoryItem struct {
		Balance              emissionBalanceView `json:"balance"`
		CreatedAt            string              `json:"created_at"`
		CreatedBy            string              `json:"created_by"`
		Direction            string              `json:"direction"`
		EmissionPaymentGUID  string              `json:"emission_payment_guid"`
		EmissionPaymentHash  string              `json:"emission_payment_hash"`
		GUID                 string              `json:"guid"`
		IssuerPaymentGUID    string              `json:"issuer_payment_guid"`
		IssuerPaymentHash    string              `json:"issuer_payment_hash"`
		RequestedAmount      json.Number         `json:"requested_amount"`
		ReserveBalanceAmount json.Number         `json:"reserve_balance_amount"`
		Status               string              `json:"status"`
		UpdatedAt            string              `json:"updated_at"`
		UpdatedBy            string              `json:"updated_by"`
	}
	emissionHistoryResponse struct {
		History []emissionHistoryItem `json:"history"`
		Total   int                   `json:"total"`
	}
	// emissionRequestItem is a row of the platform's list: the history item, its bank and, for a failed
	// request, why its payment failed.
	emissionRequestItem struct {
		emissionHistoryItem
		CounterpartyGUID string `json:"counterparty_guid"`
		Reason           string `json:"reason"`
	}
	emissionRequestsResponse struct {
		Requests []emissionRequestItem `json:"requests"`
		Total    int                   `json:"total"`
	}
)

// viewEmission renders a request. Kazna pays straight from the issuer to the emission entity (and back), so
// the guide's issuer payment and emission payment are the same payment, named twice.
func viewEmission(rec app.EmissionRecord, asset money.Asset) emissionHistoryItem {
	b := rec.Balance
	return emissionHistoryItem{
		Balance: emissionBalanceView{AssetCode: b.AssetCode, CounterpartyGUID: b.CounterpartyGUID, CreatedAt: apiTime(b.CreatedAt),
			EmissionAccountGUID: b.EmissionAccountGUID, GUID: b.GUID, ReserveBalanceAmount: amountNumber(money.Amount(b.Reserve), asset),
			UpdatedAt: apiTime(b.UpdatedAt)},
		CreatedAt: apiTime(rec.CreatedAt), CreatedBy: rec.CreatedBy, Direction: string(rec.Direction),
		EmissionPaymentGUID: rec.PaymentGUID, EmissionPaymentHash: rec.PaymentHash, GUID: rec.GUID,
		IssuerPaymentGUID: rec.PaymentGUID, IssuerPaymentHash: rec.PaymentHash,
		RequestedAmount: amountNumber(money.Amount(rec.Amount), asset), ReserveBalanceAmount: amountNumber(money.Amount(rec.ReserveBalance), asset),
		Status: string(rec.Status), UpdatedAt: apiTime(rec.UpdatedAt), UpdatedBy: rec.UpdatedBy,
	}
}

func (h emissionHandlers) history(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, _ := h.svc.Asset()
	q, err := emissionQuery(r, asset, false)
	if err != nil {
		return err
	}
	q.CounterpartyGUIDs = []string{bank.String()}
	list, total, err := h.svc.List(r.Context(), q)
	if err != nil {
		return emissionError(err, asset, "")
	}
	resp := emissionHistoryResponse{History: make([]emissionHistoryItem, 0, len(list)), Total: total}
	for _, rec := range list {
		resp.History = append(resp.History, viewEmission(rec, asset))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (h emissionHandlers) requests(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return errServiceUnavailable
	}
	asset, _ := h.svc.Asset()
	q, err := emissionQuery(r, asset, true)
	if err != nil {
		return err
	}
	list, total, err := h.svc.List(r.Context(), q)
	if err != nil {
		return emissionError(err, asset, "")
	}
	resp := emissionRequestsResponse{Requests: make([]emissionRequestItem, 0, len(list)), Total: total}
	for _, rec := range list {
		resp.Requests = append(resp.Requests, emissionRequestItem{emissionHistoryItem: viewEmission(rec, asset),
			CounterpartyGUID: rec.CounterpartyGUID, Reason: rec.Reason})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// emissionOrderFields are the sort fields of the history, without the "-" of descending.
var emissionOrderFields = []string{string(projections.EmissionByCreated), string(projections.EmissionByUpdated), string(projections.EmissionByAmount)}

// emissionQuery reads every filter of guide §9's history (and, for the platform's list, counterparty_guid).
// List filters take repeated parameters or comma-separated values.
func emissionQuery(r *http.Request, asset money.Asset, platform bool) (projections.EmissionQuery, error) {
	var query projections.EmissionQuery
	q, err := queryValues(r)
	if err != nil {
		return query, err
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{
		{"guids", &query.GUIDs}, {"balance_guid", &query.BalanceGUIDs},
		{"issuer_payment_guid", &query.IssuerPaymentGUIDs}, {"emission_payment_guid", &query.EmissionPaymentGUIDs},
	} {
		if *f.dst, err = guidListParam(q, f.name); err != nil {
			return query, err
		}
	}
	if platform {
		if query.CounterpartyGUIDs, err = guidListParam(q, "counterparty_guid"); err != nil {
			return query, err
		}
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{
		{"asset_code", &query.AssetCodes}, {"asset_issuer", &query.AssetIssuers},
		{"issuer_payment_hash", &query.IssuerPaymentHashes}, {"emission_payment_hash", &query.EmissionPaymentHashes},
		{"created_by", &query.CreatedBy}, {"updated_by", &query.UpdatedBy},
	} {
		if *f.dst, err = listParam(q, f.name); err != nil {
			return query, err
		}
	}
	if query.Directions, err = enumListParam(q, "direction", strings.ToLower, string(emission.Issue), string(emission.Burn)); err != nil {
		return query, err
	}
	statuses := make([]string, 0, len(emission.Statuses))
	for _, s := range emission.Statuses {
		statuses = append(statuses, string(s))
	}
	if query.Statuses, err = enumListParam(q, "status", strings.ToUpper, statuses...); err != nil {
		return query, err
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"min_requested_amount", &query.MinAmount}, {"max_requested_amount", &query.MaxAmount}} {
		a, err := amountParam(q, f.name, asset)
		if err != nil {
			return query, err
		}
		if a != nil {
			v := int64(*a)
			*f.dst = &v
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"min_created_at", &query.MinCreated}, {"max_created_at", &query.MaxCreated}, {"min_updated_at", &query.MinUpdated}, {"max_updated_at", &query.MaxUpdated}} {
		if *f.dst, _, err = timeParam(q, f.name); err != nil {
			return query, err
		}
	}
	o, err := orderParam(q, Order{Field: string(projections.EmissionByCreated)}, emissionOrderFields...)
	if err != nil {
		return query, err
	}
	query.Order = projections.EmissionOrder(o.Field)
	if o.Desc {
		query.Order = projections.EmissionOrder("-" + o.Field)
	}
	page, err := pageParams(q)
	if err != nil {
		return query, err
	}
	query.Offset, query.Limit = page.Offset, page.Limit
	return query, nil
}

// enumListParam is listParam whose items must be one of allowed after norm.
func enumListParam(q url.Values, name string, norm func(string) string, allowed ...string) ([]string, error) {
	items, err := listParam(q, name)
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		items[i] = norm(item)
		ok := false
		for _, a := range allowed {
			ok = ok || items[i] == a
		}
		if !ok {
			return nil, InvalidField(name, "item "+strconv.Itoa(i+1)+" must be one of "+strings.Join(allowed, ", "))
		}
	}
	return items, nil
}

// emissionAmount writes minor units in the asset's units, for messages: "1000.00 UAH".
func emissionAmount(v int64, asset money.Asset) string {
	return money.Amount(v).Format(asset) + " " + asset.Code
}

// emissionError maps the errors of the emission use cases to answers; the rest go through directoryError
// and writeError's table. guid is the request concerned, when there is one.
func emissionError(err error, asset money.Asset, guid string) error {
	if err == nil {
		return nil
	}
	answer := func(e *Error) error { e.Err = err; return e }
	var reserve *emission.ReserveError
	var exceeds *emission.BurnExceedsError
	var open *emission.OpenRequestError
	var notOpen *emission.NotOpenError
	var refused *app.EmissionRefusedError
	switch {
	case errors.As(err, &reserve):
		sign := "+"
		if reserve.Direction == emission.Burn {
			sign = "−"
		}
		msg := "the reserve balance " + emissionAmount(reserve.Reserve, asset) + " does not cover this " + string(reserve.Direction) +
			": it needs issued " + emissionAmount(reserve.Issued, asset) + " − burned " + emissionAmount(reserve.Burned, asset) + " " + sign +
			" requested " + emissionAmount(reserve.Requested, asset) + " = " + emissionAmount(reserve.Needed(), asset) + " (guide §9)"
		e := Unprocessable(msg)
		if !reserve.ReserveKnown {
			e.Message += "; no reserve_balance was ever reported, so it counts as 0: send reserve_balance with the request"
			e.Field = "reserve_balance"
		}
		return answer(e)
	case errors.As(err, &exceeds):
		return answer(Unprocessable("a burn of " + emissionAmount(exceeds.Requested, asset) + " exceeds the e-money in circulation: issued " +
			emissionAmount(exceeds.Issued, asset) + " − burned " + emissionAmount(exceeds.Burned, asset) + " = " +
			emissionAmount(exceeds.Issued-exceeds.Burned, asset)))
	case errors.As(err, &open):
		return answer(Conflict("the counterparty has an open " + string(open.Direction) + " request " + open.GUID +
			"; a new request is possible once the platform confirms or cancels it (guide §9)"))
	case errors.As(err, &notOpen):
		return answer(Conflict("the request is " + string(notOpen.Status) + "; only an open (CREATED) request can be confirmed or cancelled"))
	case errors.Is(err, emission.ErrNotConfirmed):
		return answer(Conflict("the request is not confirmed"))
	case errors.Is(err, emission.ErrAlreadyExists):
		return answer(Conflict("another request with this GUID exists"))
	case errors.Is(err, emission.ErrNotFound):
		return answer(NotFound("emission request"))
	case errors.Is(err, counterparty.ErrNotFound):
		return answer(NotFound("counterparty"))
	case errors.Is(err, app.ErrCounterpartyDisabled):
		return answer(Unprocessable("the counterparty is disabled"))
	case errors.Is(err, app.ErrNoEmissionAccount):
		return answer(Unprocessable("the counterparty has no emission entity to issue to"))
	case errors.Is(err, app.ErrUnknownAsset):
		e := Unprocessable("the platform issues one asset: name it by its code (or Stellar code) and its issuer")
		e.Field = "asset_code"
		if strings.Contains(err.Error(), ": asset_issuer is not") {
			e.Field = "asset_issuer"
		}
		return answer(e)
	case errors.As(err, &refused):
		return answer(Unprocessable("the payment of emission request " + refused.GUID + " was refused (" + refused.Reason +
			"): the request is FAILED and does not count in the totals"))
	case errors.Is(err, app.ErrEmissionPaymentNotStarted):
		return answer(&Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Retryable: true,
			Message: "the emission request " + guid + " is confirmed but its payment did not start; retry with the same Idempotency-Key, or confirm it again, to start it"})
	case errors.Is(err, app.ErrNotReady):
		e := *errServiceUnavailable // a copy: the shared answer must not carry this error
		return answer(&e)
	}
	var inv interface{ InvalidField() (string, string) }
	if errors.As(err, &inv) {
		field, reason := inv.InvalidField()
		return answer(InvalidField(field, reason))
	}
	return directoryError(err)
}
