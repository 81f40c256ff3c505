package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/reconcile"
)

// reconsEnv is the recons API over a real store, the recons read model behind a Runner and the recon
// aggregate, with a clock the test moves.
type reconsEnv struct {
	t      *testing.T
	store  eventstore.Store
	runner *projections.Runner
	h      http.Handler
	mu     sync.Mutex
	now    time.Time
}

var reconAsset = money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}

const reconIssuer = "GC63UKIHPPR4F74IZ6BU24ZCJXHO4Y4C2KAUATDAQQFXKRW5FT6AJKYS"

type reconNames struct{}

func (reconNames) Counterparty(_ context.Context, guid string) (projections.Counterparty, bool) {
	switch guid {
	case bankA:
		return projections.Counterparty{GUID: bankA, Name: "Bank A"}, true
	case bankB:
		return projections.Counterparty{GUID: bankB, Name: "Bank B", Disabled: true}, true
	}
	return projections.Counterparty{}, false
}

func newReconsEnv(t *testing.T) *reconsEnv {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	recons := projections.NewRecons()
	runner, err := projections.NewRunner(store, projections.Options{Logger: quietLogger()}, recons)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = store.Close() })
	e := &reconsEnv{t: t, store: store, runner: runner, now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	svc, err := reconcile.NewInterbank(reconcile.InterbankDeps{Store: store, Recons: recons, Counterparties: reconNames{}, Asset: reconAsset,
		Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	d := testDeps()
	d.Recons, d.ReadModels = svc, runner
	e.h = newRouter(d, Routes(d))
	return e
}

func (e *reconsEnv) setNow(t time.Time) { e.mu.Lock(); e.now = t; e.mu.Unlock() }

// settle appends a settled payment from one bank's processing account to the other's, at.
func (e *reconsEnv) settle(from, to string, minor int64, at time.Time) {
	e.t.Helper()
	id := uuid.NewString()
	party := func(cp string) payment.Party {
		return payment.Party{AccountGUID: uuid.NewString(), Kind: payment.KindProcessing, CounterpartyGUID: cp, Address: reconIssuer}
	}
	var evs []eventstore.EventData
	for _, ev := range []payment.Event{
		payment.PaymentCreated{GUID: id, CounterpartyGUID: from, Sender: party(from), Receiver: party(to), Amount: minor,
			AssetCode: reconAsset.StellarCode, AssetIssuer: reconIssuer, At: at},
		payment.PaymentSettled{GUID: id, Hash: strings.Repeat("ab", 32), Ledger: 7, At: at},
	} {
		typ, data, err := payment.Events.Encode(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		evs = append(evs, eventstore.EventData{ID: uuid.New(), Type: typ, Data: data})
	}
	res, err := e.store.Append(context.Background(), payment.Stream(uuid.MustParse(id)), eventstore.NoStream{}, evs...)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.runner.WaitFor(context.Background(), res.Position); err != nil {
		e.t.Fatal(err)
	}
}

type reconListJSON struct {
	Recons []reconView `json:"recons"`
	Total  int         `json:"total"`
}

func (e *reconsEnv) list(token, bank, query string) reconListJSON {
	e.t.Helper()
	w := do(e.t, e.h, "GET", "/api/v1/counterparty/"+bank+"/recons?"+query, token, nil)
	if w.Code != http.StatusOK {
		e.t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	var out reconListJSON
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *reconsEnv) patch(token, bank, guid, status string) *httpResponse {
	e.t.Helper()
	w := do(e.t, e.h, "PATCH", "/api/v1/counterparty/"+bank+"/recons/"+guid, token, strings.NewReader(`{"status":"`+status+`"}`),
		"Content-Type", "application/json")
	return &httpResponse{w.Code, w.Body.String()}
}

type httpResponse struct {
	code int
	body string
}

func TestReconsTotalsSaldoAndStatusModel(t *testing.T) {
	e := newReconsEnv(t)
	day1 := time.Date(2026, 4, 29, 9, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	e.settle(bankA, bankB, 100_00, day1)
	e.settle(bankB, bankA, 30_00, day1.Add(time.Hour))
	e.settle(bankA, bankB, 5_50, day1.Add(2*time.Hour))
	e.settle(bankB, bankA, 20_00, day2) // B owes A on day 2

	got := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of")
	if got.Total != 2 {
		t.Fatalf("recons %+v", got)
	}
	r := got.Recons[0] // day 1, ascending
	if r.StartDate != day1.Truncate(24*time.Hour).Unix() || r.EndDate != r.StartDate+86399 || r.Status != "calculated" || r.OverdueDays != 0 {
		t.Errorf("recon day 1 %+v", r)
	}
	// A sent 105.50 and received 30.00: A is the debtor of 75.50.
	if r.Debtor.GUID != bankA || r.Creditor.GUID != bankB || r.Debtor.TotalOut != "105.5" && r.Debtor.TotalOut != "105.50" {
		t.Errorf("parties %+v / %+v", r.Debtor, r.Creditor)
	}
	if r.Calculations.Saldo.String() != "-75.5" && r.Calculations.Saldo.String() != "-75.50" || r.Calculations.ReserveAccCurrency != "UAH" {
		t.Errorf("A's calculations %+v", r.Calculations)
	}
	if r.Creditor.Name != "Bank B" || !r.Creditor.IsBlocked || r.Asset.AssetCode != "UAH" || r.Asset.Issuer != reconIssuer {
		t.Errorf("creditor %+v asset %+v", r.Creditor, r.Asset)
	}
	// Day 2: B is the debtor; A's position before it is −75.50, after it −55.50.
	r2 := got.Recons[1]
	if r2.Debtor.GUID != bankB || num(t, r2.Creditor.BalanceBefore) != -75.5 || num(t, r2.Creditor.BalanceAfter) != -55.5 {
		t.Errorf("recon day 2 %+v", r2)
	}
	// Roles and filters.
	if d := e.list("bank-a-Administrator", bankA, "counterparty_role=debtor"); d.Total != 1 || d.Recons[0].GUID != r.GUID {
		t.Errorf("A as debtor %+v", d)
	}
	if c := e.list("bank-a-Administrator", bankA, "counterparty_role=creditor&participant_counterparty_guid="+bankB); c.Total != 1 || c.Recons[0].GUID != r2.GUID {
		t.Errorf("A as creditor %+v", c)
	}
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&start_date="+strconv.FormatInt(day2.Truncate(24*time.Hour).Unix(), 10)); s.Total != 1 {
		t.Errorf("from day 2 %+v", s)
	}
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&order=desc&limit=1"); s.Total != 2 || s.Recons[0].GUID != r2.GUID {
		t.Errorf("desc %+v", s)
	}
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&asset_guid="+r.Asset.AssetGUID+"&status=calculated"); s.Total != 2 {
		t.Errorf("asset filter %+v", s)
	}

	// Participants.
	w := do(t, e.h, "GET", "/api/v1/counterparty/"+bankA+"/recons/participants", "bank-a-Administrator", nil)
	var parts struct {
		Participants []participantView `json:"participants"`
		Total        int               `json:"total"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &parts) != nil || parts.Total != 1 || parts.Participants[0].GUID != bankB ||
		parts.Participants[0].Recons != 2 || num(t, parts.Participants[0].Saldo) != -55.5 || parts.Participants[0].Role != "debtor" {
		t.Fatalf("participants %d %s", w.Code, w.Body)
	}

	// Status model of day 1, the morning after it. Paying before confirming: 409. A debtor cannot set awaiting or overdue: 422.
	e.setNow(day1.Add(25 * time.Hour))
	if res := e.patch("bank-a-Reconciliation operator", bankA, r.GUID, "paid"); res.code != http.StatusConflict {
		t.Fatalf("paid while calculated: %d %s", res.code, res.body)
	}
	if res := e.patch("bank-a-Reconciliation operator", bankA, r.GUID, "awaiting_payment"); res.code != http.StatusUnprocessableEntity {
		t.Fatalf("awaiting: %d %s", res.code, res.body)
	}
	if res := e.patch("bank-a-Reconciliation operator", bankA, r.GUID, "settled"); res.code != http.StatusBadRequest {
		t.Fatalf("unknown status: %d %s", res.code, res.body)
	}
	if res := e.patch("bank-a-Reconciliation operator", bankA, r.GUID, "confirmed"); res.code != http.StatusNoContent {
		t.Fatalf("A confirms: %d %s", res.code, res.body)
	}
	if res := e.patch("bank-a-Reconciliation operator", bankA, r.GUID, "confirmed"); res.code != http.StatusNoContent {
		t.Fatalf("A confirms again: %d %s", res.code, res.body)
	}
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&guid="+r.GUID); s.Recons[0].Status != "confirmed" {
		t.Fatalf("after A's confirmation %+v", s.Recons[0])
	}
	if res := e.patch("cx:bank-b-admin", bankB, r.GUID, "confirmed"); res.code != http.StatusNoContent {
		t.Fatalf("B confirms: %d %s", res.code, res.body)
	}
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&guid="+r.GUID); s.Recons[0].Status != "awaiting_payment" {
		t.Fatalf("after both %+v", s.Recons[0])
	}
	// Late: the due date is the end of the day plus one day; three days after the day it is 2 days overdue.
	e.setNow(day1.Truncate(24 * time.Hour).Add(72*time.Hour + time.Minute))
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&status=overdue"); s.Total != 1 || s.Recons[0].OverdueDays != 2 {
		t.Fatalf("overdue %+v", s)
	}
	if res := e.patch("bank-a-Reconciliation operator", bankA, r.GUID, "paid"); res.code != http.StatusUnprocessableEntity {
		t.Fatalf("the debtor marks paid: %d %s", res.code, res.body)
	}
	if res := e.patch("cx:bank-b-admin", bankB, r.GUID, "paid"); res.code != http.StatusNoContent {
		t.Fatalf("the creditor marks paid: %d %s", res.code, res.body)
	}
	if res := e.patch("cx:bank-b-admin", bankB, r.GUID, "confirmed"); res.code != http.StatusConflict {
		t.Fatalf("confirm a paid recon: %d %s", res.code, res.body)
	}
	if s := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of&guid="+r.GUID); s.Recons[0].Status != "paid" || s.Recons[0].OverdueDays != 0 {
		t.Fatalf("paid %+v", s.Recons[0])
	}
}

func num(t *testing.T, n json.Number) float64 {
	t.Helper()
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("%q: %v", n, err)
	}
	return f
}

func TestReconsRefusals(t *testing.T) {
	e := newReconsEnv(t)
	today := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	e.settle(bankA, bankB, 1_00, today)
	r := e.list("bank-a-Administrator", bankA, "counterparty_role=one_of").Recons[0]
	for _, c := range []struct {
		method, target, token, body string
		status                      int
		code                        string
	}{
		{"GET", "/recons", "bank-a-Administrator", "", 400, CodeMissingField},
		{"GET", "/recons?counterparty_role=boss", "bank-a-Administrator", "", 400, CodeInvalidField},
		{"GET", "/recons?counterparty_role=one_of&start_date=yesterday", "bank-a-Administrator", "", 400, CodeInvalidField},
		{"GET", "/recons?counterparty_role=one_of&start_date=10&end_date=5", "bank-a-Administrator", "", 400, CodeInvalidField},
		{"GET", "/recons?counterparty_role=one_of&guid=nope", "bank-a-Administrator", "", 400, CodeInvalidField},
		{"GET", "/recons?counterparty_role=one_of", "", "", 401, CodeUnauthenticated},
		{"GET", "/recons?counterparty_role=one_of", "bank-a-nobody", "", 403, CodeForbidden},
		{"GET", "/recons?counterparty_role=one_of", "bank-b-admin", "", 403, CodeForbidden}, // another bank's path
		{"PATCH", "/recons/" + r.GUID, "bank-a-Observer", `{"status":"confirmed"}`, 403, CodeForbidden},
		{"PATCH", "/recons/" + r.GUID, "bank-a-Administrator", `{}`, 400, CodeMissingField},
		{"PATCH", "/recons/" + r.GUID, "bank-a-Administrator", `{"status":"confirmed","amount":1}`, 400, CodeUnknownField},
		{"PATCH", "/recons/" + uuid.NewString(), "bank-a-Administrator", `{"status":"confirmed"}`, 404, CodeNotFound},
		{"PATCH", "/recons/not-a-guid", "bank-a-Administrator", `{"status":"confirmed"}`, 400, CodeInvalidField},
		// Today is not over: its totals can still change.
		{"PATCH", "/recons/" + r.GUID, "bank-a-Administrator", `{"status":"confirmed"}`, 422, CodeUnprocessable},
	} {
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		} else {
			body = strings.NewReader("")
		}
		w := do(t, e.h, c.method, "/api/v1/counterparty/"+bankA+c.target, c.token, body, "Content-Type", "application/json")
		t.Run(c.method+" "+c.target, func(t *testing.T) { errorOf(t, w, c.status, c.code) })
	}
	// A bank that takes no part in a recon does not see it.
	other := "5a1e0b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
	e.setNow(today.Add(48 * time.Hour))
	w := do(t, e.h, "PATCH", "/api/v1/counterparty/"+other+"/recons/"+r.GUID, "platform-admin", strings.NewReader(`{"status":"confirmed"}`), "Content-Type", "application/json")
	errorOf(t, w, 404, CodeNotFound)
}

// emptyRecons is the recons service of testDeps: no recon exists.
type emptyRecons struct{}

func (emptyRecons) List(context.Context, projections.ReconQuery) ([]projections.Recon, int, error) {
	return nil, 0, nil
}
func (emptyRecons) Participants(context.Context, projections.ReconQuery) ([]projections.Participant, int, error) {
	return nil, 0, nil
}
func (emptyRecons) Party(context.Context, string) reconcile.Party { return reconcile.Party{} }
func (emptyRecons) UpdateStatus(context.Context, uuid.UUID, uuid.UUID, reconciliation.ReconStatus, string, eventstore.Metadata) (eventstore.Position, error) {
	return eventstore.Position{}, reconcile.ErrReconNotFound
}
func (emptyRecons) Asset() money.Asset { return reconAsset }
