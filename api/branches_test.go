package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	branchdom "github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeBranches keeps branches in memory; a name used twice in a bank (any case) is ErrNameTaken, and deleted
// branches are listed only with IncludeDeleted, as the read model does.
type fakeBranches struct {
	mu   sync.Mutex
	list []projections.Branch
}

func (f *fakeBranches) taken(cp, name, except string) bool {
	for _, b := range f.list {
		if b.CounterpartyGUID == cp && b.GUID != except && strings.EqualFold(b.Name, name) {
			return true
		}
	}
	return false
}

func (f *fakeBranches) CreateBranch(_ context.Context, cp uuid.UUID, name string, _ app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taken(cp.String(), name, "") {
		return app.Written{}, branchdom.ErrNameTaken
	}
	g, now := uuid.NewString(), time.Now()
	f.list = append(f.list, projections.Branch{GUID: g, CounterpartyGUID: cp.String(), Name: name, CreatedAt: now, UpdatedAt: now})
	return app.Written{GUID: g}, nil
}

func (f *fakeBranches) UpdateBranch(_ context.Context, cp, guid uuid.UUID, patch app.BranchPatch, _ app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		b := &f.list[i]
		if b.CounterpartyGUID != cp.String() || b.GUID != guid.String() {
			continue
		}
		if patch.Name != nil {
			if f.taken(b.CounterpartyGUID, *patch.Name, b.GUID) {
				return app.Written{}, branchdom.ErrNameTaken
			}
			b.Name = *patch.Name
		}
		if patch.Deleted != nil {
			b.IsDeleted = *patch.Deleted
		}
		b.UpdatedAt = time.Now()
		return app.Written{GUID: b.GUID}, nil
	}
	return app.Written{}, branchdom.ErrNotFound
}

func (f *fakeBranches) Branch(_ context.Context, cp, guid string) (projections.Branch, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.list {
		if b.CounterpartyGUID == cp && b.GUID == guid {
			return b, true
		}
	}
	return projections.Branch{}, false
}

func (f *fakeBranches) ListBranches(_ context.Context, q projections.BranchQuery) ([]projections.Branch, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []projections.Branch
	for _, b := range f.list {
		if b.CounterpartyGUID == q.CounterpartyGUID && (q.IncludeDeleted || !b.IsDeleted) &&
			(len(q.GUIDs) == 0 || slices.Contains(q.GUIDs, b.GUID)) && (len(q.Names) == 0 || slices.Contains(q.Names, b.Name)) {
			out = append(out, b)
		}
	}
	return out, len(out), nil
}

// branchServer serves the branch routes to bank A's administrator ("admin") and to an administrator confined
// to branch inBranch ("branch").
func branchServer(t *testing.T, svc BranchService, inBranch string) http.Handler {
	t.Helper()
	admin := employee(bankA, RoleAdministrator)
	scoped := admin
	scoped.BranchGUID = inBranch
	return newRouter(Deps{Authenticator: tokens{"admin": admin, "branch": scoped}, Logger: quietLogger()}, branchRoutes(svc))
}

const branchesBase = "/api/v1/counterparty/" + bankA + "/branches"

func TestBranchLifecycle(t *testing.T) {
	h := branchServer(t, &fakeBranches{}, branchX)
	code, body := call(t, h, "POST", branchesBase, "admin", `{"name":"Kyiv"}`)
	guid, _ := body["guid"].(string)
	if code != 200 || len(body) != 1 || uuid.Validate(guid) != nil {
		t.Fatalf("create: %d %v", code, body)
	}
	one := branchesBase + "/" + guid
	code, body = call(t, h, "GET", one, "admin", "")
	if code != 200 || body["name"] != "Kyiv" || body["guid"] != guid || body["counterparty_guid"] != bankA || body["is_deleted"] != false ||
		body["created_at"] == nil || body["updated_at"] == nil || len(body) != 6 {
		t.Fatalf("get: %d %v", code, body)
	}
	code, body = call(t, h, "GET", branchesBase+"?names=Kyiv&guids="+guid+"&limit=5&offset=0&order=-created_at", "admin", "")
	if list, _ := body["list"].([]any); code != 200 || body["total"] != float64(1) || len(list) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, body := call(t, h, "PUT", one, "admin", `{"name":"Kyiv Central"}`); code != 200 || len(body) != 0 {
		t.Fatalf("rename: %d %v", code, body)
	}
	if _, body := call(t, h, "GET", one, "admin", ""); body["name"] != "Kyiv Central" {
		t.Fatalf("after rename: %v", body)
	}
	if code, _ := call(t, h, "PUT", one, "admin", `{"is_deleted":true}`); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if _, body := call(t, h, "GET", one, "admin", ""); body["is_deleted"] != true {
		t.Fatalf("a deleted branch is still readable by GUID, marked deleted: %v", body)
	}
	if _, body := call(t, h, "GET", branchesBase, "admin", ""); body["total"] != float64(0) {
		t.Fatalf("deleted branch listed by default: %v", body)
	}
	_, body = call(t, h, "GET", branchesBase+"?include_deleted=true", "admin", "")
	if list, _ := body["list"].([]any); len(list) != 1 || list[0].(map[string]any)["is_deleted"] != true {
		t.Fatalf("include_deleted: %v", body)
	}
	if code, _ := call(t, h, "PUT", one, "admin", `{"is_deleted":false}`); code != 200 {
		t.Fatalf("restore: %d", code)
	}
	if _, body := call(t, h, "GET", branchesBase, "admin", ""); body["total"] != float64(1) {
		t.Fatalf("restored branch not listed: %v", body)
	}
}

