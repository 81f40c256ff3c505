package esdbtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

const waitTimeout = 10 * time.Second

func newClient(t *testing.T, s *esdbtest.Server) *kurrentdb.Client {
	t.Helper()
	cfg, err := kurrentdb.ParseConnectionString(s.URL())
	if err != nil {
		t.Fatalf("parse %q: %v", s.URL(), err)
	}
	cfg.Logger = kurrentdb.NoopLogging()
	db, err := kurrentdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func setup(t *testing.T) (*esdbtest.Server, *kurrentdb.Client) {
	t.Helper()
	s := esdbtest.StartT(t)
	return s, newClient(t, s)
}

func event(typ string) kurrentdb.EventData {
	return kurrentdb.EventData{
		EventID:     uuid.New(),
		EventType:   typ,
		ContentType: kurrentdb.ContentTypeJson,
		Data:        []byte(fmt.Sprintf(`{"type":%q}`, typ)),
	}
}

func events(n int, typ string) []kurrentdb.EventData {
	out := make([]kurrentdb.EventData, n)
	for i := range out {
		out[i] = event(typ)
	}
	return out
}

func mustAppend(t *testing.T, db *kurrentdb.Client, stream string, state kurrentdb.StreamState, evs ...kurrentdb.EventData) *kurrentdb.WriteResult {
	t.Helper()
	wr, err := db.AppendToStream(context.Background(), stream, kurrentdb.AppendToStreamOptions{StreamState: state}, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s with %#v: %v", len(evs), stream, state, err)
	}
	return wr
}

func errorCode(err error) kurrentdb.ErrorCode {
	var e *kurrentdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

func wantCode(t *testing.T, what string, err error, code kurrentdb.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: want error code %d, got success", what, code)
	}
	if got := errorCode(err); got != code {
		t.Fatalf("%s: want error code %d, got %d (%v)", what, code, got, err)
	}
}

// drain reads a finite read to the end.
func drain(rs *kurrentdb.ReadStream) ([]*kurrentdb.ResolvedEvent, error) {
	defer rs.Close()
	var out []*kurrentdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func readStream(t *testing.T, db *kurrentdb.Client, stream string, opts kurrentdb.ReadStreamOptions, count uint64) ([]*kurrentdb.ResolvedEvent, error) {
	t.Helper()
	rs, err := db.ReadStream(context.Background(), stream, opts, count)
	if err != nil {
		return nil, err
	}
	return drain(rs)
}

func readAll(t *testing.T, db *kurrentdb.Client, opts kurrentdb.ReadAllOptions, count uint64) []*kurrentdb.ResolvedEvent {
	t.Helper()
	rs, err := db.ReadAll(context.Background(), opts, count)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	out, err := drain(rs)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	return out
}

func revisions(evs []*kurrentdb.ResolvedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Event.EventNumber
	}
	return out
}

func ids(evs []*kurrentdb.ResolvedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.Event.EventID
	}
	return out
}

