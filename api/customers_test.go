package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// Field sets of seed 002 and guide §7.2/§8, sorted: answers must have exactly these keys.
var (
	seedAssetKeys    = []string{"activated", "balance", "code", "minor_unit", "name", "platform", "stellar_code", "stellar_issuer"}
	seedAccountKeys  = []string{"activated", "assets", "assets_total", "blocked", "guid", "iban", "name", "platform", "registered", "type", "wallet_account_guid"}
	seedCreateKeys   = []string{"activated", "assets", "assets_total", "blocked", "customer_guid", "guid", "iban", "name", "platform", "registered", "type", "wallet_account_guid"}
	seedCustomerKeys = []string{"balance_allowed", "balance_asset_code", "balance_asset_issuer", "branch_guid", "branch_name", "counterparty_guid",
		"created_at", "is_disabled", "kyc_level", "login", "name", "paternal_name", "phone_number", "segment", "status", "surname", "updated_at", "wallet_user_guid"}
	// guideEntityKeys are guide §8's; Kazna adds balance, blocked, branch_guid and segment.
	guideEntityKeys = []string{"account_kind", "counterparty_guid", "created_at", "iban", "stellar_address", "updated_at",
		"wallet_account_guid", "wallet_user_external_id", "wallet_user_guid"}
	kaznaEntityKeys    = []string{"available_balance", "balance", "blocked", "branch_guid", "reserved_balance", "segment"}
	guideSegmentKeys   = []string{"account_type_guid", "asset_code", "asset_issuer", "counterparty_guid", "kind", "segment_name"}
	branchOther        = "22222222-3333-4444-8555-666666666666"
	customersBase      = "/api/v1/counterparty/" + bankA + "/customers"
	accountsBase       = "/api/v1/counterparty/" + bankA + "/accounts"
	segmentsBase       = "/api/v1/counterparty/" + bankA + "/segments"
	validIBAN          = "UA213223130000026007233566001"
	otherIBAN          = "UA903052992990004149123456789"
	customerCreateBody = `{"asset_code":"UAH","asset_issuer":"` + testIssuer + `","balance_allowed":12.5,"balance_asset_code":"UAH",
		"balance_asset_issuer":"` + testIssuer + `","iban":"UA21 3223 1300 0002 6007 2335 6600 1","is_disabled":false,"kyc_level":1,
		"login":"customer1@example.com","name":"Taras","paternal_name":"Hryhorovych","phone_number":"+380501234567","segment":"PL",
		"status":"active","surname":"Shevchenko"}`
)

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedUnion(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	sort.Strings(out)
	return out
}

// custEnv is the customer routes, bound as the router binds them (customerRoutesOf), over fakes.
type custEnv struct {
	svc  *fakeCustomers
	wait *recordingWaiter
	h    http.Handler
}

// newCustEnv serves bank A's administrator ("admin"), an administrator confined to branch branchX
// ("branch"), bank A's system ("system"), bank B's administrator ("b-admin") and bank A's default roles
// ("bank-a-<role>"). Bank A has branches branchX ("Kyiv") and branchOther ("Lviv").
func newCustEnv(t *testing.T) *custEnv {
	t.Helper()
	toks := testTokens()
	admin := employee(bankA, RoleAdministrator)
	scoped := admin
	scoped.BranchGUID = strings.ToUpper(branchX) // the claim's case does not matter
	toks["admin"], toks["branch"], toks["system"], toks["b-admin"] = admin, scoped, bankSystem(bankA), employee(bankB, RoleAdministrator)
	now := time.Now()
	branches := &fakeBranches{list: []projections.Branch{
		{GUID: branchX, CounterpartyGUID: bankA, Name: "Kyiv", CreatedAt: now, UpdatedAt: now},
		{GUID: branchOther, CounterpartyGUID: bankA, Name: "Lviv", CreatedAt: now, UpdatedAt: now},
	}}
	banks := newFakeCounterparties()
	banks.visible = []projections.Counterparty{{GUID: bankA, Name: "Bank A"}}
	e := &custEnv{svc: newFakeCustomers(), wait: &recordingWaiter{}}
	d := Deps{Authenticator: toks, Logger: quietLogger(), Customers: e.svc, ReadModels: e.wait, Branches: branches, Counterparties: banks}
	e.h = newRouter(d, customerRoutesOf(d))
	return e
}

// send makes a request with a JSON body (none when body is "") and extra header pairs.
func (e *custEnv) send(t *testing.T, method, path, token, body string, hdr ...string) *httptest.ResponseRecorder {
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
	e.h.ServeHTTP(w, r)
	return w
}

