package projections

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Balances is the read model of the accounts' money: the balance and the reserved part of every account
// that a funds event has touched (domain/account/funds.go), amounts in minor units.
//
// It keeps each account's open reservations by payment, so that a release or a debit takes off what was
// reserved, and checks the amount the event carries against it: a log in which they differ, a release or
// debit of a payment that holds no reservation, a second reservation of one payment, or a balance that
// would go below the reserved part or below zero cannot come from the account decider, and stops the Runner
// rather than show a wrong balance. Rows hold no pointers; the reservations live in one map, so that only
// the payments in flight cost memory there.
type Balances struct {
	known map[string]bool

	mu    sync.RWMutex
	ids   map[guidKey]int32
	rows  rowStore[balanceRow]
	holds map[balanceHold]int64 // open reservations → amount

	in jsonIn // Apply's reader; only the Runner's goroutine uses it
}

// AccountBalance is an account's money in minor units.
type AccountBalance struct {
	Balance   int64
	Reserved  int64 // held for payments being settled
	UpdatedAt time.Time
}

// Available is what the account can still spend.
func (b AccountBalance) Available() int64 { return b.Balance - b.Reserved }

type balanceRow struct {
	balance  int64
	reserved int64 // the sum of the account's holds
	updated  int64 // Unix ns
	holds    int32 // how many
}

type balanceHold struct {
	account int32
	payment guidKey
}

// The funds event types; TestBalances checks them against the account codec.
const (
	balReserved = "AccountFundsReserved"
	balReleased = "AccountFundsReleased"
	balDebited  = "AccountDebited"
	balCredited = "AccountCredited"
)

// NewBalances returns an empty read model; feed it to a Runner.
func NewBalances() *Balances {
	return &Balances{
		known: knownTypes([]string{balReserved, balReleased, balDebited, balCredited}),
		ids:   map[guidKey]int32{},
		holds: map[balanceHold]int64{},
	}
}

func (b *Balances) Name() string { return "balances" }

// Filter selects the funds events only: an account's other events (key, opening, blocks) pass by.
func (b *Balances) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: []string{"AccountFunds", balDebited, balCredited}}
}

// balanceFunds is the part every funds event has.
type balanceFunds struct {
	account, payment string
	amount           int64
	at               time.Time
}

