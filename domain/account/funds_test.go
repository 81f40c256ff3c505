package account

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openAccount is an open account, evolved through Decide as the ledger would.
func openAccount(t *testing.T) State {
	t.Helper()
	s := State{}
	for _, cmd := range []any{generated(KindProcessing, Owner{}), RecordOpened{AssetCode: "eUAH", AssetIssuer: keypair.MustRandom().Address(), At: t0}} {
		s = apply(t, s, cmd)
	}
	return s
}

func apply(t *testing.T, s State, cmd any) State {
	t.Helper()
	evs, err := Decide(s, cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	for _, e := range evs {
		s = Evolve(s, e)
	}
	return s
}

func TestFundsReserveDebitCreditRelease(t *testing.T) {
	s := openAccount(t)
	in, out, back := uuid.New(), uuid.New(), uuid.New()
	s = apply(t, s, Credit{Payment: in, Amount: 100_00, At: t0})
	if s.Funds.Balance != 100_00 || s.Funds.Available() != 100_00 {
		t.Fatalf("after credit: %+v", s.Funds)
	}
	// A credit replayed changes nothing.
	if evs, err := Decide(s, Credit{Payment: in, Amount: 100_00, At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("replayed credit: %v %v", evs, err)
	}
	s = apply(t, s, Reserve{Payment: out, Amount: 60_00, At: t0})
	if s.Funds.Available() != 40_00 || s.Funds.Reserved != 60_00 {
		t.Fatalf("after reserve: %+v", s.Funds)
	}
	// Reserving the same payment again is a retry; another amount for it is refused.
	if evs, err := Decide(s, Reserve{Payment: out, Amount: 60_00, At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("retried reserve: %v %v", evs, err)
	}
	if _, err := Decide(s, Reserve{Payment: out, Amount: 1, At: t0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reserve with another amount: %v", err)
	}
	// Available, not balance, bounds a new reservation.
	if _, err := Decide(s, Reserve{Payment: back, Amount: 40_01, At: t0}); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("overdraft: %v", err)
	}
	wrong, right := int64(1), int64(0)
	if _, err := Decide(s, Reserve{Payment: back, Amount: 40_00, TargetBalance: &wrong, At: t0}); !errors.Is(err, ErrTargetBalance) {
		t.Fatalf("target balance: %v", err)
	}
	s = apply(t, s, Reserve{Payment: back, Amount: 40_00, TargetBalance: &right, At: t0})
	s = apply(t, s, Debit{Payment: out, At: t0})
	if s.Funds.Balance != 40_00 || s.Funds.Reserved != 40_00 {
		t.Fatalf("after debit: %+v", s.Funds)
	}
	// A debit replayed changes nothing; a reservation of a booked payment is a finished retry.
	for _, cmd := range []any{Debit{Payment: out, At: t0}, Reserve{Payment: out, Amount: 60_00, At: t0}} {
		if evs, err := Decide(s, cmd); err != nil || len(evs) != 0 {
			t.Fatalf("%T replayed: %v %v", cmd, evs, err)
		}
	}
	s = apply(t, s, Release{Payment: back, Reason: "failed", At: t0})
	if s.Funds.Balance != 40_00 || s.Funds.Reserved != 0 || len(s.Funds.Reservations) != 0 {
		t.Fatalf("after release: %+v", s.Funds)
	}
	if evs, err := Decide(s, Release{Payment: back, At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("replayed release: %v %v", evs, err)
	}
	if _, err := Decide(s, Debit{Payment: back, At: t0}); !errors.Is(err, ErrNotReserved) {
		t.Fatalf("debit without reservation: %v", err)
	}
}

func TestFundsRefusals(t *testing.T) {
	s := openAccount(t)
	s = apply(t, s, Credit{Payment: uuid.New(), Amount: 10, At: t0})
	for name, cmd := range map[string]any{
		"zero amount":     Reserve{Payment: uuid.New(), Amount: 0, At: t0},
		"negative credit": Credit{Payment: uuid.New(), Amount: -1, At: t0},
		"no payment":      Credit{Amount: 1, At: t0},
	} {
		if _, err := Decide(s, cmd); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Decide(State{}, Credit{Payment: uuid.New(), Amount: 1, At: t0}); !errors.Is(err, ErrNotOpened) {
		t.Errorf("credit of an unopened account: %v", err)
	}
	blocked := apply(t, s, Block{Reason: "fraud", At: t0})
	if _, err := Decide(blocked, Reserve{Payment: uuid.New(), Amount: 1, At: t0}); !errors.Is(err, ErrBlocked) {
		t.Errorf("reserve on a blocked account: %v", err)
	}
}