// decodeNumbers decodes JSON keeping numbers as json.Number, so tests see their exact text.
func decodeNumbers(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// object sends a request and decodes a JSON object answer.
func (e *custEnv) object(t *testing.T, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	w := e.send(t, method, path, token, body, hdr...)
	var out map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	return w.Code, out
}

// refused checks a JSON error answer with status, code and (if not "") field.
func refused(t *testing.T, what string, code int, body map[string]any, wantStatus int, wantCode, wantField string) {
	t.Helper()
	if msg, _ := body["error"].(string); code != wantStatus || body["code"] != wantCode || (wantField != "" && body["field"] != wantField) || msg == "" {
		t.Errorf("%s: %d %v, want %d %s field %q", what, code, body, wantStatus, wantCode, wantField)
	}
}

func TestCreateCustomerAnswersTheSeedShape(t *testing.T) {
	e := newCustEnv(t)
	w := e.send(t, "POST", customersBase, "admin", customerCreateBody, "Idempotency-Key", "create-1")
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), `"balance":0,`) {
		t.Errorf("balance is not the JSON number 0: %s", w.Body)
	}
	var body map[string]any
	decodeNumbers(t, w.Body.Bytes(), &body)
	if got := keysOf(body); !slices.Equal(got, seedCreateKeys) {
		t.Fatalf("keys %v, want %v", got, seedCreateKeys)
	}
	acc := e.svc.accounts[0]
	want := map[string]any{"activated": true, "assets_total": json.Number("1"), "blocked": false, "customer_guid": e.svc.customers[0].GUID,
		"guid": acc.GUID, "wallet_account_guid": acc.GUID, "type": acc.GUID, "iban": validIBAN, "name": "customer", "platform": "", "registered": true}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	assets := body["assets"].([]any)
	asset := assets[0].(map[string]any)
	if got := keysOf(asset); len(assets) != 1 || !slices.Equal(got, seedAssetKeys) {
		t.Fatalf("assets %v", assets)
	}
	wantAsset := map[string]any{"activated": true, "balance": json.Number("0"), "code": "UAH", "minor_unit": json.Number("2"),
		"name": "Ukraine Hryvnia", "platform": "", "stellar_code": "eUAH", "stellar_issuer": testIssuer}
	for k, v := range wantAsset {
		if asset[k] != v {
			t.Errorf("assets[0].%s = %#v, want %#v", k, asset[k], v)
		}
	}
	in := e.svc.registered
	wantProfile := customer.Profile{Login: "customer1@example.com", Name: "Taras", Surname: "Shevchenko", PaternalName: "Hryhorovych",
		Phone: "+380501234567", KYCLevel: 1, Segment: "PL", Status: "active", BalanceAllowed: 1250, BalanceAssetCode: "UAH", BalanceAssetIssuer: testIssuer}
	if in.AssetCode != "UAH" || in.AssetIssuer != testIssuer || in.IBAN != validIBAN || in.Disabled || in.Profile != wantProfile {
		t.Errorf("service got %+v", in)
	}
	if e.svc.lastWrite.IdempotencyKey != "create-1" || e.svc.lastWrite.Metadata.Actor == "" || e.svc.lastWrite.Metadata.RequestID == "" {
		t.Errorf("write options %+v", e.svc.lastWrite)
	}
	if got := e.wait.positions(); len(got) != 1 || got[0] != (eventstore.Position{Commit: 1, Prepare: 1}) {
		t.Errorf("waited for %v", got)
	}
}

func TestCreateCustomerMinimalBody(t *testing.T) {
	e := newCustEnv(t)
	code, body := e.object(t, "POST", customersBase, "admin", `{"asset_code":"eUAH","asset_issuer":"`+testIssuer+`","login":"+380501234567"}`)
	if code != 200 || body["iban"] != "" {
		t.Fatalf("create: %d %v", code, body)
	}
	if in := e.svc.registered; in.Profile.BalanceAllowed != 0 || in.Profile.BranchGUID != "" || in.IBAN != "" {
		t.Errorf("service got %+v", in)
	}
}

// TestCreateCustomerBadInput: every refusal names its field, and none reaches the service.
func TestCreateCustomerBadInput(t *testing.T) {
	e := newCustEnv(t)
	full := func(change string) string { // the create body with one field replaced or added
		return strings.Replace(customerCreateBody, `"asset_code":"UAH",`, change, 1)
	}
	cases := []struct {
		name, body    string
		status        int
		code, field   string
		messageSubstr string
	}{
		{"no asset_code", full(""), 400, CodeMissingField, "asset_code", ""},
		{"blank asset_code", full(`"asset_code":" ",`), 400, CodeMissingField, "asset_code", ""},
		{"no asset_issuer", `{"asset_code":"UAH","login":"a@b.example"}`, 400, CodeMissingField, "asset_issuer", ""},
		{"too many decimals", strings.Replace(customerCreateBody, `12.5`, `12.345`, 1), 400, CodeInvalidField, "balance_allowed", "decimal places"},
		{"amount as string", strings.Replace(customerCreateBody, `12.5`, `"12.5"`, 1), 400, CodeInvalidField, "balance_allowed", ""},
		{"amount exponent", strings.Replace(customerCreateBody, `12.5`, `1e3`, 1), 400, CodeInvalidField, "balance_allowed", ""},
		{"amount negative", strings.Replace(customerCreateBody, `12.5`, `-1`, 1), 400, CodeInvalidField, "balance_allowed", ""},
		{"amount huge", strings.Replace(customerCreateBody, `12.5`, `100000000000000000000`, 1), 400, CodeInvalidField, "balance_allowed", ""},
		{"amount bool", strings.Replace(customerCreateBody, `12.5`, `true`, 1), 400, CodeInvalidField, "balance_allowed", ""},
		{"unknown field", full(`"asset_code":"UAH","colour":"red",`), 400, CodeUnknownField, "colour", ""},
		{"login of the update body", full(`"asset_code":"UAH","wallet_user_guid":"x",`), 400, CodeUnknownField, "wallet_user_guid", ""},
		{"bad branch_guid", full(`"asset_code":"UAH","branch_guid":"kyiv",`), 400, CodeInvalidField, "branch_guid", ""},
		{"kyc_level negative", strings.Replace(customerCreateBody, `"kyc_level":1`, `"kyc_level":-1`, 1), 400, CodeInvalidField, "kyc_level", ""},
		{"kyc_level fraction", strings.Replace(customerCreateBody, `"kyc_level":1`, `"kyc_level":1.5`, 1), 400, CodeInvalidField, "kyc_level", ""},
		{"bad iban", strings.Replace(customerCreateBody, `UA21 3223`, `UA22 3223`, 1), 400, CodeInvalidField, "iban", ""},
		{"bad phone", strings.Replace(customerCreateBody, `+380501234567`, `call me`, 1), 400, CodeInvalidField, "phone_number", ""},
		{"no login nor phone", `{"asset_code":"UAH","asset_issuer":"` + testIssuer + `"}`, 400, CodeInvalidField, "login", ""},
		{"login with spaces", strings.Replace(customerCreateBody, `customer1@example.com`, `a b`, 1), 400, CodeInvalidField, "login", ""},
		{"name too long", strings.Replace(customerCreateBody, `"Taras"`, `"`+strings.Repeat("я", 201)+`"`, 1), 400, CodeInvalidField, "name", ""},
		{"other asset", full(`"asset_code":"USD",`), 422, CodeUnprocessable, "asset_code", ""},
		{"other issuer", strings.Replace(customerCreateBody, `"asset_issuer":"`+testIssuer, `"asset_issuer":"GB`, 1), 422, CodeUnprocessable, "asset_issuer", ""},
		{"other balance asset", strings.Replace(customerCreateBody, `"balance_asset_code":"UAH"`, `"balance_asset_code":"EUR"`, 1), 422, CodeUnprocessable, "balance_asset_code", ""},
		{"not an object", `[]`, 400, CodeInvalidRequest, "", ""},
	}
	for _, c := range cases {
		code, body := e.object(t, "POST", customersBase, "admin", c.body)
		refused(t, c.name, code, body, c.status, c.code, c.field)
		if msg, _ := body["error"].(string); !strings.Contains(msg, c.messageSubstr) {
			t.Errorf("%s: message %q lacks %q", c.name, msg, c.messageSubstr)
		}
	}
	if w := e.send(t, "POST", customersBase, "admin", customerCreateBody, "Idempotency-Key", "bad key"); w.Code != 400 {
		t.Errorf("bad Idempotency-Key: %d %s", w.Code, w.Body)
	}
	if w := e.send(t, "POST", "/api/v1/counterparty/not-a-guid/customers", "admin", customerCreateBody); w.Code != 400 {
		t.Errorf("malformed counterparty_guid: %d", w.Code)
	}
	if e.svc.writes != 0 {
		t.Fatalf("bad input reached the service %d times", e.svc.writes)
	}
}