// Apply folds one funds event; on an error it changes nothing.
func (b *Balances) Apply(ev eventstore.RecordedEvent) error {
	if !b.known[ev.Type] {
		return nil
	}
	f, err := b.decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	acct, ok := parseGUID(f.account)
	if !ok {
		return fmt.Errorf("projections: balances: %s of account %q: malformed GUID", ev.Type, f.account)
	}
	pay, ok := parseGUID(f.payment)
	if !ok {
		return fmt.Errorf("projections: balances: %s of account %s: malformed payment GUID %q", ev.Type, f.account, f.payment)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("projections: balances: %s of account %s for payment %s: %s", ev.Type, f.account, f.payment, fmt.Sprintf(format, args...))
	}
	if f.amount <= 0 {
		return fail("amount %d is not positive", f.amount)
	}
	if f.at.IsZero() {
		return fail("no time")
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	id, known := b.ids[acct]
	var r balanceRow
	if known {
		r = *b.rows.at(id)
	}
	hk := balanceHold{account: id, payment: pay}
	held, holding := int64(0), false
	if known {
		held, holding = b.holds[hk]
	}
	switch ev.Type {
	case balReserved:
		if holding {
			return fail("the payment holds %d already", held)
		}
		if f.amount > r.balance-r.reserved {
			return fail("reserves %d of an available %d", f.amount, r.balance-r.reserved)
		}
		r.reserved += f.amount
		r.holds++
	case balReleased, balDebited:
		if !holding {
			return fail("the payment holds nothing")
		}
		if held != f.amount {
			return fail("the event says %d, the reservation holds %d", f.amount, held)
		}
		r.reserved -= held
		r.holds--
		if ev.Type == balDebited {
			r.balance -= held
		}
	case balCredited:
		if r.balance > math.MaxInt64-f.amount {
			return fail("the balance %d would overflow", r.balance)
		}
		r.balance += f.amount
	}
	// The decider's invariants: nothing reserved beyond the balance, no negative amount, and a reserved sum
	// exactly when reservations are open.
	if r.reserved < 0 || r.balance < r.reserved || r.holds < 0 || (r.holds == 0) != (r.reserved == 0) {
		return fail("balance %d, reserved %d in %d reservations breaks the account's invariants", r.balance, r.reserved, r.holds)
	}
	r.updated = toNanos(f.at)

	if !known {
		var row *balanceRow
		id, row = b.rows.add()
		*row = r
		b.ids[acct] = id
		hk.account = id
	} else {
		*b.rows.at(id) = r
	}
	switch ev.Type {
	case balReserved:
		b.holds[hk] = f.amount
	case balReleased, balDebited:
		delete(b.holds, hk)
	}
	return nil
}

// The JSON members of the funds events; TestBalancesDecoderKnowsEveryField fails when the domain types'
// change, so that the decoder below is taught them.
var (
	balReservedFields = []string{"guid", "payment", "amount", "bank_guid", "at"}
	balReleasedFields = []string{"guid", "payment", "amount", "reason", "at"}
	balBookedFields   = []string{"guid", "payment", "amount", "at"} // debited, credited
)

// decode reads a funds event with the fast reader (jsonIn, see Payments.decode); when it gives up, the
// account codec decides.
func (b *Balances) decode(eventType string, data []byte) (balanceFunds, error) {
	var f balanceFunds
	fields := balBookedFields
	switch eventType {
	case balReserved:
		fields = balReservedFields
	case balReleased:
		fields = balReleasedFields
	}
	r := &b.in
	r.reset(data)
	r.object(func(k []byte) {
		switch {
		case string(k) == "guid":
			if v, ok := r.str(); ok {
				f.account = string(v)
			}
		case string(k) == "payment":
			if v, ok := r.str(); ok {
				f.payment = string(v)
			}
		case string(k) == "amount":
			if v, ok := r.integer(); ok {
				f.amount = v
			}
		case string(k) == "at":
			r.time(&f.at)
		case eventType == balReserved && string(k) == "bank_guid", eventType == balReleased && string(k) == "reason":
			r.checkStr()
		default:
			r.unknown(k, fields...)
		}
	})
	r.end()
	if !r.slow {
		return f, nil
	}
	e, err := account.Events.Decode(eventType, data)
	if err != nil {
		return f, err
	}
	switch e := e.(type) {
	case account.AccountFundsReserved:
		return balanceFunds{e.GUID, e.Payment, e.Amount, e.At}, nil
	case account.AccountFundsReleased:
		return balanceFunds{e.GUID, e.Payment, e.Amount, e.At}, nil
	case account.AccountDebited:
		return balanceFunds{e.GUID, e.Payment, e.Amount, e.At}, nil
	case account.AccountCredited:
		return balanceFunds{e.GUID, e.Payment, e.Amount, e.At}, nil
	}
	return f, fmt.Errorf("projections: balances: %s decodes to %T", eventType, e)
}

// Balance returns an account's money, if a funds event has touched it.
func (b *Balances) Balance(accountGUID string) (AccountBalance, bool) {
	key, ok := parseGUID(accountGUID)
	if !ok {
		return AccountBalance{}, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	id, ok := b.ids[key]
	if !ok {
		return AccountBalance{}, false
	}
	r := b.rows.at(id)
	return AccountBalance{Balance: r.balance, Reserved: r.reserved, UpdatedAt: fromNanos(r.updated)}, true
}

// Holds is the number of open reservations over all accounts (payments in flight).
func (b *Balances) Holds() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.holds)
}
