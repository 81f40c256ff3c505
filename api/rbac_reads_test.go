package api

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// decodeStrict decodes a 200 answer into v, refusing fields the schema does not have.
func decodeStrict(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if w.Code != 200 {
		t.Fatalf("status %d, want 200; body %s", w.Code, w.Body)
	}
	dec := json.NewDecoder(strings.NewReader(w.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
}

// wantError checks an error answer and the parameter it names.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code, field string) {
	t.Helper()
	if body := errorOf(t, w, status, code); body.Field != field {
		t.Fatalf("error %+v names field %q, want %q", body, body.Field, field)
	}
}

func TestScopes(t *testing.T) {
	h := testRouter()
	for _, tc := range []struct {
		path, kind, perm string
		want             []string // must be among the scopes
		absent           []string
	}{
		{"/rbac/scope", KetoKindEndpoint, PermRBACRead,
			[]string{"accounts", "employees", "branches", "branches.access", "customers", "dictionary", "rbac", "audit"},
			[]string{"counterparties", "branch.customers"}},
		{"/branches-access/scope", KetoKindBranch, PermBranchesAccessRead,
			[]string{"branch.employees", "branch.customers"}, []string{"customers", "rbac"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			var resp scopesResponse
			// The Auditor holds both read permissions; so does a bank system.
			for _, tok := range []string{"bank-a-" + RoleAuditor, "cx:bank-a-system"} {
				decodeStrict(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+tc.path, tok, nil), &resp)
			}
			var names []string
			for _, s := range resp.Scopes {
				if s.KetoKind != tc.kind {
					t.Errorf("scope %+v: kind, want %s", s, tc.kind)
				}
				if slices.Contains(names, s.KetoScopeName) {
					t.Errorf("scope %q listed twice", s.KetoScopeName)
				}
				names = append(names, s.KetoScopeName)
				// A scope is a stem of a permission a bank's role of this kind can hold.
				if !slices.ContainsFunc(Permissions(), func(p Permission) bool {
					return !p.Platform && p.KetoKind == tc.kind && strings.HasPrefix(p.Name, s.KetoScopeName+".") &&
						!strings.Contains(strings.TrimPrefix(p.Name, s.KetoScopeName+"."), ".")
				}) {
					t.Errorf("scope %q names no permission of kind %s", s.KetoScopeName, tc.kind)
				}
			}
			for _, n := range tc.want {
				if !slices.Contains(names, n) {
					t.Errorf("scopes %v lack %q", names, n)
				}
			}
			for _, n := range tc.absent {
				if slices.Contains(names, n) {
					t.Errorf("scopes %v have %q", names, n)
				}
			}
			if tc.kind == KetoKindBranch && !slices.Equal(names, []string{"branch.employees", "branch.customers"}) {
				t.Errorf("branch scopes %v, want table order", names)
			}

			wantError(t, do(t, h, "GET", "/api/v1/counterparty/not-a-guid"+tc.path, "bank-a-"+RoleAuditor, nil),
				400, CodeInvalidField, "counterparty_guid")
			// The Observer holds neither rbac.read nor branches.access.read.
			if body := errorOf(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+tc.path, "bank-a-"+RoleObserver, nil), 403, CodeForbidden); body.Permission != tc.perm {
				t.Fatalf("denial %+v, want permission %s", body, tc.perm)
			}
			errorOf(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+tc.path, "bank-b-admin", nil), 403, CodeForbidden)
			errorOf(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+tc.path, "", nil), 401, CodeUnauthenticated)
		})
	}
}

func TestScopeNames(t *testing.T) {
	for _, p := range Permissions() {
		if s := scopeName(p.Name); s == p.Name || s == "" {
			t.Errorf("permission %q has no action part, so no scope", p.Name)
		}
	}
}

func branchTablePath(bank, branch string) string {
	return "/api/v1/counterparty/" + bank + "/branches-access/" + branch + "/permission/table"
}

// cellOf finds a permission's cell in a table.
func cellOf(t *testing.T, table PermissionTableResponse, perm string) PermissionTableCell {
	t.Helper()
	for _, row := range table.Rows {
		for _, c := range row.Permissions {
			if c.Name == perm {
				return c
			}
		}
	}
	t.Fatalf("table has no cell for %s", perm)
	return PermissionTableCell{}
}

func allowedIn(c PermissionTableCell, role string) bool {
	i := slices.IndexFunc(c.Roles, func(r RoleAllowed) bool { return r.Name == role })
	return i >= 0 && c.Roles[i].Allowed
}

