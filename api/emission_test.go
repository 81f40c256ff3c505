package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeEmission is an EmissionService that records what the handlers pass it: the route table's tests use
// it, and TestEmissionHistoryQuery checks the parsing of every filter with it.
type fakeEmission struct {
	mu    sync.Mutex
	query projections.EmissionQuery
	input app.EmissionInput
}

func (f *fakeEmission) Request(_ context.Context, _ uuid.UUID, in app.EmissionInput, _ app.Write) (app.EmissionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.input = in
	return app.EmissionResult{GUID: uuid.NewString(), Status: emission.StatusCreated}, nil
}

func (f *fakeEmission) Confirm(context.Context, uuid.UUID, app.Write) (app.EmissionResult, error) {
	return app.EmissionResult{}, emission.ErrNotFound
}

func (f *fakeEmission) Cancel(context.Context, uuid.UUID, app.Write) (app.EmissionResult, error) {
	return app.EmissionResult{}, emission.ErrNotFound
}

func (f *fakeEmission) List(_ context.Context, q projections.EmissionQuery) ([]app.EmissionRecord, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query = q
	return nil, 0, nil
}

func (f *fakeEmission) Asset() (money.Asset, string) { return testAsset, testIssuer }

// emissionPayer is the payments service as the emission service sees it: it records the payments started
// and refuses those of a direction when told to.
type emissionPayer struct {
	mu      sync.Mutex
	started []app.EmissionPayment
	refuse  map[bool]error // by Burn
}

func (p *emissionPayer) StartEmissionPayment(_ context.Context, e app.EmissionPayment, _ app.Write) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refuse[e.Burn]; err != nil {
		return err
	}
	p.started = append(p.started, e)
	return nil
}

// paymentHashes is the payments read model's answer: payment GUID → hash.
type paymentHashes struct {
	mu sync.Mutex
	m  map[string]string
}

func (h *paymentHashes) Payment(guid string) (projections.Payment, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[guid]
	return projections.Payment{GUID: guid, Hash: v, Status: "CONFIRMED"}, ok
}

// emEnv is the emission routes over the real app.Emission on a bolt store, with the read models running,
// bank A registered (with the auto flags given), and the payments faked.
type emEnv struct {
	h      http.Handler
	pay    *emissionPayer
	hashes *paymentHashes
	em     uuid.UUID // bank A's emission entity
}

