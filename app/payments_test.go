package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/stellar"
)

// payEnv is the customers' environment with the payment service and a running settlement worker.
type payEnv struct {
	*custEnv
	pay    *Payments
	book   *AccountBook
	pbook  *PaymentBook
	settle *Settlement
	stop   func()
}

func newPayEnv(t *testing.T) *payEnv {
	t.Helper()
	e := &payEnv{custEnv: newCustEnv(t)}
	book, err := NewAccountBook(e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.book = book
	pbook, err := NewPaymentBook(e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.pbook = pbook
	pay, err := NewPayments(PaymentDeps{Store: e.store, Accounts: book, Book: pbook, Platform: e.plat, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.pay = pay
	e.startWorker(t)
	return e
}

// startWorker starts a settlement worker (again, after stopWorker: a restart).
func (e *payEnv) startWorker(t *testing.T) {
	t.Helper()
	b, err := e.horizon.NewBatcher(stellar.BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSettlement(SettlementDeps{Store: e.store, Accounts: e.book, Payments: e.pbook, Payer: b, Chain: e.horizon, Signers: e.svc.AccountSigners(),
		Platform: e.plat, Logger: slog.New(slog.DiscardHandler), InFlightWindow: 200 * time.Millisecond,
		RetryDelay: 50 * time.Millisecond, OrphanGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.settle = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); <-done; b.Close() }) }
	t.Cleanup(e.stop)
}

// entities returns the emission and processing accounts of a bank.
func (e *payEnv) entities(t *testing.T, cp uuid.UUID) (emission, processing uuid.UUID) {
	t.Helper()
	c, ok := e.dir.Counterparty(testCtx(t), cp.String())
	if !ok {
		t.Fatalf("bank %s not in the read model", cp)
	}
	return uuid.MustParse(c.EmissionAccountGUID), uuid.MustParse(c.ProcessingAccountGUID)
}

func (e *payEnv) customerAccount(t *testing.T, cp uuid.UUID, login string) uuid.UUID {
	t.Helper()
	got := e.register(t, cp, e.input(login), Write{})
	return uuid.MustParse(got.Account.GUID)
}

// transfer creates and confirms a payment and waits for its final status.
func (e *payEnv) transfer(t *testing.T, cp, from, to uuid.UUID, amount int64, bank string) payment.State {
	t.Helper()
	ctx := testCtx(t)
	w, err := e.pay.CreatePayment(ctx, cp, PaymentInput{SenderID: from.String(), ReceiverID: to.String(), Amount: amount,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress(), Purpose: "test"}, Write{})
	if err != nil {
		t.Fatalf("create %s → %s: %v", from, to, err)
	}
	id := uuid.MustParse(w.GUID)
	if _, err := e.pay.ConfirmPayment(ctx, cp, id, bank, "", Write{}); err != nil {
		t.Fatalf("confirm %s: %v", id, err)
	}
	return e.await(t, id)
}

// await waits until the payment is final.
func (e *payEnv) await(t *testing.T, id uuid.UUID) payment.State {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, err := e.pay.payment(testCtx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status.Final() {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("payment %s not settled in time", id)
	return payment.State{}
}

// funds reads an account's ledger funds from its stream.
func (e *payEnv) funds(t *testing.T, id uuid.UUID) (account.Funds, string) {
	t.Helper()
	s, err := peek(testCtx(t), e.store, account.Stream(id), account.Decider, account.Events)
	if err != nil {
		t.Fatal(err)
	}
	return s.Funds, s.Address
}

// checkBooks asserts that every account's ledger balance equals its balance on chain, and that nothing stays
// reserved once the payments are final.
func (e *payEnv) checkBooks(t *testing.T, accounts ...uuid.UUID) {
	t.Helper()
	for _, id := range accounts {
		f, addr := e.funds(t, id)
		chain := e.trustline(t, addr)
		onChain, err := chain.Minor(2)
		if err != nil {
			t.Fatal(err)
		}
		if f.Balance != onChain {
			t.Errorf("account %s: ledger balance %d, on chain %d", id, f.Balance, onChain)
		}
		if f.Reserved != 0 || len(f.Reservations) != 0 {
			t.Errorf("account %s: %d still reserved (%v)", id, f.Reserved, f.Reservations)
		}
	}
}

func (e *payEnv) issue(t *testing.T, cp, emission uuid.UUID, amount int64) payment.State {
	t.Helper()
	em := uuid.New()
	pid := uuid.NewSHA1(em, []byte("payment"))
	if err := e.pay.StartEmissionPayment(testCtx(t), EmissionPayment{Payment: pid, Emission: em, CounterpartyGUID: cp,
		EmissionAccount: emission, Amount: amount}, Write{}); err != nil {
		t.Fatalf("issue: %v", err)
	}
	return e.await(t, pid)
}

func TestMoneyFlowsThroughOneBankAndAcrossTwo(t *testing.T) {
	e := newPayEnv(t)
	emA, prA := e.entities(t, e.a)
	_, prB := e.entities(t, e.b)
	c1 := e.customerAccount(t, e.a, "olena")
	c2 := e.customerAccount(t, e.b, "taras")

	if s := e.issue(t, e.a, emA, 1_000_00); s.Status != payment.StatusConfirmed || s.Hash == "" {
		t.Fatalf("issue: %+v", s)
	}
	steps := []struct {
		name     string
		cp       uuid.UUID
		from, to uuid.UUID
		amount   int64
		bank     string
	}{
		{"emission → processing", e.a, emA, prA, 500_00, ""},
		{"processing → customer", e.a, prA, c1, 200_00, ""},
		{"customer → customer of another bank", e.a, c1, c2, 50_25, e.b.String()},
		{"customer → processing", e.b, c2, prB, 20_00, ""},
		{"processing → emission", e.a, prA, emA, 100_00, ""},
	}
	for _, st := range steps {
		s := e.transfer(t, st.cp, st.from, st.to, st.amount, st.bank)
		if s.Status != payment.StatusConfirmed || s.Hash == "" {
			t.Fatalf("%s: %+v", st.name, s)
		}
	}
	// Burn what came back to the emission account.
	em := uuid.New()
	pid := uuid.NewSHA1(em, []byte("payment"))
	if err := e.pay.StartEmissionPayment(testCtx(t), EmissionPayment{Payment: pid, Emission: em, CounterpartyGUID: e.a,
		Burn: true, EmissionAccount: emA, Amount: 600_00}, Write{}); err != nil {
		t.Fatalf("burn: %v", err)
	}
	if s := e.await(t, pid); s.Status != payment.StatusConfirmed {
		t.Fatalf("burn: %+v", s)
	}
	want := map[uuid.UUID]int64{emA: 0, prA: 200_00, c1: 149_75, c2: 30_25, prB: 20_00}
	for id, bal := range want {
		if f, _ := e.funds(t, id); f.Balance != bal {
			t.Errorf("account %s: balance %d, want %d", id, f.Balance, bal)
		}
	}
	e.checkBooks(t, emA, prA, c1, c2, prB)
}

func TestPaymentRefusals(t *testing.T) {
	e := newPayEnv(t)
	emA, prA := e.entities(t, e.a)
	_, prB := e.entities(t, e.b)
	c1 := e.customerAccount(t, e.a, "olena")
	ctx := testCtx(t)
	e.issue(t, e.a, emA, 100_00)
	in := func(from, to uuid.UUID, amount int64) PaymentInput {
		return PaymentInput{SenderID: from.String(), ReceiverID: to.String(), Amount: amount, AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}
	}
	// Routes the guide does not allow, named in the error.
	var route *payment.RouteError
	if _, err := e.pay.CreatePayment(ctx, e.a, in(emA, c1, 1_00), Write{}); !errors.As(err, &route) || route.Route() != "emission → customer" {
		t.Errorf("emission → customer: %v", err)
	}
	if _, err := e.pay.CreatePayment(ctx, e.a, in(emA, prB, 1_00), Write{}); !errors.As(err, &route) || !route.External {
		t.Errorf("emission → another bank's processing: %v", err)
	}
	// Another bank's account as sender.
	var inv *payment.ErrInvalid
	if _, err := e.pay.CreatePayment(ctx, e.a, in(prB, prA, 1_00), Write{}); !errors.As(err, &inv) || inv.Field != "sender_id" {
		t.Errorf("foreign sender: %v", err)
	}
	// Insufficient funds: refused at confirmation, nothing reserved, the draft stays a draft.
	w, err := e.pay.CreatePayment(ctx, e.a, in(emA, prA, 100_01), Write{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pay.ConfirmPayment(ctx, e.a, uuid.MustParse(w.GUID), "", "", Write{}); !errors.Is(err, account.ErrInsufficientFunds) {
		t.Errorf("overdraft: %v", err)
	}
	if s, _ := e.pay.payment(ctx, uuid.MustParse(w.GUID)); s.Status != payment.StatusCreated {
		t.Errorf("refused draft is %s", s.Status)
	}
	// A cross-bank payment needs bank_guid naming the receiver's bank.
	e.transfer(t, e.a, emA, prA, 50_00, "")
	w, err = e.pay.CreatePayment(ctx, e.a, in(prA, prB, 1_00), Write{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bank := range []string{"", e.a.String(), uuid.NewString()} {
		if _, err := e.pay.ConfirmPayment(ctx, e.a, uuid.MustParse(w.GUID), bank, "", Write{}); !errors.Is(err, payment.ErrBankGUID) {
			t.Errorf("bank_guid %q: %v", bank, err)
		}
	}
	// target_balance: the sender's balance after the payment must be as the caller expects.
	tb := int64(12_34)
	w2, err := e.pay.CreatePayment(ctx, e.a, PaymentInput{SenderID: prA.String(), ReceiverID: c1.String(), Amount: 1_00,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress(), TargetBalance: &tb}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pay.ConfirmPayment(ctx, e.a, uuid.MustParse(w2.GUID), "", "", Write{}); !errors.Is(err, account.ErrTargetBalance) {
		t.Errorf("target_balance: %v", err)
	}
	// Another bank cannot confirm or even see the draft.
	if _, err := e.pay.ConfirmPayment(ctx, e.b, uuid.MustParse(w2.GUID), "", "", Write{}); !errors.Is(err, payment.ErrNotFound) {
		t.Errorf("foreign confirm: %v", err)
	}
	// A cancelled draft cannot be confirmed.
	if _, err := e.pay.CancelPayment(ctx, e.a, uuid.MustParse(w2.GUID), Write{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pay.ConfirmPayment(ctx, e.a, uuid.MustParse(w2.GUID), "", "", Write{}); !errors.Is(err, payment.ErrNotConfirmable) {
		t.Errorf("confirm after cancel: %v", err)
	}
	e.checkBooks(t, emA, prA, c1)
}

func TestConcurrentConfirmsNeverOverdraw(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 payments through Stellar")
	}
	e := newPayEnv(t)
	emA, prA := e.entities(t, e.a)
	e.issue(t, e.a, emA, 300_00)
	ctx := testCtx(t)
	const n = 1000
	ids := make([]uuid.UUID, n)
	for i := range ids {
		w, err := e.pay.CreatePayment(ctx, e.a, PaymentInput{SenderID: emA.String(), ReceiverID: prA.String(), Amount: 1_00,
			AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}, Write{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = uuid.MustParse(w.GUID)
	}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			_, err := e.pay.ConfirmPayment(ctx, e.a, id, "", "", Write{})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, account.ErrInsufficientFunds):
				refused.Add(1)
			default:
				t.Errorf("confirm %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 300 || refused.Load() != n-300 {
		t.Fatalf("%d confirmed, %d refused; want 300 and %d", ok.Load(), refused.Load(), n-300)
	}
	for _, id := range ids {
		if s, _ := e.pay.payment(ctx, id); s.Status == payment.StatusPending {
			e.await(t, id)
		}
	}
	if f, _ := e.funds(t, emA); f.Balance != 0 {
		t.Errorf("emission account balance %d after draining", f.Balance)
	}
	e.checkBooks(t, emA, prA)
}

func TestSettlementResumesAfterAStop(t *testing.T) {
	e := newPayEnv(t)
	emA, prA := e.entities(t, e.a)
	e.issue(t, e.a, emA, 10_00)
	ctx := testCtx(t)
	// The worker is down: confirmations reserve and wait.
	e.stop()
	w, err := e.pay.CreatePayment(ctx, e.a, PaymentInput{SenderID: emA.String(), ReceiverID: prA.String(), Amount: 4_00,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(w.GUID)
	if c, err := e.pay.ConfirmPayment(ctx, e.a, id, "", "", Write{}); err != nil || c.Status != payment.StatusPending {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	// A confirmation that stopped after its reservation: reserve by hand, leave the payment a draft.
	w2, err := e.pay.CreatePayment(ctx, e.a, PaymentInput{SenderID: emA.String(), ReceiverID: prA.String(), Amount: 1_00,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	orphan := uuid.MustParse(w2.GUID)
	s2, _ := e.pay.payment(ctx, orphan)
	if _, _, err := e.pay.reserve(ctx, s2.Created, "", Write{}); err != nil {
		t.Fatal(err)
	}
	e.startWorker(t)
	if s := e.await(t, id); s.Status != payment.StatusConfirmed {
		t.Fatalf("resumed payment: %+v", s)
	}
	if s := e.await(t, orphan); s.Status != payment.StatusConfirmed {
		t.Fatalf("orphan reservation's payment: %+v", s)
	}
	if f, _ := e.funds(t, prA); f.Balance != 5_00 {
		t.Errorf("processing balance %d, want 500", f.Balance)
	}
	e.checkBooks(t, emA, prA)
	if st := e.settle.Stats(); st.Recovered < 1 {
		t.Errorf("stats %+v: the orphan was not recovered", st)
	}
}

func TestSettlementAfterTheChainPaidButTheLedgerDidNotBook(t *testing.T) {
	e := newPayEnv(t)
	emA, prA := e.entities(t, e.a)
	e.issue(t, e.a, emA, 10_00)
	ctx := testCtx(t)
	e.stop()
	w, err := e.pay.CreatePayment(ctx, e.a, PaymentInput{SenderID: emA.String(), ReceiverID: prA.String(), Amount: 3_00,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(w.GUID)
	if _, err := e.pay.ConfirmPayment(ctx, e.a, id, "", "", Write{}); err != nil {
		t.Fatal(err)
	}
	// The crash: the payment went out on chain, then the process died before booking it.
	s, _ := e.pay.payment(ctx, id)
	st, _ := peek(ctx, e.store, account.Stream(emA), account.Decider, account.Events)
	signer, err := e.svc.AccountSigners().AccountSigner(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.horizon.Pay(ctx, stellar.Payment{GUID: id.String(), From: stellar.Signatory{Account: st.Address, Signers: []stellar.Signer{signer}},
		To: s.Created.Receiver.Address, Asset: e.asset(), AmountMinor: 3_00}); err != nil {
		t.Fatal(err)
	}
	e.startWorker(t)
	if got := e.await(t, id); got.Status != payment.StatusConfirmed {
		t.Fatalf("%+v", got)
	}
	// Exactly one payment on chain: the books agree with the chain.
	e.checkBooks(t, emA, prA)
	if f, _ := e.funds(t, prA); f.Balance != 3_00 {
		t.Errorf("processing balance %d, want 300", f.Balance)
	}
}
