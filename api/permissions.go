package api

import (
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Permission names. A route names the one permission it needs; a role is a set of permissions.
// Names are part of the wire format (RBAC bodies, the permission table) and never change meaning.
const (
	// Public marks a route that needs no caller (health, JWKS, login). A route with an empty Permission is
	// refused, so that forgetting the field fails closed.
	Public = "public"

	PermCounterpartiesRead   = "counterparties.read"
	PermCounterpartiesCreate = "counterparties.create"
	PermCounterpartiesUpdate = "counterparties.update"

	PermAccountsRead   = "accounts.read"
	PermAccountsCreate = "accounts.create"
	// PermAccountsBlock blocks and unblocks an account (and its trustline on Stellar).
	PermAccountsBlock = "accounts.block"

	PermEmployeesRead        = "employees.read"
	PermEmployeesCreate      = "employees.create"
	PermEmployeesUpdate      = "employees.update"
	PermBranchEmployeesRead  = "branch.employees.read"
	PermBranchEmployeesWrite = "branch.employees.write"

	PermBranchesRead        = "branches.read"
	PermBranchesWrite       = "branches.write"
	PermBranchesAccessRead  = "branches.access.read"
	PermBranchesAccessWrite = "branches.access.write"

	PermCustomersRead        = "customers.read"
	PermCustomersCreate      = "customers.create"
	PermCustomersUpdate      = "customers.update"
	PermSegmentsWrite        = "segments.write"
	PermBranchCustomersRead  = "branch.customers.read"
	PermBranchCustomersWrite = "branch.customers.write"

	PermPaymentsRead    = "payments.read"
	PermPaymentsCreate  = "payments.create"
	PermPaymentsConfirm = "payments.confirm"

	PermEmissionRead    = "emission.read"
	PermEmissionIssue   = "emission.issue"
	PermEmissionBurn    = "emission.burn"
	PermEmissionConfirm = "emission.confirm"

	PermLimitsRead  = "limits.read"
	PermLimitsWrite = "limits.write"

	PermReconciliationRead  = "reconciliation.read"
	PermReconciliationWrite = "reconciliation.write"
	// PermReconciliationRunsRead and PermReconciliationRunsWrite read and start (and resolve) the daily
	// ledger-vs-Stellar reconciliation runs: they cover every bank's books, so they are the platform's.
	PermReconciliationRunsRead  = "reconciliation.platform.read"
	PermReconciliationRunsWrite = "reconciliation.platform.write"

	PermDictionaryRead  = "dictionary.read"
	PermDictionaryWrite = "dictionary.write"

	PermRBACRead  = "rbac.read"
	PermRBACWrite = "rbac.write"

	PermJWKRead  = "jwk.read"
	PermJWKWrite = "jwk.write"
	// PermCallbacksWrite sets (and rotates) the secret that signs the bank's callbacks (§12).
	PermCallbacksWrite = "callbacks.write"

	// PermApplicationsRead sees the bank's API applications, their subscriptions and call analytics (the developer
	// portal's observer); PermApplicationsWrite creates them, re-issues their secrets, subscribes, disables and
	// deletes them (its developer). The platform administrator approves sensitive subscriptions with
	// PermCounterpartiesUpdate.
	PermApplicationsRead  = "applications.read"
	PermApplicationsWrite = "applications.write"

	PermAuditRead = "audit.read"
	// PermAuditReadAny reads the history of any bank's records and of any stream: the platform's auditors.
	PermAuditReadAny = "audit.platform.read"
)

// Keto kinds (the guide's "keto_kind"): an endpoint permission lets a role call endpoints; a branch permission
// is granted to a branch role and scopes what an employee sees within the branch.
const (
	KetoKindEndpoint = "endpoint"
	KetoKindBranch   = "branch"
)

// Default role names. Administrator is the guide's undeletable role; the others are Kazna's defaults that a
// bank may change. Platform administrator is the processing centre's own administrator, not a bank role.
const (
	RoleAdministrator          = "Administrator"
	RoleOperator               = "Operator"
	RoleObserver               = "Observer"
	RoleAuditor                = "Auditor"
	RoleReconciliationOperator = "Reconciliation operator"
	RolePlatformAdministrator  = "Platform administrator"
)

// permissionNamespaceDocument names Kazna's permission namespace. Changing it changes every permission GUID.
const permissionNamespaceDocument = "https://github.com/kazna-ledger/kazna/permissions"

// permissionNamespace is the UUIDv5 namespace of permission GUIDs. A permission's GUID is derived from its name
// so that every node, every restart and every bank sees the same GUID without storing it.
var permissionNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte(permissionNamespaceDocument))

