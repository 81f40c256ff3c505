package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/reconcile"
)

// fakeReconciliations keeps runs in memory and decides resolutions with the domain's decider.
type fakeReconciliations struct {
	mu     sync.Mutex
	runs   map[string]reconciliation.RunState
	starts []reconcile.StartInput
	busy   bool
}

func (f *fakeReconciliations) Start(_ context.Context, in reconcile.StartInput) (reconcile.Started, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return reconcile.Started{}, reconcile.ErrBusy
	}
	if in.Day > "2100" {
		return reconcile.Started{}, reconcile.ErrFutureDay
	}
	f.starts = append(f.starts, in)
	g := uuid.NewString()
	f.runs[g] = reconciliation.RunState{Exists: true, GUID: g, Day: in.Day, Trigger: in.Trigger, StartedBy: in.Metadata.Actor, Status: reconciliation.RunRunning}
	return reconcile.Started{GUID: g, New: true}, nil
}

func (f *fakeReconciliations) Resolve(_ context.Context, run uuid.UUID, id int, reason, _ string, meta eventstore.Metadata) (eventstore.Position, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.runs[run.String()]
	if !ok {
		return eventstore.Position{}, reconciliation.ErrNotFound
	}
	evs, err := reconciliation.DecideRun(s, reconciliation.Resolve{ID: id, Reason: reason, By: meta.Actor, At: time.Now()})
	if err != nil {
		return eventstore.Position{}, err
	}
	for _, e := range evs {
		s = reconciliation.EvolveRun(s, e)
	}
	f.runs[run.String()] = s
	return eventstore.Position{}, nil
}

func (f *fakeReconciliations) Report(guid string) (reconciliation.RunState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.runs[guid]
	return s, ok
}

func (f *fakeReconciliations) Runs(q reconcile.RunQuery) ([]reconciliation.RunState, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []reconciliation.RunState
	for _, s := range f.runs {
		if len(q.Statuses) == 0 || q.Statuses[0] == s.Status {
			out = append(out, s)
		}
	}
	return out, len(out)
}

func (f *fakeReconciliations) Asset() money.Asset {
	return money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}
}

func newFakeReconciliations() *fakeReconciliations {
	return &fakeReconciliations{runs: map[string]reconciliation.RunState{}}
}

// completedRun is a finished run with a clawback's three findings.
func completedRun() reconciliation.RunState {
	g := uuid.NewString()
	v := func(n int64) *int64 { return &n }
	s := reconciliation.RunState{}
	for _, e := range []reconciliation.RunEvent{
		reconciliation.ReconciliationStarted{GUID: g, Day: "2026-05-01", Trigger: "schedule", By: "", At: time.Now()},
		reconciliation.ReconciliationDiscrepanciesFound{GUID: g, Discrepancies: []reconciliation.Discrepancy{
			{ID: 1, Type: reconciliation.BalanceMismatch, Subject: "account", AccountGUID: uuid.NewString(), LedgerAmount: v(70_00), ChainAmount: v(57_66), Detail: "ledger 70.00, chain 57.66"},
			{ID: 2, Type: reconciliation.UnknownOnChainPayment, Subject: "payment", Hash: strings.Repeat("c", 64), ChainAmount: v(12_34), Detail: "=HYPERLINK(\"x\")"},
			{ID: 3, Type: reconciliation.SupplyMismatch, Subject: "supply", LedgerAmount: v(150_00), ChainAmount: v(137_66)},
		}},
		reconciliation.ReconciliationCompleted{GUID: g, Counts: reconciliation.Counts{Accounts: 2, LedgerSupply: 150_00, ChainSupply: 137_66}},
	} {
		s = reconciliation.EvolveRun(s, e)
	}
	return s
}

func reconciliationRouter(t *testing.T) (http.Handler, *fakeReconciliations, reconciliation.RunState) {
	t.Helper()
	f := &fakeReconciliations{runs: map[string]reconciliation.RunState{}}
	done := completedRun()
	f.runs[done.GUID] = done
	d := testDeps()
	d.Reconciliations = f
	return newRouter(d, Routes(d)), f, done
}

