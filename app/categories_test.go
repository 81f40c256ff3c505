package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/category"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// catEnv is a category service over a bolt store with its read model following the log.
type catEnv struct {
	t     *testing.T
	store *bolt.Store
	svc   *Categories
	model *projections.Categories
	clock *clock
}

func newCatEnv(t *testing.T) *catEnv {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newCatEnvOn(t, store)
}

// newCatEnvOn is another node on the same store: its own read model and service.
func newCatEnvOn(t *testing.T, store *bolt.Store) *catEnv {
	t.Helper()
	e := &catEnv{t: t, store: store, model: projections.NewCategories(), clock: &clock{now: t0}}
	runner, err := projections.NewRunner(store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, e.model)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.svc, err = NewCategories(CategoryDeps{Store: store, Categories: e.model, WaitFor: runner.WaitFor, Now: e.clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *catEnv) last() eventstore.Position { return e.store.LastPosition() }

// events is the number of events in stream (0 when it does not exist).
func (e *catEnv) events(stream string) int {
	e.t.Helper()
	evs, err := e.store.ReadStream(context.Background(), stream, eventstore.Forwards, 0, eventstore.MaxReadCount)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

func (e *catEnv) define(name, description string) uuid.UUID {
	e.t.Helper()
	w, err := e.svc.Define(context.Background(), name, description, Write{})
	if err != nil {
		e.t.Fatalf("define %q: %v", name, err)
	}
	return uuid.MustParse(w.GUID)
}

func names(list []projections.Category) []string {
	out := []string{}
	for _, c := range list {
		out = append(out, c.Name)
	}
	return out
}

func TestCategoriesSeed(t *testing.T) {
	e := newCatEnv(t)
	ctx := context.Background()
	if err := e.svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	list := e.svc.List(ctx)
	std := category.Standard()
	if len(list) != len(std) {
		t.Fatalf("seeded %d categories, want %d: %v", len(list), len(std), names(list))
	}
	for i, d := range std { // the guide's order is also name order
		c := list[i]
		if c.Name != d.Name || c.Description != d.Description || c.GUID != category.StandardGUID(d.Name).String() ||
			c.IsDeleted || !c.CreatedAt.Equal(t0) {
			t.Errorf("category %d: %+v, want %+v", i, c, d)
		}
	}
	evs, err := e.store.ReadStream(ctx, category.Stream(category.StandardGUID("01")), eventstore.Forwards, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Metadata.Actor != seedActor {
		t.Fatalf("seeded stream: %+v, %v", evs, err)
	}

	before := e.last()
	if err := e.svc.Seed(ctx); err != nil || e.last() != before {
		t.Fatalf("a second seed wrote: %v", err)
	}
	if _, err := e.svc.Define(ctx, "01", "another ATM", Write{}); !errors.Is(err, category.ErrNameTaken) {
		t.Fatalf("a second 01: %v", err)
	}

	// A standard category the platform deleted stays deleted; its code is free for a new category.
	atm := category.StandardGUID("01")
	if _, err := e.svc.Delete(ctx, atm, Write{}); err != nil {
		t.Fatal(err)
	}
	mine := e.define("01", "Our own ATM category")
	before = e.last()
	if err := e.svc.Seed(ctx); err != nil || e.last() != before {
		t.Fatalf("seed after a delete wrote: %v", err)
	}
	if c, ok := e.svc.Category(ctx, atm.String()); !ok || !c.IsDeleted {
		t.Fatalf("deleted standard category: %+v, %v", c, ok)
	}
	if c, ok := e.svc.Category(ctx, mine.String()); !ok || c.IsDeleted || c.Name != "01" {
		t.Fatalf("the new 01: %+v, %v", c, ok)
	}
}

// TestCategoriesSeedTakenCode: a standard code that a live category already has (defined before seeding
// existed) is left to it, and the other codes are seeded.
func TestCategoriesSeedTakenCode(t *testing.T) {
	e := newCatEnv(t)
	ctx := context.Background()
	own := e.define("13", "Our POS payments")
	if err := e.svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.model.Len(); n != len(category.Standard()) {
		t.Fatalf("%d categories", n)
	}
	if e.events(category.Stream(category.StandardGUID("13"))) != 0 {
		t.Fatal("standard 13 seeded beside the existing one")
	}
	if c, _ := e.svc.Category(ctx, own.String()); c.Description != "Our POS payments" {
		t.Fatalf("existing 13 changed: %+v", c)
	}
}

// TestCategoriesSeedRace: nodes that start together seed one set of categories, each stream written once.
func TestCategoriesSeedRace(t *testing.T) {
	first := newCatEnv(t)
	nodes := []*catEnv{first, newCatEnvOn(t, first.store), newCatEnvOn(t, first.store), newCatEnvOn(t, first.store)}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.svc.Seed(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	for _, d := range category.Standard() {
		if n := first.events(category.Stream(category.StandardGUID(d.Name))); n != 1 {
			t.Errorf("%s: %d events", d.Name, n)
		}
		if n := first.events(category.NameStream(d.Name)); n != 1 {
			t.Errorf("claim of %s: %d events", d.Name, n)
		}
	}
	for i, n := range nodes {
		if got := n.model.Len(); got != len(category.Standard()) {
			t.Errorf("node %d sees %d categories", i, got)
		}
	}
}

func TestCategoryLifecycle(t *testing.T) {
	e := newCatEnv(t)
	ctx := context.Background()
	g := e.define(" 99 ", "Internal test payments")
	c, ok := e.svc.Category(ctx, g.String())
	if !ok || c.Name != "99" || c.Description != "Internal test payments" || !c.CreatedAt.Equal(t0) {
		t.Fatalf("defined: %+v, %v", c, ok)
	}

	before := e.last()
	for _, bad := range []struct {
		name, description string
		want              error
	}{
		{"99", "", category.ErrNameTaken},
		{"", "no name", &category.ErrInvalid{}},
		{"a name longer than twenty", "", &category.ErrInvalid{}},
		{"98", strings.Repeat("d", category.MaxDescriptionRunes+1), &category.ErrInvalid{}},
	} {
		_, err := e.svc.Define(ctx, bad.name, bad.description, Write{})
		var inv *category.ErrInvalid
		if !errors.Is(err, bad.want) && !(errors.As(bad.want, &inv) && errors.As(err, &inv)) {
			t.Errorf("define %q: %v, want %v", bad.name, err, bad.want)
		}
	}
	if e.last() != before {
		t.Fatal("a refused define wrote")
	}

	e.clock.Set(t0.Add(time.Hour))
	other := e.define("97", "")
	rename := func(g uuid.UUID, name string) error {
		_, err := e.svc.Change(ctx, g, CategoryPatch{Name: &name}, Write{})
		return err
	}
	if err := rename(other, "99"); !errors.Is(err, category.ErrNameTaken) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	if err := rename(g, "98"); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.svc.Category(ctx, g.String()); c.Name != "98" || c.Description != "Internal test payments" || !c.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("renamed: %+v", c)
	}
	if err := rename(other, "99"); err != nil {
		t.Fatalf("the old name is not free: %v", err)
	}
	desc := "Tests"
	if _, err := e.svc.Change(ctx, g, CategoryPatch{Description: &desc}, Write{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.svc.Category(ctx, g.String()); c.Name != "98" || c.Description != "Tests" {
		t.Fatalf("description changed: %+v", c)
	}
	before = e.last()
	if w, err := e.svc.Change(ctx, g, CategoryPatch{Description: &desc}, Write{}); err != nil || e.last() != before || w.GUID != g.String() {
		t.Fatalf("an unchanged change wrote or failed: %v", err)
	}
	if err := rename(g, " 98 "); err != nil || e.last() != before {
		t.Fatalf("rename to the same name: %v", err)
	}
	if err := rename(uuid.New(), "96"); !errors.Is(err, category.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if err := rename(g, "\x00"); !errors.As(err, new(*category.ErrInvalid)) {
		t.Fatalf("bad name: %v", err)
	}

	e.clock.Set(t0.Add(2 * time.Hour))
	if _, err := e.svc.Delete(ctx, g, Write{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.svc.Category(ctx, g.String()); !c.IsDeleted || !c.DeletedAt.Equal(t0.Add(2*time.Hour)) || c.Name != "98" {
		t.Fatalf("deleted: %+v", c)
	}
	if got := names(e.svc.List(ctx)); len(got) != 2 || got[0] != "98" || got[1] != "99" {
		t.Fatalf("deleted category not listed: %v", got)
	}
	before = e.last()
	if _, err := e.svc.Delete(ctx, g, Write{}); err != nil || e.last() != before {
		t.Fatalf("delete again: %v", err)
	}
	if err := rename(g, "95"); !errors.Is(err, category.ErrDeleted) {
		t.Fatalf("change a deleted category: %v", err)
	}
	if _, err := e.svc.Change(ctx, g, CategoryPatch{Description: &desc}, Write{}); !errors.Is(err, category.ErrDeleted) {
		t.Fatalf("change a deleted category's description to what it is: %v", err)
	}
	if e.events(category.NameStream("95")) != 0 {
		t.Fatal("a refused change claimed its name")
	}
	if _, err := e.svc.Delete(ctx, uuid.New(), Write{}); !errors.Is(err, category.ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	e.define("98", "the name of a deleted category is free")
}

func TestCategoryIdempotency(t *testing.T) {
	e := newCatEnv(t)
	ctx := context.Background()
	w := Write{IdempotencyKey: "cat-1"}
	first, err := e.svc.Define(ctx, "60", "Gifts", w)
	if err != nil {
		t.Fatal(err)
	}
	before := e.last()
	e.clock.Set(t0.Add(time.Minute)) // a retry comes later
	again, err := e.svc.Define(ctx, "60", "Gifts", w)
	if err != nil || again.GUID != first.GUID || e.last() != before {
		t.Fatalf("retry: %+v, %v (wrote %v)", again, err, e.last() != before)
	}
	if _, err := e.svc.Define(ctx, "60", "Presents", w); !errors.Is(err, command.ErrIdempotencyConflict) {
		t.Fatalf("key reused with another body: %v", err)
	}
	// The refused reuse must not have freed the name of the category the key made.
	if _, err := e.svc.Define(ctx, "60", "", Write{}); !errors.Is(err, category.ErrNameTaken) {
		t.Fatalf("60 after the refused reuse: %v", err)
	}
	if _, err := e.svc.Define(ctx, "61", "", Write{IdempotencyKey: "cat-2"}); err != nil {
		t.Fatal(err)
	}

	g := uuid.MustParse(first.GUID)
	name := "62"
	kw := Write{IdempotencyKey: "rename-1"}
	if _, err := e.svc.Change(ctx, g, CategoryPatch{Name: &name}, kw); err != nil {
		t.Fatal(err)
	}
	before = e.last()
	if _, err := e.svc.Change(ctx, g, CategoryPatch{Name: &name}, kw); err != nil || e.last() != before {
		t.Fatalf("rename retried: %v", err)
	}
	if _, err := e.svc.Delete(ctx, g, Write{IdempotencyKey: "del-1"}); err != nil {
		t.Fatal(err)
	}
	before = e.last()
	if _, err := e.svc.Delete(ctx, g, Write{IdempotencyKey: "del-1"}); err != nil || e.last() != before {
		t.Fatalf("delete retried: %v", err)
	}
}

// TestCategoryNameOfDeletedIsTakenOver: when the release after a delete did not happen (a crash between the
// two), the deleted category's claim does not block the name for ever.
func TestCategoryNameOfDeletedIsTakenOver(t *testing.T) {
	e := newCatEnv(t)
	ctx := context.Background()
	g := e.define("70", "")
	// Delete without the release that Categories.Delete does after it.
	if _, err := command.Handle(ctx, e.store, category.Stream(g), category.Decider, category.Events, any(category.Delete{At: t0}), command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	if e.events(category.NameStream("70")) != 1 {
		t.Fatal("the claim is not left over")
	}
	if _, err := e.svc.Define(ctx, "70", "again", Write{}); err != nil {
		t.Fatalf("the name of a deleted category: %v", err)
	}
	if _, err := e.svc.Define(ctx, "70", "thrice", Write{}); !errors.Is(err, category.ErrNameTaken) {
		t.Fatalf("a live category's name is taken over: %v", err)
	}
}

func TestCategoriesBound(t *testing.T) {
	if testing.Short() {
		t.Skip("writes MaxCategories categories")
	}
	e := newCatEnv(t)
	ctx := context.Background()
	var last eventstore.Position
	for i := range MaxCategories {
		g := uuid.New()
		res, err := command.Handle(ctx, e.store, category.Stream(g), category.Decider, category.Events,
			any(category.Define{GUID: g, Name: "c" + uuid.NewString()[:8] + string(rune('a'+i%26)), At: t0}), command.Envelope{})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	if err := e.svc.wait(ctx, last); err != nil {
		t.Fatal(err)
	}
	before := e.last()
	if _, err := e.svc.Define(ctx, "one more", "", Write{}); !errors.Is(err, ErrTooManyCategories) || e.last() != before {
		t.Fatalf("category %d: %v", MaxCategories+1, err)
	}
}

func TestNewCategoriesNeedsDeps(t *testing.T) {
	if _, err := NewCategories(CategoryDeps{}); err == nil {
		t.Fatal("no store, no read model: accepted")
	}
}
