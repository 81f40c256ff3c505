package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestPermissionGUIDsAreStable(t *testing.T) {
	// Pinned: a changed namespace or derivation would silently re-key every stored role.
	if got := PermissionGUID(PermCustomersCreate); got != pinnedCustomersCreateGUID {
		t.Fatalf("GUID of %s = %s, want %s", PermCustomersCreate, got, pinnedCustomersCreateGUID)
	}
	p, ok := PermissionByGUID(strings.ToUpper(pinnedCustomersCreateGUID))
	if !ok || p.Name != PermCustomersCreate {
		t.Fatalf("PermissionByGUID = %+v %v", p, ok)
	}
}

const pinnedCustomersCreateGUID = "457f0643-0bf4-50d7-9382-a7051d7ce0c6" // uuid5(uuid5(NAMESPACE_URL, permissionNamespaceDocument), name), checked with Python

func TestCatalogueIsConsistent(t *testing.T) {
	names, guids := map[string]bool{}, map[string]bool{}
	last := 0
	for _, p := range Permissions() {
		if names[p.Name] || guids[p.GUID] {
			t.Errorf("%s repeated", p.Name)
		}
		names[p.Name], guids[p.GUID] = true, true
		if p.SortNumber <= last {
			t.Errorf("%s: sort_number %d not increasing", p.Name, p.SortNumber)
		}
		last = p.SortNumber
		if p.NameLangKey != "permissions."+p.Name || !strings.HasPrefix(p.GroupLangKey, "permissions.group.") || p.GroupName == "" {
			t.Errorf("%s: lang keys %+v", p.Name, p)
		}
		if (p.KetoKind == KetoKindBranch) != strings.HasPrefix(p.Name, "branch.") {
			t.Errorf("%s: keto_kind %s", p.Name, p.KetoKind)
		}
		if p.KetoKind != KetoKindEndpoint && p.KetoKind != KetoKindBranch {
			t.Errorf("%s: keto_kind %q", p.Name, p.KetoKind)
		}
	}
	for _, want := range []string{"Account Access", "Employees Access", "Branches Access", "Customers Access", "Payments",
		"Emission", "Limits", "Reconciliation", "Dictionary", "RBAC", "Security", "Platform", "Audit"} {
		if !slices.ContainsFunc(Permissions(), func(p Permission) bool { return p.GroupName == want }) {
			t.Errorf("no group %q", want)
		}
	}
	var platform []string
	for _, p := range Permissions() {
		if p.Platform {
			platform = append(platform, p.Name)
		}
	}
	sort.Strings(platform)
	want := []string{PermCounterpartiesCreate, PermCounterpartiesRead, PermCounterpartiesUpdate, PermDictionaryWrite, PermEmissionConfirm,
		PermAuditReadAny, PermReconciliationRunsRead, PermReconciliationRunsWrite}
	sort.Strings(want)
	if !slices.Equal(platform, want) {
		t.Errorf("platform permissions %v, want %v", platform, want)
	}
}

// TestEveryEndpointHasAPermission: the endpoint catalogue names only known permissions, every endpoint
// permission guards at least one endpoint, and a bank endpoint's permission is a bank one unless the platform
// acts on the bank (confirming emission).
func TestEveryEndpointHasAPermission(t *testing.T) {
	used := map[string]bool{}
	for _, e := range Endpoints() {
		if e.Permission == Public {
			continue
		}
		p, ok := PermissionByName(e.Permission)
		if !ok || p.KetoKind != KetoKindEndpoint {
			t.Errorf("%s %s: permission %q is not an endpoint permission", e.Method, e.Path, e.Permission)
			continue
		}
		used[p.Name] = true
		if strings.HasPrefix(e.Path, cp) && p.Platform && p.Name != PermEmissionConfirm {
			t.Errorf("%s %s: a bank endpoint guarded by platform permission %s", e.Method, e.Path, p.Name)
		}
	}
	for _, p := range Permissions() {
		if p.KetoKind == KetoKindEndpoint && !used[p.Name] {
			t.Errorf("permission %s guards no endpoint", p.Name)
		}
	}
	for _, path := range []string{cp + "/customers", cp + "/payments/confirm", cp + "/emission/issue", cp + "/limits/customer/amount",
		cp + "/recons", cp + "/branches-access/permission", "/api/v1/dictionary/payment/category", cp + "/audit/events"} {
		if !slices.ContainsFunc(Endpoints(), func(e Endpoint) bool { return e.Path == path }) {
			t.Errorf("guide endpoint %s missing", path)
		}
	}
}

