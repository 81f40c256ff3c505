package command_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

// testStore is one in-process KurrentDB shared by the tests; each test uses its own streams.
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

func newStream(kind string) string { return kind + "-" + uuid.NewString() }

// given appends past events to stream, as earlier commands would have.
func given(t *testing.T, stream string, events ...walletEvent) eventstore.AppendResult {
	t.Helper()
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, body, err := walletEvents.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		data[i] = eventstore.EventData{ID: uuid.New(), Type: typ, Data: body}
	}
	res, err := testStore.Append(testContext(t), stream, eventstore.Any{}, data...)
	if err != nil {
		t.Fatalf("given: %v", err)
	}
	return res
}

// stored returns every event of stream (none if it does not exist).
func stored(t *testing.T, stream string) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := testStore.ReadStream(testContext(t), stream, eventstore.Forwards, 0, eventstore.MaxReadCount)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return evs
}

// walletOf folds the stored stream, failing the test if the balance was ever below zero.
func walletOf(t *testing.T, stream string) wallet {
	t.Helper()
	var w wallet
	for _, ev := range stored(t, stream) {
		e, err := walletEvents.Decode(ev.Type, ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if w = evolveWallet(w, e); w.BalanceMinor < 0 {
			t.Fatalf("invariant broken: balance %d after %s@%d", w.BalanceMinor, stream, ev.Revision)
		}
	}
	return w
}

func handleWallet(ctx context.Context, s command.Store, stream string, cmd any, env command.Envelope) (command.Result[walletEvent], error) {
	return command.Handle(ctx, s, stream, walletDecider, walletEvents, cmd, env)
}

func TestHandleStartsAStream(t *testing.T) {
	stream := newStream("wallet")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	meta := eventstore.Metadata{Actor: "emp-1", Counterparty: "bank-1", CorrelationID: "corr-1", CausationID: "cause-1", RequestID: "req-1", Time: at}

	res, err := handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 100}, command.Envelope{Metadata: meta})

	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Events, []walletEvent{Deposited{100}}) || res.Revision != 0 || res.Replayed || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	evs := stored(t, stream)
	if len(evs) != 1 {
		t.Fatalf("stream has %d events, want 1", len(evs))
	}
	if res.Position != evs[0].Position || res.Position == eventstore.StartPosition {
		t.Fatalf("result position %v, stored event at %v", res.Position, evs[0].Position)
	}
	got := evs[0].Metadata
	if !got.Time.Equal(at) {
		t.Fatalf("metadata time %v, want %v", got.Time, at)
	}
	got.Time = at
	if got != meta || evs[0].Type != "Deposited" || string(evs[0].Data) != `{"amount_minor":100}` {
		t.Fatalf("stored %s %s %+v, want Deposited {\"amount_minor\":100} %+v", evs[0].Type, evs[0].Data, got, meta)
	}
}

func TestHandleAppendsAfterThePast(t *testing.T) {
	stream := newStream("wallet")
	past := given(t, stream, Deposited{100})

	res, err := handleWallet(testContext(t), testStore, stream, Withdraw{AmountMinor: 30}, command.Envelope{})

	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Events, []walletEvent{Withdrawn{30}}) || res.Revision != 1 || !past.Position.Less(res.Position) {
		t.Fatalf("result %+v after %+v", res, past)
	}
	if w := walletOf(t, stream); w.BalanceMinor != 70 || w.Events != 2 {
		t.Fatalf("wallet %+v, want balance 70 after 2 events", w)
	}
}

func TestDomainErrorPassesThroughAndWritesNothing(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{10})

	_, err := handleWallet(testContext(t), testStore, stream, Withdraw{AmountMinor: 20}, command.Envelope{})
	if e, ok := err.(*InsufficientFunds); !ok || *e != (InsufficientFunds{BalanceMinor: 10, AmountMinor: 20}) {
		t.Fatalf("want the decider's *InsufficientFunds{10 20} unwrapped, got %T %v", err, err)
	}
	_, err = handleWallet(testContext(t), testStore, stream, Withdraw{AmountMinor: -1}, command.Envelope{IdempotencyKey: "k"})
	if err != errInvalidAmount {
		t.Fatalf("want errInvalidAmount unwrapped, got %v", err)
	}
	if n := len(stored(t, stream)); n != 1 {
		t.Fatalf("a refused command wrote: stream has %d events, want 1", n)
	}
}