func TestReconciliationRunsThroughHTTP(t *testing.T) {
	h, f, done := reconciliationRouter(t)
	w := do(t, h, "POST", "/api/v1/reconciliations", "platform-admin", strings.NewReader(`{"day":"2026-05-01"}`), "Content-Type", "application/json")
	var started struct{ GUID string }
	if w.Code != http.StatusAccepted || json.Unmarshal(w.Body.Bytes(), &started) != nil || started.GUID == "" {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	if in := f.starts[0]; in.Day != "2026-05-01" || in.Trigger != reconciliation.TriggerOperator || in.Metadata.Actor != "admin@platform" {
		t.Fatalf("start input %+v", in)
	}
	// No body: today.
	if w := do(t, h, "POST", "/api/v1/reconciliations", "platform-admin", nil); w.Code != http.StatusAccepted || f.starts[1].Day != "" {
		t.Fatalf("start without body: %d %s", w.Code, w.Body)
	}
	// A running run: status running, an empty discrepancies array.
	w = do(t, h, "GET", "/api/v1/reconciliations/"+started.GUID, "platform-admin", nil)
	var running map[string]any
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &running) != nil || running["status"] != "running" {
		t.Fatalf("get running: %d %s", w.Code, w.Body)
	}
	if ds, ok := running["discrepancies"].([]any); !ok || len(ds) != 0 {
		t.Fatalf("a run without findings must show an empty array: %s", w.Body)
	}
	// The finished run's report.
	w = do(t, h, "GET", "/api/v1/reconciliations/"+done.GUID, "platform-admin", nil)
	var rep reconciliationView
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &rep) != nil {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	if rep.Discrepancies == nil {
		t.Fatalf("no discrepancies: %s", w.Body)
	}
	ds := *rep.Discrepancies
	if rep.Status != "completed" || len(ds) != 3 || rep.Counts.Discrepancies != 3 || rep.Counts.Unresolved != 3 ||
		rep.Counts.ByType["balance_mismatch"] != 1 || rep.Counts.ByType["missing_on_chain"] != 0 || rep.Progress.Percent != 100 ||
		rep.Counts.ChainSupply.String() != "137.66" || ds[0].LedgerAmount.String() != "70" && ds[0].LedgerAmount.String() != "70.00" {
		t.Fatalf("report %s", w.Body)
	}
	if ds[1].LedgerAmount != nil {
		t.Errorf("a chain-only finding has no ledger amount: %s", w.Body)
	}
	// List.
	w = do(t, h, "GET", "/api/v1/reconciliations?status=completed&limit=10", "platform-admin", nil)
	var list reconciliationList
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || list.Total != 1 || list.Reconciliations[0].GUID != done.GUID ||
		list.Reconciliations[0].Discrepancies != nil || list.Reconciliations[0].Counts.Discrepancies != 3 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	// Resolve one; the report and the exports show it.
	w = do(t, h, "POST", "/api/v1/reconciliations/"+done.GUID+"/discrepancies/2/resolve", "platform-admin",
		strings.NewReader(`{"reason":"court-ordered clawback, booked by journal 17"}`), "Content-Type", "application/json")
	var resolved discrepancyView
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &resolved) != nil || !resolved.Resolved || resolved.Resolution.By != "admin@platform" {
		t.Fatalf("resolve: %d %s", w.Code, w.Body)
	}
	w = do(t, h, "GET", "/api/v1/reconciliations/"+done.GUID+"/discrepancies?resolved=false", "platform-admin", nil)
	var open discrepancyList
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &open) != nil || open.Total != 2 {
		t.Fatalf("open discrepancies: %d %s", w.Code, w.Body)
	}
	for _, target := range []string{"?format=csv", ""} {
		hdr := []string{}
		if target == "" {
			hdr = []string{"Accept", "text/csv"}
		}
		w = do(t, h, "GET", "/api/v1/reconciliations/"+done.GUID+"/discrepancies"+target, "platform-admin", nil, hdr...)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %d %s %s", w.Code, w.Header(), w.Body)
		}
		rows, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
		if err != nil || len(rows) != 4 || rows[0][0] != "id" || rows[2][1] != "unknown_on_chain_payment" || rows[2][11] != "true" ||
			!strings.HasPrefix(rows[2][10], "'=") || rows[1][8] != "70" && rows[1][8] != "70.00" {
			t.Fatalf("csv rows %q (%v)", rows, err)
		}
	}
	w = do(t, h, "GET", "/api/v1/reconciliations/"+done.GUID+"/discrepancies?type=supply_mismatch&format=json", "platform-admin", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"total":1`) {
		t.Fatalf("by type: %d %s", w.Code, w.Body)
	}
}

func TestReconciliationRefusals(t *testing.T) {
	h, f, done := reconciliationRouter(t)
	running, _ := f.Start(context.Background(), reconcile.StartInput{Day: "2026-05-02"})
	base := "/api/v1/reconciliations"
	json := func(s string) []string { return []string{"Content-Type", "application/json"} }
	for _, c := range []struct {
		name, method, target, token, body string
		status                            int
		code                              string
	}{
		{"no caller", "GET", base, "", "", 401, CodeUnauthenticated},
		{"a bank's administrator", "GET", base, "bank-a-Administrator", "", 403, CodeForbidden},
		{"a bank's reconciliation operator", "POST", base, "bank-a-Reconciliation operator", "{}", 403, CodeForbidden},
		{"a bank's system", "GET", base + "/" + done.GUID, "cx:bank-a-system", "", 403, CodeForbidden},
		{"staff without the permission", "GET", base, "platform-reader", "", 403, CodeForbidden},
		{"bad day", "POST", base, "platform-admin", `{"day":"01.05.2026"}`, 400, CodeInvalidField},
		{"future day", "POST", base, "platform-admin", `{"day":"2999-01-01"}`, 422, CodeUnprocessable},
		{"unknown field", "POST", base, "platform-admin", `{"date":"2026-05-01"}`, 400, CodeUnknownField},
		{"bad status filter", "GET", base + "?status=done", "platform-admin", "", 400, CodeInvalidField},
		{"bad day filter", "GET", base + "?day_from=May", "platform-admin", "", 400, CodeInvalidField},
		{"limit over 100", "GET", base + "?limit=500", "platform-admin", "", 400, CodeInvalidField},
		{"bad guid", "GET", base + "/nope", "platform-admin", "", 400, CodeInvalidField},
		{"unknown run", "GET", base + "/" + uuid.NewString(), "platform-admin", "", 404, CodeNotFound},
		{"bad format", "GET", base + "/" + done.GUID + "/discrepancies?format=xml", "platform-admin", "", 400, CodeInvalidField},
		{"bad type", "GET", base + "/" + done.GUID + "/discrepancies?type=oops", "platform-admin", "", 400, CodeInvalidField},
		{"no reason", "POST", base + "/" + done.GUID + "/discrepancies/1/resolve", "platform-admin", `{"reason":" "}`, 400, CodeMissingField},
		{"bad id", "POST", base + "/" + done.GUID + "/discrepancies/zero/resolve", "platform-admin", `{"reason":"x"}`, 400, CodeInvalidField},
		{"unknown id", "POST", base + "/" + done.GUID + "/discrepancies/9/resolve", "platform-admin", `{"reason":"x"}`, 404, CodeNotFound},
		{"still running", "POST", base + "/" + running.GUID + "/discrepancies/1/resolve", "platform-admin", `{"reason":"x"}`, 409, CodeConflict},
		{"bank resolves", "POST", base + "/" + done.GUID + "/discrepancies/1/resolve", "bank-a-Administrator", `{"reason":"x"}`, 403, CodeForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body *strings.Reader
			hdr := []string{}
			if c.body != "" {
				body, hdr = strings.NewReader(c.body), json(c.body)
			}
			var w = do(t, h, c.method, c.target, c.token, nilIfEmpty(body), hdr...)
			errorOf(t, w, c.status, c.code)
		})
	}
	// Resolved already with another reason: 409.
	do(t, h, "POST", base+"/"+done.GUID+"/discrepancies/1/resolve", "platform-admin", strings.NewReader(`{"reason":"first"}`), json("")...)
	w := do(t, h, "POST", base+"/"+done.GUID+"/discrepancies/1/resolve", "platform-admin", strings.NewReader(`{"reason":"second"}`), json("")...)
	errorOf(t, w, 409, CodeConflict)
	// One run at a time per node.
	f.busy = true
	w = do(t, h, "POST", base, "platform-admin", nil)
	if e := errorOf(t, w, 409, CodeConflict); !e.Retryable {
		t.Fatalf("busy is retryable: %+v", e)
	}
	// Without the service: 503.
	d := testDeps()
	d.Reconciliations = nil
	w = do(t, newRouter(d, Routes(d)), "GET", base, "platform-admin", nil)
	errorOf(t, w, 503, CodeUnavailable)
}

func nilIfEmpty(r *strings.Reader) *strings.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}
