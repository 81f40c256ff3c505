package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	categorydom "github.com/kazna-ledger/kazna/domain/category"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// fakeCategories keeps categories in memory for the route matrix and the bad-input sweep; the lifecycle
// tests below run the real service.
type fakeCategories struct {
	mu   sync.Mutex
	list []projections.Category
}

func (f *fakeCategories) Define(_ context.Context, name, description string, _ app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.list {
		if !c.IsDeleted && strings.EqualFold(c.Name, name) {
			return app.Written{}, categorydom.ErrNameTaken
		}
	}
	g, now := uuid.NewString(), time.Now()
	f.list = append(f.list, projections.Category{GUID: g, Name: name, Description: description, CreatedAt: now, UpdatedAt: now})
	return app.Written{GUID: g}, nil
}

func (f *fakeCategories) Change(_ context.Context, guid uuid.UUID, patch app.CategoryPatch, _ app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		if c := &f.list[i]; c.GUID == guid.String() {
			if c.IsDeleted {
				return app.Written{}, categorydom.ErrDeleted
			}
			if patch.Name != nil {
				c.Name = *patch.Name
			}
			if patch.Description != nil {
				c.Description = *patch.Description
			}
			return app.Written{GUID: c.GUID}, nil
		}
	}
	return app.Written{}, categorydom.ErrNotFound
}

func (f *fakeCategories) Delete(_ context.Context, guid uuid.UUID, _ app.Write) (app.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		if c := &f.list[i]; c.GUID == guid.String() {
			if !c.IsDeleted {
				c.IsDeleted, c.DeletedAt = true, time.Now()
			}
			return app.Written{GUID: c.GUID}, nil
		}
	}
	return app.Written{}, categorydom.ErrNotFound
}

