package projections_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/category"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// categoriesOn is a categories read model following store, and a function that waits until it shows pos.
func categoriesOn(t *testing.T, store *bolt.Store) (*projections.Categories, func(eventstore.Position)) {
	t.Helper()
	m := projections.NewCategories()
	r := newRunner(t, store, projections.Options{}, m)
	start(t, r)
	return m, func(pos eventstore.Position) {
		t.Helper()
		if err := r.WaitFor(testContext(t), pos); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCategoriesReadModel(t *testing.T) {
	store := openBolt(t)
	m, waitFor := categoriesOn(t, store)
	var last eventstore.Position
	h := func(g uuid.UUID, cmd any) {
		t.Helper()
		res, err := command.Handle(testContext(t), store, category.Stream(g), category.Decider, category.Events, cmd, command.Envelope{})
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		if len(res.Events) > 0 {
			last = res.Position
		}
	}
	ids := guids(4)
	for i, name := range []string{"52", "01", "10", "31"} {
		h(ids[i], category.Define{GUID: ids[i], Name: name, Description: "meaning " + name, At: dirT0.Add(time.Duration(i) * time.Minute)})
	}
	h(ids[2], category.Change{Name: "11", Description: "changed", At: dirT0.Add(time.Hour)})
	h(ids[3], category.Delete{At: dirT0.Add(2 * time.Hour)})
	// Another aggregate's events pass the runner's filter only if their type says Category; none does.
	b := uuid.New()
	res, err := command.Handle(testContext(t), store, branch.Stream(b), branch.Decider, branch.Events,
		any(branch.Create{GUID: b, CounterpartyGUID: uuid.New(), Name: "Kyiv", At: dirT0}), command.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(res.Position)
	waitFor(last)

	var names []string
	for _, c := range m.List() {
		names = append(names, c.Name)
	}
	if want := []string{"01", "11", "31", "52"}; !reflect.DeepEqual(names, want) || m.Len() != 4 {
		t.Fatalf("list by name: %v (len %d), want %v", names, m.Len(), want)
	}
	c, ok := m.Get(strings.ToUpper(ids[2].String()))
	if !ok || c.Name != "11" || c.Description != "changed" || c.IsDeleted || !c.DeletedAt.IsZero() ||
		!c.CreatedAt.Equal(dirT0.Add(2*time.Minute)) || !c.UpdatedAt.Equal(dirT0.Add(time.Hour)) || c.GUID != ids[2].String() {
		t.Fatalf("changed category: %+v, %v", c, ok)
	}
	c, ok = m.Get(ids[3].String())
	if !ok || !c.IsDeleted || !c.DeletedAt.Equal(dirT0.Add(2*time.Hour)) || c.Name != "31" {
		t.Fatalf("deleted category is kept, marked: %+v, %v", c, ok)
	}
	if name, ok := m.CategoryName(ids[2].String()); !ok || name != "11" {
		t.Fatalf("CategoryName of a live category: %q, %v", name, ok)
	}
	if name, ok := m.CategoryName(ids[3].String()); ok || name != "" {
		t.Fatalf("CategoryName of a deleted category: %q, %v", name, ok)
	}
	if _, ok := m.CategoryName(uuid.NewString()); ok {
		t.Fatal("CategoryName of an unknown category")
	}
	if _, ok := m.Get(uuid.NewString()); ok {
		t.Fatal("an unknown GUID was found")
	}
	if _, ok := m.Get(b.String()); ok {
		t.Fatal("a branch was taken for a category")
	}

	// Two categories may share a name once one is deleted (the app layer frees the claim): GUID breaks the tie.
	twin := uuid.New()
	h(twin, category.Define{GUID: twin, Name: "31", At: dirT0.Add(3 * time.Hour)})
	waitFor(last)
	list := m.List()
	if len(list) != 5 || list[2].Name != "31" || list[3].Name != "31" || list[2].GUID > list[3].GUID {
		t.Fatalf("tie on name not ordered by GUID: %+v", list)
	}
	list[0].Name = "scribbled"
	if c, _ := m.Get(list[0].GUID); c.Name == "scribbled" {
		t.Fatal("List hands out the read model's own records")
	}

	// A fresh read model replaying the log agrees with the live one.
	fresh, syncFresh := categoriesOn(t, store)
	syncFresh(last)
	if a, b := m.List(), fresh.List(); !reflect.DeepEqual(a, b) {
		t.Fatalf("rebuild differs:\n live  %+v\n fresh %+v", a, b)
	}
}
