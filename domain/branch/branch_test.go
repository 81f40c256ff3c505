package branch_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	id = uuid.MustParse("66666666-6666-4666-8666-666666666666")
	cp = uuid.MustParse("11111111-1111-4111-8111-111111111111")
)

func created() branch.BranchCreated {
	return branch.BranchCreated{GUID: id.String(), CounterpartyGUID: cp.String(), Name: "Kyiv", At: t0}
}
func deleted() branch.BranchDeleted {
	return branch.BranchDeleted{GUID: id.String(), CounterpartyGUID: cp.String(), At: t1}
}

func fold(events ...branch.Event) branch.State {
	s := branch.Decider.Initial
	for _, e := range events {
		s = branch.Evolve(s, e)
	}
	return s
}

func check(t *testing.T, given []branch.Event, when any, want []branch.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := branch.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *branch.ErrInvalid
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

func TestBranch(t *testing.T) {
	check(t, nil, branch.Create{GUID: id, CounterpartyGUID: cp, Name: " Kyiv ", At: t0}, []branch.Event{created()}, nil)
	check(t, []branch.Event{created()}, branch.Create{GUID: id, CounterpartyGUID: cp, Name: "Kyiv", At: t0}, nil, branch.ErrAlreadyExists)
	check(t, nil, branch.Create{CounterpartyGUID: cp, Name: "Kyiv", At: t0}, nil, &branch.ErrInvalid{Field: "guid"})
	check(t, nil, branch.Create{GUID: id, Name: "Kyiv", At: t0}, nil, &branch.ErrInvalid{Field: "counterparty_guid"})
	for _, bad := range []string{"", "  ", strings.Repeat("b", 201), "a\x00", "\xff"} {
		check(t, nil, branch.Create{GUID: id, CounterpartyGUID: cp, Name: bad, At: t0}, nil, &branch.ErrInvalid{Field: "name"})
	}

	given := []branch.Event{created()}
	check(t, given, branch.Rename{Name: "Lviv", At: t1}, []branch.Event{branch.BranchRenamed{GUID: id.String(), CounterpartyGUID: cp.String(), Name: "Lviv", At: t1}}, nil)
	check(t, given, branch.Rename{Name: "Kyiv", At: t1}, nil, nil)
	check(t, given, branch.Rename{Name: "", At: t1}, nil, &branch.ErrInvalid{Field: "name"})
	check(t, nil, branch.Rename{Name: "Lviv", At: t1}, nil, branch.ErrNotFound)
	check(t, append(given, deleted()), branch.Rename{Name: "Lviv", At: t1}, nil, branch.ErrDeleted)

	check(t, given, branch.Delete{At: t1}, []branch.Event{deleted()}, nil)
	check(t, append(given, deleted()), branch.Delete{At: t1}, nil, nil)
	check(t, nil, branch.Delete{At: t1}, nil, branch.ErrNotFound)
	check(t, append(given, deleted()), branch.Restore{At: t1}, []branch.Event{branch.BranchRestored{GUID: id.String(), CounterpartyGUID: cp.String(), At: t1}}, nil)
	check(t, given, branch.Restore{At: t1}, nil, nil)
	check(t, nil, branch.Restore{At: t1}, nil, branch.ErrNotFound)
	check(t, nil, 3, nil, branch.ErrUnknownCommand)
	if s := fold(created(), deleted()); !s.Deleted || s.Name != "Kyiv" || !s.UpdatedAt.Equal(t1) {
		t.Fatalf("state %+v", s)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	all := []branch.Event{created(), branch.BranchRenamed{GUID: "g", Name: "n", At: t1}, deleted(), branch.BranchRestored{GUID: "g", At: t1}}
	if n := len(branch.Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	for _, e := range all {
		typ, data, err := branch.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := branch.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, "Branch") {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
	}
}

// TestRenameThroughHandle is the app layer's rename: claim the new name, rename, release the old one.
func TestRenameThroughHandle(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	claim := func(owner uuid.UUID, name string) error {
		_, err := command.Handle(ctx, store, branch.NameStream(cp, name), uniqueness.Decider, uniqueness.Events, any(uniqueness.Claim{Owner: owner.String(), Value: name, At: t0}), command.Envelope{})
		return err
	}
	release := func(owner uuid.UUID, name string) error {
		_, err := command.Handle(ctx, store, branch.NameStream(cp, name), uniqueness.Decider, uniqueness.Events, any(uniqueness.Release{Owner: owner.String(), At: t0}), command.Envelope{})
		return err
	}
	handle := func(g uuid.UUID, cmd any) error {
		_, err := command.Handle(ctx, store, branch.Stream(g), branch.Decider, branch.Events, cmd, command.Envelope{})
		return err
	}
	other := uuid.New()
	for _, b := range []struct {
		g    uuid.UUID
		name string
	}{{id, "Kyiv"}, {other, "Lviv"}} {
		if err := claim(b.g, b.name); err != nil {
			t.Fatal(err)
		}
		if err := handle(b.g, branch.Create{GUID: b.g, CounterpartyGUID: cp, Name: b.name, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := claim(id, "lviv"); !errors.Is(err, uniqueness.ErrTaken) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	if err := claim(id, "Odesa"); err != nil {
		t.Fatal(err)
	}
	if err := handle(id, branch.Rename{Name: "Odesa", At: t1}); err != nil {
		t.Fatal(err)
	}
	if err := release(id, "Kyiv"); err != nil {
		t.Fatal(err)
	}
	if err := claim(other, "KYIV"); err != nil {
		t.Fatalf("the old name is free: %v", err)
	}
	if err := handle(id, branch.Delete{At: t1}); err != nil {
		t.Fatal(err)
	}
	if err := handle(id, branch.Rename{Name: "Odesa 2", At: t1}); !errors.Is(err, branch.ErrDeleted) {
		t.Fatalf("rename a deleted branch: %v", err)
	}
}
