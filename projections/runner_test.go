package projections_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
	"github.com/kazna-ledger/kazna/projections"
)

// testStore is one in-process KurrentDB shared by the tests; each test writes under its own stream prefix
// and its projections select only that prefix.
var testStore eventstore.Store

func TestMain(m *testing.M) {
	srv, err := esdbtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := esdb.Open(srv.URL())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		srv.Close()
		os.Exit(1)
	}
	testStore = s
	code := m.Run()
	s.Close()
	srv.Close()
	os.Exit(code)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newPrefix() string { return "t" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12] + "-" }

func write(t *testing.T, stream, eventType string, n int) eventstore.AppendResult {
	t.Helper()
	data := make([]eventstore.EventData, n)
	for i := range data {
		data[i] = eventstore.EventData{ID: uuid.New(), Type: eventType, Data: []byte(`{}`)}
	}
	res, err := testStore.Append(testContext(t), stream, eventstore.Any{}, data...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

// streamCounter is a read model that counts events per stream. It also notes any event applied twice or
// out of log order, which the Runner must never do.
type streamCounter struct {
	name   string
	filter eventstore.Filter
	fail   func(eventstore.RecordedEvent) error // nil: never fails

	mu       sync.RWMutex
	counts   map[string]int
	seen     map[uuid.UUID]bool
	last     eventstore.Position
	problems []string
}

func newCounter(name string, filter eventstore.Filter) *streamCounter {
	return &streamCounter{name: name, filter: filter, counts: map[string]int{}, seen: map[uuid.UUID]bool{}}
}

func (c *streamCounter) Name() string              { return c.name }
func (c *streamCounter) Filter() eventstore.Filter { return c.filter }

func (c *streamCounter) Apply(ev eventstore.RecordedEvent) error {
	if c.fail != nil {
		if err := c.fail(ev); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[ev.ID] {
		c.problems = append(c.problems, fmt.Sprintf("%s@%d applied twice", ev.Stream, ev.Revision))
	}
	if !c.last.Less(ev.Position) {
		c.problems = append(c.problems, fmt.Sprintf("%v applied after %v", ev.Position, c.last))
	}
	c.seen[ev.ID] = true
	c.last = ev.Position
	c.counts[ev.Stream]++
	return nil
}

func (c *streamCounter) Count(stream string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.counts[stream]
}

func (c *streamCounter) Total() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.seen)
}

func (c *streamCounter) check(t *testing.T) {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.problems {
		t.Errorf("%s: %s", c.name, p)
	}
}

// ran is the outcome of a Run: err is set once done is closed.
type ran struct {
	done chan struct{}
	err  error
}

// start runs r until the test ends.
func start(t *testing.T, r *projections.Runner) *ran {
	ctx, cancel := context.WithCancel(context.Background())
	res := &ran{done: make(chan struct{})}
	go func() {
		defer close(res.done)
		res.err = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-res.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of its context ending")
		}
	})
	return res
}

