package stellar

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// StellarDecimals is the number of decimals of every Stellar amount: one unit is 10^7 stroops.
const StellarDecimals = 7

// pow10 holds 10^0 … 10^7.
var pow10 = [StellarDecimals + 1]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000}

// ParseStroops converts a Stellar amount ("12.3400000", "5", "0.0000001") to stroops, exactly. It rejects a
// sign, an exponent, more than 7 decimals, and a value above the int64 range of stroops.
func ParseStroops(s string) (int64, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return 0, &InvalidInputError{Field: "amount", Reason: fmt.Sprintf("%q is not a plain decimal amount", s)}
	}
	if len(frac) > StellarDecimals {
		return 0, &InvalidInputError{Field: "amount",
			Reason: fmt.Sprintf("%q has more than %d decimals", s, StellarDecimals)}
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || whole > math.MaxInt64/pow10[StellarDecimals] {
		return 0, &InvalidInputError{Field: "amount", Reason: fmt.Sprintf("%q is out of range", s)}
	}
	var fraction int64
	if frac != "" {
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return 0, &InvalidInputError{Field: "amount", Reason: fmt.Sprintf("%q is not a plain decimal amount", s)}
		}
		fraction = f * pow10[StellarDecimals-len(frac)]
	}
	stroops := whole * pow10[StellarDecimals]
	if stroops > math.MaxInt64-fraction {
		return 0, &InvalidInputError{Field: "amount", Reason: fmt.Sprintf("%q is out of range", s)}
	}
	return stroops + fraction, nil
}

// FormatStroops writes stroops as a Stellar amount with 7 decimals ("12.3400000").
func FormatStroops(stroops int64) string {
	sign := ""
	u := uint64(stroops)
	if stroops < 0 {
		sign, u = "-", uint64(-(stroops+1))+1
	}
	p := uint64(pow10[StellarDecimals])
	return fmt.Sprintf("%s%d.%07d", sign, u/p, u%p)
}

// MinorToStroops converts an amount in minor units of an asset with the given decimals (2 for eUAH) to stroops.
// It fails when decimals is outside 0…7 or the result does not fit in int64.
func MinorToStroops(minor int64, decimals int32) (int64, error) {
	if decimals < 0 || decimals > StellarDecimals {
		return 0, &InvalidInputError{Field: "asset.decimals", Reason: fmt.Sprintf("%d is outside 0…7", decimals)}
	}
	scale := pow10[StellarDecimals-decimals]
	if minor > math.MaxInt64/scale || minor < math.MinInt64/scale {
		return 0, &InvalidInputError{Field: "amount",
			Reason: fmt.Sprintf("%d minor units do not fit a Stellar amount", minor)}
	}
	return minor * scale, nil
}

// StroopsToMinor converts stroops to minor units of an asset with the given decimals. Stroops below one minor
// unit are an error: Kazna never rounds money.
func StroopsToMinor(stroops int64, decimals int32) (int64, error) {
	if decimals < 0 || decimals > StellarDecimals {
		return 0, &InvalidInputError{Field: "asset.decimals", Reason: fmt.Sprintf("%d is outside 0…7", decimals)}
	}
	scale := pow10[StellarDecimals-decimals]
	if stroops%scale != 0 {
		return 0, &InvalidInputError{Field: "amount", Reason: fmt.Sprintf(
			"%s has more than %d decimals and cannot be expressed in minor units", FormatStroops(stroops), decimals)}
	}
	return stroops / scale, nil
}

// MinorToAmount converts minor units to a Stellar amount string ("150" minor, 2 decimals → "1.5000000").
func MinorToAmount(minor int64, decimals int32) (string, error) {
	s, err := MinorToStroops(minor, decimals)
	if err != nil {
		return "", err
	}
	return FormatStroops(s), nil
}

// AmountToMinor converts a Stellar amount string to minor units, exactly, or fails.
func AmountToMinor(amount string, decimals int32) (int64, error) {
	s, err := ParseStroops(amount)
	if err != nil {
		return 0, err
	}
	return StroopsToMinor(s, decimals)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
