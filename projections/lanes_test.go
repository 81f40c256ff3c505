package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
)

// recorder is a projection that notes the positions it applied, and fails or panics on a chosen one.
type recorder struct {
	name    string
	filter  eventstore.Filter
	failAt  uint64 // commit position to fail on; 0: never
	panicky bool
	applied []uint64
}

func (p *recorder) Name() string              { return p.name }
func (p *recorder) Filter() eventstore.Filter { return p.filter }
func (p *recorder) Apply(ev eventstore.RecordedEvent) error {
	if ev.Position.Commit == p.failAt {
		if p.panicky {
			panic("boom")
		}
		return fmt.Errorf("%s refuses %d", p.name, ev.Position.Commit)
	}
	p.applied = append(p.applied, ev.Position.Commit)
	return nil
}

func recorders() []*recorder {
	return []*recorder{
		{name: "all"},
		{name: "alpha", filter: eventstore.Filter{EventTypePrefixes: []string{"Alpha"}}},
		{name: "beta", filter: eventstore.Filter{EventTypePrefixes: []string{"Beta"}}},
		{name: "alpha-beta", filter: eventstore.Filter{EventTypePrefixes: []string{"Alpha", "Beta"}}},
		{name: "gamma", filter: eventstore.Filter{EventTypePrefixes: []string{"Gamma"}}},
		// A filter by stream: the Runner then keeps no cache by type, and each lane asks the filters.
		{name: "beta-streams", filter: eventstore.Filter{StreamPrefixes: []string{"s-Beta"}}},
	}
}

