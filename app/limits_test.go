package app

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/limits"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
)

// limitsEnv is the payments environment with limits checked at confirmation.
type limitsEnv struct {
	*payEnv
	limits *Limits
}

func newLimitsEnv(t *testing.T) *limitsEnv {
	t.Helper()
	e := &limitsEnv{payEnv: newPayEnv(t)}
	l, err := NewLimits(LimitsDeps{Store: e.store, Platform: e.plat, Customers: e.views, Accounts: e.book, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.limits = l
	pay, err := NewPayments(PaymentDeps{Store: e.store, Accounts: e.book, Book: e.pbook, Platform: e.plat, Rules: l, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.pay = pay
	return e
}

// customer registers a customer of bank A with profile changes, waits for the read model, and funds its
// account with amount from the bank's processing account.
func (e *limitsEnv) customer(t *testing.T, login string, amount int64, edit func(*customer.Profile)) uuid.UUID {
	t.Helper()
	in := e.input(login)
	if edit != nil {
		edit(&in.Profile)
	}
	got := e.register(t, e.a, in, Write{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, ok := e.views.Customer(testCtx(t), e.a.String(), got.CustomerGUID); ok && len(c.Accounts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("customer %s not in the read model", login)
		}
		time.Sleep(5 * time.Millisecond)
	}
	acct := uuid.MustParse(got.Account.GUID)
	if amount > 0 {
		_, pr := e.entities(t, e.a)
		if s := e.transfer(t, e.a, pr, acct, amount, ""); s.Status != "CONFIRMED" {
			t.Fatalf("funding %s: %s %s", login, s.Status, s.Reason)
		}
	}
	return acct
}

// fund issues amount to bank A and moves it to its processing account.
func (e *limitsEnv) fund(t *testing.T, amount int64) {
	t.Helper()
	em, pr := e.entities(t, e.a)
	e.issue(t, e.a, em, amount)
	if s := e.transfer(t, e.a, em, pr, amount, ""); s.Status != "CONFIRMED" {
		t.Fatalf("to processing: %s", s.Status)
	}
}

func (e *limitsEnv) target(scope limits.Scope) limits.Target {
	return limits.Target{Scope: scope, AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}
}

// draft creates a payment and returns its GUID.
func (e *limitsEnv) draft(t *testing.T, from, to uuid.UUID, amount int64) uuid.UUID {
	t.Helper()
	w, err := e.pay.CreatePayment(testCtx(t), e.a, PaymentInput{SenderID: from.String(), ReceiverID: to.String(), Amount: amount,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	return uuid.MustParse(w.GUID)
}

func (e *limitsEnv) confirm(t *testing.T, id uuid.UUID) error {
	t.Helper()
	_, err := e.pay.ConfirmPayment(testCtx(t), e.a, id, "", "", Write{})
	return err
}

func TestLimitsUnderConcurrentConfirmsNeverPassTogether(t *testing.T) {
	e := newLimitsEnv(t)
	e.fund(t, 1_000_00)
	alice := e.customer(t, "alice", 500_00, nil)
	bob := e.customer(t, "bob", 0, nil)
	c, _ := e.views.Customer(testCtx(t), e.a.String(), e.custOf(t, alice))
	ind := e.target(limits.Individual)
	ind.CustomerGUID, ind.AccountTypeGUID = c.GUID, alice.String()
	// The day's sum must stay below 50.01: 50 payments of 1.00 fit, the 51st does not.
	if _, err := e.limits.SetWindow(testCtx(t), e.a, ind, limits.Window{Period: limits.Day, Max: 50_01, PeriodKey: "daily"}, Write{}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = e.draft(t, alice, bob, 1_00)
	}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			err := e.confirm(t, id)
			var le *account.LimitError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &le) && le.Limit == "window_amount" && le.Source == "individual" && le.Bound == 50_01:
				refused.Add(1)
			default:
				t.Errorf("confirm %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || refused.Load() != n-50 {
		t.Fatalf("%d confirmed, %d refused; want 50 and %d", ok.Load(), refused.Load(), n-50)
	}
	for _, id := range ids {
		if s, _ := e.pay.payment(testCtx(t), id); s.Status == "PENDING" {
			e.await(t, id)
		}
	}
	e.checkBooks(t, alice, bob)
}

// custOf is the customer owning an account.
func (e *limitsEnv) custOf(t *testing.T, acct uuid.UUID) string {
	t.Helper()
	s, err := accountView(testCtx(t), e.book, acct)
	if err != nil {
		t.Fatal(err)
	}
	return s.Owner.CustomerGUID
}

func TestIndividualLimitOverridesStandardAndWindowsEdge(t *testing.T) {
	e := newLimitsEnv(t)
	e.fund(t, 1_000_00)
	retail := func(p *customer.Profile) { p.Segment = "retail" }
	alice := e.customer(t, "alice", 300_00, retail)
	carol := e.customer(t, "carol", 300_00, retail)
	bob := e.customer(t, "bob", 0, nil)
	ctx := testCtx(t)
	std := e.target(limits.Standard)
	std.Segment = "retail"
	if _, err := e.limits.SetOperation(ctx, e.a, std, limits.Operation{Max: 10_00}, Write{}); err != nil {
		t.Fatal(err)
	}
	ind := e.target(limits.Individual)
	ind.CustomerGUID, ind.AccountTypeGUID = e.custOf(t, alice), alice.String()
	if _, err := e.limits.SetOperation(ctx, e.a, ind, limits.Operation{Max: 20_00}, Write{}); err != nil {
		t.Fatal(err)
	}
	// 15.00: alice's own maximum allows it; carol has only the segment's.
	if err := e.confirm(t, e.draft(t, alice, bob, 15_00)); err != nil {
		t.Fatalf("alice under her individual limit: %v", err)
	}
	var le *account.LimitError
	if err := e.confirm(t, e.draft(t, carol, bob, 15_00)); !errors.As(err, &le) || le.Limit != "operation_max" || le.Source != "standard" || le.Allowed != 9_99 {
		t.Fatalf("carol over the standard limit: %v", err)
	}
	// Exclusive: exactly the maximum is refused.
	if err := e.confirm(t, e.draft(t, alice, bob, 20_00)); !errors.As(err, &le) || le.Limit != "operation_max" {
		t.Fatalf("alice at her maximum: %v", err)
	}
	// A KYC default window of 7 days, count 2; the trailing window's edge.
	kyc := e.target(limits.KYC)
	kyc.KYCLevel = 1
	if _, err := e.limits.SetWindow(ctx, e.a, kyc, limits.Window{Period: limits.Week, MaxCount: 2}, Write{}); err != nil {
		t.Fatal(err)
	}
	t0 := e.clock.Now()
	if err := e.confirm(t, e.draft(t, carol, bob, 5_00)); err != nil {
		t.Fatal(err)
	}
	if err := e.confirm(t, e.draft(t, carol, bob, 5_00)); err != nil {
		t.Fatal(err)
	}
	late := e.draft(t, carol, bob, 5_00)
	e.clock.Set(t0.Add(7*24*time.Hour - time.Second))
	if err := e.confirm(t, late); !errors.As(err, &le) || le.Limit != "window_count" || le.Source != "kyc" || le.Used != 2 {
		t.Fatalf("third payment just inside the week: %v", err)
	}
	e.clock.Set(t0.Add(7 * 24 * time.Hour))
	if err := e.confirm(t, late); err != nil {
		t.Fatalf("third payment just outside the week: %v", err)
	}
	// Every change is an event of the bank's limits stream.
	var types []string
	for _, ev := range e.stream(t, limits.Stream(e.a)) {
		types = append(types, ev.Type)
	}
	if len(types) != 3 || types[0] != "LimitOperationSet" || types[2] != "LimitWindowSet" {
		t.Fatalf("limits stream: %v", types)
	}
	// The reservation records the limits it passed.
	var recorded bool
	for _, ev := range e.stream(t, account.Stream(alice)) {
		if ev.Type == "AccountFundsReserved" {
			e, err := account.Events.Decode(ev.Type, ev.Data)
			recorded = recorded || (err == nil && e.(account.AccountFundsReserved).Limits != nil)
		}
	}
	if !recorded {
		t.Fatal("no reservation of alice records its limits")
	}
	// So does the payment's own history: its confirmation names the limits its reservation passed.
	var confirmed bool
	for _, ev := range e.stream(t, payment.Stream(late)) {
		if ev.Type == "PaymentConfirmed" {
			e, err := payment.Events.Decode(ev.Type, ev.Data)
			c, _ := e.(payment.PaymentConfirmed)
			confirmed = err == nil && c.Limits != nil && len(c.Limits.Windows) == 1 && c.Limits.Windows[0].Source == "kyc" &&
				c.Limits.Max == 10_00 && c.Limits.OperationSource == "standard"
		}
	}
	if !confirmed {
		t.Fatal("carol's confirmation does not record the limits it passed")
	}
}

func TestBalanceAllowedCapsTheReceiver(t *testing.T) {
	e := newLimitsEnv(t)
	e.fund(t, 100_00)
	alice := e.customer(t, "alice", 50_00, nil)
	capped := e.customer(t, "capped", 0, func(p *customer.Profile) { p.BalanceAllowed = money.Amount(10_00) })
	if err := e.confirm(t, e.draft(t, alice, capped, 10_01)); !errors.Is(err, ErrBalanceAllowed) {
		t.Fatalf("over the cap: %v", err)
	}
	id := e.draft(t, alice, capped, 10_00)
	if err := e.confirm(t, id); err != nil {
		t.Fatalf("up to the cap: %v", err)
	}
	e.await(t, id)
	if err := e.confirm(t, e.draft(t, alice, capped, 1)); !errors.Is(err, ErrBalanceAllowed) {
		t.Fatalf("above a full cap: %v", err)
	}
	e.checkBooks(t, alice, capped)
}
