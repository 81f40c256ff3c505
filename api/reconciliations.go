package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/reconcile"
)

// ReconciliationService runs the daily ledger-vs-Stellar reconciliation and keeps its reports
// (reconcile.Service).
type ReconciliationService interface {
	Start(ctx context.Context, in reconcile.StartInput) (reconcile.Started, error)
	Resolve(ctx context.Context, run uuid.UUID, id int, reason, key string, meta eventstore.Metadata) (eventstore.Position, error)
	Report(guid string) (reconciliation.RunState, bool)
	Runs(q reconcile.RunQuery) ([]reconciliation.RunState, int)
	Asset() money.Asset
}

// reconciliationHandlers serve the platform's reconciliation runs. A run compares every bank's books with
// the chain, so its permissions (reconciliation.platform.read and .write) are platform permissions, which no
// bank role or bank system can hold; a bank's own view is its inter-bank recons (…/recons).
type reconciliationHandlers struct {
	svc  ReconciliationService
	wait ReadWaiter
}

func reconciliationRoutes(d Deps) []Route {
	h := reconciliationHandlers{svc: d.Reconciliations, wait: d.ReadModels}
	const base = "/api/v1/reconciliations"
	return []Route{
		{"POST", base, PermReconciliationRunsWrite, h.start},
		{"GET", base, PermReconciliationRunsRead, h.list},
		{"GET", base + "/{reconciliation_guid}", PermReconciliationRunsRead, h.get},
		{"GET", base + "/{reconciliation_guid}/discrepancies", PermReconciliationRunsRead, h.discrepancies},
		{"POST", base + "/{reconciliation_guid}/discrepancies/{discrepancy_id}/resolve", PermReconciliationRunsWrite, h.resolve},
	}
}

type reconciliationStartRequest struct {
	Day string `json:"day"`
}

func (q reconciliationStartRequest) Validate() error {
	if d := strings.TrimSpace(q.Day); d != "" {
		if _, err := reconciliation.ParseDay(d); err != nil {
			return InvalidField("day", "must be a date like 2026-05-01 (UTC)")
		}
	}
	return nil
}

func (h reconciliationHandlers) start(w http.ResponseWriter, r *http.Request) error {
	var req reconciliationStartRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	st, err := h.svc.Start(r.Context(), reconcile.StartInput{Day: strings.TrimSpace(req.Day), Trigger: reconciliation.TriggerOperator,
		IdempotencyKey: opts.IdempotencyKey, Metadata: opts.Metadata})
	if err != nil {
		return reconciliationError(err)
	}
	readYourWrite(r, h.wait, st.Position)
	writeJSON(w, http.StatusAccepted, guidResponse{GUID: st.GUID})
	return nil
}

// Views of a run.
type (
	reconciliationProgress struct {
		Stage   string `json:"stage"`
		Checked int    `json:"checked"`
		Total   int    `json:"total"`
		Percent int    `json:"percent"`
	}
	reconciliationCounts struct {
		Accounts      int            `json:"accounts"`
		ChainHolders  int            `json:"chain_holders"`
		Payments      int            `json:"payments"`
		ChainPayments int            `json:"chain_payments"`
		LedgerSupply  json.Number    `json:"ledger_supply"`
		ChainSupply   json.Number    `json:"chain_supply"`
		Discrepancies int            `json:"discrepancies"`
		Unresolved    int            `json:"unresolved"`
		Truncated     int            `json:"truncated"`
		ByType        map[string]int `json:"by_type"`
	}
	resolutionView struct {
		Reason string `json:"reason"`
		By     string `json:"by"`
		At     string `json:"at"`
	}
	discrepancyView struct {
		ID               int             `json:"id"`
		Type             string          `json:"type"`
		Subject          string          `json:"subject"`
		AccountGUID      string          `json:"account_guid"`
		CounterpartyGUID string          `json:"counterparty_guid"`
		Address          string          `json:"address"`
		PaymentGUID      string          `json:"payment_guid"`
		Hash             string          `json:"hash"`
		LedgerAmount     *json.Number    `json:"ledger_amount"`
		ChainAmount      *json.Number    `json:"chain_amount"`
		Detail           string          `json:"detail"`
		Resolved         bool            `json:"resolved"`
		Resolution       *resolutionView `json:"resolution"`
	}
	reconciliationView struct {
		GUID          string                 `json:"guid"`
		Day           string                 `json:"day"`
		Trigger       string                 `json:"trigger"`
		StartedBy     string                 `json:"started_by"`
		Status        string                 `json:"status"`
		Reason        string                 `json:"reason"`
		Progress      reconciliationProgress `json:"progress"`
		Counts        reconciliationCounts   `json:"counts"`
		StartedAt     string                 `json:"started_at"`
		UpdatedAt     string                 `json:"updated_at"`
		FinishedAt    *string                `json:"finished_at"`
		Discrepancies *[]discrepancyView     `json:"discrepancies,omitempty"` // one run's report only: [] when the books agree
	}
	reconciliationList struct {
		Reconciliations []reconciliationView `json:"reconciliations"`
		Total           int                  `json:"total"`
	}
	discrepancyList struct {
		Discrepancies []discrepancyView `json:"discrepancies"`
		Total         int               `json:"total"`
	}
)

