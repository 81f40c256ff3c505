package rbac_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/api"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

// apiCatalogue is what the app layer passes: a permission of the api's catalogue that a bank role may hold.
func apiCatalogue(name string) bool {
	p, ok := api.PermissionByName(name)
	return ok && !p.Platform
}

// TestSeedDefaultRolesThroughHandle seeds the api's default roles the way the app layer will, then manages a
// role through command.Handle on the bolt store, with a keyed (idempotent) grant.
func TestSeedDefaultRolesThroughHandle(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	handle := func(cmd any, env command.Envelope) (command.Result[rbac.Event], error) {
		return command.Handle(ctx, store, rbac.Stream(cp), rbac.Decider, rbac.Events, cmd, env)
	}
	var specs []rbac.RoleSpec
	for _, r := range api.DefaultRoles() {
		specs = append(specs, rbac.RoleSpec{Name: r.Name, Permissions: r.Permissions})
	}
	if rbac.Administrator != api.RoleAdministrator {
		t.Fatalf("rbac.Administrator %q differs from api.RoleAdministrator %q", rbac.Administrator, api.RoleAdministrator)
	}
	if _, err := handle(rbac.Seed{CounterpartyGUID: cp, Roles: specs, Known: apiCatalogue, At: t0}, command.Envelope{}); err != nil {
		t.Fatalf("seed the default roles: %v", err)
	}
	if _, err := handle(rbac.Seed{CounterpartyGUID: cp, Roles: specs, Known: apiCatalogue, At: t0}, command.Envelope{}); !errors.Is(err, rbac.ErrAlreadyExists) {
		t.Fatalf("second seed: %v", err)
	}
	if _, err := handle(rbac.CreateRole{Role: "Tellers", At: t1}, command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	grant := rbac.GrantPermission{Role: "Tellers", Permission: api.PermPaymentsCreate, Known: apiCatalogue, At: t1}
	env := command.Envelope{IdempotencyKey: "grant-1"} // the func field stays out of the fingerprint
	first, err := handle(grant, env)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := handle(grant, env); err != nil || !again.Replayed || again.Position != first.Position {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	if _, err := handle(rbac.GrantPermission{Role: "Tellers", Permission: api.PermCounterpartiesCreate, Known: apiCatalogue, At: t1}, command.Envelope{}); !errors.Is(err, rbac.ErrUnknownPermission) {
		t.Fatalf("a platform permission: %v", err)
	}
	if _, err := handle(rbac.DeleteRole{Role: api.RoleAdministrator, At: t1}, command.Envelope{}); !errors.Is(err, rbac.ErrProtectedRole) {
		t.Fatalf("delete Administrator: %v", err)
	}
	if _, err := handle(rbac.AddMember{Role: "Tellers", EmployeeGUID: emp, At: t1}, command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	res, err := handle(rbac.DeleteRole{Role: "Tellers", At: t1}, command.Envelope{})
	if err != nil || res.Revision != 4 {
		t.Fatalf("delete Tellers: %+v, %v", res, err)
	}
}
