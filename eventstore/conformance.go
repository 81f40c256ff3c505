package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// RunConformance states the whole Store contract as tests and runs them against the store that open returns.
// open is called once per test and must return a store that is usable for it; it may be shared with other
// tests or hold earlier events (as a real KurrentDB does), so every test writes to streams of its own and reads
// the global log only after the position where it began.
func RunConformance(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"AppendToNewStream", testAppendToNewStream},
		{"ExpectedRevisionForms", testExpectedRevisionForms},
		{"AppendOfNoEventsChecksOnly", testAppendOfNoEvents},
		{"ReadStreamForwardsAndBackwards", testReadStream},
		{"ReadMissingStream", testReadMissingStream},
		{"EventRoundTrip", testEventRoundTrip},
		{"ReadAllOrderAndPaging", testReadAll},
		{"IdempotentRetry", testIdempotentRetry},
		{"PartialRetryConflicts", testPartialRetry},
		{"ConcurrentWritersOneStream", testConcurrentWriters},
		{"ConcurrentCreatorsOneStream", testConcurrentCreators},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeEventTypeFilter", testSubscribeEventTypeFilter},
		{"SubscribeFromCheckpointIsExclusive", testSubscribeFromCheckpoint},
		{"SubscribeStopsOnCancel", testSubscribeCancel},
		{"BadInputWritesNothing", testBadInput},
		{"HashChainDetectsTampering", testHashChain},
		{"LargestAppendsFit", testLargestAppends},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, open(t))
		})
	}
}

const conformanceTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), conformanceTimeout)
	t.Cleanup(cancel)
	return ctx
}

// uniqueStream names a stream no other test or earlier run has used.
func uniqueStream(kind string) string {
	return fmt.Sprintf("conf%s-%s", kind, strings.ReplaceAll(uuid.NewString(), "-", ""))
}

func newEvent(eventType string, fields map[string]any) EventData {
	data, err := json.Marshal(fields)
	if err != nil {
		panic(err) // test data only: maps of plain values always marshal
	}
	return EventData{ID: uuid.New(), Type: eventType, Data: data, Metadata: Metadata{Actor: "conformance", Time: time.Now().UTC().Truncate(time.Microsecond)}}
}

func numbered(n int, eventType string) []EventData {
	out := make([]EventData, n)
	for i := range out {
		out[i] = newEvent(eventType, map[string]any{"n": i})
	}
	return out
}

func mustAppend(t *testing.T, s Store, stream string, expected ExpectedRevision, events ...EventData) AppendResult {
	t.Helper()
	r, err := s.Append(testContext(t), stream, expected, events...)
	if err != nil {
		t.Fatalf("append %d events to %s expecting %v: %v", len(events), stream, expected, err)
	}
	return r
}

func readWhole(t *testing.T, s Store, stream string) []RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(testContext(t), stream, Forwards, 0, MaxReadCount)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return evs
}