func (f *fakeCategories) List(context.Context) []projections.Category {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

// categoryRouter is the router over a real app.Categories on a bolt store, seeded with guide §13's
// categories, so that the tests drive the dictionary end to end.
func categoryRouter(t *testing.T) http.Handler {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	model := projections.NewCategories()
	runner, err := projections.NewRunner(store, projections.Options{Logger: quietLogger()}, model)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	svc, err := app.NewCategories(app.CategoryDeps{Store: store, Categories: model, WaitFor: runner.WaitFor, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	d := testDeps()
	d.Categories = svc
	return NewRouter(d)
}

// send is do with a JSON body (when given) and its decoded answer.
func send(t *testing.T, h http.Handler, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	if body != "" {
		hdr = append(hdr, "Content-Type", "application/json")
	}
	w := do(t, h, method, path, token, strings.NewReader(body), hdr...)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object", method, path, w.Body)
	}
	return w.Code, out
}

// listCategories is the GET answer, each category with exactly the guide's six fields.
func listCategories(t *testing.T, h http.Handler, token string) []map[string]any {
	t.Helper()
	code, body := send(t, h, "GET", categoryPath, token, "")
	raw, _ := body["categories"].([]any)
	if code != 200 || len(body) != 1 || raw == nil {
		t.Fatalf("list as %s: %d %v", token, code, body)
	}
	var out []map[string]any
	for _, r := range raw {
		c := r.(map[string]any)
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if want := []string{"created_at", "deleted_at", "description", "guid", "name", "updated_at"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("category fields %v, want %v", keys, want)
		}
		out = append(out, c)
	}
	return out
}

func byName(list []map[string]any, name string) map[string]any {
	for _, c := range list {
		if c["name"] == name && c["deleted_at"] == nil {
			return c
		}
	}
	return nil
}

const admin = "platform-admin"

func TestCategoriesSeededList(t *testing.T) {
	h := categoryRouter(t)
	// Every caller with dictionary.read sees the dictionary: bank employees of any role and the platform.
	for _, tok := range []string{"bank-a-" + RoleObserver, "bank-a-" + RoleOperator, "bank-b-admin", admin} {
		list := listCategories(t, h, tok)
		var names []string
		for _, c := range list {
			names = append(names, c["name"].(string))
		}
		want := []string{"01", "02", "03", "04", "10", "11", "12", "13", "14", "20", "21", "30", "31", "32", "40", "50", "51", "52"}
		if !slices.Equal(names, want) {
			t.Fatalf("as %s: names %v, want %v", tok, names, want)
		}
	}
	list := listCategories(t, h, admin)
	atm := list[0]
	if atm["description"] != "Cash withdrawal at an ATM" || atm["guid"] != categorydom.StandardGUID("01").String() || atm["deleted_at"] != nil {
		t.Fatalf("01: %v", atm)
	}
	if _, err := time.Parse(time.RFC3339Nano, atm["created_at"].(string)); err != nil {
		t.Fatalf("created_at %v: %v", atm["created_at"], err)
	}
	if list[8]["description"] != `Payment via QR ("DirectPay")` || list[17]["description"] != "Refund of part of the amount" {
		t.Fatalf("14 and 52: %v, %v", list[8], list[17])
	}
}

func TestCategoryLifecycleThroughHTTP(t *testing.T) {
	h := categoryRouter(t)
	code, body := send(t, h, "POST", categoryPath, admin, `{"name":"60","description":"Gifts"}`)
	guid, _ := body["guid"].(string)
	if code != 200 || len(body) != 1 || uuid.Validate(guid) != nil {
		t.Fatalf("create: %d %v", code, body)
	}
	if c := byName(listCategories(t, h, admin), "60"); c == nil || c["guid"] != guid || c["description"] != "Gifts" {
		t.Fatalf("created category not listed: %v", c)
	}
	if code, body := send(t, h, "POST", categoryPath, admin, `{"name":"01","description":"another ATM"}`); code != 409 || body["code"] != CodeConflict {
		t.Fatalf("a second 01: %d %v", code, body)
	}
	one := categoryPath + "/" + guid
	if code, body := send(t, h, "PUT", one, admin, `{"name":"61","description":"Presents"}`); code != 200 || len(body) != 0 {
		t.Fatalf("change: %d %v", code, body)
	}
	if code, _ := send(t, h, "PUT", one, admin, `{"description":"Presents and gifts"}`); code != 200 {
		t.Fatalf("change the description only: %d", code)
	}
	c := byName(listCategories(t, h, admin), "61")
	if c == nil || c["guid"] != guid || c["description"] != "Presents and gifts" || c["updated_at"] == c["created_at"] {
		t.Fatalf("after the change: %v", c)
	}
	if code, _ := send(t, h, "POST", categoryPath, admin, `{"name":"60"}`); code != 200 {
		t.Fatalf("the old name is not free: %d", code)
	}
	if code, body := send(t, h, "PUT", one, admin, `{"name":"02"}`); code != 409 || body["code"] != CodeConflict {
		t.Fatalf("rename onto a taken name: %d %v", code, body)
	}

	if code, body := send(t, h, "DELETE", one, admin, ""); code != 200 || len(body) != 0 {
		t.Fatalf("delete: %d %v", code, body)
	}
	var deleted map[string]any
	for _, c := range listCategories(t, h, admin) {
		if c["guid"] == guid {
			deleted = c
		}
	}
	if deleted == nil || deleted["deleted_at"] == nil || deleted["name"] != "61" {
		t.Fatalf("a deleted category is listed with deleted_at: %v", deleted)
	}
	if code, _ := send(t, h, "DELETE", one, admin, ""); code != 200 {
		t.Fatalf("delete again: %d", code)
	}
	if code, body := send(t, h, "PUT", one, admin, `{"description":"x"}`); code != 422 || body["code"] != CodeUnprocessable {
		t.Fatalf("change a deleted category: %d %v", code, body)
	}
	if code, _ := send(t, h, "POST", categoryPath, admin, `{"name":"61"}`); code != 200 {
		t.Fatalf("the name of a deleted category is not free: %d", code)
	}

	// The standard categories are ordinary ones: the platform may delete one.
	std := categoryPath + "/" + categorydom.StandardGUID("52").String()
	if code, _ := send(t, h, "DELETE", std, admin, ""); code != 200 {
		t.Fatalf("delete 52: %d", code)
	}
	if byName(listCategories(t, h, admin), "52") != nil {
		t.Fatal("52 is still live")
	}
}

func TestCategoryBadInputThroughHTTP(t *testing.T) {
	h := categoryRouter(t)
	atm := categoryPath + "/" + categorydom.StandardGUID("01").String()
	for _, tc := range []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"POST", categoryPath, `{}`, 400, CodeMissingField, "name"},
		{"POST", categoryPath, `{"name":"  "}`, 400, CodeMissingField, "name"},
		{"POST", categoryPath, `{"name":"70","colour":"red"}`, 400, CodeUnknownField, "colour"},
		{"POST", categoryPath, `{"name":70}`, 400, CodeInvalidField, "name"},
		{"POST", categoryPath, `{"name":"` + strings.Repeat("7", 21) + `"}`, 400, CodeInvalidField, "name"},
		{"POST", categoryPath, `{"name":"` + strings.Repeat("7", 81) + `"}`, 400, CodeInvalidField, "name"},
		{"POST", categoryPath, `{"name":"7\u00007"}`, 400, CodeInvalidField, "name"},
		{"POST", categoryPath, `{"name":"70","description":"` + strings.Repeat("d", 501) + `"}`, 400, CodeInvalidField, "description"},
		{"POST", categoryPath, `{"name":"70","description":"` + strings.Repeat("d", 2001) + `"}`, 400, CodeInvalidField, "description"},
		{"PUT", atm, `{"name":""}`, 400, CodeMissingField, "name"},
		{"PUT", atm, `{"name":"\u0007"}`, 400, CodeInvalidField, "name"},
		{"PUT", atm, `{"description":"` + strings.Repeat("d", 501) + `"}`, 400, CodeInvalidField, "description"},
		{"PUT", atm, `{"guid":"x"}`, 400, CodeUnknownField, "guid"},
		{"PUT", categoryPath + "/not-a-guid", `{}`, 400, CodeInvalidField, "category_guid"},
		{"DELETE", categoryPath + "/not-a-guid", "", 400, CodeInvalidField, "category_guid"},
		{"PUT", categoryPath + "/" + uuid.NewString(), `{"name":"70"}`, 404, CodeNotFound, ""},
		{"DELETE", categoryPath + "/" + uuid.NewString(), "", 404, CodeNotFound, ""},
	} {
		code, body := send(t, h, tc.method, tc.path, admin, tc.body)
		if code != tc.status || body["code"] != tc.code || (tc.field != "" && body["field"] != tc.field) || body["error"] == "" {
			t.Errorf("%s %s %s: %d %v; want %d %s %s", tc.method, tc.path, tc.body, code, body, tc.status, tc.code, tc.field)
		}
	}
	w := do(t, h, "POST", categoryPath, admin, strings.NewReader(`{"name":"70"}`))
	errorOf(t, w, 415, CodeUnsupportedMediaType)
	if len(listCategories(t, h, admin)) != len(categorydom.Standard()) {
		t.Fatal("a refused request wrote a category")
	}
}

