package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/projections"
)

func TestCreateEmployeeJoinsRolesAndMailsLink(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	w, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "Ann@Bank.example", Name: "Ann", Roles: []string{"Operator"}}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	emp, ok := e.dir.Employee(ctx, cp.String(), w.GUID)
	if !ok || emp.Login != "ann@bank.example" || emp.Verified {
		t.Fatalf("employee = %+v, %v", emp, ok)
	}
	if got := e.roles.MemberRoles(ctx, cp.String(), w.GUID); len(got) != 1 || got[0] != "Operator" {
		t.Fatalf("rbac membership = %v, want [Operator]", got)
	}
	tok := e.mail.token(t, "ann@bank.example")
	if len(tok) != 43 { // 32 bytes, unpadded base64url
		t.Fatalf("token %q: want 43 characters", tok)
	}
}

func TestCreateEmployeeRefusalsWriteNothing(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	if _, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "a@b.example"}, Write{}); err != nil {
		t.Fatal(err)
	}
	before := e.last()
	cases := []struct {
		name string
		in   EmployeeInput
		want error
	}{
		{"duplicate login", EmployeeInput{Email: "A@B.example"}, employee.ErrLoginTaken},
		{"unknown role", EmployeeInput{Email: "c@b.example", Roles: []string{"Nope"}}, ErrUnknownRole},
		{"unknown branch", EmployeeInput{Email: "d@b.example", BranchGUID: uuid.NewString()}, ErrUnknownBranch},
	}
	for _, c := range cases {
		if _, err := e.dir.CreateEmployee(ctx, cp, c.in, Write{}); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	_, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{}, Write{})
	var inv *employee.ErrInvalid
	if !errors.As(err, &inv) || inv.Field != "login" {
		t.Errorf("no login: err = %v, want invalid login", err)
	}
	if after := e.last(); after != before {
		t.Fatalf("refusals wrote to the log: %v → %v", before, after)
	}
}

func TestCreateEmployeeLoginClaimUnderConcurrency(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.dir.CreateEmployee(context.Background(), cp, EmployeeInput{Email: "same@b.example"}, Write{})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, employee.ErrLoginTaken):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creations succeeded, want 1", ok)
	}
	// Same login in another bank is fine.
	if _, err := e.dir.CreateEmployee(context.Background(), e.bank(), EmployeeInput{Email: "same@b.example"}, Write{}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateEmployeeIdempotentRetry(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	in := EmployeeInput{Email: "r@b.example", Roles: []string{"Operator"}}
	w1, err := e.dir.CreateEmployee(context.Background(), cp, in, Write{IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	before := e.last()
	w2, err := e.dir.CreateEmployee(context.Background(), cp, in, Write{IdempotencyKey: "k1"})
	if err != nil || w2.GUID != w1.GUID {
		t.Fatalf("retry = %+v, %v; want %s", w2, err, w1.GUID)
	}
	if e.last() != before {
		t.Fatal("a retry wrote again")
	}
}

func TestVerificationAndSetPassword(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	w, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "p@b.example"}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.mail.token(t, "p@b.example")

	var rule *PasswordRuleError
	if _, err := e.dir.SetPassword(ctx, "p@b.example", tok, "weak"); !errors.As(err, &rule) || !errors.Is(err, auth.ErrPasswordTooShort) {
		t.Fatalf("weak password: err = %v", err)
	}
	if _, err := e.dir.SetPassword(ctx, "p@b.example", "wrong-token-wrong-token", "Str0ng!pass"); !errors.Is(err, ErrVerificationRefused) {
		t.Fatalf("wrong token: err = %v", err)
	}
	if _, err := e.dir.SetPassword(ctx, "p@b.example", tok, "Str0ng!pass"); err != nil {
		t.Fatal(err)
	}
	if emp, _ := e.dir.Employee(ctx, cp.String(), w.GUID); !emp.Verified {
		t.Fatal("not verified after set-password")
	}
	if _, err := e.dir.SetPassword(ctx, "p@b.example", tok, "An0ther!pass"); !errors.Is(err, ErrVerificationRefused) || !errors.Is(err, employee.ErrTokenUsed) {
		t.Fatalf("reused token: err = %v", err)
	}

	// A new link; it expires after the TTL.
	if err := e.dir.RequestVerification(ctx, "P@b.example"); err != nil {
		t.Fatal(err)
	}
	tok2 := e.mail.token(t, "p@b.example")
	e.clock.Set(t0.Add(DefaultVerificationTTL + time.Second))
	if _, err := e.dir.SetPassword(ctx, "p@b.example", tok2, "An0ther!pass"); !errors.Is(err, employee.ErrTokenExpired) {
		t.Fatalf("expired token: err = %v", err)
	}
	// Unknown addresses get the same silence.
	if err := e.dir.RequestVerification(ctx, "nobody@b.example"); err != nil {
		t.Fatal(err)
	}
}

func TestEmployeeLoginsCredentials(t *testing.T) {
	e := newDirEnv(t)
	ctx := context.Background()
	cp1, cp2 := e.bank(), e.bank()
	w1, err := e.dir.CreateEmployee(ctx, cp1, EmployeeInput{Email: "x@b.example", Roles: []string{"Operator"}}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	creds := EmployeeLogins{Employees: e.emps, Roles: e.roles}
	cred, err := creds.Credentials(ctx, "X@b.example")
	if err != nil || cred.Subject != w1.GUID || cred.CounterpartyGUID != cp1.String() || len(cred.Roles) != 1 || cred.Branch != "" {
		t.Fatalf("credentials = %+v %v", cred, err)
	}
	if _, err := e.dir.CreateEmployee(ctx, cp2, EmployeeInput{Email: "x@b.example"}, Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := creds.Credentials(ctx, "x@b.example"); !errors.Is(err, ErrUnknownLogin) {
		t.Fatalf("ambiguous login: err = %v, want ErrUnknownLogin", err)
	}
	cred, err = creds.Credentials(WithLoginCounterparty(ctx, strings.ToUpper(cp1.String())), "x@b.example")
	if err != nil || cred.Subject != w1.GUID {
		t.Fatalf("login in named bank = %+v, %v", cred, err)
	}
}

func TestUpdateEmployeeMergeLoginAndDisable(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	w, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "u@b.example", Name: "U", Phone: "+380501234567"}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "taken@b.example"}, Write{}); err != nil {
		t.Fatal(err)
	}
	g := uuid.MustParse(w.GUID)
	taken := "taken@b.example"
	before := e.last()
	if _, err := e.dir.UpdateEmployee(ctx, cp, g, EmployeePatch{Login: &taken}, Write{}); !errors.Is(err, employee.ErrLoginTaken) {
		t.Fatalf("err = %v, want ErrLoginTaken", err)
	}
	if e.last() != before {
		t.Fatal("refused update wrote")
	}
	login, name, yes := "new-login", "New", true
	if _, err := e.dir.UpdateEmployee(ctx, cp, g, EmployeePatch{Login: &login, Name: &name, Disabled: &yes}, Write{}); err != nil {
		t.Fatal(err)
	}
	emp, _ := e.dir.Employee(ctx, cp.String(), w.GUID)
	if emp.Login != "new-login" || emp.Name != "New" || emp.Phone != "+380501234567" || !emp.Disabled {
		t.Fatalf("after merge: %+v", emp)
	}
	// The old login is free again.
	if _, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "u@b.example"}, Write{}); err != nil {
		t.Fatalf("old login not released: %v", err)
	}
	if _, err := e.dir.UpdateEmployee(ctx, uuid.New(), g, EmployeePatch{Name: &name}, Write{}); !errors.Is(err, employee.ErrNotFound) {
		t.Fatalf("other bank: err = %v", err)
	}
	list, total, err := e.dir.ListEmployees(ctx, projections.EmployeeQuery{CounterpartyGUID: cp.String()})
	if err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("list without disabled = %d, %v", total, err)
	}
}