// Permission is one entry of the catalogue, with the fields of the guide's permission objects.
type Permission struct {
	GUID         string `json:"guid"`
	Name         string `json:"name"`
	NameLangKey  string `json:"name_lang_key"`
	GroupName    string `json:"group_name"`
	GroupLangKey string `json:"group_lang_key"`
	SortNumber   int    `json:"sort_number"`
	KetoKind     string `json:"keto_kind"`
	// Platform permissions (register banks, confirm emission, edit shared dictionaries) belong to the
	// processing centre's administrator; no bank role or bank system can hold them.
	Platform bool `json:"platform"`
}

// permissionGroup is a group of the permission table, in table order.
type permissionGroup struct {
	name        string
	langKey     string
	permissions []permissionSpec
}

type permissionSpec struct {
	name     string
	ketoKind string
	platform bool
}

func endpoint(name string) permissionSpec {
	return permissionSpec{name: name, ketoKind: KetoKindEndpoint}
}
func branch(name string) permissionSpec { return permissionSpec{name: name, ketoKind: KetoKindBranch} }
func platform(name string) permissionSpec {
	return permissionSpec{name: name, ketoKind: KetoKindEndpoint, platform: true}
}

// groups is the permission catalogue, grouped as the guide's back office shows it (Account, Employees,
// Branches, Customers Access) followed by the groups of the other API sections.
var groups = []permissionGroup{
	{"Platform", "platform", []permissionSpec{
		platform(PermCounterpartiesRead), platform(PermCounterpartiesCreate), platform(PermCounterpartiesUpdate),
	}},
	{"Account Access", "account_access", []permissionSpec{
		endpoint(PermAccountsRead), endpoint(PermAccountsCreate), endpoint(PermAccountsBlock),
	}},
	{"Employees Access", "employees_access", []permissionSpec{
		endpoint(PermEmployeesRead), endpoint(PermEmployeesCreate), endpoint(PermEmployeesUpdate),
		branch(PermBranchEmployeesRead), branch(PermBranchEmployeesWrite),
	}},
	{"Branches Access", "branches_access", []permissionSpec{
		endpoint(PermBranchesRead), endpoint(PermBranchesWrite),
		endpoint(PermBranchesAccessRead), endpoint(PermBranchesAccessWrite),
	}},
	{"Customers Access", "customers_access", []permissionSpec{
		endpoint(PermCustomersRead), endpoint(PermCustomersCreate), endpoint(PermCustomersUpdate),
		endpoint(PermSegmentsWrite),
		branch(PermBranchCustomersRead), branch(PermBranchCustomersWrite),
	}},
	{"Payments", "payments", []permissionSpec{
		endpoint(PermPaymentsRead), endpoint(PermPaymentsCreate), endpoint(PermPaymentsConfirm),
	}},
	{"Emission", "emission", []permissionSpec{
		endpoint(PermEmissionRead), endpoint(PermEmissionIssue), endpoint(PermEmissionBurn),
		platform(PermEmissionConfirm),
	}},
	{"Limits", "limits", []permissionSpec{
		endpoint(PermLimitsRead), endpoint(PermLimitsWrite),
	}},
	{"Reconciliation", "reconciliation", []permissionSpec{
		endpoint(PermReconciliationRead), endpoint(PermReconciliationWrite),
		platform(PermReconciliationRunsRead), platform(PermReconciliationRunsWrite),
	}},
	{"Dictionary", "dictionary", []permissionSpec{
		endpoint(PermDictionaryRead), platform(PermDictionaryWrite),
	}},
	{"RBAC", "rbac", []permissionSpec{
		endpoint(PermRBACRead), endpoint(PermRBACWrite),
	}},
	{"Security", "security", []permissionSpec{
		endpoint(PermJWKRead), endpoint(PermJWKWrite), endpoint(PermCallbacksWrite),
	}},
	{"Applications", "applications", []permissionSpec{
		endpoint(PermApplicationsRead), endpoint(PermApplicationsWrite),
	}},
	{"Audit", "audit", []permissionSpec{
		endpoint(PermAuditRead), platform(PermAuditReadAny),
	}},
}

