package employee_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

var (
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1     = t0.Add(time.Hour)
	id     = uuid.MustParse("77777777-7777-4777-8777-777777777777")
	cp     = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	branch = uuid.MustParse("66666666-6666-4666-8666-666666666666")
)

const token = "0123456789abcdef0123456789abcdef"

func create() employee.Create {
	return employee.Create{GUID: id, CounterpartyGUID: cp, Profile: employee.ProfileInput{
		Email: " Olena@Bank.test ", Name: "Olena", Surname: "Kovalenko", PaternalName: "Ivanivna", Phone: "+380501234567", BranchGUID: branch,
	}, Roles: []string{"Operator", " Observer", "Operator"}, At: t0}
}

func created() employee.EmployeeCreated {
	return employee.EmployeeCreated{GUID: id.String(), CounterpartyGUID: cp.String(), Profile: employee.Profile{
		Login: "olena@bank.test", Email: "olena@bank.test", Name: "Olena", Surname: "Kovalenko", PaternalName: "Ivanivna",
		Phone: "+380501234567", BranchGUID: branch.String(),
	}, Roles: []string{"Observer", "Operator"}, At: t0}
}

func issued() employee.EmployeeVerificationIssued {
	return employee.EmployeeVerificationIssued{GUID: id.String(), CounterpartyGUID: cp.String(), TokenSHA256: employee.HashToken(token), ExpiresAt: t0.Add(24 * time.Hour), At: t0}
}

func fold(events ...employee.Event) employee.State {
	s := employee.Decider.Initial
	for _, e := range events {
		s = employee.Evolve(s, e)
	}
	return s
}

func check(t *testing.T, given []employee.Event, when any, want []employee.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := employee.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *employee.ErrInvalid
		if !errors.Is(err, wantErr) && !(errors.As(wantErr, &w) && errors.As(err, &g) && g.Field == w.Field) {
			t.Fatalf("when %T: got %v, %v; want error %v", when, got, err, wantErr)
		}
		if got != nil {
			t.Fatalf("when %T: refused but also decided %v", when, got)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("when %T:\n got  %#v, %v\n want %#v", when, got, err, want)
	}
}

func invalid(field string) error { return &employee.ErrInvalid{Field: field} }

func TestCreate(t *testing.T) {
	check(t, nil, create(), []employee.Event{created()}, nil)
	check(t, []employee.Event{created()}, create(), nil, employee.ErrAlreadyExists)
	// Name defaults to the login; login may be given without an e-mail.
	c := employee.Create{GUID: id, CounterpartyGUID: cp, Profile: employee.ProfileInput{Login: "Teller7"}, At: t0}
	check(t, nil, c, []employee.Event{employee.EmployeeCreated{GUID: id.String(), CounterpartyGUID: cp.String(),
		Profile: employee.Profile{Login: "teller7", Name: "teller7"}, Roles: []string{}, At: t0}}, nil)
	for name, tc := range map[string]struct {
		edit  func(*employee.Create)
		field string
	}{
		"no guid":         {func(c *employee.Create) { c.GUID = uuid.Nil }, "guid"},
		"no counterparty": {func(c *employee.Create) { c.CounterpartyGUID = uuid.Nil }, "counterparty_guid"},
		"no login":        {func(c *employee.Create) { c.Profile.Email, c.Profile.Login = "", "" }, "login"},
		"spacey login":    {func(c *employee.Create) { c.Profile.Login = "a b" }, "login"},
		"long login":      {func(c *employee.Create) { c.Profile.Login = strings.Repeat("a", 255) }, "login"},
		"bad email":       {func(c *employee.Create) { c.Profile.Email = "olena.bank.test" }, "email"},
		"two @":           {func(c *employee.Create) { c.Profile.Email = "a@b@c.test" }, "email"},
		"long name":       {func(c *employee.Create) { c.Profile.Name = strings.Repeat("n", 101) }, "name"},
		"control surname": {func(c *employee.Create) { c.Profile.Surname = "a\x07" }, "surname"},
		"bad patronymic":  {func(c *employee.Create) { c.Profile.PaternalName = "\xff" }, "paternal_name"},
		"bad phone":       {func(c *employee.Create) { c.Profile.Phone = "call me" }, "phone"},
		"short phone":     {func(c *employee.Create) { c.Profile.Phone = "+123" }, "phone"},
		"empty role":      {func(c *employee.Create) { c.Roles = []string{" "} }, "roles"},
		"many roles":      {func(c *employee.Create) { c.Roles = make([]string, 33) }, "roles"},
	} {
		t.Run(name, func(t *testing.T) {
			c := create()
			tc.edit(&c)
			check(t, nil, c, nil, invalid(tc.field))
		})
	}
}