func TestBranchPermissionTable(t *testing.T) {
	h := testRouter()
	admin := "bank-a-" + RoleAdministrator

	var table PermissionTableResponse
	decodeStrict(t, do(t, h, "GET", branchTablePath(bankA, strings.ToUpper(fakeBranch)), admin, nil), &table)
	if !slices.Equal(table.Roles, []string{"Kyiv tellers", "Kyiv clerks"}) {
		t.Fatalf("roles %v", table.Roles)
	}
	var groups, perms []string
	for _, row := range table.Rows {
		groups = append(groups, row.GroupName)
		for _, c := range row.Permissions {
			perms = append(perms, c.Name)
			if p, _ := PermissionByName(c.Name); p.KetoKind != KetoKindBranch || c.GUID != p.GUID || c.SortNumber != p.SortNumber {
				t.Errorf("cell %+v is not the branch permission %+v", c, p)
			}
			if len(c.Roles) != 2 {
				t.Errorf("cell %s has %d roles, want 2", c.Name, len(c.Roles))
			}
		}
	}
	if !slices.Equal(groups, []string{"Employees Access", "Customers Access"}) {
		t.Fatalf("groups %v", groups)
	}
	if want := []string{PermBranchEmployeesRead, PermBranchEmployeesWrite, PermBranchCustomersRead, PermBranchCustomersWrite}; !slices.Equal(perms, want) {
		t.Fatalf("permissions %v, want %v", perms, want)
	}
	for _, tc := range []struct {
		perm, role string
		allowed    bool
	}{
		{PermBranchCustomersRead, "Kyiv tellers", true},
		{PermBranchCustomersWrite, "Kyiv tellers", false},
		{PermBranchEmployeesRead, "Kyiv tellers", false},
		{PermBranchEmployeesRead, "Kyiv clerks", true},
		{PermBranchEmployeesWrite, "Kyiv clerks", true},
		{PermBranchCustomersRead, "Kyiv clerks", false},
	} {
		if got := allowedIn(cellOf(t, table, tc.perm), tc.role); got != tc.allowed {
			t.Errorf("%s holds %s: %v, want %v", tc.role, tc.perm, got, tc.allowed)
		}
	}

	// role_names narrows the roles, matching regardless of case; a name the branch lacks just matches nothing.
	decodeStrict(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch)+"?role_names=kyiv+CLERKS,Nobody", admin, nil), &table)
	if !slices.Equal(table.Roles, []string{"Kyiv clerks"}) || len(cellOf(t, table, PermBranchEmployeesRead).Roles) != 1 {
		t.Fatalf("narrowed table %+v", table)
	}
	decodeStrict(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch)+"?role_names=Nobody", admin, nil), &table)
	if table.Roles == nil || len(table.Roles) != 0 || len(table.Rows) != 2 {
		t.Fatalf("table of no roles %+v", table)
	}

	wantError(t, do(t, h, "GET", branchTablePath(bankA, "not-a-guid"), admin, nil), 400, CodeInvalidField, "branch_guid")
	wantError(t, do(t, h, "GET", branchTablePath("not-a-guid", fakeBranch), admin, nil), 400, CodeInvalidField, "counterparty_guid")
	wantError(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch)+"?role_names="+strings.Repeat("x", 2000), admin, nil),
		400, CodeInvalidField, "role_names")
	wantError(t, do(t, h, "GET", branchTablePath(bankA, "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"), admin, nil), 404, CodeNotFound, "branch_guid")
	if body := errorOf(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch), "bank-a-"+RoleObserver, nil), 403, CodeForbidden); body.Permission != PermBranchesAccessRead {
		t.Fatalf("denial %+v", body)
	}
	errorOf(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch), "bank-b-admin", nil), 403, CodeForbidden)

	d := testDeps()
	d.RBAC = nil
	errorOf(t, do(t, NewRouter(d), "GET", branchTablePath(bankA, fakeBranch), admin, nil), 503, CodeUnavailable)
}

func checkPath(query string) string {
	return "/api/v1/counterparty/" + bankA + "/branches-access/check?" + query
}

func checkQuery(user, branch, perm string) string {
	return "user_guid=" + user + "&branch_guid=" + branch + "&permission_guid=" + perm
}

