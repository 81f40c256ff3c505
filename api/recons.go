package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/reconcile"
)

// ReconService serves the inter-bank recons of guide §15 (reconcile.Interbank).
type ReconService interface {
	List(ctx context.Context, q projections.ReconQuery) ([]projections.Recon, int, error)
	Participants(ctx context.Context, q projections.ReconQuery) ([]projections.Participant, int, error)
	Party(ctx context.Context, guid string) reconcile.Party
	UpdateStatus(ctx context.Context, cp, recon uuid.UUID, status reconciliation.ReconStatus, key string, meta eventstore.Metadata) (eventstore.Position, error)
	Asset() money.Asset
}

type reconHandlers struct {
	svc  ReconService
	wait ReadWaiter
}

func reconRoutes(d Deps) []Route {
	h := reconHandlers{svc: d.Recons, wait: d.ReadModels}
	return []Route{
		{"GET", cp + "/recons", PermReconciliationRead, h.list},
		{"GET", cp + "/recons/participants", PermReconciliationRead, h.participants},
		{"PATCH", cp + "/recons/{recon_guid}", PermReconciliationWrite, h.update},
	}
}

// Views: guide §15's recon object, exactly its fields. Dates are Unix seconds (the guide's start_date and
// end_date filters are integers): a recon covers one UTC day, start_date its first second and end_date its
// last.
type (
	reconAssetView struct {
		AssetCode string `json:"asset_code"`
		AssetGUID string `json:"asset_guid"`
		Issuer    string `json:"issuer"`
	}
	// reconCalculationsView is the recon from the calling bank's side: what it received from and sent to the
	// other participant, its saldo (received − sent), and its reserve.
	reconCalculationsView struct {
		AmountReserveAccount json.Number `json:"amount_reserve_account"`
		ReserveAccCurrency   string      `json:"reserve_acc_currency"`
		Saldo                json.Number `json:"saldo"`
		TotalIn              json.Number `json:"total_in"`
		TotalOut             json.Number `json:"total_out"`
	}
	reconPartyView struct {
		BalanceAfter   json.Number `json:"balance_after"`
		BalanceBefore  json.Number `json:"balance_before"`
		CentralReserve json.Number `json:"central_reserve"`
		GUID           string      `json:"guid"`
		IsBlocked      bool        `json:"is_blocked"`
		Name           string      `json:"name"`
		Saldo          json.Number `json:"saldo"`
		TotalIn        json.Number `json:"total_in"`
		TotalOut       json.Number `json:"total_out"`
	}
	reconView struct {
		Asset        reconAssetView        `json:"asset"`
		Calculations reconCalculationsView `json:"calculations"`
		CreatedAt    string                `json:"created_at"`
		Creditor     reconPartyView        `json:"creditor"`
		Debtor       reconPartyView        `json:"debtor"`
		EndDate      int64                 `json:"end_date"`
		GUID         string                `json:"guid"`
		OverdueDays  int                   `json:"overdue_days"`
		StartDate    int64                 `json:"start_date"`
		Status       string                `json:"status"`
		UpdatedAt    string                `json:"updated_at"`
	}
	reconListResponse struct {
		Recons []reconView `json:"recons"`
		Total  int         `json:"total"`
	}
	participantView struct {
		GUID      string      `json:"guid"`
		Name      string      `json:"name"`
		IsBlocked bool        `json:"is_blocked"`
		Role      string      `json:"role"`
		Recons    int         `json:"recons"`
		TotalIn   json.Number `json:"total_in"`
		TotalOut  json.Number `json:"total_out"`
		Saldo     json.Number `json:"saldo"`
	}
	participantsResponse struct {
		Participants []participantView `json:"participants"`
		Total        int               `json:"total"`
	}
)

