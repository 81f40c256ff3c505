package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/projections"
)

// array sends a request and decodes a JSON array answer (guide §7.2 and §8 wrap their answers in one).
func (e *custEnv) array(t *testing.T, method, path, token string) (int, []map[string]any) {
	t.Helper()
	w := e.send(t, method, path, token, "")
	if w.Code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	var out []map[string]any
	decodeNumbers(t, w.Body.Bytes(), &out)
	return w.Code, out
}

func TestOpenEntity(t *testing.T) {
	e := newCustEnv(t)
	code, body := e.object(t, "POST", accountsBase, "admin", `{"account_kind":"processing","iban":"`+validIBAN+`","key_keeper_login":"keeper",
		"branch_guid":"`+strings.ToUpper(branchX)+`"}`, "Idempotency-Key", "ent-1")
	if code != 200 || !slices.Equal(keysOf(body), []string{"guid"}) {
		t.Fatalf("open: %d %v", code, body)
	}
	want := app.EntityInput{Kind: account.KindProcessing, IBAN: validIBAN, KeyKeeperLogin: "keeper", BranchGUID: branchX}
	if e.svc.entity != want || e.svc.lastWrite.IdempotencyKey != "ent-1" || len(e.wait.positions()) != 1 {
		t.Errorf("service got %+v, write %+v", e.svc.entity, e.svc.lastWrite)
	}
	if _, ok := e.svc.Account(t.Context(), bankA, body["guid"].(string)); !ok {
		t.Error("answered GUID is not the account's")
	}
	if code, _ := e.object(t, "POST", accountsBase, "admin", `{"account_kind":"emission"}`); code != 200 || e.svc.entity.Kind != account.KindEmission {
		t.Errorf("emission entity: %d %+v", code, e.svc.entity)
	}
	writes := e.svc.writes
	for _, c := range []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"emission of a branch", `{"account_kind":"emission","branch_guid":"` + branchX + `"}`, 422, CodeUnprocessable, "account_kind"},
		{"no kind", `{"iban":"` + validIBAN + `"}`, 400, CodeMissingField, "account_kind"},
		{"customer kind", `{"account_kind":"customer"}`, 400, CodeInvalidField, "account_kind"},
		{"unknown kind", `{"account_kind":"savings"}`, 400, CodeInvalidField, "account_kind"},
		{"bad iban", `{"account_kind":"processing","iban":"DE00"}`, 400, CodeInvalidField, "iban"},
		{"bad branch", `{"account_kind":"processing","branch_guid":"kyiv"}`, 400, CodeInvalidField, "branch_guid"},
		{"long key keeper", `{"account_kind":"processing","key_keeper_login":"` + strings.Repeat("k", 257) + `"}`, 400, CodeInvalidField, "key_keeper_login"},
		{"unknown field", `{"account_kind":"processing","asset_code":"UAH"}`, 400, CodeUnknownField, "asset_code"},
	} {
		code, body := e.object(t, "POST", accountsBase, "admin", c.body)
		refused(t, c.name, code, body, c.status, c.code, c.field)
		if c.status == 422 && !strings.Contains(body["error"].(string), "only processing") {
			t.Errorf("%s: message %v", c.name, body["error"])
		}
	}
	// An employee of a branch opens processing entities for its branch only.
	if code, _ := e.object(t, "POST", accountsBase, "branch", `{"account_kind":"processing"}`); code != 200 || e.svc.entity.BranchGUID != branchX {
		t.Errorf("branch default: %d %+v", code, e.svc.entity)
	}
	writes++
	code, body = e.object(t, "POST", accountsBase, "branch", `{"account_kind":"processing","branch_guid":"`+branchOther+`"}`)
	refused(t, "another branch's entity", code, body, 403, CodeForbidden, "")
	code, body = e.object(t, "POST", accountsBase, "branch", `{"account_kind":"emission"}`)
	refused(t, "emission from a branch", code, body, 403, CodeForbidden, "")
	if e.svc.writes != writes {
		t.Fatalf("refused requests reached the service: %d writes, want %d", e.svc.writes, writes)
	}
	e.svc.err = fmt.Errorf("app: %w", account.ErrAlreadyExists)
	code, body = e.object(t, "POST", accountsBase, "admin", `{"account_kind":"processing"}`)
	refused(t, "conflict", code, body, 409, CodeConflict, "")
}