func newRunner(t *testing.T, s projections.Subscriber, opts projections.Options, ps ...projections.Projection) *projections.Runner {
	t.Helper()
	r, err := projections.NewRunner(s, opts, ps...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCatchUpThenLive(t *testing.T) {
	prefix := newPrefix()
	write(t, prefix+"a", "Opened", 3)
	write(t, prefix+"b", "Opened", 2)
	write(t, "other-"+prefix, "Opened", 1) // not selected
	c := newCounter("counter", eventstore.Filter{StreamPrefixes: []string{prefix}})
	r := newRunner(t, testStore, projections.Options{}, c)
	start(t, r)

	if err := r.WaitCaughtUp(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if !r.CaughtUp() || c.Count(prefix+"a") != 3 || c.Count(prefix+"b") != 2 || c.Total() != 5 {
		t.Fatalf("after catch-up: caught up %v, a=%d b=%d total %d; want true 3 2 5", r.CaughtUp(), c.Count(prefix+"a"), c.Count(prefix+"b"), c.Total())
	}

	live := write(t, prefix+"a", "Moved", 4)
	if err := r.WaitFor(testContext(t), live.Position); err != nil {
		t.Fatal(err)
	}
	// Read your writes: once WaitFor returns, the read model shows the write.
	if c.Count(prefix+"a") != 7 {
		t.Fatalf("after WaitFor: a=%d, want 7", c.Count(prefix+"a"))
	}
	if cp := r.Checkpoint(); cp.Less(live.Position) {
		t.Fatalf("checkpoint %v is before the applied write at %v", cp, live.Position)
	}
	c.check(t)
}

func TestEachProjectionSeesOnlyItsEvents(t *testing.T) {
	prefix := newPrefix()
	byStream := newCounter("by-stream", eventstore.Filter{StreamPrefixes: []string{prefix + "acct-"}})
	byType := newCounter("by-type", eventstore.Filter{EventTypePrefixes: []string{prefix + "Payment"}})
	r := newRunner(t, testStore, projections.Options{}, byStream, byType)
	start(t, r)

	write(t, prefix+"acct-1", "Opened", 2)
	write(t, prefix+"pay-1", prefix+"PaymentCreated", 1)
	last := write(t, prefix+"misc-1", "Noise", 3)

	if err := r.WaitFor(testContext(t), last.Position); err != nil {
		t.Fatal(err)
	}
	if byStream.Total() != 2 || byStream.Count(prefix+"acct-1") != 2 || byType.Total() != 1 || byType.Count(prefix+"pay-1") != 1 {
		t.Fatalf("by-stream saw %d, by-type %d; want 2 and 1", byStream.Total(), byType.Total())
	}
	byStream.check(t)
	byType.check(t)
}

func TestUnionOfFilters(t *testing.T) {
	s := func(p ...string) eventstore.Filter { return eventstore.Filter{StreamPrefixes: p} }
	ty := func(p ...string) eventstore.Filter { return eventstore.Filter{EventTypePrefixes: p} }
	for _, tc := range []struct {
		in   []eventstore.Filter
		want eventstore.Filter
	}{
		{[]eventstore.Filter{s("a-", "b-"), s("b-", "c-")}, s("a-", "b-", "c-")},
		{[]eventstore.Filter{ty("X"), ty("Y")}, ty("X", "Y")},
		{[]eventstore.Filter{s("a-"), ty("X")}, eventstore.Filter{}},
		{[]eventstore.Filter{s("a-"), {}}, eventstore.Filter{}},
	} {
		if got := projections.Union(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("union of %+v = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestWaitForIsBounded(t *testing.T) {
	prefix := newPrefix()
	c := newCounter("counter", eventstore.Filter{StreamPrefixes: []string{prefix}})
	const maxWait = 150 * time.Millisecond
	r := newRunner(t, testStore, projections.Options{MaxWait: maxWait}, c)
	start(t, r)
	unreachable := eventstore.Position{Commit: 1 << 62, Prepare: 1 << 62}

	if err := r.WaitFor(testContext(t), eventstore.StartPosition); err != nil {
		t.Fatalf("waiting for the start of the log: %v", err)
	}

	began := time.Now()
	err := r.WaitFor(testContext(t), unreachable)
	if took := time.Since(began); !errors.Is(err, projections.ErrWaitTimeout) || took < maxWait || took > maxWait+2*time.Second {
		t.Fatalf("got %v after %v; want ErrWaitTimeout after about %v", err, took, maxWait)
	}

	ctx, cancel := context.WithTimeout(testContext(t), 10*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, unreachable); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, projections.ErrWaitTimeout) {
		t.Fatalf("caller's deadline first: want context.DeadlineExceeded, got %v", err)
	}
	if n := projections.Waiting(r); n != 0 {
		t.Fatalf("%d waiters left behind", n)
	}
}

func TestManyConcurrentWaiters(t *testing.T) {
	const writers, strays = 100, 100
	prefix := newPrefix()
	c := newCounter("counter", eventstore.Filter{StreamPrefixes: []string{prefix}})
	// A MaxWait far above the time an apply takes, so that a waiter that is never woken shows up as slow
	// rather than passing on the timeout.
	const maxWait, wakeWithin = 10 * time.Second, 3 * time.Second
	r := newRunner(t, testStore, projections.Options{MaxWait: maxWait}, c)
	start(t, r)
	ctx := testContext(t)
	unreachable := eventstore.Position{Commit: 1 << 62}

	var wg sync.WaitGroup
	errs := make(chan error, writers+strays)
	for i := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("%s%d", prefix, i)
			res, err := testStore.Append(ctx, stream, eventstore.NoStream{}, eventstore.EventData{ID: uuid.New(), Type: "Opened", Data: []byte(`{}`)})
			if err == nil {
				began := time.Now()
				err = r.WaitFor(ctx, res.Position)
				if took := time.Since(began); err == nil && took > wakeWithin {
					err = fmt.Errorf("%s: WaitFor took %v, was its waiter woken?", stream, took)
				}
			}
			if err == nil && c.Count(stream) != 1 {
				err = fmt.Errorf("%s: WaitFor returned before its event was applied", stream)
			}
			errs <- err
		})
	}
	strayCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	for range strays {
		wg.Go(func() {
			if err := r.WaitFor(strayCtx, unreachable); !errors.Is(err, context.DeadlineExceeded) {
				errs <- fmt.Errorf("stray waiter: want its deadline, got %v", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c.Total() != writers {
		t.Fatalf("applied %d events, want %d", c.Total(), writers)
	}
	if n := projections.Waiting(r); n != 0 {
		t.Fatalf("%d waiters left behind", n)
	}
	c.check(t)
}

func TestTooManyWaitersAreRefused(t *testing.T) {
	c := newCounter("counter", eventstore.Filter{StreamPrefixes: []string{newPrefix()}})
	r := newRunner(t, testStore, projections.Options{MaxWaiters: 1, MaxWait: 5 * time.Second}, c)
	ctx, cancel := context.WithCancel(testContext(t))
	first := make(chan error, 1)
	go func() { first <- r.WaitFor(ctx, eventstore.Position{Commit: 1 << 62}) }()
	for projections.Waiting(r) == 0 { // only to order the two calls of this test
		time.Sleep(time.Millisecond)
	}
	if err := r.WaitFor(ctx, eventstore.Position{Commit: 1 << 62}); !errors.Is(err, projections.ErrTooManyWaiters) {
		t.Fatalf("second waiter: want ErrTooManyWaiters, got %v", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first waiter: want context.Canceled, got %v", err)
	}
}

// dropsOnceSubscriber drops its first subscription after it has delivered afterEvents events, as a broken
// connection would, and records where every subscription started.
type dropsOnceSubscriber struct {
	projections.Subscriber
	afterEvents int

	mu    sync.Mutex
	froms []eventstore.Position
}

var errDropped = errors.New("connection reset (test)")

func (s *dropsOnceSubscriber) SubscribeAll(ctx context.Context, from eventstore.Position, f eventstore.Filter) (eventstore.Subscription, error) {
	s.mu.Lock()
	s.froms = append(s.froms, from)
	first := len(s.froms) == 1
	s.mu.Unlock()
	sub, err := s.Subscriber.SubscribeAll(ctx, from, f)
	if err != nil || !first {
		return sub, err
	}
	return &droppingSubscription{Subscription: sub, left: s.afterEvents}, nil
}

func (s *dropsOnceSubscriber) starts() []eventstore.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]eventstore.Position(nil), s.froms...)
}

type droppingSubscription struct {
	eventstore.Subscription
	left int
}

func (s *droppingSubscription) Next(ctx context.Context) (eventstore.Message, error) {
	if s.left == 0 {
		return eventstore.Message{}, errDropped
	}
	m, err := s.Subscription.Next(ctx)
	if err == nil && m.Kind == eventstore.EventAppeared {
		s.left--
	}
	return m, err
}

// syncBuffer is a bytes.Buffer the runner's logger and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestDroppedSubscriptionResumesWithoutRepeats(t *testing.T) {
	prefix := newPrefix()
	var evs []eventstore.RecordedEvent
	write(t, prefix+"a", "Opened", 5)
	evs, err := testStore.ReadStream(testContext(t), prefix+"a", eventstore.Forwards, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	c := newCounter("counter", eventstore.Filter{StreamPrefixes: []string{prefix}})
	sub := &dropsOnceSubscriber{Subscriber: testStore, afterEvents: 2}
	var logs syncBuffer
	r := newRunner(t, sub, projections.Options{RetryMin: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, c)
	start(t, r)

	if err := r.WaitFor(testContext(t), evs[4].Position); err != nil {
		t.Fatal(err)
	}
	last := write(t, prefix+"a", "Moved", 3)
	if err := r.WaitFor(testContext(t), last.Position); err != nil {
		t.Fatal(err)
	}

	if c.Count(prefix+"a") != 8 {
		t.Fatalf("applied %d events, want 8", c.Count(prefix+"a"))
	}
	c.check(t)
	starts := sub.starts()
	if len(starts) != 2 || starts[0] != eventstore.StartPosition || starts[1] != evs[1].Position {
		t.Fatalf("subscribed from %v; want from the start, then after the second event (%v)", starts, evs[1].Position)
	}
	if !strings.Contains(logs.String(), "subscription dropped") || !strings.Contains(logs.String(), errDropped.Error()) {
		t.Fatalf("the drop was not logged: %q", logs.String())
	}
}

// unreachableSubscriber is a store that refuses every subscription.
type unreachableSubscriber struct{ calls atomic.Int32 }

var errUnreachable = errors.New("dial tcp: connection refused (test)")

func (s *unreachableSubscriber) SubscribeAll(context.Context, eventstore.Position, eventstore.Filter) (eventstore.Subscription, error) {
	s.calls.Add(1)
	return nil, errUnreachable
}

func TestUnreachableStoreIsGivenUpOn(t *testing.T) {
	s := &unreachableSubscriber{}
	r := newRunner(t, s, projections.Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond, MaxFailures: 3, Logger: slog.New(slog.DiscardHandler)}, newCounter("counter", eventstore.Filter{}))

	err := r.Run(testContext(t))

	if !errors.Is(err, errUnreachable) || s.calls.Load() != 4 {
		t.Fatalf("got %v after %d subscriptions; want errUnreachable after 4", err, s.calls.Load())
	}
	if err := r.WaitFor(testContext(t), eventstore.Position{Commit: 1}); !errors.Is(err, projections.ErrStopped) || !errors.Is(err, errUnreachable) {
		t.Fatalf("WaitFor on a stopped runner: want ErrStopped with the cause, got %v", err)
	}
	if err := r.Run(testContext(t)); !errors.Is(err, projections.ErrAlreadyRun) {
		t.Fatalf("second Run: want ErrAlreadyRun, got %v", err)
	}
}

func TestFailingProjectionStopsTheRunner(t *testing.T) {
	errPoison := errors.New("cannot apply poison")
	for name, fail := range map[string]func(eventstore.RecordedEvent) error{
		"error": func(ev eventstore.RecordedEvent) error {
			if ev.Type == "Poison" {
				return errPoison
			}
			return nil
		},
		"panic": func(ev eventstore.RecordedEvent) error {
			if ev.Type == "Poison" {
				var m map[string]int
				m["boom"]++ // a projection bug: assignment to a nil map
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			prefix := newPrefix()
			c := newCounter("fragile", eventstore.Filter{StreamPrefixes: []string{prefix}})
			c.fail = fail
			write(t, prefix+"a", "Opened", 1)
			poison := write(t, prefix+"a", "Poison", 1)
			r := newRunner(t, testStore, projections.Options{Logger: slog.New(slog.DiscardHandler)}, c)
			run := start(t, r)

			select {
			case <-run.done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not stop on a failing projection")
			}
			err := run.err
			var ae *projections.ApplyError
			if !errors.As(err, &ae) || ae.Projection != "fragile" || ae.Position != poison.Position || ae.Revision != 1 {
				t.Fatalf("want an ApplyError of fragile at %v, got %v", poison.Position, err)
			}
			if name == "error" && !errors.Is(err, errPoison) {
				t.Fatalf("the projection's error is lost: %v", err)
			}
			if c.Count(prefix+"a") != 1 || !r.Checkpoint().Less(poison.Position) {
				t.Fatalf("count %d, checkpoint %v: want 1 and before the poison at %v", c.Count(prefix+"a"), r.Checkpoint(), poison.Position)
			}
			if err := r.WaitFor(testContext(t), poison.Position); !errors.Is(err, projections.ErrStopped) {
				t.Fatalf("WaitFor after the failure: want ErrStopped, got %v", err)
			}
			if err := r.WaitCaughtUp(testContext(t)); !errors.Is(err, projections.ErrStopped) {
				t.Fatalf("WaitCaughtUp after the failure: want ErrStopped, got %v", err)
			}
			var stopped *projections.ApplyError
			if err := r.Stopped(); !errors.As(err, &stopped) || r.CaughtUp() {
				t.Fatalf("Stopped() after the failure = %v (caught up %v), want the ApplyError and not caught up", err, r.CaughtUp())
			}
		})
	}
}

func TestNewRunnerRefusesBadInput(t *testing.T) {
	ok := newCounter("a", eventstore.Filter{})
	for name, build := range map[string]func() (*projections.Runner, error){
		"no store":      func() (*projections.Runner, error) { return projections.NewRunner(nil, projections.Options{}, ok) },
		"no projection": func() (*projections.Runner, error) { return projections.NewRunner(testStore, projections.Options{}) },
		"nil projection": func() (*projections.Runner, error) {
			return projections.NewRunner(testStore, projections.Options{}, ok, nil)
		},
		"same name": func() (*projections.Runner, error) {
			return projections.NewRunner(testStore, projections.Options{}, ok, newCounter("a", eventstore.Filter{}))
		},
		"empty name": func() (*projections.Runner, error) {
			return projections.NewRunner(testStore, projections.Options{}, newCounter("", eventstore.Filter{}))
		},
		"mixed filter": func() (*projections.Runner, error) {
			return projections.NewRunner(testStore, projections.Options{}, newCounter("m", eventstore.Filter{StreamPrefixes: []string{"a"}, EventTypePrefixes: []string{"B"}}))
		},
		"negative wait": func() (*projections.Runner, error) {
			return projections.NewRunner(testStore, projections.Options{MaxWait: -1}, ok)
		},
		"inverted backoff": func() (*projections.Runner, error) {
			return projections.NewRunner(testStore, projections.Options{RetryMin: time.Second, RetryMax: time.Millisecond}, ok)
		},
	} {
		if r, err := build(); !errors.Is(err, projections.ErrInvalid) || r != nil {
			t.Errorf("%s: want ErrInvalid and no runner, got %v", name, err)
		}
	}
}

// TestWaitForAnUnselectedWrite waits, on the embedded store, for the position of an event no projection
// selects (a request whose last write is a uniqueness claim): the store reports that the log passed it, so
// the wait ends long before MaxWait rather than timing out.
func TestWaitForAnUnselectedWrite(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newCounter("counter", eventstore.Filter{EventTypePrefixes: []string{"Wanted"}})
	r := newRunner(t, s, projections.Options{MaxWait: 5 * time.Second}, c)
	start(t, r)
	if err := r.WaitCaughtUp(testContext(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		res, err := s.Append(testContext(t), "claim-x", eventstore.Any{},
			eventstore.EventData{ID: uuid.New(), Type: "Claimed", Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.WaitFor(testContext(t), res.Position); err != nil {
			t.Fatalf("wait %d for an unselected write at %v: %v", i, res.Position, err)
		}
	}
	if c.Total() != 0 {
		t.Fatalf("the projection applied %d unselected events", c.Total())
	}
}