func revisions(evs []RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

func equalRevisions(got []RecordedEvent, want ...uint64) bool {
	r := revisions(got)
	if len(r) != len(want) {
		return false
	}
	for i := range r {
		if r[i] != want[i] {
			return false
		}
	}
	return true
}

// tailPosition is the position of the last event of the global log, or StartPosition on an empty log.
func tailPosition(t *testing.T, s Store) Position {
	t.Helper()
	evs, err := s.ReadAll(testContext(t), Backwards, EndPosition, 1)
	if err != nil {
		t.Fatalf("read the tail of $all: %v", err)
	}
	if len(evs) == 0 {
		return StartPosition
	}
	return evs[0].Position
}

func testAppendToNewStream(t *testing.T, s Store) {
	stream := uniqueStream("new")
	evs := numbered(3, "Opened")
	r := mustAppend(t, s, stream, NoStream{}, evs...)
	if r.NextExpectedRevision != 2 {
		t.Fatalf("NextExpectedRevision = %d after 3 events on a new stream, want 2", r.NextExpectedRevision)
	}
	if r.Position == StartPosition {
		t.Fatalf("append returned the zero position")
	}
	got := readWhole(t, s, stream)
	if !equalRevisions(got, 0, 1, 2) {
		t.Fatalf("revisions %v, want [0 1 2]", revisions(got))
	}
	if got[2].Position != r.Position {
		t.Fatalf("last event at position %v, append said %v", got[2].Position, r.Position)
	}
	for i := 1; i < len(got); i++ {
		if !got[i-1].Position.Less(got[i].Position) {
			t.Fatalf("positions not increasing: %v then %v", got[i-1].Position, got[i].Position)
		}
	}
}

func testExpectedRevisionForms(t *testing.T, s Store) {
	existing := uniqueStream("forms")
	mustAppend(t, s, existing, NoStream{}, numbered(2, "Opened")...) // at revision 1
	cases := []struct {
		name     string
		stream   string
		expected ExpectedRevision
		ok       bool
	}{
		{"no_stream on a new stream", uniqueStream("forms"), NoStream{}, true},
		{"no_stream on an existing stream", existing, NoStream{}, false},
		{"stream_exists on a new stream", uniqueStream("forms"), StreamExists{}, false},
		{"stream_exists on an existing stream", existing, StreamExists{}, true},
		{"any on a new stream", uniqueStream("forms"), Any{}, true},
		{"exact revision behind", existing, Exact(0), false},
		{"exact revision ahead", existing, Exact(7), false},
		{"exact revision on a new stream", uniqueStream("forms"), Exact(0), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := s.ReadStream(testContext(t), c.stream, Forwards, 0, MaxReadCount)
			_, err := s.Append(testContext(t), c.stream, c.expected, newEvent("Tried", map[string]any{"case": c.name}))
			after, _ := s.ReadStream(testContext(t), c.stream, Forwards, 0, MaxReadCount)
			if c.ok {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if len(after) != len(before)+1 {
					t.Fatalf("stream grew from %d to %d events, want one more", len(before), len(after))
				}
				return
			}
			var conflict *RevisionConflict
			if !errors.As(err, &conflict) || !errors.Is(err, ErrWrongExpectedRevision) {
				t.Fatalf("want a *RevisionConflict matching ErrWrongExpectedRevision, got %v", err)
			}
			if conflict.Stream != c.stream {
				t.Fatalf("conflict names stream %q, want %q", conflict.Stream, c.stream)
			}
			if len(after) != len(before) {
				t.Fatalf("a refused append changed the stream from %d to %d events", len(before), len(after))
			}
		})
	}
	// The exact current revision and Any both succeed, and the conflict reports where the stream really is.
	mustAppend(t, s, existing, Exact(2), newEvent("Next", nil))
	mustAppend(t, s, existing, Any{}, newEvent("Next", nil))
	_, err := s.Append(testContext(t), existing, Exact(1), newEvent("Late", nil))
	var conflict *RevisionConflict
	if !errors.As(err, &conflict) || !conflict.Actual.Exists || conflict.Actual.LastRevision != 4 {
		t.Fatalf("conflict should report the stream at revision 4, got %v", err)
	}
}

func testAppendOfNoEvents(t *testing.T, s Store) {
	stream := uniqueStream("empty")
	if _, err := s.Append(testContext(t), stream, NoStream{}); err != nil {
		t.Fatalf("an append of no events expecting no_stream on a new stream should succeed: %v", err)
	}
	if _, err := s.ReadStream(testContext(t), stream, Forwards, 0, 10); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("an append of no events must not create the stream; read gave %v", err)
	}
	mustAppend(t, s, stream, NoStream{}, numbered(2, "Opened")...)
	r, err := s.Append(testContext(t), stream, Exact(1))
	if err != nil || r.NextExpectedRevision != 1 {
		t.Fatalf("empty append at the right revision: result %+v, err %v; want revision 1", r, err)
	}
	if _, err := s.Append(testContext(t), stream, Exact(0)); !errors.Is(err, ErrWrongExpectedRevision) {
		t.Fatalf("empty append at the wrong revision should conflict, got %v", err)
	}
	if got := readWhole(t, s, stream); len(got) != 2 {
		t.Fatalf("empty appends changed the stream to %d events", len(got))
	}
}