func TestAppendExpectedRevisionForms(t *testing.T) {
	_, db := setup(t)
	ctx := context.Background()

	wr := mustAppend(t, db, "order-1", kurrentdb.NoStream{}, event("OrderPlaced"), event("OrderPaid"))
	if wr.NextExpectedVersion != 1 {
		t.Fatalf("NoStream x2: next = %d, want 1", wr.NextExpectedVersion)
	}
	if wr.CommitPosition == 0 || wr.CommitPosition != wr.PreparePosition {
		t.Fatalf("position = %d/%d, want commit == prepare > 0", wr.CommitPosition, wr.PreparePosition)
	}
	lastPos := wr.CommitPosition

	conflicts := []struct {
		name   string
		stream string
		state  kurrentdb.StreamState
		msg    string
	}{
		{"NoStream on existing", "order-1", kurrentdb.NoStream{}, "expecting 'no_stream' but got '1'"},
		{"stale revision", "order-1", kurrentdb.Revision(0), "expecting '0' but got '1'"},
		{"future revision", "order-1", kurrentdb.Revision(7), "expecting '7' but got '1'"},
		{"StreamExists on missing", "order-2", kurrentdb.StreamExists{}, "expecting 'stream_exists' but got 'no_stream'"},
		{"revision on missing", "order-2", kurrentdb.Revision(0), "expecting '0' but got 'no_stream'"},
	}
	for _, c := range conflicts {
		_, err := db.AppendToStream(ctx, c.stream, kurrentdb.AppendToStreamOptions{StreamState: c.state}, event("X"))
		wantCode(t, c.name, err, kurrentdb.ErrorCodeWrongExpectedVersion)
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not contain %q", c.name, err, c.msg)
		}
	}

	successes := []struct {
		name   string
		stream string
		state  kurrentdb.StreamState
		next   uint64
	}{
		{"exact revision", "order-1", kurrentdb.Revision(1), 2},
		{"StreamExists on existing", "order-1", kurrentdb.StreamExists{}, 3},
		{"Any on existing", "order-1", kurrentdb.Any{}, 4},
		{"Any on missing", "order-3", kurrentdb.Any{}, 0},
		{"NoStream on missing", "order-4", kurrentdb.NoStream{}, 0},
	}
	for _, c := range successes {
		wr := mustAppend(t, db, c.stream, c.state, event("X"))
		if wr.NextExpectedVersion != c.next {
			t.Errorf("%s: next = %d, want %d", c.name, wr.NextExpectedVersion, c.next)
		}
		if wr.CommitPosition <= lastPos || wr.CommitPosition != wr.PreparePosition {
			t.Errorf("%s: position %d/%d not strictly after %d", c.name, wr.CommitPosition, wr.PreparePosition, lastPos)
		}
		lastPos = wr.CommitPosition
	}

	got, err := readStream(t, db, "order-1", kurrentdb.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{0, 1, 2, 3, 4}; !slices.Equal(revisions(got), want) {
		t.Fatalf("order-1 revisions = %v, want %v (a conflict must write nothing)", revisions(got), want)
	}
}

func TestAppendWithNoEventsWritesNothing(t *testing.T) {
	_, db := setup(t)
	mustAppend(t, db, "s", kurrentdb.NoStream{}, event("A"))
	wr := mustAppend(t, db, "s", kurrentdb.Revision(0))
	if wr.NextExpectedVersion != 0 {
		t.Fatalf("next = %d, want 0", wr.NextExpectedVersion)
	}
	_, err := db.AppendToStream(context.Background(), "s", kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Revision(3)})
	wantCode(t, "empty append with wrong revision", err, kurrentdb.ErrorCodeWrongExpectedVersion)
	if n := len(readAll(t, db, kurrentdb.ReadAllOptions{}, 100)); n != 1 {
		t.Fatalf("$all has %d events, want 1", n)
	}
}

