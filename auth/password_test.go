package auth

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestValidatePassword(t *testing.T) {
	if err := ValidatePassword("Kazna-2026"); err != nil {
		t.Fatalf("good password: %v", err)
	}
	if err := ValidatePassword("Гривня#2026"); err != nil {
		t.Fatalf("Cyrillic password: %v", err)
	}
	for pw, want := range map[string][]error{
		"Ka-1":                           {ErrPasswordTooShort},
		"kazna-2026":                     {ErrPasswordNoUpper},
		"KAZNA-2026":                     {ErrPasswordNoLower},
		"Kazna-ledger":                   {ErrPasswordNoDigit},
		"Kazna2026":                      {ErrPasswordNoSpecial},
		"kazna":                          {ErrPasswordTooShort, ErrPasswordNoUpper, ErrPasswordNoDigit, ErrPasswordNoSpecial},
		"Aa1!" + strings.Repeat("x", 70): {ErrPasswordTooLong},
		"Kazna-2026\x00":                 {ErrPasswordInvalid},
		"Kazna-2026\xff":                 {ErrPasswordInvalid},
	} {
		err := ValidatePassword(pw)
		for _, w := range want {
			if !errors.Is(err, w) {
				t.Errorf("%q: err = %v, want %v", pw, err, w)
			}
		}
	}
}

func TestHashAndCheckPassword(t *testing.T) {
	if passwordCost < 12 {
		t.Fatalf("production bcrypt cost %d < 12", passwordCost)
	}
	// Cost 12 takes seconds under -race; the rule is the same at the minimum cost.
	defer func(c int) { passwordCost = c }(passwordCost)
	passwordCost = bcrypt.MinCost
	h, err := HashPassword("Kazna-2026")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost([]byte(h)); err != nil || c != bcrypt.MinCost {
		t.Fatalf("cost = %d, %v", c, err)
	}
	if strings.Contains(h, "Kazna") {
		t.Fatal("hash contains the password")
	}
	if err := CheckPassword(h, "Kazna-2026"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := CheckPassword(h, "Kazna-2027"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := CheckPassword("not-a-hash", "Kazna-2026"); err == nil || errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("bad hash: %v", err)
	}
	if _, err := HashPassword("weak"); err == nil {
		t.Fatal("weak password hashed")
	}
}
