package reconciliation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/reconciliation"
)

var (
	t0  = time.Date(2026, 5, 2, 0, 30, 0, 0, time.UTC)
	run = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	a   = "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	b   = "7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02"
)

func foldRun(evs ...reconciliation.RunEvent) reconciliation.RunState {
	var s reconciliation.RunState
	for _, e := range evs {
		s = reconciliation.EvolveRun(s, e)
	}
	return s
}

func started() reconciliation.ReconciliationStarted {
	return reconciliation.ReconciliationStarted{GUID: run.String(), Day: "2026-05-01", Trigger: "schedule", At: t0}
}

func TestRunLifecycle(t *testing.T) {
	// Given nothing, when started, then started; a retry of the same start is a no-op.
	evs, err := reconciliation.DecideRun(reconciliation.RunState{}, reconciliation.Start{GUID: run, Day: "2026-05-01", Trigger: "schedule", At: t0})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	s := foldRun(evs...)
	if evs, err := reconciliation.DecideRun(s, reconciliation.Start{GUID: run, Day: "2026-05-01", Trigger: "schedule", At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("retry: %v %v", evs, err)
	}
	if _, err := reconciliation.DecideRun(s, reconciliation.Start{GUID: run, Day: "2026-04-30", Trigger: "schedule"}); !errors.Is(err, reconciliation.ErrAlreadyExists) {
		t.Fatalf("other day on the same GUID: %v", err)
	}
	// Findings are numbered in the order found, across records.
	d := reconciliation.Discrepancy{Type: reconciliation.BalanceMismatch, Subject: reconciliation.SubjectAccount}
	e1, _ := reconciliation.DecideRun(s, reconciliation.Record{Discrepancies: []reconciliation.Discrepancy{d, d}})
	s = foldRun(append([]reconciliation.RunEvent{started()}, e1...)...)
	e2, _ := reconciliation.DecideRun(s, reconciliation.Record{Discrepancies: []reconciliation.Discrepancy{d}})
	s = reconciliation.EvolveRun(s, e2[0])
	if len(s.Discrepancies) != 3 || s.Discrepancies[2].ID != 3 {
		t.Fatalf("numbering %+v", s.Discrepancies)
	}
	if _, err := reconciliation.DecideRun(s, reconciliation.Record{Discrepancies: []reconciliation.Discrepancy{{Type: "odd", Subject: "account"}}}); err == nil {
		t.Fatal("unknown type recorded")
	}
	// Resolving waits for the end of the run.
	if _, err := reconciliation.DecideRun(s, reconciliation.Resolve{ID: 1, Reason: "x"}); !errors.Is(err, reconciliation.ErrStillRunning) {
		t.Fatalf("resolve while running: %v", err)
	}
	done, _ := reconciliation.DecideRun(s, reconciliation.Complete{At: t0})
	s = reconciliation.EvolveRun(s, done[0])
	if s.Status != reconciliation.RunCompleted {
		t.Fatal(s.Status)
	}
	if _, err := reconciliation.DecideRun(s, reconciliation.Fail{Reason: "late"}); !errors.Is(err, reconciliation.ErrNotRunning) {
		t.Fatalf("fail after completion: %v", err)
	}
	res, err := reconciliation.DecideRun(s, reconciliation.Resolve{ID: 2, Reason: " booked by hand ", By: "op"})
	if err != nil || res[0].(reconciliation.ReconciliationDiscrepancyResolved).Reason != "booked by hand" {
		t.Fatalf("%v %v", res, err)
	}
	before := s
	s = reconciliation.EvolveRun(s, res[0])
	if len(before.Resolved) != 0 || len(s.Resolved) != 1 {
		t.Fatal("Evolve changed the state it was given")
	}
	if _, err := reconciliation.DecideRun(s, reconciliation.Resolve{ID: 2, Reason: "other", By: "op"}); !errors.Is(err, reconciliation.ErrAlreadyResolved) {
		t.Fatalf("twice: %v", err)
	}
	if _, err := reconciliation.DecideRun(s, reconciliation.Resolve{ID: 4, Reason: "x"}); !errors.Is(err, reconciliation.ErrDiscrepancyNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func calc(debtor, creditor string, saldo int64, over bool) reconciliation.Calculation {
	return reconciliation.Calculation{GUID: run, Day: "2026-05-01", Debtor: debtor, Creditor: creditor, Saldo: saldo, TotalIn: saldo, DayOver: over}
}

func decideRecon(t *testing.T, s reconciliation.ReconState, cp string, st reconciliation.ReconStatus, c reconciliation.Calculation) (reconciliation.ReconState, []reconciliation.ReconEvent, error) {
	t.Helper()
	evs, err := reconciliation.DecideRecon(s, reconciliation.UpdateStatus{Calculation: c, Counterparty: cp, Status: st, At: t0})
	for _, e := range evs {
		s = reconciliation.EvolveRecon(s, e)
	}
	return s, evs, err
}

func TestReconStatusModel(t *testing.T) {
	c := calc(a, b, 75_50, true)
	var s reconciliation.ReconState
	var tr *reconciliation.TransitionError
	if _, _, err := decideRecon(t, s, a, reconciliation.Paid, c); !errors.As(err, &tr) {
		t.Fatalf("paid while calculated: %v", err)
	}
	if _, _, err := decideRecon(t, s, a, reconciliation.Confirmed, calc(a, b, 75_50, false)); !errors.Is(err, reconciliation.ErrDayNotOver) {
		t.Fatalf("day running: %v", err)
	}
	if _, _, err := decideRecon(t, s, "5a1e0b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", reconciliation.Confirmed, c); !errors.Is(err, reconciliation.ErrNotParticipant) {
		t.Fatalf("outsider: %v", err)
	}
	s, _, err := decideRecon(t, s, a, reconciliation.Confirmed, c)
	if err != nil || s.Status != reconciliation.Confirmed {
		t.Fatalf("%+v %v", s, err)
	}
	if _, evs, err := decideRecon(t, s, a, reconciliation.Confirmed, c); err != nil || len(evs) != 0 {
		t.Fatalf("again: %v %v", evs, err)
	}
	if _, _, err := decideRecon(t, s, b, reconciliation.Confirmed, calc(a, b, 80_00, true)); !errors.Is(err, reconciliation.ErrCalculationChanged) {
		t.Fatalf("other figures: %v", err)
	}
	s, _, err = decideRecon(t, s, b, reconciliation.Confirmed, c)
	if err != nil || s.Status != reconciliation.AwaitingPayment {
		t.Fatalf("%+v %v", s, err)
	}
	for _, st := range []reconciliation.ReconStatus{reconciliation.AwaitingPayment, reconciliation.Overdue} {
		if _, _, err := decideRecon(t, s, b, st, c); !errors.Is(err, reconciliation.ErrComputedStatus) {
			t.Fatalf("%s: %v", st, err)
		}
	}
	if _, _, err := decideRecon(t, s, a, reconciliation.Paid, c); !errors.Is(err, reconciliation.ErrNotCreditor) {
		t.Fatalf("debtor pays: %v", err)
	}
	if _, _, err := decideRecon(t, s, a, reconciliation.Calculated, c); !errors.As(err, &tr) {
		t.Fatalf("back to calculated: %v", err)
	}
	s, _, err = decideRecon(t, s, b, reconciliation.Paid, c)
	if err != nil || s.Status != reconciliation.Paid || s.PaidBy != b {
		t.Fatalf("%+v %v", s, err)
	}
	if _, _, err := decideRecon(t, s, b, reconciliation.Confirmed, c); !errors.As(err, &tr) {
		t.Fatalf("confirm a paid recon: %v", err)
	}
	// Even flows: both confirmations settle it, nothing is owed.
	even := calc(a, b, 0, true)
	z, _, _ := decideRecon(t, reconciliation.ReconState{}, a, reconciliation.Confirmed, even)
	z, _, _ = decideRecon(t, z, b, reconciliation.Confirmed, even)
	if z.Status != reconciliation.Paid {
		t.Fatalf("even recon %+v", z)
	}
	// Overdue days count whole days started after the due date.
	due := t0
	if over, days := reconciliation.OverdueDays(reconciliation.AwaitingPayment, due, due.Add(25*time.Hour)); !over || days != 2 {
		t.Fatalf("%v %d", over, days)
	}
	if over, _ := reconciliation.OverdueDays(reconciliation.Paid, due, due.Add(72*time.Hour)); over {
		t.Fatal("a paid recon is never overdue")
	}
}

func TestEventsRoundTrip(t *testing.T) {
	for _, e := range []reconciliation.RunEvent{started(), reconciliation.ReconciliationProgressed{}, reconciliation.ReconciliationDiscrepanciesFound{},
		reconciliation.ReconciliationCompleted{}, reconciliation.ReconciliationFailed{}, reconciliation.ReconciliationDiscrepancyResolved{}} {
		typ, data, err := reconciliation.RunEvents.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reconciliation.RunEvents.Decode(typ, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []reconciliation.ReconEvent{reconciliation.ReconConfirmedBy{}, reconciliation.ReconAwaitingPayment{}, reconciliation.ReconPaid{}} {
		typ, data, err := reconciliation.ReconEvents.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reconciliation.ReconEvents.Decode(typ, data); err != nil {
			t.Fatal(err)
		}
	}
}
