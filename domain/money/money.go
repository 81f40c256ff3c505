// Package money is exact money: an Amount is an int64 count of an asset's minor units, and decimals exist only
// at the edges (JSON, forms, Stellar). A decimal with more places than the asset has is refused, never
// rounded. It performs no I/O and has no float anywhere.
package money

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// MaxDecimals is the most minor-unit places an asset may have: Stellar amounts have 7.
const MaxDecimals = 7

// Asset is an e-money asset as Kazna knows it: its code in the API (UAH), its code on Stellar (eUAH), and the
// number of decimal places of its minor unit (2 for kopiyky).
type Asset struct {
	Code        string
	StellarCode string
	Decimals    int32
}

// Validate checks that an asset is usable for money.
func (a Asset) Validate() error {
	if a.Code == "" {
		return fmt.Errorf("money: asset code is empty")
	}
	if a.Decimals < 0 || a.Decimals > MaxDecimals {
		return fmt.Errorf("money: asset %s has %d decimals, want 0 to %d", a.Code, a.Decimals, MaxDecimals)
	}
	return nil
}

// Names reports whether code names this asset, by its API code or its Stellar code (requests use both).
func (a Asset) Names(code string) bool {
	return code != "" && (strings.EqualFold(code, a.Code) || strings.EqualFold(code, a.StellarCode))
}

// Amount is a number of minor units of an asset. Zero and negative amounts exist (balances, differences);
// commands that move money check for positive amounts themselves.
type Amount int64

// Errors of Parse, matched with errors.Is.
var (
	ErrNotANumber       = errors.New("money: not a decimal number")
	ErrTooManyDecimals  = errors.New("money: more decimal places than the asset has")
	ErrOutOfRange       = errors.New("money: amount out of range")
	ErrInvalidAssetSpec = errors.New("money: invalid asset")
)

// Parse reads a decimal amount of asset ("150.25", "-3", "0.10") exactly. It refuses exponents, more decimal
// places than the asset has, and values beyond int64 minor units.
func Parse(s string, asset Asset) (Amount, error) {
	if err := asset.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalidAssetSpec, err)
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "eE_ +") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return 0, fmt.Errorf("%w: %q", ErrNotANumber, s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrNotANumber, s)
	}
	return FromDecimal(d, asset)
}

// FromDecimal converts a decimal to minor units of asset, exactly, or fails.
func FromDecimal(d decimal.Decimal, asset Asset) (Amount, error) {
	if err := asset.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalidAssetSpec, err)
	}
	minor := d.Shift(asset.Decimals)
	if !minor.Equal(minor.Truncate(0)) {
		return 0, fmt.Errorf("%w: %s has more than %d decimal places for %s", ErrTooManyDecimals, d.String(), asset.Decimals, asset.Code)
	}
	if minor.GreaterThan(decimal.NewFromInt(math.MaxInt64)) || minor.LessThan(decimal.NewFromInt(math.MinInt64)) {
		return 0, fmt.Errorf("%w: %s %s", ErrOutOfRange, d.String(), asset.Code)
	}
	return Amount(minor.IntPart()), nil
}

// Decimal is the amount as a decimal of asset's units.
func (a Amount) Decimal(asset Asset) decimal.Decimal {
	return decimal.New(int64(a), -asset.Decimals)
}

// Format writes the amount with exactly the asset's decimal places ("150.25", "-0.05", "3.00").
func (a Amount) Format(asset Asset) string {
	return a.Decimal(asset).StringFixed(asset.Decimals)
}

// Add returns a+b, or ErrOutOfRange instead of wrapping around.
func (a Amount) Add(b Amount) (Amount, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("%w: %d + %d", ErrOutOfRange, a, b)
	}
	return a + b, nil
}

// Sub returns a-b, or ErrOutOfRange instead of wrapping around.
func (a Amount) Sub(b Amount) (Amount, error) {
	if (b < 0 && a > math.MaxInt64+b) || (b > 0 && a < math.MinInt64+b) {
		return 0, fmt.Errorf("%w: %d - %d", ErrOutOfRange, a, b)
	}
	return a - b, nil
}
