package callback_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/payment"
)

var (
	t0    = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	pay   = "55555555-5555-4555-8555-555555555555"
	bankA = "11111111-1111-4111-8111-111111111111"
	bankB = "22222222-2222-4222-8222-222222222222"
	payIn = callback.Notice{Kind: callback.KindPayIn, Counterparty: bankB}
	out   = callback.Notice{Kind: callback.KindPayOut, Counterparty: bankA}
)

func policy() callback.Policy {
	return callback.Policy{FirstRetry: time.Second, MaxRetry: time.Minute, MaxAttempts: 3, MaxAge: time.Hour}
}

func TestOwed(t *testing.T) {
	party := func(cp string) payment.Party { return payment.Party{CounterpartyGUID: cp, Kind: payment.KindCustomer} }
	cases := map[string]struct {
		p    payment.PaymentCreated
		want []callback.Notice
	}{
		"external": {payment.PaymentCreated{Sender: party(bankA), Receiver: party(bankB)}, []callback.Notice{out, payIn}},
		"internal": {payment.PaymentCreated{Sender: party(bankA), Receiver: party(bankA)},
			[]callback.Notice{{Kind: callback.KindTransfer, Counterparty: bankA}}},
		"issue": {payment.PaymentCreated{Emission: "e", Sender: payment.Party{Kind: payment.KindRoot}, Receiver: party(bankA)}, nil},
		"burn":  {payment.PaymentCreated{Emission: "e", Sender: party(bankA), Receiver: payment.Party{Kind: payment.KindRoot}}, nil},
	}
	for name, c := range cases {
		if got := callback.Owed(c.p); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if callback.KindPayIn.Path() != "/api/dcm/notify/pay-in" || callback.KindTransfer.Path() != "/api/dcm/notify/transfer" {
		t.Error("paths")
	}
}

func TestPolicy(t *testing.T) {
	p := callback.Policy{FirstRetry: time.Second, MaxRetry: 10 * time.Second, MaxAttempts: 10, MaxAge: time.Hour}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, p.Pause(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
	if p.Pause(1_000_000) != 10*time.Second {
		t.Fatal("a huge attempt number must stay at the cap")
	}
	d := callback.Policy{}.WithDefaults()
	if err := d.Validate(); err != nil || d.MaxAttempts != callback.DefaultMaxAttempts {
		t.Fatalf("defaults %+v: %v", d, err)
	}
	for _, bad := range []callback.Policy{{FirstRetry: 2, MaxRetry: 1, MaxAttempts: 1, MaxAge: 1},
		{FirstRetry: 1, MaxRetry: 1, MaxAttempts: 0, MaxAge: 1}, {FirstRetry: 1, MaxRetry: 1, MaxAttempts: 101, MaxAge: 1},
		{FirstRetry: 1, MaxRetry: 1, MaxAttempts: 1, MaxAge: 0}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for status, permanent := range map[int]bool{400: true, 401: true, 404: true, 410: true, 408: false, 429: false, 500: false, 503: false, 0: false, 302: false} {
		if callback.Permanent(status) != permanent {
			t.Errorf("Permanent(%d) = %v", status, !permanent)
		}
	}
	if !callback.Succeeded(200) || !callback.Succeeded(204) || callback.Succeeded(300) || callback.Succeeded(0) {
		t.Error("Succeeded")
	}
}

func fold(events ...callback.Event) callback.State {
	s := callback.Decider.Initial
	for _, e := range events {
		s = callback.Evolve(s, e)
	}
	return s
}

func check(t *testing.T, given []callback.Event, when any, want []callback.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := callback.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *callback.ErrInvalid
		if !errors.Is(err, wantErr) && !(errors.As(wantErr, &w) && errors.As(err, &g) && g.Field == w.Field) {
			t.Fatalf("when %+v: got %v, %v; want error %v", when, got, err, wantErr)
		}
		if got != nil {
			t.Fatalf("refused but also decided %v", got)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("when %+v:\n got  %#v, %v\n want %#v", when, got, err, want)
	}
}

func attempt(n callback.Notice, no, status int, at time.Time) callback.RecordAttempt {
	return callback.RecordAttempt{Payment: pay, Notice: n, URL: "https://b.test/api/dcm/notify/pay-in", Attempt: no, Status: status,
		At: at, Policy: policy(), Deadline: t0.Add(time.Hour)}
}

func attempted(n callback.Notice, no, status int, at time.Time) callback.CallbackAttempted {
	return callback.CallbackAttempted{Payment: pay, Kind: n.Kind, Counterparty: n.Counterparty, URL: "https://b.test/api/dcm/notify/pay-in",
		Attempt: no, Status: status, At: at}
}

func TestDecideAttempts(t *testing.T) {
	t1 := t0.Add(time.Second)
	delivered := callback.CallbackDelivered{Payment: pay, Kind: payIn.Kind, Counterparty: bankB, Attempt: 1, At: t0}

	// Given nothing, when the bank answers 200, then delivered.
	check(t, nil, attempt(payIn, 1, 200, t0), []callback.Event{attempted(payIn, 1, 200, t0), delivered}, nil)
	// A 500 leaves it open; the next attempt is number 2, and a 204 delivers it.
	check(t, nil, attempt(payIn, 1, 500, t0), []callback.Event{attempted(payIn, 1, 500, t0)}, nil)
	d2 := delivered
	d2.Attempt, d2.At = 2, t1
	check(t, []callback.Event{attempted(payIn, 1, 500, t0)}, attempt(payIn, 2, 204, t1), []callback.Event{attempted(payIn, 2, 204, t1), d2}, nil)
	// Notices are counted apart: the pay-out's first attempt is 1 whatever the pay-in's.
	check(t, []callback.Event{attempted(payIn, 1, 500, t0)}, attempt(out, 1, 0, t1), []callback.Event{attempted(out, 1, 0, t1)}, nil)
	// Out of order: a repeated or skipped number.
	check(t, []callback.Event{attempted(payIn, 1, 500, t0)}, attempt(payIn, 1, 500, t1), nil, callback.ErrOutOfOrder)
	check(t, nil, attempt(payIn, 2, 500, t1), nil, callback.ErrOutOfOrder)
	// Final: nothing after a delivery.
	check(t, []callback.Event{attempted(payIn, 1, 200, t0), delivered}, attempt(payIn, 2, 200, t1), nil, callback.ErrFinal)

	abandon := func(attempts int, at time.Time, reason string) callback.CallbackAbandoned {
		return callback.CallbackAbandoned{Payment: pay, Kind: payIn.Kind, Counterparty: bankB, Attempts: attempts, Reason: reason, At: at}
	}
	// A 400 is final at once; a 408 and a 429 are not.
	check(t, nil, attempt(payIn, 1, 400, t0), []callback.Event{attempted(payIn, 1, 400, t0),
		abandon(1, t0, "the bank refused the notice with HTTP 400; a retry cannot change that")}, nil)
	check(t, nil, attempt(payIn, 1, 429, t0), []callback.Event{attempted(payIn, 1, 429, t0)}, nil)
	// The last allowed attempt abandons.
	given := []callback.Event{attempted(payIn, 1, 500, t0), attempted(payIn, 2, 500, t0)}
	check(t, given, attempt(payIn, 3, 503, t1), []callback.Event{attempted(payIn, 3, 503, t1), abandon(3, t1, "no success in 3 attempts")}, nil)
	// A next attempt that would come after the deadline abandons now.
	late := t0.Add(time.Hour - time.Second/2)
	check(t, nil, attempt(payIn, 1, 0, late), []callback.Event{attempted(payIn, 1, 0, late),
		abandon(1, late, "the next attempt would come later than 1h0m0s after the settlement")}, nil)

	// Abandon without an attempt.
	check(t, nil, callback.Abandon{Payment: pay, Notice: payIn, Reason: "expired", At: t1}, []callback.Event{abandon(0, t1, "expired")}, nil)
	check(t, given, callback.Abandon{Payment: pay, Notice: payIn, Reason: "expired", At: t1}, []callback.Event{abandon(2, t1, "expired")}, nil)
	check(t, []callback.Event{abandon(0, t1, "expired")}, callback.Abandon{Payment: pay, Notice: payIn, Reason: "again", At: t1}, nil, callback.ErrFinal)

	// Invalid commands.
	bad := func(f func(*callback.RecordAttempt)) callback.RecordAttempt {
		c := attempt(payIn, 1, 200, t0)
		f(&c)
		return c
	}
	inv := func(field string) error { return &callback.ErrInvalid{Field: field} }
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Payment = "x" }), nil, inv("payment_guid"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Notice.Kind = "payin" }), nil, inv("kind"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Notice.Counterparty = "" }), nil, inv("counterparty_guid"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.URL = "" }), nil, inv("url"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Status = 42 }), nil, inv("status"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Attempt = 0 }), nil, inv("attempt"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Error = strings.Repeat("x", callback.MaxErrorRunes+1) }), nil, inv("error"))
	check(t, nil, bad(func(c *callback.RecordAttempt) { c.Policy = callback.Policy{} }), nil, inv("policy"))
	check(t, []callback.Event{attempted(payIn, 1, 500, t0)}, bad(func(c *callback.RecordAttempt) { c.Payment = uuid.NewString() }), nil, inv("payment_guid"))
	check(t, nil, callback.Abandon{Payment: pay, Notice: payIn, At: t1}, nil, inv("reason"))
	check(t, nil, "nonsense", nil, callback.ErrUnknownCommand)
}

