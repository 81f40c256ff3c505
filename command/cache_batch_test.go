package command_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/eventstore"
)

// gatedStore lets a test hold an append (the one whose number is hold) until release is closed, and fail
// one (the one numbered fail) with failErr, counting the appends that reach it.
type gatedStore struct {
	command.Store
	appends  atomic.Int32
	hold     int32
	held     chan struct{} // closed when the held append arrives
	release  chan struct{}
	fail     int32
	failErr  error
	holdOnce sync.Once
}

func newGatedStore(hold, fail int32) *gatedStore {
	return &gatedStore{Store: testStore, hold: hold, fail: fail, held: make(chan struct{}), release: make(chan struct{}),
		failErr: errors.New("disk on fire")}
}

func (s *gatedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	n := s.appends.Add(1)
	if n == s.hold {
		s.holdOnce.Do(func() { close(s.held) })
		<-s.release
	}
	if n == s.fail {
		return eventstore.AppendResult{}, s.failErr
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

// queueBehind starts one command whose append the store holds, then n more on the same stream, and waits
// until all n are queued behind it.
func queueBehind[C any](t *testing.T, cache *command.Cache[wallet, any, walletEvent], gs *gatedStore, stream string, first C, rest []C) (firstErr chan error, results []commandOutcome) {
	t.Helper()
	ctx := testContext(t)
	firstErr = make(chan error, 1)
	go func() {
		_, err := cache.Handle(ctx, stream, any(first), command.Envelope{})
		firstErr <- err
	}()
	<-gs.held
	results = make([]commandOutcome, len(rest))
	var wg sync.WaitGroup
	for i, cmd := range rest {
		wg.Go(func() {
			res, err := cache.Handle(ctx, stream, any(cmd), command.Envelope{MaxAttempts: 3})
			results[i] = commandOutcome{res, err}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for cache.Queued(stream) < len(rest) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d commands queued", cache.Queued(stream), len(rest))
		}
		time.Sleep(time.Millisecond)
	}
	close(gs.release)
	wg.Wait()
	return firstErr, results
}

type commandOutcome struct {
	res command.Result[walletEvent]
	err error
}

func TestCacheWritesAQueueInOneAppendAndAnswersEachCommand(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{1000})
	gs := newGatedStore(1, 0)
	cache, err := command.NewCache[wallet, any, walletEvent](gs, walletDecider, walletEvents, 10)
	if err != nil {
		t.Fatal(err)
	}
	// 990 is left after the first; 60 withdrawals of 20 queue behind it: 49 fit, 11 do not, and a no-op
	// deposit and an invalid one ride along with their own answers.
	rest := make([]any, 0, 62)
	for range 60 {
		rest = append(rest, Withdraw{AmountMinor: 20})
	}
	rest = append(rest, Deposit{AmountMinor: 0}, Deposit{AmountMinor: -5})
	firstErr, out := queueBehind(t, cache, gs, stream, any(Withdraw{AmountMinor: 10}), rest)
	if err := <-firstErr; err != nil {
		t.Fatal(err)
	}
	var ok, refused int
	revisions := map[uint64]bool{}
	for i, o := range out {
		var insufficient *InsufficientFunds
		switch {
		case i == 60:
			if o.err != nil || len(o.res.Events) != 0 || o.res.Position != (eventstore.Position{}) {
				t.Fatalf("no-op deposit: %+v, %v", o.res, o.err)
			}
		case i == 61:
			if !errors.Is(o.err, errInvalidAmount) {
				t.Fatalf("invalid deposit: %v", o.err)
			}
		case o.err == nil:
			ok++
			if len(o.res.Events) != 1 || o.res.Position == (eventstore.Position{}) || revisions[o.res.Revision] {
				t.Fatalf("withdrawal %d: %+v", i, o.res)
			}
			revisions[o.res.Revision] = true
		case errors.As(o.err, &insufficient):
			refused++
		default:
			t.Fatalf("withdrawal %d: %v", i, o.err)
		}
	}
	if ok != 49 || refused != 11 {
		t.Fatalf("%d passed, %d refused; want 49 and 11", ok, refused)
	}
	if n := gs.appends.Load(); n != 2 {
		t.Fatalf("%d appends; want 2 (the first command, then the whole queue)", n)
	}
	for rev := uint64(2); rev <= 50; rev++ {
		if !revisions[rev] {
			t.Fatalf("no withdrawal answered with revision %d: %v", rev, revisions)
		}
	}
	if w := walletOf(t, stream); w.BalanceMinor != 10 || w.Events != 51 {
		t.Fatalf("stored wallet %+v", w)
	}
}

func TestCacheFailsAWholeQueueWhoseAppendFailsAndRecovers(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{100})
	gs := newGatedStore(1, 2)
	cache, err := command.NewCache[wallet, any, walletEvent](gs, walletDecider, walletEvents, 10)
	if err != nil {
		t.Fatal(err)
	}
	rest := []any{Withdraw{AmountMinor: 30}, Withdraw{AmountMinor: 30}, Withdraw{AmountMinor: 30}}
	firstErr, out := queueBehind(t, cache, gs, stream, any(Withdraw{AmountMinor: 10}), rest)
	if err := <-firstErr; err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if !errors.Is(o.err, gs.failErr) {
			t.Fatalf("command %d: %+v, %v; want the append's error", i, o.res, o.err)
		}
	}
	// The cached state had run ahead of the store; the next command must see the store's 90, not 0.
	res, err := cache.Handle(testContext(t), stream, any(Withdraw{AmountMinor: 90}), command.Envelope{})
	if err != nil {
		t.Fatalf("after the failed append: %v", err)
	}
	if w := walletOf(t, stream); w.BalanceMinor != 0 || res.Revision != 2 {
		t.Fatalf("stored wallet %+v, revision %d", w, res.Revision)
	}
}