func (h reconHandlers) viewRecon(ctx context.Context, bank string, r projections.Recon, asset money.Asset) reconView {
	num := func(v int64) json.Number { return amountNumber(money.Amount(v), asset) }
	party := func(s projections.Side) reconPartyView {
		p := h.svc.Party(ctx, s.GUID)
		return reconPartyView{BalanceAfter: num(s.BalanceAfter), BalanceBefore: num(s.BalanceBefore), CentralReserve: num(p.CentralReserve),
			GUID: s.GUID, IsBlocked: p.Blocked, Name: p.Name, Saldo: num(s.Saldo), TotalIn: num(s.TotalIn), TotalOut: num(s.TotalOut)}
	}
	me := r.Debtor
	if me.GUID != bank {
		me = r.Creditor
	}
	start := r.Day.Unix()
	return reconView{
		Asset: reconAssetView{AssetCode: asset.Code, AssetGUID: r.AssetGUID, Issuer: r.AssetIssuer},
		Calculations: reconCalculationsView{AmountReserveAccount: num(h.svc.Party(ctx, bank).CentralReserve), ReserveAccCurrency: asset.Code,
			Saldo: num(me.Saldo), TotalIn: num(me.TotalIn), TotalOut: num(me.TotalOut)},
		CreatedAt: apiTime(r.CreatedAt), Creditor: party(r.Creditor), Debtor: party(r.Debtor), EndDate: start + 24*60*60 - 1,
		GUID: r.GUID, OverdueDays: r.OverdueDays, StartDate: start, Status: string(r.Status), UpdatedAt: apiTime(r.UpdatedAt),
	}
}

// reconQuery reads guide §15's filters: counterparty_role (required where required is true),
// participant_counterparty_guid, guid, start_date and end_date (Unix seconds), asset_guid, status (Kazna's:
// the guide's procedure filters by status), order (asc or desc by day; also start_date / -start_date), offset
// and limit.
func reconQuery(r *http.Request, bank string, required bool) (projections.ReconQuery, error) {
	rq := projections.ReconQuery{Counterparty: bank}
	q, err := queryValues(r)
	if err != nil {
		return rq, err
	}
	role, ok, err := single(q, "counterparty_role")
	if err != nil {
		return rq, err
	}
	switch role = strings.ToLower(role); {
	case !ok || role == "":
		if required {
			return rq, MissingField("counterparty_role")
		}
		rq.Role = projections.RoleOneOf
	case role == projections.RoleDebtor || role == projections.RoleCreditor || role == projections.RoleOneOf:
		rq.Role = role
	default:
		return rq, InvalidField("counterparty_role", "must be debtor, creditor or one_of")
	}
	if rq.Participant, _, err = guidParam(q, "participant_counterparty_guid"); err != nil {
		return rq, err
	}
	if rq.GUIDs, err = guidListParam(q, "guid"); err != nil {
		return rq, err
	}
	if rq.AssetGUID, _, err = guidParam(q, "asset_guid"); err != nil {
		return rq, err
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"start_date", &rq.StartDate}, {"end_date", &rq.EndDate}} {
		if *f.dst, err = unixParam(q, f.name); err != nil {
			return rq, err
		}
	}
	if !rq.StartDate.IsZero() && !rq.EndDate.IsZero() && rq.EndDate.Before(rq.StartDate) {
		return rq, InvalidField("end_date", "must not be before start_date")
	}
	statuses := make([]string, len(reconciliation.ReconStatuses))
	for i, s := range reconciliation.ReconStatuses {
		statuses[i] = string(s)
	}
	st, err := enumListParam(q, "status", strings.ToLower, statuses...)
	if err != nil {
		return rq, err
	}
	for _, s := range st {
		rq.Statuses = append(rq.Statuses, reconciliation.ReconStatus(s))
	}
	order, _, err := single(q, "order")
	if err != nil {
		return rq, err
	}
	switch strings.ToLower(order) {
	case "", "asc", "start_date":
	case "desc", "-start_date":
		rq.Desc = true
	default:
		return rq, InvalidField("order", "must be asc or desc (by start_date)")
	}
	page, err := pageParams(q)
	if err != nil {
		return rq, err
	}
	rq.Offset, rq.Limit = page.Offset, page.Limit
	return rq, nil
}