func TestBranchHandlersBadInput(t *testing.T) {
	h := branchServer(t, &fakeBranches{}, branchX)
	if code, body := call(t, h, "POST", branchesBase, "admin", `{}`); code != 400 || body["code"] != CodeMissingField || body["field"] != "name" {
		t.Errorf("missing name: %d %v", code, body)
	}
	if code, body := call(t, h, "POST", branchesBase, "admin", `{"name":"Lviv","colour":"red"}`); code != 400 {
		t.Errorf("unknown field: %d %v", code, body)
	}
	code, body := call(t, h, "POST", branchesBase, "admin", `{"name":"Lviv"}`)
	if code != 200 {
		t.Fatalf("create: %d %v", code, body)
	}
	lviv := body["guid"].(string)
	if code, body := call(t, h, "POST", branchesBase, "admin", `{"name":"LVIV"}`); code != 409 || body["code"] != CodeConflict {
		t.Errorf("duplicate name: %d %v", code, body)
	}
	if code, _ := call(t, h, "POST", branchesBase, "admin", `{"name":"Odesa"}`); code != 200 {
		t.Fatalf("create second: %d", code)
	}
	if code, body := call(t, h, "PUT", branchesBase+"/"+lviv, "admin", `{"name":"Odesa"}`); code != 409 {
		t.Errorf("rename onto a taken name: %d %v", code, body)
	}
	if code, body := call(t, h, "PUT", branchesBase+"/"+lviv, "admin", `{"name":" "}`); code != 400 || body["field"] != "name" {
		t.Errorf("blank rename: %d %v", code, body)
	}
	for _, m := range []string{"GET", "PUT"} {
		if code, body := call(t, h, m, branchesBase+"/"+uuid.NewString(), "admin", `{}`); code != 404 || body["code"] != CodeNotFound {
			t.Errorf("%s unknown branch: %d %v", m, code, body)
		}
		if code, body := call(t, h, m, branchesBase+"/not-a-guid", "admin", `{}`); code != 400 || body["field"] != "branch_guid" {
			t.Errorf("%s malformed guid: %d %v", m, code, body)
		}
	}
	if code, body := call(t, h, "GET", branchesBase+"?guids=nope", "admin", ""); code != 400 || body["field"] != "guids" {
		t.Errorf("bad guids: %d %v", code, body)
	}
	if code, body := call(t, h, "GET", branchesBase+"?order=name", "admin", ""); code != 400 || body["field"] != "order" {
		t.Errorf("unsupported order: %d %v", code, body)
	}
	if code, body := call(t, h, "GET", branchesBase+"?include_deleted=maybe", "admin", ""); code != 400 || body["field"] != "include_deleted" {
		t.Errorf("bad include_deleted: %d %v", code, body)
	}
}

func TestBranchIsolation(t *testing.T) {
	svc := &fakeBranches{}
	now := time.Now()
	own, other := uuid.NewString(), uuid.NewString()
	svc.list = []projections.Branch{
		{GUID: own, CounterpartyGUID: bankA, Name: "Own", CreatedAt: now, UpdatedAt: now},
		{GUID: other, CounterpartyGUID: bankA, Name: "Other", CreatedAt: now, UpdatedAt: now},
	}
	h := branchServer(t, svc, strings.ToUpper(own)) // the claim's case does not matter
	if _, body := call(t, h, "GET", branchesBase, "admin", ""); body["total"] != float64(2) {
		t.Fatalf("bank-wide list: %v", body)
	}
	_, body := call(t, h, "GET", branchesBase, "branch", "")
	if list, _ := body["list"].([]any); body["total"] != float64(1) || len(list) != 1 || list[0].(map[string]any)["guid"] != own {
		t.Fatalf("branch list: %v", body)
	}
	if _, body := call(t, h, "GET", branchesBase+"?guids="+other, "branch", ""); body["total"] != float64(0) {
		t.Fatalf("other branch asked by GUID: %v", body)
	}
	if code, _ := call(t, h, "GET", branchesBase+"/"+own, "branch", ""); code != 200 {
		t.Fatalf("own branch: %d", code)
	}
	if code, _ := call(t, h, "GET", branchesBase+"/"+other, "branch", ""); code != 404 {
		t.Fatalf("other branch seen: %d", code)
	}
	if code, _ := call(t, h, "PUT", branchesBase+"/"+other, "branch", `{"is_deleted":true}`); code != 404 {
		t.Fatalf("other branch written: %d", code)
	}
	if b, _ := svc.Branch(context.Background(), bankA, other); b.IsDeleted {
		t.Fatal("the refused write changed the other branch")
	}
	if code, _ := call(t, h, "PUT", branchesBase+"/"+own, "branch", `{"name":"Own renamed"}`); code != 200 {
		t.Fatalf("own branch rename: %d", code)
	}
	if code, body := call(t, h, "POST", branchesBase, "branch", `{"name":"New"}`); code != 403 || body["code"] != CodeForbidden {
		t.Fatalf("branch employee created a branch: %d %v", code, body)
	}
}

func TestBranchServiceMissing(t *testing.T) {
	h := branchServer(t, nil, branchX)
	if code, _ := call(t, h, "GET", branchesBase, "admin", ""); code != 503 {
		t.Errorf("list without a service: %d", code)
	}
}