func asProjections(rs []*recorder) []Projection {
	out := make([]Projection, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func event(commit uint64, typ string) eventstore.Message {
	return eventstore.Message{Kind: eventstore.EventAppeared, Event: &eventstore.RecordedEvent{ID: uuid.New(), Type: typ,
		Stream: "s-" + typ, Position: eventstore.Position{Commit: commit, Prepare: commit}}}
}

// testBatch is n events of three types, with a checkpoint, an event repeated from before it, and a caught-up
// message partway.
func testBatch(n int) []eventstore.Message {
	var out []eventstore.Message
	types := []string{"Alpha", "Beta", "Gamma", "Alpha", "Delta"}
	for i := 1; i <= n; i++ {
		out = append(out, event(uint64(10*i), types[i%len(types)]))
		switch i {
		case n / 3:
			out = append(out, eventstore.Message{Kind: eventstore.Checkpoint, Position: eventstore.Position{Commit: uint64(10*i + 5), Prepare: uint64(10*i + 5)}})
			out = append(out, event(uint64(10*i+3), "Alpha")) // at or before the checkpoint: skipped
		case n / 2:
			out = append(out, eventstore.Message{Kind: eventstore.CaughtUp, Position: eventstore.Position{Commit: uint64(10 * i), Prepare: uint64(10 * i)}})
		}
	}
	return out
}

func newTestRunner(t *testing.T, lanes int, ps []*recorder) *Runner {
	t.Helper()
	r, err := NewRunner(nopSubscriber{}, Options{Logger: slog.New(slog.DiscardHandler), Lanes: lanes}, asProjections(ps)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type nopSubscriber struct{}

func (nopSubscriber) SubscribeAll(context.Context, eventstore.Position, eventstore.Filter) (eventstore.Subscription, error) {
	return nil, errors.New("not subscribable")
}

// A batch shared out over lanes leaves every projection, the checkpoint and the caught-up flag exactly as the
// one-by-one loop does: same events, once each, in log order.
func TestLanesApplyABatchAsOneByOne(t *testing.T) {
	for _, lanes := range []int{2, 3, 8} {
		t.Run(fmt.Sprint(lanes), func(t *testing.T) {
			want, got := recorders(), recorders()
			one, shared := newTestRunner(t, 1, want), newTestRunner(t, lanes, got)
			if shared.lanes == nil || one.lanes != nil {
				t.Fatal("Lanes did not give lanes")
			}
			stop := shared.lanes.start()
			defer stop()
			var atOne, atShared eventstore.Position
			for round := range 40 { // enough batches for the lanes to be dealt again by cost
				batch := testBatch(600)
				for i := range batch {
					if batch[i].Event != nil {
						batch[i].Event.Position.Commit += uint64(round) * 100_000
					} else {
						batch[i].Position.Commit += uint64(round) * 100_000
					}
				}
				var err error
				if atOne, err = one.applyBatch(batch, atOne); err != nil {
					t.Fatal(err)
				}
				if atShared, err = shared.applyShared(batch, atShared); err != nil {
					t.Fatal(err)
				}
				if atOne != atShared || one.Checkpoint() != shared.Checkpoint() || one.CaughtUp() != shared.CaughtUp() {
					t.Fatalf("round %d: one by one at %v (checkpoint %v, caught up %v), lanes at %v (%v, %v)", round, atOne,
						one.Checkpoint(), one.CaughtUp(), atShared, shared.Checkpoint(), shared.CaughtUp())
				}
			}
			for i := range want {
				if len(want[i].applied) == 0 && want[i].name != "gamma" {
					t.Fatalf("%s applied nothing: the test is wrong", want[i].name)
				}
				if !slices.Equal(want[i].applied, got[i].applied) {
					t.Errorf("%s: lanes applied %d events, one by one %d", got[i].name, len(got[i].applied), len(want[i].applied))
				}
			}
			if !one.CaughtUp() {
				t.Error("the caught-up message was lost")
			}
		})
	}
}

// A projection that fails in a shared batch stops it at that event: the checkpoint stays before it, every
// projection has applied what it selects before it, the failing one nothing from it on, and the error names
// the first failure in log order (then in the Runner's order of projections).
func TestLanesStopAtTheFirstFailure(t *testing.T) {
	for _, panicky := range []bool{false, true} {
		ps := recorders()
		ps[1].failAt, ps[1].panicky = 3000, panicky // alpha fails on 3000
		ps[3].failAt = 3000                         // alpha-beta too, but comes later in the Runner's order
		ps[2].failAt = 4000                         // beta fails later: not the one reported
		r := newTestRunner(t, 2, ps)
		stop := r.lanes.start()
		at, err := r.applyShared(testBatch(600), eventstore.Position{})
		stop()
		var ae *ApplyError
		if !errors.As(err, &ae) || ae.Projection != "alpha" || ae.Position.Commit != 3000 || ae.Stream != "s-Alpha" {
			t.Fatalf("panicky %v: want alpha's failure at 3000, got %v", panicky, err)
		}
		if at.Commit != 2990 || r.Checkpoint().Commit != 2990 {
			t.Fatalf("checkpoint %v (returned %v), want 2990, the event before the failure", r.Checkpoint(), at)
		}
		for _, p := range ps {
			before := 0
			for _, c := range p.applied {
				if c < 3000 {
					before++
				}
			}
			want := 0
			for c := uint64(10); c < 3000; c += 10 {
				if typ := []string{"Alpha", "Beta", "Gamma", "Alpha", "Delta"}[(c/10)%5]; p.filter.Matches("s-"+typ, typ) {
					want++
				}
			}
			if before != want {
				t.Errorf("%s applied %d events before the failure, want %d", p.name, before, want)
			}
			if (p.name == "alpha" || p.name == "alpha-beta") && slices.ContainsFunc(p.applied, func(c uint64) bool { return c >= 3000 }) {
				t.Errorf("%s applied past its failure", p.name)
			}
		}
	}
}

// An event message without an event stops the batch there, after the events before it.
func TestLanesStopAtAMalformedMessage(t *testing.T) {
	ps := recorders()
	r := newTestRunner(t, 2, ps)
	batch := testBatch(600)
	batch = slices.Insert(batch, 400, eventstore.Message{Kind: eventstore.EventAppeared})
	last := batch[399].Event.Position
	stop := r.lanes.start()
	at, err := r.applyShared(batch, eventstore.Position{})
	stop()
	if !errors.Is(err, errNoEvent) || at != last || r.Checkpoint() != last {
		t.Fatalf("got %v at %v (checkpoint %v), want errNoEvent at %v", err, at, r.Checkpoint(), last)
	}
	if got := ps[0].applied[len(ps[0].applied)-1]; got != last.Commit {
		t.Fatalf("the last event applied is %d, want %d", got, last.Commit)
	}
}

// listSubscriber delivers a fixed log, then CaughtUp, then waits.
type listSubscriber struct{ log []eventstore.Message }

func (s listSubscriber) SubscribeAll(_ context.Context, from eventstore.Position, _ eventstore.Filter) (eventstore.Subscription, error) {
	i := 0
	for i < len(s.log) && !from.Less(s.log[i].Event.Position) {
		i++
	}
	return &listSubscription{log: s.log[i:]}, nil
}

type listSubscription struct {
	log  []eventstore.Message
	sent bool
}

func (s *listSubscription) Next(ctx context.Context) (eventstore.Message, error) {
	if len(s.log) > 0 {
		m := s.log[0]
		s.log = s.log[1:]
		return m, nil
	}
	if !s.sent {
		s.sent = true
		return eventstore.Message{Kind: eventstore.CaughtUp}, nil
	}
	<-ctx.Done()
	return eventstore.Message{}, ctx.Err()
}

func (s *listSubscription) Close() error { return nil }

// Through Run, a catch-up of many events with lanes gives every projection what one lane gives it.
func TestRunWithLanesCatchesUpLikeOneLane(t *testing.T) {
	var log []eventstore.Message
	types := []string{"Alpha", "Beta", "Gamma", "Delta"}
	for i := 1; i <= 50_000; i++ {
		log = append(log, event(uint64(i), types[i%len(types)]+strings.Repeat("x", i%3)))
	}
	results := map[int][]*recorder{}
	for _, lanes := range []int{1, 2} {
		ps := recorders()
		r, err := NewRunner(listSubscriber{log}, Options{Logger: slog.New(slog.DiscardHandler), Lanes: lanes}, asProjections(ps)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		if err := r.WaitCaughtUp(ctx); err != nil {
			t.Fatal(err)
		}
		if r.Checkpoint().Commit != 50_000 {
			t.Fatalf("lanes %d: caught up at %v", lanes, r.Checkpoint())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		results[lanes] = ps
		if lanes > 1 && r.lanes.batches == 0 {
			t.Error("no batch was large enough to share out: the test does not test lanes")
		}
	}
	for i, p := range results[2] {
		if want := results[1][i].applied; len(want) == 0 || !slices.Equal(p.applied, want) {
			t.Errorf("%s: two lanes applied %d events, one lane %d", p.name, len(p.applied), len(want))
		}
	}
}
