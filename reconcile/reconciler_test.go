package reconcile

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar"
)

const (
	cpA = "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	cpB = "7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02"
)

// twoBanks issues 100.00 to A's account and 50.00 to B's, and pays 30.00 from A to B: books that agree.
func twoBanks(t *testing.T) (*chainEnv, *stellar.KeySigner, *stellar.KeySigner) {
	e := newChainEnv(t)
	a, b := e.holder(cpA), e.holder(cpB)
	e.issue(a.Address(), 100_00)
	e.issue(b.Address(), 50_00)
	e.pay(a, b.Address(), 30_00)
	return e, a, b
}

func TestBooksThatAgreeHaveNoDiscrepancies(t *testing.T) {
	e, _, _ := twoBanks(t)
	var steps atomic.Int32
	s := e.run(e.reconciler(Config{Watch: func(Progress) { steps.Add(1) }}))
	if len(s.Discrepancies) != 0 {
		t.Fatalf("discrepancies in agreeing books: %+v", s.Discrepancies)
	}
	c := s.Counts
	if c.Accounts != 2 || c.ChainHolders != 2 || c.Payments != 3 || c.ChainPayments != 3 || c.LedgerSupply != 150_00 || c.ChainSupply != 150_00 {
		t.Errorf("counts %+v", c)
	}
	if steps.Load() == 0 {
		t.Error("no progress reported")
	}
	if s.Day != reconciliation.Day(s.StartedAt) || s.Trigger != reconciliation.TriggerCLI || s.StartedBy != "test" {
		t.Errorf("run %+v", s)
	}
}

func TestClawbackBehindTheLedgersBackIsFound(t *testing.T) {
	e, a, _ := twoBanks(t)
	// The issuer claws 12.34 back from A straight on the chain: the ledger never hears of it.
	r, err := e.h.Clawback(context.Background(), stellar.Clawback{Issuer: e.issuer.Signatory(), From: a.Address(), Asset: e.asset, AmountMinor: 12_34})
	if err != nil {
		t.Fatal(err)
	}
	s := e.run(e.reconciler(Config{}))
	got := kinds(s)
	if got[reconciliation.BalanceMismatch] != 1 || got[reconciliation.UnknownOnChainPayment] != 1 || got[reconciliation.SupplyMismatch] != 1 || len(s.Discrepancies) != 3 {
		t.Fatalf("discrepancies %v: %+v", got, s.Discrepancies)
	}
	bal := find(t, s, reconciliation.BalanceMismatch, func(d reconciliation.Discrepancy) bool { return d.Address == a.Address() })
	if *bal.LedgerAmount != 70_00 || *bal.ChainAmount != 57_66 || bal.CounterpartyGUID != cpA || bal.AccountGUID == "" {
		t.Errorf("balance mismatch %+v", bal)
	}
	claw := find(t, s, reconciliation.UnknownOnChainPayment, func(d reconciliation.Discrepancy) bool { return d.Hash == r.Hash })
	if *claw.ChainAmount != 12_34 || claw.Address != a.Address() || claw.PaymentGUID != "" {
		t.Errorf("unknown payment %+v", claw)
	}
	sup := find(t, s, reconciliation.SupplyMismatch, func(reconciliation.Discrepancy) bool { return true })
	if *sup.LedgerAmount != 150_00 || *sup.ChainAmount != 137_66 {
		t.Errorf("supply mismatch %+v", sup)
	}
}

func TestPaymentSettledOnChainButLostFromTheLedgerIsFound(t *testing.T) {
	e, a, b := twoBanks(t)
	lost := uuid.NewString()
	e.chainPay(b, a.Address(), 5_00, lost) // paid with Kazna's GUID, never booked
	s := e.run(e.reconciler(Config{}))
	got := kinds(s)
	if got[reconciliation.MissingInLedger] != 1 || got[reconciliation.BalanceMismatch] != 2 || len(s.Discrepancies) != 3 {
		t.Fatalf("discrepancies %v: %+v", got, s.Discrepancies)
	}
	d := find(t, s, reconciliation.MissingInLedger, func(d reconciliation.Discrepancy) bool { return d.PaymentGUID == lost })
	if d.Subject != reconciliation.SubjectPayment || *d.ChainAmount != 5_00 || d.Hash == "" || d.LedgerAmount != nil {
		t.Errorf("missing in ledger %+v", d)
	}
}