// catalogue is groups flattened, in table order; permissionsByName and permissionsByGUID index it.
var (
	catalogue         = buildCatalogue()
	permissionsByName = indexPermissions(func(p Permission) string { return p.Name })
	permissionsByGUID = indexPermissions(func(p Permission) string { return p.GUID })
)

func buildCatalogue() []Permission {
	var out []Permission
	for gi, g := range groups {
		for pi, s := range g.permissions {
			out = append(out, Permission{
				GUID:         PermissionGUID(s.name),
				Name:         s.name,
				NameLangKey:  "permissions." + s.name,
				GroupName:    g.name,
				GroupLangKey: "permissions.group." + g.langKey,
				SortNumber:   (gi+1)*100 + pi + 1,
				KetoKind:     s.ketoKind,
				Platform:     s.platform,
			})
		}
	}
	return out
}

func indexPermissions(key func(Permission) string) map[string]Permission {
	m := make(map[string]Permission, len(catalogue))
	for _, p := range catalogue {
		m[key(p)] = p
	}
	return m
}

// PermissionGUID is the stable GUID of a permission name: UUIDv5 in Kazna's permission namespace.
func PermissionGUID(name string) string {
	return uuid.NewSHA1(permissionNamespace, []byte(name)).String()
}

// Permissions returns the whole catalogue in table order. The slice is a copy.
func Permissions() []Permission { return slices.Clone(catalogue) }

// PermissionByName finds a permission of the catalogue by name.
func PermissionByName(name string) (Permission, bool) {
	p, ok := permissionsByName[name]
	return p, ok
}

// PermissionByGUID finds a permission of the catalogue by GUID (any case).
func PermissionByGUID(guid string) (Permission, bool) {
	p, ok := permissionsByGUID[strings.ToLower(guid)]
	return p, ok
}

// grantable reports whether a bank's role may hold p: endpoint permissions that are not the platform's.
func grantable(p Permission) bool { return p.KetoKind == KetoKindEndpoint && !p.Platform }

// branchGrantable reports whether a bank's branch-access role may hold p: its branch permissions.
func branchGrantable(p Permission) bool { return p.KetoKind == KetoKindBranch && !p.Platform }

// Scope is a keto scope (guide §6.2, §16.3 step 8): what a family of permissions acts on. Its name is the
// permission name without the final action ("customers.read" is scope "customers", action "read";
// "branch.customers.read" is scope "branch.customers"), so a scope and an action always name a permission of
// the catalogue and no scope needs storing.
type Scope struct {
	KetoKind      string `json:"keto_kind"`
	KetoScopeName string `json:"keto_scope_name"`
}

// scopeName is the scope of a permission name: all but its last dot-separated part.
func scopeName(permission string) string {
	if i := strings.LastIndexByte(permission, '.'); i > 0 {
		return permission[:i]
	}
	return permission
}

