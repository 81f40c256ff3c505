package rbac_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/rbac"
)

var (
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1     = t0.Add(time.Hour)
	cp     = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	cpS    = cp.String()
	emp    = uuid.MustParse("55555555-5555-4555-8555-555555555555")
	branch = uuid.MustParse("66666666-6666-4666-8666-666666666666")
)

// known is a small catalogue in the api's naming.
func known(name string) bool {
	return slices.Contains([]string{"accounts.read", "accounts.create", "rbac.write", "branch.customers.read", "branch.employees.read"}, name)
}

func seeded() rbac.RolesSeeded {
	return rbac.RolesSeeded{CounterpartyGUID: cpS, Roles: []rbac.RoleSpec{
		{Name: "Administrator", Permissions: []string{"accounts.create", "accounts.read", "rbac.write"}},
		{Name: "Observer", Permissions: []string{"accounts.read"}},
	}, At: t0}
}

func fold(events ...rbac.Event) rbac.State {
	s := rbac.Decider.Initial
	for _, e := range events {
		s = rbac.Evolve(s, e)
	}
	return s
}

func check(t *testing.T, given []rbac.Event, when any, want []rbac.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := rbac.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *rbac.ErrInvalid
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

func invalid(field string) error { return &rbac.ErrInvalid{Field: field} }

func TestSeed(t *testing.T) {
	cmd := rbac.Seed{CounterpartyGUID: cp, Known: known, At: t0, Roles: []rbac.RoleSpec{
		{Name: " Administrator ", Permissions: []string{"rbac.write", "accounts.read", "accounts.create", "accounts.read"}},
		{Name: "Observer", Permissions: []string{"accounts.read"}},
	}}
	check(t, nil, cmd, []rbac.Event{seeded()}, nil) // trimmed, sorted, deduplicated
	check(t, []rbac.Event{seeded()}, cmd, nil, rbac.ErrAlreadyExists)

	edit := func(f func(*rbac.Seed)) rbac.Seed {
		c := cmd
		c.Roles = slices.Clone(cmd.Roles)
		f(&c)
		return c
	}
	check(t, nil, edit(func(c *rbac.Seed) { c.Known = nil }), nil, rbac.ErrUnknownPermission) // fails closed
	check(t, nil, edit(func(c *rbac.Seed) { c.Roles[1].Permissions = []string{"nope"} }), nil, rbac.ErrUnknownPermission)
	check(t, nil, edit(func(c *rbac.Seed) { c.Roles[1].Permissions = []string{"branch.customers.read"} }), nil, invalid("roles"))
	check(t, nil, edit(func(c *rbac.Seed) { c.Roles = c.Roles[1:] }), nil, invalid("roles"))
	check(t, nil, edit(func(c *rbac.Seed) { c.Roles = nil }), nil, invalid("roles"))
	check(t, nil, edit(func(c *rbac.Seed) { c.Roles[1].Name = "administrator" }), nil, invalid("roles"))
	check(t, nil, edit(func(c *rbac.Seed) { c.Roles[1].Name = "" }), nil, invalid("role"))
	check(t, nil, edit(func(c *rbac.Seed) { c.CounterpartyGUID = uuid.Nil }), nil, invalid("counterparty_guid"))
}

func TestNothingBeforeSeed(t *testing.T) {
	for _, c := range []any{
		rbac.CreateRole{Role: "x", At: t1}, rbac.DeleteRole{Role: "x", At: t1},
		rbac.GrantPermission{Role: "x", Permission: "accounts.read", Known: known, At: t1},
		rbac.RevokePermission{Role: "x", Permission: "accounts.read", At: t1},
		rbac.AddMember{Role: "x", EmployeeGUID: emp, At: t1}, rbac.RemoveMember{Role: "x", EmployeeGUID: emp, At: t1},
	} {
		check(t, nil, c, nil, rbac.ErrNotSeeded)
	}
	check(t, nil, struct{}{}, nil, rbac.ErrUnknownCommand)
	check(t, []rbac.Event{seeded()}, 42, nil, rbac.ErrUnknownCommand)
}

func TestCreateRole(t *testing.T) {
	given := []rbac.Event{seeded()}
	check(t, given, rbac.CreateRole{Role: " Tellers ", At: t1}, []rbac.Event{rbac.RoleCreated{CounterpartyGUID: cpS, Role: "Tellers", At: t1}}, nil)
	check(t, given, rbac.CreateRole{Role: "Kyiv branch", BranchGUID: branch, At: t1},
		[]rbac.Event{rbac.RoleCreated{CounterpartyGUID: cpS, Role: "Kyiv branch", BranchGUID: branch.String(), At: t1}}, nil)
	check(t, given, rbac.CreateRole{Role: "observer", At: t1}, nil, rbac.ErrAlreadyExists)
	check(t, given, rbac.CreateRole{Role: "", At: t1}, nil, invalid("role"))
	check(t, given, rbac.CreateRole{Role: strings.Repeat("r", 101), At: t1}, nil, invalid("role"))
	check(t, given, rbac.CreateRole{Role: "a\nb", At: t1}, nil, invalid("role"))
	many := slices.Clone(given)
	for i := range rbac.MaxRoles - 2 {
		many = append(many, rbac.RoleCreated{CounterpartyGUID: cpS, Role: uuid.NewString() + string(rune('a'+i%26)), At: t1})
	}
	check(t, many, rbac.CreateRole{Role: "one more", At: t1}, nil, rbac.ErrLimit)
}

func TestDeleteRole(t *testing.T) {
	given := []rbac.Event{seeded()}
	check(t, given, rbac.DeleteRole{Role: "Observer", At: t1}, []rbac.Event{rbac.RoleDeleted{CounterpartyGUID: cpS, Role: "Observer", At: t1}}, nil)
	check(t, given, rbac.DeleteRole{Role: "Administrator", At: t1}, nil, rbac.ErrProtectedRole)
	check(t, given, rbac.DeleteRole{Role: "ADMINISTRATOR", At: t1}, nil, rbac.ErrProtectedRole)
	check(t, given, rbac.DeleteRole{Role: "Ghost", At: t1}, nil, rbac.ErrNotFound)
	gone := append(slices.Clone(given), rbac.RoleDeleted{CounterpartyGUID: cpS, Role: "Observer", At: t1})
	check(t, gone, rbac.DeleteRole{Role: "Observer", At: t1}, nil, rbac.ErrNotFound)
	if _, ok := fold(gone...).Roles["Observer"]; ok {
		t.Fatal("deleted role still in state")
	}
}

func TestGrantPermission(t *testing.T) {
	given := []rbac.Event{seeded(), rbac.RoleCreated{CounterpartyGUID: cpS, Role: "Kyiv", BranchGUID: branch.String(), At: t0}}
	check(t, given, rbac.GrantPermission{Role: "Observer", Permission: "rbac.write", Known: known, At: t1},
		[]rbac.Event{rbac.RolePermissionGranted{CounterpartyGUID: cpS, Role: "Observer", Permission: "rbac.write", At: t1}}, nil)
	check(t, given, rbac.GrantPermission{Role: "Kyiv", Permission: "branch.customers.read", Known: known, At: t1},
		[]rbac.Event{rbac.RolePermissionGranted{CounterpartyGUID: cpS, Role: "Kyiv", Permission: "branch.customers.read", At: t1}}, nil)
	// Already held: nothing to do.
	check(t, given, rbac.GrantPermission{Role: "Observer", Permission: "accounts.read", Known: known, At: t1}, nil, nil)
	check(t, given, rbac.GrantPermission{Role: "Observer", Permission: "money.print", Known: known, At: t1}, nil, rbac.ErrUnknownPermission)
	check(t, given, rbac.GrantPermission{Role: "Observer", Permission: "accounts.read", At: t1}, nil, rbac.ErrUnknownPermission)
	check(t, given, rbac.GrantPermission{Role: "Observer", Permission: "", Known: known, At: t1}, nil, rbac.ErrUnknownPermission)
	check(t, given, rbac.GrantPermission{Role: "Ghost", Permission: "accounts.read", Known: known, At: t1}, nil, rbac.ErrNotFound)
	check(t, given, rbac.GrantPermission{Role: "Observer", Permission: "branch.customers.read", Known: known, At: t1}, nil, invalid("permission"))
	check(t, given, rbac.GrantPermission{Role: "Kyiv", Permission: "accounts.read", Known: known, At: t1}, nil, invalid("permission"))
	s := fold(append(slices.Clone(given), rbac.RolePermissionGranted{CounterpartyGUID: cpS, Role: "Observer", Permission: "rbac.write", At: t1})...)
	if !s.Roles["Observer"].Permissions["rbac.write"] {
		t.Fatal("granted permission missing from state")
	}
}

func TestRevokePermission(t *testing.T) {
	given := []rbac.Event{seeded()}
	check(t, given, rbac.RevokePermission{Role: "Observer", Permission: "accounts.read", At: t1},
		[]rbac.Event{rbac.RolePermissionRevoked{CounterpartyGUID: cpS, Role: "Observer", Permission: "accounts.read", At: t1}}, nil)
	check(t, given, rbac.RevokePermission{Role: "Observer", Permission: "rbac.write", At: t1}, nil, nil)
	check(t, given, rbac.RevokePermission{Role: "Administrator", Permission: "rbac.write", At: t1}, nil, rbac.ErrProtectedRole)
	check(t, given, rbac.RevokePermission{Role: "Ghost", Permission: "rbac.write", At: t1}, nil, rbac.ErrNotFound)
}

func TestMembers(t *testing.T) {
	given := []rbac.Event{seeded()}
	added := rbac.RoleMemberAdded{CounterpartyGUID: cpS, Role: "Observer", EmployeeGUID: emp.String(), At: t1}
	check(t, given, rbac.AddMember{Role: "observer", EmployeeGUID: emp, At: t1}, []rbac.Event{added}, nil) // canonical name
	with := append(slices.Clone(given), added)
	check(t, with, rbac.AddMember{Role: "Observer", EmployeeGUID: emp, At: t1}, nil, nil)
	check(t, given, rbac.AddMember{Role: "Observer", EmployeeGUID: uuid.Nil, At: t1}, nil, invalid("employee_guid"))
	check(t, given, rbac.AddMember{Role: "Ghost", EmployeeGUID: emp, At: t1}, nil, rbac.ErrNotFound)
	check(t, with, rbac.RemoveMember{Role: "Observer", EmployeeGUID: emp, At: t1},
		[]rbac.Event{rbac.RoleMemberRemoved{CounterpartyGUID: cpS, Role: "Observer", EmployeeGUID: emp.String(), At: t1}}, nil)
	check(t, given, rbac.RemoveMember{Role: "Observer", EmployeeGUID: emp, At: t1}, nil, nil)
	check(t, given, rbac.RemoveMember{Role: "Ghost", EmployeeGUID: emp, At: t1}, nil, rbac.ErrNotFound)
	if !fold(with...).Roles["Observer"].Members[emp.String()] {
		t.Fatal("member missing from state")
	}
}

func TestEvolveNeverChangesAnEarlierState(t *testing.T) {
	given := []rbac.Event{seeded(), rbac.RoleMemberAdded{CounterpartyGUID: cpS, Role: "Observer", EmployeeGUID: emp.String(), At: t1}}
	before, snapshot := fold(given...), fold(given...)
	for _, e := range []rbac.Event{
		rbac.RoleCreated{CounterpartyGUID: cpS, Role: "X", At: t1}, rbac.RoleDeleted{CounterpartyGUID: cpS, Role: "Observer", At: t1},
		rbac.RolePermissionGranted{CounterpartyGUID: cpS, Role: "Observer", Permission: "rbac.write", At: t1},
		rbac.RolePermissionRevoked{CounterpartyGUID: cpS, Role: "Observer", Permission: "accounts.read", At: t1},
		rbac.RoleMemberAdded{CounterpartyGUID: cpS, Role: "Observer", EmployeeGUID: "x", At: t1},
		rbac.RoleMemberRemoved{CounterpartyGUID: cpS, Role: "Observer", EmployeeGUID: emp.String(), At: t1},
	} {
		_ = rbac.Evolve(before, e)
	}
	if !reflect.DeepEqual(before, snapshot) {
		t.Fatal("Evolve wrote into the state it was given")
	}
}

func TestEventsRoundTrip(t *testing.T) {
	all := []rbac.Event{seeded(), rbac.RoleCreated{CounterpartyGUID: cpS, Role: "r", BranchGUID: "b", At: t1},
		rbac.RoleDeleted{CounterpartyGUID: cpS, Role: "r", At: t1},
		rbac.RolePermissionGranted{CounterpartyGUID: cpS, Role: "r", Permission: "p", At: t1},
		rbac.RolePermissionRevoked{CounterpartyGUID: cpS, Role: "r", Permission: "p", At: t1},
		rbac.RoleMemberAdded{CounterpartyGUID: cpS, Role: "r", EmployeeGUID: "e", At: t1},
		rbac.RoleMemberRemoved{CounterpartyGUID: cpS, Role: "r", EmployeeGUID: "e", At: t1}}
	if n := len(rbac.Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	for _, e := range all {
		typ, data, err := rbac.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := rbac.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, rbac.EventTypePrefixes[0]) {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
	}
}