func TestNoEventsWritesNothing(t *testing.T) {
	stream := newStream("wallet")

	res, err := handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 0}, command.Envelope{IdempotencyKey: "k"})

	if err != nil || len(res.Events) != 0 || res.Position != eventstore.StartPosition {
		t.Fatalf("got %+v, %v; want no events, zero position", res, err)
	}
	if evs := stored(t, stream); evs != nil {
		t.Fatalf("stream has %d events, want none", len(evs))
	}
}

// writerAheadStore lets another writer append (ahead) just before the first append through it, so that the
// append loses the race for the stream deterministically.
type writerAheadStore struct {
	command.Store
	ahead   func() error
	once    sync.Once
	appends atomic.Int32
}

func (s *writerAheadStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	var err error
	s.once.Do(func() { err = s.ahead() })
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	s.appends.Add(1)
	return s.Store.Append(ctx, stream, expected, events...)
}

func TestConflictReloadsAndDecidesAgain(t *testing.T) {
	t.Run("the new state refuses", func(t *testing.T) {
		stream := newStream("wallet")
		given(t, stream, Deposited{100})
		s := &writerAheadStore{Store: testStore, ahead: func() error { given(t, stream, Withdrawn{50}); return nil }}

		_, err := handleWallet(testContext(t), s, stream, Withdraw{AmountMinor: 80}, command.Envelope{})

		var e *InsufficientFunds
		if !errors.As(err, &e) || e.BalanceMinor != 50 {
			t.Fatalf("the second decision should see balance 50 and refuse 80, got %v", err)
		}
		if w := walletOf(t, stream); w.BalanceMinor != 50 || w.Events != 2 {
			t.Fatalf("wallet %+v, want balance 50 after 2 events", w)
		}
	})
	t.Run("the new state allows", func(t *testing.T) {
		stream := newStream("wallet")
		given(t, stream, Deposited{100})
		s := &writerAheadStore{Store: testStore, ahead: func() error { given(t, stream, Withdrawn{50}); return nil }}

		res, err := handleWallet(testContext(t), s, stream, Withdraw{AmountMinor: 30}, command.Envelope{})

		if err != nil || res.Attempts != 2 || res.Revision != 2 || s.appends.Load() != 2 {
			t.Fatalf("got %+v, %v after %d appends; want success on attempt 2 at revision 2", res, err, s.appends.Load())
		}
		if w := walletOf(t, stream); w.BalanceMinor != 20 {
			t.Fatalf("balance %d, want 20", w.BalanceMinor)
		}
	})
	t.Run("the stream was created meanwhile", func(t *testing.T) {
		stream := newStream("wallet")
		s := &writerAheadStore{Store: testStore, ahead: func() error { given(t, stream, Deposited{5}); return nil }}

		res, err := handleWallet(testContext(t), s, stream, Deposit{AmountMinor: 7}, command.Envelope{})

		if err != nil || res.Attempts != 2 || res.Revision != 1 {
			t.Fatalf("got %+v, %v; want success on attempt 2 at revision 1", res, err)
		}
	})
}