func TestCacheDecidesAQueueAgainAfterAnotherWriter(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{50})
	gs := newGatedStore(2, 0) // hold the queue's append, not the first command's
	cache, err := command.NewCache[wallet, any, walletEvent](gs, walletDecider, walletEvents, 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := cache.Handle(ctx, stream, any(Withdraw{AmountMinor: 10}), command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	out := make([]error, 4)
	for i := range out {
		wg.Go(func() {
			_, out[i] = cache.Handle(ctx, stream, any(Withdraw{AmountMinor: 20}), command.Envelope{MaxAttempts: 3})
		})
	}
	<-gs.held
	// Another process deposits while the queue's append is held: that append conflicts, and the queue is
	// decided again on 40 + 100.
	given(t, stream, Deposited{100})
	close(gs.release)
	wg.Wait()
	for i, err := range out {
		if err != nil {
			t.Fatalf("withdrawal %d: %v", i, err)
		}
	}
	if w := walletOf(t, stream); w.BalanceMinor != 60 {
		t.Fatalf("stored wallet %+v", w)
	}
}

func TestCacheRecentGivesTheLastConfirmedStateWithoutWaiting(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{70})
	gs := newGatedStore(2, 0)
	cache, err := command.NewCache[wallet, any, walletEvent](gs, walletDecider, walletEvents, 10)
	if err != nil {
		t.Fatal(err)
	}
	cache.KeepSnapshots(func(w wallet) wallet { return w })
	if _, ok := cache.Recent(stream, time.Minute); ok {
		t.Fatal("a snapshot of a stream the cache never read")
	}
	ctx := testContext(t)
	if _, err := cache.Handle(ctx, stream, any(Withdraw{AmountMinor: 20}), command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	if w, ok := cache.Recent(stream, time.Minute); !ok || w.BalanceMinor != 50 {
		t.Fatalf("recent %+v, %v; want 50", w, ok)
	}
	// A write held in the store: Recent answers at once with the confirmed 50, not the decided 40.
	done := make(chan error, 1)
	go func() {
		_, err := cache.Handle(ctx, stream, any(Withdraw{AmountMinor: 10}), command.Envelope{})
		done <- err
	}()
	<-gs.held
	if w, ok := cache.Recent(stream, time.Minute); !ok || w.BalanceMinor != 50 {
		t.Fatalf("recent during a write %+v, %v; want the confirmed 50", w, ok)
	}
	close(gs.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w, ok := cache.Recent(stream, time.Minute); !ok || w.BalanceMinor != 40 {
		t.Fatalf("recent after the write %+v, %v; want 40", w, ok)
	}
	if _, ok := cache.Recent(stream, 0); ok {
		t.Fatal("a snapshot older than maxAge")
	}
}
