package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	employeedom "github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/projections"
)

const branchX = "11111111-2222-4333-8444-555555555555"

// fakeEmployees keeps employees in memory; a login used twice in a bank is ErrLoginTaken.
type fakeEmployees struct {
	list []projections.Employee
	last projections.EmployeeQuery
}

func (f *fakeEmployees) CreateEmployee(_ context.Context, cp uuid.UUID, in app.EmployeeInput, _ app.Write) (app.Written, error) {
	for _, e := range f.list {
		if e.CounterpartyGUID == cp.String() && strings.EqualFold(e.Login, in.Email) {
			return app.Written{}, employeedom.ErrLoginTaken
		}
	}
	g := uuid.NewString()
	f.list = append(f.list, projections.Employee{GUID: g, CounterpartyGUID: cp.String(), Login: strings.ToLower(in.Email), BranchGUID: in.BranchGUID})
	return app.Written{GUID: g}, nil
}

func (f *fakeEmployees) UpdateEmployee(context.Context, uuid.UUID, uuid.UUID, app.EmployeePatch, app.Write) (app.Written, error) {
	return app.Written{}, nil
}

func (f *fakeEmployees) Employee(_ context.Context, cp, guid string) (projections.Employee, bool) {
	for _, e := range f.list {
		if e.CounterpartyGUID == cp && e.GUID == guid {
			return e, true
		}
	}
	return projections.Employee{}, false
}

func (f *fakeEmployees) ListEmployees(_ context.Context, q projections.EmployeeQuery) ([]projections.Employee, int, error) {
	f.last = q
	var out []projections.Employee
	for _, e := range f.list {
		if e.CounterpartyGUID == q.CounterpartyGUID && (len(q.BranchGUIDs) == 0 || e.BranchGUID == q.BranchGUIDs[0]) {
			out = append(out, e)
		}
	}
	return out, len(out), nil
}

func (f *fakeEmployees) RequestVerification(context.Context, string) error { return nil }

func (f *fakeEmployees) SetPassword(context.Context, string, string, string) (app.Written, error) {
	return app.Written{}, app.ErrVerificationRefused
}

func employeeServer(t *testing.T, svc EmployeeService) http.Handler {
	t.Helper()
	admin := employee(bankA, RoleAdministrator)
	inBranch := admin
	inBranch.BranchGUID = branchX
	auth := tokens{"admin": admin, "branch": inBranch}
	return newRouter(Deps{Authenticator: auth, Logger: quietLogger()}, employeeRoutes(svc))
}

func call(t *testing.T, h http.Handler, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestEmployeeHandlersBadInput(t *testing.T) {
	svc := &fakeEmployees{}
	h := employeeServer(t, svc)
	base := "/api/v1/counterparty/" + bankA + "/employees"
	if code, body := call(t, h, "POST", base, "admin", `{"name":"x"}`); code != 400 || body["field"] != "email" {
		t.Errorf("missing email: %d %v", code, body)
	}
	if code, body := call(t, h, "POST", base, "admin", `{"email":"a@b.example","branch_guid":"nope"}`); code != 400 || body["field"] != "branch_guid" {
		t.Errorf("bad branch_guid: %d %v", code, body)
	}
	if code, _ := call(t, h, "POST", base, "admin", `{"email":"a@b.example"}`); code != 200 {
		t.Fatalf("create: %d", code)
	}
	if code, body := call(t, h, "POST", base, "admin", `{"email":"A@b.example"}`); code != 409 || body["code"] != CodeConflict {
		t.Errorf("duplicate: %d %v", code, body)
	}
	if code, _ := call(t, h, "GET", base+"/"+uuid.NewString(), "admin", ""); code != 404 {
		t.Errorf("unknown employee: %d", code)
	}
	if code, body := call(t, h, "GET", base+"/not-a-guid", "admin", ""); code != 400 || body["field"] != "employee_guid" {
		t.Errorf("malformed guid: %d %v", code, body)
	}
	if code, body := call(t, h, "POST", "/api/v1/auth/set-password", "", `{"email":"a@b.example","code":"x","password":"P4ssw0rd!"}`); code != 400 || body["field"] != "code" {
		t.Errorf("bad code: %d %v", code, body)
	}
	if code, body := call(t, h, "POST", "/api/v1/auth/set-password", "", `{"email":"a@b.example","code":"x"}`); code != 400 || body["field"] != "password" {
		t.Errorf("missing password: %d %v", code, body)
	}
}

func TestEmployeeListBranchIsolation(t *testing.T) {
	svc := &fakeEmployees{list: []projections.Employee{
		{GUID: uuid.NewString(), CounterpartyGUID: bankA, Login: "head"},
		{GUID: uuid.NewString(), CounterpartyGUID: bankA, Login: "teller", BranchGUID: branchX},
	}}
	h := employeeServer(t, svc)
	base := "/api/v1/counterparty/" + bankA + "/employees"
	if code, body := call(t, h, "GET", base, "admin", ""); code != 200 || body["total"] != float64(2) {
		t.Fatalf("bank-wide list: %d %v", code, body)
	}
	code, body := call(t, h, "GET", base, "branch", "")
	if code != 200 || body["total"] != float64(1) {
		t.Fatalf("branch list: %d %v", code, body)
	}
	if code, body := call(t, h, "GET", base+"?branch_guids="+uuid.NewString(), "branch", ""); code != 200 || body["total"] != float64(0) {
		t.Fatalf("other branch asked: %d %v", code, body)
	}
	if code, _ := call(t, h, "GET", base+"/"+svc.list[0].GUID, "branch", ""); code != 404 {
		t.Fatalf("head office employee seen from a branch: %d", code)
	}
}
