package projections

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
)

// ledgerLog is a working ledger's log: two banks, accounts funded, and transfers between them settled,
// failed or left pending, with times that move and times that repeat (out-of-order inserts).
func ledgerLog(t *testing.T, accounts, transfers int) []eventstore.Message {
	t.Helper()
	var log []eventstore.Message
	add := func(stream string, e any) {
		var typ string
		var data []byte
		var err error
		switch e := e.(type) {
		case account.Event:
			typ, data, err = account.Events.Encode(e)
		case payment.Event:
			typ, data, err = payment.Events.Encode(e)
		case counterparty.Event:
			typ, data, err = counterparty.Events.Encode(e)
		}
		if err != nil {
			t.Fatal(err)
		}
		pos := uint64(len(log) + 1)
		log = append(log, eventstore.Message{Kind: eventstore.EventAppeared, Event: &eventstore.RecordedEvent{ID: uuid.New(), Type: typ,
			Data: data, Stream: stream, Position: eventstore.Position{Commit: pos, Prepare: pos}}})
	}
	at := time.Date(2026, 5, 1, 22, 0, 0, 0, time.UTC)
	banks := []string{"0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01", "7F3D2C1B-9E8A-4B6C-8D5E-2A1F0E9D8C02"}
	for i, b := range banks {
		add("counterparty-"+b, counterparty.CounterpartyRegistered{GUID: b, Profile: counterparty.Profile{Name: fmt.Sprint("bank ", i)}, At: at})
	}
	type acct struct{ guid, bank, address string }
	accts := make([]acct, accounts)
	for i := range accts {
		a := acct{guid: uuid.NewString(), bank: banks[i%2], address: fmt.Sprintf("GACCOUNT%048d", i)}
		accts[i] = a
		add("account-"+a.guid, account.AccountKeyGenerated{GUID: a.guid, Kind: account.KindProcessing, CounterpartyGUID: a.bank, Address: a.address,
			SealedSeed: []byte{1, 2, 3}, At: at})
		add("account-"+a.guid, account.AccountOpened{GUID: a.guid, Kind: account.KindProcessing, CounterpartyGUID: a.bank, Address: a.address,
			AssetCode: "eUAH", AssetIssuer: "GISSUER", At: at})
		add("account-"+a.guid, account.AccountCredited{GUID: a.guid, Payment: uuid.NewString(), Amount: 1_000_000_00, At: at})
	}
	for i := range transfers {
		from, to := accts[i%len(accts)], accts[(i*7+1)%len(accts)]
		pay := uuid.NewString()
		amount := int64(100 + i%10_000)
		when := at.Add(time.Duration(i/3) * time.Minute) // three payments a minute: ties in time, across midnight
		party := func(a acct) payment.Party {
			return payment.Party{AccountGUID: a.guid, Kind: payment.KindProcessing, CounterpartyGUID: a.bank, Address: a.address}
		}
		add("payment-"+pay, payment.PaymentCreated{GUID: pay, CounterpartyGUID: from.bank, Amount: amount, AssetCode: "eUAH", AssetIssuer: "GISSUER",
			Sender: party(from), Receiver: party(to), Purpose: "test", At: when})
		if i%11 == 0 {
			add("payment-"+pay, payment.PaymentCancelled{GUID: pay, At: when})
			continue
		}
		add("payment-"+pay, payment.PaymentConfirmed{GUID: pay, By: "op", At: when})
		add("account-"+from.guid, account.AccountFundsReserved{GUID: from.guid, Payment: pay, Amount: amount, At: when})
		switch {
		case i%13 == 0:
			add("payment-"+pay, payment.PaymentFailed{GUID: pay, Reason: "tx_failed", At: when})
			add("account-"+from.guid, account.AccountFundsReleased{GUID: from.guid, Payment: pay, Amount: amount, Reason: "tx_failed", At: when})
		case i%17 == 0: // left pending
		default:
			add("payment-"+pay, payment.PaymentSettled{GUID: pay, Hash: fmt.Sprintf("%064x", i/2), Ledger: int32(i), At: when})
			add("account-"+from.guid, account.AccountDebited{GUID: from.guid, Payment: pay, Amount: amount, At: when})
			add("account-"+to.guid, account.AccountCredited{GUID: to.guid, Payment: pay, Amount: amount, At: when})
		}
	}
	return log
}

