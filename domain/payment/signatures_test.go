package payment

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func pending(t *testing.T) State {
	t.Helper()
	a := uuid.NewString()
	s := run(t, State{}, draft(party(KindCustomer, a), party(KindCustomer, a)))
	return run(t, s, Confirm{At: t0})
}

func request(t *testing.T, s State, n int) State {
	t.Helper()
	return run(t, s, RequestSignature{Attempt: n, Addresses: []string{"GBANK"}, TxHash: "ab", At: t0})
}

func refuse(t *testing.T, s State, n int, r Refusal) (State, PaymentSignatureRefused) {
	t.Helper()
	evs, err := Decide(s, RecordSignatureRefusal{Attempt: n, Refusal: r, HTTPStatus: 404, Reason: "not yet", At: t0})
	if err != nil || len(evs) != 1 {
		t.Fatalf("refusal %d: %v %v", n, evs, err)
	}
	return Evolve(s, evs[0]), evs[0].(PaymentSignatureRefused)
}

func TestSignatureStepsHappyPath(t *testing.T) {
	s := request(t, pending(t), 1)
	// A retried write of the same request changes nothing; a gap in the numbering is refused.
	if evs, err := Decide(s, RequestSignature{Attempt: 1, Addresses: []string{"GBANK"}, TxHash: "ab", At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("retried request: %v %v", evs, err)
	}
	if _, err := Decide(s, RequestSignature{Attempt: 3, Addresses: []string{"GBANK"}, TxHash: "ab", At: t0}); err == nil {
		t.Fatal("attempt 3 after 1 accepted")
	}
	s = run(t, s, RecordSigned{Attempt: 1, Addresses: []string{"GBANK"}, At: t0})
	if s.Signatures.Signed != 1 || s.Signatures.Stopped {
		t.Fatalf("%+v", s.Signatures)
	}
	if evs, err := Decide(s, RecordSigned{Attempt: 1, Addresses: []string{"GBANK"}, At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("retried signed: %v %v", evs, err)
	}
	// Settled: no more signature steps.
	s = run(t, s, Settle{Hash: "h", At: t0})
	if _, err := Decide(s, RequestSignature{Attempt: 2, Addresses: []string{"GBANK"}, TxHash: "cd", At: t0}); !errors.Is(err, ErrNotPending) {
		t.Fatalf("request after settlement: %v", err)
	}
}

func TestSignatureRefusalPolicy(t *testing.T) {
	// 400, 401, the wrong key and an unusable answer stop at once.
	for _, r := range []Refusal{RefusalBadRequest, RefusalUnauthorized, RefusalWrongKey, RefusalBadAnswer} {
		s, ev := refuse(t, request(t, pending(t), 1), 1, r)
		if !ev.Final || !s.Signatures.Stopped {
			t.Errorf("%s: not final", r)
		}
		if _, err := Decide(s, RequestSignature{Attempt: 2, Addresses: []string{"GBANK"}, TxHash: "ab", At: t0}); !errors.Is(err, ErrSignatureStopped) {
			t.Errorf("%s: asked again: %v", r, err)
		}
		if r == RefusalWrongKey && !strings.Contains(s.Signatures.FailureReason(), "bank signed with the wrong key") {
			t.Errorf("reason %q", s.Signatures.FailureReason())
		}
	}
	// 404: the fifth stops, the four before do not.
	s := pending(t)
	for n := 1; n <= MaxSignatureNotFound; n++ {
		var ev PaymentSignatureRefused
		s, ev = refuse(t, request(t, s, n), n, RefusalNotFound)
		if ev.Final != (n == MaxSignatureNotFound) {
			t.Fatalf("404 number %d: final %v", n, ev.Final)
		}
	}
	if !strings.Contains(s.Signatures.FailureReason(), "5 signature requests") {
		t.Errorf("reason %q", s.Signatures.FailureReason())
	}
	// No answer: bounded separately, and 404s and timeouts do not add up.
	s = pending(t)
	for n := 1; n <= MaxSignatureUnavailable; n++ {
		var ev PaymentSignatureRefused
		s, ev = refuse(t, request(t, s, n), n, RefusalUnavailable)
		if ev.Final != (n == MaxSignatureUnavailable) {
			t.Fatalf("timeout number %d: final %v", n, ev.Final)
		}
	}
	// A retried refusal write is a no-op; an unknown refusal is refused.
	s = request(t, pending(t), 1)
	s, _ = refuse(t, s, 1, RefusalNotFound)
	if evs, err := Decide(s, RecordSignatureRefusal{Attempt: 1, Refusal: RefusalNotFound, Reason: "again", At: t0}); err != nil || len(evs) != 0 {
		t.Fatalf("retried refusal: %v %v", evs, err)
	}
	s = request(t, s, 2)
	if _, err := Decide(s, RecordSignatureRefusal{Attempt: 2, Refusal: "maybe", Reason: "x", At: t0}); err == nil {
		t.Fatal("unknown refusal accepted")
	}
}
