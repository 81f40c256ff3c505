package bolt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

func openTemp(t testing.TB) (*bolt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	eventstore.RunConformance(t, func(t *testing.T) eventstore.Store {
		s, _ := openTemp(t)
		return s
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func event(typ string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     typ,
		Data:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
		Metadata: eventstore.Metadata{Actor: "test", RequestID: fmt.Sprint(n)},
	}
}

func events(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(typ, i)
	}
	return out
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(ctxT(t), stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s expecting %v: %v", len(evs), stream, expected, err)
	}
	return r
}

func readAllForwards(t testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for from := eventstore.StartPosition; ; {
		page, err := s.ReadAll(ctxT(t), eventstore.Forwards, from, eventstore.MaxReadCount)
		if err != nil {
			t.Fatalf("read $all from %v: %v", from, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		from = page[len(page)-1].Position
	}
}

// checkLog checks what every store must hold: $all at positions 1, 2, 3…, and every stream contiguous from
// revision 0 with an unbroken hash chain, its events being exactly those of $all in the same order.
func checkLog(t testing.TB, s *bolt.Store) []eventstore.RecordedEvent {
	t.Helper()
	all := readAllForwards(t, s)
	byStream := map[string][]eventstore.RecordedEvent{}
	for i, e := range all {
		if want := uint64(i + 1); e.Position.Commit != want || e.Position.Prepare != want {
			t.Fatalf("$all event %d at position %v, want %d", i, e.Position, want)
		}
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	if got, want := s.LastPosition().Commit, uint64(len(all)); got != want {
		t.Fatalf("LastPosition %d, $all holds %d events", got, want)
	}
	for stream, want := range byStream {
		var got []eventstore.RecordedEvent
		for from := uint64(0); ; {
			page, err := s.ReadStream(ctxT(t), stream, eventstore.Forwards, from, 1000)
			if err != nil {
				t.Fatalf("read %s: %v", stream, err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			from = page[len(page)-1].Revision + 1
		}
		if len(got) != len(want) {
			t.Fatalf("stream %s has %d events, $all has %d of it", stream, len(got), len(want))
		}
		for i := range got {
			if got[i].Revision != uint64(i) || got[i].ID != want[i].ID || got[i].Position != want[i].Position {
				t.Fatalf("stream %s index %d: revision %d id %s at %v; $all has id %s at %v",
					stream, i, got[i].Revision, got[i].ID, got[i].Position, want[i].ID, want[i].Position)
			}
		}
		if err := eventstore.VerifyChain(stream, got); err != nil {
			t.Fatalf("chain: %v", err)
		}
	}
	if err := s.Verify(ctxT(t)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return all
}

func TestReopenRestoresState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "account-1", eventstore.NoStream{}, events("Opened", 3)...)
	mustAppend(t, s, "account-2", eventstore.NoStream{}, events("Opened", 1)...)
	r := mustAppend(t, s, "account-1", eventstore.Exact(2), events("Moved", 2)...)
	before := checkLog(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = bolt.Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if s.LastPosition() != r.Position {
		t.Fatalf("reopened at %v, the last append was at %v", s.LastPosition(), r.Position)
	}
	after := checkLog(t, s)
	if len(after) != len(before) {
		t.Fatalf("reopened store holds %d events, want %d", len(after), len(before))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Hash != before[i].Hash || !bytes.Equal(after[i].Data, before[i].Data) {
			t.Fatalf("event %d changed across the reopen", i)
		}
	}
	// Revisions, hashes and positions carry on where they were.
	if _, err := s.Append(ctxT(t), "account-1", eventstore.Exact(3), event("Late", 0)); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("stale expected revision after reopen: want a conflict, got %v", err)
	}
	r2 := mustAppend(t, s, "account-1", eventstore.Exact(4), event("Moved", 9))
	if r2.NextExpectedRevision != 5 || r2.Position.Commit != r.Position.Commit+1 {
		t.Fatalf("append after reopen: %+v, want revision 5 at %d", r2, r.Position.Commit+1)
	}
	mustAppend(t, s, "account-3", eventstore.NoStream{}, event("Opened", 0))
	checkLog(t, s)
	// A retry of an append from before the reopen is still recognised.
	retry := eventstore.EventData{ID: before[3].ID, Type: before[3].Type, Data: before[3].Data, Metadata: before[3].Metadata}
	if r, err := s.Append(ctxT(t), "account-2", eventstore.NoStream{}, retry); err != nil || r.Position != before[3].Position {
		t.Fatalf("retry after reopen: %+v, %v; want the original position %v", r, err, before[3].Position)
	}
}

// TestReadsAcrossAppends compares every read against a model of the log, with appends of different sizes
// interleaved over several streams, so that reads cross from one append's chunk and index entry to the next.
func TestReadsAcrossAppends(t *testing.T) {
	s, _ := openTemp(t)
	ctx := ctxT(t)
	rng := rand.New(rand.NewPCG(1, 2))
	streams := []string{"s-a", "s-b", "s-c"}
	model := map[string][]uuid.UUID{}
	var all []uuid.UUID
	for range 60 {
		stream := streams[rng.IntN(len(streams))]
		evs := events("E", 1+rng.IntN(5))
		var expected eventstore.ExpectedRevision = eventstore.NoStream{}
		if n := len(model[stream]); n > 0 {
			expected = eventstore.Exact(n - 1)
		}
		mustAppend(t, s, stream, expected, evs...)
		for _, e := range evs {
			model[stream] = append(model[stream], e.ID)
			all = append(all, e.ID)
		}
	}
	for _, stream := range streams {
		ids := model[stream]
		last := uint64(len(ids) - 1)
		for from := uint64(0); from <= last+2; from++ {
			for _, count := range []int{1, 2, 3, 7, 1000} {
				for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
					got, err := s.ReadStream(ctx, stream, dir, from, count)
					if err != nil {
						t.Fatal(err)
					}
					var want []uuid.UUID
					if dir == eventstore.Forwards {
						for r := from; r <= last && len(want) < count; r++ {
							want = append(want, ids[r])
						}
					} else {
						for r := int64(min(from, last)); r >= 0 && len(want) < count; r-- {
							want = append(want, ids[r])
						}
					}
					if len(got) != len(want) {
						t.Fatalf("%s %v from %d count %d: %d events, want %d", stream, dir, from, count, len(got), len(want))
					}
					for i := range got {
						if got[i].ID != want[i] {
							t.Fatalf("%s %v from %d count %d: event %d is %s, want %s", stream, dir, from, count, i, got[i].ID, want[i])
						}
					}
				}
			}
		}
	}
	n := uint64(len(all))
	for from := uint64(0); from <= n+1; from++ {
		for _, count := range []int{1, 3, 10, 1000} {
			for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
				got, err := s.ReadAll(ctx, dir, eventstore.Position{Commit: from, Prepare: from}, count)
				if err != nil {
					t.Fatal(err)
				}
				var want []uint64
				if dir == eventstore.Forwards {
					for p := from + 1; p <= n && len(want) < count; p++ {
						want = append(want, p)
					}
				} else {
					for p := min(from-1, n); from > 0 && p >= 1 && len(want) < count; p-- {
						want = append(want, p)
					}
				}
				if len(got) != len(want) {
					t.Fatalf("$all %v from %d count %d: %d events, want %d", dir, from, count, len(got), len(want))
				}
				for i := range got {
					if got[i].Position.Commit != want[i] || got[i].ID != all[want[i]-1] {
						t.Fatalf("$all %v from %d: event %d at %v id %s, want position %d", dir, from, i, got[i].Position, got[i].ID, want[i])
					}
				}
			}
		}
	}
	back, err := s.ReadAll(ctx, eventstore.Backwards, eventstore.EndPosition, 2)
	if err != nil || len(back) != 2 || back[0].Position.Commit != n {
		t.Fatalf("backwards from the end: %d events, %v", len(back), err)
	}
	checkLog(t, s)
}

func TestIdempotencyAtTheTail(t *testing.T) {
	s, _ := openTemp(t)
	ctx := ctxT(t)
	first := events("A", 2)
	r1 := mustAppend(t, s, "tail", eventstore.Any{}, first...)
	// The same events again: the original answer, nothing written.
	if r, err := s.Append(ctx, "tail", eventstore.StreamExists{}, first...); err != nil || r != r1 {
		t.Fatalf("retry: %+v %v, want %+v", r, err, r1)
	}
	// The last event again followed by a new one: it overlaps the tail but is not a retry.
	if _, err := s.Append(ctx, "tail", eventstore.Any{}, first[1], event("B", 0)); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("a partial retry at the tail should conflict, got %v", err)
	}
	// Exact retries of an earlier append, once later events were written, still get the original answer.
	r2 := mustAppend(t, s, "tail", eventstore.Exact(1), event("C", 0))
	if r, err := s.Append(ctx, "tail", eventstore.NoStream{}, first...); err != nil || r != r1 {
		t.Fatalf("retry of the first append after another: %+v %v, want %+v", r, err, r1)
	}
	if r, err := s.Append(ctx, "tail", eventstore.Exact(0), first[1]); err != nil || r.NextExpectedRevision != 1 || r.Position != r1.Position {
		t.Fatalf("retry of a suffix at its exact place: %+v %v", r, err)
	}
	if got := readAllForwards(t, s); len(got) != 3 || s.LastPosition() != r2.Position {
		t.Fatalf("retries wrote events: $all has %d", len(got))
	}
}

func TestCloseEndsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "x", eventstore.NoStream{}, event("A", 0))
	sub, err := s.SubscribeAll(ctxT(t), eventstore.StartPosition, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the event, then CaughtUp
		if _, err := sub.Next(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := sub.Next(context.Background())
		waiting <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("a waiting Next after Close: want ErrClosed, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting Next did not return after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Append(ctxT(t), "x", eventstore.Any{}, event("B", 0)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := s.ReadAll(ctxT(t), eventstore.Forwards, eventstore.StartPosition, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("ReadAll after Close: %v", err)
	}
	if _, err := s.ReadStream(ctxT(t), "x", eventstore.Forwards, 0, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("ReadStream after Close: %v", err)
	}
	if _, err := s.SubscribeAll(ctxT(t), eventstore.StartPosition, eventstore.Filter{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("SubscribeAll after Close: %v", err)
	}
}

// TestCloseWithAppendsInFlight closes the store under load: every append either was acknowledged and is
// there after a reopen, or returned an error.
func TestCloseWithAppendsInFlight(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 16
	var mu sync.Mutex
	acked := map[uuid.UUID]string{}
	failed := 0
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("w-%d", w)
			for i := 0; ; i++ {
				e := event("Tick", i)
				_, err := s.Append(context.Background(), stream, eventstore.Any{}, e)
				mu.Lock()
				if err == nil {
					acked[e.ID] = stream
				} else {
					failed++
				}
				mu.Unlock()
				if err != nil {
					if !errors.Is(err, eventstore.ErrClosed) {
						t.Errorf("append during Close: %v", err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if failed != writers {
		t.Fatalf("%d appends failed, want one per writer", failed)
	}
	s, err = bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := checkLog(t, s)
	present := map[uuid.UUID]string{}
	for _, e := range all {
		present[e.ID] = e.Stream
	}
	for id, stream := range acked {
		if present[id] != stream {
			t.Fatalf("acknowledged event %s of %s is missing after reopen", id, stream)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged before Close")
	}
	t.Logf("%d appends acknowledged, %d present", len(acked), len(all))
}

func TestFilteredSubscriptionCheckpoints(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"), bolt.CheckpointInterval(10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 25 {
		mustAppend(t, s, "noise", eventstore.Any{}, event("Noise", i))
	}
	mustAppend(t, s, "wanted", eventstore.Any{}, event("Wanted", 0))
	mustAppend(t, s, "noise", eventstore.Any{}, event("Noise", 99))
	sub, err := s.SubscribeAll(ctxT(t), eventstore.StartPosition, eventstore.Filter{StreamPrefixes: []string{"want"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []string
	for {
		m, err := sub.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case eventstore.Checkpoint:
			got = append(got, fmt.Sprintf("checkpoint@%v", m.Position))
		case eventstore.EventAppeared:
			got = append(got, fmt.Sprintf("%s@%v", m.Event.Stream, m.Position))
		case eventstore.CaughtUp:
			got = append(got, fmt.Sprintf("caughtup@%v", m.Position))
		}
		if m.Kind == eventstore.CaughtUp {
			break
		}
	}
	// The scan that reaches the end of the log also reports where it stopped (27), interval or not.
	want := []string{"checkpoint@10", "checkpoint@20", "wanted@26", "checkpoint@27", "caughtup@27"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages %v, want %v", got, want)
	}
	// Live: one skipped event is reported at once, so that a reader waiting for its position (the last
	// write of a request that its filter does not select) is not kept waiting for the interval.
	mustAppend(t, s, "noise", eventstore.Any{}, event("Noise", 100))
	m, err := sub.Next(ctxT(t))
	if err != nil || m.Kind != eventstore.Checkpoint || m.Position.Commit != 28 {
		t.Fatalf("live checkpoint: %+v %v, want a checkpoint at 28", m, err)
	}
	// And a run of them is reported by its end.
	for i := range 10 {
		mustAppend(t, s, "noise", eventstore.Any{}, event("Noise", 101+i))
	}
	for {
		m, err := sub.Next(ctxT(t))
		if err != nil || m.Kind != eventstore.Checkpoint {
			t.Fatalf("live checkpoints: %+v %v", m, err)
		}
		if m.Position.Commit == 38 {
			break
		}
	}
}

// TestGroupCommit checks that concurrent appenders share commits: 64 writers make far fewer commits than
// appends, and every append is there.
func TestGroupCommit(t *testing.T) {
	s, _ := openTemp(t)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("group-%d", w)
			for i := range each {
				var expected eventstore.ExpectedRevision = eventstore.Exact(i - 1)
				if i == 0 {
					expected = eventstore.NoStream{}
				}
				if _, err := s.Append(ctxT(t), stream, expected, event("Grouped", i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("%d appends in %d commits", st.Appends, st.Commits)
	if st.Appends != writers*each || st.Events != writers*each {
		t.Fatalf("stats count %d appends and %d events, want %d", st.Appends, st.Events, writers*each)
	}
	if st.Commits*4 > st.Appends {
		t.Fatalf("%d appends took %d commits: appenders are not sharing commits", st.Appends, st.Commits)
	}
	checkLog(t, s)
}