func TestCheckBranchPermission(t *testing.T) {
	h := testRouter()
	auditor := "bank-a-" + RoleAuditor
	read, write := PermissionGUID(PermBranchCustomersRead), PermissionGUID(PermBranchCustomersWrite)
	unknown := "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"

	for _, tc := range []struct {
		name, user, perm string
		allowed          bool
	}{
		{"member of a role that holds it", fakeTeller, read, true},
		{"member of a role that lacks it", fakeTeller, write, false},
		{"member of no role", fakeOutsider, read, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, h, "GET", checkPath(checkQuery(tc.user, fakeBranch, tc.perm)), auditor, nil)
			var got map[string]any
			decodeStrict(t, w, &got)
			if len(got) != 1 || got["allowed"] != tc.allowed {
				t.Fatalf("answer %s, want {\"allowed\":%v}", w.Body, tc.allowed)
			}
		})
	}
	// GUIDs in any case are the same records.
	w := do(t, h, "GET", checkPath(checkQuery(strings.ToUpper(fakeTeller), strings.ToUpper(fakeBranch), strings.ToUpper(read))), "cx:bank-a-system", nil)
	var got branchAccessCheck
	if decodeStrict(t, w, &got); !got.Allowed {
		t.Fatalf("upper-case GUIDs: %s", w.Body)
	}

	for _, tc := range []struct {
		name, query string
		status      int
		code, field string
	}{
		{"no user", "branch_guid=" + fakeBranch + "&permission_guid=" + read, 400, CodeMissingField, "user_guid"},
		{"no branch", "user_guid=" + fakeTeller + "&permission_guid=" + read, 400, CodeMissingField, "branch_guid"},
		{"no permission", "user_guid=" + fakeTeller + "&branch_guid=" + fakeBranch, 400, CodeMissingField, "permission_guid"},
		{"malformed user", checkQuery("bob", fakeBranch, read), 400, CodeInvalidField, "user_guid"},
		{"empty user", checkQuery("", fakeBranch, read), 400, CodeInvalidField, "user_guid"},
		{"braced user", checkQuery("{"+fakeTeller+"}", fakeBranch, read), 400, CodeInvalidField, "user_guid"},
		{"malformed branch", checkQuery(fakeTeller, "kyiv", read), 400, CodeInvalidField, "branch_guid"},
		{"malformed permission", checkQuery(fakeTeller, fakeBranch, "branch.customers.read"), 400, CodeInvalidField, "permission_guid"},
		{"user twice", checkQuery(fakeTeller, fakeBranch, read) + "&user_guid=" + fakeOutsider, 400, CodeInvalidField, "user_guid"},
		{"endpoint permission", checkQuery(fakeTeller, fakeBranch, PermissionGUID(PermCustomersRead)), 400, CodeInvalidField, "permission_guid"},
		{"platform permission", checkQuery(fakeTeller, fakeBranch, PermissionGUID(PermCounterpartiesCreate)), 400, CodeInvalidField, "permission_guid"},
		{"unknown user", checkQuery(unknown, fakeBranch, read), 404, CodeNotFound, "user_guid"},
		{"unknown branch", checkQuery(fakeTeller, unknown, read), 404, CodeNotFound, "branch_guid"},
		{"unknown permission", checkQuery(fakeTeller, fakeBranch, unknown), 404, CodeNotFound, "permission_guid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, h, "GET", checkPath(tc.query), auditor, nil), tc.status, tc.code, tc.field)
		})
	}

	q := checkQuery(fakeTeller, fakeBranch, read)
	if body := errorOf(t, do(t, h, "GET", checkPath(q), "bank-a-"+RoleOperator, nil), 403, CodeForbidden); body.Permission != PermBranchesAccessRead {
		t.Fatalf("denial %+v", body)
	}
	errorOf(t, do(t, h, "GET", checkPath(q), "bank-b-admin", nil), 403, CodeForbidden)
	errorOf(t, do(t, h, "GET", checkPath(q), "", nil), 401, CodeUnauthenticated)
}

// TestBranchAccessReadsKeepToOwnBranch: an employee confined to a branch sees no other branch's roles, as
// with the branch endpoints.
func TestBranchAccessReadsKeepToOwnBranch(t *testing.T) {
	d := testDeps()
	toks := testTokens()
	own, other := employee(bankA, RoleAuditor), employee(bankA, RoleAuditor)
	own.BranchGUID, other.BranchGUID = strings.ToUpper(fakeBranch), "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
	toks["own-branch"], toks["other-branch"] = own, other
	d.Authenticator = toks
	h := NewRouter(d)
	q := checkQuery(fakeTeller, fakeBranch, PermissionGUID(PermBranchCustomersRead))

	var table PermissionTableResponse
	decodeStrict(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch), "own-branch", nil), &table)
	var got branchAccessCheck
	if decodeStrict(t, do(t, h, "GET", checkPath(q), "own-branch", nil), &got); !got.Allowed {
		t.Fatal("own branch: not allowed")
	}
	wantError(t, do(t, h, "GET", branchTablePath(bankA, fakeBranch), "other-branch", nil), 404, CodeNotFound, "branch_guid")
	wantError(t, do(t, h, "GET", checkPath(q), "other-branch", nil), 404, CodeNotFound, "branch_guid")
}
