package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/limits"
	"github.com/kazna-ledger/kazna/domain/money"
)

// fakeLimits keeps the rules with the real limits domain, as app.Limits does, without a store.
type fakeLimits struct {
	mu     sync.Mutex
	state  map[uuid.UUID]limits.State
	writes []app.Write
}

func (f *fakeLimits) apply(cp uuid.UUID, cmd any, w app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, w)
	s := f.state[cp]
	evs, err := limits.Decide(s, cmd)
	if err != nil {
		return app.Written{}, err
	}
	for _, e := range evs {
		s = limits.Evolve(s, e)
	}
	f.state[cp] = s
	return app.Written{}, nil
}

func (f *fakeLimits) norm(t limits.Target) limits.Target {
	t.AssetCode, t.AssetIssuer = testAsset.StellarCode, testIssuer
	return t
}

func (f *fakeLimits) SetOperation(_ context.Context, cp uuid.UUID, t limits.Target, o limits.Operation, w app.Write) (app.Written, error) {
	return f.apply(cp, limits.SetOperation{Target: f.norm(t), Operation: o, At: payT0}, w)
}
func (f *fakeLimits) RemoveOperation(_ context.Context, cp uuid.UUID, t limits.Target, w app.Write) (app.Written, error) {
	return f.apply(cp, limits.RemoveOperation{Target: f.norm(t), At: payT0}, w)
}
func (f *fakeLimits) SetWindow(_ context.Context, cp uuid.UUID, t limits.Target, win limits.Window, w app.Write) (app.Written, error) {
	return f.apply(cp, limits.SetWindow{Target: f.norm(t), Window: win, At: payT0}, w)
}
func (f *fakeLimits) RemoveWindow(_ context.Context, cp uuid.UUID, t limits.Target, period string, days int, w app.Write) (app.Written, error) {
	return f.apply(cp, limits.RemoveWindow{Target: f.norm(t), Period: period, Days: days, At: payT0}, w)
}
func (f *fakeLimits) Rules(_ context.Context, cp uuid.UUID) (limits.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state[cp], nil
}
func (f *fakeLimits) Asset() (money.Asset, string) { return testAsset, testIssuer }

func newLimitsAPI(t *testing.T) (*fakeLimits, http.Handler) {
	t.Helper()
	toks := testTokens()
	toks["admin"], toks["observer"], toks["b-admin"] = employee(bankA, RoleAdministrator), employee(bankA, RoleObserver), employee(bankB, RoleAdministrator)
	f := &fakeLimits{state: map[uuid.UUID]limits.State{}}
	d := Deps{Authenticator: toks, Logger: quietLogger(), PaymentLimits: f}
	return f, newRouter(d, limitRoutes(d))
}