func TestCategoryIdempotencyThroughHTTP(t *testing.T) {
	h := categoryRouter(t)
	code, first := send(t, h, "POST", categoryPath, admin, `{"name":"80","description":"Loans"}`, "Idempotency-Key", "cat-80")
	if code != 200 {
		t.Fatalf("create: %d %v", code, first)
	}
	code, again := send(t, h, "POST", categoryPath, admin, `{"name":"80","description":"Loans"}`, "Idempotency-Key", "cat-80")
	if code != 200 || again["guid"] != first["guid"] {
		t.Fatalf("retry: %d %v, first %v", code, again, first)
	}
	code, body := send(t, h, "POST", categoryPath, admin, `{"name":"80","description":"Credit"}`, "Idempotency-Key", "cat-80")
	if code != 409 || body["code"] != CodeIdempotencyConflict {
		t.Fatalf("key reused with another body: %d %v", code, body)
	}
	code, body = send(t, h, "POST", categoryPath, admin, `{"name":"81"}`, "Idempotency-Key", "bad key")
	if code != 400 || body["field"] != "Idempotency-Key" {
		t.Fatalf("bad key: %d %v", code, body)
	}
	one := categoryPath + "/" + first["guid"].(string)
	for range 2 {
		if code, body := send(t, h, "PUT", one, admin, `{"name":"82"}`, "Idempotency-Key", "rename-80"); code != 200 {
			t.Fatalf("keyed rename: %d %v", code, body)
		}
	}
	for range 2 {
		if code, body := send(t, h, "DELETE", one, admin, "", "Idempotency-Key", "delete-80"); code != 200 {
			t.Fatalf("keyed delete: %d %v", code, body)
		}
	}
	n := 0
	for _, c := range listCategories(t, h, admin) {
		if c["guid"] == first["guid"] {
			n++
			if c["name"] != "82" || c["deleted_at"] == nil {
				t.Fatalf("after keyed rename and delete: %v", c)
			}
		}
	}
	if n != 1 {
		t.Fatalf("the keyed category is listed %d times", n)
	}
}