func TestPaymentMissingOnChainAndAmountMismatchAreFound(t *testing.T) {
	e, a, b := twoBanks(t)
	// The ledger booked a payment that never reached the chain…
	ghost := e.book.payment(uuid.NewString(), a.Address(), b.Address(), 1_00, "ab"+uuid.NewString(), e.issuer.Address())
	e.book.settle(ghost)
	// …and another whose chain amount differs from what it booked.
	p := e.chainPay(b, a.Address(), 2_00, uuid.NewString())
	p.Amount = 2_50
	e.book.settle(p)
	s := e.run(e.reconciler(Config{}))
	find(t, s, reconciliation.MissingOnChain, func(d reconciliation.Discrepancy) bool { return d.PaymentGUID == ghost.GUID })
	m := find(t, s, reconciliation.AmountMismatch, func(d reconciliation.Discrepancy) bool { return d.PaymentGUID == p.GUID })
	if *m.LedgerAmount != 2_50 || *m.ChainAmount != 2_00 {
		t.Errorf("amount mismatch %+v", m)
	}
}

// A payment in flight (on chain, booked a moment later) is cleared by the re-check, not recorded.
func TestRecheckClearsAPaymentInFlight(t *testing.T) {
	e, a, b := twoBanks(t)
	p := e.chainPay(a, b.Address(), 1_00, uuid.NewString())
	var syncs atomic.Int32
	r := e.reconciler(Config{Recheck: 1, Sync: func(context.Context) error {
		if syncs.Add(1) == 2 { // the second wait is the re-check's: the worker has booked it by then
			e.book.settle(p)
		}
		return nil
	}})
	s := e.run(r)
	if len(s.Discrepancies) != 0 || syncs.Load() != 2 {
		t.Fatalf("syncs %d, discrepancies %+v", syncs.Load(), s.Discrepancies)
	}
}

func TestResolveADiscrepancy(t *testing.T) {
	e, a, _ := twoBanks(t)
	if _, err := e.h.Clawback(context.Background(), stellar.Clawback{Issuer: e.issuer.Signatory(), From: a.Address(), Asset: e.asset, AmountMinor: 1_00}); err != nil {
		t.Fatal(err)
	}
	r := e.reconciler(Config{})
	s := e.run(r)
	id := uuid.MustParse(s.GUID)
	meta := eventstore.Metadata{Actor: "operator"}
	ctx := context.Background()
	if _, err := r.Resolve(ctx, id, 1, "clawback ordered by the court, booked by hand", "k1", meta); err != nil {
		t.Fatal(err)
	}
	// The same request again writes nothing; another reason for the same discrepancy is refused.
	if _, err := r.Resolve(ctx, id, 1, "clawback ordered by the court, booked by hand", "k1", meta); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, err := r.Resolve(ctx, id, 1, "another reason", "", meta); !errors.Is(err, reconciliation.ErrAlreadyResolved) {
		t.Fatalf("resolve twice: %v", err)
	}
	if _, err := r.Resolve(ctx, id, 99, "x", "", meta); !errors.Is(err, reconciliation.ErrDiscrepancyNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := r.Resolve(ctx, id, 2, "  ", "", meta); err == nil {
		t.Fatal("blank reason accepted")
	}
	got, err := r.load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res := got.Resolved[1]; res.By != "operator" || res.Reason == "" || len(got.Resolved) != 1 {
		t.Fatalf("resolutions %+v", got.Resolved)
	}
	// Reports shows what the stream holds.
	reports := NewReports()
	evs, err := e.store.ReadStream(ctx, reconciliation.RunStream(id), eventstore.Forwards, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := reports.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	rep, ok := reports.Report(s.GUID)
	if !ok || rep.Status != reconciliation.RunCompleted || len(rep.Discrepancies) != 3 || len(rep.Resolved) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if runs, total := reports.Runs(RunQuery{Statuses: []reconciliation.RunStatus{reconciliation.RunCompleted}}); total != 1 || runs[0].GUID != s.GUID {
		t.Fatalf("runs %d %+v", total, runs)
	}
}

func TestStartRefusals(t *testing.T) {
	e := newChainEnv(t)
	r := e.reconciler(Config{})
	ctx := context.Background()
	if _, err := r.Start(ctx, StartInput{Day: "2999-01-01"}); !errors.Is(err, ErrFutureDay) {
		t.Fatalf("future day: %v", err)
	}
	if _, err := r.Start(ctx, StartInput{Day: "yesterday"}); err == nil {
		t.Fatal("bad day accepted")
	}
	// A scheduled day runs once, whoever starts it.
	first, err := r.Start(ctx, StartInput{Day: "2026-01-01", Trigger: reconciliation.TriggerSchedule})
	if err != nil || !first.New {
		t.Fatalf("first: %+v %v", first, err)
	}
	r.wg.Wait()
	again, err := r.Start(ctx, StartInput{Day: "2026-01-01", Trigger: reconciliation.TriggerSchedule})
	if err != nil || again.New || again.GUID != first.GUID {
		t.Fatalf("again: %+v %v", again, err)
	}
}