func TestReadStream(t *testing.T) {
	_, db := setup(t)
	custom := []byte(`{"correlationId":"c-1"}`)
	e0 := event("Opened")
	e0.Metadata = custom
	e1 := kurrentdb.EventData{EventID: uuid.New(), EventType: "Blob", ContentType: kurrentdb.ContentTypeBinary, Data: []byte{0, 1, 2}}
	before := time.Now().Add(-time.Second)
	wr := mustAppend(t, db, "acct-1", kurrentdb.NoStream{}, e0, e1, event("Closed"), event("Reopened"))

	all, err := readStream(t, db, "acct-1", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: kurrentdb.Start{}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{0, 1, 2, 3}; !slices.Equal(revisions(all), want) {
		t.Fatalf("forwards revisions = %v, want %v", revisions(all), want)
	}
	r0, r1 := all[0].Event, all[1].Event
	if r0.EventID != e0.EventID || r0.EventType != "Opened" || r0.ContentType != "application/json" ||
		string(r0.Data) != string(e0.Data) || string(r0.UserMetadata) != string(custom) || r0.StreamID != "acct-1" {
		t.Fatalf("event 0 did not round-trip: %+v", r0)
	}
	if r1.EventID != e1.EventID || r1.ContentType != "application/octet-stream" || !slices.Equal(r1.Data, e1.Data) {
		t.Fatalf("event 1 did not round-trip: %+v", r1)
	}
	if r0.CreatedDate.Before(before) || r0.CreatedDate.After(time.Now().Add(time.Second)) {
		t.Fatalf("created = %v, want about now", r0.CreatedDate)
	}
	last := all[3].Event
	if last.Position.Commit != wr.CommitPosition || last.Position.Prepare != wr.PreparePosition {
		t.Fatalf("last event position %+v, append reported %d/%d", last.Position, wr.CommitPosition, wr.PreparePosition)
	}
	for i := 1; i < len(all); i++ {
		if !(all[i-1].Event.Position.Commit < all[i].Event.Position.Commit) {
			t.Fatalf("positions not strictly increasing: %+v then %+v", all[i-1].Event.Position, all[i].Event.Position)
		}
	}
	if all[0].Commit == nil || *all[0].Commit != all[0].Event.Position.Commit {
		t.Fatalf("ReadEvent.position = %v, want the commit position", all[0].Commit)
	}

	cases := []struct {
		name  string
		opts  kurrentdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"backwards from end", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 100, []uint64{3, 2, 1, 0}},
		{"backwards from end, count 2", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 2, []uint64{3, 2}},
		{"forwards from revision 1 (inclusive)", kurrentdb.ReadStreamOptions{From: kurrentdb.Revision(1)}, 100, []uint64{1, 2, 3}},
		{"forwards from revision 1, count 2", kurrentdb.ReadStreamOptions{From: kurrentdb.Revision(1)}, 2, []uint64{1, 2}},
		{"backwards from revision 1 (inclusive)", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.Revision(1)}, 100, []uint64{1, 0}},
		{"backwards from beyond the end", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.Revision(99)}, 1, []uint64{3}},
		{"forwards from beyond the end", kurrentdb.ReadStreamOptions{From: kurrentdb.Revision(99)}, 100, []uint64{}},
		{"forwards from end", kurrentdb.ReadStreamOptions{From: kurrentdb.End{}}, 100, []uint64{}},
	}
	for _, c := range cases {
		got, err := readStream(t, db, "acct-1", c.opts, c.count)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(revisions(got), c.want) {
			t.Errorf("%s: revisions = %v, want %v", c.name, revisions(got), c.want)
		}
	}

	_, err = readStream(t, db, "no-such-stream", kurrentdb.ReadStreamOptions{}, 10)
	wantCode(t, "read missing stream", err, kurrentdb.ErrorCodeResourceNotFound)
	_, err = readStream(t, db, "no-such-stream", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 10)
	wantCode(t, "read missing stream backwards", err, kurrentdb.ErrorCodeResourceNotFound)
}

func TestReadAll(t *testing.T) {
	_, db := setup(t)
	var want []uuid.UUID
	var positions []kurrentdb.Position
	for i := range 6 {
		e := event("E")
		wr := mustAppend(t, db, fmt.Sprintf("s-%d", i%3), kurrentdb.Any{}, e)
		want = append(want, e.EventID)
		positions = append(positions, kurrentdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition})
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)

	cases := []struct {
		name  string
		opts  kurrentdb.ReadAllOptions
		count uint64
		want  []uuid.UUID
	}{
		{"forwards from start", kurrentdb.ReadAllOptions{}, 100, want},
		{"forwards count 2", kurrentdb.ReadAllOptions{}, 2, want[:2]},
		{"backwards from end", kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 100, rev},
		{"backwards count 2", kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 2, rev[:2]},
		{"forwards from position (inclusive)", kurrentdb.ReadAllOptions{From: positions[3]}, 100, want[3:]},
		{"backwards from position (exclusive)", kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: positions[3]}, 100, rev[3:]},
		{"forwards from end", kurrentdb.ReadAllOptions{From: kurrentdb.End{}}, 100, []uuid.UUID{}},
		{"backwards from start", kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.Start{}}, 100, []uuid.UUID{}},
	}
	for _, c := range cases {
		got := ids(readAll(t, db, c.opts, c.count))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	for i, e := range readAll(t, db, kurrentdb.ReadAllOptions{}, 100) {
		if e.Event.Position != positions[i] {
			t.Errorf("$all event %d position %+v, append reported %+v", i, e.Event.Position, positions[i])
		}
	}
}

