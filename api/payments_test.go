package api

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
	"github.com/kazna-ledger/kazna/stellar/custody"
	"github.com/kazna-ledger/kazna/stellar/localnet"
)

var (
	paymentsBase = "/api/v1/counterparty/" + bankA + "/payments"
	// guidePaymentKeys are guide §10's payment object without stellar_info (present only when asked for).
	guidePaymentKeys = []string{"amount", "asset_code", "asset_issuer", "category", "category_guid", "created_at", "deleted_at", "fee", "guid",
		"purpose", "receiver_account_account_kind", "receiver_counterparty", "receiver_id", "sender_account_account_kind", "sender_counterparty",
		"sender_id", "status", "target_balance", "updated_at"}
	// kaznaPaymentKeys are Kazna's additions, each left out when empty.
	kaznaPaymentKeys = []string{"bank_guid", "branch_guid", "created_by", "emission_guid", "failure_reason", "receiver_iban", "sender_iban"}
)

func branchPayments(branch string) string {
	return "/api/v1/counterparty/" + bankA + "/branch/" + branch + "/payments"
}

// Payments of the fake read model, as bank A sees them.
var (
	payT0 = time.Date(2026, 5, 1, 10, 0, 0, 123456000, time.UTC)
	// payAB: bank A's customer of branch X pays bank B's customer; settled.
	payAB = projections.Payment{GUID: "5c1f0a7e-3b2d-4e8f-9a6b-1c2d3e4f5a01", CounterpartyGUID: bankA, BranchGUID: branchX,
		Sender: payment.Party{AccountGUID: "a1a1a1a1-0000-4000-8000-000000000001", Kind: payment.KindCustomer, CounterpartyGUID: bankA,
			Address: "GSENDER", IBAN: validIBAN, BranchGUID: branchX, CustomerGUID: "c1c1c1c1-0000-4000-8000-000000000001"},
		Receiver: payment.Party{AccountGUID: "b2b2b2b2-0000-4000-8000-000000000002", Kind: payment.KindCustomer, CounterpartyGUID: bankB,
			Address: "GRECEIVER", IBAN: otherIBAN},
		Amount: 100050, AssetCode: "eUAH", AssetIssuer: testIssuer, CategoryGUID: "ca7e0000-0000-4000-8000-000000000001", Category: "RENT",
		Purpose: "rent for May", TargetBalance: minorUnits(1234), Status: payment.StatusConfirmed, BankGUID: bankB,
		Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Ledger: 42, CreatedBy: "emp@0b0c",
		CreatedAt: payT0, UpdatedAt: payT0.Add(1500 * time.Millisecond)}
	// payDraft: a draft between two processing entities of bank A, with nothing optional.
	payDraft = projections.Payment{GUID: "5c1f0a7e-3b2d-4e8f-9a6b-1c2d3e4f5a02", CounterpartyGUID: bankA,
		Sender:   payment.Party{AccountGUID: "a1a1a1a1-0000-4000-8000-000000000003", Kind: payment.KindEmission, CounterpartyGUID: bankA, Address: "GEM"},
		Receiver: payment.Party{AccountGUID: "a1a1a1a1-0000-4000-8000-000000000004", Kind: payment.KindProcessing, CounterpartyGUID: bankA, Address: "GPR"},
		Amount:   7, AssetCode: "eUAH", AssetIssuer: testIssuer, Status: payment.StatusCreated, CreatedAt: payT0, UpdatedAt: payT0}
	// payOtherBranch: bank A's payment made in its other branch.
	payOtherBranch = projections.Payment{GUID: "5c1f0a7e-3b2d-4e8f-9a6b-1c2d3e4f5a03", CounterpartyGUID: bankA, BranchGUID: branchOther,
		Sender:   payment.Party{AccountGUID: "a1a1a1a1-0000-4000-8000-000000000005", Kind: payment.KindProcessing, CounterpartyGUID: bankA, Address: "GP2", BranchGUID: branchOther},
		Receiver: payment.Party{AccountGUID: "a1a1a1a1-0000-4000-8000-000000000003", Kind: payment.KindEmission, CounterpartyGUID: bankA, Address: "GEM"},
		Amount:   100, AssetCode: "eUAH", AssetIssuer: testIssuer, Status: payment.StatusCreated, CreatedAt: payT0, UpdatedAt: payT0}
	// payB: bank B's own payment, which bank A must not see.
	payB = projections.Payment{GUID: "5c1f0a7e-3b2d-4e8f-9a6b-1c2d3e4f5a04", CounterpartyGUID: bankB,
		Sender:   payment.Party{AccountGUID: "b2b2b2b2-0000-4000-8000-000000000005", Kind: payment.KindEmission, CounterpartyGUID: bankB, Address: "GBEM"},
		Receiver: payment.Party{AccountGUID: "b2b2b2b2-0000-4000-8000-000000000006", Kind: payment.KindProcessing, CounterpartyGUID: bankB, Address: "GBPR"},
		Amount:   100, AssetCode: "eUAH", AssetIssuer: testIssuer, Status: payment.StatusCreated, CreatedAt: payT0, UpdatedAt: payT0}
)

func minorUnits(v int64) *int64 { return &v }

// payAPI is the payment routes, bound as the router binds them (paymentRoutesOf), over the fake service. It
// serves bank A's administrator ("admin"), an administrator confined to branch branchX ("branch"), bank A's
// system ("system"), bank B's administrator ("b-admin") and bank A's default roles ("bank-a-<role>").
type payAPI struct {
	svc  *fakePayments
	wait *recordingWaiter
	h    http.Handler
}

func newPayAPI(t *testing.T, rows ...projections.Payment) *payAPI {
	t.Helper()
	toks := testTokens()
	admin := employee(bankA, RoleAdministrator)
	scoped := admin
	scoped.BranchGUID = strings.ToUpper(branchX)
	toks["admin"], toks["branch"], toks["system"], toks["b-admin"] = admin, scoped, bankSystem(bankA), employee(bankB, RoleAdministrator)
	e := &payAPI{svc: newFakePayments(rows...), wait: &recordingWaiter{}}
	d := Deps{Authenticator: toks, Logger: quietLogger(), Payments: e.svc, ReadModels: e.wait}
	e.h = newRouter(d, paymentRoutesOf(d))
	return e
}

// send makes a request with a JSON body (none when body is "") and extra header pairs.
func (e *payAPI) send(t *testing.T, method, path, token, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	return sendTo(t, e.h, method, path, token, body, hdr...)
}

func (e *payAPI) object(t *testing.T, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	w := e.send(t, method, path, token, body, hdr...)
	var out map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	return w.Code, out
}

