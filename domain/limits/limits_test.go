package limits_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/limits"
)

var at = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func apply(t *testing.T, s limits.State, cmd any) limits.State {
	t.Helper()
	evs, err := limits.Decide(s, cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	for _, e := range evs {
		s = limits.Evolve(s, e)
	}
	return s
}

func TestIndividualOverridesStandardOverridesKYCPartByPart(t *testing.T) {
	customer, acct := uuid.NewString(), uuid.NewString()
	asset := func(tg limits.Target) limits.Target { tg.AssetCode, tg.AssetIssuer = "eUAH", "GISSUER"; return tg }
	kyc := asset(limits.Target{Scope: limits.KYC, KYCLevel: 1})
	std := asset(limits.Target{Scope: limits.Standard, Segment: "retail"})
	ind := asset(limits.Target{Scope: limits.Individual, CustomerGUID: customer, AccountTypeGUID: acct})
	s := limits.State{}
	s = apply(t, s, limits.SetOperation{Target: kyc, Operation: limits.Operation{Max: 1_000_00}, At: at})
	s = apply(t, s, limits.SetWindow{Target: kyc, Window: limits.Window{Period: limits.Day, Max: 5_000_00}, At: at})
	s = apply(t, s, limits.SetWindow{Target: kyc, Window: limits.Window{Period: limits.Month, Max: 50_000_00}, At: at})
	s = apply(t, s, limits.SetOperation{Target: std, Operation: limits.Operation{Min: 1_00, Max: 2_000_00}, At: at})
	s = apply(t, s, limits.SetWindow{Target: ind, Window: limits.Window{Period: limits.Day, Max: 300_00, MaxCount: 3}, At: at})

	a := limits.Account{CustomerGUID: customer, AccountGUID: acct, Segment: "retail", KYCLevel: 1, AssetCode: "eUAH", AssetIssuer: "GISSUER"}
	e := s.For(a)
	if e.Operation == nil || e.Operation.Source != limits.Standard || e.Operation.Bound.Max != 2_000_00 {
		t.Fatalf("operation: %+v", e.Operation)
	}
	if len(e.Windows) != 2 || e.Windows[0].Source != limits.Individual || e.Windows[0].Bound.Max != 300_00 ||
		e.Windows[1].Source != limits.KYC || e.Windows[1].Bound.Days != 30 {
		t.Fatalf("windows: %+v", e.Windows)
	}
	// Another customer of the segment gets the standard bounds and the KYC windows; another asset gets nothing.
	other := a
	other.CustomerGUID, other.AccountGUID = uuid.NewString(), uuid.NewString()
	if e := s.For(other); e.Windows[0].Source != limits.KYC || e.Windows[0].Bound.Max != 5_000_00 {
		t.Fatalf("other customer: %+v", e.Windows)
	}
	other.AssetCode = "eUSD"
	if e := s.For(other); !e.None() {
		t.Fatalf("another asset: %+v", e)
	}
	// Removing the individual window brings the KYC day back.
	s = apply(t, s, limits.RemoveWindow{Target: ind, Period: limits.Day, At: at})
	if e := s.For(a); e.Windows[0].Source != limits.KYC {
		t.Fatalf("after removal: %+v", e.Windows)
	}
	if _, err := limits.Decide(s, limits.RemoveWindow{Target: ind, Period: limits.Day, At: at}); !errors.Is(err, limits.ErrNotFound) {
		t.Fatalf("second removal: %v", err)
	}
}

func TestRulesAreCheckedAndIdempotent(t *testing.T) {
	tg := limits.Target{Scope: limits.Standard, Segment: "retail", AssetCode: "eUAH", AssetIssuer: "GISSUER"}
	s := apply(t, limits.State{}, limits.SetWindow{Target: tg, Window: limits.Window{Period: limits.Custom, Days: 10, Max: 1_00}, At: at})
	if evs, err := limits.Decide(s, limits.SetWindow{Target: tg, Window: limits.Window{Period: limits.Custom, Days: 10, Max: 1_00}, At: at.Add(time.Hour)}); err != nil || len(evs) != 0 {
		t.Fatalf("the same rule again: %v %v", evs, err)
	}
	for name, cmd := range map[string]any{
		"custom of one day":   limits.SetWindow{Target: tg, Window: limits.Window{Period: limits.Custom, Days: 1, Max: 1}},
		"custom over a year":  limits.SetWindow{Target: tg, Window: limits.Window{Period: limits.Custom, Days: 367, Max: 1}},
		"unknown period":      limits.SetWindow{Target: tg, Window: limits.Window{Period: "fortnight", Max: 1}},
		"window without max":  limits.SetWindow{Target: tg, Window: limits.Window{Period: limits.Day}},
		"negative max":        limits.SetOperation{Target: tg, Operation: limits.Operation{Max: -1}},
		"min not below max":   limits.SetOperation{Target: tg, Operation: limits.Operation{Min: 10, Max: 11}},
		"individual sans ids": limits.SetOperation{Target: limits.Target{Scope: limits.Individual, AssetCode: "eUAH", AssetIssuer: "G"}, Operation: limits.Operation{Max: 5}},
		"standard sans name":  limits.SetOperation{Target: limits.Target{Scope: limits.Standard, AssetCode: "eUAH", AssetIssuer: "G"}, Operation: limits.Operation{Max: 5}},
		"kyc out of range":    limits.SetOperation{Target: limits.Target{Scope: limits.KYC, KYCLevel: 101, AssetCode: "eUAH", AssetIssuer: "G"}, Operation: limits.Operation{Max: 5}},
		"no asset":            limits.SetOperation{Target: limits.Target{Scope: limits.KYC}, Operation: limits.Operation{Max: 5}},
	} {
		var inv *limits.ErrInvalid
		if _, err := limits.Decide(s, cmd); !errors.As(err, &inv) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Evolve is copy on write: a state folded earlier is not changed by a later fold.
	before := s
	_ = apply(t, s, limits.SetWindow{Target: tg, Window: limits.Window{Period: limits.Day, Max: 5}, At: at})
	if len(before.Rules[tg.Key()].Windows) != 1 {
		t.Fatalf("an earlier state changed: %+v", before.Rules)
	}
}
