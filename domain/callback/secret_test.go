package callback_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/callback"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	body := []byte(`{"transaction_id":"` + pay + `"}`)
	h := callback.Sign(secret, t0, body)
	// Pinned: the wire format banks implement. t is the Unix time; v1 is HMAC-SHA256 of "<t>.<body>", as
	// printf '%s' '1772355600.<body>' | openssl dgst -sha256 -hmac <secret> computes it.
	if want := "t=1772355600,v1=4eb1ebac6288ae9ffef79ecace25ccbde5ed8d5e38858f1a8286124f7b560657"; h != want {
		t.Fatalf("header %q, want %q", h, want)
	}
	if err := callback.Verify(secret, h, body, t0.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Two v1 during a rotation: any match will do.
	other := callback.Sign([]byte("another secret of thirty-two byt"), t0, body)
	_, v1, _ := strings.Cut(other, ",")
	if err := callback.Verify(secret, v1+","+h, body, t0, time.Minute); err != nil {
		t.Fatalf("two signatures: %v", err)
	}
	cases := map[string]struct {
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		"other body":   {h, []byte(`{"transaction_id":"x"}`), t0, callback.ErrBadSignature},
		"other secret": {other, body, t0, callback.ErrBadSignature},
		"replayed":     {h, body, t0.Add(6 * time.Minute), callback.ErrStaleSignature},
		"from future":  {h, body, t0.Add(-6 * time.Minute), callback.ErrStaleSignature},
		"no v1":        {"t=1772355600", body, t0, callback.ErrBadSignature},
		"no t":         {v1, body, t0, callback.ErrBadSignature},
		"two t":        {"t=1," + h, body, t0, callback.ErrBadSignature},
		"garbage":      {"hello", body, t0, callback.ErrBadSignature},
		"short v1":     {"t=1772355600,v1=abcd", body, t0, callback.ErrBadSignature},
		"moved t":      {strings.Replace(h, "t=1772355600", "t=1772355601", 1), body, t0, callback.ErrBadSignature},
	}
	for name, c := range cases {
		if err := callback.Verify(secret, c.header, c.body, c.now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestDecideSecret(t *testing.T) {
	cp := uuid.MustParse(bankA)
	set := callback.CallbackSecretSet{Counterparty: bankA, SealedSecret: []byte("sealed-1"), At: t0}
	foldS := func(events ...callback.SecretEvent) callback.SecretState {
		var s callback.SecretState
		for _, e := range events {
			s = callback.EvolveSecret(s, e)
		}
		return s
	}
	got, err := callback.DecideSecret(foldS(), callback.SetSecret{Counterparty: cp, SealedSecret: []byte("sealed-1"), At: t0})
	if err != nil || !reflect.DeepEqual(got, []callback.SecretEvent{set}) {
		t.Fatalf("set: %v %v", got, err)
	}
	// A rotation replaces it.
	s := foldS(set, callback.CallbackSecretSet{Counterparty: bankA, SealedSecret: []byte("sealed-2"), At: t0})
	if string(s.Sealed) != "sealed-2" || s.Rotations != 2 || !s.Exists() {
		t.Fatalf("after rotation %+v", s)
	}
	// Reseal: compare-and-swap.
	got, err = callback.DecideSecret(s, callback.ResealSecret{Prev: []byte("sealed-2"), Next: []byte("sealed-2b"), At: t0})
	if err != nil || !reflect.DeepEqual(got, []callback.SecretEvent{callback.CallbackSecretResealed{Counterparty: bankA, SealedSecret: []byte("sealed-2b"), At: t0}}) {
		t.Fatalf("reseal: %v %v", got, err)
	}
	if _, err := callback.DecideSecret(s, callback.ResealSecret{Prev: []byte("sealed-1"), Next: []byte("x"), At: t0}); !errors.Is(err, callback.ErrSealChanged) {
		t.Fatalf("stale reseal: %v", err)
	}
	if got, err := callback.DecideSecret(s, callback.ResealSecret{Prev: []byte("sealed-1"), Next: []byte("sealed-2"), At: t0}); err != nil || got != nil {
		t.Fatalf("repeated reseal: %v %v", got, err)
	}
	if _, err := callback.DecideSecret(foldS(), callback.ResealSecret{Prev: []byte("a"), Next: []byte("b")}); !errors.Is(err, callback.ErrNoSecret) {
		t.Fatalf("reseal of nothing: %v", err)
	}
	var inv *callback.ErrInvalid
	for name, cmd := range map[string]any{
		"no counterparty": callback.SetSecret{SealedSecret: []byte("x")},
		"no secret":       callback.SetSecret{Counterparty: cp},
		"huge secret":     callback.SetSecret{Counterparty: cp, SealedSecret: make([]byte, callback.MaxSealedBytes+1)},
	} {
		if _, err := callback.DecideSecret(foldS(), cmd); !errors.As(err, &inv) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := callback.DecideSecret(s, callback.SetSecret{Counterparty: uuid.New(), SealedSecret: []byte("x")}); !errors.As(err, &inv) {
		t.Errorf("another bank's stream: %v", err)
	}
}