func viewRun(s reconciliation.RunState, asset money.Asset, withDiscrepancies bool) reconciliationView {
	v := reconciliationView{GUID: s.GUID, Day: s.Day, Trigger: s.Trigger, StartedBy: s.StartedBy, Status: string(s.Status), Reason: s.Reason,
		Progress:  reconciliationProgress{Stage: s.Stage, Checked: s.Checked, Total: s.Total},
		StartedAt: apiTime(s.StartedAt), UpdatedAt: apiTime(s.UpdatedAt)}
	switch {
	case s.Status != reconciliation.RunRunning:
		v.Progress.Percent = 100
	case s.Total > 0:
		v.Progress.Percent = s.Checked * 100 / s.Total
	}
	if !s.FinishedAt.IsZero() {
		t := apiTime(s.FinishedAt)
		v.FinishedAt = &t
	}
	c := s.Counts
	v.Counts = reconciliationCounts{Accounts: c.Accounts, ChainHolders: c.ChainHolders, Payments: c.Payments, ChainPayments: c.ChainPayments,
		LedgerSupply: amountNumber(money.Amount(c.LedgerSupply), asset), ChainSupply: amountNumber(money.Amount(c.ChainSupply), asset),
		Discrepancies: len(s.Discrepancies), Truncated: c.Truncated, ByType: map[string]int{}}
	for _, k := range reconciliation.Kinds {
		v.Counts.ByType[string(k)] = 0
	}
	for _, d := range s.Discrepancies {
		v.Counts.ByType[string(d.Type)]++
		if _, done := s.Resolved[d.ID]; !done {
			v.Counts.Unresolved++
		}
	}
	if withDiscrepancies {
		ds := make([]discrepancyView, 0, len(s.Discrepancies))
		for _, d := range s.Discrepancies {
			ds = append(ds, viewDiscrepancy(d, s.Resolved, asset))
		}
		v.Discrepancies = &ds
	}
	return v
}

func viewDiscrepancy(d reconciliation.Discrepancy, resolved map[int]reconciliation.Resolution, asset money.Asset) discrepancyView {
	v := discrepancyView{ID: d.ID, Type: string(d.Type), Subject: d.Subject, AccountGUID: d.AccountGUID, CounterpartyGUID: d.CounterpartyGUID,
		Address: d.Address, PaymentGUID: d.PaymentGUID, Hash: d.Hash, Detail: d.Detail}
	amount := func(p *int64) *json.Number {
		if p == nil {
			return nil
		}
		n := amountNumber(money.Amount(*p), asset)
		return &n
	}
	v.LedgerAmount, v.ChainAmount = amount(d.LedgerAmount), amount(d.ChainAmount)
	if res, ok := resolved[d.ID]; ok {
		v.Resolved, v.Resolution = true, &resolutionView{Reason: res.Reason, By: res.By, At: apiTime(res.At)}
	}
	return v
}