func TestIdempotentAppend(t *testing.T) {
	_, db := setup(t)
	ctx := context.Background()
	streamLen := func(stream string) int {
		t.Helper()
		evs, err := readStream(t, db, stream, kurrentdb.ReadStreamOptions{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	t.Run("same expected revision", func(t *testing.T) {
		batch1 := events(2, "A")
		first := mustAppend(t, db, "idem-1", kurrentdb.NoStream{}, batch1...)
		again := mustAppend(t, db, "idem-1", kurrentdb.NoStream{}, batch1...) // the reply was "lost"
		if *again != *first {
			t.Fatalf("retry answered %+v, original %+v", again, first)
		}
		batch2 := events(3, "B")
		second := mustAppend(t, db, "idem-1", kurrentdb.Revision(1), batch2...)
		again = mustAppend(t, db, "idem-1", kurrentdb.Revision(1), batch2...)
		if *again != *second || second.NextExpectedVersion != 4 {
			t.Fatalf("retry answered %+v, original %+v", again, second)
		}
		// A prefix of an earlier batch is idempotent too, as on the real server.
		prefix := mustAppend(t, db, "idem-1", kurrentdb.Revision(1), batch2[0])
		if prefix.NextExpectedVersion != 2 {
			t.Fatalf("prefix retry next = %d, want 2", prefix.NextExpectedVersion)
		}
		if n := streamLen("idem-1"); n != 5 {
			t.Fatalf("stream length %d after retries, want 5", n)
		}
		partial := []kurrentdb.EventData{batch2[0], event("C")}
		_, err := db.AppendToStream(ctx, "idem-1", kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Revision(1)}, partial...)
		wantCode(t, "partial match", err, kurrentdb.ErrorCodeWrongExpectedVersion)
		_, err = db.AppendToStream(ctx, "idem-1", kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Revision(1)}, event("D"))
		wantCode(t, "new event with stale revision", err, kurrentdb.ErrorCodeWrongExpectedVersion)
		if n := streamLen("idem-1"); n != 5 {
			t.Fatalf("stream length %d after conflicts, want 5", n)
		}
	})

	t.Run("any", func(t *testing.T) {
		batch := events(3, "A")
		first := mustAppend(t, db, "idem-2", kurrentdb.Any{}, batch...)
		mustAppend(t, db, "idem-2", kurrentdb.Any{}, event("Later"))
		again := mustAppend(t, db, "idem-2", kurrentdb.Any{}, batch...)
		if *again != *first {
			t.Fatalf("retry with Any answered %+v, original %+v", again, first)
		}
		if n := streamLen("idem-2"); n != 4 {
			t.Fatalf("stream length %d, want 4", n)
		}
		_, err := db.AppendToStream(ctx, "idem-2", kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Any{}}, batch[0], event("New"))
		wantCode(t, "partial match with Any", err, kurrentdb.ErrorCodeWrongExpectedVersion)
		if n := streamLen("idem-2"); n != 4 {
			t.Fatalf("stream length %d after partial match, want 4", n)
		}
		// The same IDs in another stream are not a retry.
		other := mustAppend(t, db, "idem-3", kurrentdb.Any{}, batch...)
		if other.NextExpectedVersion != 2 || other.CommitPosition <= first.CommitPosition {
			t.Fatalf("append to another stream answered %+v", other)
		}
	})
}

func TestConcurrentAppendersOneStream(t *testing.T) {
	_, db := setup(t)
	ctx := context.Background()
	const (
		writers  = 8
		attempts = 15
	)
	type win struct {
		rev uint64
		id  uuid.UUID
	}
	var (
		mu        sync.Mutex
		wins      []win
		conflicts int
		wg        sync.WaitGroup
		errs      = make(chan error, writers)
	)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range attempts {
				state := kurrentdb.StreamState(kurrentdb.NoStream{})
				rs, err := db.ReadStream(ctx, "hot", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 1)
				if err != nil {
					errs <- err
					return
				}
				evs, err := drain(rs)
				switch {
				case errorCode(err) == kurrentdb.ErrorCodeResourceNotFound:
				case err != nil:
					errs <- err
					return
				default:
					state = kurrentdb.Revision(evs[0].Event.EventNumber)
				}
				e := event("Tick")
				wr, err := db.AppendToStream(ctx, "hot", kurrentdb.AppendToStreamOptions{StreamState: state}, e)
				mu.Lock()
				switch {
				case err == nil:
					wins = append(wins, win{wr.NextExpectedVersion, e.EventID})
				case errorCode(err) == kurrentdb.ErrorCodeWrongExpectedVersion:
					conflicts++
				default:
					mu.Unlock()
					errs <- err
					return
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer failed: %v", err)
	}
	if len(wins)+conflicts != writers*attempts {
		t.Fatalf("%d wins + %d conflicts != %d attempts", len(wins), conflicts, writers*attempts)
	}
	sort.Slice(wins, func(i, j int) bool { return wins[i].rev < wins[j].rev })
	got, err := readStream(t, db, "hot", kurrentdb.ReadStreamOptions{}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wins) {
		t.Fatalf("stream has %d events, %d appends succeeded", len(got), len(wins))
	}
	for i, w := range wins {
		if w.rev != uint64(i) {
			t.Fatalf("winning revisions not exactly 0..%d: %d at index %d", len(wins)-1, w.rev, i)
		}
		if got[i].Event.EventNumber != uint64(i) || got[i].Event.EventID != w.id {
			t.Fatalf("revision %d holds %v, the winner was %v", i, got[i].Event.EventID, w.id)
		}
	}
	t.Logf("%d wins, %d conflicts", len(wins), conflicts)
}

// subscriptionEvents forwards a subscription's events to a channel until it drops.
func subscriptionEvents(t *testing.T, sub *kurrentdb.Subscription) <-chan *kurrentdb.SubscriptionEvent {
	ch := make(chan *kurrentdb.SubscriptionEvent)
	stop := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		_ = sub.Close()
	})
	go func() {
		defer close(ch)
		for {
			e := sub.Recv()
			select {
			case ch <- e:
			case <-stop:
				return
			}
			if e.SubscriptionDropped != nil {
				return
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan *kurrentdb.SubscriptionEvent) *kurrentdb.SubscriptionEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return e
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a subscription event")
	}
	return nil
}