func TestListAccountsParsesEveryFilter(t *testing.T) {
	e := newCustEnv(t)
	c, acc := e.svc.addCustomer(bankA, branchX, "anna")
	e.svc.mu.Lock()
	e.svc.accounts[0].Balance, e.svc.accounts[0].Segment, e.svc.accounts[0].Blocked = 1250, "PL", true
	e.svc.mu.Unlock()
	g1, u1, b2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	q := "?wallet_account_guids=" + g1 + "," + strings.ToUpper(acc.GUID) + "&wallet_user_guids=" + u1 + "&account_kinds=processing,emission&account_kinds=customer" +
		"&iban=" + strings.ToLower(validIBAN) + "&search_string=anna&branch_guids=" + b2 + "&offset=2&limit=3&order=-created_at"
	e.array(t, "GET", accountsBase+q, "admin")
	want := projections.AccountQuery{CounterpartyGUID: bankA, GUIDs: []string{g1, acc.GUID}, CustomerGUIDs: []string{u1},
		Kinds: []account.Kind{account.KindProcessing, account.KindEmission, account.KindCustomer}, IBAN: validIBAN, BranchGUIDs: []string{b2},
		Search: "anna", Order: projections.CreatedDesc, Offset: 2, Limit: 3}
	if got := e.svc.accountQuery; !reflect.DeepEqual(got, want) {
		t.Errorf("query\n got %#v\nwant %#v", got, want)
	}
	if _, _ = e.array(t, "GET", accountsBase+"?ordering=created_at", "admin"); e.svc.accountQuery.Order != projections.CreatedAsc || e.svc.accountQuery.Limit != defaultPageLimit {
		t.Errorf("defaults %+v", e.svc.accountQuery)
	}

	// The answer is guide §8's array of one {accounts, total}.
	w := e.send(t, "GET", accountsBase, "admin", "")
	if !strings.HasPrefix(w.Body.String(), `[{"accounts":[`) {
		t.Fatalf("not the guide's array: %s", w.Body)
	}
	_, out := e.array(t, "GET", accountsBase, "admin")
	if len(out) != 1 || !slices.Equal(keysOf(out[0]), []string{"accounts", "total"}) || out[0]["total"] != json.Number("1") {
		t.Fatalf("answer %v", out)
	}
	item := out[0]["accounts"].([]any)[0].(map[string]any)
	if got, want := keysOf(item), sortedUnion(guideEntityKeys, kaznaEntityKeys); !slices.Equal(got, want) {
		t.Fatalf("entity keys %v, want %v", got, want)
	}
	wantItem := map[string]any{"account_kind": "customer", "counterparty_guid": bankA, "created_at": "2026-05-01T10:00:00.123456Z",
		"iban": validIBAN, "stellar_address": testIssuer, "updated_at": "2026-05-01T10:00:00.123456Z", "wallet_account_guid": acc.GUID,
		"wallet_user_external_id": "ext-anna", "wallet_user_guid": c.GUID, "balance": json.Number("12.5"), "blocked": true,
		"branch_guid": "", "segment": "PL"}
	for k, v := range wantItem {
		if item[k] != v {
			t.Errorf("%s = %#v, want %#v", k, item[k], v)
		}
	}

	for _, c := range []struct{ query, field string }{
		{"wallet_account_guids=x", "wallet_account_guids"},
		{"wallet_user_guids=" + u1 + ",y", "wallet_user_guids"},
		{"account_kinds=processing,savings", "account_kinds"},
		{"iban=UA00", "iban"},
		{"branch_guids=kyiv", "branch_guids"},
		{"order=name", "order"},
		{"limit=5000", "limit"},
		{"search_string=a&search_string=b", "search_string"},
	} {
		code, body := e.object(t, "GET", accountsBase+"?"+c.query, "admin", "")
		refused(t, c.query, code, body, 400, CodeInvalidField, c.field)
	}
}

