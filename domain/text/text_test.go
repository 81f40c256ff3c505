package text

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	name := Rule{MaxRunes: 5, Required: true}
	ok := map[string]string{"  Olena ": "Olena", "Київ": "Київ", "ab cd": "ab cd"}
	for in, want := range ok {
		if got, err := Clean(in, name); err != nil || got != want {
			t.Fatalf("Clean(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	refused := map[string]string{
		"":                        "required",
		"   ":                     "required",
		"abcdef":                  "longer than 5",
		strings.Repeat("x", 1000): "longer than 5",
		"a\x00b":                  "control character",
		"a\nb":                    "control character",
		"\xff":                    "UTF-8",
	}
	for in, want := range refused {
		if _, err := Clean(in, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Clean(%q): want a refusal mentioning %q, got %v", in, want, err)
		}
	}
	if got, err := Clean("", Rule{MaxRunes: 5}); err != nil || got != "" {
		t.Fatalf("an optional blank field should be accepted, got %q %v", got, err)
	}
	desc := Rule{MaxRunes: 20, Multiline: true}
	if got, err := Clean("line one\n\tline two", desc); err != nil || got != "line one\n\tline two" {
		t.Fatalf("a multiline field keeps line breaks and tabs, got %q %v", got, err)
	}
	if _, err := Clean("bell\a", desc); err == nil {
		t.Fatalf("other control characters are refused even in multiline fields")
	}
}

func TestPhone(t *testing.T) {
	for in, want := range map[string]string{"": "", "  ": "", "+380501234567": "+380501234567", " 12345 ": "12345"} {
		if got, err := Phone(in, 32); err != nil || got != want {
			t.Errorf("Phone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"1234", "+1234567890123456", "12a45", "+ 12345", "++12345", "+380 50 123"} {
		if _, err := Phone(bad, 32); err == nil {
			t.Errorf("Phone(%q) accepted", bad)
		}
	}
	if _, err := Phone("+380501234567", 8); err == nil {
		t.Error("a number over maxBytes was accepted")
	}
}