func TestProgress(t *testing.T) {
	s := fold(attempted(payIn, 1, 500, t0), attempted(payIn, 2, 200, t0.Add(time.Second)),
		callback.CallbackDelivered{Payment: pay, Kind: payIn.Kind, Counterparty: bankB, Attempt: 2, At: t0.Add(time.Second)},
		attempted(out, 1, 500, t0))
	in := s.Notices[payIn]
	if s.Payment != pay || in.Attempts != 2 || !in.Delivered || !in.Final() || !in.FirstAt.Equal(t0) || !in.LastAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("pay-in progress %+v", in)
	}
	if o := s.Notices[out]; o.Attempts != 1 || o.Final() {
		t.Fatalf("pay-out progress %+v", o)
	}
	// Applying an event twice (a reader that saw its own write, then the log) changes nothing.
	p := callback.Progress{}.Apply(attempted(out, 1, 500, t0))
	if again := p.Apply(attempted(out, 1, 500, t0)); again != p {
		t.Fatalf("second apply: %+v, want %+v", again, p)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	for _, e := range []callback.Event{attempted(payIn, 1, 500, t0),
		callback.CallbackDelivered{Payment: pay, Kind: payIn.Kind, Counterparty: bankB, Attempt: 1, At: t0},
		callback.CallbackAbandoned{Payment: pay, Kind: payIn.Kind, Counterparty: bankB, Attempts: 1, Reason: "r", At: t0}} {
		typ, data, err := callback.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := callback.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, callback.EventTypePrefixes[0]) {
			t.Fatalf("%T: %s %s → %#v, %v", e, typ, data, back, err)
		}
	}
	for _, e := range []callback.SecretEvent{callback.CallbackSecretSet{Counterparty: bankA, SealedSecret: []byte{1, 2}, At: t0},
		callback.CallbackSecretResealed{Counterparty: bankA, SealedSecret: []byte{3}, At: t0}} {
		typ, data, err := callback.SecretEvents.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := callback.SecretEvents.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, callback.EventTypePrefixes[0]) {
			t.Fatalf("%T: %s %s → %#v, %v", e, typ, data, back, err)
		}
	}
	if n := len(callback.Events.Types()) + len(callback.SecretEvents.Types()); n != 5 {
		t.Fatalf("%d event types registered", n)
	}
}

func TestStreams(t *testing.T) {
	p, c := uuid.MustParse(pay), uuid.MustParse(bankA)
	if callback.LogStream(p) != "callback-"+pay || callback.SecretStream(c) != "callback-secret-"+bankA || callback.SecretOwner(bankA) != "callback-secret/"+bankA {
		t.Fatal("stream names")
	}
}