func sendTo(t *testing.T, h http.Handler, method, path, token, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// paymentBody is a create body with the fields given (JSON values, already encoded) over a valid default.
func paymentBody(fields ...string) string {
	m := map[string]string{"amount": "10", "asset_code": `"UAH"`, "asset_issuer": `"` + testIssuer + `"`,
		"sender_id": `"` + payDraft.Sender.AccountGUID + `"`, "receiver_id": `"` + payDraft.Receiver.AccountGUID + `"`}
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			delete(m, fields[i])
			continue
		}
		m[fields[i]] = fields[i+1]
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func TestPaymentObjectWireShape(t *testing.T) {
	cancelled := payDraft
	cancelled.GUID, cancelled.Status, cancelled.DeletedAt = "5c1f0a7e-3b2d-4e8f-9a6b-1c2d3e4f5a05", payment.StatusCancelled, payT0.Add(time.Second)
	issue := projections.Payment{GUID: "5c1f0a7e-3b2d-4e8f-9a6b-1c2d3e4f5a06", CounterpartyGUID: bankA,
		Sender:   payment.Party{Kind: payment.KindRoot, Address: testIssuer},
		Receiver: payment.Party{AccountGUID: payDraft.Sender.AccountGUID, Kind: payment.KindEmission, CounterpartyGUID: bankA, Address: "GEM"},
		Amount:   1_000_000_00, AssetCode: "eUAH", AssetIssuer: testIssuer, Status: payment.StatusFailed, Reason: "the receiver has no trustline to the asset (op_no_trust)",
		Emission: "e1e1e1e1-0000-4000-8000-000000000001", CreatedBy: "admin@platform", CreatedAt: payT0, UpdatedAt: payT0}
	e := newPayAPI(t, payAB, payDraft, cancelled, issue)

	// A settled transfer with every field a transfer has: the guide's keys and Kazna's, no stellar_info.
	w := e.send(t, "GET", paymentsBase+"/"+strings.ToUpper(payAB.GUID), "admin", "")
	if w.Code != 200 {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	for _, raw := range []string{`"amount":1000.5,`, `"fee":0,`, `"target_balance":12.34,`, `"deleted_at":null,`} {
		if !strings.Contains(w.Body.String(), raw) {
			t.Errorf("answer lacks %s: %s", raw, w.Body)
		}
	}
	var body map[string]any
	decodeNumbers(t, w.Body.Bytes(), &body)
	if got, want := keysOf(body), sortedUnion(guidePaymentKeys, []string{"bank_guid", "branch_guid", "created_by", "receiver_iban", "sender_iban"}); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	want := map[string]any{"amount": json.Number("1000.5"), "asset_code": "eUAH", "asset_issuer": testIssuer, "category": "RENT",
		"category_guid": payAB.CategoryGUID, "created_at": "2026-05-01T10:00:00.123456Z", "deleted_at": nil, "fee": json.Number("0"),
		"guid": payAB.GUID, "purpose": "rent for May", "receiver_account_account_kind": "customer", "receiver_counterparty": bankB,
		"receiver_id": payAB.Receiver.AccountGUID, "sender_account_account_kind": "customer", "sender_counterparty": bankA,
		"sender_id": payAB.Sender.AccountGUID, "status": "CONFIRMED", "target_balance": json.Number("12.34"),
		"updated_at": "2026-05-01T10:00:01.623456Z", "receiver_iban": otherIBAN, "sender_iban": validIBAN, "bank_guid": bankB,
		"branch_guid": branchX, "created_by": "emp@0b0c"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}

	// stellar_info only when asked for: the hash and Kazna's ledger.
	for q, present := range map[string]bool{"": false, "?with_stellar_info=false": false, "?with_stellar_info=0": false,
		"?with_stellar_info=true": true, "?with_stellar_info=TRUE": true, "?with_stellar_info=1": true} {
		code, body := e.object(t, "GET", paymentsBase+"/"+payAB.GUID+q, "admin", "")
		info, ok := body["stellar_info"].(map[string]any)
		if code != 200 || ok != present {
			t.Errorf("%s: %d stellar_info %v", q, code, body["stellar_info"])
			continue
		}
		if present && !reflect.DeepEqual(info, map[string]any{"hash": payAB.Hash, "ledger": json.Number("42")}) {
			t.Errorf("%s: stellar_info %v", q, info)
		}
	}
	code, body := e.object(t, "GET", paymentsBase+"/"+payAB.GUID+"?with_stellar_info=yes", "admin", "")
	refused(t, "with_stellar_info=yes", code, body, 400, CodeInvalidField, "with_stellar_info")
	code, body = e.object(t, "GET", paymentsBase+"/"+payAB.GUID+"?with_stellar_info=true&with_stellar_info=false", "admin", "")
	refused(t, "with_stellar_info twice", code, body, 400, CodeInvalidField, "with_stellar_info")

	// A draft with nothing optional: exactly the guide's keys, target_balance null; asked for, its
	// stellar_info has an empty hash and no ledger.
	code, body = e.object(t, "GET", paymentsBase+"/"+payDraft.GUID+"?with_stellar_info=true", "admin", "")
	if code != 200 || !slices.Equal(keysOf(body), sortedUnion(guidePaymentKeys, []string{"stellar_info"})) {
		t.Fatalf("draft: %d keys %v", code, keysOf(body))
	}
	if body["target_balance"] != nil || body["deleted_at"] != nil || body["amount"] != json.Number("0.07") || body["category"] != "" ||
		body["category_guid"] != "" || body["status"] != "CREATED" || body["sender_account_account_kind"] != "emission" {
		t.Errorf("draft %v", body)
	}
	if info := body["stellar_info"]; !reflect.DeepEqual(info, map[string]any{"hash": ""}) {
		t.Errorf("draft stellar_info %v", info)
	}

	// A cancelled draft: deleted_at is when it was cancelled.
	if code, body := e.object(t, "GET", paymentsBase+"/"+cancelled.GUID, "admin", ""); code != 200 ||
		body["deleted_at"] != "2026-05-01T10:00:01.123456Z" || body["status"] != "CANCELLED" {
		t.Errorf("cancelled: %d %v", code, body)
	}

	// An issue that failed: the issuer's side is root with no account, the emission request and the reason.
	code, body = e.object(t, "GET", paymentsBase+"/"+issue.GUID, "admin", "")
	if code != 200 || body["sender_account_account_kind"] != "root" || body["sender_id"] != "" || body["sender_counterparty"] != "" ||
		body["emission_guid"] != issue.Emission || body["failure_reason"] != issue.Reason || body["status"] != "FAILED" ||
		body["amount"] != json.Number("1000000") || body["created_by"] != "admin@platform" {
		t.Errorf("issue: %d %v", code, body)
	}
	if want := sortedUnion(guidePaymentKeys, []string{"created_by", "emission_guid", "failure_reason"}); !slices.Equal(keysOf(body), want) {
		t.Errorf("issue: keys %v, want %v", keysOf(body), want)
	}

	// The list carries the same objects, stellar_info included, and the total.
	code, body = e.object(t, "GET", paymentsBase, "admin", "")
	if code != 200 || !slices.Equal(keysOf(body), []string{"payments", "total"}) || body["total"] != json.Number("4") {
		t.Fatalf("list: %d %v", code, body)
	}
	for _, item := range body["payments"].([]any) {
		p := item.(map[string]any)
		if _, ok := p["stellar_info"]; !ok {
			t.Errorf("list item %s has no stellar_info", p["guid"])
		}
		for _, k := range guidePaymentKeys {
			if _, ok := p[k]; !ok {
				t.Errorf("list item %s lacks %s", p["guid"], k)
			}
		}
		for k := range p {
			if !slices.Contains(guidePaymentKeys, k) && !slices.Contains(kaznaPaymentKeys, k) && k != "stellar_info" {
				t.Errorf("list item %s has %s, neither the guide's nor a documented addition", p["guid"], k)
			}
		}
	}
	// An empty list is [] rather than null.
	e2 := newPayAPI(t)
	if w := e2.send(t, "GET", paymentsBase, "admin", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"payments":[],"total":0}` {
		t.Errorf("empty list: %d %s", w.Code, w.Body)
	}
}

func TestCreatePaymentPassesTheBody(t *testing.T) {
	e := newPayAPI(t)
	cat := "ca7e0000-0000-4000-8000-000000000001"
	body := paymentBody("amount", "1000.5", "category_guid", `"`+strings.ToUpper(cat)+`"`, "purpose", `"rent"`,
		"receiver_id", "", "receiver_iban", `"UA21 3223 1300 0002 6007 2335 6600 1"`, "sender_id", `"`+strings.ToUpper(payDraft.Sender.AccountGUID)+`"`,
		"sender_iban", `""`, "target_balance", "0")
	w := e.send(t, "POST", paymentsBase, "admin", body, "Idempotency-Key", "pay-1")
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var out map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	if !slices.Equal(keysOf(out), []string{"guid"}) {
		t.Fatalf("answer %v, want only guid", out)
	}
	if _, err := uuid.Parse(out["guid"].(string)); err != nil {
		t.Fatalf("guid %v", out["guid"])
	}
	want := app.PaymentInput{SenderID: payDraft.Sender.AccountGUID, ReceiverIBAN: validIBAN, Amount: 100050, AssetCode: "UAH",
		AssetIssuer: testIssuer, CategoryGUID: cat, Purpose: "rent", TargetBalance: minorUnits(0)}
	if !reflect.DeepEqual(e.svc.input, want) || e.svc.inputCP.String() != bankA {
		t.Errorf("service got %+v for %s\nwant %+v", e.svc.input, e.svc.inputCP, want)
	}
	if e.svc.lastWrite.IdempotencyKey != "pay-1" || e.svc.lastWrite.Metadata.Actor != "emp@0b0c" || e.svc.lastWrite.Metadata.RequestID == "" {
		t.Errorf("write options %+v", e.svc.lastWrite)
	}
	if got := e.wait.positions(); len(got) != 1 || got[0] != fakeWritten {
		t.Errorf("waited for %v", got)
	}

	// The branch route, and an employee confined to a branch on the bank's route: the branch is passed on.
	for _, c := range []struct{ path, token string }{{branchPayments(strings.ToUpper(branchX)), "admin"}, {paymentsBase, "branch"}, {branchPayments(branchX), "branch"}} {
		if code, body := e.object(t, "POST", c.path, c.token, paymentBody()); code != 200 || e.svc.input.BranchGUID != branchX {
			t.Errorf("POST %s as %s: %d %v, branch %q", c.path, c.token, code, body, e.svc.input.BranchGUID)
		}
	}
	// A bank-wide caller on the bank's route names no branch; the Stellar code names the asset too.
	if code, _ := e.object(t, "POST", paymentsBase, "system", paymentBody("asset_code", `"eUAH"`)); code != 200 || e.svc.input.BranchGUID != "" || e.svc.input.AssetCode != "eUAH" {
		t.Errorf("system: %d %+v", code, e.svc.input)
	}
	// Another branch than the employee's own does not exist for it.
	before := e.svc.writeCount()
	code, out := e.object(t, "POST", branchPayments(branchOther), "branch", paymentBody())
	refused(t, "another branch", code, out, 404, CodeNotFound, "branch_guid")
	if e.svc.writeCount() != before {
		t.Error("a refused create reached the service")
	}
}

func TestCreatePaymentBadInput(t *testing.T) {
	e := newPayAPI(t)
	cases := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"three decimals", paymentBody("amount", "1.005"), 400, CodeInvalidField, "amount"},
		{"exponent", paymentBody("amount", "1e3"), 400, CodeInvalidField, "amount"},
		{"amount as a string", paymentBody("amount", `"10"`), 400, CodeInvalidField, "amount"},
		{"amount as an object", paymentBody("amount", `{"value":1}`), 400, CodeInvalidField, "amount"},
		{"amount true", paymentBody("amount", "true"), 400, CodeInvalidField, "amount"},
		{"zero", paymentBody("amount", "0"), 400, CodeInvalidField, "amount"},
		{"negative", paymentBody("amount", "-5"), 400, CodeInvalidField, "amount"},
		{"no amount", paymentBody("amount", ""), 400, CodeMissingField, "amount"},
		{"null amount", paymentBody("amount", "null"), 400, CodeMissingField, "amount"},
		{"out of range", paymentBody("amount", "92233720368547758.08"), 400, CodeInvalidField, "amount"},
		{"huge", paymentBody("amount", "1"+strings.Repeat("0", 400)), 400, CodeInvalidField, "amount"},
		{"target with three decimals", paymentBody("target_balance", "1.001"), 400, CodeInvalidField, "target_balance"},
		{"negative target", paymentBody("target_balance", "-1"), 400, CodeInvalidField, "target_balance"},
		{"target as a string", paymentBody("target_balance", `"1"`), 400, CodeInvalidField, "target_balance"},
		{"no sender", paymentBody("sender_id", ""), 400, CodeMissingField, "sender_id"},
		{"blank sender", paymentBody("sender_id", `" "`, "sender_iban", `""`), 400, CodeMissingField, "sender_id"},
		{"no receiver", paymentBody("receiver_id", ""), 400, CodeMissingField, "receiver_id"},
		{"bad sender_id", paymentBody("sender_id", `"x"`), 400, CodeInvalidField, "sender_id"},
		{"unhyphenated sender_id", paymentBody("sender_id", `"a1a1a1a1000040008000000000000003"`), 400, CodeInvalidField, "sender_id"},
		{"braced receiver_id", paymentBody("receiver_id", `"{a1a1a1a1-0000-4000-8000-000000000004}"`), 400, CodeInvalidField, "receiver_id"},
		{"sender_id a number", paymentBody("sender_id", "1"), 400, CodeInvalidField, "sender_id"},
		{"bad category_guid", paymentBody("category_guid", `"rent"`), 400, CodeInvalidField, "category_guid"},
		{"bad sender_iban", paymentBody("sender_id", "", "sender_iban", `"UA00 0000"`), 400, CodeInvalidField, "sender_iban"},
		{"bad receiver_iban", paymentBody("receiver_iban", `"UA213223130000026007233566002"`), 400, CodeInvalidField, "receiver_iban"},
		{"long receiver_iban", paymentBody("receiver_iban", `"`+strings.Repeat("1", 100)+`"`), 400, CodeInvalidField, "receiver_iban"},
		{"no asset_code", paymentBody("asset_code", ""), 400, CodeMissingField, "asset_code"},
		{"no asset_issuer", paymentBody("asset_issuer", ""), 400, CodeMissingField, "asset_issuer"},
		{"long asset_code", paymentBody("asset_code", `"`+strings.Repeat("U", 65)+`"`), 400, CodeInvalidField, "asset_code"},
		{"long purpose", paymentBody("purpose", `"`+strings.Repeat("p", 4*payment.MaxPurposeRunes+1)+`"`), 400, CodeInvalidField, "purpose"},
		{"unknown field", paymentBody("fee", "0"), 400, CodeUnknownField, "fee"},
		{"bank_guid belongs to confirm", paymentBody("bank_guid", `"`+bankB+`"`), 400, CodeUnknownField, "bank_guid"},
		{"other asset", paymentBody("asset_code", `"USD"`), 422, CodeUnprocessable, "asset_code"},
		{"other issuer", paymentBody("asset_issuer", `"GOTHER"`), 422, CodeUnprocessable, "asset_issuer"},
		{"not JSON", "{", 400, CodeInvalidRequest, ""},
		{"an array", "[]", 400, CodeInvalidRequest, ""},
		{"trailing data", paymentBody() + "{}", 400, CodeInvalidRequest, ""},
	}
	for _, c := range cases {
		code, body := e.object(t, "POST", paymentsBase, "admin", c.body)
		refused(t, c.name, code, body, c.status, c.code, c.field)
	}
	code, body := e.object(t, "POST", paymentsBase, "admin", paymentBody("amount", "1.005"))
	if msg, _ := body["error"].(string); code != 400 || !strings.Contains(msg, "2 decimal places") {
		t.Errorf("the message does not say why: %d %v", code, body)
	}
	w := e.send(t, "POST", paymentsBase, "admin", paymentBody(), "Content-Type", "text/plain")
	errorOf(t, w, 415, CodeUnsupportedMediaType)
	code, body = e.object(t, "POST", paymentsBase, "admin", paymentBody(), "Idempotency-Key", "a key")
	refused(t, "Idempotency-Key with a space", code, body, 400, CodeInvalidField, "Idempotency-Key")
	code, body = e.object(t, "POST", branchPayments("kyiv"), "admin", paymentBody())
	refused(t, "bad branch_guid", code, body, 400, CodeInvalidField, "branch_guid")
	code, body = e.object(t, "POST", "/api/v1/counterparty/x/payments", "platform-admin", paymentBody())
	refused(t, "bad counterparty_guid", code, body, 400, CodeInvalidField, "counterparty_guid")
	if n := e.svc.writeCount(); n != 0 {
		t.Errorf("%d refused requests reached the service", n)
	}
}

func TestConfirmPayment(t *testing.T) {
	e := newPayAPI(t, payDraft)
	body := `{"bank_guid":"` + strings.ToUpper(bankB) + `","payment_guid":"` + strings.ToUpper(payDraft.GUID) + `"}`
	code, out := e.object(t, "POST", paymentsBase+"/confirm", "admin", body, "Idempotency-Key", "confirm-1")
	if code != 200 || !slices.Equal(keysOf(out), []string{"guid", "status"}) || out["guid"] != payDraft.GUID || out["status"] != "PENDING" {
		t.Fatalf("confirm: %d %v", code, out)
	}
	want := fakeConfirm{cp: uuid.MustParse(bankA), id: uuid.MustParse(payDraft.GUID), bank: bankB, idempotencyKey: "confirm-1"}
	if e.svc.confirmed != want {
		t.Errorf("service got %+v, want %+v", e.svc.confirmed, want)
	}
	if got := e.wait.positions(); len(got) != 1 || got[0] != fakeWritten {
		t.Errorf("waited for %v", got)
	}
	// bank_guid left out: an internal transfer.
	if code, _ := e.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+payDraft.GUID+`"}`); code != 200 || e.svc.confirmed.bank != "" {
		t.Errorf("no bank_guid: %d %+v", code, e.svc.confirmed)
	}
	// The branch routes pass the branch.
	for _, c := range []struct{ path, token string }{{branchPayments(branchX) + "/confirm", "admin"}, {paymentsBase + "/confirm", "branch"}} {
		if code, out := e.object(t, "POST", c.path, c.token, `{"payment_guid":"`+payDraft.GUID+`"}`); code != 200 || e.svc.confirmed.branch != branchX {
			t.Errorf("POST %s as %s: %d %v %+v", c.path, c.token, code, out, e.svc.confirmed)
		}
	}

	before := e.svc.writeCount()
	for _, c := range []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"no payment_guid", "/confirm", `{"bank_guid":"` + bankB + `"}`, 400, CodeMissingField, "payment_guid"},
		{"blank payment_guid", "/confirm", `{"payment_guid":" "}`, 400, CodeMissingField, "payment_guid"},
		{"bad payment_guid", "/confirm", `{"payment_guid":"42"}`, 400, CodeInvalidField, "payment_guid"},
		{"bad bank_guid", "/confirm", `{"payment_guid":"` + payDraft.GUID + `","bank_guid":"bank-b"}`, 400, CodeInvalidField, "bank_guid"},
		{"bank_guid a number", "/confirm", `{"payment_guid":"` + payDraft.GUID + `","bank_guid":7}`, 400, CodeInvalidField, "bank_guid"},
		{"unknown field", "/confirm", `{"payment_guid":"` + payDraft.GUID + `","amount":1}`, 400, CodeUnknownField, "amount"},
		{"empty body", "/confirm", `{}`, 400, CodeMissingField, "payment_guid"},
	} {
		code, out := e.object(t, "POST", paymentsBase+c.path, "admin", c.body)
		refused(t, c.name, code, out, c.status, c.code, c.field)
	}
	code, out = e.object(t, "POST", branchPayments(branchOther)+"/confirm", "branch", `{"payment_guid":"`+payDraft.GUID+`"}`)
	refused(t, "another branch", code, out, 404, CodeNotFound, "branch_guid")
	if e.svc.writeCount() != before {
		t.Error("a refused confirmation reached the service")
	}
}