func TestUpdateDisableEnable(t *testing.T) {
	given := []employee.Event{created()}
	in := create().Profile
	in.Login, in.BranchGUID = "olena.k", uuid.Nil
	want := created().Profile
	want.Login, want.BranchGUID = "olena.k", ""
	check(t, given, employee.Update{Profile: in, At: t1}, []employee.Event{employee.EmployeeUpdated{GUID: id.String(), CounterpartyGUID: cp.String(), Profile: want, At: t1}}, nil)
	check(t, given, employee.Update{Profile: create().Profile, At: t1}, nil, nil)
	check(t, given, employee.Update{Profile: employee.ProfileInput{Phone: "x"}, At: t1}, nil, invalid("login"))
	check(t, given, employee.Update{Profile: employee.ProfileInput{Login: "a", Phone: "x"}, At: t1}, nil, invalid("phone"))
	check(t, nil, employee.Update{Profile: in, At: t1}, nil, employee.ErrNotFound)

	disabled := employee.EmployeeDisabled{GUID: id.String(), CounterpartyGUID: cp.String(), At: t1}
	check(t, given, employee.Disable{At: t1}, []employee.Event{disabled}, nil)
	check(t, append(given, disabled), employee.Disable{At: t1}, nil, nil)
	check(t, append(given, disabled), employee.Enable{At: t1}, []employee.Event{employee.EmployeeEnabled{GUID: id.String(), CounterpartyGUID: cp.String(), At: t1}}, nil)
	check(t, given, employee.Enable{At: t1}, nil, nil)
	check(t, nil, employee.Disable{At: t1}, nil, employee.ErrNotFound)
	check(t, nil, struct{}{}, nil, employee.ErrUnknownCommand)
}

func TestVerificationAndPassword(t *testing.T) {
	given := []employee.Event{created()}
	check(t, given, employee.IssueVerification{Token: token, TTL: 24 * time.Hour, At: t0}, []employee.Event{issued()}, nil)
	check(t, given, employee.IssueVerification{Token: "short", TTL: time.Hour, At: t0}, nil, invalid("token"))
	check(t, given, employee.IssueVerification{Token: token, TTL: 0, At: t0}, nil, invalid("ttl"))
	check(t, given, employee.IssueVerification{Token: token, TTL: 8 * 24 * time.Hour, At: t0}, nil, invalid("ttl"))
	disabled := employee.EmployeeDisabled{GUID: id.String(), CounterpartyGUID: cp.String(), At: t0}
	check(t, append(given, disabled), employee.IssueVerification{Token: token, TTL: time.Hour, At: t0}, nil, employee.ErrDisabled)

	withToken := append(given, issued())
	set := employee.EmployeePasswordSet{GUID: id.String(), CounterpartyGUID: cp.String(), PasswordHash: "$argon2id$hash", At: t1}
	check(t, withToken, employee.SetPassword{Token: token, PasswordHash: "$argon2id$hash", At: t1}, []employee.Event{set}, nil)
	check(t, withToken, employee.SetPassword{Token: token + "x", PasswordHash: "h", At: t1}, nil, employee.ErrTokenInvalid)
	check(t, withToken, employee.SetPassword{Token: "", PasswordHash: "h", At: t1}, nil, employee.ErrTokenInvalid)
	check(t, given, employee.SetPassword{Token: token, PasswordHash: "h", At: t1}, nil, employee.ErrTokenInvalid) // none issued
	check(t, withToken, employee.SetPassword{Token: token, PasswordHash: "h", At: t0.Add(24 * time.Hour)}, nil, employee.ErrTokenExpired)
	check(t, append(withToken, set), employee.SetPassword{Token: token, PasswordHash: "h2", At: t1}, nil, employee.ErrTokenUsed)
	check(t, withToken, employee.SetPassword{Token: token, PasswordHash: "", At: t1}, nil, invalid("password_hash"))
	check(t, append(withToken, disabled), employee.SetPassword{Token: token, PasswordHash: "h", At: t1}, nil, employee.ErrDisabled)
	// A new token replaces the old one.
	reissued := issued()
	reissued.TokenSHA256 = employee.HashToken(token + "-2")
	check(t, append(withToken, reissued), employee.SetPassword{Token: token, PasswordHash: "h", At: t1}, nil, employee.ErrTokenInvalid)

	s := fold(append(withToken, set)...)
	if !s.Verified || s.PasswordHash != "$argon2id$hash" || !s.Verification.Used {
		t.Fatalf("state after password set: %+v", s)
	}
	if strings.Contains(s.Verification.TokenSHA256, token) {
		t.Fatal("raw token stored")
	}
}