// Each loss of a race means another writer's append succeeded after this writer's read, so n writers on one
// stream need at most n attempts each: with MaxAttempts = n no writer may give up.
func TestConcurrentCounterCountsEveryIncrement(t *testing.T) {
	const writers = 20
	stream := newStream("counter")
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var attempts atomic.Int32
	for range writers {
		wg.Go(func() {
			res, err := command.Handle(ctx, testStore, stream, counterDecider, counterEvents, Increment{}, command.Envelope{MaxAttempts: writers})
			attempts.Add(int32(res.Attempts))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	evs := stored(t, stream)
	if len(evs) != writers || evs[len(evs)-1].Revision != writers-1 {
		t.Fatalf("counter has %d events, want %d", len(evs), writers)
	}
	t.Logf("%d writers needed %d decisions", writers, attempts.Load())
}

func TestConcurrentWithdrawalsNeverOverdraw(t *testing.T) {
	const writers, amountMinor = 20, 10
	stream := newStream("wallet")
	given(t, stream, Deposited{100})
	ctx := testContext(t)
	var wg sync.WaitGroup
	var ok, refused atomic.Int32
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			_, err := handleWallet(ctx, testStore, stream, Withdraw{AmountMinor: amountMinor}, command.Envelope{MaxAttempts: writers})
			var e *InsufficientFunds
			switch {
			case err == nil:
				ok.Add(1)
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
	if ok.Load() != 10 || refused.Load() != 10 {
		t.Fatalf("%d withdrawals passed and %d were refused, want 10 and 10", ok.Load(), refused.Load())
	}
	if w := walletOf(t, stream); w.BalanceMinor != 0 || w.Events != 11 {
		t.Fatalf("wallet %+v, want balance 0 after 11 events", w)
	}
}

// alwaysConflictStore refuses every append as if another writer always got there first.
type alwaysConflictStore struct {
	command.Store
	appends atomic.Int32
}

func (s *alwaysConflictStore) Append(_ context.Context, stream string, expected eventstore.ExpectedRevision, _ ...eventstore.EventData) (eventstore.AppendResult, error) {
	s.appends.Add(1)
	return eventstore.AppendResult{}, &eventstore.RevisionConflict{Stream: stream, Expected: expected, Actual: eventstore.StreamState{Exists: true, LastRevision: 99}}
}

func TestRetriesAreBounded(t *testing.T) {
	for _, tc := range []struct{ maxAttempts, want int }{{0, command.DefaultMaxAttempts}, {1, 1}, {3, 3}} {
		t.Run(fmt.Sprint(tc.maxAttempts), func(t *testing.T) {
			stream := newStream("wallet")
			given(t, stream, Deposited{100})
			s := &alwaysConflictStore{Store: testStore}

			_, err := handleWallet(testContext(t), s, stream, Withdraw{AmountMinor: 1}, command.Envelope{MaxAttempts: tc.maxAttempts})

			if !errors.Is(err, command.ErrTooManyConflicts) || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
				t.Fatalf("want ErrTooManyConflicts wrapping the conflict, got %v", err)
			}
			if int(s.appends.Load()) != tc.want {
				t.Fatalf("%d appends, want %d", s.appends.Load(), tc.want)
			}
		})
	}
	for _, bad := range []int{-1, command.MaxAttemptsLimit + 1} {
		if _, err := handleWallet(testContext(t), testStore, newStream("wallet"), Deposit{AmountMinor: 1}, command.Envelope{MaxAttempts: bad}); !errors.Is(err, command.ErrInvalid) {
			t.Fatalf("MaxAttempts %d: want ErrInvalid, got %v", bad, err)
		}
	}
}

func TestIdempotentRetryAnswersTheSameAndWritesOnce(t *testing.T) {
	stream := newStream("wallet")
	env := command.Envelope{IdempotencyKey: "req-1"}
	first, err := handleWallet(testContext(t), testStore, stream, DepositWithFee{AmountMinor: 100, FeeMinor: 1}, env)
	if err != nil || first.Replayed {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// Another request moves the stream on before the retry arrives.
	if _, err := handleWallet(testContext(t), testStore, stream, Withdraw{AmountMinor: 9}, command.Envelope{IdempotencyKey: "req-2"}); err != nil {
		t.Fatal(err)
	}

	again, err := handleWallet(testContext(t), testStore, stream, DepositWithFee{AmountMinor: 100, FeeMinor: 1}, env)

	if err != nil || !again.Replayed {
		t.Fatalf("retry: %+v, %v; want a replay", again, err)
	}
	if !reflect.DeepEqual(again.Events, first.Events) || again.Revision != first.Revision || again.Position != first.Position {
		t.Fatalf("retry answered %+v, the first request %+v", again, first)
	}
	if w := walletOf(t, stream); w.Events != 3 || w.BalanceMinor != 90 {
		t.Fatalf("wallet %+v, want 3 events and balance 90", w)
	}
}

// lostReplyStore appends and then reports a failure, as when the connection drops before the reply arrives.
type lostReplyStore struct{ command.Store }

var errConnectionLost = errors.New("connection lost")

func (s lostReplyStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if _, err := s.Store.Append(ctx, stream, expected, events...); err != nil {
		return eventstore.AppendResult{}, err
	}
	return eventstore.AppendResult{}, errConnectionLost
}

func TestRetryAfterLostReplyWritesOnce(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{100})
	env := command.Envelope{IdempotencyKey: "req-1"}
	if _, err := handleWallet(testContext(t), lostReplyStore{testStore}, stream, Withdraw{AmountMinor: 60}, env); !errors.Is(err, errConnectionLost) {
		t.Fatalf("want the lost reply, got %v", err)
	}

	// Without the key, the retry would be a second withdrawal of 60 and be refused; with it, a replay.
	res, err := handleWallet(testContext(t), testStore, stream, Withdraw{AmountMinor: 60}, env)

	if err != nil || !res.Replayed || res.Revision != 1 || !reflect.DeepEqual(res.Events, []walletEvent{Withdrawn{60}}) {
		t.Fatalf("got %+v, %v; want the replay of Withdrawn{60} at revision 1", res, err)
	}
	if w := walletOf(t, stream); w.Events != 2 || w.BalanceMinor != 40 {
		t.Fatalf("wallet %+v, want 2 events and balance 40", w)
	}
}

func TestConcurrentDuplicatesWriteOnce(t *testing.T) {
	const duplicates = 5
	stream := newStream("wallet")
	ctx := testContext(t)
	results := make([]command.Result[walletEvent], duplicates)
	errs := make([]error, duplicates)
	var wg sync.WaitGroup
	for i := range duplicates {
		wg.Go(func() {
			results[i], errs[i] = handleWallet(ctx, testStore, stream, Deposit{AmountMinor: 5}, command.Envelope{IdempotencyKey: "dup", MaxAttempts: duplicates})
		})
	}
	wg.Wait()
	for i := range duplicates {
		if errs[i] != nil || results[i].Position != results[0].Position || results[i].Revision != 0 {
			t.Fatalf("duplicate %d: %+v, %v; want all at revision 0, position %v", i, results[i], errs[i], results[0].Position)
		}
	}
	if n := len(stored(t, stream)); n != 1 {
		t.Fatalf("stream has %d events, want 1", n)
	}
}

func TestIdempotencyKeyWithAnotherBodyConflicts(t *testing.T) {
	stream := newStream("wallet")
	if _, err := handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 100}, command.Envelope{IdempotencyKey: "req-1"}); err != nil {
		t.Fatal(err)
	}

	_, err := handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 200}, command.Envelope{IdempotencyKey: "req-1"})

	if !errors.Is(err, command.ErrIdempotencyConflict) {
		t.Fatalf("want ErrIdempotencyConflict, got %v", err)
	}
	if n := len(stored(t, stream)); n != 1 {
		t.Fatalf("stream has %d events, want 1", n)
	}

	// A key is scoped to its stream: on another stream it is another request.
	if res, err := handleWallet(testContext(t), testStore, newStream("wallet"), Deposit{AmountMinor: 200}, command.Envelope{IdempotencyKey: "req-1"}); err != nil || res.Replayed {
		t.Fatalf("same key on another stream: %+v, %v", res, err)
	}
}