// unixParam reads an optional Unix time in seconds.
func unixParam(q url.Values, name string) (time.Time, error) {
	s, ok, err := single(q, name)
	if err != nil || !ok || s == "" {
		return time.Time{}, err
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || n < 0 || n > 253402300799 { // up to 9999-12-31
		return time.Time{}, InvalidField(name, "must be a Unix time in seconds, like 1777593600")
	}
	return time.Unix(n, 0).UTC(), nil
}

func (h reconHandlers) list(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := reconQuery(r, bank.String(), true)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	recons, total, err := h.svc.List(r.Context(), q)
	if err != nil {
		return reconError(err)
	}
	asset := h.svc.Asset()
	resp := reconListResponse{Recons: make([]reconView, 0, len(recons)), Total: total}
	for _, rc := range recons {
		resp.Recons = append(resp.Recons, h.viewRecon(r.Context(), bank.String(), rc, asset))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (h reconHandlers) participants(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := reconQuery(r, bank.String(), false)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	parts, total, err := h.svc.Participants(r.Context(), q)
	if err != nil {
		return reconError(err)
	}
	asset := h.svc.Asset()
	num := func(v int64) json.Number { return amountNumber(money.Amount(v), asset) }
	resp := participantsResponse{Participants: make([]participantView, 0, len(parts)), Total: total}
	for _, p := range parts {
		party := h.svc.Party(r.Context(), p.GUID)
		resp.Participants = append(resp.Participants, participantView{GUID: p.GUID, Name: party.Name, IsBlocked: party.Blocked, Role: p.Role,
			Recons: p.Recons, TotalIn: num(p.TotalIn), TotalOut: num(p.TotalOut), Saldo: num(p.Saldo)})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type reconUpdateRequest struct {
	Status string `json:"status"`
}

func (q reconUpdateRequest) Validate() error { return requireString("status", q.Status) }

// update is the guide's "update recon: only status update is allowed": confirmed by a participant, paid by
// the creditor. It answers 204 No Content.
func (h reconHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var req reconUpdateRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	g, err := pathGUID(r, "recon_guid")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	status := reconciliation.ReconStatus(strings.ToLower(strings.TrimSpace(req.Status)))
	known := false
	for _, s := range reconciliation.ReconStatuses {
		known = known || s == status
	}
	if !known {
		return InvalidField("status", "must be one of calculated, confirmed, awaiting_payment, paid, overdue")
	}
	pos, err := h.svc.UpdateStatus(r.Context(), bank, uuid.MustParse(g), status, opts.IdempotencyKey, opts.Metadata)
	if err != nil {
		return reconError(err)
	}
	readYourWrite(r, h.wait, pos)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reconError maps the errors of the recon use cases to answers: a refused transition is 409, a rule that
// the request breaks whatever the state is 422.
func reconError(err error) error {
	answer := func(e *Error) error { e.Err = err; return e }
	var tr *reconciliation.TransitionError
	switch {
	case errors.As(err, &tr):
		return answer(Conflict("the recon is " + string(tr.From) + " and cannot become " + string(tr.To) +
			": a recon moves calculated → confirmed → awaiting_payment → paid"))
	case errors.Is(err, reconcile.ErrReconNotFound):
		return answer(NotFound("recon"))
	case errors.Is(err, reconciliation.ErrCalculationChanged):
		return answer(Conflict("the figures changed since the other participant confirmed them; read the recon again"))
	case errors.Is(err, reconciliation.ErrDayNotOver):
		return answer(Unprocessable("the recon's day is not over: its totals can still change; confirm it after midnight UTC"))
	case errors.Is(err, reconciliation.ErrNotCreditor):
		return answer(Unprocessable("only the creditor marks a recon paid, once the saldo has arrived"))
	case errors.Is(err, reconciliation.ErrComputedStatus):
		return answer(Unprocessable("awaiting_payment and overdue are set by Kazna: awaiting_payment once both participants confirm, overdue when payment is late"))
	case errors.Is(err, reconciliation.ErrNotParticipant), errors.Is(err, reconciliation.ErrNothingToReconcile):
		return answer(NotFound("recon"))
	}
	var inv interface{ InvalidField() (string, string) }
	if errors.As(err, &inv) {
		field, reason := inv.InvalidField()
		return answer(InvalidField(field, reason))
	}
	return err
}
