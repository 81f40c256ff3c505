package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// testPerms is a small catalogue for rbac in app tests (app must not import api).
var testPerms = map[string]bool{"employees.read": true, "employees.create": true, "rbac.write": true, "branch.customers.read": true}

func testCatalogue(n string) bool { return testPerms[n] }

// fakeMailer records the links it was asked to send.
type fakeMailer struct {
	mu    sync.Mutex
	links map[string][]string
}

func (m *fakeMailer) SendVerification(_ context.Context, to, link string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.links == nil {
		m.links = map[string][]string{}
	}
	m.links[to] = append(m.links[to], link)
	return nil
}

// token returns the token of the last link sent to to.
func (m *fakeMailer) token(t *testing.T, to string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := m.links[to]
	if len(ls) == 0 {
		t.Fatalf("no link sent to %s", to)
	}
	_, tok, ok := strings.Cut(ls[len(ls)-1], "token=")
	if !ok {
		t.Fatalf("link without token: %s", ls[len(ls)-1])
	}
	return tok
}

type dirEnv struct {
	t      *testing.T
	store  *bolt.Store
	dir    *Directory
	mail   *fakeMailer
	clock  *clock
	emps   *projections.Employees
	brs    *projections.Branches
	roles  *projections.Roles
	runner *projections.Runner
}

func newDirEnv(t *testing.T) *dirEnv {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &dirEnv{t: t, store: store, mail: &fakeMailer{}, clock: &clock{now: t0},
		emps: projections.NewEmployees(), brs: projections.NewBranches(), roles: projections.NewRoles()}
	e.runner, err = projections.NewRunner(store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, e.emps, e.brs, e.roles)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.dir, err = NewDirectory(DirectoryDeps{Store: store, Employees: e.emps, Branches: e.brs, Roles: e.roles,
		WaitFor: e.runner.WaitFor, Catalogue: testCatalogue, Mailer: e.mail, ResetURL: "https://bo.example/",
		Now: e.clock.Now, HashPassword: cheapHash, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// bank seeds a counterparty's roles: Administrator and Operator.
func (e *dirEnv) bank() uuid.UUID {
	e.t.Helper()
	cp := uuid.New()
	_, err := command.Handle(context.Background(), e.store, rbac.Stream(cp), rbac.Decider, rbac.Events, any(rbac.Seed{
		CounterpartyGUID: cp, Known: testCatalogue, At: t0,
		Roles: []rbac.RoleSpec{{Name: rbac.Administrator, Permissions: []string{"employees.read", "rbac.write"}}, {Name: "Operator", Permissions: []string{"employees.read"}}},
	}), command.Envelope{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

// last is the log's last position: equal before and after a refused request means nothing was written.
func (e *dirEnv) last() eventstore.Position { return e.store.LastPosition() }