func TestFingerprintDecidesWhatIsTheSameRequest(t *testing.T) {
	stream := newStream("wallet")
	body := []byte(`POST /wallets/1/deposits {"amount":"1.00"}`)
	first, err := handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 100}, command.Envelope{IdempotencyKey: "k", Fingerprint: body})
	if err != nil {
		t.Fatal(err)
	}
	// The command differs (say, it carries the receipt time) but the request is the same: a replay.
	res, err := handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 101}, command.Envelope{IdempotencyKey: "k", Fingerprint: body})
	if err != nil || !res.Replayed || res.Position != first.Position {
		t.Fatalf("same fingerprint: %+v, %v; want a replay", res, err)
	}
	_, err = handleWallet(testContext(t), testStore, stream, Deposit{AmountMinor: 100}, command.Envelope{IdempotencyKey: "k", Fingerprint: []byte("other")})
	if !errors.Is(err, command.ErrIdempotencyConflict) {
		t.Fatalf("other fingerprint: want ErrIdempotencyConflict, got %v", err)
	}
}

func TestUndecodableStreamIsRefused(t *testing.T) {
	stream := newStream("wallet")
	given(t, stream, Deposited{100})
	if _, err := testStore.Append(testContext(t), stream, eventstore.Any{}, eventstore.EventData{ID: uuid.New(), Type: "FromTheFuture", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	_, err := handleWallet(testContext(t), testStore, stream, Withdraw{AmountMinor: 1}, command.Envelope{})

	if !errors.Is(err, command.ErrUnknownEventType) {
		t.Fatalf("want ErrUnknownEventType, got %v", err)
	}
	if n := len(stored(t, stream)); n != 2 {
		t.Fatalf("stream has %d events, want 2", n)
	}
}

func TestLongStreamIsReadInPages(t *testing.T) {
	const past = eventstore.MaxReadCount + 1
	stream := newStream("counter")
	data := make([]eventstore.EventData, past)
	for i := range data {
		data[i] = eventstore.EventData{ID: uuid.New(), Type: "Incremented", Data: []byte(`{}`)}
	}
	ctx := testContext(t)
	const batch = 1000 // one append of MaxAppendEvents is more than a gRPC message of the client carries
	for i := 0; i < past; i += batch {
		if _, err := testStore.Append(ctx, stream, eventstore.Any{}, data[i:min(i+batch, past)]...); err != nil {
			t.Fatal(err)
		}
	}
	var seen int
	d := counterDecider
	d.Decide = func(n int, c Increment) ([]Incremented, error) {
		seen = n
		return []Incremented{{}}, nil
	}

	res, err := command.Handle(ctx, testStore, stream, d, counterEvents, Increment{}, command.Envelope{})

	if err != nil || seen != past || res.Revision != past {
		t.Fatalf("decided on %d events, result %+v, %v; want %d events, revision %d", seen, res, err, past, past)
	}
}

func TestInvalidCallsAreRefused(t *testing.T) {
	noEvolve := walletDecider
	noEvolve.Evolve = nil
	noDecide := walletDecider
	noDecide.Decide = nil
	ctx := testContext(t)
	for name, call := range map[string]func() error{
		"no evolve": func() error {
			_, err := command.Handle(ctx, testStore, newStream("w"), noEvolve, walletEvents, any(Deposit{1}), command.Envelope{})
			return err
		},
		"no decide": func() error {
			_, err := command.Handle(ctx, testStore, newStream("w"), noDecide, walletEvents, any(Deposit{1}), command.Envelope{})
			return err
		},
		"no codec": func() error {
			_, err := command.Handle[wallet, any, walletEvent](ctx, testStore, newStream("w"), walletDecider, nil, Deposit{1}, command.Envelope{})
			return err
		},
		"no store": func() error {
			_, err := handleWallet(ctx, nil, newStream("w"), Deposit{1}, command.Envelope{})
			return err
		},
		"unfingerprintable command": func() error {
			_, err := handleWallet(ctx, testStore, newStream("w"), func() {}, command.Envelope{IdempotencyKey: "k"})
			return err
		},
	} {
		if err := call(); !errors.Is(err, command.ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
}