func TestChangeRoles(t *testing.T) {
	given := []employee.Event{created()}
	check(t, given, employee.ChangeRoles{Roles: []string{"Auditor"}, At: t1},
		[]employee.Event{employee.EmployeeRolesChanged{GUID: id.String(), CounterpartyGUID: cp.String(), Roles: []string{"Auditor"}, At: t1}}, nil)
	check(t, given, employee.ChangeRoles{Roles: []string{"Operator", "Observer"}, At: t1}, nil, nil)
	check(t, given, employee.ChangeRoles{Roles: []string{""}, At: t1}, nil, invalid("roles"))
	check(t, nil, employee.ChangeRoles{At: t1}, nil, employee.ErrNotFound)
	before, snap := fold(given...), fold(given...)
	_ = employee.Evolve(before, employee.EmployeeRolesChanged{Roles: []string{"X"}})
	if !reflect.DeepEqual(before, snap) {
		t.Fatal("Evolve wrote into the state it was given")
	}
}

func TestEventsRoundTrip(t *testing.T) {
	all := []employee.Event{created(), employee.EmployeeUpdated{GUID: "g", Profile: created().Profile, At: t1},
		employee.EmployeeDisabled{GUID: "g", At: t1}, employee.EmployeeEnabled{GUID: "g", At: t1}, issued(),
		employee.EmployeePasswordSet{GUID: "g", PasswordHash: "h", At: t1}, employee.EmployeeRolesChanged{GUID: "g", Roles: []string{"r"}, At: t1}}
	if n := len(employee.Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	for _, e := range all {
		typ, data, err := employee.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := employee.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, "Employee") {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
	}
}

// TestLoginClaimThroughHandle creates employees the app layer's way on the bolt store: ten racing creations
// with one login in one bank, one winner; the same login in another bank is free.
func TestLoginClaimThroughHandle(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	createWithLogin := func(c employee.Create) error {
		claim := uniqueness.Claim{Owner: c.GUID.String(), Value: c.Profile.Login, At: c.At}
		if _, err := command.Handle(ctx, store, employee.LoginStream(c.CounterpartyGUID, c.Profile.Login), uniqueness.Decider, uniqueness.Events, any(claim), command.Envelope{MaxAttempts: 20}); err != nil {
			if errors.Is(err, uniqueness.ErrTaken) {
				return employee.ErrLoginTaken
			}
			return err
		}
		_, err := command.Handle(ctx, store, employee.Stream(c.GUID), employee.Decider, employee.Events, any(c), command.Envelope{})
		return err
	}
	const racers = 10
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		c := employee.Create{GUID: uuid.New(), CounterpartyGUID: cp, Profile: employee.ProfileInput{Login: "Teller"}, At: t0}
		wg.Go(func() { errs[i] = createWithLogin(c) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, employee.ErrLoginTaken) {
			t.Fatal(err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners, want 1", wins)
	}
	if err := createWithLogin(employee.Create{GUID: uuid.New(), CounterpartyGUID: uuid.New(), Profile: employee.ProfileInput{Login: "teller"}, At: t0}); err != nil {
		t.Fatalf("same login in another bank: %v", err)
	}
	// Verification and password through Handle.
	e := uuid.New()
	if err := createWithLogin(employee.Create{GUID: e, CounterpartyGUID: cp, Profile: employee.ProfileInput{Email: "x@bank.test"}, At: t0}); err != nil {
		t.Fatal(err)
	}
	handle := func(cmd any) error {
		_, err := command.Handle(ctx, store, employee.Stream(e), employee.Decider, employee.Events, cmd, command.Envelope{})
		return err
	}
	if err := handle(employee.IssueVerification{Token: token, TTL: time.Hour, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := handle(employee.SetPassword{Token: token, PasswordHash: "h", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := handle(employee.SetPassword{Token: token, PasswordHash: "h", At: t0.Add(2 * time.Minute)}); !errors.Is(err, employee.ErrTokenUsed) {
		t.Fatalf("second use: %v", err)
	}
}