type ledgerModels struct {
	counterparties *Counterparties
	customers      *Customers
	payments       *Payments
	recons         *Recons
	emission       *Emission
}

func (m ledgerModels) all() []Projection {
	return []Projection{m.counterparties, m.customers, m.payments, m.recons, m.emission}
}

// The read models rebuilt through two lanes answer exactly as rebuilt through one (run with -race: the lanes
// apply different models at the same time).
func TestReadModelsThroughLanesAnswerAsThroughOne(t *testing.T) {
	log := ledgerLog(t, 300, 6_000)
	build := func(lanes int) ledgerModels {
		m := ledgerModels{NewCounterparties(), NewCustomers(), NewPayments(), NewRecons(), NewEmission()}
		r, err := NewRunner(listSubscriber{log}, Options{Logger: slog.New(slog.DiscardHandler), Lanes: lanes}, m.all()...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		if err := r.WaitCaughtUp(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if r.Checkpoint().Commit != uint64(len(log)) {
			t.Fatalf("lanes %d: caught up at %v of %d", lanes, r.Checkpoint(), len(log))
		}
		if lanes > 1 && r.lanes.batches == 0 {
			t.Fatal("no batch was shared out: the test does not test lanes")
		}
		return m
	}
	one, two := build(1), build(2)
	ctx := context.Background()
	banks, _, err := one.counterparties.List(ctx, CounterpartyQuery{ListPage: ListPage{Limit: MaxListLimit}})
	if err != nil || len(banks) != 2 {
		t.Fatalf("banks %v, %v", banks, err)
	}
	for _, b := range banks {
		q := AccountQuery{CounterpartyGUID: b.GUID, Limit: MaxListLimit}
		a1, n1, err1 := one.customers.ListAccounts(ctx, q)
		a2, n2, err2 := two.customers.ListAccounts(ctx, q)
		if err1 != nil || err2 != nil || n1 != 150 || n1 != n2 || !reflect.DeepEqual(a1, a2) {
			t.Fatalf("accounts of %s: one lane %d (%v), two lanes %d (%v), or they differ", b.GUID, n1, err1, n2, err2)
		}
		for _, status := range payment.Statuses {
			pq := PaymentQuery{Counterparty: b.GUID, Statuses: []payment.Status{status}, Order: "asc", Limit: MaxPaymentLimit}
			for {
				p1, t1, err1 := one.payments.List(pq)
				p2, t2, err2 := two.payments.List(pq)
				if err1 != nil || err2 != nil || t1 != t2 || !reflect.DeepEqual(p1, p2) {
					t.Fatalf("%s payments of %s: one lane %d (%v), two lanes %d (%v), or they differ", status, b.GUID, t1, err1, t2, err2)
				}
				if pq.Offset += len(p1); len(p1) == 0 || pq.Offset >= t1 {
					break
				}
			}
		}
		rq := ReconQuery{Counterparty: b.GUID, Role: RoleOneOf, Limit: MaxReconLimit}
		r1, _, err1 := one.recons.Recons(rq)
		r2, _, err2 := two.recons.Recons(rq)
		if err1 != nil || err2 != nil || len(r1) == 0 || !reflect.DeepEqual(r1, r2) {
			t.Fatalf("recons of %s: one lane %d (%v), two lanes %d (%v), or they differ", b.GUID, len(r1), err1, len(r2), err2)
		}
	}
	if one.payments.Len() != 6_000 || one.payments.Len() != two.payments.Len() ||
		!reflect.DeepEqual(one.payments.Pending(MaxPendingLimit), two.payments.Pending(MaxPendingLimit)) {
		t.Fatalf("payments %d and %d, or the pending ones differ", one.payments.Len(), two.payments.Len())
	}
	for _, day := range []string{"2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"} {
		if s1, s2 := one.recons.SettledOn(day), two.recons.SettledOn(day); !reflect.DeepEqual(s1, s2) {
			t.Fatalf("settled on %s: %d and %d", day, len(s1), len(s2))
		}
	}
}