// TestCategoryPermissions: the dictionary is read by any caller with dictionary.read and written by the
// platform only; the real service writes nothing for a refused caller.
func TestCategoryPermissions(t *testing.T) {
	h := categoryRouter(t)
	atm := categoryPath + "/" + categorydom.StandardGUID("01").String()
	writes := []struct{ method, path, body string }{
		{"POST", categoryPath, `{"name":"90"}`},
		{"PUT", atm, `{"name":"90"}`},
		{"DELETE", atm, ""},
	}
	for _, tok := range []string{"bank-a-" + RoleAdministrator, "bank-b-admin", "cx:bank-a-system", "bank-a-" + RoleOperator, "platform-reader"} {
		for _, wr := range writes {
			hdr := []string{}
			if wr.body != "" {
				hdr = append(hdr, "Content-Type", "application/json")
			}
			body := errorOf(t, do(t, h, wr.method, wr.path, tok, strings.NewReader(wr.body), hdr...), 403, CodeForbidden)
			if body.Permission != PermDictionaryWrite {
				t.Errorf("%s %s as %s: denial names %q", wr.method, wr.path, tok, body.Permission)
			}
		}
	}
	for _, tok := range []string{"bank-a-nobody", "platform-clerk"} {
		errorOf(t, do(t, h, "GET", categoryPath, tok, nil), 403, CodeForbidden)
	}
	for _, wr := range append(writes, struct{ method, path, body string }{"GET", categoryPath, ""}) {
		errorOf(t, do(t, h, wr.method, wr.path, "", strings.NewReader(wr.body)), 401, CodeUnauthenticated)
	}
	list := listCategories(t, h, "cx:bank-a-system") // a bank's system reads (through the fake authenticator)
	if len(list) != len(categorydom.Standard()) || byName(list, "01") == nil {
		t.Fatalf("a refused write changed the dictionary: %v", list)
	}
}

func TestCategoryServiceMissing(t *testing.T) {
	h := newRouter(Deps{Authenticator: testTokens(), Logger: quietLogger()}, categoryRoutes(nil))
	for _, m := range []string{"GET", "DELETE"} {
		path := categoryPath
		if m == "DELETE" {
			path += "/" + uuid.NewString()
		}
		errorOf(t, do(t, h, m, path, admin, nil), 503, CodeUnavailable)
	}
}

// TestCategoryViewDeletedAt: deleted_at is null while a category is live and its time once deleted.
func TestCategoryViewDeletedAt(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("EET", 2*3600))
	live := viewCategory(projections.Category{GUID: "g", Name: "01", CreatedAt: at, UpdatedAt: at})
	b, _ := json.Marshal(live)
	if !strings.Contains(string(b), `"deleted_at":null`) || !strings.Contains(string(b), `"created_at":"2026-03-01T07:00:00Z"`) {
		t.Fatalf("live: %s", b)
	}
	gone := viewCategory(projections.Category{GUID: "g", Name: "01", IsDeleted: true, DeletedAt: at, CreatedAt: at, UpdatedAt: at})
	if b, _ := json.Marshal(gone); !strings.Contains(string(b), `"deleted_at":"2026-03-01T07:00:00Z"`) {
		t.Fatalf("deleted: %s", b)
	}
}
