package audit

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kazna-ledger/kazna/eventstore"
)

// doctored is a store whose reads an attacker has changed: edit rewrites each event ReadAll returns (drop
// it by returning false), and tail replaces what ReadStream returns.
type doctored struct {
	LogReader
	edit func(e *eventstore.RecordedEvent) bool
	tail func(stream string, evs []eventstore.RecordedEvent) []eventstore.RecordedEvent
}

func (d doctored) ReadAll(ctx context.Context, dir eventstore.Direction, from eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	evs, err := d.LogReader.ReadAll(ctx, dir, from, count)
	if err != nil || d.edit == nil {
		return evs, err
	}
	out := evs[:0]
	for _, e := range evs {
		if d.edit(&e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 && len(evs) > 0 {
		// Keep paging: the caller reads on from the last position it was given.
		return d.ReadAll(ctx, dir, evs[len(evs)-1].Position, count)
	}
	return out, nil
}

func (d doctored) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	evs, err := d.LogReader.ReadStream(ctx, stream, dir, from, count)
	if err != nil || d.tail == nil {
		return evs, err
	}
	return d.tail(stream, evs), nil
}

func mustFinding(t *testing.T, err error) *Finding {
	t.Helper()
	var f *Finding
	if !errors.As(err, &f) {
		t.Fatalf("want a *Finding, got %v", err)
	}
	return f
}

func TestVerifyCleanLog(t *testing.T) {
	l := newLedger(t)
	var progressed int
	rep, err := Verify(context.Background(), l.store, VerifyOptions{DensePositions: true, StreamTails: true, PageSize: 3,
		Progress: func(VerifyProgress) { progressed++ }})
	if err != nil {
		t.Fatal(err)
	}
	// platform, two banks, two accounts, one payment.
	if rep.Events != l.totalEvents || rep.Streams != 6 || rep.Last != l.posT2 || progressed == 0 {
		t.Fatalf("report %+v (progress calls %d), want %d events in 6 streams up to %v", rep, progressed, l.totalEvents, l.posT2)
	}
	// KurrentDB-like positions (only increasing) pass as well.
	if _, err := Verify(context.Background(), l.store, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsATamperedEvent(t *testing.T) {
	l := newLedger(t)
	target := "account-" + l.acctA
	store := doctored{LogReader: l.store, edit: func(e *eventstore.RecordedEvent) bool {
		if e.Stream == target && e.Type == "AccountCredited" {
			e.Data = []byte(strings.Replace(string(e.Data), "10000", "90000", 1))
		}
		return true
	}}
	f := mustFinding(t, func() error {
		_, err := Verify(context.Background(), store, VerifyOptions{DensePositions: true})
		return err
	}())
	if f.Stream != target || f.Revision != 2 || f.Position != l.posT1 || f.Type != "AccountCredited" || !strings.Contains(f.Reason, "changed") {
		t.Fatalf("finding %+v", f)
	}
	for _, want := range []string{target, "revision 2", "log position " + l.posT1.String(), "AccountCredited"} {
		if !strings.Contains(f.Error(), want) {
			t.Errorf("%q does not name %q", f.Error(), want)
		}
	}
	// Changing the metadata (who or when) breaks the chain too.
	store.edit = func(e *eventstore.RecordedEvent) bool {
		if e.Position == l.posT1 {
			e.Metadata.Actor = "someone else"
		}
		return true
	}
	if f := mustFinding(t, func() error {
		_, err := Verify(context.Background(), store, VerifyOptions{DensePositions: true})
		return err
	}()); f.Position != l.posT1 {
		t.Fatalf("changed actor: %+v", f)
	}
}

func TestVerifyFindsADeletedEvent(t *testing.T) {
	l := newLedger(t)
	drop := func(e *eventstore.RecordedEvent) bool { return e.Position != l.posT1 }
	// On the embedded store's dense positions, the gap itself is found: at the event after it.
	f := mustFinding(t, func() error {
		_, err := Verify(context.Background(), doctored{LogReader: l.store, edit: drop}, VerifyOptions{DensePositions: true})
		return err
	}())
	if f.Position.Commit != l.posT1.Commit+1 || !strings.Contains(f.Reason, "1 event(s) missing") {
		t.Fatalf("gap: %+v", f)
	}
	// With positions closed up behind it (or on KurrentDB), the stream's chain finds it: the next event of
	// the stream comes with a revision too far.
	shift := func(e *eventstore.RecordedEvent) bool {
		if e.Position == l.posT1 {
			return false
		}
		if l.posT1.Less(e.Position) {
			e.Position.Commit--
			e.Position.Prepare--
		}
		return true
	}
	f = mustFinding(t, func() error {
		_, err := Verify(context.Background(), doctored{LogReader: l.store, edit: shift}, VerifyOptions{DensePositions: true})
		return err
	}())
	if f.Stream != "account-"+l.acctA || f.Revision != 3 || !strings.Contains(f.Reason, "revision 2 is missing") {
		t.Fatalf("closed-up deletion: %+v", f)
	}
	// A stream whose first event is gone, on a store of sparse positions (KurrentDB).
	first := func(e *eventstore.RecordedEvent) bool { return !(e.Stream == "account-"+l.acctB && e.Revision == 0) }
	f = mustFinding(t, func() error {
		_, err := Verify(context.Background(), doctored{LogReader: l.store, edit: first}, VerifyOptions{})
		return err
	}())
	if f.Stream != "account-"+l.acctB || f.Revision != 1 || !strings.Contains(f.Reason, "revisions 0 to 0 are missing") {
		t.Fatalf("first event deleted: %+v", f)
	}
	// An event whose prev_hash was rewritten to hide the deletion still fails on its own hash.
	var lastA eventstore.Hash
	relink := func(e *eventstore.RecordedEvent) bool {
		if !shift(e) {
			return false
		}
		if e.Stream == "account-"+l.acctA {
			if e.Revision > 2 {
				e.Revision--
				e.PrevHash = lastA
			}
			lastA = e.Hash
		}
		return true
	}
	f = mustFinding(t, func() error {
		_, err := Verify(context.Background(), doctored{LogReader: l.store, edit: relink}, VerifyOptions{DensePositions: true})
		return err
	}())
	if f.Stream != "account-"+l.acctA || f.Revision != 2 || !strings.Contains(f.Reason, "changed") {
		t.Fatalf("relinked deletion: %+v", f)
	}
}

func TestVerifyFindsDisorderAndBadIndexes(t *testing.T) {
	l := newLedger(t)
	// Positions that step back (a store that is not dense) are found.
	back := func(e *eventstore.RecordedEvent) bool {
		if e.Position == l.posT2 {
			e.Position = eventstore.Position{Commit: 1, Prepare: 1}
		}
		return true
	}
	if f := mustFinding(t, func() error {
		_, err := Verify(context.Background(), doctored{LogReader: l.store, edit: back}, VerifyOptions{})
		return err
	}()); !strings.Contains(f.Reason, "out of order") {
		t.Fatalf("step back: %+v", f)
	}
	// A stream index that ends before the log does.
	short := func(stream string, evs []eventstore.RecordedEvent) []eventstore.RecordedEvent {
		if stream == "account-"+l.acctB && len(evs) == 1 && evs[0].Revision > 0 {
			return []eventstore.RecordedEvent{}
		}
		return evs
	}
	f := mustFinding(t, func() error {
		_, err := Verify(context.Background(), doctored{LogReader: l.store, tail: short}, VerifyOptions{StreamTails: true})
		return err
	}())
	if f.Stream != "account-"+l.acctB || !strings.Contains(f.Reason, "stream index ends at nothing") {
		t.Fatalf("short index: %+v", f)
	}
	// Without StreamTails the index is not read.
	if _, err := Verify(context.Background(), doctored{LogReader: l.store, tail: short}, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// failing is a store whose log cannot be read past a position.
type failing struct {
	LogReader
	after uint64
}

func (f failing) ReadAll(ctx context.Context, dir eventstore.Direction, from eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	// Like the embedded store, a page that reaches the bad record fails as a whole.
	if from.Commit+uint64(count) > f.after {
		return nil, errors.New("bolt: corrupt record: the log jumps")
	}
	return f.LogReader.ReadAll(ctx, dir, from, count)
}

func TestVerifyReportsAnUnreadableLog(t *testing.T) {
	l := newLedger(t)
	f := mustFinding(t, func() error {
		_, err := Verify(context.Background(), failing{LogReader: l.store, after: 4}, VerifyOptions{DensePositions: true, PageSize: 3})
		return err
	}())
	if f.HasEvent || f.Position.Commit != 5 || !strings.Contains(f.Error(), "cannot be read after position 4") {
		t.Fatalf("unreadable: %+v %s", f, f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, l.store, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