func testReadStream(t *testing.T, s Store) {
	stream := uniqueStream("read")
	mustAppend(t, s, stream, NoStream{}, numbered(10, "Counted")...)
	ctx := testContext(t)
	check := func(name string, dir Direction, from uint64, count int, want ...uint64) {
		t.Helper()
		got, err := s.ReadStream(ctx, stream, dir, from, count)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !equalRevisions(got, want...) {
			t.Fatalf("%s: revisions %v, want %v", name, revisions(got), want)
		}
	}
	check("forwards from start", Forwards, 0, 3, 0, 1, 2)
	check("forwards from 7 (inclusive)", Forwards, 7, 100, 7, 8, 9)
	check("forwards past the end", Forwards, 10, 5)
	check("backwards from the end", Backwards, StreamEnd, 3, 9, 8, 7)
	check("backwards from 2 (inclusive)", Backwards, 2, 100, 2, 1, 0)
	check("backwards from beyond the end", Backwards, 50, 2, 9, 8)
	for _, count := range []int{0, -1, MaxReadCount + 1} {
		if _, err := s.ReadStream(ctx, stream, Forwards, 0, count); !errors.Is(err, ErrInvalidRead) {
			t.Fatalf("count %d: want ErrInvalidRead, got %v", count, err)
		}
	}
	if _, err := s.ReadStream(ctx, stream, Direction(9), 0, 1); !errors.Is(err, ErrInvalidRead) {
		t.Fatalf("unknown direction: want ErrInvalidRead, got %v", err)
	}
}

func testReadMissingStream(t *testing.T, s Store) {
	for _, dir := range []Direction{Forwards, Backwards} {
		_, err := s.ReadStream(testContext(t), uniqueStream("missing"), dir, 0, 10)
		if !errors.Is(err, ErrStreamNotFound) {
			t.Fatalf("%v read of a missing stream: want ErrStreamNotFound, got %v", dir, err)
		}
	}
}

func testEventRoundTrip(t *testing.T, s Store) {
	stream := uniqueStream("trip")
	at := time.Date(2026, 11, 23, 10, 30, 0, 123456000, time.UTC)
	sent := EventData{
		ID:   uuid.New(),
		Type: "PaymentSettled",
		Data: json.RawMessage(`{"amount_minor":12345,"note":"Оплата ☕","nested":{"a":[1,2,3]}}`),
		Metadata: Metadata{Actor: "employee-7", Counterparty: "bank-1", CorrelationID: "corr-1",
			CausationID: "cause-1", RequestID: "req-1", Time: at},
	}
	noTime := newEvent("Stamped", map[string]any{"x": 1})
	noTime.Metadata.Time = time.Time{}
	before := time.Now().Add(-time.Second)
	mustAppend(t, s, stream, NoStream{}, sent, noTime)
	got := readWhole(t, s, stream)
	if len(got) != 2 {
		t.Fatalf("read %d events, want 2", len(got))
	}
	e := got[0]
	if e.ID != sent.ID || e.Type != sent.Type || e.Stream != stream || e.Revision != 0 {
		t.Fatalf("identity changed: got id=%s type=%s stream=%s rev=%d", e.ID, e.Type, e.Stream, e.Revision)
	}
	if !bytes.Equal(e.Data, sent.Data) {
		t.Fatalf("data changed:\n got %s\nwant %s", e.Data, sent.Data)
	}
	if !e.Metadata.Time.Equal(at) {
		t.Fatalf("metadata time %v, want %v", e.Metadata.Time, at)
	}
	e.Metadata.Time = at
	if e.Metadata != sent.Metadata {
		t.Fatalf("metadata changed:\n got %+v\nwant %+v", e.Metadata, sent.Metadata)
	}
	stamped := got[1].Metadata.Time
	if stamped.IsZero() || stamped.Before(before) || stamped.After(time.Now().Add(time.Second)) {
		t.Fatalf("a zero metadata time should be stamped with the store's clock, got %v", stamped)
	}
	if err := VerifyChain(stream, got); err != nil {
		t.Fatalf("hash chain of a fresh stream: %v", err)
	}
	if !got[0].PrevHash.IsZero() || got[1].PrevHash != got[0].Hash {
		t.Fatalf("hash chain links wrong: prev0=%s hash0=%s prev1=%s", got[0].PrevHash, got[0].Hash, got[1].PrevHash)
	}
}