func TestDefaultRoles(t *testing.T) {
	roles := map[string][]string{}
	var order []string
	for _, r := range DefaultRoles() {
		roles[r.Name] = r.Permissions
		order = append(order, r.Name)
		for _, name := range r.Permissions {
			p, ok := PermissionByName(name)
			if !ok || p.Platform || p.KetoKind != KetoKindEndpoint {
				t.Errorf("role %s holds %q", r.Name, name)
			}
		}
	}
	if !slices.Equal(order, []string{RoleAdministrator, RoleOperator, RoleObserver, RoleAuditor, RoleReconciliationOperator}) {
		t.Fatalf("roles %v", order)
	}
	for _, p := range Permissions() {
		if grantable(p) != slices.Contains(roles[RoleAdministrator], p.Name) {
			t.Errorf("Administrator and %s", p.Name)
		}
	}
	for _, name := range roles[RoleObserver] {
		if !strings.HasSuffix(name, ".read") {
			t.Errorf("Observer writes: %s", name)
		}
	}
	for _, name := range roles[RoleOperator] {
		if strings.HasPrefix(name, "rbac.") || strings.HasPrefix(name, "jwk.") || strings.HasPrefix(name, "counterparties.") {
			t.Errorf("Operator holds %s", name)
		}
	}
	for _, want := range []string{PermCustomersCreate, PermAccountsCreate, PermPaymentsCreate, PermPaymentsConfirm, PermEmissionIssue, PermEmissionBurn} {
		if !slices.Contains(roles[RoleOperator], want) {
			t.Errorf("Operator lacks %s", want)
		}
	}
	if !slices.Contains(roles[RoleAuditor], PermAuditRead) || slices.Contains(roles[RoleObserver], PermAuditRead) {
		t.Error("audit.read belongs to Auditor, not Observer")
	}
	if !slices.Contains(roles[RoleReconciliationOperator], PermReconciliationWrite) || slices.Contains(roles[RoleOperator], PermReconciliationWrite) {
		t.Error("reconciliation.write belongs to Reconciliation operator")
	}
	if !ProtectedRole(RoleAdministrator) || ProtectedRole(RoleOperator) {
		t.Error("ProtectedRole")
	}
	admin := ResolvePermissions(CallerPlatformStaff, PlatformRoles(), []string{RolePlatformAdministrator})
	for _, p := range Permissions() {
		if p.KetoKind == KetoKindEndpoint && !admin[p.Name] {
			t.Errorf("platform administrator lacks %s", p.Name)
		}
	}
}

// TestPermissionTableShape checks the guide's §6.2 shape key by key, and that Administrator cannot lose a
// permission even when the directory says so.
func TestPermissionTableShape(t *testing.T) {
	roles := []Role{{RoleObserver, []string{PermCustomersRead}}, {RoleAdministrator, nil}, {"Teller", []string{PermPaymentsCreate, PermCounterpartiesCreate}}}
	table := PermissionTable(roles)
	data, _ := json.Marshal(table)
	var generic map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if got := keys(generic); !slices.Equal(got, []string{"roles", "rows"}) {
		t.Fatalf("top keys %v", got)
	}
	row := generic["rows"].([]any)[0].(map[string]any)
	if got := keys(row); !slices.Equal(got, []string{"group_lang_key", "group_name", "permissions", "sort_number"}) {
		t.Fatalf("row keys %v", got)
	}
	cell := row["permissions"].([]any)[0].(map[string]any)
	if got := keys(cell); !slices.Equal(got, []string{"guid", "name", "name_lang_key", "roles", "sort_number"}) {
		t.Fatalf("cell keys %v", got)
	}
	role := cell["roles"].([]any)[0].(map[string]any)
	if got := keys(role); !slices.Equal(got, []string{"allowed", "name"}) {
		t.Fatalf("role keys %v", got)
	}
	if !slices.Equal(table.Roles, []string{RoleObserver, RoleAdministrator, "Teller"}) {
		t.Fatalf("roles %v", table.Roles)
	}
	cells := 0
	for _, r := range table.Rows {
		for _, c := range r.Permissions {
			cells++
			p, _ := PermissionByName(c.Name)
			if !grantable(p) {
				t.Errorf("table shows %s", c.Name)
			}
			want := []bool{c.Name == PermCustomersRead, true, c.Name == PermPaymentsCreate}
			for i, ra := range c.Roles {
				if ra.Allowed != want[i] || ra.Name != table.Roles[i] {
					t.Errorf("%s/%s allowed %v", c.Name, ra.Name, ra.Allowed)
				}
			}
		}
	}
	if cells != len(counterpartyPermissionNames()) {
		t.Errorf("%d cells, want %d", cells, len(counterpartyPermissionNames()))
	}
}

type roleDirectoryFunc func(ctx context.Context, bank string) ([]Role, error)

func (f roleDirectoryFunc) Roles(ctx context.Context, bank string) ([]Role, error) {
	return f(ctx, bank)
}

func TestPermissionTableEndpoint(t *testing.T) {
	var asked string
	d := testDeps()
	d.Roles = roleDirectoryFunc(func(_ context.Context, bank string) ([]Role, error) {
		asked = bank
		return DefaultRoles(), nil
	})
	w := do(t, NewRouter(d), "GET", "/api/v1/counterparty/"+strings.ToUpper(bankA)+"/rbac/permission/table", "bank-a-"+RoleAdministrator, nil)
	var table PermissionTableResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &table) != nil || len(table.Roles) != 5 || len(table.Rows) == 0 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if asked != bankA {
		t.Fatalf("directory asked for %q, want canonical %q", asked, bankA)
	}
	d.Roles = roleDirectoryFunc(func(context.Context, string) ([]Role, error) { return nil, errors.New("disk on fire") })
	w = do(t, NewRouter(d), "GET", "/api/v1/counterparty/"+bankA+"/rbac/permission/table", "bank-a-"+RoleAdministrator, nil)
	errorOf(t, w, 500, CodeInternal)
	if strings.Contains(w.Body.String(), "fire") {
		t.Fatalf("leak: %s", w.Body)
	}

	w = do(t, testRouter(), "GET", "/api/v1/counterparty/"+bankA+"/rbac/permission", "cx:bank-a-system", nil)
	var titles permissionTitlesResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &titles) != nil || !slices.Equal(titles.Permissions, counterpartyPermissionNames()) {
		t.Fatalf("titles %d %s", w.Code, w.Body)
	}
	w = do(t, testRouter(), "GET", "/api/v1/counterparty/"+bankA+"/rbac/permission/available", "cx:bank-a-system", nil)
	var avail availablePermissionsResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &avail) != nil || avail.Total != len(avail.Permissions) ||
		!slices.ContainsFunc(avail.Permissions, func(p Permission) bool { return p.KetoKind == KetoKindBranch }) ||
		slices.ContainsFunc(avail.Permissions, func(p Permission) bool { return p.Platform }) {
		t.Fatalf("available %d %s", w.Code, w.Body)
	}
}