func TestAccountsBranchIsolation(t *testing.T) {
	e := newCustEnv(t)
	_, own := e.svc.addCustomer(bankA, branchX, "own")
	_, other := e.svc.addCustomer(bankA, branchOther, "other")
	e.svc.mu.Lock()
	ownEntity := e.svc.addAccount(projections.Account{CounterpartyGUID: bankA, Kind: account.KindProcessing, Owner: account.Owner{BranchGUID: branchX}})
	headEntity := e.svc.addAccount(projections.Account{CounterpartyGUID: bankA, Kind: account.KindProcessing})
	e.svc.mu.Unlock()

	_, out := e.array(t, "GET", accountsBase, "admin")
	if out[0]["total"] != json.Number("4") || e.svc.accountQuery.BranchScope != "" {
		t.Fatalf("bank-wide list: %v", out)
	}
	_, out = e.array(t, "GET", accountsBase, "branch")
	if e.svc.accountQuery.BranchScope != branchX || out[0]["total"] != json.Number("2") {
		t.Fatalf("branch list: scope %q %v", e.svc.accountQuery.BranchScope, out)
	}

	// §16.4: the list of one branch.
	branchPath := "/api/v1/counterparty/" + bankA + "/branch/" + branchX + "/accounts"
	_, out = e.array(t, "GET", branchPath+"?wallet_account_guids="+ownEntity.GUID, "admin")
	if q := e.svc.accountQuery; !slices.Equal(q.BranchGUIDs, []string{branchX}) || !slices.Equal(q.GUIDs, []string{ownEntity.GUID}) || out[0]["total"] != json.Number("1") {
		t.Errorf("branch accounts: %+v %v", q, out)
	}
	_, out = e.array(t, "GET", branchPath, "branch")
	if out[0]["total"] != json.Number("2") || e.svc.accountQuery.BranchScope != branchX {
		t.Errorf("own branch's accounts: %v", out)
	}
	for _, c := range []struct{ path, token string }{
		{"/api/v1/counterparty/" + bankA + "/branch/" + branchOther + "/accounts", "branch"},
		{"/api/v1/counterparty/" + bankA + "/branch/" + uuid.NewString() + "/accounts", "admin"},
	} {
		code, body := e.object(t, "GET", c.path, c.token, "")
		refused(t, c.path+" as "+c.token, code, body, 404, CodeNotFound, "branch_guid")
	}
	code, body := e.object(t, "GET", "/api/v1/counterparty/"+bankA+"/branch/kyiv/accounts", "admin", "")
	refused(t, "malformed branch", code, body, 400, CodeInvalidField, "branch_guid")

	// Writes on another branch's (or the head office's) account: 404, nothing written.
	writes := e.svc.writes
	for _, a := range []projections.Account{other, headEntity} {
		for _, req := range []struct{ method, path, body string }{
			{"POST", accountsBase + "/" + a.GUID + "/block", `{"reason":"fraud"}`},
			{"POST", accountsBase + "/" + a.GUID + "/unblock", ""},
			{"PATCH", segmentsBase, `{"account_type_guid":"` + a.GUID + `","segment_name":"PL"}`},
		} {
			code, body := e.object(t, req.method, req.path, "branch", req.body)
			refused(t, req.method+" "+req.path, code, body, 404, CodeNotFound, "")
		}
	}
	if e.svc.writes != writes {
		t.Fatal("a refused write reached the service")
	}
	for _, a := range []projections.Account{own, ownEntity} {
		if code, _ := e.object(t, "POST", accountsBase+"/"+a.GUID+"/block", "branch", `{"reason":"fraud"}`); code != 200 {
			t.Errorf("block own branch's account: %d", code)
		}
	}
}