// TestCustomerErrorMapping: each error of the service, wrapped as the app wraps errors, becomes its answer.
func TestCustomerErrorMapping(t *testing.T) {
	cases := []struct {
		err         error
		status      int
		code, field string
		message     string
	}{
		{customer.ErrLoginTaken, 409, CodeConflict, "login", "login"},
		{uniqueness.ErrTaken, 409, CodeConflict, "iban", "IBAN"},
		{customer.ErrAlreadyExists, 409, CodeConflict, "", ""},
		{account.ErrAlreadyExists, 409, CodeConflict, "", ""},
		{app.ErrUnknownAsset, 422, CodeUnprocessable, "asset_code", "one asset"},
		{&customer.ErrInvalid{Field: "segment", Reason: "longer than 100 characters"}, 400, CodeInvalidField, "segment", "segment"},
		{customer.ErrNotFound, 404, CodeNotFound, "", "customer"},
		{account.ErrNotFound, 404, CodeNotFound, "", "account"},
		{customer.ErrDisabled, 422, CodeUnprocessable, "", "disabled"},
		{customer.ErrTooManyAccounts, 422, CodeUnprocessable, "", "at most"},
		{app.ErrUnknownBranch, 404, CodeNotFound, "branch_guid", "branch"},
		{bankauth.ErrRefused, 422, CodeBankRefused, "", "refused the sign-up"},
		{bankauth.ErrTimeout, 503, CodeUnavailable, "", "did not answer in time"},
		{bankauth.ErrUnavailable, 503, CodeUnavailable, "", "unavailable"},
		{bankauth.ErrBadAnswer, 503, CodeUnavailable, "", "cannot use"},
		{&customer.ErrInvalid{Field: "external_id", Reason: "required"}, 503, CodeUnavailable, "", "external_id"},
		{money.ErrTooManyDecimals, 400, CodeInvalidField, "", "decimal"},
		{eventstore.ErrWrongExpectedRevision, 409, CodeConflict, "", ""},
	}
	for _, c := range cases {
		e := newCustEnv(t)
		e.svc.err = fmt.Errorf("app: register: %w", c.err)
		w := e.send(t, "POST", customersBase, "admin", customerCreateBody)
		var body map[string]any
		decodeNumbers(t, w.Body.Bytes(), &body)
		refused(t, c.err.Error(), w.Code, body, c.status, c.code, c.field)
		if msg, _ := body["error"].(string); !strings.Contains(msg, c.message) || strings.Contains(msg, "app: register") {
			t.Errorf("%v: message %q", c.err, msg)
		}
		if retry := w.Header().Get("Retry-After") != ""; retry != (c.status == 503) && c.status != 409 {
			t.Errorf("%v: Retry-After %q", c.err, w.Header().Get("Retry-After"))
		}
		if len(e.wait.positions()) != 0 {
			t.Errorf("%v: a failed write waited for the read models", c.err)
		}
	}
}