// nextEvent skips checkpoints and fails on anything but an event.
func nextEvent(t *testing.T, ch <-chan *kurrentdb.SubscriptionEvent) *kurrentdb.ResolvedEvent {
	t.Helper()
	for {
		e := next(t, ch)
		switch {
		case e.CheckPointReached != nil:
			continue
		case e.EventAppeared != nil:
			return e.EventAppeared
		}
		t.Fatalf("want an event, got %+v", e)
	}
}

func TestSubscribeToAllFilteredHandOff(t *testing.T) {
	filters := []struct {
		name   string
		filter *kurrentdb.SubscriptionFilter
	}{
		{"stream prefix", &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: []string{"order-"}}},
		{"stream regex", &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Regex: "^order-"}},
		{"event type prefix", &kurrentdb.SubscriptionFilter{Type: kurrentdb.EventFilterType, Prefixes: []string{"Order"}}},
	}
	for _, fc := range filters {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			_, db := setup(t)
			ctx := context.Background()
			// Matching events are in order-* streams with Order* types; noise is neither.
			type written struct {
				id  uuid.UUID
				pos uint64
			}
			var (
				mu      sync.Mutex
				matched []written
			)
			write := func(i int, match bool) error {
				stream, e := fmt.Sprintf("noise-%d", i%4), event("Noise")
				if match {
					stream, e = fmt.Sprintf("order-%d", i%5), event("OrderPlaced")
				}
				wr, err := db.AppendToStream(ctx, stream, kurrentdb.AppendToStreamOptions{}, e)
				if err != nil {
					return err
				}
				if match {
					mu.Lock()
					matched = append(matched, written{e.EventID, wr.CommitPosition})
					mu.Unlock()
				}
				return nil
			}
			for i := range 40 {
				if err := write(i, i%3 == 0); err != nil {
					t.Fatal(err)
				}
			}

			// Concurrent appenders run while the subscription catches up and goes live.
			const perWriter = 60
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			start := make(chan struct{})
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := range perWriter {
						if err := write(w*perWriter+i, i%2 == 0); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			mu.Lock()
			total := len(matched) + 2*(perWriter/2)
			mu.Unlock()
			// Writers start first so that appends race the catch-up scan and the
			// switch to live.
			close(start)
			sub, err := db.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}, Filter: fc.filter, MaxSearchWindow: 4, CheckpointInterval: 2})
			if err != nil {
				t.Fatal(err)
			}
			ch := subscriptionEvents(t, sub)
			var got []written
			caughtUp, checkpoints := 0, 0
			var lastCheckpoint uint64
			for len(got) < total {
				e := next(t, ch)
				switch {
				case e.EventAppeared != nil:
					ev := e.EventAppeared.Event
					if !strings.HasPrefix(ev.StreamID, "order-") || ev.EventType != "OrderPlaced" {
						t.Fatalf("filtered subscription delivered %s/%s", ev.StreamID, ev.EventType)
					}
					got = append(got, written{ev.EventID, ev.Position.Commit})
				case e.CaughtUp != nil:
					caughtUp++
					t.Logf("caught up after %d of %d events", len(got), total)
					if e.CaughtUp.Position == nil || e.CaughtUp.Position.Commit == 0 {
						t.Errorf("CaughtUp without a position: %+v", e.CaughtUp)
					}
				case e.CheckPointReached != nil:
					checkpoints++
					if e.CheckPointReached.Commit < lastCheckpoint {
						t.Fatalf("checkpoint went backwards: %d after %d", e.CheckPointReached.Commit, lastCheckpoint)
					}
					if len(got) > 0 && e.CheckPointReached.Commit < got[len(got)-1].pos {
						t.Fatalf("checkpoint %d before the last delivered event %d", e.CheckPointReached.Commit, got[len(got)-1].pos)
					}
					lastCheckpoint = e.CheckPointReached.Commit
				default:
					t.Fatalf("unexpected subscription event %+v", e)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if caughtUp != 1 {
				t.Fatalf("CaughtUp seen %d times before all events, want 1", caughtUp)
			}
			if checkpoints == 0 {
				t.Fatal("no checkpoints for a filtered subscription with window 4 x 2")
			}

			// A live event after everything proves nothing was held back or repeated.
			if err := write(1000, true); err != nil {
				t.Fatal(err)
			}
			got = append(got, written{nextEvent(t, ch).Event.EventID, 0})

			sort.Slice(matched, func(i, j int) bool { return matched[i].pos < matched[j].pos })
			if len(got) != len(matched) {
				t.Fatalf("got %d events, want %d", len(got), len(matched))
			}
			for i := range matched {
				if got[i].id != matched[i].id {
					t.Fatalf("event %d: got %v, want %v (lost, duplicated or out of order)", i, got[i].id, matched[i].id)
				}
			}
		})
	}
}

