package category_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/category"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	id = uuid.MustParse("77777777-7777-4777-8777-777777777777")
)

func defined() category.CategoryDefined {
	return category.CategoryDefined{GUID: id.String(), Name: "01", Description: "Cash withdrawal at an ATM", At: t0}
}
func deleted() category.CategoryDeleted {
	return category.CategoryDeleted{GUID: id.String(), Name: "01", At: t1}
}

func fold(events ...category.Event) category.State {
	s := category.Decider.Initial
	for _, e := range events {
		s = category.Evolve(s, e)
	}
	return s
}

// check is given (past events) / when (command) / then (new events, or an error). An *ErrInvalid wanted
// matches any *ErrInvalid of the same field.
func check(t *testing.T, given []category.Event, when any, want []category.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := category.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *category.ErrInvalid
		if !errors.Is(err, wantErr) && !(errors.As(wantErr, &w) && errors.As(err, &g) && g.Field == w.Field) {
			t.Fatalf("when %#v: got %v, %v; want error %v", when, got, err, wantErr)
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

func TestDefine(t *testing.T) {
	check(t, nil, category.Define{GUID: id, Name: " 01 ", Description: " Cash withdrawal at an ATM\n", At: t0},
		[]category.Event{defined()}, nil)
	check(t, nil, category.Define{GUID: id, Name: "99", At: t0},
		[]category.Event{category.CategoryDefined{GUID: id.String(), Name: "99", At: t0}}, nil) // description is optional
	check(t, []category.Event{defined()}, category.Define{GUID: id, Name: "01", At: t0}, nil, category.ErrAlreadyExists)
	check(t, []category.Event{defined(), deleted()}, category.Define{GUID: id, Name: "01", At: t0}, nil, category.ErrAlreadyExists)
	check(t, nil, category.Define{Name: "01", At: t0}, nil, &category.ErrInvalid{Field: "guid"})
	for _, bad := range []string{"", "   ", strings.Repeat("1", category.MaxNameRunes+1), "0\x001", "0\n1", "\xff",
		"0\u00a01", "0\u200b1", "\u202e01"} {
		check(t, nil, category.Define{GUID: id, Name: bad, At: t0}, nil, &category.ErrInvalid{Field: "name"})
	}
	// Any printable code of up to 20 characters, in any script, with ASCII spaces inside.
	for _, good := range []string{"1", strings.Repeat("9", category.MaxNameRunes), "Кеш 01", strings.Repeat("ї", category.MaxNameRunes)} {
		if _, err := category.Decide(category.State{}, category.Define{GUID: id, Name: good, At: t0}); err != nil {
			t.Errorf("name %q: %v", good, err)
		}
	}
	for _, bad := range []string{strings.Repeat("d", category.MaxDescriptionRunes+1), "a\x07b", "\xff"} {
		check(t, nil, category.Define{GUID: id, Name: "01", Description: bad, At: t0}, nil, &category.ErrInvalid{Field: "description"})
	}
	long := strings.Repeat("ґ", category.MaxDescriptionRunes) // 500 runes, 1000 bytes
	if _, err := category.Decide(category.State{}, category.Define{GUID: id, Name: "01", Description: long, At: t0}); err != nil {
		t.Errorf("description of %d runes: %v", category.MaxDescriptionRunes, err)
	}
	if _, err := category.Decide(category.State{}, category.Define{GUID: id, Name: "01", Description: "line one\n\tline two", At: t0}); err != nil {
		t.Errorf("multiline description: %v", err)
	}
}

func TestChangeAndDelete(t *testing.T) {
	given := []category.Event{defined()}
	changed := category.CategoryChanged{GUID: id.String(), Name: "01a", Description: "ATM", At: t1}
	check(t, given, category.Change{Name: "01a", Description: "ATM", At: t1}, []category.Event{changed}, nil)
	check(t, given, category.Change{Name: "01", Description: "ATM", At: t1},
		[]category.Event{category.CategoryChanged{GUID: id.String(), Name: "01", Description: "ATM", At: t1}}, nil)
	check(t, given, category.Change{Name: " 01 ", Description: "Cash withdrawal at an ATM", At: t1}, nil, nil) // nothing to change
	check(t, given, category.Change{Name: "", Description: "x", At: t1}, nil, &category.ErrInvalid{Field: "name"})
	check(t, given, category.Change{Name: "01", Description: strings.Repeat("d", 501), At: t1}, nil, &category.ErrInvalid{Field: "description"})
	check(t, nil, category.Change{Name: "01", At: t1}, nil, category.ErrNotFound)
	check(t, append(given, deleted()), category.Change{Name: "02", At: t1}, nil, category.ErrDeleted)
	check(t, append(given, deleted()), category.Change{Name: "01", Description: "Cash withdrawal at an ATM", At: t1}, nil, category.ErrDeleted)

	check(t, given, category.Delete{At: t1}, []category.Event{deleted()}, nil)
	check(t, append(given, changed), category.Delete{At: t1},
		[]category.Event{category.CategoryDeleted{GUID: id.String(), Name: "01a", At: t1}}, nil) // the name it has now
	check(t, append(given, deleted()), category.Delete{At: t1.Add(time.Hour)}, nil, nil) // again: a no-op
	check(t, nil, category.Delete{At: t1}, nil, category.ErrNotFound)
	check(t, nil, 3, nil, category.ErrUnknownCommand)

	s := fold(defined(), changed, deleted())
	if !s.Exists || !s.Deleted || s.Name != "01a" || s.Description != "ATM" || !s.CreatedAt.Equal(t0) ||
		!s.UpdatedAt.Equal(t1) || !s.DeletedAt.Equal(t1) || s.GUID != id.String() {
		t.Fatalf("state %+v", s)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	all := []category.Event{defined(), category.CategoryChanged{GUID: "g", Name: "n", Description: "d", At: t1}, deleted()}
	if n := len(category.Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	for _, e := range all {
		typ, data, err := category.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := category.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
		matched := false
		for _, p := range category.EventTypePrefixes {
			matched = matched || strings.HasPrefix(typ, p)
		}
		if !matched {
			t.Errorf("%s is not selected by EventTypePrefixes %v", typ, category.EventTypePrefixes)
		}
	}
}

func TestStreams(t *testing.T) {
	if got := category.Stream(id); got != "category-"+id.String() {
		t.Errorf("Stream = %q", got)
	}
	if category.NameStream("Abc  01") != category.NameStream(" abc 01") {
		t.Error("names that differ in case and spacing have different reservation streams")
	}
	if category.NameStream("01") == category.NameStream("02") || !strings.HasPrefix(category.NameStream("01"), "category-name-") {
		t.Errorf("NameStream(01) = %q", category.NameStream("01"))
	}
}

// TestStandard: guide §13's eighteen codes, each a valid definition, with GUIDs that never change (a changed
// GUID would make every node seed the categories again under new streams).
func TestStandard(t *testing.T) {
	std := category.Standard()
	var codes []string
	guids := map[uuid.UUID]bool{}
	for _, d := range std {
		codes = append(codes, d.Name)
		g := category.StandardGUID(d.Name)
		if guids[g] || g.Version() != 5 {
			t.Errorf("%s: GUID %s repeated or not version 5", d.Name, g)
		}
		guids[g] = true
		evs, err := category.Decide(category.State{}, category.Define{GUID: g, Name: d.Name, Description: d.Description, At: t0})
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if e := evs[0].(category.CategoryDefined); e.Name != d.Name || e.Description != d.Description {
			t.Errorf("%s is not stored as given: %+v", d.Name, e)
		}
	}
	want := []string{"01", "02", "03", "04", "10", "11", "12", "13", "14", "20", "21", "30", "31", "32", "40", "50", "51", "52"}
	if !reflect.DeepEqual(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if std[0].Description != "Cash withdrawal at an ATM" || std[17].Description != "Refund of part of the amount" ||
		std[8].Description != `Payment via QR ("DirectPay")` {
		t.Errorf("descriptions: %q, %q, %q", std[0].Description, std[17].Description, std[8].Description)
	}
	if g := category.StandardGUID("01"); g != category.StandardGUID("01") || g.String() != pinned01 {
		t.Errorf("StandardGUID(01) = %s, pinned %s", g, pinned01)
	}
	std[0].Name = "changed"
	if category.Standard()[0].Name != "01" {
		t.Error("Standard returns its own slice")
	}
}

// pinned01 is StandardGUID("01"), worked out independently (Python: uuid5(uuid5(NAMESPACE_URL,
// "https://github.com/kazna-ledger/kazna/categories"), "01")).
const pinned01 = "08059243-977e-5f30-a15d-1c18d584c7c6"
