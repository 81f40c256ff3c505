package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

type models struct {
	banks    *projections.Counterparties
	accounts *projections.Customers
}

func replayTo(t *testing.T, store projections.Subscriber, cut Cut) (ReplayReport, []Balance, error) {
	return replayWith(t, store, cut, 2)
}

// replayWith replays with runners Runners.
func replayWith(t *testing.T, store projections.Subscriber, cut Cut, runners int) (ReplayReport, []Balance, error) {
	t.Helper()
	m := models{banks: projections.NewCounterparties(), accounts: projections.NewCustomers()}
	rep, err := Replay(context.Background(), store, ReplayOptions{Cut: cut, Runners: runners}, m.banks, m.accounts)
	if err != nil {
		return rep, nil, err
	}
	rows, err := Balances(context.Background(), m.banks, m.accounts)
	if err != nil {
		t.Fatal(err)
	}
	return rep, rows, nil
}

// balanceOf is an account's balance and reserved in minor units, as a sheet holds them.
func balanceOf(rows []Balance, acct string) (money.Amount, money.Amount, bool) {
	for _, r := range rows {
		if r.AccountGUID == acct {
			return r.Balance, r.Reserved, true
		}
	}
	return 0, 0, false
}

// TestReplayAtATimeEqualsBalanceAt: a replay cut at a time (or at the position of the last event then)
// holds, for every account, what the account's own stream says at that time.
func TestReplayAtATimeEqualsBalanceAt(t *testing.T) {
	l := newLedger(t)
	cases := []struct {
		name         string
		cut          Cut
		at           time.Time
		a, b         money.Amount
		kept         uint64
		lastPosition eventstore.Position
	}{
		{"before the credit", Until(l.t1.Add(-time.Nanosecond)), l.t1.Add(-time.Nanosecond), 0, 0, l.eventsUntilT1 - 1, eventstore.Position{Commit: l.eventsUntilT1 - 1, Prepare: l.eventsUntilT1 - 1}},
		{"at the credit", Until(l.t1), l.t1, 10000, 0, l.eventsUntilT1, l.posT1},
		{"between", Until(l.t1.Add(30 * time.Minute)), l.t1.Add(30 * time.Minute), 10000, 0, l.eventsUntilT1, l.posT1},
		{"by position", UntilPosition(l.posT1), l.t1, 10000, 0, l.eventsUntilT1, l.posT1},
		{"after the payment", Until(l.t2), l.t2, 6975, 3025, l.totalEvents, l.posT2},
		{"whole log", Cut{}, time.Time{}, 6975, 3025, l.totalEvents, l.posT2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, rows, err := replayTo(t, l.store, c.cut)
			if err != nil {
				t.Fatal(err)
			}
			// Kept counts the events the read models select (not the platform's or the payment's here).
			if rep.Kept > c.kept || rep.Kept == 0 || rep.Last != c.lastPosition {
				t.Errorf("report %+v, want %d events up to %v", rep, c.kept, c.lastPosition)
			}
			if len(rows) != 2 {
				t.Fatalf("rows %+v", rows)
			}
			for acct, want := range map[string]money.Amount{l.acctA: c.a, l.acctB: c.b} {
				got, reserved, ok := balanceOf(rows, acct)
				if !ok || got != want || reserved != 0 {
					t.Errorf("replay: %s balance %d reserved %d, want %d", acct, got, reserved, want)
				}
				folded, err := BalanceAt(context.Background(), l.store, uuidOf(t, acct), c.at)
				if err != nil || folded.Balance != got || folded.Reserved != reserved {
					t.Errorf("BalanceAt %s: %+v %v, replay says %d", acct, folded, err, got)
				}
			}
		})
	}
	// One Runner for both read models answers the same as one each (replayTo).
	_, one, err := replayWith(t, l.store, Until(l.t1), 1)
	if b, _, _ := balanceOf(one, l.acctA); err != nil || b != 10000 {
		t.Errorf("one runner: %v %v", one, err)
	}
	// The account's balance at the instant the reservation was written but not yet the debit: cut by position.
	rep, rows, err := replayTo(t, l.store, UntilPosition(eventstore.Position{Commit: l.posT1.Commit + 2, Prepare: l.posT1.Commit + 2}))
	if err != nil {
		t.Fatal(err)
	}
	if b, r, _ := balanceOf(rows, l.acctA); b != 10000 || r != 3025 || rep.Last.Commit != l.eventsUntilT1+2 {
		t.Errorf("mid-payment: balance %d reserved %d (%+v)", b, r, rep)
	}
}

func TestReplayStopsOnAFailure(t *testing.T) {
	l := newLedger(t)
	start := time.Now()
	_, _, err := replayTo(t, brokenSubscriber{l.store}, Cut{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a broken log took %v to fail (the Runner's retries were not cut short)", took)
	}
	// A read model that cannot apply an event stops the replay with the projection's error.
	m := projections.NewCustomers()
	for _, runners := range []int{1, 2} {
		_, err = Replay(context.Background(), l.store, ReplayOptions{Runners: runners}, m, failingProjection{})
		var applyErr *projections.ApplyError
		if !errors.As(err, &applyErr) || applyErr.Projection != "failing" {
			t.Fatalf("projection failure with %d runners: %v", runners, err)
		}
		m = projections.NewCustomers()
	}
}

type brokenSubscriber struct{ projections.Subscriber }

func (b brokenSubscriber) SubscribeAll(ctx context.Context, from eventstore.Position, f eventstore.Filter) (eventstore.Subscription, error) {
	sub, err := b.Subscriber.SubscribeAll(ctx, from, f)
	if err != nil {
		return nil, err
	}
	return &brokenSubscription{Subscription: sub}, nil
}

type brokenSubscription struct {
	eventstore.Subscription
	n int
}

func (b *brokenSubscription) Next(ctx context.Context) (eventstore.Message, error) {
	if b.n++; b.n > 3 {
		return eventstore.Message{}, errors.New("disk on fire")
	}
	return b.Subscription.Next(ctx)
}

type failingProjection struct{}

func (failingProjection) Name() string { return "failing" }
func (failingProjection) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: []string{"AccountDebited"}}
}
func (failingProjection) Apply(eventstore.RecordedEvent) error {
	return errors.New("cannot apply")
}