func TestUpdateCustomer(t *testing.T) {
	e := newCustEnv(t)
	c, _ := e.svc.addCustomer(bankA, "", "anna")
	one := customersBase + "/" + c.GUID
	body := `{"balance_allowed":1000,"balance_asset_code":"UAH","balance_asset_issuer":"` + testIssuer + `","branch_guid":{"valid":true,"value":"` +
		strings.ToUpper(branchX) + `"},"is_disabled":true,"kyc_level":2,"name":"Anna","paternal_name":"P","phone_number":"+380501112233",
		"segment":"PI","status":"blocked","surname":"S","wallet_user_guid":"` + c.GUID + `"}`
	code, resp := e.object(t, "PUT", one, "admin", body, "Idempotency-Key", "upd-1")
	if code != 200 || len(resp) != 0 {
		t.Fatalf("update: %d %v", code, resp)
	}
	p := e.svc.patch
	str := func(s *string) string { return deref(s) }
	if e.svc.patched != c.GUID || str(p.Name) != "Anna" || str(p.Surname) != "S" || str(p.PaternalName) != "P" || str(p.Phone) != "+380501112233" ||
		str(p.Segment) != "PI" || str(p.Status) != "blocked" || str(p.BalanceAssetCode) != "UAH" || str(p.BalanceAssetIssuer) != testIssuer ||
		p.KYCLevel == nil || *p.KYCLevel != 2 || p.BalanceAllowed == nil || *p.BalanceAllowed != 100000 || str(p.Branch) != branchX ||
		p.Disabled == nil || !*p.Disabled {
		t.Errorf("patch %+v", p)
	}
	if e.svc.lastWrite.IdempotencyKey != "upd-1" || len(e.wait.positions()) != 1 {
		t.Errorf("write %+v, waited %v", e.svc.lastWrite, e.wait.positions())
	}
	// valid false takes the customer out of its branch; absent fields stay nil.
	if code, _ := e.object(t, "PUT", one, "admin", `{"branch_guid":{"valid":false}}`); code != 200 {
		t.Fatalf("clear branch: %d", code)
	}
	if p := e.svc.patch; p.Branch == nil || *p.Branch != "" || p.Name != nil || p.BalanceAllowed != nil || p.Disabled != nil || p.KYCLevel != nil {
		t.Errorf("clear-branch patch %+v", p)
	}
	if code, _ := e.object(t, "PUT", one, "admin", `{}`); code != 200 || e.svc.patch.Branch != nil {
		t.Errorf("empty patch: %d %+v", code, e.svc.patch)
	}

	writes := e.svc.writes
	bad := []struct{ name, body, field, code string }{
		{"other wallet_user_guid", `{"wallet_user_guid":"` + uuid.NewString() + `"}`, "wallet_user_guid", CodeInvalidField},
		{"malformed wallet_user_guid", `{"wallet_user_guid":"anna"}`, "wallet_user_guid", CodeInvalidField},
		{"branch without valid", `{"branch_guid":{"value":"` + branchX + `"}}`, "branch_guid.valid", CodeMissingField},
		{"branch valid without value", `{"branch_guid":{"valid":true}}`, "branch_guid.value", CodeMissingField},
		{"branch not a guid", `{"branch_guid":{"valid":true,"value":"kyiv"}}`, "branch_guid.value", CodeInvalidField},
		{"branch value with valid false", `{"branch_guid":{"valid":false,"value":"` + branchX + `"}}`, "branch_guid.value", CodeInvalidField},
		{"branch as a string", `{"branch_guid":"` + branchX + `"}`, "branch_guid", CodeInvalidField},
		{"branch unknown key", `{"branch_guid":{"valid":true,"value":"` + branchX + `","name":"x"}}`, "name", CodeUnknownField},
		{"too many decimals", `{"balance_allowed":0.001}`, "balance_allowed", CodeInvalidField},
		{"login cannot change", `{"login":"other"}`, "login", CodeUnknownField},
		{"kyc out of range", `{"kyc_level":101}`, "kyc_level", CodeInvalidField},
		{"other balance asset", `{"balance_asset_code":"USD"}`, "balance_asset_code", CodeUnprocessable},
	}
	for _, b := range bad {
		code, body := e.object(t, "PUT", one, "admin", b.body)
		status := 400
		if b.code == CodeUnprocessable {
			status = 422
		}
		refused(t, b.name, code, body, status, b.code, b.field)
	}
	code, resp = e.object(t, "PUT", customersBase+"/"+uuid.NewString(), "admin", `{"name":"x"}`)
	refused(t, "unknown customer", code, resp, 404, CodeNotFound, "")
	code, resp = e.object(t, "PUT", customersBase+"/anna", "admin", `{"name":"x"}`)
	refused(t, "malformed customer_guid", code, resp, 400, CodeInvalidField, "customer_guid")
	if e.svc.writes != writes {
		t.Fatalf("bad updates reached the service")
	}
}