func testReadAll(t *testing.T, s Store) {
	start := tailPosition(t, s)
	a, b := uniqueStream("alla"), uniqueStream("allb")
	var order []uuid.UUID
	for i := 0; i < 4; i++ {
		ea, eb := newEvent("A", map[string]any{"i": i}), newEvent("B", map[string]any{"i": i})
		mustAppend(t, s, a, Any{}, ea)
		mustAppend(t, s, b, Any{}, eb)
		order = append(order, ea.ID, eb.ID)
	}
	ours := func(evs []RecordedEvent) []RecordedEvent {
		var out []RecordedEvent
		for _, e := range evs {
			if e.Stream == a || e.Stream == b {
				out = append(out, e)
			}
		}
		return out
	}
	ctx := testContext(t)
	fwd, err := s.ReadAll(ctx, Forwards, start, MaxReadCount)
	if err != nil {
		t.Fatalf("read $all forwards: %v", err)
	}
	fwd = ours(fwd)
	if len(fwd) != len(order) {
		t.Fatalf("read %d of our events from $all, want %d", len(fwd), len(order))
	}
	for i, e := range fwd {
		if e.ID != order[i] {
			t.Fatalf("$all event %d is %s, want %s: the log is not in append order", i, e.ID, order[i])
		}
		if i > 0 && !fwd[i-1].Position.Less(e.Position) {
			t.Fatalf("$all positions not increasing at %d", i)
		}
	}
	// Paging forwards, two at a time, from the exclusive position of the last event seen.
	var paged []RecordedEvent
	for from := start; ; {
		page, err := s.ReadAll(ctx, Forwards, from, 2)
		if err != nil {
			t.Fatalf("page $all from %v: %v", from, err)
		}
		if len(page) == 0 {
			break
		}
		if page[0].Position == from {
			t.Fatalf("ReadAll forwards from %v returned the event at that position: from is exclusive", from)
		}
		paged = append(paged, page...)
		from = page[len(page)-1].Position
	}
	if paged = ours(paged); len(paged) != len(order) {
		t.Fatalf("paging found %d of our events, want %d", len(paged), len(order))
	}
	// Backwards from the end, and from a position (exclusive).
	back, err := s.ReadAll(ctx, Backwards, EndPosition, len(order))
	if err != nil {
		t.Fatalf("read $all backwards: %v", err)
	}
	if back = ours(back); len(back) == 0 || back[0].ID != order[len(order)-1] {
		t.Fatalf("backwards from the end should start with our last event")
	}
	mid := fwd[3].Position
	before, err := s.ReadAll(ctx, Backwards, mid, 3)
	if err != nil {
		t.Fatalf("read $all backwards from %v: %v", mid, err)
	}
	if len(before) != 3 || before[0].ID != order[2] || before[2].ID != order[0] {
		t.Fatalf("backwards from event 3's position should give events 2,1,0, got %d events", len(before))
	}
	if _, err := s.ReadAll(ctx, Forwards, start, 0); !errors.Is(err, ErrInvalidRead) {
		t.Fatalf("count 0: want ErrInvalidRead, got %v", err)
	}
}