func TestSubscriptionStartPoints(t *testing.T) {
	_, db := setup(t)
	ctx := context.Background()
	a := mustAppend(t, db, "acct-1", kurrentdb.NoStream{}, events(3, "Deposited")...)
	mustAppend(t, db, "acct-2", kurrentdb.NoStream{}, event("Deposited"))

	t.Run("stream from revision is exclusive", func(t *testing.T) {
		sub, err := db.SubscribeToStream(ctx, "acct-1", kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Revision(0)})
		if err != nil {
			t.Fatal(err)
		}
		ch := subscriptionEvents(t, sub)
		if r := nextEvent(t, ch).Event.EventNumber; r != 1 {
			t.Fatalf("first revision %d, want 1", r)
		}
		if r := nextEvent(t, ch).Event.EventNumber; r != 2 {
			t.Fatalf("second revision %d, want 2", r)
		}
		cu := next(t, ch).CaughtUp
		if cu == nil || cu.StreamRevision == nil || *cu.StreamRevision != 2 {
			t.Fatalf("want CaughtUp at revision 2, got %+v", cu)
		}
		mustAppend(t, db, "acct-2", kurrentdb.Any{}, event("Other"))
		mustAppend(t, db, "acct-1", kurrentdb.Revision(2), event("Live"))
		if e := nextEvent(t, ch).Event; e.EventNumber != 3 || e.EventType != "Live" {
			t.Fatalf("live event %d/%s, want 3/Live", e.EventNumber, e.EventType)
		}
	})

	t.Run("all from position is exclusive", func(t *testing.T) {
		from := kurrentdb.Position{Commit: a.CommitPosition, Prepare: a.PreparePosition}
		sub, err := db.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: from})
		if err != nil {
			t.Fatal(err)
		}
		ch := subscriptionEvents(t, sub)
		e := nextEvent(t, ch).Event
		if e.StreamID != "acct-2" || e.Position.Commit <= a.CommitPosition {
			t.Fatalf("first event %s@%d, want acct-2 after %d", e.StreamID, e.Position.Commit, a.CommitPosition)
		}
	})

	t.Run("end is live only", func(t *testing.T) {
		sub, err := db.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: kurrentdb.End{}})
		if err != nil {
			t.Fatal(err)
		}
		ch := subscriptionEvents(t, sub)
		if cu := next(t, ch).CaughtUp; cu == nil {
			t.Fatal("want CaughtUp first when subscribing from the end")
		}
		live := event("Live")
		mustAppend(t, db, "acct-9", kurrentdb.Any{}, live)
		if got := nextEvent(t, ch).Event.EventID; got != live.EventID {
			t.Fatalf("got %v, want the live event %v", got, live.EventID)
		}
	})

	t.Run("stream that does not exist yet", func(t *testing.T) {
		sub, err := db.SubscribeToStream(ctx, "later", kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}})
		if err != nil {
			t.Fatal(err)
		}
		ch := subscriptionEvents(t, sub)
		if cu := next(t, ch).CaughtUp; cu == nil || cu.StreamRevision != nil {
			t.Fatalf("want CaughtUp without a revision, got %+v", cu)
		}
		mustAppend(t, db, "later", kurrentdb.NoStream{}, event("First"))
		if r := nextEvent(t, ch).Event.EventNumber; r != 0 {
			t.Fatalf("revision %d, want 0", r)
		}
	})
}

