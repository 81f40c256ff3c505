package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
)

type fakeEmployees map[string]struct {
	cp, hash, branch string
	disabled         bool
}

func (f fakeEmployees) Credentials(_ context.Context, login string) (Credential, error) {
	if login == "broken@bank.test" {
		return Credential{}, errors.New("read model down")
	}
	e, ok := f[login]
	if !ok {
		return Credential{}, ErrUnknownLogin
	}
	return Credential{Subject: login, CounterpartyGUID: e.cp, Roles: []string{"Operator"}, Branch: e.branch,
		PasswordHash: e.hash, Disabled: e.disabled}, nil
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	e.cfg.AdminPassword = "Correct-Horse-9"
	d := e.deps()
	hash, _ := cheapHash("Teller-Pass-1")
	const bank = "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	d.Employees = fakeEmployees{
		"teller@bank.test": {cp: bank, hash: hash},
		"gone@bank.test":   {cp: bank, hash: hash, disabled: true},
	}
	p, err := Bootstrap(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tok, err := p.Login(ctx, "admin", "Correct-Horse-9")
	if err != nil || tok.TokenType != "Bearer" || tok.ExpiresIn != DefaultTokenTTL || tok.AccessToken == "" {
		t.Fatalf("admin login: %+v %v", tok, err)
	}
	c, err := p.Keyring().Verify(tok.AccessToken, e.clock.Now())
	if err != nil || c.Subject != "admin" || c.Counterparty != "" || len(c.Roles) != 1 || c.Roles[0] != AdministratorRole {
		t.Fatalf("admin claims %+v %v", c, err)
	}
	tok, err = p.Login(ctx, "teller@bank.test", "Teller-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := p.Keyring().Verify(tok.AccessToken, e.clock.Now()); err != nil || c.Counterparty != bank || c.Roles[0] != "Operator" {
		t.Fatalf("employee claims %+v %v", c, err)
	}
	for _, bad := range [][2]string{
		{"admin", "Wrong-Horse-9"},
		{"nobody", "Correct-Horse-9"},
		{"teller@bank.test", "Correct-Horse-9"},
		{"gone@bank.test", "Teller-Pass-1"}, // right password, disabled account
		{"", "x"},
		{"admin", string(make([]byte, 200))},
	} {
		if _, err := p.Login(ctx, bad[0], bad[1]); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("login %q: %v, want ErrInvalidCredentials", bad[0], err)
		}
	}
	if _, err := p.Login(ctx, "broken@bank.test", "x"); err == nil || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a failing lookup must not look like bad credentials: %v", err)
	}

	// Without an employee directory only the administrator logs in.
	d.Employees = nil
	p2, err := Bootstrap(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Login(ctx, "teller@bank.test", "Teller-Pass-1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("employee login without a directory: %v", err)
	}
	// A changed password works at once; the old one no longer does.
	if err := p2.SetAdministratorPassword(ctx, "Battery-Staple-7"); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Login(ctx, "admin", "Battery-Staple-7"); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Login(ctx, "admin", "Correct-Horse-9"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password: %v", err)
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		pw, err := GeneratePassword()
		if err != nil || seen[pw] || len(pw) < 20 {
			t.Fatalf("%q %v", pw, err)
		}
		seen[pw] = true
	}
}

// TestLoginCarriesBranch: the token of an employee of a branch names that branch (so the API limits the
// employee to it); an employee without a branch gets no branch claim; and the branch is read at login, so a
// branch-access role given later shows in the next token.
func TestLoginCarriesBranch(t *testing.T) {
	de := newDirEnv(t)
	ctx := context.Background()
	cp := de.bank()
	b1, err := de.dir.CreateBranch(ctx, cp, "Kyiv", Write{})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := de.dir.CreateBranch(ctx, cp, "Lviv", Write{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := de.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "in@b.example", BranchGUID: strings.ToUpper(b1.GUID)}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := de.dir.CreateEmployee(ctx, cp, EmployeeInput{Email: "all@b.example"}, Write{}); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"in@b.example", "all@b.example"} {
		if _, err := de.dir.SetPassword(ctx, login, de.mail.token(t, login), "Str0ng!pass"); err != nil {
			t.Fatal(err)
		}
	}

	e := newEnv(t)
	e.cfg.AdminPassword = "Correct-Horse-9"
	d := e.deps()
	d.Employees = EmployeeLogins{Employees: de.emps, Roles: de.roles}
	p, err := Bootstrap(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(login string) auth.Claims {
		t.Helper()
		tok, err := p.Login(ctx, login, "Str0ng!pass")
		if err != nil {
			t.Fatalf("login %s: %v", login, err)
		}
		c, err := p.Keyring().Verify(tok.AccessToken, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := claims("in@b.example"); c.Subject != in.GUID || c.Counterparty != cp.String() || c.Branch != b1.GUID {
		t.Fatalf("branch employee claims = %+v, want branch %s", c, b1.GUID)
	}
	if c := claims("all@b.example"); c.Branch != "" {
		t.Fatalf("employee without a branch: claims = %+v, want no branch", c)
	}

	// A branch-access role moves the employee to its branch; the next login carries the new branch.
	if _, err := de.dir.CreateBranchRole(ctx, cp, uuid.MustParse(b2.GUID), "LvivStaff", Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := de.dir.AddMember(ctx, cp, "LvivStaff", uuid.MustParse(in.GUID), true, Write{}); err != nil {
		t.Fatal(err)
	}
	if c := claims("in@b.example"); c.Branch != b2.GUID {
		t.Fatalf("after the branch role: branch = %q, want %s", c.Branch, b2.GUID)
	}
}