func testIdempotentRetry(t *testing.T, s Store) {
	ctx := testContext(t)
	for _, tc := range []struct {
		name  string
		first ExpectedRevision
	}{{"no_stream", NoStream{}}, {"exact", Exact(0)}, {"any", Any{}}, {"stream_exists", StreamExists{}}} {
		t.Run(tc.name, func(t *testing.T) {
			stream := uniqueStream("idem")
			if tc.name != "no_stream" {
				mustAppend(t, s, stream, NoStream{}, newEvent("Opened", nil))
			}
			batch := numbered(3, "Moved")
			r1 := mustAppend(t, s, stream, tc.first, batch...)
			r2, err := s.Append(ctx, stream, tc.first, batch...) // the reply was lost; the writer retries
			if err != nil {
				t.Fatalf("retry of an acknowledged append failed: %v", err)
			}
			if r2 != r1 {
				t.Fatalf("retry answered %+v, the original append %+v", r2, r1)
			}
			got := readWhole(t, s, stream)
			want := 3
			if tc.name != "no_stream" {
				want = 4
			}
			if len(got) != want {
				t.Fatalf("retry wrote again: stream has %d events, want %d", len(got), want)
			}
		})
	}
}

func testPartialRetry(t *testing.T, s Store) {
	stream := uniqueStream("partial")
	batch := numbered(2, "Moved")
	mustAppend(t, s, stream, NoStream{}, batch...)
	changed := []EventData{batch[0], newEvent("Other", nil)}
	_, err := s.Append(testContext(t), stream, NoStream{}, changed...)
	if !errors.Is(err, ErrWrongExpectedRevision) {
		t.Fatalf("a retry that matches only some events must conflict, got %v", err)
	}
	if got := readWhole(t, s, stream); len(got) != 2 {
		t.Fatalf("a refused partial retry wrote events: stream has %d", len(got))
	}
}

func testConcurrentWriters(t *testing.T, s Store) {
	const writers, perWriter = 8, 15
	stream := uniqueStream("race")
	mustAppend(t, s, stream, NoStream{}, newEvent("Opened", nil))
	ctx := testContext(t)
	type win struct {
		rev uint64
		id  uuid.UUID
	}
	var mu sync.Mutex
	var wins []win
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for done := 0; done < perWriter; {
				last, err := s.ReadStream(ctx, stream, Backwards, StreamEnd, 1)
				if err != nil || len(last) != 1 {
					errs <- fmt.Errorf("writer %d read: %v", w, err)
					return
				}
				e := newEvent("Raced", map[string]any{"writer": w, "n": done})
				r, err := s.Append(ctx, stream, Exact(last[0].Revision), e)
				if errors.Is(err, ErrWrongExpectedRevision) {
					continue // another writer won this revision: reload and decide again
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d append: %v", w, err)
					return
				}
				if r.NextExpectedRevision != last[0].Revision+1 {
					errs <- fmt.Errorf("writer %d won revision %d, expected %d", w, r.NextExpectedRevision, last[0].Revision+1)
					return
				}
				mu.Lock()
				wins = append(wins, win{r.NextExpectedRevision, e.ID})
				mu.Unlock()
				done++
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readWhole(t, s, stream)
	if len(got) != 1+writers*perWriter {
		t.Fatalf("stream has %d events, want %d", len(got), 1+writers*perWriter)
	}
	byRev := map[uint64]uuid.UUID{}
	for _, w := range wins {
		if _, dup := byRev[w.rev]; dup {
			t.Fatalf("two writers were told they won revision %d", w.rev)
		}
		byRev[w.rev] = w.id
	}
	for i, e := range got {
		if e.Revision != uint64(i) {
			t.Fatalf("revision %d at index %d: the stream is not contiguous", e.Revision, i)
		}
		if i > 0 && byRev[e.Revision] != e.ID {
			t.Fatalf("revision %d holds %s, but the winner was told %s", e.Revision, e.ID, byRev[e.Revision])
		}
	}
	if err := VerifyChain(stream, got); err != nil {
		t.Fatalf("hash chain after concurrent writers: %v", err)
	}
}

func testConcurrentCreators(t *testing.T, s Store) {
	const creators = 10
	stream := uniqueStream("create")
	ctx := testContext(t)
	var wg sync.WaitGroup
	results := make(chan error, creators)
	for i := 0; i < creators; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.Append(ctx, stream, NoStream{}, newEvent("Created", map[string]any{"by": i}))
			results <- err
		}(i)
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrWrongExpectedRevision):
			t.Fatalf("a losing creator should get a revision conflict, got %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creators won no_stream, want exactly 1", won)
	}
	if got := readWhole(t, s, stream); len(got) != 1 {
		t.Fatalf("stream has %d events, want 1", len(got))
	}
}

