package stellar

import (
	"errors"
	"math"
	"testing"
)

func TestParseStroops(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1": 10_000_000, "12.34": 123_400_000, "0.0000001": 1, "5.1234567": 51_234_567,
		"922337203685.4775807": math.MaxInt64, "100.0000000": 1_000_000_000,
	}
	for s, want := range good {
		got, err := ParseStroops(s)
		if err != nil || got != want {
			t.Errorf("ParseStroops(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", ".", "1.", ".5", "-1", "+1", "1e3", "1.00000001", "0.12345678", "1,5",
		"922337203685.4775808", "99999999999999999999", " 1", "NaN"} {
		var ie *InvalidInputError
		if _, err := ParseStroops(s); !errors.As(err, &ie) {
			t.Errorf("ParseStroops(%q): want InvalidInputError, got %v", s, err)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	s, err := MinorToAmount(150, 2)
	if err != nil || s != "1.5000000" {
		t.Fatalf("MinorToAmount(150, 2) = %q, %v", s, err)
	}
	if m, err := AmountToMinor("1.5000000", 2); err != nil || m != 150 {
		t.Fatalf("AmountToMinor = %d, %v", m, err)
	}
	if m, err := AmountToMinor("12.34", 2); err != nil || m != 1234 {
		t.Fatalf("AmountToMinor(12.34) = %d, %v", m, err)
	}
	// Sub-minor-unit amounts are rejected, never rounded.
	for _, s := range []string{"1.001", "0.0000001", "1.2345"} {
		if _, err := AmountToMinor(s, 2); err == nil {
			t.Errorf("AmountToMinor(%q, 2) accepted a sub-minor amount", s)
		}
	}
	// Amounts that do not fit are rejected.
	if _, err := MinorToStroops(math.MaxInt64/100_000+1, 2); err == nil {
		t.Error("overflow accepted")
	}
	if v, err := MinorToStroops(math.MaxInt64/100_000, 2); err != nil || v != math.MaxInt64/100_000*100_000 {
		t.Errorf("largest amount: %d, %v", v, err)
	}
	for _, d := range []int32{-1, 8} {
		if _, err := MinorToStroops(1, d); err == nil {
			t.Errorf("decimals %d accepted", d)
		}
	}
	if FormatStroops(math.MinInt64) != "-922337203685.4775808" || FormatStroops(1) != "0.0000001" {
		t.Errorf("FormatStroops: %s %s", FormatStroops(math.MinInt64), FormatStroops(1))
	}
}

func TestAssetValidate(t *testing.T) {
	issuer := "GBRPYHIL2CI3FNQ4BXLFMNDLFJUNPU2HY3ZMFSHONUCEOASW7QC7OX2H"
	ok := []Asset{{"eUAH", issuer, 2}, {"A", issuer, 0}, {"ABCDEFGHIJKL", issuer, 7}}
	for _, a := range ok {
		if err := a.Validate(); err != nil {
			t.Errorf("%v: %v", a, err)
		}
	}
	bad := []Asset{{"", issuer, 2}, {"ABCDEFGHIJKLM", issuer, 2}, {"e-UAH", issuer, 2}, {"eUAH", "", 2},
		{"eUAH", "GBRPYHIL2CI3FNQ4BXLFMNDLFJUNPU2HY3ZMFSHONUCEOASW7QC7OX2X", 2}, {"eUAH", issuer, 8}, {"eUAH", issuer, -1},
		{"eUAH", "SBK2VIYYSVG76E7VC3QHYARNFLY2EAQXDHRC7BMXBBGIFG74ARPRMNQM", 2}}
	for _, a := range bad {
		var ie *InvalidInputError
		if err := a.Validate(); !errors.As(err, &ie) {
			t.Errorf("%v accepted: %v", a, err)
		}
	}
}