func TestRBACMembershipInStepAndAdministratorProtected(t *testing.T) {
	e := newDirEnv(t)
	cp := e.bank()
	ctx := context.Background()
	w, err := e.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "m@b.example"}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	g := uuid.MustParse(w.GUID)
	if _, err := e.dir.CreateRole(ctx, cp, "Tellers", Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateRole(ctx, cp, "tellers", Write{}); !errors.Is(err, rbac.ErrAlreadyExists) {
		t.Fatalf("duplicate role: %v", err)
	}
	if _, err := e.dir.AddMember(ctx, cp, "Tellers", g, false, Write{}); err != nil {
		t.Fatal(err)
	}
	emp, _ := e.dir.Employee(ctx, cp.String(), w.GUID)
	if len(emp.Roles) != 1 || emp.Roles[0] != "Tellers" {
		t.Fatalf("employee roles = %v", emp.Roles)
	}
	users, total, err := e.dir.RoleUsers(ctx, cp.String(), "Tellers", projections.ListPage{})
	if err != nil || total != 1 || users[0].GUID != w.GUID {
		t.Fatalf("role users = %v %d %v", users, total, err)
	}
	if _, err := e.dir.GrantPermission(ctx, cp, "Tellers", "employees.create", false, Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.GrantPermission(ctx, cp, "Tellers", "platform.everything", false, Write{}); !errors.Is(err, rbac.ErrUnknownPermission) {
		t.Fatalf("unknown permission: %v", err)
	}
	if _, err := e.dir.DeleteRole(ctx, cp, "Tellers", false, Write{}); err != nil {
		t.Fatal(err)
	}
	emp, _ = e.dir.Employee(ctx, cp.String(), w.GUID)
	if len(emp.Roles) != 0 || len(e.roles.MemberRoles(ctx, cp.String(), w.GUID)) != 0 {
		t.Fatalf("after delete: employee roles %v, rbac %v", emp.Roles, e.roles.MemberRoles(ctx, cp.String(), w.GUID))
	}
	before := e.last()
	if _, err := e.dir.DeleteRole(ctx, cp, "administrator", false, Write{}); !errors.Is(err, rbac.ErrProtectedRole) {
		t.Fatalf("delete Administrator: %v", err)
	}
	if _, err := e.dir.RevokePermission(ctx, cp, rbac.Administrator, "rbac.write", false, Write{}); !errors.Is(err, rbac.ErrProtectedRole) {
		t.Fatalf("revoke from Administrator: %v", err)
	}
	if e.last() != before {
		t.Fatal("refusals wrote")
	}
}