func TestBlockAndUnblock(t *testing.T) {
	e := newCustEnv(t)
	_, acc := e.svc.addCustomer(bankA, "", "anna")
	block, unblock := accountsBase+"/"+acc.GUID+"/block", accountsBase+"/"+acc.GUID+"/unblock"
	code, body := e.object(t, "POST", block, "admin", `{"reason":" suspected fraud "}`, "Idempotency-Key", "blk-1")
	if code != 200 || len(body) != 0 || e.svc.blockReason != "suspected fraud" || e.svc.lastWrite.IdempotencyKey != "blk-1" {
		t.Fatalf("block: %d %v reason %q write %+v", code, body, e.svc.blockReason, e.svc.lastWrite)
	}
	if a, _ := e.svc.Account(t.Context(), bankA, acc.GUID); !a.Blocked {
		t.Fatal("not blocked")
	}
	_, out := e.object(t, "GET", customersBase+"/"+acc.Owner.CustomerGUID+"/accounts", "admin", "")
	if out["accounts"].([]any)[0].(map[string]any)["blocked"] != true {
		t.Errorf("blocked not shown: %v", out)
	}
	if code, body := e.object(t, "POST", unblock, "admin", "", "Idempotency-Key", "ublk-1"); code != 200 || len(body) != 0 || e.svc.lastWrite.IdempotencyKey != "ublk-1" {
		t.Fatalf("unblock without a body: %d %v", code, body)
	}
	if code, _ := e.object(t, "POST", unblock, "admin", `{}`); code != 200 {
		t.Fatalf("unblock with {}: %d", code)
	}
	if a, _ := e.svc.Account(t.Context(), bankA, acc.GUID); a.Blocked {
		t.Fatal("still blocked")
	}
	if got := e.wait.positions(); len(got) != 3 {
		t.Errorf("waited %v", got)
	}
	writes := e.svc.writes
	for _, c := range []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"no reason", block, `{}`, 400, CodeMissingField, "reason"},
		{"blank reason", block, `{"reason":"  "}`, 400, CodeMissingField, "reason"},
		{"long reason", block, `{"reason":"` + strings.Repeat("r", 501) + `"}`, 400, CodeInvalidField, "reason"},
		{"control character", block, `{"reason":"a\u0007b"}`, 400, CodeInvalidField, "reason"},
		{"unknown field", block, `{"reason":"x","until":"tomorrow"}`, 400, CodeUnknownField, "until"},
		{"unblock unknown field", unblock, `{"reason":"x"}`, 400, CodeUnknownField, "reason"},
		{"unknown account", accountsBase + "/" + uuid.NewString() + "/block", `{"reason":"x"}`, 404, CodeNotFound, ""},
		{"unknown account unblock", accountsBase + "/" + uuid.NewString() + "/unblock", ``, 404, CodeNotFound, ""},
		{"malformed account", accountsBase + "/x/block", `{"reason":"x"}`, 400, CodeInvalidField, "account_guid"},
	} {
		code, body := e.object(t, "POST", c.path, "admin", c.body)
		refused(t, c.name, code, body, c.status, c.code, c.field)
	}
	if e.svc.writes != writes {
		t.Fatal("bad input reached the service")
	}
	e.svc.err = fmt.Errorf("app: block: %w", account.ErrNotOpened)
	w := e.send(t, "POST", block, "admin", `{"reason":"x"}`)
	if w.Code != 409 || w.Header().Get("Retry-After") == "" {
		t.Errorf("not opened yet: %d %s", w.Code, w.Body)
	}
}

// TestBlockPermission: accounts.block belongs to Administrator (and bank systems), not to Observer or Auditor.
func TestBlockPermission(t *testing.T) {
	e := newCustEnv(t)
	_, acc := e.svc.addCustomer(bankA, "", "anna")
	for _, r := range DefaultRoles() {
		code, body := e.object(t, "POST", accountsBase+"/"+acc.GUID+"/block", "bank-a-"+r.Name, `{"reason":"x"}`)
		allowed := r.Name == RoleAdministrator
		if slices.Contains(r.Permissions, PermAccountsBlock) != allowed || (code == 200) != allowed {
			t.Errorf("%s: %d %v", r.Name, code, body)
		}
		if !allowed && (code != 403 || body["permission"] != PermAccountsBlock) {
			t.Errorf("%s refused without naming the permission: %d %v", r.Name, code, body)
		}
	}
	if w := e.send(t, "POST", accountsBase+"/"+acc.GUID+"/unblock", "", "", "CX-Authorization", "bank-a-system"); w.Code != 200 {
		t.Errorf("bank system: %d %s", w.Code, w.Body)
	}
	p, ok := PermissionByName(PermAccountsBlock)
	if !ok || p.GroupName != "Account Access" || p.KetoKind != KetoKindEndpoint || p.Platform {
		t.Errorf("catalogue entry %+v", p)
	}
}

