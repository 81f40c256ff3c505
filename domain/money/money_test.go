package money

import (
	"errors"
	"math"
	"testing"

	"github.com/shopspring/decimal"
)

var uah = Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}

func TestParse(t *testing.T) {
	ok := map[string]Amount{"150.25": 15025, "0.1": 10, "0.10": 10, "3": 300, "-0.05": -5, "0": 0, "92233720368547758.07": math.MaxInt64, "1.000": 100}
	for in, want := range ok {
		got, err := Parse(in, uah)
		if err != nil || got != want {
			t.Fatalf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]error{
		"0.001": ErrTooManyDecimals, "10.255": ErrTooManyDecimals, "1.0000001": ErrTooManyDecimals,
		"": ErrNotANumber, "abc": ErrNotANumber, "1e3": ErrNotANumber, "1_000": ErrNotANumber, "1.": ErrNotANumber, ".5": ErrNotANumber, "+5": ErrNotANumber, "1 000": ErrNotANumber, "NaN": ErrNotANumber,
		"92233720368547758.08": ErrOutOfRange, "-92233720368547758.09": ErrOutOfRange,
	}
	for in, want := range bad {
		if _, err := Parse(in, uah); !errors.Is(err, want) {
			t.Fatalf("Parse(%q): want %v, got %v", in, want, err)
		}
	}
	if _, err := Parse("1", Asset{Code: "X", Decimals: 8}); !errors.Is(err, ErrInvalidAssetSpec) {
		t.Fatalf("an asset with 8 decimals must be refused, got %v", err)
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, a := range []Amount{0, 1, 5, 10, 15025, -5, -15025, math.MaxInt64, math.MinInt64} {
		s := a.Format(uah)
		back, err := Parse(s, uah)
		if err != nil || back != a {
			t.Fatalf("%d formats as %q, which parses back as %d, %v", a, s, back, err)
		}
	}
	if got := Amount(300).Format(uah); got != "3.00" {
		t.Fatalf("300 kopiyky formats as %q, want 3.00", got)
	}
	if got := Amount(-5).Format(uah); got != "-0.05" {
		t.Fatalf("-5 kopiyky formats as %q, want -0.05", got)
	}
	if d := Amount(15025).Decimal(uah); !d.Equal(decimal.RequireFromString("150.25")) {
		t.Fatalf("Decimal = %s", d)
	}
}

func TestAssetNames(t *testing.T) {
	for _, code := range []string{"UAH", "uah", "eUAH", "EUAH"} {
		if !uah.Names(code) {
			t.Fatalf("%q should name the asset", code)
		}
	}
	if uah.Names("USD") || uah.Names("") {
		t.Fatalf("other codes must not name the asset")
	}
}

func TestArithmeticNeverWraps(t *testing.T) {
	if _, err := Amount(math.MaxInt64).Add(1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("MaxInt64+1 must be out of range, got %v", err)
	}
	if _, err := Amount(math.MinInt64).Sub(1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("MinInt64-1 must be out of range, got %v", err)
	}
	if s, err := Amount(100).Sub(250); err != nil || s != -150 {
		t.Fatalf("100-250 = %d, %v", s, err)
	}
	if s, err := Amount(-100).Add(250); err != nil || s != 150 {
		t.Fatalf("-100+250 = %d, %v", s, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"150.25", "0.001", "-3", "1e5", "92233720368547758.07"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s, uah)
		if err != nil {
			return
		}
		back, err := Parse(a.Format(uah), uah)
		if err != nil || back != a {
			t.Fatalf("%q parsed to %d, which does not round-trip (%v)", s, a, err)
		}
	})
}
