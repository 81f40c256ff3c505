package app

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/employee"
)

// TestCheckBranchPermission: an employee holds a branch permission in a branch only as a member of a
// branch-access role of that branch that holds it, and never while disabled or in a deleted branch.
func TestCheckBranchPermission(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	const perm = "branch.customers.read"
	mkBranch := func(name string) string {
		t.Helper()
		b, err := e.dir.CreateBranch(ctx, cp, name, Write{})
		if err != nil {
			t.Fatal(err)
		}
		return b.GUID
	}
	kyiv, lviv := mkBranch("Kyiv"), mkBranch("Lviv")
	for _, r := range []struct{ role, branch string }{{"Kyiv tellers", kyiv}, {"Lviv tellers", lviv}} {
		if _, err := e.dir.CreateBranchRole(ctx, cp, uuid.MustParse(r.branch), r.role, Write{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dir.GrantPermission(ctx, cp, r.role, perm, true, Write{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.dir.CreateBranchRole(ctx, cp, uuid.MustParse(kyiv), "Kyiv visitors", Write{}); err != nil {
		t.Fatal(err)
	}
	w, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "t@b.example", Roles: []string{"Operator"}}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	emp := uuid.MustParse(w.GUID)
	check := func(branchGUID string, want bool) {
		t.Helper()
		got, err := e.dir.CheckBranchPermission(ctx, cp.String(), w.GUID, branchGUID, perm)
		if err != nil || got != want {
			t.Fatalf("check in %s: %v, %v; want %v", branchGUID, got, err, want)
		}
	}
	member := func(role string, add bool) {
		t.Helper()
		f := e.dir.RemoveMember
		if add {
			f = e.dir.AddMember
		}
		if _, err := f(ctx, cp, role, emp, true, Write{}); err != nil {
			t.Fatal(err)
		}
	}

	check(kyiv, false) // an endpoint role (Operator) grants no branch permission
	member("Kyiv visitors", true)
	check(kyiv, false) // a role of the branch without the permission
	member("Kyiv tellers", true)
	check(kyiv, true)
	check(lviv, false) // Kyiv's role says nothing about Lviv
	member("Kyiv tellers", false)
	check(kyiv, false)
	member("Lviv tellers", true)
	check(lviv, true)
	check(kyiv, false)

	yes, no := true, false
	if _, err := e.dir.UpdateEmployee(ctx, cp, emp, EmployeePatch{Disabled: &yes}, Write{}); err != nil {
		t.Fatal(err)
	}
	check(lviv, false)
	if _, err := e.dir.UpdateEmployee(ctx, cp, emp, EmployeePatch{Disabled: &no}, Write{}); err != nil {
		t.Fatal(err)
	}
	check(lviv, true)
	if _, err := e.dir.UpdateBranch(ctx, cp, uuid.MustParse(lviv), BranchPatch{Deleted: &yes}, Write{}); err != nil {
		t.Fatal(err)
	}
	check(lviv, false)

	other := e.bank()
	if _, err := e.dir.CheckBranchPermission(ctx, other.String(), w.GUID, kyiv, perm); !errors.Is(err, employee.ErrNotFound) {
		t.Fatalf("another bank's employee: %v", err)
	}
	if _, err := e.dir.CheckBranchPermission(ctx, cp.String(), uuid.NewString(), kyiv, perm); !errors.Is(err, employee.ErrNotFound) {
		t.Fatalf("unknown employee: %v", err)
	}
	if _, err := e.dir.CheckBranchPermission(ctx, cp.String(), w.GUID, uuid.NewString(), perm); !errors.Is(err, branch.ErrNotFound) {
		t.Fatalf("unknown branch: %v", err)
	}
}

func TestBranchRoles(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	b, err := e.dir.CreateBranch(ctx, cp, "Odesa", Write{})
	if err != nil {
		t.Fatal(err)
	}
	if roles, err := e.dir.BranchRoles(ctx, cp.String(), b.GUID); err != nil || roles == nil || len(roles) != 0 {
		t.Fatalf("branch without roles: %v, %v", roles, err)
	}
	for _, name := range []string{"Odesa tellers", "Odesa clerks"} {
		if _, err := e.dir.CreateBranchRole(ctx, cp, uuid.MustParse(b.GUID), name, Write{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.dir.GrantPermission(ctx, cp, "Odesa clerks", "branch.customers.read", true, Write{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := e.dir.UpdateBranch(ctx, cp, uuid.MustParse(b.GUID), BranchPatch{Deleted: &yes}, Write{}); err != nil {
		t.Fatal(err)
	}
	// A deleted branch still shows its roles, in creation order; endpoint roles are never among them.
	roles, err := e.dir.BranchRoles(ctx, cp.String(), b.GUID)
	if err != nil || len(roles) != 2 || roles[0].Name != "Odesa tellers" || roles[1].Name != "Odesa clerks" ||
		len(roles[1].Permissions) != 1 || roles[1].BranchGUID != b.GUID {
		t.Fatalf("roles %+v, %v", roles, err)
	}
	if _, err := e.dir.BranchRoles(ctx, e.bank().String(), b.GUID); !errors.Is(err, branch.ErrNotFound) {
		t.Fatalf("another bank's branch: %v", err)
	}
	if _, err := e.dir.BranchRoles(ctx, cp.String(), uuid.NewString()); !errors.Is(err, branch.ErrNotFound) {
		t.Fatalf("unknown branch: %v", err)
	}
}