func TestCancelPayment(t *testing.T) {
	e := newPayAPI(t, payDraft, payB, payOtherBranch)
	w := e.send(t, "DELETE", paymentsBase+"/"+strings.ToUpper(payDraft.GUID), "admin", "", "Idempotency-Key", "cancel-1")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
		t.Fatalf("cancel: %d %s", w.Code, w.Body)
	}
	if e.svc.cancelled.String() != payDraft.GUID || e.svc.lastWrite.IdempotencyKey != "cancel-1" {
		t.Errorf("service got %s %+v", e.svc.cancelled, e.svc.lastWrite)
	}
	before := e.svc.writeCount()
	// Another bank's payment, an unknown one and one of another branch do not exist for the caller.
	for _, c := range []struct{ guid, token string }{{payB.GUID, "admin"}, {uuid.NewString(), "admin"}, {payOtherBranch.GUID, "branch"}} {
		code, out := e.object(t, "DELETE", paymentsBase+"/"+c.guid, c.token, "")
		refused(t, "cancel "+c.guid+" as "+c.token, code, out, 404, CodeNotFound, "")
	}
	code, out := e.object(t, "DELETE", paymentsBase+"/not-a-guid", "admin", "")
	refused(t, "bad payment_guid", code, out, 400, CodeInvalidField, "payment_guid")
	if e.svc.writeCount() != before {
		t.Error("a refused cancellation reached the service")
	}
	// A confirmed payment cannot be cancelled.
	e.svc.err = payment.ErrNotCancellable
	code, out = e.object(t, "DELETE", paymentsBase+"/"+payDraft.GUID, "admin", "")
	refused(t, "cancel a confirmed payment", code, out, 409, CodeConflict, "")
}

