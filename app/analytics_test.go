package app

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// flakyAppender fails its first fails appends, then keeps what it is given.
type flakyAppender struct {
	mu     sync.Mutex
	fails  int
	events []eventstore.EventData
	ids    map[uuid.UUID]bool
}

func (f *flakyAppender) Append(_ context.Context, _ string, _ eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return eventstore.AppendResult{}, errors.New("store unavailable")
	}
	if f.ids == nil {
		f.ids = map[uuid.UUID]bool{}
	}
	for _, e := range evs {
		if !f.ids[e.ID] { // an idempotent store: the same ID is written once
			f.ids[e.ID] = true
			f.events = append(f.events, e)
		}
	}
	return eventstore.AppendResult{Position: eventstore.Position{Commit: uint64(len(f.events)), Prepare: uint64(len(f.events))}}, nil
}

// totals folds what was appended: calls per application and route.
func (f *flakyAppender) totals(t *testing.T) map[string]int64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int64{}
	for _, e := range f.events {
		ev, err := application.CallEvents.Decode(e.Type, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		rec := ev.(application.CallsRecorded)
		if err := rec.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, r := range rec.Rows {
			out[r.Application+" "+r.Route] += r.Calls
		}
	}
	return out
}

func TestCallRecorderCountsConcurrentCallsOnce(t *testing.T) {
	store := &flakyAppender{fails: 1}
	r, err := NewCallRecorder(CallRecorderConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	apps := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	record := func(n int) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range n {
					r.Record(Call{Application: apps[(g+i)%3], Counterparty: "cp", Product: application.ProductReadOnly,
						Route: []string{"GET /a", "GET /b"}[i%2], Status: 200, Latency: time.Duration(i) * time.Microsecond, At: t0})
				}
			})
		}
		wg.Wait()
	}
	record(300)
	// The first flush fails: nothing is lost, and the retry appends the same events (same IDs) once.
	if _, err := r.Flush(context.Background()); err == nil {
		t.Fatal("flush over a failing store succeeded")
	}
	record(300) // more calls meanwhile
	if _, err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, n := range store.totals(t) {
		sum += n
	}
	if sum != 2*8*300 || r.Flushed() != 2*8*300 {
		t.Fatalf("%d calls appended, %d flushed; want %d", sum, r.Flushed(), 2*8*300)
	}
	if r.Pending() != 0 {
		t.Fatal("rows left after a flush")
	}
	if _, err := r.Flush(context.Background()); err != nil || len(store.events) != 2 {
		t.Fatalf("an empty flush appended: %d events, %v", len(store.events), err)
	}
}

func TestCallRecorderSplitsHoursAndBoundsEvents(t *testing.T) {
	store := &flakyAppender{}
	r, _ := NewCallRecorder(CallRecorderConfig{Store: store})
	app := uuid.New()
	for i := range application.MaxCallRows + 10 {
		r.Record(Call{Application: app, Product: application.ProductCustomers, Route: "GET /r", Status: 200 + i, At: t0})
	}
	r.Record(Call{Application: app, Product: application.ProductCustomers, Route: "GET /r", Status: 200, At: t0.Add(time.Hour)})
	if _, err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(store.events) != 3 { // two for the first hour (500 + 10 rows), one for the next
		t.Fatalf("%d events", len(store.events))
	}
}

// TestCallRecorderRunFlushesOnStopAndAnalyticsSurviveRestart: stopping the recorder writes the last counts,
// and a read model rebuilt from the store over again shows the same figures.
func TestCallRecorderRunFlushesOnStopAndAnalyticsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	store, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewCallRecorder(CallRecorderConfig{Store: store, Interval: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	app := uuid.New()
	for i := range 25 {
		status := 200
		if i%5 == 0 {
			status = 503
		}
		r.Record(Call{Application: app, Counterparty: bankOne.String(), Product: application.ProductAccounts, Route: "GET /accounts",
			Status: status, Latency: 3 * time.Millisecond, At: t0})
	}
	cancel()
	<-done
	if r.Flushed() != 25 {
		t.Fatalf("flushed %d on stop", r.Flushed())
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process over the same file.
	store, err = bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	model := projections.NewApplications(0)
	runner, err := projections.NewRunner(store, projections.Options{}, model)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan struct{})
	go func() { defer close(rdone); _ = runner.Run(rctx) }()
	defer func() { rcancel(); <-rdone }()
	if err := runner.WaitCaughtUp(rctx); err != nil {
		t.Fatal(err)
	}
	rep, err := model.Calls(rctx, projections.CallQuery{Counterparty: bankOne.String(), Application: app.String(), From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Calls != 25 || rep.Totals.ServerErrors != 5 || rep.Totals.Percentile(0.99) != 5*time.Millisecond {
		t.Fatalf("after restart %+v", rep.Totals)
	}
	if got := model.MonthCalls(app.String(), application.ProductAccounts, t0); got != 25 {
		t.Fatalf("month calls %d", got)
	}
}

func BenchmarkCallRecorderRecord(b *testing.B) {
	r, _ := NewCallRecorder(CallRecorderConfig{Store: &flakyAppender{}})
	c := Call{Application: uuid.New(), Counterparty: "cp", Product: application.ProductReadOnly, Route: "GET /api/v1/counterparty/{counterparty_guid}/customers",
		Status: 200, Latency: time.Millisecond, At: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		r.Record(c)
	}
}
