package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

// ledger is a small history in a real embedded store: the platform's asset, two banks, an account of each,
// a credit of 100.00 to A's account at t1, and at t2 a payment of 30.25 from A's account to B's (reserved,
// debited, credited).
type ledger struct {
	store         *bolt.Store
	bankA, bankB  string
	acctA, acctB  string
	pay           string
	t0, t1, t2    time.Time
	posT1, posT2  eventstore.Position // the last event written at t1 and at t2
	eventsUntilT1 uint64
	totalEvents   uint64
}

func add[E any](t testing.TB, s eventstore.Store, codec command.Codec[E], stream string, at time.Time, evs ...E) eventstore.Position {
	t.Helper()
	var data []eventstore.EventData
	for _, e := range evs {
		typ, body, err := codec.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, eventstore.EventData{ID: uuid.New(), Type: typ, Data: body,
			Metadata: eventstore.Metadata{Actor: "tester", RequestID: "req-" + typ, Time: at}})
	}
	res, err := s.Append(context.Background(), stream, eventstore.Any{}, data...)
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

func newLedger(t testing.TB) *ledger {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := &ledger{store: s, bankA: uuid.NewString(), bankB: uuid.NewString(), acctA: uuid.NewString(), acctB: uuid.NewString(),
		pay: uuid.NewString(), t0: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	l.t1, l.t2 = l.t0.Add(time.Hour), l.t0.Add(2*time.Hour)
	platformEvents := newPlatformCodec()
	add(t, s, platformEvents, platform.Stream, l.t0, platform.Event(platform.AssetDefined{Code: "UAH", StellarCode: "eUAH", Decimals: 2, At: l.t0}))
	for _, b := range []struct{ bank, acct, name string }{{l.bankA, l.acctA, "Bank A"}, {l.bankB, l.acctB, "Bank B"}} {
		add(t, s, counterparty.Events, counterparty.Stream(uuid.MustParse(b.bank)), l.t0,
			counterparty.Event(counterparty.CounterpartyRegistered{GUID: b.bank, Profile: counterparty.Profile{Name: b.name}, At: l.t0}))
		add(t, s, account.Events, account.Stream(uuid.MustParse(b.acct)), l.t0,
			account.Event(account.AccountKeyGenerated{GUID: b.acct, Kind: account.KindProcessing, CounterpartyGUID: b.bank,
				Address: "GA" + b.acct, SealedSeed: []byte("sealed"), At: l.t0}),
			account.Event(account.AccountOpened{GUID: b.acct, Kind: account.KindProcessing, CounterpartyGUID: b.bank, Address: "GA" + b.acct,
				AssetCode: "eUAH", AssetIssuer: "GISSUER", At: l.t0}))
	}
	l.posT1 = add(t, s, account.Events, account.Stream(uuid.MustParse(l.acctA)), l.t1,
		account.Event(account.AccountCredited{GUID: l.acctA, Payment: uuid.NewString(), Amount: 10000, At: l.t1}))
	l.eventsUntilT1 = l.posT1.Commit
	add(t, s, payment.Events, payment.Stream(uuid.MustParse(l.pay)), l.t2,
		payment.Event(payment.PaymentCreated{GUID: l.pay, CounterpartyGUID: l.bankA, Amount: 3025, AssetCode: "eUAH", AssetIssuer: "GISSUER",
			Sender:   payment.Party{AccountGUID: l.acctA, CounterpartyGUID: l.bankA, Kind: "processing", Address: "GA" + l.acctA},
			Receiver: payment.Party{AccountGUID: l.acctB, CounterpartyGUID: l.bankB, Kind: "processing", Address: "GA" + l.acctB}, At: l.t2}))
	add(t, s, account.Events, account.Stream(uuid.MustParse(l.acctA)), l.t2,
		account.Event(account.AccountFundsReserved{GUID: l.acctA, Payment: l.pay, Amount: 3025, At: l.t2}))
	add(t, s, account.Events, account.Stream(uuid.MustParse(l.acctA)), l.t2,
		account.Event(account.AccountDebited{GUID: l.acctA, Payment: l.pay, Amount: 3025, At: l.t2}))
	l.posT2 = add(t, s, account.Events, account.Stream(uuid.MustParse(l.acctB)), l.t2,
		account.Event(account.AccountCredited{GUID: l.acctB, Payment: l.pay, Amount: 3025, At: l.t2}))
	l.totalEvents = l.posT2.Commit
	return l
}

// newPlatformCodec encodes the one platform event the fixture needs.
func newPlatformCodec() *command.Registry[platform.Event] {
	r := command.NewRegistry[platform.Event]()
	if err := command.Register[platform.Event, platform.AssetDefined](r, "AssetDefined"); err != nil {
		panic(err)
	}
	return r
}
