package projections_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/rbac"
)

// TestRolesOfABranch: BranchRoles lists only the branch's branch-access roles, and HoldsInBranch follows
// membership and grants of those roles alone.
func TestRolesOfABranch(t *testing.T) {
	d := newDirectory(t, openBolt(t))
	ctx := testContext(t)
	bank, emp := uuid.New(), uuid.New()
	kyiv, lviv := uuid.New(), uuid.New()
	known := func(string) bool { return true }
	h := func(cmd any) { do(d, rbac.Stream(bank), rbac.Decider, rbac.Events, cmd) }
	at := dirT0
	h(rbac.Seed{CounterpartyGUID: bank, Known: known, At: at, Roles: []rbac.RoleSpec{{Name: "Administrator", Permissions: []string{"accounts.read"}}}})
	h(rbac.CreateRole{Role: "Kyiv tellers", BranchGUID: kyiv, At: at.Add(time.Minute)})
	h(rbac.CreateRole{Role: "Lviv tellers", BranchGUID: lviv, At: at.Add(2 * time.Minute)})
	h(rbac.CreateRole{Role: "Kyiv clerks", BranchGUID: kyiv, At: at.Add(3 * time.Minute)})
	h(rbac.GrantPermission{Role: "Kyiv tellers", Permission: "branch.customers.read", Known: known, At: at})
	h(rbac.GrantPermission{Role: "Lviv tellers", Permission: "branch.customers.write", Known: known, At: at})
	h(rbac.AddMember{Role: "Administrator", EmployeeGUID: emp, At: at})
	h(rbac.AddMember{Role: "Lviv tellers", EmployeeGUID: emp, At: at})
	d.sync()

	var names []string
	for _, r := range d.roles.BranchRoles(ctx, bank.String(), kyiv.String()) {
		names = append(names, r.Name)
	}
	if len(names) != 2 || names[0] != "Kyiv tellers" || names[1] != "Kyiv clerks" {
		t.Fatalf("Kyiv's roles %v, want creation order", names)
	}
	if rs := d.roles.BranchRoles(ctx, bank.String(), uuid.NewString()); rs == nil || len(rs) != 0 {
		t.Fatalf("branch without roles: %v", rs)
	}
	if rs := d.roles.BranchRoles(ctx, uuid.NewString(), kyiv.String()); rs == nil || len(rs) != 0 {
		t.Fatalf("unseeded bank: %v", rs)
	}

	holds := func(branch uuid.UUID, perm string) bool {
		return d.roles.HoldsInBranch(ctx, bank.String(), emp.String(), branch.String(), perm)
	}
	if holds(kyiv, "branch.customers.read") || holds(kyiv, "accounts.read") || !holds(lviv, "branch.customers.write") || holds(lviv, "branch.customers.read") {
		t.Fatal("before joining Kyiv: wrong answers")
	}
	h(rbac.AddMember{Role: "Kyiv tellers", EmployeeGUID: emp, At: at})
	d.sync()
	if !holds(kyiv, "branch.customers.read") {
		t.Fatal("member of Kyiv tellers does not hold its permission")
	}
	if d.roles.HoldsInBranch(ctx, uuid.NewString(), emp.String(), kyiv.String(), "branch.customers.read") {
		t.Fatal("holds in another bank")
	}
	h(rbac.RevokePermission{Role: "Kyiv tellers", Permission: "branch.customers.read", At: at})
	d.sync()
	if holds(kyiv, "branch.customers.read") {
		t.Fatal("holds a revoked permission")
	}
	h(rbac.GrantPermission{Role: "Kyiv tellers", Permission: "branch.customers.read", Known: known, At: at})
	h(rbac.RemoveMember{Role: "Kyiv tellers", EmployeeGUID: emp, At: at})
	d.sync()
	if holds(kyiv, "branch.customers.read") {
		t.Fatal("holds after leaving the role")
	}
	h(rbac.DeleteRole{Role: "Lviv tellers", At: at})
	d.sync()
	if holds(lviv, "branch.customers.write") {
		t.Fatal("holds through a deleted role")
	}
}

// TestEndpointGrantsFollowChanges: the cached grants list only endpoint roles, and a grant, a revocation or a
// new role is seen at once.
func TestEndpointGrantsFollowChanges(t *testing.T) {
	d := newDirectory(t, openBolt(t))
	ctx := testContext(t)
	bank := uuid.New()
	known := func(string) bool { return true }
	h := func(cmd any) { do(d, rbac.Stream(bank), rbac.Decider, rbac.Events, cmd) }
	at := dirT0
	h(rbac.Seed{CounterpartyGUID: bank, Known: known, At: at, Roles: []rbac.RoleSpec{{Name: "Administrator", Permissions: []string{"accounts.read"}}}})
	h(rbac.CreateRole{Role: "Kyiv tellers", BranchGUID: uuid.New(), At: at})
	d.sync()
	grants := func() map[string][]string {
		out := map[string][]string{}
		for _, r := range d.roles.EndpointGrants(ctx, bank.String()) {
			out[r.Name] = r.Permissions
		}
		return out
	}
	if g := grants(); len(g) != 1 || len(g["Administrator"]) != 1 {
		t.Fatalf("grants %v: want only the endpoint role", g)
	}
	h(rbac.GrantPermission{Role: "Administrator", Permission: "payments.read", Known: known, At: at})
	h(rbac.CreateRole{Role: "Clerk", At: at})
	d.sync()
	if g := grants(); len(g["Administrator"]) != 2 || len(g) != 2 {
		t.Fatalf("after a grant and a new role: %v", g)
	}
	h(rbac.GrantPermission{Role: "Clerk", Permission: "payments.read", Known: known, At: at})
	d.sync()
	h(rbac.RevokePermission{Role: "Clerk", Permission: "payments.read", At: at})
	d.sync()
	if g := grants(); len(g["Clerk"]) != 0 {
		t.Fatalf("after a revocation: %v", g)
	}
	if d.roles.EndpointGrants(ctx, uuid.NewString()) != nil {
		t.Fatal("an unseeded bank has grants")
	}
}