// TestPaymentsErrorMapping: each error of the service becomes its answer (paymentsError), on the route that
// can meet it.
func TestPaymentsErrorMapping(t *testing.T) {
	cases := []struct {
		name        string
		err         error
		status      int
		code, field string
		says        string
	}{
		{"insufficient funds", fmt.Errorf("app: reserve: %w", account.ErrInsufficientFunds), 422, CodeInsufficientFunds, "", "available balance"},
		{"route inside a bank", &payment.RouteError{From: payment.KindEmission, To: payment.KindCustomer}, 422, CodeRouteNotAllowed, "",
			"route emission → customer is not allowed within one counterparty"},
		{"route between banks", &payment.RouteError{From: payment.KindEmission, To: payment.KindProcessing, External: true}, 422, CodeRouteNotAllowed, "",
			"route emission → processing is not allowed between two counterparties"},
		{"route of a branch customer", &payment.RouteError{From: payment.KindCustomer, To: payment.KindProcessing, Reason: "a branch customer pays only its own branch's processing account"},
			422, CodeRouteNotAllowed, "", "its own branch's processing account"},
		{"bank_guid missing", fmt.Errorf("%w: bank_guid is required for a transfer to another counterparty", payment.ErrBankGUID), 422, CodeUnprocessable, "bank_guid", "required"},
		{"bank_guid wrong", fmt.Errorf("%w: the receiver belongs to %s", payment.ErrBankGUID, bankB), 422, CodeUnprocessable, "bank_guid", bankB},
		{"target balance", account.ErrTargetBalance, 422, CodeUnprocessable, "target_balance", "target_balance"},
		{"sender blocked", account.ErrBlocked, 422, CodeUnprocessable, "", "sender's account is blocked"},
		{"receiver blocked", fmt.Errorf("receiver: %w", account.ErrBlocked), 422, CodeUnprocessable, "", "receiver's account is blocked"},
		{"not confirmable", payment.ErrNotConfirmable, 409, CodeConflict, "", "no longer a draft"},
		{"not cancellable", payment.ErrNotCancellable, 409, CodeConflict, "", "only a draft"},
		{"exists", payment.ErrAlreadyExists, 409, CodeConflict, "", "already exists"},
		{"not found", payment.ErrNotFound, 404, CodeNotFound, "", "payment"},
		{"hidden", app.ErrPaymentHidden, 404, CodeNotFound, "", "payment"},
		{"account unknown", &app.UnknownAccountError{Field: "receiver", GUID: uuid.Nil.String()}, 404, CodeNotFound, "", "the receiver account " + uuid.Nil.String() + " does not exist"},
		{"category unknown", app.ErrCategoryUnknown, 422, CodeUnprocessable, "category_guid", "category"},
		{"sender disabled", app.ErrSenderDisabled, 422, CodeUnprocessable, "", "disabled"},
		{"wrong branch", app.ErrWrongBranch, 404, CodeNotFound, "", "branch"},
		{"not opened", account.ErrNotOpened, 422, CodeUnprocessable, "", "not open on Stellar"},
		{"domain field", &payment.ErrInvalid{Field: "receiver_id", Reason: "the sender and the receiver are the same account"}, 400, CodeInvalidField, "receiver_id", "same account"},
		{"idempotency", fmt.Errorf("%w: key", command.ErrIdempotencyConflict), 409, CodeIdempotencyConflict, "", "idempotency key"},
		{"busy", command.ErrTooManyConflicts, 409, CodeConflict, "", "retry"},
		{"slow", context.DeadlineExceeded, 503, CodeUnavailable, "", "retry"},
	}
	e := newPayAPI(t, payDraft)
	confirm := `{"payment_guid":"` + payDraft.GUID + `"}`
	for _, c := range cases {
		e.svc.err = c.err
		for _, r := range []struct{ method, path, body string }{{"POST", paymentsBase, paymentBody()}, {"POST", paymentsBase + "/confirm", confirm},
			{"DELETE", paymentsBase + "/" + payDraft.GUID, ""}} {
			code, body := e.object(t, r.method, r.path, "admin", r.body)
			refused(t, c.name+" on "+r.method+" "+r.path, code, body, c.status, c.code, c.field)
			if msg, _ := body["error"].(string); !strings.Contains(msg, c.says) {
				t.Errorf("%s: message %q does not say %q", c.name, msg, c.says)
			}
			if c.field == "" && body["field"] != nil {
				t.Errorf("%s: field %v", c.name, body["field"])
			}
		}
	}
	// An error nobody maps is a 500 that says nothing of its cause.
	e.svc.err = errors.New("bolt: stream payment-x at revision 7")
	code, body := e.object(t, "POST", paymentsBase, "admin", paymentBody())
	if msg, _ := body["error"].(string); code != 500 || body["code"] != CodeInternal || strings.Contains(msg, "bolt") || body["request_id"] == nil {
		t.Errorf("unmapped: %d %v", code, body)
	}
}

// TestPaymentVisibility: a bank sees the payments it made or holds a side of, a confined employee only its
// branch's; the rest are 404, never 403.
func TestPaymentVisibility(t *testing.T) {
	e := newPayAPI(t, payAB, payDraft, payOtherBranch, payB)
	bankBPayments := "/api/v1/counterparty/" + bankB + "/payments"
	for _, c := range []struct {
		path, guid, token string
		status            int
	}{
		{paymentsBase, payAB.GUID, "admin", 200},
		{paymentsBase, payDraft.GUID, "bank-a-" + RoleObserver, 200},
		{paymentsBase, payB.GUID, "admin", 404},
		{paymentsBase, uuid.NewString(), "admin", 404},
		{bankBPayments, payAB.GUID, "b-admin", 200}, // bank B holds the receiver's side
		{bankBPayments, payDraft.GUID, "b-admin", 404},
		{bankBPayments, payB.GUID, "b-admin", 200},
		{paymentsBase, payAB.GUID, "branch", 200}, // created in the employee's branch
		{paymentsBase, payDraft.GUID, "branch", 404},
		{paymentsBase, payOtherBranch.GUID, "branch", 404},
		{paymentsBase, payOtherBranch.GUID, "cx:bank-a-system", 200},
	} {
		w := do(t, e.h, "GET", c.path+"/"+c.guid, c.token, nil)
		if w.Code != c.status {
			t.Errorf("GET %s/%s as %s: %d %s, want %d", c.path, c.guid, c.token, w.Code, w.Body, c.status)
		} else if c.status == 404 {
			errorOf(t, w, 404, CodeNotFound)
		}
	}

	// Lists: the bank's, and a confined employee's only its branch's, on either route.
	list := func(path, token string) (int, []string, map[string]any) {
		t.Helper()
		code, body := e.object(t, "GET", path, token, "")
		var guids []string
		if items, ok := body["payments"].([]any); ok {
			for _, it := range items {
				guids = append(guids, it.(map[string]any)["guid"].(string))
			}
		}
		return code, guids, body
	}
	if code, guids, _ := list(paymentsBase, "admin"); code != 200 || !slices.Equal(guids, []string{payAB.GUID, payDraft.GUID, payOtherBranch.GUID}) || e.svc.query.Branch != "" {
		t.Errorf("bank list: %d %v %+v", code, guids, e.svc.query)
	}
	if code, guids, _ := list(bankBPayments, "b-admin"); code != 200 || !slices.Equal(guids, []string{payAB.GUID, payB.GUID}) || e.svc.query.Counterparty != bankB {
		t.Errorf("bank B's list: %d %v %+v", code, guids, e.svc.query)
	}
	for _, c := range []struct{ path, token string }{{paymentsBase, "branch"}, {branchPayments(branchX), "branch"}, {branchPayments(strings.ToUpper(branchX)), "admin"}} {
		if code, guids, _ := list(c.path, c.token); code != 200 || !slices.Equal(guids, []string{payAB.GUID}) || e.svc.query.Branch != branchX {
			t.Errorf("GET %s as %s: %d %v %+v", c.path, c.token, code, guids, e.svc.query)
		}
	}
	if code, guids, _ := list(branchPayments(branchOther), "admin"); code != 200 || !slices.Equal(guids, []string{payOtherBranch.GUID}) || e.svc.query.Branch != branchOther {
		t.Errorf("the other branch as the bank's administrator: %d %v", code, guids)
	}
	code, _, body := list(branchPayments(branchOther), "branch")
	refused(t, "another branch's list", code, body, 404, CodeNotFound, "branch_guid")
	// Another bank's path is the guard's: 403.
	if w := do(t, e.h, "GET", bankBPayments+"/"+payB.GUID, "admin", nil); w.Code != 403 {
		t.Errorf("bank A on bank B's path: %d", w.Code)
	}
}