// Scopes lists the scopes of the permissions of keto kind that a bank's role can hold, each once, in table
// order. Scopes of platform permissions only (counterparties) are left out: no bank can use them.
func Scopes(kind string) []Scope {
	out := []Scope{}
	seen := map[string]bool{}
	for _, p := range catalogue {
		if p.Platform || p.KetoKind != kind {
			continue
		}
		if name := scopeName(p.Name); !seen[name] {
			seen[name] = true
			out = append(out, Scope{KetoKind: kind, KetoScopeName: name})
		}
	}
	return out
}

// Role is a named set of permission names, as a RoleDirectory returns it.
type Role struct {
	Name        string
	Permissions []string
}

// readOnly is what every default role but Administrator may see: the day-to-day records of the bank,
// not its security set-up (RBAC, keys, branch access).
var readOnly = []string{
	PermAccountsRead, PermEmployeesRead, PermBranchesRead, PermCustomersRead, PermPaymentsRead,
	PermEmissionRead, PermLimitsRead, PermReconciliationRead, PermDictionaryRead, PermApplicationsRead,
}

// DefaultRoles are the roles every bank starts with, in table order. Administrator holds every permission a
// bank can hold; the platform's permissions are not among them.
//
// A developer portal's organisation roles map onto them: owner and administrator are Administrator (manage
// applications and members); developer is Operator (creates applications, subscribes them and calls the APIs);
// observer is Observer (reads the cabinet, the applications and their analytics).
func DefaultRoles() []Role {
	return []Role{
		{RoleAdministrator, counterpartyPermissionNames()},
		{RoleOperator, append(slices.Clone(readOnly),
			PermAccountsCreate, PermCustomersCreate, PermCustomersUpdate,
			PermPaymentsCreate, PermPaymentsConfirm, PermEmissionIssue, PermEmissionBurn, PermApplicationsWrite)},
		{RoleObserver, slices.Clone(readOnly)},
		{RoleAuditor, append(slices.Clone(readOnly),
			PermAuditRead, PermRBACRead, PermBranchesAccessRead, PermJWKRead)},
		{RoleReconciliationOperator, append(slices.Clone(readOnly), PermReconciliationWrite)},
	}
}

// PlatformRoles are the processing centre's own roles. Only its administrator holds platform permissions
// and may act within any bank.
func PlatformRoles() []Role {
	var all []string
	for _, p := range catalogue {
		if p.KetoKind == KetoKindEndpoint {
			all = append(all, p.Name)
		}
	}
	return []Role{{RolePlatformAdministrator, all}}
}

func counterpartyPermissionNames() []string {
	var names []string
	for _, p := range catalogue {
		if grantable(p) {
			names = append(names, p.Name)
		}
	}
	return names
}

// ProtectedRole reports whether a role may be neither deleted nor stripped of a permission. The guide makes
// Administrator undeletable; keeping its permissions too is what stops a bank from locking itself out.
func ProtectedRole(name string) bool { return name == RoleAdministrator }

// ResolvePermissions is the set of permissions that callerRoles grant a caller of kind, given the roles a
// directory holds (a bank's roles for employees, PlatformRoles for platform staff). For employees,
// Administrator grants every bank permission whatever the directory says (it cannot lose one), and no role
// grants a platform permission even if the directory lists one. The platform administrator holds every
// endpoint permission. A bank system needs no set: it holds every bank permission by rule (see Caller).
func ResolvePermissions(kind CallerKind, directory []Role, callerRoles []string) map[string]bool {
	out := map[string]bool{}
	var allowed func(Permission) bool
	var all string
	switch kind {
	case CallerEmployee:
		allowed, all = grantable, RoleAdministrator
	case CallerPlatformStaff:
		allowed, all = func(p Permission) bool { return p.KetoKind == KetoKindEndpoint }, RolePlatformAdministrator
	default:
		return out
	}
	for _, r := range directory {
		if !slices.Contains(callerRoles, r.Name) {
			continue
		}
		for _, name := range r.Permissions {
			if p, ok := permissionsByName[name]; ok && allowed(p) {
				out[name] = true
			}
		}
	}
	if slices.Contains(callerRoles, all) {
		for _, p := range catalogue {
			if allowed(p) {
				out[p.Name] = true
			}
		}
	}
	return out
}

