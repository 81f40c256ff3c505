package app

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/projections"
)

func TestBranchLifecycle(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	w, err := e.dir.CreateBranch(ctx, cp, "Kyiv Central", Write{})
	if err != nil {
		t.Fatal(err)
	}
	before := e.last()
	if _, err := e.dir.CreateBranch(ctx, cp, " kyiv  central ", Write{}); !errors.Is(err, branch.ErrNameTaken) {
		t.Fatalf("duplicate: %v", err)
	}
	if e.last() != before {
		t.Fatal("refusal wrote")
	}
	g := uuid.MustParse(w.GUID)
	yes, no := true, false
	if _, err := e.dir.UpdateBranch(ctx, cp, g, BranchPatch{Deleted: &yes}, Write{}); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := e.dir.ListBranches(ctx, projections.BranchQuery{CounterpartyGUID: cp.String()}); n != 0 {
		t.Fatalf("deleted branch listed: %d", n)
	}
	if _, n, _ := e.dir.ListBranches(ctx, projections.BranchQuery{CounterpartyGUID: cp.String(), IncludeDeleted: true}); n != 1 {
		t.Fatalf("deleted branch not listed when asked: %d", n)
	}
	// A deleted branch takes no new employees.
	if _, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "b@b.example", BranchGUID: w.GUID}, Write{}); !errors.Is(err, ErrUnknownBranch) {
		t.Fatalf("employee in deleted branch: %v", err)
	}
	name := "Lviv"
	if _, err := e.dir.UpdateBranch(ctx, cp, g, BranchPatch{Deleted: &no, Name: &name}, Write{}); err != nil {
		t.Fatal(err)
	}
	b, ok := e.dir.Branch(ctx, cp.String(), w.GUID)
	if !ok || b.Name != "Lviv" || b.IsDeleted {
		t.Fatalf("after restore+rename: %+v", b)
	}
	if _, err := e.dir.CreateBranch(ctx, cp, "Kyiv Central", Write{}); err != nil {
		t.Fatalf("old name not released: %v", err)
	}
	if _, err := e.dir.UpdateBranch(ctx, cp, uuid.New(), BranchPatch{Name: &name}, Write{}); !errors.Is(err, branch.ErrNotFound) {
		t.Fatalf("unknown branch: %v", err)
	}
}

func TestBranchAccessRoleSetsEmployeeBranch(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	b, err := e.dir.CreateBranch(ctx, cp, "Odesa", Write{})
	if err != nil {
		t.Fatal(err)
	}
	bg := uuid.MustParse(b.GUID)
	if _, err := e.dir.CreateBranchRole(ctx, cp, bg, "Odesa staff", Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.GrantPermission(ctx, cp, "Odesa staff", "branch.customers.read", true, Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.GrantPermission(ctx, cp, "Odesa staff", "branch.customers.read", false, Write{}); !errors.Is(err, ErrRoleKind) {
		t.Fatalf("wrong kind: %v", err)
	}
	w, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "o@b.example"}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	g := uuid.MustParse(w.GUID)
	if _, err := e.dir.AddMember(ctx, cp, "Odesa staff", g, true, Write{}); err != nil {
		t.Fatal(err)
	}
	if emp, _ := e.dir.Employee(ctx, cp.String(), w.GUID); emp.BranchGUID != b.GUID {
		t.Fatalf("branch = %q, want %s", emp.BranchGUID, b.GUID)
	}
	if _, err := e.dir.RemoveMember(ctx, cp, "Odesa staff", g, true, Write{}); err != nil {
		t.Fatal(err)
	}
	if emp, _ := e.dir.Employee(ctx, cp.String(), w.GUID); emp.BranchGUID != "" {
		t.Fatalf("branch after removal = %q", emp.BranchGUID)
	}
}