func TestListCustomersParsesEveryFilter(t *testing.T) {
	e := newCustEnv(t)
	c, _ := e.svc.addCustomer(bankA, branchX, "anna")
	e.svc.mu.Lock()
	e.svc.customers[0].Profile = customer.Profile{Login: "anna", Name: "Anna", Surname: "S", PaternalName: "P", Phone: "+380501112233", KYCLevel: 1,
		Segment: "PL", Status: "active", BranchGUID: branchX, BalanceAllowed: 100050, BalanceAssetCode: "UAH", BalanceAssetIssuer: testIssuer}
	e.svc.mu.Unlock()
	g1, g2, b2 := uuid.NewString(), strings.ToUpper(uuid.NewString()), uuid.NewString()
	q := "?wallet_user_guids=" + g1 + "," + g2 + "&logins=a@b.example&logins=c&kyc_levels=0,3&is_disabled=false&min_balance_allowed=10.5" +
		"&max_balance_allowed=1000&balance_asset_codes=UAH&balance_asset_issuers=" + testIssuer + "&branch_guids=" + branchX + "&branch_guids=" + b2 +
		"&names=Anna,Ivan&paternal_names=P&phone_numbers=%2B380501112233&segments=PL,PI&statuses=active&surnames=S&search_string=ann" +
		"&min_created_at=2023-01-01T00:00:00Z&max_created_at=2024-01-01T00:00:00.5%2B02:00&min_updated_at=2023-02-01T00:00:00Z" +
		"&max_updated_at=2025-01-01T00:00:00Z&offset=5&limit=7&ordering=-surname"
	code, body := e.object(t, "GET", customersBase+q, "admin", "")
	if code != 200 {
		t.Fatalf("list: %d %v", code, body)
	}
	got := e.svc.customerQuery
	f := false
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	want := projections.CustomerQuery{CounterpartyGUID: bankA, GUIDs: []string{g1, strings.ToLower(g2)}, Logins: []string{"a@b.example", "c"},
		KYCLevels: []int{0, 3}, Disabled: &f, BalanceAssetCodes: []string{"UAH"}, BalanceAssetIssuers: []string{testIssuer},
		BranchGUIDs: []string{branchX, b2}, Names: []string{"Anna", "Ivan"}, PaternalNames: []string{"P"}, PhoneNumbers: []string{"+380501112233"},
		Segments: []string{"PL", "PI"}, Statuses: []string{"active"}, Surnames: []string{"S"}, Search: "ann",
		MinCreated: at("2023-01-01T00:00:00Z"), MaxCreated: at("2024-01-01T00:00:00.5+02:00"), MinUpdated: at("2023-02-01T00:00:00Z"),
		MaxUpdated: at("2025-01-01T00:00:00Z"), Order: projections.CustomersBySurnameDesc, Offset: 5, Limit: 7}
	if got.MinBalanceAllowed == nil || *got.MinBalanceAllowed != 1050 || got.MaxBalanceAllowed == nil || *got.MaxBalanceAllowed != 100000 {
		t.Errorf("balance filters %v %v", got.MinBalanceAllowed, got.MaxBalanceAllowed)
	}
	got.MinBalanceAllowed, got.MaxBalanceAllowed = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("query\n got %#v\nwant %#v", got, want)
	}

	// The answer: seed 002's shape, one customer, branch name looked up.
	e.svc.customerQuery = projections.CustomerQuery{}
	code, body = e.object(t, "GET", customersBase, "admin", "")
	list, _ := body["customers"].([]any)
	if code != 200 || body["total"] != json.Number("1") || len(list) != 1 || !slices.Equal(keysOf(body), []string{"customers", "total"}) {
		t.Fatalf("list: %d %v", code, body)
	}
	item := list[0].(map[string]any)
	if got := keysOf(item); !slices.Equal(got, seedCustomerKeys) {
		t.Fatalf("customer keys %v, want %v", got, seedCustomerKeys)
	}
	wantItem := map[string]any{"wallet_user_guid": c.GUID, "counterparty_guid": bankA, "login": "anna", "kyc_level": json.Number("1"),
		"is_disabled": false, "balance_allowed": json.Number("1000.5"), "balance_asset_code": "UAH", "balance_asset_issuer": testIssuer,
		"branch_guid": branchX, "branch_name": "Kyiv", "name": "Anna", "paternal_name": "P", "phone_number": "+380501112233", "segment": "PL",
		"status": "active", "surname": "S", "created_at": "2023-07-14T11:31:14.137931Z", "updated_at": "2023-07-14T12:27:15.486653Z"}
	for k, v := range wantItem {
		if item[k] != v {
			t.Errorf("%s = %#v, want %#v", k, item[k], v)
		}
	}
	if q := e.svc.customerQuery; q.Order != projections.CustomersByCreated || q.Limit != defaultPageLimit || q.Offset != 0 || q.Disabled != nil || q.BranchScope != "" {
		t.Errorf("defaults %+v", q)
	}
	for _, o := range projections.CustomerOrders {
		if code, _ := e.object(t, "GET", customersBase+"?ordering="+string(o), "admin", ""); code != 200 || e.svc.customerQuery.Order != o {
			t.Errorf("ordering %s: %d %s", o, code, e.svc.customerQuery.Order)
		}
	}
	if code, _ := e.object(t, "GET", customersBase+"?order=-login", "admin", ""); code != 200 || e.svc.customerQuery.Order != projections.CustomersByLoginDesc {
		t.Errorf("order alias: %d %s", code, e.svc.customerQuery.Order)
	}
	if code, _ := e.object(t, "GET", customersBase+"?is_disabled=true", "admin", ""); code != 200 || e.svc.customerQuery.Disabled == nil || !*e.svc.customerQuery.Disabled {
		t.Errorf("is_disabled=true: %d %v", code, e.svc.customerQuery.Disabled)
	}
}