func (h reconciliationHandlers) list(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	var rq reconcile.RunQuery
	if rq.GUIDs, err = guidListParam(q, "guids"); err != nil {
		return err
	}
	statuses, err := enumListParam(q, "status", strings.ToLower, string(reconciliation.RunRunning), string(reconciliation.RunCompleted), string(reconciliation.RunFailed))
	if err != nil {
		return err
	}
	for _, s := range statuses {
		rq.Statuses = append(rq.Statuses, reconciliation.RunStatus(s))
	}
	if rq.Triggers, err = enumListParam(q, "trigger", strings.ToLower, reconciliation.TriggerSchedule, reconciliation.TriggerOperator, reconciliation.TriggerCLI); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"day_from", &rq.DayFrom}, {"day_to", &rq.DayTo}} {
		s, ok, err := single(q, f.name)
		if err != nil {
			return err
		}
		if ok {
			if _, err := reconciliation.ParseDay(s); err != nil {
				return InvalidField(f.name, "must be a date like 2026-05-01")
			}
			*f.dst = s
		}
	}
	if v, ok, err := boolParam(q, "has_discrepancies"); err != nil {
		return err
	} else if ok {
		rq.WithDiscrepancies = &v
	}
	o, err := orderParam(q, Order{Field: "started_at", Desc: true}, "started_at")
	if err != nil {
		return err
	}
	rq.Asc = !o.Desc
	page, err := pageParams(q)
	if err != nil {
		return err
	}
	if page.Limit > reconcile.MaxRunLimit {
		return InvalidField("limit", "must be a whole number from 1 to "+strconv.Itoa(reconcile.MaxRunLimit))
	}
	rq.Offset, rq.Limit = page.Offset, page.Limit
	if h.svc == nil {
		return errServiceUnavailable
	}
	runs, total := h.svc.Runs(rq)
	resp := reconciliationList{Reconciliations: make([]reconciliationView, 0, len(runs)), Total: total}
	for _, s := range runs {
		resp.Reconciliations = append(resp.Reconciliations, viewRun(s, h.svc.Asset(), false))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (h reconciliationHandlers) run(r *http.Request) (reconciliation.RunState, error) {
	g, err := pathGUID(r, "reconciliation_guid")
	if err != nil {
		return reconciliation.RunState{}, err
	}
	if h.svc == nil {
		return reconciliation.RunState{}, errServiceUnavailable
	}
	s, ok := h.svc.Report(g)
	if !ok {
		return s, NotFound("reconciliation")
	}
	return s, nil
}

func (h reconciliationHandlers) get(w http.ResponseWriter, r *http.Request) error {
	s, err := h.run(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(s, h.svc.Asset(), true))
	return nil
}

// discrepancyCSVHeader is the header row of the CSV export, the JSON field names in order.
var discrepancyCSVHeader = []string{"id", "type", "subject", "account_guid", "counterparty_guid", "address", "payment_guid", "hash",
	"ledger_amount", "chain_amount", "detail", "resolved", "resolution_reason", "resolved_by", "resolved_at"}

// discrepancies exports a run's discrepancies as JSON or CSV (format=csv, or Accept: text/csv), filtered by
// type and resolved.
func (h reconciliationHandlers) discrepancies(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	format, _, err := single(q, "format")
	if err != nil {
		return err
	}
	switch strings.ToLower(format) {
	case "":
		format = "json"
		if accept := r.Header.Get("Accept"); strings.Contains(accept, "text/csv") {
			format = "csv"
		}
	case "json", "csv":
		format = strings.ToLower(format)
	default:
		return InvalidField("format", "must be json or csv")
	}
	kinds := make([]string, len(reconciliation.Kinds))
	for i, k := range reconciliation.Kinds {
		kinds[i] = string(k)
	}
	types, err := enumListParam(q, "type", strings.ToLower, kinds...)
	if err != nil {
		return err
	}
	resolved, filterResolved, err := boolParam(q, "resolved")
	if err != nil {
		return err
	}
	s, err := h.run(r)
	if err != nil {
		return err
	}
	asset := h.svc.Asset()
	out := []discrepancyView{}
	for _, d := range s.Discrepancies {
		v := viewDiscrepancy(d, s.Resolved, asset)
		if (len(types) > 0 && !slices.Contains(types, v.Type)) || (filterResolved && v.Resolved != resolved) {
			continue
		}
		out = append(out, v)
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, discrepancyList{Discrepancies: out, Total: len(out)})
		return nil
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="reconciliation-`+s.GUID+`-discrepancies.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(discrepancyCSVHeader) // the client has gone if writes fail
	text := func(n *json.Number) string {
		if n == nil {
			return ""
		}
		return n.String()
	}
	for _, v := range out {
		row := []string{strconv.Itoa(v.ID), v.Type, v.Subject, v.AccountGUID, v.CounterpartyGUID, v.Address, v.PaymentGUID, v.Hash,
			text(v.LedgerAmount), text(v.ChainAmount), csvSafe(v.Detail), strconv.FormatBool(v.Resolved), "", "", ""}
		if v.Resolution != nil {
			row[12], row[13], row[14] = csvSafe(v.Resolution.Reason), csvSafe(v.Resolution.By), v.Resolution.At
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return nil
}

// csvSafe keeps a spreadsheet from reading a text cell as a formula (CSV injection): an operator's reason
// could start with "=".
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type resolveRequest struct {
	Reason string `json:"reason"`
}

func (q resolveRequest) Validate() error { return requireString("reason", q.Reason) }

func (h reconciliationHandlers) resolve(w http.ResponseWriter, r *http.Request) error {
	var req resolveRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	g, err := pathGUID(r, "reconciliation_guid")
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(mux.Vars(r)["discrepancy_id"])
	if err != nil || id < 1 {
		return InvalidField("discrepancy_id", "must be a whole number from 1")
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	pos, err := h.svc.Resolve(r.Context(), uuid.MustParse(g), id, req.Reason, opts.IdempotencyKey, opts.Metadata)
	if err != nil {
		return reconciliationError(err)
	}
	readYourWrite(r, h.wait, pos)
	s, ok := h.svc.Report(g)
	if !ok || id > len(s.Discrepancies) {
		return NotFound("discrepancy")
	}
	writeJSON(w, http.StatusOK, viewDiscrepancy(s.Discrepancies[id-1], s.Resolved, h.svc.Asset()))
	return nil
}

// reconciliationError maps the errors of the reconciliation use cases to answers.
func reconciliationError(err error) error {
	answer := func(e *Error) error { e.Err = err; return e }
	switch {
	case errors.Is(err, reconcile.ErrBusy):
		e := Conflict("a reconciliation is running on this node; retry when it is done")
		e.Retryable = true
		return answer(e)
	case errors.Is(err, reconcile.ErrFutureDay):
		e := Unprocessable("the day has not started yet: reconcile today or an earlier day")
		e.Field = "day"
		return answer(e)
	case errors.Is(err, reconciliation.ErrNotFound), errors.Is(err, eventstore.ErrStreamNotFound):
		return answer(NotFound("reconciliation"))
	case errors.Is(err, reconciliation.ErrDiscrepancyNotFound):
		return answer(NotFound("discrepancy"))
	case errors.Is(err, reconciliation.ErrStillRunning):
		return answer(Conflict("the reconciliation is still running; resolve its discrepancies once it is done"))
	case errors.Is(err, reconciliation.ErrAlreadyResolved):
		return answer(Conflict("the discrepancy is resolved already"))
	case errors.Is(err, reconciliation.ErrAlreadyExists):
		return answer(Conflict("another reconciliation has this GUID"))
	}
	var inv interface{ InvalidField() (string, string) }
	if errors.As(err, &inv) {
		field, reason := inv.InvalidField()
		return answer(InvalidField(field, reason))
	}
	return err
}