// TestPaymentListQuery: every query parameter lands in the read model's query as parsed.
func TestPaymentListQuery(t *testing.T) {
	e := newPayAPI(t)
	g1, g2, s1, r1, c1, c2 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	q := "?guids=" + strings.ToUpper(g1) + "," + g2 + "&sender_ids=" + s1 + "&receiver_ids=" + r1 +
		"&sender_counterparty_guid=" + strings.ToUpper(bankA) + "&receiver_counterparty_guid=" + bankB +
		"&external_transaction_ids=AB12,cd34&external_transaction_ids=ef56&min_amount=1.5&max_amount=100&statuses=created,Pending&statuses=FAILED" +
		"&asset_codes=uah,eUAH,USD&asset_issuers=" + testIssuer + "&category_guids=" + c1 + "&category_guid=" + strings.ToUpper(c2) +
		"&created_at_min=2026-05-01T00:00:00Z&created_at_max=2026-05-02T00:00:00Z&updated_at_min=2026-05-03T00:00:00%2B03:00&updated_at_max=2026-05-04T00:00:00Z" +
		"&order=asc&offset=5&limit=7"
	w := do(t, e.h, "GET", paymentsBase+q, "bank-a-"+RoleObserver, nil)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"payments":[],"total":0}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	day := func(d int) time.Time { return time.Date(2026, 5, d, 0, 0, 0, 0, time.UTC) }
	// asset_codes names the platform's asset by either code (payments record the Stellar code); another
	// code passes as is and matches nothing.
	want := projections.PaymentQuery{Counterparty: bankA, GUIDs: []string{g1, g2}, SenderIDs: []string{s1}, ReceiverIDs: []string{r1},
		SenderCounterparty: bankA, ReceiverCounterparty: bankB, Hashes: []string{"AB12", "cd34", "ef56"}, MinAmount: minorUnits(150),
		MaxAmount: minorUnits(10000), Statuses: []payment.Status{payment.StatusCreated, payment.StatusPending, payment.StatusFailed},
		AssetCodes: []string{"eUAH", "eUAH", "USD"}, AssetIssuers: []string{testIssuer}, CategoryGUIDs: []string{c1, c2},
		CreatedFrom: day(1), CreatedTo: day(2), UpdatedFrom: time.Date(2026, 5, 3, 0, 0, 0, 0, time.FixedZone("", 3*3600)), UpdatedTo: day(4),
		Order: "asc", Offset: 5, Limit: 7}
	got := e.svc.query
	if !got.UpdatedFrom.Equal(want.UpdatedFrom) {
		t.Errorf("updated_at_min %v", got.UpdatedFrom)
	}
	got.UpdatedFrom = want.UpdatedFrom
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("query\n%+v\nwant\n%+v", got, want)
	}
	// Defaults: the bank, the first page of 20, the read model's order (newest first).
	if w := do(t, e.h, "GET", paymentsBase, "admin", nil); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if want := (projections.PaymentQuery{Counterparty: bankA, Limit: defaultPageLimit}); !reflect.DeepEqual(e.svc.query, want) {
		t.Errorf("default query %+v", e.svc.query)
	}
	for order, want := range map[string]string{"asc": "asc", "DESC": "desc", "created_at": "asc", "-created_at": "desc", "": ""} {
		if w := do(t, e.h, "GET", paymentsBase+"?order="+order, "admin", nil); w.Code != 200 || e.svc.query.Order != want {
			t.Errorf("order=%s: %d, query order %q", order, w.Code, e.svc.query.Order)
		}
	}
	// The branch list passes the same filters, and the branch.
	if w := do(t, e.h, "GET", branchPayments(branchX)+q, "admin", nil); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got = e.svc.query
	got.UpdatedFrom = want.UpdatedFrom
	want.Branch = branchX
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("branch query\n%+v\nwant\n%+v", got, want)
	}
}