func newEmissionEnv(t *testing.T, autoIssue, autoBurn bool) *emEnv {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	banks, views := projections.NewCounterparties(), projections.NewEmission()
	runner, err := projections.NewRunner(store, projections.Options{Logger: quietLogger()}, banks, views)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &emEnv{pay: &emissionPayer{refuse: map[bool]error{}}, hashes: &paymentHashes{m: map[string]string{}}, em: uuid.New()}
	res, err := command.Handle(ctx, store, counterparty.Stream(uuid.MustParse(bankA)), counterparty.Decider, counterparty.Events,
		any(counterparty.Register{GUID: uuid.MustParse(bankA), Profile: counterparty.Profile{Name: "Bank A", AutoIssue: autoIssue, AutoBurn: autoBurn},
			AssetCode: "eUAH", AssetIssuer: testIssuer, EmissionAccountGUID: e.em, ProcessingAccountGUID: uuid.New(), At: time.Now()}), command.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.WaitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	svc, err := app.NewEmission(app.EmissionDeps{Store: store, Platform: testPlatform{}, Counterparties: banks, Views: views,
		Payments: e.pay, PaymentViews: e.hashes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Authenticator: testTokens(), Logger: quietLogger(), Emission: svc, ReadModels: runner}
	e.h = newRouter(d, emissionRoutes(d))
	return e
}

type testPlatform struct{}

func (testPlatform) Asset() money.Asset    { return testAsset }
func (testPlatform) IssuerAddress() string { return testIssuer }

var (
	emissionBase = "/api/v1/counterparty/" + bankA + "/emission"
	requestsBase = "/api/v1/emission/requests"
)

// call sends a request with a JSON body ("" for none) and decodes a JSON answer into a map with exact numbers.
func (e *emEnv) call(t *testing.T, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	var out map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	return w.Code, out
}

func issueBody(amount, reserve string) string {
	b := `{"amount":` + amount + `,"asset_code":"UAH","asset_issuer":"` + testIssuer + `"`
	if reserve != "" {
		b += `,"reserve_balance":` + reserve
	}
	return b + "}"
}

const (
	operatorA = "bank-a-" + RoleOperator
	observerA = "bank-a-" + RoleObserver
)

// guideHistoryKeys and guideBalanceKeys are guide §9's history fields: answers must have exactly these.
var (
	guideHistoryKeys = []string{"balance", "created_at", "created_by", "direction", "emission_payment_guid", "emission_payment_hash", "guid",
		"issuer_payment_guid", "issuer_payment_hash", "requested_amount", "reserve_balance_amount", "status", "updated_at", "updated_by"}
	guideBalanceKeys = []string{"asset_code", "counterparty_guid", "created_at", "emission_account_guid", "guid", "reserve_balance_amount", "updated_at"}
)

func TestEmissionRequestConfirmAndHistory(t *testing.T) {
	e := newEmissionEnv(t, false, false)
	code, body := e.call(t, "POST", emissionBase+"/issue", operatorA, issueBody("1000.5", "2000"))
	if code != 200 || body["status"] != "CREATED" || body["payment_guid"] != "" {
		t.Fatalf("issue: %d %v", code, body)
	}
	guid := body["guid"].(string)

	// One open request per bank.
	code, body = e.call(t, "POST", emissionBase+"/burn", operatorA, issueBody("1", ""))
	if code != 409 || body["code"] != CodeConflict || !strings.Contains(body["error"].(string), guid) {
		t.Fatalf("second request: %d %v", code, body)
	}

	// The platform administrator sees it among the open requests, with its bank.
	code, body = e.call(t, "GET", requestsBase+"?status=created", "platform-admin", "")
	if code != 200 || body["total"] != json.Number("1") {
		t.Fatalf("open requests: %d %v", code, body)
	}
	row := body["requests"].([]any)[0].(map[string]any)
	if row["guid"] != guid || row["counterparty_guid"] != bankA || row["reason"] != "" || row["requested_amount"] != json.Number("1000.5") {
		t.Fatalf("row %v", row)
	}
	if want := sortedUnion(guideHistoryKeys, []string{"counterparty_guid", "reason"}); !reflect.DeepEqual(keysOf(row), want) {
		t.Fatalf("platform row keys %v", keysOf(row))
	}

	// Confirmed by the platform: the payment issuer → emission entity starts.
	code, body = e.call(t, "POST", requestsBase+"/"+strings.ToUpper(guid)+"/confirm", "platform-admin", "")
	payment := emission.PaymentGUID(uuid.MustParse(guid)).String()
	if code != 200 || body["status"] != "CONFIRMED" || body["payment_guid"] != payment || body["guid"] != guid {
		t.Fatalf("confirm: %d %v", code, body)
	}
	if len(e.pay.started) != 1 || e.pay.started[0].EmissionAccount != e.em || e.pay.started[0].Amount != 100050 || e.pay.started[0].Burn {
		t.Fatalf("payments %+v", e.pay.started)
	}
	e.hashes.m[payment] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

	// The history, exactly the guide's shape; both payment fields name the one payment.
	code, body = e.call(t, "GET", emissionBase+"/history", observerA, "")
	if code != 200 || body["total"] != json.Number("1") || !reflect.DeepEqual(keysOf(body), []string{"history", "total"}) {
		t.Fatalf("history: %d %v", code, body)
	}
	item := body["history"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(keysOf(item), guideHistoryKeys) {
		t.Fatalf("history keys %v", keysOf(item))
	}
	bal := item["balance"].(map[string]any)
	if !reflect.DeepEqual(keysOf(bal), guideBalanceKeys) {
		t.Fatalf("balance keys %v", keysOf(bal))
	}
	want := map[string]any{"guid": guid, "direction": "issue", "status": "CONFIRMED", "requested_amount": json.Number("1000.5"),
		"reserve_balance_amount": json.Number("2000"), "issuer_payment_guid": payment, "emission_payment_guid": payment,
		"issuer_payment_hash": e.hashes.m[payment], "emission_payment_hash": e.hashes.m[payment],
		"created_by": "emp@0b0c", "updated_by": "admin@platform"}
	for k, v := range want {
		if item[k] != v {
			t.Errorf("%s = %v, want %v", k, item[k], v)
		}
	}
	if bal["guid"] != emission.BalanceGUID(bankA) || bal["counterparty_guid"] != bankA || bal["emission_account_guid"] != e.em.String() ||
		bal["reserve_balance_amount"] != json.Number("2000") || bal["asset_code"] != "eUAH" {
		t.Fatalf("balance %v", bal)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if _, err := time.Parse(time.RFC3339Nano, item[k].(string)); err != nil {
			t.Errorf("%s %v", k, item[k])
		}
	}

	// Filters reach the read model: by hash, by direction, by amount.
	for q, n := range map[string]string{
		"?issuer_payment_hash=" + strings.ToUpper(e.hashes.m[payment]): "1", "?direction=burn": "0", "?direction=issue&status=CONFIRMED": "1",
		"?min_requested_amount=1000.5": "1", "?max_requested_amount=1000.49": "0", "?asset_code=eUAH&guids=" + guid: "1",
		"?emission_payment_guid=" + uuid.NewString(): "0", "?created_by=emp@0b0c": "1", "?balance_guid=" + emission.BalanceGUID(bankA): "1",
	} {
		if code, body := e.call(t, "GET", emissionBase+"/history"+q, observerA, ""); code != 200 || body["total"] != json.Number(n) {
			t.Errorf("history%s: %d %v, want total %s", q, code, body, n)
		}
	}

	// Confirming again is a retry: the same answer, the same payment started again (idempotent).
	if code, body := e.call(t, "POST", requestsBase+"/"+guid+"/confirm", "platform-admin", "{}"); code != 200 || body["status"] != "CONFIRMED" {
		t.Fatalf("confirm again: %d %v", code, body)
	}
	if code, body := e.call(t, "POST", requestsBase+"/"+guid+"/cancel", "platform-admin", ""); code != 409 || !strings.Contains(body["error"].(string), "CONFIRMED") {
		t.Fatalf("cancel a confirmed request: %d %v", code, body)
	}
}

func TestEmissionCancelAndRefusals(t *testing.T) {
	e := newEmissionEnv(t, false, false)
	code, body := e.call(t, "POST", emissionBase+"/issue", operatorA, issueBody("10", "10"))
	if code != 200 {
		t.Fatalf("issue: %d %v", code, body)
	}
	guid := body["guid"].(string)
	for i := 0; i < 2; i++ {
		if code, body := e.call(t, "POST", requestsBase+"/"+guid+"/cancel", "platform-admin", ""); code != 200 || body["status"] != "CANCELLED" {
			t.Fatalf("cancel %d: %d %v", i, code, body)
		}
	}
	if code, body := e.call(t, "POST", requestsBase+"/"+guid+"/confirm", "platform-admin", ""); code != 409 || body["code"] != CodeConflict {
		t.Fatalf("confirm a cancelled request: %d %v", code, body)
	}
	if code, _ := e.call(t, "POST", requestsBase+"/"+uuid.NewString()+"/confirm", "platform-admin", ""); code != 404 {
		t.Fatalf("unknown request: %d", code)
	}
	if code, body := e.call(t, "POST", requestsBase+"/"+guid+"/confirm", "platform-admin", `{"bank_guid":"x"}`); code != 400 || body["code"] != CodeUnknownField {
		t.Fatalf("a body: %d %v", code, body)
	}
	if len(e.pay.started) != 0 {
		t.Fatalf("payments %+v", e.pay.started)
	}
	// Only the platform administrator decides; the bank cannot.
	if code, body := e.call(t, "POST", requestsBase+"/"+guid+"/cancel", "bank-a-"+RoleAdministrator, ""); code != 403 || body["permission"] != PermEmissionConfirm {
		t.Fatalf("bank cancels: %d %v", code, body)
	}
	if code, _ := e.call(t, "GET", requestsBase, "bank-a-"+RoleAdministrator, ""); code != 403 {
		t.Fatalf("bank lists every bank's requests: %d", code)
	}
	if code, _ := e.call(t, "POST", emissionBase+"/issue", observerA, issueBody("1", "1")); code != 403 {
		t.Fatalf("observer issues: %d", code)
	}
	if code, _ := e.call(t, "GET", emissionBase+"/history", "bank-b-admin", ""); code != 403 {
		t.Fatalf("bank B reads bank A's history: %d", code)
	}
	// The cancelled request is in the history; the platform list filters by bank.
	if code, body := e.call(t, "GET", requestsBase+"?counterparty_guid="+bankB, "platform-admin", ""); code != 200 || body["total"] != json.Number("0") {
		t.Fatalf("bank B's requests: %d %v", code, body)
	}
	if code, body := e.call(t, "GET", requestsBase+"?counterparty_guid="+bankA+"&status=CANCELLED", "platform-admin", ""); code != 200 || body["total"] != json.Number("1") {
		t.Fatalf("bank A's cancelled requests: %d %v", code, body)
	}
}

func TestEmissionReserveRuleAnswers(t *testing.T) {
	e := newEmissionEnv(t, true, true)
	code, body := e.call(t, "POST", emissionBase+"/issue", operatorA, issueBody("100", ""))
	msg, _ := body["error"].(string)
	if code != 422 || body["code"] != CodeUnprocessable || body["field"] != "reserve_balance" ||
		!strings.Contains(msg, "0.00 UAH") || !strings.Contains(msg, "= 100.00 UAH") {
		t.Fatalf("issue without a reserve: %d %v", code, body)
	}
	code, body = e.call(t, "POST", emissionBase+"/issue", operatorA, issueBody("100", "100"))
	if code != 200 || body["status"] != "CONFIRMED" || body["payment_guid"] == "" {
		t.Fatalf("auto issue: %d %v", code, body)
	}
	code, body = e.call(t, "POST", emissionBase+"/issue", operatorA, issueBody("0.01", ""))
	if msg, _ := body["error"].(string); code != 422 || !strings.Contains(msg, "the reserve balance 100.00 UAH") || !strings.Contains(msg, "issued 100.00 UAH − burned 0.00 UAH + requested 0.01 UAH = 100.01 UAH") {
		t.Fatalf("issue over the reserve: %d %v", code, body)
	}
	code, body = e.call(t, "POST", emissionBase+"/burn", operatorA, issueBody("100.01", ""))
	if msg, _ := body["error"].(string); code != 422 || !strings.Contains(msg, "exceeds") || !strings.Contains(msg, "= 100.00 UAH") {
		t.Fatalf("burn over the circulation: %d %v", code, body)
	}
	// The emission entity handed its money on: the burn's payment is refused and the request failed.
	e.pay.refuse[true] = account.ErrInsufficientFunds
	code, body = e.call(t, "POST", emissionBase+"/burn", operatorA, issueBody("40", ""))
	if msg, _ := body["error"].(string); code != 422 || !strings.Contains(msg, "insufficient funds") || !strings.Contains(msg, "FAILED") {
		t.Fatalf("refused burn: %d %v", code, body)
	}
	code, body = e.call(t, "GET", requestsBase+"?status=FAILED", "platform-admin", "")
	if code != 200 || body["total"] != json.Number("1") {
		t.Fatalf("failed requests: %d %v", code, body)
	}
	if row := body["requests"].([]any)[0].(map[string]any); row["reason"] != "insufficient funds on the emission entity" || row["direction"] != "burn" {
		t.Fatalf("failed row %v", row)
	}
	// A passing failure: 503, retryable, and a retry with the key starts the payment.
	e.pay.refuse[true] = context.DeadlineExceeded
	code, body = e.call(t, "POST", emissionBase+"/burn", operatorA, issueBody("40", ""), "Idempotency-Key", "burn-40")
	if code != 503 || body["retryable"] != true || !strings.Contains(body["error"].(string), "confirmed but its payment did not start") {
		t.Fatalf("busy: %d %v", code, body)
	}
	e.pay.refuse[true] = nil
	code, body = e.call(t, "POST", emissionBase+"/burn", operatorA, issueBody("40", ""), "Idempotency-Key", "burn-40")
	if code != 200 || body["status"] != "CONFIRMED" || len(e.pay.started) != 2 || !e.pay.started[1].Burn || e.pay.started[1].Amount != 4000 {
		t.Fatalf("retry: %d %v %+v", code, body, e.pay.started)
	}
	// The same key with another body is refused.
	code, body = e.call(t, "POST", emissionBase+"/burn", operatorA, issueBody("41", ""), "Idempotency-Key", "burn-40")
	if code != 409 || body["code"] != CodeIdempotencyConflict {
		t.Fatalf("key reused: %d %v", code, body)
	}
}

func TestEmissionBadInput(t *testing.T) {
	e := newEmissionEnv(t, true, true)
	cases := []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"three decimals", "/issue", issueBody("1.005", "10"), 400, CodeInvalidField, "amount"},
		{"reserve with three decimals", "/issue", issueBody("1", "10.001"), 400, CodeInvalidField, "reserve_balance"},
		{"amount as a string", "/issue", issueBody(`"10"`, ""), 400, CodeInvalidField, "amount"},
		{"exponent", "/issue", issueBody("1e3", ""), 400, CodeInvalidField, "amount"},
		{"zero", "/burn", issueBody("0", ""), 400, CodeInvalidField, "amount"},
		{"negative", "/issue", issueBody("-5", ""), 400, CodeInvalidField, "amount"},
		{"negative reserve", "/issue", issueBody("5", "-1"), 400, CodeInvalidField, "reserve_balance"},
		{"no amount", "/issue", `{"asset_code":"UAH","asset_issuer":"` + testIssuer + `"}`, 400, CodeMissingField, "amount"},
		{"null amount", "/issue", `{"amount":null,"asset_code":"UAH","asset_issuer":"` + testIssuer + `"}`, 400, CodeMissingField, "amount"},
		{"no asset code", "/issue", `{"amount":1,"asset_issuer":"` + testIssuer + `"}`, 400, CodeMissingField, "asset_code"},
		{"no issuer", "/issue", `{"amount":1,"asset_code":"UAH"}`, 400, CodeMissingField, "asset_issuer"},
		{"unknown field", "/issue", `{"amount":1,"asset_code":"UAH","asset_issuer":"` + testIssuer + `","direction":"burn"}`, 400, CodeUnknownField, "direction"},
		{"other asset", "/issue", `{"amount":1,"asset_code":"USD","asset_issuer":"` + testIssuer + `"}`, 422, CodeUnprocessable, "asset_code"},
		{"other issuer", "/burn", `{"amount":1,"asset_code":"eUAH","asset_issuer":"GOTHER"}`, 422, CodeUnprocessable, "asset_issuer"},
		{"out of range", "/issue", issueBody("92233720368547758.08", ""), 400, CodeInvalidField, "amount"},
	}
	for _, c := range cases {
		code, body := e.call(t, "POST", emissionBase+c.path, operatorA, c.body)
		if code != c.status || body["code"] != c.code || body["field"] != c.field {
			t.Errorf("%s: %d %v", c.name, code, body)
		}
	}
	for q, field := range map[string]string{
		"?direction=mint": "direction", "?status=OPEN": "status", "?min_requested_amount=1.234": "min_requested_amount",
		"?max_requested_amount=abc": "max_requested_amount", "?guids=nope": "guids", "?balance_guid=1": "balance_guid",
		"?issuer_payment_guid=x": "issuer_payment_guid", "?min_created_at=yesterday": "min_created_at", "?max_updated_at=1": "max_updated_at",
		"?order=amount": "order", "?limit=0": "limit", "?offset=-1": "offset", "?status=CREATED&status=x": "status",
	} {
		if code, body := e.call(t, "GET", emissionBase+"/history"+q, observerA, ""); code != 400 || body["field"] != field {
			t.Errorf("history%s: %d %v", q, code, body)
		}
	}
	if code, body := e.call(t, "GET", requestsBase+"?counterparty_guid=x", "platform-admin", ""); code != 400 || body["field"] != "counterparty_guid" {
		t.Errorf("bad counterparty_guid: %d %v", code, body)
	}
	// counterparty_guid is the platform list's: the bank's history ignores it (its bank is the path's).
	if code, body := e.call(t, "GET", emissionBase+"/history?counterparty_guid="+bankB, observerA, ""); code != 200 || body["total"] != json.Number("0") {
		t.Errorf("history with counterparty_guid: %d %v", code, body)
	}
}

// TestEmissionHistoryQuery: every filter of the guide reaches the read model's query as parsed.
func TestEmissionHistoryQuery(t *testing.T) {
	f := &fakeEmission{}
	d := Deps{Authenticator: testTokens(), Logger: quietLogger(), Emission: f}
	h := newRouter(d, emissionRoutes(d))
	g1, g2, bal, p1, p2 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	q := "?guids=" + strings.ToUpper(g1) + "," + g2 + "&direction=ISSUE&direction=burn&balance_guid=" + bal + "&asset_code=UAH&asset_issuer=" + testIssuer +
		"&issuer_payment_guid=" + p1 + "&emission_payment_guid=" + p2 + "&issuer_payment_hash=aa&emission_payment_hash=bb,cc" +
		"&min_requested_amount=1.5&max_requested_amount=100&status=created,Failed&created_by=a@b&updated_by=admin" +
		"&min_created_at=2026-05-01T00:00:00Z&max_created_at=2026-05-02T00:00:00Z&min_updated_at=2026-05-03T00:00:00Z&max_updated_at=2026-05-04T00:00:00Z" +
		"&order=-requested_amount&offset=5&limit=7"
	w := do(t, h, "GET", emissionBase+"/history"+q, observerA, nil)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"history":[],"total":0}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	day := func(d int) time.Time { return time.Date(2026, 5, d, 0, 0, 0, 0, time.UTC) }
	minA, maxA := int64(150), int64(10000)
	want := projections.EmissionQuery{CounterpartyGUIDs: []string{bankA}, GUIDs: []string{g1, g2}, Directions: []string{"issue", "burn"},
		BalanceGUIDs: []string{bal}, AssetCodes: []string{"UAH"}, AssetIssuers: []string{testIssuer}, IssuerPaymentGUIDs: []string{p1},
		EmissionPaymentGUIDs: []string{p2}, IssuerPaymentHashes: []string{"aa"}, EmissionPaymentHashes: []string{"bb", "cc"},
		MinAmount: &minA, MaxAmount: &maxA, Statuses: []string{"CREATED", "FAILED"}, CreatedBy: []string{"a@b"}, UpdatedBy: []string{"admin"},
		MinCreated: day(1), MaxCreated: day(2), MinUpdated: day(3), MaxUpdated: day(4), Order: projections.EmissionByAmountDesc, Offset: 5, Limit: 7}
	if !reflect.DeepEqual(f.query, want) {
		t.Fatalf("query\n%+v\nwant\n%+v", f.query, want)
	}
	// The platform's list: no bank unless asked, and the defaults.
	w = do(t, h, "GET", requestsBase+"?counterparty_guid="+bankB+","+strings.ToUpper(bankA), "platform-admin", nil)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"requests":[],"total":0}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if want := (projections.EmissionQuery{CounterpartyGUIDs: []string{bankB, bankA}, Order: projections.EmissionByCreated, Limit: defaultPageLimit}); !reflect.DeepEqual(f.query, want) {
		t.Fatalf("platform query %+v", f.query)
	}
	// The amount parsed in minor units, with the asset's decimals.
	w = do(t, h, "POST", emissionBase+"/burn", "cx:bank-a-system", strings.NewReader(`{"amount":12.3,"asset_code":"eUAH","asset_issuer":"`+testIssuer+`","reserve_balance":0}`),
		"Content-Type", "application/json")
	if w.Code != 200 || f.input.Amount != 1230 || f.input.Direction != emission.Burn || f.input.Reserve == nil || *f.input.Reserve != 0 || f.input.AssetCode != "eUAH" {
		t.Fatalf("%d %s %+v", w.Code, w.Body, f.input)
	}
}