func TestTombstone(t *testing.T) {
	_, db := setup(t)
	ctx := context.Background()
	mustAppend(t, db, "gone", kurrentdb.NoStream{}, events(2, "A")...)

	_, err := db.TombstoneStream(ctx, "gone", kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Revision(0)})
	if err == nil {
		t.Fatal("tombstone with a stale revision succeeded")
	}
	dr, err := db.TombstoneStream(ctx, "gone", kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Revision(1)})
	if err != nil {
		t.Fatal(err)
	}
	if dr.Position.Commit == 0 {
		t.Fatalf("tombstone position %+v", dr.Position)
	}
	_, err = readStream(t, db, "gone", kurrentdb.ReadStreamOptions{}, 10)
	wantCode(t, "read tombstoned", err, kurrentdb.ErrorCodeStreamDeleted)
	for _, state := range []kurrentdb.StreamState{kurrentdb.Any{}, kurrentdb.NoStream{}, kurrentdb.Revision(1)} {
		_, err = db.AppendToStream(ctx, "gone", kurrentdb.AppendToStreamOptions{StreamState: state}, event("B"))
		wantCode(t, fmt.Sprintf("append %#v to tombstoned", state), err, kurrentdb.ErrorCodeStreamDeleted)
	}
	_, err = db.DeleteStream(ctx, "gone", kurrentdb.DeleteStreamOptions{})
	wantCode(t, "soft delete of tombstoned", err, kurrentdb.ErrorCodeStreamDeleted)
	_, err = db.SubscribeToStream(ctx, "gone", kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}})
	wantCode(t, "subscribe to tombstoned", err, kurrentdb.ErrorCodeStreamDeleted)

	all := readAll(t, db, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 1)
	if len(all) != 1 || all[0].Event.EventType != "$streamDeleted" || all[0].Event.Position != dr.Position {
		t.Fatalf("want a $streamDeleted record at %+v at the end of $all, got %+v", dr.Position, all[0].Event)
	}
}