func TestListCustomersBadFilters(t *testing.T) {
	e := newCustEnv(t)
	for _, c := range []struct{ query, field string }{
		{"wallet_user_guids=nope", "wallet_user_guids"},
		{"branch_guids=" + branchX + ",x", "branch_guids"},
		{"kyc_levels=1,high", "kyc_levels"},
		{"kyc_levels=-1", "kyc_levels"},
		{"is_disabled=maybe", "is_disabled"},
		{"min_balance_allowed=1.001", "min_balance_allowed"},
		{"max_balance_allowed=ten", "max_balance_allowed"},
		{"max_balance_allowed=1e3", "max_balance_allowed"},
		{"min_balance_allowed=1&min_balance_allowed=2", "min_balance_allowed"},
		{"min_created_at=yesterday", "min_created_at"},
		{"max_created_at=2024-01-01", "max_created_at"},
		{"min_updated_at=2024-01-01T00:00:00", "min_updated_at"},
		{"max_updated_at=1700000000", "max_updated_at"},
		{"ordering=name", "ordering"},
		{"order=created_at&ordering=login", "ordering"},
		{"offset=-1", "offset"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"search_string=a&search_string=b", "search_string"},
	} {
		code, body := e.object(t, "GET", customersBase+"?"+c.query, "admin", "")
		refused(t, c.query, code, body, 400, CodeInvalidField, c.field)
	}
	if code, body := e.object(t, "GET", customersBase+"?names=%zz", "admin", ""); code != 400 || body["code"] != CodeInvalidRequest {
		t.Errorf("malformed query: %d %v", code, body)
	}
}

