package projections_test

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

func balFundsEvent(t testing.TB, e account.Event) eventstore.RecordedEvent {
	t.Helper()
	typ, data, err := account.Events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{ID: uuid.New(), Type: typ, Data: data, Stream: "account-x"}
}

func TestBalances(t *testing.T) {
	b := projections.NewBalances()
	acct, other := uuid.NewString(), uuid.NewString()
	p1, p2, p3, p4 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	at := func(s int) time.Time { return payT0.Add(time.Duration(s) * time.Second) }
	want := func(step string, guid string, balance, reserved int64, updated time.Time) {
		t.Helper()
		got, ok := b.Balance(guid)
		if !ok || got.Balance != balance || got.Reserved != reserved || got.Available() != balance-reserved || !got.UpdatedAt.Equal(updated) {
			t.Fatalf("%s: %+v %v, want balance %d reserved %d at %v", step, got, ok, balance, reserved, updated)
		}
	}
	apply := func(e account.Event) {
		t.Helper()
		if err := b.Apply(balFundsEvent(t, e)); err != nil {
			t.Fatalf("%T: %v", e, err)
		}
	}
	if _, ok := b.Balance(acct); ok {
		t.Fatal("an account no funds event touched has a balance")
	}

	apply(account.AccountCredited{GUID: acct, Payment: p1, Amount: 10_000, At: at(1)})
	want("credited", acct, 10_000, 0, at(1))
	apply(account.AccountFundsReserved{GUID: acct, Payment: p2, Amount: 3_000, BankGUID: uuid.NewString(), At: at(2)})
	apply(account.AccountFundsReserved{GUID: acct, Payment: p3, Amount: 2_500, At: at(3)})
	want("two reservations", acct, 10_000, 5_500, at(3))
	if b.Holds() != 2 {
		t.Fatalf("holds %d", b.Holds())
	}
	apply(account.AccountFundsReleased{GUID: acct, Payment: p2, Amount: 3_000, Reason: "failed", At: at(4)})
	want("released", acct, 10_000, 2_500, at(4))
	apply(account.AccountDebited{GUID: acct, Payment: p3, Amount: 2_500, At: at(5)})
	want("debited", acct, 7_500, 0, at(5))
	apply(account.AccountCredited{GUID: strings.ToUpper(other), Payment: p3, Amount: 2_500, At: at(5)})
	want("the receiver, by a GUID in upper case", other, 2_500, 0, at(5))
	want("the sender is untouched", acct, 7_500, 0, at(5))
	// The same payment may be reserved on two accounts (it is keyed by account and payment).
	apply(account.AccountFundsReserved{GUID: other, Payment: p4, Amount: 2_500, At: at(6)})
	apply(account.AccountFundsReserved{GUID: acct, Payment: p4, Amount: 7_500, At: at(6)})
	want("all of it reserved", acct, 7_500, 7_500, at(6))
	if b.Holds() != 2 {
		t.Fatalf("holds %d", b.Holds())
	}

	before := func() [2]projections.AccountBalance {
		x, _ := b.Balance(acct)
		y, _ := b.Balance(other)
		return [2]projections.AccountBalance{x, y}
	}()
	for name, e := range map[string]account.Event{
		"release of another amount":        account.AccountFundsReleased{GUID: acct, Payment: p4, Amount: 7_000, At: at(7)},
		"debit of another amount":          account.AccountDebited{GUID: acct, Payment: p4, Amount: 7_501, At: at(7)},
		"release of a payment not held":    account.AccountFundsReleased{GUID: acct, Payment: p2, Amount: 3_000, At: at(7)},
		"debit of a payment not held":      account.AccountDebited{GUID: acct, Payment: p3, Amount: 2_500, At: at(7)},
		"debit on an unknown account":      account.AccountDebited{GUID: uuid.NewString(), Payment: p4, Amount: 1, At: at(7)},
		"reserve twice":                    account.AccountFundsReserved{GUID: other, Payment: p4, Amount: 2_500, At: at(7)},
		"reserve beyond available":         account.AccountFundsReserved{GUID: other, Payment: uuid.NewString(), Amount: 1, At: at(7)},
		"reserve on an unknown account":    account.AccountFundsReserved{GUID: uuid.NewString(), Payment: p1, Amount: 1, At: at(7)},
		"zero credit":                      account.AccountCredited{GUID: acct, Payment: uuid.NewString(), Amount: 0, At: at(7)},
		"negative reservation":             account.AccountFundsReserved{GUID: acct, Payment: uuid.NewString(), Amount: -1, At: at(7)},
		"credit that overflows":            account.AccountCredited{GUID: acct, Payment: uuid.NewString(), Amount: 1<<63 - 1, At: at(7)},
		"malformed account GUID":           account.AccountCredited{GUID: "acct-1", Payment: p1, Amount: 1, At: at(7)},
		"malformed payment GUID":           account.AccountCredited{GUID: acct, Payment: "pay-1", Amount: 1, At: at(7)},
		"no time":                          account.AccountCredited{GUID: acct, Payment: p1, Amount: 1},
		"release without a payment":        account.AccountFundsReleased{GUID: acct, Amount: 7_500, At: at(7)},
		"release in another account's row": account.AccountFundsReleased{GUID: other, Payment: p3, Amount: 2_500, At: at(7)},
	} {
		if err := b.Apply(balFundsEvent(t, e)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, ev := range map[string]eventstore.RecordedEvent{
		"not JSON":         {Type: "AccountDebited", Data: []byte(`{"guid"`)},
		"amount as string": {Type: "AccountCredited", Data: []byte(`{"guid":"` + acct + `","payment":"` + p1 + `","amount":"5","at":"2026-04-01T10:00:00Z"}`)},
	} {
		if err := b.Apply(ev); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	after := func() [2]projections.AccountBalance {
		x, _ := b.Balance(acct)
		y, _ := b.Balance(other)
		return [2]projections.AccountBalance{x, y}
	}()
	if before != after || b.Holds() != 2 {
		t.Fatalf("a refused event changed the model: %+v → %+v (%d holds)", before, after, b.Holds())
	}

	// The other events of an account stream pass by; the filter does not even select them.
	if err := b.Apply(balFundsEvent(t, account.AccountBlocked{GUID: acct, Reason: "court order", At: at(8)})); err != nil {
		t.Fatal(err)
	}
	f := b.Filter()
	for typ, selected := range map[string]bool{"AccountFundsReserved": true, "AccountFundsReleased": true, "AccountDebited": true,
		"AccountCredited": true, "AccountOpened": false, "AccountBlocked": false, "AccountKeyGenerated": false, "PaymentSettled": false} {
		if f.Matches("account-1", typ) != selected {
			t.Errorf("filter on %s: %v", typ, !selected)
		}
	}
	known := map[string]bool{}
	for _, typ := range account.Events.Types() {
		known[typ] = true
	}
	for _, typ := range []string{"AccountFundsReserved", "AccountFundsReleased", "AccountDebited", "AccountCredited"} {
		if !known[typ] {
			t.Errorf("the account codec has no %s", typ)
		}
	}
	if _, ok := b.Balance("junk"); ok {
		t.Fatal("a malformed GUID has a balance")
	}
}

// TestBalancesReadWhileApplying reads while a writer applies (run it with -race): an account's available
// money is never negative, whatever moment a reader sees.
func TestBalancesReadWhileApplying(t *testing.T) {
	b := projections.NewBalances()
	accts := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(2)
	for range 2 {
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, a := range accts {
					if bal, ok := b.Balance(a); ok && (bal.Available() < 0 || bal.Reserved < 0) {
						t.Errorf("%s: %+v", a, bal)
						return
					}
				}
			}
		}()
	}
	at := payT0
	for i := range 3_000 {
		from, to := accts[i%3], accts[(i+1)%3]
		pay := uuid.NewString()
		at = at.Add(time.Second)
		for _, e := range []account.Event{
			account.AccountCredited{GUID: from, Payment: uuid.NewString(), Amount: 100, At: at},
			account.AccountFundsReserved{GUID: from, Payment: pay, Amount: 60, At: at},
			account.AccountDebited{GUID: from, Payment: pay, Amount: 60, At: at},
			account.AccountCredited{GUID: to, Payment: pay, Amount: 60, At: at},
		} {
			if err := b.Apply(balFundsEvent(t, e)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	readers.Wait()
	var sum int64
	for _, a := range accts {
		bal, _ := b.Balance(a)
		sum += bal.Balance
	}
	if sum != 3_000*100 || b.Holds() != 0 {
		t.Fatalf("money created or lost: %d in all, %d holds", sum, b.Holds())
	}
}

// TestBalancesDecoderAgreesWithTheCodec applies random and mangled funds events to one model, and the same
// events as the account codec reads them to a twin: the two must agree, error for error.
func TestBalancesDecoderAgreesWithTheCodec(t *testing.T) {
	rounds := 600
	if testing.Short() || raceDetector {
		rounds = 100
	}
	r := rand.New(rand.NewPCG(7, 8))
	fast, twin := projections.NewBalances(), projections.NewBalances()
	both := func(e account.Event) {
		t.Helper()
		for _, m := range []*projections.Balances{fast, twin} {
			if err := m.Apply(balFundsEvent(t, e)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range rounds {
		for _, mutate := range payMutations {
			acct, pay := uuid.NewString(), uuid.NewString()
			at := payT0.Add(time.Duration(r.Int64N(1 << 50)))
			amount := 1 + r.Int64N(1_000)
			both(account.AccountCredited{GUID: acct, Payment: uuid.NewString(), Amount: 1_000_000, At: payT0})
			var e account.Event
			switch r.IntN(4) {
			case 0:
				e = account.AccountFundsReserved{GUID: acct, Payment: pay, Amount: amount, BankGUID: payDecodeStrings[r.IntN(len(payDecodeStrings))], At: at}
			case 1:
				both(account.AccountFundsReserved{GUID: acct, Payment: pay, Amount: amount, At: payT0})
				e = account.AccountFundsReleased{GUID: acct, Payment: pay, Amount: amount, Reason: payDecodeStrings[r.IntN(len(payDecodeStrings))], At: at}
			case 2:
				both(account.AccountFundsReserved{GUID: acct, Payment: pay, Amount: amount, At: payT0})
				e = account.AccountDebited{GUID: acct, Payment: pay, Amount: amount, At: at}
			default:
				e = account.AccountCredited{GUID: acct, Payment: pay, Amount: amount, At: at}
			}
			ev := balFundsEvent(t, e)
			data := mutate(r, slices.Clone(ev.Data))
			std, stdErr := account.Events.Decode(ev.Type, data)
			fastErr := fast.Apply(eventstore.RecordedEvent{Type: ev.Type, Data: data})
			if stdErr != nil {
				if fastErr == nil {
					t.Fatalf("%s %s: the codec refuses it (%v), the model took it", ev.Type, data, stdErr)
				}
				continue
			}
			twinErr := twin.Apply(balFundsEvent(t, std))
			a, okA := fast.Balance(acct)
			b, okB := twin.Balance(acct)
			if (fastErr == nil) != (twinErr == nil) || okA != okB || a != b || fast.Holds() != twin.Holds() {
				t.Fatalf("%s %s: %v %+v, from the codec's reading %v %+v", ev.Type, data, fastErr, a, twinErr, b)
			}
		}
	}
}

// The decoder's lists of members are the domain types', so that a field added there is not dropped here.
func TestBalancesDecoderKnowsEveryField(t *testing.T) {
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[account.AccountFundsReserved](): {"guid", "payment", "amount", "bank_guid", "at"},
		reflect.TypeFor[account.AccountFundsReleased](): {"guid", "payment", "amount", "reason", "at"},
		reflect.TypeFor[account.AccountDebited]():       {"guid", "payment", "amount", "at"},
		reflect.TypeFor[account.AccountCredited]():      {"guid", "payment", "amount", "at"},
	} {
		var got []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			got = append(got, name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v has members %v; the read model's decoder knows %v: teach it the new ones", typ, got, want)
		}
	}
}