func TestPaymentListBadQuery(t *testing.T) {
	e := newPayAPI(t)
	for q, field := range map[string]string{
		"?statuses=OPEN": "statuses", "?statuses=CREATED,x": "statuses", "?order=amount": "order", "?order=asc&order=desc": "order",
		"?limit=0": "limit", "?limit=1001": "limit", "?limit=ten": "limit", "?limit=1&limit=2": "limit", "?offset=-1": "offset",
		"?guids=x": "guids", "?sender_ids=" + bankA + ",x": "sender_ids", "?receiver_ids=1": "receiver_ids", "?category_guids=x": "category_guids",
		"?category_guid=x": "category_guid", "?category_guid=" + bankA + "&category_guid=" + bankB: "category_guid",
		"?sender_counterparty_guid=x": "sender_counterparty_guid", "?receiver_counterparty_guid=bank-b": "receiver_counterparty_guid",
		"?min_amount=1.234": "min_amount", "?max_amount=abc": "max_amount", "?min_amount=1e3": "min_amount",
		"?created_at_min=yesterday": "created_at_min", "?created_at_max=2026-05-01": "created_at_max", "?updated_at_min=1": "updated_at_min",
		"?updated_at_max=x": "updated_at_max", "?guids=" + strings.Repeat(bankA+",", maxListValues+1): "guids",
	} {
		for _, path := range []string{paymentsBase, branchPayments(branchX)} {
			code, body := e.object(t, "GET", path+q, "admin", "")
			if code != 400 || body["field"] != field || (body["code"] != CodeInvalidField && body["code"] != CodeMissingField) {
				t.Errorf("GET %s%.60s: %d %v, want 400 naming %s", path, q, code, body, field)
			}
		}
	}
	code, body := e.object(t, "GET", paymentsBase+"?guids=%zz", "admin", "")
	refused(t, "malformed query", code, body, 400, CodeInvalidRequest, "")
	code, body = e.object(t, "GET", branchPayments("x"), "admin", "")
	refused(t, "bad branch_guid", code, body, 400, CodeInvalidField, "branch_guid")
	code, body = e.object(t, "GET", paymentsBase+"/x", "admin", "")
	refused(t, "bad payment_guid", code, body, 400, CodeInvalidField, "payment_guid")
	// confirm is not a payment GUID: GET …/payments/confirm is a bad payment_guid, not another route.
	code, body = e.object(t, "GET", paymentsBase+"/confirm", "admin", "")
	refused(t, "GET confirm", code, body, 400, CodeInvalidField, "payment_guid")
	if w := do(t, e.h, "PUT", paymentsBase+"/"+payDraft.GUID, "admin", nil); w.Code != 405 || w.Header().Get("Allow") == "" {
		t.Errorf("PUT a payment: %d %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestPaymentRoutesWithoutService: a node without the payments service answers 503 after checking the request.
func TestPaymentRoutesWithoutService(t *testing.T) {
	d := Deps{Authenticator: testTokens(), Logger: quietLogger()}
	h := newRouter(d, paymentRoutesOf(d))
	admin := "bank-a-" + RoleAdministrator
	for _, r := range []struct{ method, path, body string }{{"GET", paymentsBase, ""}, {"GET", paymentsBase + "/" + payDraft.GUID, ""},
		{"POST", paymentsBase, paymentBody()}, {"POST", paymentsBase + "/confirm", `{"payment_guid":"` + payDraft.GUID + `"}`},
		{"DELETE", paymentsBase + "/" + payDraft.GUID, ""}, {"GET", branchPayments(branchX), ""}} {
		errorOf(t, sendTo(t, h, r.method, r.path, admin, r.body), 503, CodeUnavailable)
	}
	errorOf(t, sendTo(t, h, "POST", paymentsBase, admin, paymentBody("sender_id", "")), 400, CodeMissingField)
}

// payStack is the payment routes over the real stack, wired as serve wires it: app.Payments and the
// app.Settlement worker sharing one account book on a bolt store, the payments read model behind a Runner,
// and a localnet behind Horizon. Banks A and B are registered under the test's GUIDs; bank A has branch
// "Kyiv" with a processing entity whose IBAN is validIBAN, and its emission entity holds 1,000.00 issued.
type payStack struct {
	h                     http.Handler
	store                 *bolt.Store
	horizon               *stellar.Horizon
	pay                   *app.Payments
	issuer                string
	emA, prA, emB, prB    string
	branch, branchAccount string
}

func newPayStack(t *testing.T) *payStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	store, err := bolt.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mk, err := custody.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := custody.NewKeyring(1, map[custody.Version][]byte{1: mk})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := custody.NewVault(ring)
	if err != nil {
		t.Fatal(err)
	}
	n, err := localnet.Open(localnet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })
	horizon, err := stellar.NewHorizon(stellar.Config{HorizonURL: srv.URL, Passphrase: n.Passphrase(), RootSecret: n.Root().Seed()})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	plat, err := app.Bootstrap(ctx, app.PlatformDeps{Store: store, Vault: vault, Network: horizon, Logger: log,
		Config: app.PlatformConfig{Asset: testAsset, DataDir: dir, AdminPassword: "Platform-Admin-1"},
		HashPassword: func(pw string) (string, error) {
			h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			return string(h), err
		},
		NewRSAKey: func() (*rsa.PrivateKey, error) { return testRSAKey(t, 0), nil }})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}

	banks, roles, employees, branches, customers, payments := projections.NewCounterparties(), projections.NewRoles(),
		projections.NewEmployees(), projections.NewBranches(), projections.NewCustomers(), projections.NewPayments()
	runner, err := projections.NewRunner(store, projections.Options{Logger: log}, banks, roles, employees, branches, customers, payments)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRunner := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = runner.Run(runCtx) }()
	t.Cleanup(func() { stopRunner(); <-runDone })

	cps, err := app.NewCounterparties(app.CounterpartyDeps{Store: store, Vault: vault, Network: horizon, Platform: plat, Directory: banks,
		Roles: []rbac.RoleSpec{{Name: rbac.Administrator, Permissions: []string{PermPaymentsRead}}}, Known: func(string) bool { return true }, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	directory, err := app.NewDirectory(app.DirectoryDeps{Store: store, Employees: employees, Branches: branches, Roles: roles,
		WaitFor: runner.WaitFor, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	custs, err := app.NewCustomers(app.CustomerDeps{Store: store, Vault: vault, Network: horizon, Platform: plat, Counterparties: banks,
		BankAuth: bankauth.NewClient(plat.Keyring(), bankauth.ClientOptions{}), Views: customers, WaitFor: runner.WaitFor, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	book, err := app.NewAccountBook(store)
	if err != nil {
		t.Fatal(err)
	}
	// One account book and one payment book per process, shared by the use cases and the worker (as serve does).
	pbook, err := app.NewPaymentBook(store)
	if err != nil {
		t.Fatal(err)
	}
	pay, err := app.NewPayments(app.PaymentDeps{Store: store, Accounts: book, Book: pbook, Platform: plat, Views: payments, WaitFor: runner.WaitFor, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	batcher, err := horizon.NewBatcher(stellar.BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	settle, err := app.NewSettlement(app.SettlementDeps{Store: store, Accounts: book, Payments: pbook, Payer: batcher, Chain: horizon, Signers: custs.AccountSigners(),
		Platform: plat, Logger: log, InFlightWindow: 200 * time.Millisecond, RetryDelay: 50 * time.Millisecond, OrphanGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	settleCtx, stopSettle := context.WithCancel(context.Background())
	settleDone := make(chan struct{})
	go func() { defer close(settleDone); _ = settle.Run(settleCtx) }()
	t.Cleanup(func() { stopSettle(); <-settleDone; batcher.Close() })

	s := &payStack{store: store, horizon: horizon, pay: pay, issuer: plat.IssuerAddress()}
	for _, b := range []struct {
		guid, name string
		em, pr     *string
	}{{bankA, "Bank A", &s.emA, &s.prA}, {bankB, "Bank B", &s.emB, &s.prB}} {
		res, err := cps.RegisterCounterparty(ctx, app.Request{Actor: "admin"},
			app.CounterpartyRegistration{GUID: uuid.MustParse(b.guid), Profile: counterparty.Profile{Name: b.name}})
		if err != nil {
			t.Fatalf("register %s: %v", b.name, err)
		}
		if err := runner.WaitFor(ctx, res.Position); err != nil {
			t.Fatal(err)
		}
		*b.em, *b.pr = res.EmissionAccountGUID, res.ProcessingAccountGUID
	}
	br, err := directory.CreateBranch(ctx, uuid.MustParse(bankA), "Kyiv", app.Write{})
	if err != nil {
		t.Fatal(err)
	}
	s.branch = br.GUID
	ent, err := custs.OpenEntity(ctx, uuid.MustParse(bankA), app.EntityInput{Kind: account.KindProcessing, IBAN: validIBAN, BranchGUID: s.branch}, app.Write{})
	if err != nil {
		t.Fatalf("branch entity: %v", err)
	}
	s.branchAccount = ent.GUID

	em := uuid.New()
	issue := uuid.NewSHA1(em, []byte("payment"))
	if err := pay.StartEmissionPayment(ctx, app.EmissionPayment{Payment: issue, Emission: em, CounterpartyGUID: uuid.MustParse(bankA),
		EmissionAccount: uuid.MustParse(s.emA), Amount: 1000_00}, app.Write{}); err != nil {
		t.Fatalf("issue: %v", err)
	}
	if st := s.settled(t, issue.String()); st != payment.StatusConfirmed {
		t.Fatalf("issue: %s", st)
	}

	toks := testTokens()
	scoped := employee(bankA, RoleAdministrator)
	scoped.BranchGUID = s.branch
	toks["admin"], toks["branch"], toks["b-admin"] = employee(bankA, RoleAdministrator), scoped, employee(bankB, RoleAdministrator)
	d := Deps{Authenticator: toks, Logger: quietLogger(), Payments: pay, ReadModels: runner}
	s.h = newRouter(d, paymentRoutesOf(d))
	return s
}

// settled waits until the read model shows the payment final (the settlement worker runs on its own, and
// nothing makes a read wait for its writes) and returns its status.
func (s *payStack) settled(t *testing.T, guid string) payment.Status {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if p, ok := s.pay.PaymentView(context.Background(), guid); ok && p.Status.Final() {
			return p.Status
		}
	}
	t.Fatalf("payment %s not final in time", guid)
	return ""
}

func (s *payStack) object(t *testing.T, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	w := sendTo(t, s.h, method, path, token, body, hdr...)
	var out map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	return w.Code, out
}

func (s *payStack) body(amount string, fields ...string) string {
	b := `{"amount":` + amount + `,"asset_code":"UAH","asset_issuer":"` + s.issuer + `"`
	for i := 0; i+1 < len(fields); i += 2 {
		b += `,"` + fields[i] + `":"` + fields[i+1] + `"`
	}
	return b + "}"
}

// TestPaymentsEndToEnd runs transfers through the router on the real stack: a draft, its confirmation and
// settlement on the local Stellar network, a cancellation, the refusals that write nothing, another bank's
// view, the branch routes and the list filters over the real read model.
func TestPaymentsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a local Stellar network")
	}
	s := newPayStack(t)
	bankBBase := "/api/v1/counterparty/" + bankB + "/payments"

	// A draft from the emission entity to the branch's processing entity, named by its IBAN in paper form.
	create := s.body("250.5", "sender_id", strings.ToUpper(s.emA), "receiver_iban", "UA21 3223 1300 0002 6007 2335 6600 1", "purpose", "float for Kyiv")
	code, out := s.object(t, "POST", paymentsBase, "admin", create, "Idempotency-Key", "float-1")
	if code != 200 || !slices.Equal(keysOf(out), []string{"guid"}) {
		t.Fatalf("create: %d %v", code, out)
	}
	float := out["guid"].(string)
	// The same key and body: the same payment; the key with another body: 409.
	if code, out := s.object(t, "POST", paymentsBase, "admin", create, "Idempotency-Key", "float-1"); code != 200 || out["guid"] != float {
		t.Fatalf("replay: %d %v, want guid %s", code, out, float)
	}
	code, out = s.object(t, "POST", paymentsBase, "admin", s.body("250.51", "sender_id", s.emA, "receiver_iban", validIBAN), "Idempotency-Key", "float-1")
	refused(t, "key reused with another body", code, out, 409, CodeIdempotencyConflict, "")

	// Read back at once (read-your-writes): the guide's object and Kazna's receiver_iban and created_by.
	w := sendTo(t, s.h, "GET", paymentsBase+"/"+float, "bank-a-"+RoleObserver, "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"amount":250.5,`) || !strings.Contains(w.Body.String(), `"target_balance":null`) {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	var got map[string]any
	decodeNumbers(t, w.Body.Bytes(), &got)
	if want := sortedUnion(guidePaymentKeys, []string{"created_by", "receiver_iban"}); !slices.Equal(keysOf(got), want) {
		t.Fatalf("keys %v, want %v", keysOf(got), want)
	}
	want := map[string]any{"amount": json.Number("250.5"), "asset_code": "eUAH", "asset_issuer": s.issuer, "category": "", "category_guid": "",
		"deleted_at": nil, "fee": json.Number("0"), "guid": float, "purpose": "float for Kyiv", "receiver_account_account_kind": "processing",
		"receiver_counterparty": bankA, "receiver_id": s.branchAccount, "sender_account_account_kind": "emission", "sender_counterparty": bankA,
		"sender_id": s.emA, "status": "CREATED", "target_balance": nil, "receiver_iban": validIBAN, "created_by": "emp@0b0c"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}

	// Confirmed (bank_guid may name the bank itself inside it): PENDING, then settled on chain.
	code, out = s.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+strings.ToUpper(float)+`","bank_guid":"`+bankA+`"}`,
		"Idempotency-Key", "float-1-confirm")
	if code != 200 || !slices.Equal(keysOf(out), []string{"guid", "status"}) || out["guid"] != float || (out["status"] != "PENDING" && out["status"] != "CONFIRMED") {
		t.Fatalf("confirm: %d %v", code, out)
	}
	if st := s.settled(t, float); st != payment.StatusConfirmed {
		t.Fatalf("settlement: %s", st)
	}
	if code, out := s.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+float+`"}`); code != 200 || out["status"] != "CONFIRMED" {
		t.Fatalf("confirm again: %d %v", code, out)
	}
	code, got = s.object(t, "GET", paymentsBase+"/"+float+"?with_stellar_info=true", "admin", "")
	info, _ := got["stellar_info"].(map[string]any)
	hash, _ := info["hash"].(string)
	if code != 200 || got["status"] != "CONFIRMED" || len(hash) != 64 || info["ledger"] == nil || got["bank_guid"] != bankA {
		t.Fatalf("settled: %d %v", code, got)
	}
	if rec, err := s.horizon.FindPayment(context.Background(), mustView(t, s.pay, float).Sender.Address, float); err != nil || rec.TxHash != hash {
		t.Fatalf("on chain: %+v %v, want hash %s", rec, err, hash)
	}
	if code, got := s.object(t, "GET", paymentsBase+"/"+float, "admin", ""); code != 200 || got["stellar_info"] != nil {
		t.Fatalf("stellar_info without asking: %v", got)
	}
	code, out = s.object(t, "DELETE", paymentsBase+"/"+float, "admin", "")
	refused(t, "cancel a confirmed payment", code, out, 409, CodeConflict, "")

	// A draft cancelled: deleted_at set, cancelling again changes nothing, confirming it is 409.
	code, out = s.object(t, "POST", paymentsBase, "admin", s.body("1", "sender_id", s.emA, "receiver_id", s.prA))
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	draft := out["guid"].(string)
	for i := range 2 {
		if w := sendTo(t, s.h, "DELETE", paymentsBase+"/"+draft, "admin", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
			t.Fatalf("cancel %d: %d %s", i, w.Code, w.Body)
		}
	}
	if code, got := s.object(t, "GET", paymentsBase+"/"+draft, "admin", ""); code != 200 || got["status"] != "CANCELLED" || got["deleted_at"] == nil {
		t.Fatalf("cancelled: %d %v", code, got)
	}
	code, out = s.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+draft+`"}`)
	refused(t, "confirm a cancelled draft", code, out, 409, CodeConflict, "")

	// Refusals write nothing: 400s, then rule refusals (422) and another bank's payment (404).
	before := s.store.LastPosition()
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"three decimals", "POST", paymentsBase, s.body("1.005", "sender_id", s.emA, "receiver_id", s.prA), 400, CodeInvalidField, "amount"},
		{"exponent", "POST", paymentsBase, s.body("1e2", "sender_id", s.emA, "receiver_id", s.prA), 400, CodeInvalidField, "amount"},
		{"no sender", "POST", paymentsBase, s.body("1", "receiver_id", s.prA), 400, CodeMissingField, "sender_id"},
		{"bad receiver_id", "POST", paymentsBase, s.body("1", "sender_id", s.emA, "receiver_id", "x"), 400, CodeInvalidField, "receiver_id"},
		{"unknown field", "POST", paymentsBase, s.body("1", "sender_id", s.emA, "receiver_id", s.prA, "fee", "0"), 400, CodeUnknownField, "fee"},
		{"bad payment_guid", "POST", paymentsBase + "/confirm", `{"payment_guid":"x"}`, 400, CodeInvalidField, "payment_guid"},
		{"bad cancel", "DELETE", paymentsBase + "/x", "", 400, CodeInvalidField, "payment_guid"},
		{"bad status", "GET", paymentsBase + "?statuses=DONE", "", 400, CodeInvalidField, "statuses"},
		{"route", "POST", paymentsBase, s.body("1", "sender_id", s.emA, "receiver_id", s.prB), 422, CodeRouteNotAllowed, ""},
		{"route inside", "POST", paymentsBase, s.body("1", "sender_id", s.emA, "receiver_id", s.emA), 400, CodeInvalidField, "receiver_id"},
		{"unknown category", "POST", paymentsBase, s.body("1", "sender_id", s.emA, "receiver_id", s.prA, "category_guid", uuid.NewString()), 422, CodeUnprocessable, "category_guid"},
		{"unknown receiver", "POST", paymentsBase, s.body("1", "sender_id", s.emA, "receiver_id", uuid.NewString()), 404, CodeNotFound, ""},
		{"another bank's sender", "POST", paymentsBase, s.body("1", "sender_id", s.prB, "receiver_id", s.prA), 400, CodeInvalidField, "sender_id"},
		{"other asset", "POST", paymentsBase, `{"amount":1,"asset_code":"USD","asset_issuer":"` + s.issuer + `","sender_id":"` + s.emA + `","receiver_id":"` + s.prA + `"}`, 422, CodeUnprocessable, "asset_code"},
		{"bank B reads A's", "GET", bankBBase + "/" + draft, "", 404, CodeNotFound, ""},
		{"bank B cancels A's", "DELETE", bankBBase + "/" + float, "", 404, CodeNotFound, ""},
		{"unknown payment", "POST", paymentsBase + "/confirm", `{"payment_guid":"` + uuid.NewString() + `"}`, 404, CodeNotFound, ""},
	} {
		token := "admin"
		if strings.HasPrefix(c.path, bankBBase) {
			token = "b-admin"
		}
		code, out := s.object(t, c.method, c.path, token, c.body)
		refused(t, c.name, code, out, c.status, c.code, c.field)
		if c.code == CodeRouteNotAllowed {
			if msg := out["error"].(string); !strings.Contains(msg, "emission → processing") || !strings.Contains(msg, "between two counterparties") {
				t.Errorf("route message %q", msg)
			}
		}
	}
	if after := s.store.LastPosition(); after != before {
		t.Errorf("refused requests wrote: %v → %v", before, after)
	}

	// Between banks: bank_guid is required and must be the receiver's; the sender's processing holds nothing.
	code, out = s.object(t, "POST", paymentsBase, "admin", s.body("10", "sender_id", s.prA, "receiver_id", s.prB))
	if code != 200 {
		t.Fatalf("create A → B: %d %v", code, out)
	}
	ab := out["guid"].(string)
	before = s.store.LastPosition()
	for _, c := range []struct {
		bank, code, field, says string
	}{{"", CodeUnprocessable, "bank_guid", "required"}, {bankA, CodeUnprocessable, "bank_guid", bankB}, {bankB, CodeInsufficientFunds, "", "available balance"}} {
		body := `{"payment_guid":"` + ab + `"`
		if c.bank != "" {
			body += `,"bank_guid":"` + c.bank + `"`
		}
		code, out := s.object(t, "POST", paymentsBase+"/confirm", "admin", body+"}")
		refused(t, "confirm A → B with bank_guid "+c.bank, code, out, 422, c.code, c.field)
		if msg, _ := out["error"].(string); !strings.Contains(msg, c.says) {
			t.Errorf("bank_guid %q: message %q does not say %q", c.bank, msg, c.says)
		}
	}
	// Bank B sees the payment it receives, but cannot confirm or cancel bank A's draft.
	if code, got := s.object(t, "GET", bankBBase+"/"+ab, "b-admin", ""); code != 200 || got["receiver_counterparty"] != bankB || got["status"] != "CREATED" {
		t.Errorf("bank B reads its incoming payment: %d %v", code, got)
	}
	code, out = s.object(t, "POST", bankBBase+"/confirm", "b-admin", `{"payment_guid":"`+ab+`","bank_guid":"`+bankB+`"}`)
	refused(t, "bank B confirms A's draft", code, out, 404, CodeNotFound, "")
	code, out = s.object(t, "DELETE", bankBBase+"/"+ab, "b-admin", "")
	refused(t, "bank B cancels A's draft", code, out, 404, CodeNotFound, "")
	if after := s.store.LastPosition(); after != before {
		t.Errorf("refused confirmations wrote: %v → %v", before, after)
	}

	// The branch: its employee sees only payments with a side in it, pays from its entity (named by IBAN)
	// on the branch routes, and cannot pay from the bank's emission entity there.
	branchBase := branchPayments(s.branch)
	list := func(path, token string) []string {
		t.Helper()
		code, body := s.object(t, "GET", path, token, "")
		if code != 200 {
			t.Fatalf("GET %s as %s: %d %v", path, token, code, body)
		}
		var guids []string
		for _, it := range body["payments"].([]any) {
			guids = append(guids, it.(map[string]any)["guid"].(string))
		}
		if total := body["total"].(json.Number).String(); total != fmt.Sprint(len(guids)) && !strings.Contains(path, "limit=") {
			t.Errorf("GET %s: total %s for %d payments", path, total, len(guids))
		}
		return guids
	}
	for _, c := range []struct{ path, token string }{{paymentsBase, "branch"}, {branchBase, "branch"}, {branchBase, "admin"}} {
		if got := list(c.path, c.token); !slices.Equal(got, []string{float}) {
			t.Errorf("GET %s as %s: %v, want only %s", c.path, c.token, got, float)
		}
	}
	code, out = s.object(t, "GET", branchPayments(uuid.NewString()), "branch", "")
	refused(t, "another branch's list", code, out, 404, CodeNotFound, "branch_guid")
	code, out = s.object(t, "GET", paymentsBase+"/"+ab, "branch", "")
	refused(t, "a payment outside the branch", code, out, 404, CodeNotFound, "")
	code, out = s.object(t, "POST", branchBase, "branch", s.body("5", "sender_id", s.emA, "receiver_id", s.prA))
	refused(t, "the bank's entity on the branch route", code, out, 404, CodeNotFound, "")

	// target_balance is checked when the draft is confirmed: a wrong one reserves nothing.
	withTarget := func(body, target string) string {
		return strings.TrimSuffix(body, "}") + `,"target_balance":` + target + "}"
	}
	code, out = s.object(t, "POST", branchBase, "branch", withTarget(s.body("50.25", "sender_iban", validIBAN, "receiver_id", s.emA), "200.24"))
	if code != 200 {
		t.Fatalf("branch create: %d %v", code, out)
	}
	wrong := out["guid"].(string)
	before = s.store.LastPosition()
	code, out = s.object(t, "POST", branchBase+"/confirm", "branch", `{"payment_guid":"`+wrong+`"}`)
	refused(t, "a wrong target_balance", code, out, 422, CodeUnprocessable, "target_balance")
	if after := s.store.LastPosition(); after != before {
		t.Errorf("a refused confirmation wrote: %v → %v", before, after)
	}
	if w := sendTo(t, s.h, "DELETE", paymentsBase+"/"+wrong, "branch", ""); w.Code != 200 {
		t.Fatalf("cancel: %d %s", w.Code, w.Body)
	}

	code, out = s.object(t, "POST", branchBase, "branch", withTarget(s.body("50.25", "sender_iban", validIBAN, "receiver_id", s.emA, "purpose", "back"), "200.25"))
	if code != 200 {
		t.Fatalf("branch create: %d %v", code, out)
	}
	back := out["guid"].(string)
	code, out = s.object(t, "POST", branchBase+"/confirm", "branch", `{"payment_guid":"`+back+`"}`)
	if code != 200 || out["guid"] != back {
		t.Fatalf("branch confirm: %d %v", code, out)
	}
	if st := s.settled(t, back); st != payment.StatusConfirmed {
		t.Fatalf("branch payment: %s", st)
	}
	code, got = s.object(t, "GET", paymentsBase+"/"+back, "branch", "")
	if code != 200 || got["branch_guid"] != s.branch || got["sender_iban"] != validIBAN || got["amount"] != json.Number("50.25") ||
		got["target_balance"] != json.Number("200.25") {
		t.Errorf("branch payment: %d %v", code, got)
	}
	if got := list(branchBase+"?order=asc", "branch"); !slices.Equal(got, []string{float, wrong, back}) {
		t.Errorf("branch list ascending: %v", got)
	}

	// The filters reach the read model: the bank's six payments (the issue included, as its bank's).
	for q, want := range map[string][]string{
		"?statuses=confirmed&order=asc&sender_counterparty_guid=" + bankA + "&receiver_ids=" + s.branchAccount: {float},
		"?statuses=CANCELLED":                {wrong, draft},
		"?statuses=created":                  {ab},
		"?min_amount=250.5&max_amount=250.5": {float},
		"?guids=" + strings.ToUpper(back) + "," + draft + "&order=asc": {draft, back},
		"?sender_ids=" + s.prA:                                                     {ab},
		"?receiver_counterparty_guid=" + bankB:                                     {ab},
		"?external_transaction_ids=" + strings.ToUpper(hash):                       {float},
		"?asset_codes=eUAH&asset_issuers=" + s.issuer + "&statuses=FAILED":         nil,
		"?asset_codes=UAH&statuses=CANCELLED":                                      {wrong, draft},
		"?asset_codes=USD":                                                         nil,
		"?order=desc&limit=1&offset=2":                                             {ab},
		"?created_at_min=2000-01-01T00:00:00Z&updated_at_max=2000-01-01T00:00:00Z": nil,
	} {
		if got := list(paymentsBase+q, "admin"); !slices.Equal(got, want) {
			t.Errorf("GET payments%s: %v, want %v", q, got, want)
		}
	}
	if code, body := s.object(t, "GET", paymentsBase+"?order=desc&limit=1&offset=2", "admin", ""); code != 200 || body["total"] != json.Number("6") {
		t.Errorf("a page of one: %d total %v, want the 6 that match", code, body["total"])
	}
	if got := list(paymentsBase+"?limit=1000", "admin"); len(got) != 6 {
		t.Errorf("all of bank A's payments: %v", got)
	}
	if got := list(bankBBase, "b-admin"); !slices.Equal(got, []string{ab}) {
		t.Errorf("bank B's payments: %v", got)
	}
}

func mustView(t *testing.T, pay *app.Payments, guid string) projections.Payment {
	t.Helper()
	p, ok := pay.PaymentView(context.Background(), guid)
	if !ok {
		t.Fatalf("payment %s not in the read model", guid)
	}
	return p
}

// jsonNames lists the JSON member names of a struct type, sorted.
func jsonNames(v any) []string {
	var out []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// TestPaymentSchemasMatchAnswers: openapi.json documents exactly the members the handlers read and send, marks
// Kazna's additions INFERRED, lists the statuses of the domain, and documents every list filter paymentQuery
// reads on both list routes.
func TestPaymentSchemasMatchAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	type property struct {
		Description string   `json:"description"`
		Enum        []string `json:"enum"`
		Items       struct {
			Enum []string `json:"enum"`
		} `json:"items"`
	}
	schema := func(name string) (props map[string]property, required []string) {
		var s struct {
			Properties map[string]property `json:"properties"`
			Required   []string            `json:"required"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[name], &s); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		return s.Properties, s.Required
	}
	keys := func(m map[string]property) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	for name, v := range map[string]any{"Payment": paymentView{}, "PaymentStellarInfo": stellarInfo{}, "PaymentList": paymentsResponse{},
		"PaymentCreateRequest": paymentCreateRequest{}, "PaymentConfirmRequest": paymentConfirmRequest{}, "PaymentConfirmResponse": paymentConfirmResponse{}} {
		if props, _ := schema(name); !slices.Equal(keys(props), jsonNames(v)) {
			t.Errorf("schema %s has %v, the handlers %v", name, keys(props), jsonNames(v))
		}
	}
	props, required := schema("Payment")
	if !slices.Equal(keys(props), sortedUnion(sortedUnion(guidePaymentKeys, kaznaPaymentKeys), []string{"stellar_info"})) {
		t.Errorf("Payment has %v", keys(props))
	}
	if slices.Sort(required); !slices.Equal(required, guidePaymentKeys) {
		t.Errorf("Payment requires %v, want the guide's %v", required, guidePaymentKeys)
	}
	for _, k := range kaznaPaymentKeys {
		if !strings.Contains(props[k].Description, "INFERRED") {
			t.Errorf("Payment.%s is Kazna's but not marked INFERRED", k)
		}
	}
	var statuses []string
	for _, s := range payment.Statuses {
		statuses = append(statuses, string(s))
	}
	if !slices.Equal(props["status"].Enum, statuses) || !strings.Contains(props["status"].Description, "INFERRED") {
		t.Errorf("Payment.status %+v, the domain's %v", props["status"], statuses)
	}
	if info, _ := schema("PaymentStellarInfo"); !strings.Contains(info["ledger"].Description, "INFERRED") {
		t.Error("stellar_info.ledger is Kazna's but not marked INFERRED")
	}

	var raw struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
			Parameters  []struct {
				Name   string   `json:"name"`
				Ref    string   `json:"$ref"`
				Schema property `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapiDocument, &raw); err != nil {
		t.Fatal(err)
	}
	filters := []string{"asset_codes", "asset_issuers", "category_guid", "category_guids", "created_at_max", "created_at_min",
		"external_transaction_ids", "guids", "limit", "max_amount", "min_amount", "offset", "order", "receiver_counterparty_guid",
		"receiver_ids", "sender_counterparty_guid", "sender_ids", "statuses", "updated_at_max", "updated_at_min"}
	for path, extra := range map[string][]string{cp + "/payments": {"counterparty_guid"}, cp + "/branch/{branch_guid}/payments": {"branch_guid", "counterparty_guid"}} {
		var names []string
		for _, p := range raw.Paths[path]["get"].Parameters {
			name := p.Name
			if name == "" {
				name = p.Ref[strings.LastIndexByte(p.Ref, '/')+1:]
			}
			names = append(names, name)
			if name == "statuses" && !slices.Equal(p.Schema.Items.Enum, statuses) {
				t.Errorf("GET %s statuses enum %v", path, p.Schema.Items.Enum)
			}
		}
		slices.Sort(names)
		if want := sortedUnion(filters, extra); !slices.Equal(names, want) {
			t.Errorf("GET %s documents %v, paymentQuery reads %v", path, names, want)
		}
	}
	for _, op := range []struct{ path, method string }{{cp + "/payments/{payment_guid}", "delete"}, {cp + "/payments/confirm", "post"}, {cp + "/payments", "get"}} {
		if !strings.Contains(raw.Paths[op.path][op.method].Description, "INFERRED") {
			t.Errorf("%s %s is Kazna's inference but not marked INFERRED", op.method, op.path)
		}
	}
	if d, _ := schema("PaymentConfirmResponse"); d == nil || !strings.Contains(string(doc.Components.Schemas["PaymentConfirmResponse"]), "INFERRED") {
		t.Error("the confirmation's answer is Kazna's but not marked INFERRED")
	}
}