func TestCustomerAccounts(t *testing.T) {
	e := newCustEnv(t)
	c, first := e.svc.addCustomer(bankA, "", "anna")
	e.svc.mu.Lock()
	e.svc.accounts[0].Balance = 1250
	e.svc.accounts[0].Blocked = true
	second := e.svc.addAccount(projections.Account{CounterpartyGUID: bankA, Kind: account.KindCustomer,
		Owner: account.Owner{CustomerGUID: c.GUID, IBAN: otherIBAN}})
	e.svc.mu.Unlock()
	path := customersBase + "/" + c.GUID + "/accounts"
	w := e.send(t, "GET", path, "admin", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"balance":12.5,`) {
		t.Fatalf("accounts: %d %s", w.Code, w.Body)
	}
	var body map[string]any
	decodeNumbers(t, w.Body.Bytes(), &body)
	list, _ := body["accounts"].([]any)
	if !slices.Equal(keysOf(body), []string{"accounts", "total"}) || body["total"] != json.Number("2") || len(list) != 2 {
		t.Fatalf("accounts %v", body)
	}
	a := list[0].(map[string]any)
	if got := keysOf(a); !slices.Equal(got, seedAccountKeys) {
		t.Fatalf("account keys %v, want %v", got, seedAccountKeys)
	}
	if a["guid"] != first.GUID || a["wallet_account_guid"] != first.GUID || a["type"] != first.GUID || a["blocked"] != true || a["iban"] != validIBAN {
		t.Errorf("account %v", a)
	}
	if got := keysOf(a["assets"].([]any)[0].(map[string]any)); !slices.Equal(got, seedAssetKeys) {
		t.Errorf("asset keys %v", got)
	}
	// iban filters, in either form.
	for _, f := range []string{otherIBAN, "ua90%203052%209929%209000%204149%201234%205678%209"} {
		code, body := e.object(t, "GET", path+"?iban="+f, "admin", "")
		list, _ := body["accounts"].([]any)
		if code != 200 || body["total"] != json.Number("1") || len(list) != 1 || list[0].(map[string]any)["guid"] != second.GUID {
			t.Errorf("iban %s: %d %v", f, code, body)
		}
	}
	code, resp := e.object(t, "GET", path+"?iban=UA00", "admin", "")
	refused(t, "bad iban", code, resp, 400, CodeInvalidField, "iban")
	code, resp = e.object(t, "GET", customersBase+"/"+uuid.NewString()+"/accounts", "admin", "")
	refused(t, "unknown customer", code, resp, 404, CodeNotFound, "")
	code, resp = e.object(t, "GET", customersBase+"/anna/accounts", "admin", "")
	refused(t, "malformed customer", code, resp, 400, CodeInvalidField, "customer_guid")
}

func TestOpenCustomerAccount(t *testing.T) {
	e := newCustEnv(t)
	c, _ := e.svc.addCustomer(bankA, "", "anna")
	path := customersBase + "/" + c.GUID + "/accounts"
	code, body := e.object(t, "POST", path, "admin", `{"iban":"`+otherIBAN+`"}`, "Idempotency-Key", "acc-1")
	if code != 200 || !slices.Equal(keysOf(body), []string{"wallet_account_guid"}) || e.svc.openedIBAN != otherIBAN {
		t.Fatalf("open: %d %v (iban %q)", code, body, e.svc.openedIBAN)
	}
	if _, ok := e.svc.Account(t.Context(), bankA, body["wallet_account_guid"].(string)); !ok || e.svc.lastWrite.IdempotencyKey != "acc-1" || len(e.wait.positions()) != 1 {
		t.Errorf("account not opened, or write %+v", e.svc.lastWrite)
	}
	if code, body := e.object(t, "POST", path, "admin", `{}`); code != 200 || e.svc.openedIBAN != "" {
		t.Errorf("without iban: %d %v", code, body)
	}
	writes := e.svc.writes
	code, body = e.object(t, "POST", path, "admin", `{"iban":"nope"}`)
	refused(t, "bad iban", code, body, 400, CodeInvalidField, "iban")
	code, body = e.object(t, "POST", path, "admin", `{"iban":"`+otherIBAN+`","kind":"x"}`)
	refused(t, "unknown field", code, body, 400, CodeUnknownField, "kind")
	code, body = e.object(t, "POST", customersBase+"/"+uuid.NewString()+"/accounts", "admin", `{}`)
	refused(t, "unknown customer", code, body, 404, CodeNotFound, "")
	if e.svc.writes != writes {
		t.Fatal("bad input reached the service")
	}
	if code, _ := e.object(t, "PUT", customersBase+"/"+c.GUID, "admin", `{"is_disabled":true}`); code != 200 {
		t.Fatal("disable")
	}
	code, body = e.object(t, "POST", path, "admin", `{}`)
	refused(t, "disabled customer", code, body, 422, CodeUnprocessable, "")
}

// TestCustomerBranchIsolation: an employee of a branch sees and changes only that branch's customers; the
// others do not exist for it (404), and it cannot move customers out of its branch (403).
func TestCustomerBranchIsolation(t *testing.T) {
	e := newCustEnv(t)
	own, _ := e.svc.addCustomer(bankA, branchX, "own")
	other, _ := e.svc.addCustomer(bankA, branchOther, "other")
	head, _ := e.svc.addCustomer(bankA, "", "head")

	if _, body := e.object(t, "GET", customersBase, "admin", ""); body["total"] != json.Number("3") || e.svc.customerQuery.BranchScope != "" {
		t.Fatalf("bank-wide list: %v", body)
	}
	_, body := e.object(t, "GET", customersBase+"?branch_guids="+branchOther, "branch", "")
	if e.svc.customerQuery.BranchScope != branchX || body["total"] != json.Number("0") {
		t.Fatalf("branch list scope %q: %v", e.svc.customerQuery.BranchScope, body)
	}
	_, body = e.object(t, "GET", customersBase, "branch", "")
	if list, _ := body["customers"].([]any); len(list) != 1 || list[0].(map[string]any)["wallet_user_guid"] != own.GUID {
		t.Fatalf("branch list: %v", body)
	}

	writes := e.svc.writes
	for _, c := range []projections.Customer{other, head} {
		for _, req := range []struct{ method, path, body string }{
			{"PUT", customersBase + "/" + c.GUID, `{"name":"x"}`},
			{"GET", customersBase + "/" + c.GUID + "/accounts", ""},
			{"POST", customersBase + "/" + c.GUID + "/accounts", `{}`},
		} {
			code, body := e.object(t, req.method, req.path, "branch", req.body)
			refused(t, req.method+" another branch's customer", code, body, 404, CodeNotFound, "")
		}
	}
	code, resp := e.object(t, "PUT", customersBase+"/"+own.GUID, "branch", `{"branch_guid":{"valid":true,"value":"`+branchOther+`"}}`)
	refused(t, "move out of the branch", code, resp, 403, CodeForbidden, "")
	code, resp = e.object(t, "PUT", customersBase+"/"+own.GUID, "branch", `{"branch_guid":{"valid":false}}`)
	refused(t, "take out of any branch", code, resp, 403, CodeForbidden, "")
	code, resp = e.object(t, "POST", customersBase, "branch", strings.Replace(customerCreateBody, `"iban"`, `"branch_guid":"`+branchOther+`","iban"`, 1))
	refused(t, "create in another branch", code, resp, 403, CodeForbidden, "")
	if e.svc.writes != writes {
		t.Fatal("a refused request reached the service")
	}

	if code, _ := e.object(t, "PUT", customersBase+"/"+own.GUID, "branch", `{"name":"x","branch_guid":{"valid":true,"value":"`+branchX+`"}}`); code != 200 {
		t.Errorf("own customer update: %d", code)
	}
	if code, _ := e.object(t, "GET", customersBase+"/"+own.GUID+"/accounts", "branch", ""); code != 200 {
		t.Errorf("own customer accounts: %d", code)
	}
	if code, _ := e.object(t, "POST", customersBase, "branch", customerCreateBody); code != 200 || e.svc.registered.Profile.BranchGUID != branchX {
		t.Errorf("create defaults to the caller's branch: %d %q", code, e.svc.registered.Profile.BranchGUID)
	}
	if code, _ := e.object(t, "POST", customersBase, "branch", strings.Replace(customerCreateBody, `"login":"customer1@example.com"`,
		`"login":"c2","branch_guid":"`+strings.ToUpper(branchX)+`"`, 1)); code != 200 || e.svc.registered.Profile.BranchGUID != branchX {
		t.Errorf("create naming the caller's branch: %d %q", code, e.svc.registered.Profile.BranchGUID)
	}
	if code, _ := e.object(t, "POST", customersBase, "admin", strings.Replace(customerCreateBody, `"login":"customer1@example.com"`,
		`"login":"c3","branch_guid":"`+branchOther+`"`, 1)); code != 200 || e.svc.registered.Profile.BranchGUID != branchOther {
		t.Errorf("bank-wide employee creates in any branch: %d %q", code, e.svc.registered.Profile.BranchGUID)
	}
}

// TestCustomerBankIsolation: the guard keeps every caller but the platform administrator in its own bank, and
// a bank's system holds every bank permission.
func TestCustomerBankIsolation(t *testing.T) {
	e := newCustEnv(t)
	c, _ := e.svc.addCustomer(bankA, "", "anna")
	for _, req := range []struct{ method, path, body string }{
		{"GET", customersBase, ""},
		{"POST", customersBase, customerCreateBody},
		{"PUT", customersBase + "/" + c.GUID, `{"name":"x"}`},
		{"GET", customersBase + "/" + c.GUID + "/accounts", ""},
		{"POST", customersBase + "/" + c.GUID + "/accounts", `{}`},
	} {
		code, body := e.object(t, req.method, req.path, "b-admin", req.body)
		refused(t, req.method+" "+req.path+" as bank B", code, body, 403, CodeForbidden, "")
		w := e.send(t, req.method, req.path, "", req.body, "CX-Authorization", "bank-a-system")
		if w.Code != 200 {
			t.Errorf("%s %s as bank A's system: %d %s", req.method, req.path, w.Code, w.Body)
		}
	}
	if e.svc.customerQuery.CounterpartyGUID != bankA {
		t.Errorf("list of bank %q", e.svc.customerQuery.CounterpartyGUID)
	}
	// Bank B's path shows none of bank A's customers to bank B.
	code, body := e.object(t, "GET", "/api/v1/counterparty/"+bankB+"/customers", "b-admin", "")
	if code != 200 || body["total"] != json.Number("0") || e.svc.customerQuery.CounterpartyGUID != bankB {
		t.Errorf("bank B's list: %d %v", code, body)
	}
	code, body = e.object(t, "GET", "/api/v1/counterparty/"+bankB+"/customers/"+c.GUID+"/accounts", "b-admin", "")
	refused(t, "bank A's customer under bank B", code, body, 404, CodeNotFound, "")
}

func TestCustomerRoutesWithoutService(t *testing.T) {
	h := newRouter(Deps{Authenticator: testTokens(), Logger: quietLogger()}, customerRoutes(nil))
	for _, rt := range customerRoutes(nil) {
		body := `{}`
		if rt.Method == "GET" {
			body = ""
		}
		req := httptest.NewRequest(rt.Method, fillPath(rt.Path), strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("CX-Authorization", "bank-a-system")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		// A body the endpoint refuses (400) is answered before the missing service is noticed; never a 500.
		if w.Code != 503 && w.Code != 400 {
			t.Errorf("%s %s without a service: %d %s", rt.Method, rt.Path, w.Code, w.Body)
		}
	}
}

func TestAmountRendering(t *testing.T) {
	for _, c := range []struct {
		minor money.Amount
		want  string
	}{{0, "0"}, {1250, "12.5"}, {100000, "1000"}, {1, "0.01"}, {-5, "-0.05"}, {9223372036854775807, "92233720368547758.07"}} {
		if got := amountNumber(c.minor, testAsset); string(got) != c.want {
			t.Errorf("%d: %s, want %s", c.minor, got, c.want)
		}
	}
	if got := apiTime(time.Date(2023, 7, 14, 14, 31, 14, 0, time.FixedZone("EEST", 3*3600))); got != "2023-07-14T11:31:14.000000Z" {
		t.Errorf("apiTime %s", got)
	}
	if !errors.Is(customersError(fmt.Errorf("x: %w", bankauth.ErrRefused)), bankauth.ErrRefused) {
		t.Error("the mapped error does not keep its cause")
	}
}

// TestCustomerSchemasMatchAnswers: openapi.json documents exactly the fields the handlers send, every filter of
// seed 002 and guide §8, and the ordering enum of the read model.
func TestCustomerSchemasMatchAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	props := func(name string) []string {
		var s struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[name], &s); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		var out []string
		for k := range s.Properties {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	for name, want := range map[string][]string{
		"CustomerCreateResponse": seedCreateKeys, "CustomerAccount": seedAccountKeys, "AccountAsset": seedAssetKeys,
		"Customer": seedCustomerKeys, "Entity": sortedUnion(guideEntityKeys, kaznaEntityKeys), "SegmentAccount": guideSegmentKeys,
	} {
		if got := props(name); !slices.Equal(got, want) {
			t.Errorf("schema %s has %v, the answer %v", name, got, want)
		}
	}
	var ops map[string]map[string]struct {
		Parameters []struct {
			Name   string `json:"name"`
			Ref    string `json:"$ref"`
			Schema struct {
				Enum []string `json:"enum"`
			} `json:"schema"`
		} `json:"parameters"`
	}
	var raw struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDocument, &raw); err != nil || json.Unmarshal(raw.Paths, &ops) != nil {
		t.Fatal("paths do not decode")
	}
	params := func(path, method string) map[string][]string {
		out := map[string][]string{}
		for _, p := range ops[path][method].Parameters {
			name := p.Name
			if name == "" {
				name = p.Ref[strings.LastIndexByte(p.Ref, '/')+1:]
			}
			out[name] = p.Schema.Enum
		}
		return out
	}
	customers := params(cp+"/customers", "get")
	for _, name := range []string{"wallet_user_guids", "logins", "kyc_levels", "is_disabled", "min_balance_allowed", "max_balance_allowed",
		"balance_asset_codes", "balance_asset_issuers", "branch_guids", "names", "paternal_names", "phone_numbers", "segments", "statuses",
		"surnames", "search_string", "min_created_at", "max_created_at", "min_updated_at", "max_updated_at", "offset", "limit", "ordering"} {
		if _, ok := customers[name]; !ok {
			t.Errorf("GET …/customers does not document %s", name)
		}
	}
	var orders []string
	for _, o := range projections.CustomerOrders {
		orders = append(orders, string(o))
	}
	if !slices.Equal(customers["ordering"], orders) {
		t.Errorf("ordering enum %v, read model %v", customers["ordering"], orders)
	}
	for _, path := range []string{cp + "/accounts", cp + "/branch/{branch_guid}/accounts"} {
		got := params(path, "get")
		for _, name := range []string{"wallet_account_guids", "wallet_user_guids", "account_kinds", "iban", "search_string", "offset", "limit", "order"} {
			if _, ok := got[name]; !ok {
				t.Errorf("GET %s does not document %s", path, name)
			}
		}
	}
	for path, name := range map[string]string{cp + "/customers/{customer_guid}/accounts": "iban", cp + "/segments": "segment_names"} {
		if _, ok := params(path, "get")[name]; !ok {
			t.Errorf("GET %s does not document %s", path, name)
		}
	}
}