func TestSegments(t *testing.T) {
	e := newCustEnv(t)
	_, own := e.svc.addCustomer(bankA, branchX, "own")
	_, other := e.svc.addCustomer(bankA, branchOther, "other")
	e.svc.mu.Lock()
	proc := e.svc.addAccount(projections.Account{CounterpartyGUID: bankA, Kind: account.KindProcessing})
	e.svc.mu.Unlock()

	for _, a := range []projections.Account{own, other, proc} {
		seg := "PL"
		if a.GUID == proc.GUID {
			seg = "PI"
		}
		code, body := e.object(t, "PATCH", segmentsBase, "admin", `{"account_type_guid":"`+strings.ToUpper(a.GUID)+`","segment_name":"`+seg+`"}`, "Idempotency-Key", "seg-"+a.GUID)
		if code != 200 || len(body) != 0 || e.svc.segment != seg || e.svc.lastWrite.IdempotencyKey != "seg-"+a.GUID {
			t.Fatalf("set segment: %d %v", code, body)
		}
	}
	if len(e.wait.positions()) != 3 {
		t.Errorf("waited %v", e.wait.positions())
	}
	_, out := e.array(t, "GET", segmentsBase+"?segment_names=PL,PI", "admin")
	if !slices.Equal(e.svc.segmentNames, []string{"PL", "PI"}) || len(out) != 1 || !slices.Equal(keysOf(out[0]), []string{"counterparty", "segments"}) {
		t.Fatalf("segments %v (names %v)", out, e.svc.segmentNames)
	}
	if cp := out[0]["counterparty"].(map[string]any); cp["guid"] != bankA || cp["name"] != "Bank A" || len(cp) != 2 {
		t.Errorf("counterparty %v", cp)
	}
	segs := out[0]["segments"].(map[string]any)
	pl, pi := segs["PL"].([]any), segs["PI"].([]any)
	if len(segs) != 2 || len(pl) != 2 || len(pi) != 1 {
		t.Fatalf("segments %v", segs)
	}
	item := pi[0].(map[string]any)
	if got := keysOf(item); !slices.Equal(got, guideSegmentKeys) {
		t.Fatalf("segment keys %v, want %v", got, guideSegmentKeys)
	}
	want := map[string]any{"account_type_guid": proc.GUID, "asset_code": "eUAH", "asset_issuer": testIssuer, "counterparty_guid": bankA,
		"kind": "processing", "segment_name": "PI"}
	for k, v := range want {
		if item[k] != v {
			t.Errorf("%s = %#v, want %#v", k, item[k], v)
		}
	}
	// An employee of a branch sees its branch's accounts only.
	_, out = e.array(t, "GET", segmentsBase, "branch")
	segs = out[0]["segments"].(map[string]any)
	if pl, _ := segs["PL"].([]any); len(segs) != 1 || len(pl) != 1 || pl[0].(map[string]any)["account_type_guid"] != own.GUID {
		t.Errorf("branch segments %v", segs)
	}
	if e.svc.segmentNames != nil {
		t.Errorf("names %v without a filter", e.svc.segmentNames)
	}
	// An empty segment_name takes the account out of its segment.
	if code, _ := e.object(t, "PATCH", segmentsBase, "admin", `{"account_type_guid":"`+proc.GUID+`","segment_name":""}`); code != 200 || e.svc.segment != "" {
		t.Errorf("clear segment: %d %q", code, e.svc.segment)
	}

	writes := e.svc.writes
	for _, c := range []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"no account", `{"segment_name":"PL"}`, 400, CodeMissingField, "account_type_guid"},
		{"malformed account", `{"account_type_guid":"x","segment_name":"PL"}`, 400, CodeInvalidField, "account_type_guid"},
		{"no segment_name", `{"account_type_guid":"` + proc.GUID + `"}`, 400, CodeMissingField, "segment_name"},
		{"long segment_name", `{"account_type_guid":"` + proc.GUID + `","segment_name":"` + strings.Repeat("s", 101) + `"}`, 400, CodeInvalidField, "segment_name"},
		{"unknown field", `{"account_type_guid":"` + proc.GUID + `","segment_name":"PL","kind":"x"}`, 400, CodeUnknownField, "kind"},
		{"unknown account", `{"account_type_guid":"` + uuid.NewString() + `","segment_name":"PL"}`, 404, CodeNotFound, ""},
	} {
		code, body := e.object(t, "PATCH", segmentsBase, "admin", c.body)
		refused(t, c.name, code, body, c.status, c.code, c.field)
	}
	if e.svc.writes != writes {
		t.Fatal("bad input reached the service")
	}
	// Segments of no account: an empty object, not null.
	e2 := newCustEnv(t)
	if w := e2.send(t, "GET", segmentsBase, "admin", ""); !strings.Contains(w.Body.String(), `"segments":{}`) {
		t.Errorf("empty segments: %s", w.Body)
	}
	if w := e2.send(t, "GET", "/api/v1/counterparty/"+bankA+"/accounts", "admin", ""); !strings.Contains(w.Body.String(), `"accounts":[]`) {
		t.Errorf("empty accounts: %s", w.Body)
	}
}
