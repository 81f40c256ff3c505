package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// directoryRouter is the router over a real app.Directory on a bolt store, with bank A's default roles
// seeded, so that a test drives the role writes and reads end to end.
func directoryRouter(t *testing.T) http.Handler {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	emps, brs, roles := projections.NewEmployees(), projections.NewBranches(), projections.NewRoles()
	runner, err := projections.NewRunner(store, projections.Options{Logger: quietLogger()}, emps, brs, roles)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	known := func(name string) bool { p, ok := PermissionByName(name); return ok && !p.Platform }
	var specs []rbac.RoleSpec
	for _, r := range DefaultRoles() {
		specs = append(specs, rbac.RoleSpec{Name: r.Name, Permissions: r.Permissions})
	}
	_, err = command.Handle(ctx, store, rbac.Stream(uuid.MustParse(bankA)), rbac.Decider, rbac.Events,
		any(rbac.Seed{CounterpartyGUID: uuid.MustParse(bankA), Roles: specs, Known: known}), command.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := app.NewDirectory(app.DirectoryDeps{Store: store, Employees: emps, Branches: brs, Roles: roles,
		WaitFor: runner.WaitFor, Catalogue: known, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	d := testDeps()
	d.Employees, d.RBAC, d.Branches = dir, dir, dir
	return NewRouter(d)
}

// TestBranchCheckFollowsMembership: through the HTTP API and the real directory, a branch check turns true
// when the employee joins a branch-access role holding the permission, and false again when the employee
// leaves it or the role loses the permission.
func TestBranchCheckFollowsMembership(t *testing.T) {
	h := directoryRouter(t)
	base := "/api/v1/counterparty/" + bankA
	admin := "bank-a-" + RoleAdministrator
	post := func(method, path, body string, out any) {
		t.Helper()
		w := do(t, h, method, base+path, admin, strings.NewReader(body), "Content-Type", "application/json")
		if w.Code != 200 {
			t.Fatalf("%s %s %s: %d %s", method, path, body, w.Code, w.Body)
		}
		if out != nil {
			if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var branch struct{ GUID string }
	post("POST", "/branches", `{"name":"Kyiv"}`, &branch)
	var emp struct {
		EmployeeGUID string `json:"employee_guid"`
	}
	post("POST", "/employees", `{"email":"teller@bank-a.example"}`, &emp)
	read := PermissionGUID(PermBranchCustomersRead)
	post("POST", "/branches-access/role", `{"branch_guid":"`+branch.GUID+`","role_name":"Kyiv tellers"}`, nil)
	grant := `{"branch_guid":"` + branch.GUID + `","permission_guid":"` + read + `","role_name":"Kyiv tellers"}`
	post("POST", "/branches-access/permission", grant, nil)
	member := `{"role_name":"Kyiv tellers","user_guid":"` + emp.EmployeeGUID + `"}`

	check := func(want bool) {
		t.Helper()
		w := do(t, h, "GET", base+"/branches-access/check?"+checkQuery(emp.EmployeeGUID, branch.GUID, read), admin, nil)
		var got branchAccessCheck
		if decodeStrict(t, w, &got); got.Allowed != want {
			t.Fatalf("allowed %v, want %v", got.Allowed, want)
		}
	}
	check(false)
	post("POST", "/branches-access/user", member, nil)
	check(true)
	post("DELETE", "/branches-access/user", member, nil)
	check(false)

	post("POST", "/branches-access/user", member, nil)
	check(true)
	post("DELETE", "/branches-access/permission", grant, nil)
	check(false)

	// The table shows the same: the role, and that it no longer holds the permission.
	var table PermissionTableResponse
	decodeStrict(t, do(t, h, "GET", branchTablePath(bankA, branch.GUID), admin, nil), &table)
	if len(table.Roles) != 1 || table.Roles[0] != "Kyiv tellers" || allowedIn(cellOf(t, table, PermBranchCustomersRead), "Kyiv tellers") {
		t.Fatalf("table %+v", table)
	}
	post("POST", "/branches-access/permission", grant, nil)
	decodeStrict(t, do(t, h, "GET", branchTablePath(bankA, branch.GUID), admin, nil), &table)
	if !allowedIn(cellOf(t, table, PermBranchCustomersRead), "Kyiv tellers") {
		t.Fatalf("table after grant %+v", table)
	}
	check(true)

	// Unknown records through the real directory: 404 naming the parameter.
	unknown := uuid.NewString()
	wantError(t, do(t, h, "GET", base+"/branches-access/check?"+checkQuery(unknown, branch.GUID, read), admin, nil), 404, CodeNotFound, "user_guid")
	wantError(t, do(t, h, "GET", base+"/branches-access/check?"+checkQuery(emp.EmployeeGUID, unknown, read), admin, nil), 404, CodeNotFound, "branch_guid")
	wantError(t, do(t, h, "GET", branchTablePath(bankA, unknown), admin, nil), 404, CodeNotFound, "branch_guid")

	// A deleted branch grants nothing, though its role and membership remain.
	post("PUT", "/branches/"+branch.GUID, `{"is_deleted":true}`, nil)
	check(false)
}
