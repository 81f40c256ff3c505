package command_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/eventstore"
)

// countingStore counts the events read, to show that a cached stream is not read again from its start.
type countingStore struct {
	command.Store
	read atomic.Int64
}

func (s *countingStore) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	evs, err := s.Store.ReadStream(ctx, stream, dir, from, count)
	s.read.Add(int64(len(evs)))
	return evs, err
}

func TestCacheSerialisesOneProcessWithoutConflicts(t *testing.T) {
	const writers, amountMinor = 200, 10
	stream := newStream("wallet")
	given(t, stream, Deposited{1000})
	cache, err := command.NewCache(testStore, walletDecider, walletEvents, 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	var wg sync.WaitGroup
	var ok, refused, extra atomic.Int32
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			// One attempt each: within a process the cache decides them one after another, so none loses a race.
			res, err := cache.Handle(ctx, stream, Withdraw{AmountMinor: amountMinor}, command.Envelope{MaxAttempts: 1})
			var e *InsufficientFunds
			switch {
			case err == nil:
				ok.Add(1)
				extra.Add(int32(res.Attempts - 1))
			case errors.As(err, &e):
				refused.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ok.Load() != 100 || refused.Load() != 100 || extra.Load() != 0 {
		t.Fatalf("%d passed, %d refused, %d extra attempts; want 100, 100, 0", ok.Load(), refused.Load(), extra.Load())
	}
	if w := walletOf(t, stream); w.BalanceMinor != 0 || w.Events != 101 {
		t.Fatalf("wallet %+v", w)
	}
}

func TestCacheReadsOnlyNewEventsAndSeesOtherWriters(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{100}, Deposited{100}, Deposited{100})
	cs := &countingStore{Store: testStore}
	cache, err := command.NewCache(cs, walletDecider, walletEvents, 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := cache.Handle(ctx, stream, Withdraw{AmountMinor: 50}, command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	first := cs.read.Load()
	if first != 3 {
		t.Fatalf("first command read %d events, want 3", first)
	}
	// Another process writes behind the cache's back: the next decision sees it.
	given(t, stream, Deposited{1})
	if _, err := cache.Handle(ctx, stream, Withdraw{AmountMinor: 251}, command.Envelope{}); err != nil {
		t.Fatalf("the other writer's deposit was not seen: %v", err)
	}
	if got := cs.read.Load() - first; got != 1 {
		t.Fatalf("second command read %d events, want only the 1 new one", got)
	}
	var balance int64
	if err := cache.View(ctx, stream, func(w wallet) { balance = w.BalanceMinor }); err != nil || balance != 0 {
		t.Fatalf("view: balance %d, %v", balance, err)
	}
	if w := walletOf(t, stream); w.BalanceMinor != 0 {
		t.Fatalf("stored wallet %+v", w)
	}
}

func TestCacheEvictsAndStillDecidesRight(t *testing.T) {
	cache, err := command.NewCache(testStore, walletDecider, walletEvents, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	streams := []string{newStream("wallet"), newStream("wallet"), newStream("wallet")}
	for round := range 3 {
		for _, s := range streams {
			if _, err := cache.Handle(ctx, s, Deposit{AmountMinor: 10}, command.Envelope{}); err != nil {
				t.Fatalf("round %d %s: %v", round, s, err)
			}
		}
	}
	for _, s := range streams {
		if w := walletOf(t, s); w.BalanceMinor != 30 {
			t.Fatalf("%s: %+v", s, w)
		}
	}
}

// BenchmarkCacheNewStreams measures a cache that is full and keeps meeting new streams (every payment is a new
// stream): each new stream may evict. It must stay O(log n) per stream, not O(n).
func BenchmarkCacheNewStreams(b *testing.B) {
	cache, err := command.NewCache(testStore, walletDecider, walletEvents, 20_000)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := cache.View(ctx, fmt.Sprintf("wallet-bench-%d", i), func(wallet) {}); err != nil {
			b.Fatal(err)
		}
	}
}
