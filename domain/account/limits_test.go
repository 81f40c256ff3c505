package account

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"
)

// customerAccount is an open customer account holding balance.
func customerAccount(t *testing.T, balance int64) State {
	t.Helper()
	s := State{}
	for _, cmd := range []any{generated(KindCustomer, Owner{CustomerGUID: uuid.NewString()}),
		RecordOpened{AssetCode: "eUAH", AssetIssuer: keypair.MustRandom().Address(), At: t0},
		Credit{Payment: uuid.New(), Amount: balance, At: t0}} {
		s = apply(t, s, cmd)
	}
	return s
}

func limitErr(t *testing.T, err error) *LimitError {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("want a limit refusal, got %v", err)
	}
	return le
}

func TestOperationBoundsAreExclusive(t *testing.T) {
	s := customerAccount(t, 1_000_00)
	l := &SpendLimits{Min: 9_90, Max: 100_10, OperationSource: "standard"}
	for _, ok := range []int64{9_91, 100_00, 100_09} {
		if _, err := Decide(s, Reserve{Payment: uuid.New(), Amount: ok, Limits: l, At: t0}); err != nil {
			t.Fatalf("%d within (9.90, 100.10): %v", ok, err)
		}
	}
	if le := limitErr(t, mustFail(Decide(s, Reserve{Payment: uuid.New(), Amount: 9_90, Limits: l, At: t0}))); le.Limit != "operation_min" || le.Allowed != 9_91 {
		t.Fatalf("at the minimum: %+v", le)
	}
	if le := limitErr(t, mustFail(Decide(s, Reserve{Payment: uuid.New(), Amount: 100_10, Limits: l, At: t0}))); le.Limit != "operation_max" || le.Allowed != 100_09 || le.Source != "standard" {
		t.Fatalf("at the maximum: %+v", le)
	}
}

func mustFail(_ []Event, err error) error { return err }

func TestWindowCountsOnlyPaymentsInsideTheTrailingWindow(t *testing.T) {
	s := customerAccount(t, 1_000_00)
	day := 24 * time.Hour
	l := &SpendLimits{Windows: []SpendWindow{{Period: "day", Days: 1, Max: 100_00, Source: "individual"}}}
	// 60.00 spent at t0; a day later to the nanosecond it has left the window, a nanosecond earlier it has not.
	s = apply(t, s, Reserve{Payment: uuid.New(), Amount: 60_00, Limits: l, At: t0})
	inside := t0.Add(day - time.Nanosecond)
	le := limitErr(t, mustFail(Decide(s, Reserve{Payment: uuid.New(), Amount: 40_00, Limits: l, At: inside})))
	if le.Limit != "window_amount" || le.Used != 60_00 || le.Allowed != 39_99 || le.Days != 1 || le.Period != "day" {
		t.Fatalf("just inside the window: %+v", le)
	}
	if _, err := Decide(s, Reserve{Payment: uuid.New(), Amount: 39_99, Limits: l, At: inside}); err != nil {
		t.Fatalf("the allowed amount: %v", err)
	}
	if _, err := Decide(s, Reserve{Payment: uuid.New(), Amount: 99_99, Limits: l, At: t0.Add(day)}); err != nil {
		t.Fatalf("just outside the window: %v", err)
	}
}

func TestWindowCountAndReleasedPaymentsDoNotCount(t *testing.T) {
	s := customerAccount(t, 1_000_00)
	l := &SpendLimits{Windows: []SpendWindow{{Period: "week", Days: 7, MaxCount: 2, Source: "kyc"}}}
	a, b := uuid.New(), uuid.New()
	s = apply(t, s, Reserve{Payment: a, Amount: 1_00, Limits: l, At: t0})
	s = apply(t, s, Reserve{Payment: b, Amount: 1_00, Limits: l, At: t0.Add(time.Hour)})
	le := limitErr(t, mustFail(Decide(s, Reserve{Payment: uuid.New(), Amount: 1_00, Limits: l, At: t0.Add(2 * time.Hour)})))
	if le.Limit != "window_count" || le.Bound != 2 || le.Used != 2 || le.Allowed != 0 {
		t.Fatalf("third payment: %+v", le)
	}
	// A failed payment gives its place back; a settled one keeps it.
	s = apply(t, s, Release{Payment: b, Reason: "failed", At: t0.Add(2 * time.Hour)})
	s = apply(t, s, Debit{Payment: a, At: t0.Add(2 * time.Hour)})
	s = apply(t, s, Reserve{Payment: uuid.New(), Amount: 1_00, Limits: l, At: t0.Add(3 * time.Hour)})
	if _, err := Decide(s, Reserve{Payment: uuid.New(), Amount: 1_00, Limits: l, At: t0.Add(4 * time.Hour)}); err == nil {
		t.Fatal("a third payment in the week passed after a debit")
	}
}

func TestReservationRecordsItsLimitsAndForgetsOldSpends(t *testing.T) {
	s := customerAccount(t, 1_000_00)
	l := &SpendLimits{Max: 500_00, OperationSource: "standard"}
	evs, err := Decide(s, Reserve{Payment: uuid.New(), Amount: 10_00, Limits: l, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	if r := evs[0].(AccountFundsReserved); r.Limits == nil || r.Limits.Max != 500_00 {
		t.Fatalf("the event does not record the limits: %+v", r)
	}
	s = Evolve(s, evs[0])
	s = apply(t, s, Reserve{Payment: uuid.New(), Amount: 10_00, At: t0.Add(MaxWindow + time.Hour)})
	if len(s.Funds.Outgoing) != 1 {
		t.Fatalf("outgoing kept beyond the longest window: %+v", s.Funds.Outgoing)
	}
	// A processing account keeps no outgoing list (no limits apply to it).
	p := openAccount(t)
	p = apply(t, p, Credit{Payment: uuid.New(), Amount: 10_00, At: t0})
	p = apply(t, p, Reserve{Payment: uuid.New(), Amount: 1_00, At: t0})
	if len(p.Funds.Outgoing) != 0 {
		t.Fatalf("processing account outgoing: %+v", p.Funds.Outgoing)
	}
}