// Permission table: the guide's GET /rbac/permission/table answer (§6.2). Field order follows the guide.
type (
	PermissionTableResponse struct {
		Roles []string             `json:"roles"`
		Rows  []PermissionTableRow `json:"rows"`
	}
	PermissionTableRow struct {
		GroupLangKey string                `json:"group_lang_key"`
		GroupName    string                `json:"group_name"`
		Permissions  []PermissionTableCell `json:"permissions"`
		SortNumber   int                   `json:"sort_number"`
	}
	PermissionTableCell struct {
		GUID        string        `json:"guid"`
		Name        string        `json:"name"`
		NameLangKey string        `json:"name_lang_key"`
		Roles       []RoleAllowed `json:"roles"`
		SortNumber  int           `json:"sort_number"`
	}
	RoleAllowed struct {
		Allowed bool   `json:"allowed"`
		Name    string `json:"name"`
	}
)

// PermissionTable builds the permission table of a bank: one row per group, one cell per endpoint permission
// a bank role can hold, and for each role whether it holds it. Roles keep the order given. Administrator is
// shown holding everything, as ResolvePermissions grants it.
func PermissionTable(roles []Role) PermissionTableResponse {
	held := make([]map[string]bool, len(roles))
	for i, r := range roles {
		held[i] = ResolvePermissions(CallerEmployee, roles[i:i+1], []string{r.Name})
	}
	return permissionTable(roles, grantable, held)
}

// BranchPermissionTable is PermissionTable for the branch-access roles of a branch (guide §16.2): the same
// shape, one cell per branch permission (keto_kind "branch"), and a role holds what it was granted. No
// Administrator rule applies: Administrator is an endpoint role and is never among a branch's roles.
func BranchPermissionTable(roles []Role) PermissionTableResponse {
	held := make([]map[string]bool, len(roles))
	for i, r := range roles {
		held[i] = map[string]bool{}
		for _, name := range r.Permissions {
			if p, ok := permissionsByName[name]; ok && branchGrantable(p) {
				held[i][name] = true
			}
		}
	}
	return permissionTable(roles, branchGrantable, held)
}

// permissionTable lays out the table: the groups that have a permission include accepts, in catalogue order,
// and held[i] is what roles[i] holds.
func permissionTable(roles []Role, include func(Permission) bool, held []map[string]bool) PermissionTableResponse {
	resp := PermissionTableResponse{Roles: make([]string, 0, len(roles)), Rows: []PermissionTableRow{}}
	for _, r := range roles {
		resp.Roles = append(resp.Roles, r.Name)
	}
	for gi, g := range groups {
		row := PermissionTableRow{
			GroupLangKey: "permissions.group." + g.langKey,
			GroupName:    g.name,
			Permissions:  []PermissionTableCell{},
			SortNumber:   gi + 1,
		}
		for _, s := range g.permissions {
			p := permissionsByName[s.name]
			if !include(p) {
				continue
			}
			cell := PermissionTableCell{GUID: p.GUID, Name: p.Name, NameLangKey: p.NameLangKey,
				Roles: make([]RoleAllowed, 0, len(roles)), SortNumber: p.SortNumber}
			for i, r := range roles {
				cell.Roles = append(cell.Roles, RoleAllowed{Allowed: held[i][p.Name], Name: r.Name})
			}
			row.Permissions = append(row.Permissions, cell)
		}
		if len(row.Permissions) > 0 {
			resp.Rows = append(resp.Rows, row)
		}
	}
	return resp
}