func TestLimitEndpointsSetListAndRemove(t *testing.T) {
	f, h := newLimitsAPI(t)
	base := "/api/v1/counterparty/" + bankA + "/limits"
	cust, acct := uuid.NewString(), uuid.NewString()
	ind := `"customer_guid":"` + strings.ToUpper(cust) + `","account_type_guid":"` + acct + `","asset_code":"UAH","asset_issuer":"` + testIssuer + `"`
	for _, c := range []struct{ path, body string }{
		{"/customer/amount", `{` + ind + `,"max":1000.1,"period":"day","period_key":"daily"}`},
		{"/customer/amount", `{` + ind + `,"max":5000,"max_count":20,"period":"custom","days":10}`},
		{"/customer/payment", `{` + ind + `,"min":9.9,"max":100.1}`},
		{"/segment/payment", `{"segment_name":"retail","asset_code":"eUAH","max":200}`},
		{"/kyc/amount", `{"kyc_level":0,"asset_code":"UAH","period":"month","max":30000}`},
	} {
		if w := sendTo(t, h, "POST", base+c.path, "admin", c.body, "Idempotency-Key", "k-"+c.path); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("POST %s: %d %s", c.path, w.Code, w.Body)
		}
	}
	if len(f.writes) != 5 || f.writes[0].IdempotencyKey != "k-/customer/amount" || f.writes[0].Metadata.Actor == "" {
		t.Fatalf("writes %+v", f.writes)
	}
	// The guide's shapes: /amount keyed by period, /payment with min and max; an observer may read.
	w := sendTo(t, h, "GET", base+"/customer/amount?customer_guid="+cust, "observer", "")
	var amount struct {
		Columns []struct {
			AccountTypeGUID string `json:"account_type_guid"`
			CustomerGUID    string `json:"customer_guid"`
			AssetCode       string `json:"asset_code"`
			Period          map[string]struct {
				Max       json.Number `json:"max"`
				MaxCount  int         `json:"max_count"`
				Days      int         `json:"days"`
				PeriodKey string      `json:"period_key"`
			} `json:"period"`
		} `json:"columns"`
	}
	decodeNumbers(t, w.Body.Bytes(), &amount)
	if w.Code != 200 || len(amount.Columns) != 1 {
		t.Fatalf("GET amount: %d %s", w.Code, w.Body)
	}
	col := amount.Columns[0]
	if col.CustomerGUID != cust || col.AccountTypeGUID != acct || col.AssetCode != "eUAH" || col.Period["day"].Max != "1000.1" ||
		col.Period["day"].PeriodKey != "daily" || col.Period["custom_10"].MaxCount != 20 || col.Period["custom_10"].Days != 10 {
		t.Fatalf("GET amount: %s", w.Body)
	}
	w = sendTo(t, h, "GET", base+"/customer/payment", "observer", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"min":9.9,"max":100.1`) {
		t.Fatalf("GET payment: %d %s", w.Code, w.Body)
	}
	if w := sendTo(t, h, "GET", base+"/kyc/amount?kyc_level=0", "observer", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"kyc_level":0`) ||
		!strings.Contains(w.Body.String(), `"month":{"max":30000,"days":30`) {
		t.Fatalf("GET kyc: %d %s", w.Code, w.Body)
	}
	// Another bank sees none of them.
	if w := sendTo(t, h, "GET", "/api/v1/counterparty/"+bankB+"/limits/customer/amount", "b-admin", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"columns":[]}` {
		t.Fatalf("bank B: %d %s", w.Code, w.Body)
	}
	// Remove the custom window; removing it again is 404.
	del := base + "/customer/amount?customer_guid=" + cust + "&account_type_guid=" + acct + "&asset_code=UAH&period=custom&days=10"
	if w := sendTo(t, h, "DELETE", del, "admin", ""); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	code, out := objectOf(t, h, "DELETE", del, "admin", "")
	refused(t, "delete twice", code, out, 404, CodeNotFound, "")
	if w := sendTo(t, h, "GET", base+"/customer/amount", "admin", ""); strings.Contains(w.Body.String(), "custom_10") {
		t.Fatalf("removed window still listed: %s", w.Body)
	}
}

func objectOf(t *testing.T, h http.Handler, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	w := sendTo(t, h, method, path, token, body)
	var out map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	return w.Code, out
}

func TestLimitEndpointsRefuseBadInput(t *testing.T) {
	f, h := newLimitsAPI(t)
	base := "/api/v1/counterparty/" + bankA + "/limits"
	ind := `"customer_guid":"` + uuid.NewString() + `","account_type_guid":"` + uuid.NewString() + `","asset_code":"UAH"`
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		code, field                     string
	}{
		{"observer writes", "POST", "/customer/amount", "observer", `{` + ind + `,"max":1,"period":"day"}`, 403, CodeForbidden, ""},
		{"no customer", "POST", "/customer/amount", "admin", `{"account_type_guid":"` + uuid.NewString() + `","asset_code":"UAH","max":1,"period":"day"}`, 400, CodeMissingField, "customer_guid"},
		{"bad customer", "POST", "/customer/payment", "admin", `{"customer_guid":"x","account_type_guid":"` + uuid.NewString() + `","asset_code":"UAH","max":1}`, 400, CodeInvalidField, "customer_guid"},
		{"no period", "POST", "/customer/amount", "admin", `{` + ind + `,"max":1}`, 400, CodeMissingField, "period"},
		{"unknown period", "POST", "/customer/amount", "admin", `{` + ind + `,"max":1,"period":"fortnight"}`, 400, CodeInvalidField, "period"},
		{"custom of one day", "POST", "/customer/amount", "admin", `{` + ind + `,"max":1,"period":"custom","days":1}`, 400, CodeInvalidField, "days"},
		{"too many decimals", "POST", "/customer/amount", "admin", `{` + ind + `,"max":1.001,"period":"day"}`, 400, CodeInvalidField, "max"},
		{"negative max", "POST", "/customer/payment", "admin", `{` + ind + `,"max":-5}`, 400, CodeInvalidField, "max"},
		{"min not below max", "POST", "/customer/payment", "admin", `{` + ind + `,"min":10,"max":10.01}`, 400, CodeInvalidField, "min"},
		{"no bounds", "POST", "/customer/payment", "admin", `{` + ind + `}`, 400, CodeInvalidField, "max"},
		{"no segment", "POST", "/segment/payment", "admin", `{"asset_code":"UAH","max":1}`, 400, CodeMissingField, "segment_name"},
		{"no kyc level", "POST", "/kyc/payment", "admin", `{"asset_code":"UAH","max":1}`, 400, CodeMissingField, "kyc_level"},
		{"no asset", "POST", "/kyc/payment", "admin", `{"kyc_level":1,"max":1}`, 400, CodeMissingField, "asset_code"},
		{"unknown field", "POST", "/kyc/payment", "admin", `{"kyc_level":1,"asset_code":"UAH","max":1,"maximum":2}`, 400, CodeUnknownField, "maximum"},
		{"max a string", "POST", "/kyc/payment", "admin", `{"kyc_level":1,"asset_code":"UAH","max":"1"}`, 400, CodeInvalidField, "max"},
		{"delete without period", "DELETE", "/kyc/amount?kyc_level=1&asset_code=UAH", "admin", "", 400, CodeMissingField, "period"},
		{"delete unknown", "DELETE", "/kyc/payment?kyc_level=1&asset_code=UAH", "admin", "", 404, CodeNotFound, ""},
		{"list bad customer", "GET", "/customer/amount?customer_guid=42", "admin", "", 400, CodeInvalidField, "customer_guid"},
	} {
		code, out := objectOf(t, h, c.method, base+c.path, c.token, c.body)
		refused(t, c.name, code, out, c.status, c.code, c.field)
	}
	for cp, s := range f.state {
		if len(s.Rules) != 0 {
			t.Fatalf("a refused request wrote a rule for %s: %+v", cp, s.Rules)
		}
	}
}

func TestConfirmRefusedByALimitSaysWhichAndWhatIsLeft(t *testing.T) {
	e := newPayAPI(t, payDraft)
	e.svc.err = fmt.Errorf("app: reserve: %w", &account.LimitError{Limit: "window_amount", Source: "individual", Period: "day", Days: 1,
		Bound: 1000_10, Used: 950_00, Allowed: 50_09, Amount: 60_00})
	code, out := e.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+payDraft.GUID+`"}`)
	refused(t, "window", code, out, 422, CodeLimitExceeded, "")
	d, _ := out["details"].(map[string]any)
	want := map[string]any{"limit": "window_amount", "source": "individual", "period": "day", "days": json.Number("1"),
		"max": json.Number("1000.1"), "used": json.Number("950"), "allowed": json.Number("50.09"), "amount": json.Number("60")}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("details[%s] = %#v, want %#v (%v)", k, d[k], v, out)
		}
	}
	if msg := out["error"].(string); !strings.Contains(msg, "at most 50.09 more allowed") {
		t.Errorf("message %q", msg)
	}
	e.svc.err = &account.LimitError{Limit: "window_count", Source: "kyc", Period: "week", Days: 7, Bound: 3, Used: 3, Allowed: 0, Amount: 1}
	code, out = e.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+payDraft.GUID+`"}`)
	if d, _ := out["details"].(map[string]any); code != 422 || d["max_count"] != json.Number("3") || d["allowed_count"] != json.Number("0") {
		t.Fatalf("count: %d %v", code, out)
	}
	e.svc.err = &app.BalanceAllowedError{Cap: 10_00, Balance: 5_00, Amount: 6_00}
	code, out = e.object(t, "POST", paymentsBase+"/confirm", "admin", `{"payment_guid":"`+payDraft.GUID+`"}`)
	refused(t, "balance allowed", code, out, 422, CodeBalanceAllowed, "")
}