// collect reads a subscription until want events arrived, checking that each arrives once and in order.
func collect(t *testing.T, sub Subscription, want int, caughtUp *bool) []RecordedEvent {
	t.Helper()
	ctx := testContext(t)
	var got []RecordedEvent
	var last Position
	for len(got) < want {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription failed after %d of %d events: %v", len(got), want, err)
		}
		switch m.Kind {
		case EventAppeared:
			if m.Event == nil || m.Position != m.Event.Position {
				t.Fatalf("EventAppeared without its event or with a different position")
			}
			if len(got) > 0 && !last.Less(m.Position) {
				t.Fatalf("event at %v delivered after %v: duplicate or out of order", m.Position, last)
			}
			last = m.Position
			got = append(got, *m.Event)
		case CaughtUp:
			if caughtUp != nil {
				*caughtUp = true
			}
		case Checkpoint:
		default:
			t.Fatalf("unknown message kind %d", m.Kind)
		}
	}
	return got
}

func testSubscribeCatchUpThenLive(t *testing.T, s Store) {
	start := tailPosition(t, s)
	prefix := uniqueStream("sub")
	mine, other := prefix+"-a", uniqueStream("noise")
	const before, during, after = 20, 150, 10
	for i := 0; i < before; i++ {
		mustAppend(t, s, mine, Any{}, newEvent("Seen", map[string]any{"i": i}))
		mustAppend(t, s, other, Any{}, newEvent("Seen", map[string]any{"i": i}))
	}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	// Appends run while the subscription catches up, so that the hand-off to live meets a moving log.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < during; i++ {
			if _, err := s.Append(ctx, mine, Any{}, newEvent("Seen", map[string]any{"i": before + i})); err != nil {
				t.Errorf("append during catch-up: %v", err)
				return
			}
			if _, err := s.Append(ctx, other, Any{}, newEvent("Seen", nil)); err != nil {
				t.Errorf("append during catch-up: %v", err)
				return
			}
		}
	}()
	sub, err := s.SubscribeAll(ctx, start, Filter{StreamPrefixes: []string{prefix}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	caughtUp := false
	got := collect(t, sub, before+during, &caughtUp)
	wg.Wait()
	for i := 0; i < after; i++ {
		mustAppend(t, s, mine, Any{}, newEvent("Seen", map[string]any{"i": before + during + i}))
	}
	got = append(got, collect(t, sub, after, &caughtUp)...)
	if !caughtUp {
		t.Fatalf("no CaughtUp message between the historical and the live events")
	}
	for i, e := range got {
		if e.Stream != mine {
			t.Fatalf("the filter let through an event of %s", e.Stream)
		}
		if e.Revision != uint64(i) {
			t.Fatalf("event %d has revision %d: an event was lost or repeated at the hand-off", i, e.Revision)
		}
	}
}

func testSubscribeEventTypeFilter(t *testing.T, s Store) {
	start := tailPosition(t, s)
	typ := "Conf" + strings.ReplaceAll(uuid.NewString(), "-", "")
	stream := uniqueStream("types")
	for i := 0; i < 6; i++ {
		kind := "Other"
		if i%2 == 0 {
			kind = typ + "Settled"
		}
		mustAppend(t, s, stream, Any{}, newEvent(kind, map[string]any{"i": i}))
	}
	sub, err := s.SubscribeAll(testContext(t), start, Filter{EventTypePrefixes: []string{typ}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	got := collect(t, sub, 3, nil)
	for i, e := range got {
		if e.Revision != uint64(2*i) || !strings.HasPrefix(e.Type, typ) {
			t.Fatalf("event %d: type %s revision %d, want the type filter to pass revisions 0, 2, 4", i, e.Type, e.Revision)
		}
	}
	if _, err := s.SubscribeAll(testContext(t), start, Filter{StreamPrefixes: []string{"a"}, EventTypePrefixes: []string{"b"}}); !errors.Is(err, ErrInvalidRead) {
		t.Fatalf("a filter naming both streams and types: want ErrInvalidRead, got %v", err)
	}
}

func testSubscribeFromCheckpoint(t *testing.T, s Store) {
	stream := uniqueStream("ckpt")
	mustAppend(t, s, stream, NoStream{}, numbered(5, "Step")...)
	evs := readWhole(t, s, stream)
	sub, err := s.SubscribeAll(testContext(t), evs[2].Position, Filter{StreamPrefixes: []string{stream}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	got := collect(t, sub, 2, nil)
	if got[0].Revision != 3 || got[1].Revision != 4 {
		t.Fatalf("from the checkpoint of revision 2, got revisions %v; want [3 4] (the checkpoint is exclusive)", revisions(got))
	}
}

func testSubscribeCancel(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(testContext(t))
	sub, err := s.SubscribeAll(ctx, EndPosition, Filter{StreamPrefixes: []string{uniqueStream("quiet")}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	done := make(chan error, 1)
	go func() {
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				done <- err
				return
			}
			if m.Kind == EventAppeared {
				done <- fmt.Errorf("an event appeared on a quiet filter")
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: want context.Canceled, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Next did not return after its context was cancelled")
	}
}

func testBadInput(t *testing.T, s Store) {
	ctx := testContext(t)
	good := func() EventData { return newEvent("Fine", map[string]any{"ok": true}) }
	noID := good()
	noID.ID = uuid.Nil
	badJSON := good()
	badJSON.Data = json.RawMessage(`{"amount": 1`)
	emptyData := good()
	emptyData.Data = nil
	noType := good()
	noType.Type = ""
	huge := good()
	huge.Data = json.RawMessage(`"` + strings.Repeat("x", MaxEventDataBytes) + `"`)
	bigMeta := good()
	bigMeta.Metadata.Actor = strings.Repeat("a", MaxMetadataBytes+1)
	dup := good()
	cases := []struct {
		name     string
		stream   string
		expected ExpectedRevision
		events   []EventData
		want     error
	}{
		{"empty stream name", "", NoStream{}, []EventData{good()}, ErrInvalidStream},
		{"reserved stream name", "$" + uniqueStream("bad"), NoStream{}, []EventData{good()}, ErrInvalidStream},
		{"stream name with a space", uniqueStream("bad") + " x", NoStream{}, []EventData{good()}, ErrInvalidStream},
		{"oversized stream name", strings.Repeat("s", MaxNameBytes+1), NoStream{}, []EventData{good()}, ErrInvalidStream},
		{"no expected revision", uniqueStream("bad"), nil, []EventData{good()}, ErrInvalidExpectedRevision},
		{"event without ID", uniqueStream("bad"), NoStream{}, []EventData{good(), noID}, ErrInvalidEvent},
		{"same ID twice", uniqueStream("bad"), NoStream{}, []EventData{dup, dup}, ErrInvalidEvent},
		{"invalid JSON", uniqueStream("bad"), NoStream{}, []EventData{good(), badJSON}, ErrInvalidEvent},
		{"empty data", uniqueStream("bad"), NoStream{}, []EventData{emptyData}, ErrInvalidEvent},
		{"empty type", uniqueStream("bad"), NoStream{}, []EventData{noType}, ErrInvalidEvent},
		{"oversized event", uniqueStream("bad"), NoStream{}, []EventData{good(), huge}, ErrEventTooLarge},
		{"oversized metadata", uniqueStream("bad"), NoStream{}, []EventData{bigMeta}, ErrEventTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Append(ctx, c.stream, c.expected, c.events...)
			if !errors.Is(err, c.want) {
				t.Fatalf("want %v, got %v", c.want, err)
			}
			if c.stream == "" || strings.HasPrefix(c.stream, "$") || len(c.stream) > MaxNameBytes || strings.Contains(c.stream, " ") {
				return
			}
			if _, err := s.ReadStream(ctx, c.stream, Forwards, 0, 10); !errors.Is(err, ErrStreamNotFound) {
				t.Fatalf("a refused append wrote something: read gave %v", err)
			}
		})
	}
	var tooLarge *TooLarge
	_, err := s.Append(ctx, uniqueStream("bad"), NoStream{}, huge)
	if !errors.As(err, &tooLarge) || tooLarge.Limit != MaxEventDataBytes || tooLarge.Size <= MaxEventDataBytes {
		t.Fatalf("an oversized event should say its size and the limit, got %v", err)
	}
	if _, err := ParseExpectedRevision("sometimes"); !errors.Is(err, ErrInvalidExpectedRevision) {
		t.Fatalf("unknown expected-revision form: want ErrInvalidExpectedRevision, got %v", err)
	}
}

func testHashChain(t *testing.T, s Store) {
	stream := uniqueStream("chain")
	mustAppend(t, s, stream, NoStream{}, numbered(4, "Linked")...)
	mustAppend(t, s, stream, Exact(3), numbered(3, "Linked")...)
	evs := readWhole(t, s, stream)
	if err := VerifyChain(stream, evs); err != nil {
		t.Fatalf("untouched chain: %v", err)
	}
	var chainErr *ChainError
	changed := append([]RecordedEvent(nil), evs...)
	changed[4].Data = json.RawMessage(`{"n":999}`)
	if err := VerifyChain(stream, changed); !errors.As(err, &chainErr) || chainErr.Revision != 4 {
		t.Fatalf("a changed event should break the chain at revision 4, got %v", err)
	}
	removed := append(append([]RecordedEvent(nil), evs[:2]...), evs[3:]...)
	if err := VerifyChain(stream, removed); !errors.As(err, &chainErr) || chainErr.Revision != 3 {
		t.Fatalf("a removed event should break the chain at revision 3, got %v", err)
	}
	rehashed := append([]RecordedEvent(nil), evs...)
	rehashed[1].Metadata.Actor = "mallory"
	rehashed[1].Hash = ChainHash(rehashed[1].PrevHash, stream, 1, EventData{ID: rehashed[1].ID, Type: rehashed[1].Type, Data: rehashed[1].Data, Metadata: rehashed[1].Metadata})
	if err := VerifyChain(stream, rehashed); !errors.As(err, &chainErr) || chainErr.Revision != 2 {
		t.Fatalf("a changed and re-hashed event should break the link of the next one (revision 2), got %v", err)
	}
}

// testLargestAppends proves that the port's limits fit the store: the largest appends ValidateAppend accepts,
// of one big event and of many small ones, are written whole.
func testLargestAppends(t *testing.T, s Store) {
	big := newEvent("Big", nil)
	big.Data = json.RawMessage(`"` + strings.Repeat("b", MaxEventDataBytes-2) + `"`)
	mustAppend(t, s, uniqueStream("big"), NoStream{}, big)

	// Events of one fixed size, so that the count that fits follows from the limit.
	sized := func(i int) EventData {
		e := newEvent("Small", nil)
		e.Data = json.RawMessage(fmt.Sprintf(`{"i":"%08d"}`, i))
		return e
	}
	cost := len(sized(0).Data) + len("Small") + metadataSize(sized(0).Metadata) + EventOverheadBytes
	small := make([]EventData, min(MaxAppendBytes/cost, MaxAppendEvents))
	for i := range small {
		small[i] = sized(i)
	}
	if err := ValidateAppend("s", NoStream{}, small); err != nil {
		t.Fatalf("%d events of %d bytes each should fit one append: %v", len(small), cost, err)
	}
	if len(small) < 1000 {
		t.Fatalf("only %d small events fit one append: the limits are too tight", len(small))
	}
	stream := uniqueStream("many")
	r := mustAppend(t, s, stream, NoStream{}, small...)
	if r.NextExpectedRevision != uint64(len(small)-1) {
		t.Fatalf("an append of %d events ended at revision %d", len(small), r.NextExpectedRevision)
	}
	tooMany := append(small, sized(len(small)))
	if _, err := s.Append(testContext(t), uniqueStream("many"), NoStream{}, tooMany...); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("one event more than fits should be ErrEventTooLarge, got %v", err)
	}
}