func TestTombstoneEndsStreamSubscription(t *testing.T) {
	_, db := setup(t)
	mustAppend(t, db, "doomed", kurrentdb.NoStream{}, event("A"))
	sub, err := db.SubscribeToStream(context.Background(), "doomed", kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	ch := subscriptionEvents(t, sub)
	nextEvent(t, ch)
	if next(t, ch).CaughtUp == nil {
		t.Fatal("want CaughtUp")
	}
	if _, err := db.TombstoneStream(context.Background(), "doomed", kurrentdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := next(t, ch).SubscriptionDropped; d == nil || !strings.Contains(d.Error.Error(), "is deleted") {
		t.Fatalf("want the subscription dropped as deleted, got %+v", d)
	}
}

func TestSoftDelete(t *testing.T) {
	_, db := setup(t)
	ctx := context.Background()
	mustAppend(t, db, "soft", kurrentdb.NoStream{}, events(3, "A")...)

	_, err := db.DeleteStream(ctx, "soft", kurrentdb.DeleteStreamOptions{StreamState: kurrentdb.NoStream{}})
	if err == nil {
		t.Fatal("delete with NoStream on an existing stream succeeded")
	}
	if _, err := db.DeleteStream(ctx, "soft", kurrentdb.DeleteStreamOptions{StreamState: kurrentdb.Revision(2)}); err != nil {
		t.Fatal(err)
	}
	_, err = readStream(t, db, "soft", kurrentdb.ReadStreamOptions{}, 10)
	wantCode(t, "read soft-deleted", err, kurrentdb.ErrorCodeResourceNotFound)
	_, err = db.AppendToStream(ctx, "soft", kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.StreamExists{}}, event("B"))
	wantCode(t, "StreamExists on soft-deleted", err, kurrentdb.ErrorCodeStreamDeleted)

	wr := mustAppend(t, db, "soft", kurrentdb.NoStream{}, event("B"), event("C"))
	if wr.NextExpectedVersion != 4 {
		t.Fatalf("recreated stream next = %d, want 4 (numbering continues)", wr.NextExpectedVersion)
	}
	got, err := readStream(t, db, "soft", kurrentdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(revisions(got), []uint64{3, 4}) {
		t.Fatalf("revisions after recreate = %v, want [3 4]", revisions(got))
	}
	back, err := readStream(t, db, "soft", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(revisions(back), []uint64{4, 3}) {
		t.Fatalf("backwards revisions after recreate = %v, want [4 3]", revisions(back))
	}
	_, err = db.AppendToStream(ctx, "soft", kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.NoStream{}}, event("D"))
	wantCode(t, "NoStream after recreate", err, kurrentdb.ErrorCodeWrongExpectedVersion)
	meta, err := db.GetStreamMetadata(ctx, "soft", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	if tb := meta.TruncateBefore(); tb == nil || *tb != 3 {
		t.Fatalf("$tb = %v, want 3", tb)
	}
}

func TestIdleSubscriptionSurvives(t *testing.T) {
	t.Parallel()
	_, db := setup(t)
	sub, err := db.SubscribeToAll(context.Background(), kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	ch := subscriptionEvents(t, sub)
	if next(t, ch).CaughtUp == nil {
		t.Fatal("want CaughtUp")
	}
	time.Sleep(3 * time.Second)
	e := event("AfterIdle")
	mustAppend(t, db, "idle", kurrentdb.Any{}, e)
	if got := nextEvent(t, ch).Event.EventID; got != e.EventID {
		t.Fatalf("got %v, want %v", got, e.EventID)
	}
}

func TestServerFeaturesAndCalls(t *testing.T) {
	s, db := setup(t)
	ctx := context.Background()
	v, err := db.GetServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Major != 24 || v.Minor != 10 || v.Patch != 0 {
		t.Fatalf("server version %+v, want 24.10.0", v)
	}
	mustAppend(t, db, "c", kurrentdb.NoStream{}, event("A"))
	if _, err := readStream(t, db, "c", kurrentdb.ReadStreamOptions{}, 10); err != nil {
		t.Fatal(err)
	}
	_, err = db.MultiStreamAppend(ctx, slices.Values([]kurrentdb.AppendStreamRequest{{StreamName: "c", Events: slices.Values([]kurrentdb.EventData{event("B")}), ExpectedStreamState: kurrentdb.Any{}}}))
	wantCode(t, "MultiStreamAppend", err, kurrentdb.ErrorCodeUnsupportedFeature)
	_, err = db.Gossip(ctx)
	if err == nil {
		t.Fatal("gossip succeeded on a single-node test server")
	}

	calls := s.Calls()
	want := map[string]int{
		"/event_store.client.server_features.ServerFeatures/GetSupportedMethods": 1,
		"/event_store.client.streams.Streams/Append":                             1,
		"/event_store.client.streams.Streams/Read":                               1,
		"/event_store.client.gossip.Gossip/Read":                                 1,
	}
	for m, n := range want {
		if calls[m] != n {
			t.Errorf("calls[%s] = %d, want %d (all: %v)", m, calls[m], n, calls)
		}
	}
	if len(calls) != len(want) {
		t.Errorf("unexpected calls: %v", calls)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	s, err := esdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	db := newClient(t, s)
	sub, err := db.SubscribeToAll(context.Background(), kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	ch := subscriptionEvents(t, sub)
	if next(t, ch).CaughtUp == nil {
		t.Fatal("want CaughtUp")
	}
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
	if next(t, ch).SubscriptionDropped == nil {
		t.Fatal("want the subscription dropped after Close")
	}
	s.Close() // idempotent
}
