package application_test

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/application"
)

var (
	t0    = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1    = t0.Add(time.Hour)
	id    = uuid.MustParse("66666666-6666-4666-8666-666666666666")
	cp    = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	hashA = strings.Repeat("aa", 32)
	hashB = strings.Repeat("bb", 32)
	hashC = strings.Repeat("cc", 32)
)

func registered() application.ApplicationRegistered {
	return application.ApplicationRegistered{GUID: id.String(), Counterparty: cp.String(), Name: "Core banking",
		Description: "nightly sync", SecretHash: hashA, SecretVersion: 1, At: t0}
}

func fold(events ...application.Event) application.State {
	s := application.Decider.Initial
	for _, e := range events {
		s = application.Evolve(s, e)
	}
	return s
}

func check(t *testing.T, given []application.Event, when any, want []application.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := application.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *application.ErrInvalid
		if !errors.Is(err, wantErr) && !(errors.As(wantErr, &w) && errors.As(err, &g) && g.Field == w.Field) {
			t.Fatalf("when %T: got %v, %v; want error %v", when, got, err, wantErr)
		}
		if got != nil {
			t.Fatalf("when %T: refused but also decided %v", when, got)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("when %T:\n got  %#v, %v\n want %#v", when, got, err, want)
	}
}

func hashBytes(h string) []byte {
	b, _ := hex.DecodeString(h)
	return b
}

func TestRegister(t *testing.T) {
	check(t, nil, application.Register{GUID: id, Counterparty: cp, Name: "  Core banking ", Description: "nightly sync", SecretHash: hashA, At: t0},
		[]application.Event{registered()}, nil)
	check(t, []application.Event{registered()}, application.Register{GUID: id, Counterparty: cp, Name: "x", SecretHash: hashA, At: t1},
		nil, application.ErrAlreadyExists)
	check(t, nil, application.Register{GUID: id, Counterparty: cp, Name: " ", SecretHash: hashA}, nil, &application.ErrInvalid{Field: "name"})
	check(t, nil, application.Register{GUID: id, Counterparty: cp, Name: "x", SecretHash: "abc"}, nil, &application.ErrInvalid{Field: "secret_hash"})
	check(t, nil, application.Register{Counterparty: cp, Name: "x", SecretHash: hashA}, nil, &application.ErrInvalid{Field: "guid"})
	check(t, nil, application.Disable{At: t0}, nil, application.ErrNotFound)
}

func TestDisableEnableDelete(t *testing.T) {
	reg := registered()
	dis := application.ApplicationDisabled{GUID: id.String(), Counterparty: cp.String(), At: t1}
	check(t, []application.Event{reg}, application.Disable{At: t1}, []application.Event{dis}, nil)
	check(t, []application.Event{reg, dis}, application.Disable{At: t1}, nil, nil)
	check(t, []application.Event{reg, dis}, application.Enable{At: t1},
		[]application.Event{application.ApplicationEnabled{GUID: id.String(), Counterparty: cp.String(), At: t1}}, nil)
	check(t, []application.Event{reg}, application.Enable{At: t1}, nil, nil)
	del := application.ApplicationDeleted{GUID: id.String(), Counterparty: cp.String(), At: t1}
	check(t, []application.Event{reg}, application.Delete{At: t1}, []application.Event{del}, nil)
	check(t, []application.Event{reg, del}, application.Delete{At: t1}, nil, nil)
	check(t, []application.Event{reg, del}, application.Enable{At: t1}, nil, application.ErrDeleted)
	if s := fold(reg, del); len(s.Secrets) != 0 {
		t.Fatalf("a deleted application keeps secrets %v", s.Secrets)
	}
}

func TestReissueSecret(t *testing.T) {
	reg := registered()
	// Without grace the old secret stops at once.
	now := application.ApplicationSecretReissued{GUID: id.String(), Counterparty: cp.String(), SecretHash: hashB, SecretVersion: 2,
		PreviousValidUntil: t1, At: t1}
	check(t, []application.Event{reg}, application.ReissueSecret{SecretHash: hashB, At: t1}, []application.Event{now}, nil)
	s := fold(reg, now)
	if _, ok := s.SecretMatches(hashBytes(hashA), t1); ok {
		t.Fatal("the replaced secret still matches without grace")
	}
	if v, ok := s.SecretMatches(hashBytes(hashB), t1); !ok || v != 2 {
		t.Fatalf("the new secret: %d %v", v, ok)
	}
	if s.SecretLive(1, t1) || !s.SecretLive(2, t1) {
		t.Fatal("secret versions live")
	}

	// With grace the old one works until the grace ends, and a third secret ends it at once.
	grace := application.ApplicationSecretReissued{GUID: id.String(), Counterparty: cp.String(), SecretHash: hashB, SecretVersion: 2,
		PreviousValidUntil: t1.Add(10 * time.Minute), At: t1}
	check(t, []application.Event{reg}, application.ReissueSecret{SecretHash: hashB, Grace: 10 * time.Minute, At: t1}, []application.Event{grace}, nil)
	s = fold(reg, grace)
	if v, ok := s.SecretMatches(hashBytes(hashA), t1.Add(9*time.Minute)); !ok || v != 1 {
		t.Fatalf("old secret within grace: %d %v", v, ok)
	}
	if _, ok := s.SecretMatches(hashBytes(hashA), t1.Add(10*time.Minute)); ok {
		t.Fatal("old secret after grace still matches")
	}
	if !s.SecretLive(1, t1.Add(time.Minute)) || s.SecretLive(1, t1.Add(11*time.Minute)) {
		t.Fatal("version 1 liveness")
	}
	third := application.ApplicationSecretReissued{GUID: id.String(), Counterparty: cp.String(), SecretHash: hashC, SecretVersion: 3,
		PreviousValidUntil: t1.Add(time.Minute), At: t1}
	s = fold(reg, grace, third)
	if _, ok := s.SecretMatches(hashBytes(hashA), t1); ok || len(s.Secrets) != 2 {
		t.Fatalf("a third secret leaves the first alive: %+v", s.Secrets)
	}
	check(t, []application.Event{reg}, application.ReissueSecret{SecretHash: hashB, Grace: application.MaxGrace + time.Second, At: t1},
		nil, &application.ErrInvalid{Field: "grace"})
	check(t, []application.Event{reg}, application.ReissueSecret{SecretHash: hashB, Grace: -time.Second, At: t1},
		nil, &application.ErrInvalid{Field: "grace"})
}

func TestSubscribeAndApproval(t *testing.T) {
	reg := registered()
	sub := application.ApplicationSubscribed{GUID: id.String(), Counterparty: cp.String(), Product: application.ProductReadOnly, Plan: "basic", At: t1}
	check(t, []application.Event{reg}, application.Subscribe{Product: application.ProductReadOnly, Plan: "basic", At: t1}, []application.Event{sub}, nil)
	check(t, []application.Event{reg, sub}, application.Subscribe{Product: application.ProductReadOnly, Plan: "basic", At: t1}, nil, nil)
	check(t, []application.Event{reg}, application.Subscribe{Product: "gold", Plan: "basic"}, nil, &application.ErrInvalid{Field: "product"})
	check(t, []application.Event{reg}, application.Subscribe{Product: application.ProductCustomers, Plan: "free"}, nil, &application.ErrInvalid{Field: "plan"})
	dis := application.ApplicationDisabled{GUID: id.String(), Counterparty: cp.String(), At: t1}
	check(t, []application.Event{reg, dis}, application.Subscribe{Product: application.ProductCustomers, Plan: "basic"}, nil, application.ErrDisabled)

	// A sensitive product is a request, granted by the platform's approval.
	req := application.ApplicationSubscriptionRequested{GUID: id.String(), Counterparty: cp.String(), Product: application.ProductPayments, Plan: "standard", At: t1}
	check(t, []application.Event{reg}, application.Subscribe{Product: application.ProductPayments, Plan: "standard", At: t1}, []application.Event{req}, nil)
	if fold(reg, req).Active().Has(application.ProductPayments) {
		t.Fatal("a request grants the product")
	}
	check(t, []application.Event{reg, req}, application.Subscribe{Product: application.ProductPayments, Plan: "standard", At: t1}, nil, nil)
	ok := application.ApplicationSubscriptionApproved{GUID: id.String(), Counterparty: cp.String(), Product: application.ProductPayments, Plan: "standard", By: "admin", At: t1}
	check(t, []application.Event{reg, req}, application.Approve{Product: application.ProductPayments, By: "admin", At: t1}, []application.Event{ok}, nil)
	if s := fold(reg, req, ok); !s.Active().Has(application.ProductPayments) || s.Subscriptions[application.ProductPayments].RequestedPlan != "" {
		t.Fatalf("approved: %+v", s.Subscriptions)
	}
	check(t, []application.Event{reg, req, ok}, application.Approve{Product: application.ProductPayments, By: "admin"}, nil, application.ErrNoRequest)
	no := application.ApplicationSubscriptionRejected{GUID: id.String(), Counterparty: cp.String(), Product: application.ProductPayments, Plan: "standard",
		By: "admin", Reason: "no agreement signed", At: t1}
	check(t, []application.Event{reg, req}, application.Reject{Product: application.ProductPayments, By: "admin", Reason: " no agreement signed ", At: t1},
		[]application.Event{no}, nil)
	check(t, []application.Event{reg, req}, application.Reject{Product: application.ProductPayments, By: "admin"}, nil, &application.ErrInvalid{Field: "reason"})
	if s := fold(reg, req, no); s.Active().Has(application.ProductPayments) || !s.Subscriptions[application.ProductPayments].Rejected {
		t.Fatalf("rejected: %+v", s.Subscriptions)
	}

	un := application.ApplicationUnsubscribed{GUID: id.String(), Counterparty: cp.String(), Product: application.ProductReadOnly, At: t1}
	check(t, []application.Event{reg, sub}, application.Unsubscribe{Product: application.ProductReadOnly, At: t1}, []application.Event{un}, nil)
	check(t, []application.Event{reg, sub, un}, application.Unsubscribe{Product: application.ProductReadOnly, At: t1}, nil, application.ErrNotSubscribed)
	if fold(reg, sub, un).Active() != 0 {
		t.Fatal("unsubscribed product still active")
	}
}

func TestEventsRoundTrip(t *testing.T) {
	for _, e := range []application.Event{registered(), application.ApplicationDisabled{GUID: "g"}, application.ApplicationEnabled{GUID: "g"},
		application.ApplicationDeleted{GUID: "g"}, application.ApplicationSecretReissued{GUID: "g", SecretVersion: 2},
		application.ApplicationSubscribed{Product: "customers"}, application.ApplicationSubscriptionRequested{Product: "payments"},
		application.ApplicationSubscriptionApproved{By: "a"}, application.ApplicationSubscriptionRejected{Reason: "r"},
		application.ApplicationUnsubscribed{Product: "limits"}} {
		typ, data, err := application.Events.Encode(e)
		if err != nil || !strings.HasPrefix(typ, "Application") {
			t.Fatalf("%T: %s %v", e, typ, err)
		}
		back, err := application.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("%T round trip: %#v %v", e, back, err)
		}
	}
}

func TestScopeAndProducts(t *testing.T) {
	set, err := application.ParseScope("payments  read-only")
	if err != nil || !set.Has(application.ProductPayments) || !set.Has(application.ProductReadOnly) || set.Has(application.ProductCustomers) {
		t.Fatalf("%v %v", set, err)
	}
	if set.String() != "payments read-only" {
		t.Fatalf("scope %q", set.String())
	}
	if _, err := application.ParseScope("payments gold"); err == nil {
		t.Fatal("unknown product accepted")
	}
	if !application.ProductEmission.Sensitive() || !application.ProductPayments.Sensitive() || application.ProductReadOnly.Sensitive() {
		t.Fatal("sensitive products")
	}
}

func TestPercentile(t *testing.T) {
	var hist [application.LatencyBuckets]int64
	for _, d := range []time.Duration{50 * time.Microsecond, 300 * time.Microsecond, 800 * time.Microsecond, 20 * time.Millisecond} {
		hist[application.LatencyBucket(d)] += 25
	}
	cases := map[float64]time.Duration{0.5: 500 * time.Microsecond, 0.25: 100 * time.Microsecond, 0.95: 25 * time.Millisecond, 1: 25 * time.Millisecond}
	for q, want := range cases {
		if got := application.Percentile(hist[:], q); got != want {
			t.Errorf("p%v = %v, want %v", q*100, got, want)
		}
	}
	if application.Percentile(make([]int64, application.LatencyBuckets), 0.5) != 0 {
		t.Error("empty histogram")
	}
	hist = [application.LatencyBuckets]int64{}
	hist[application.LatencyBucket(time.Minute)] = 1
	if got := application.Percentile(hist[:], 0.99); got != 10*time.Second {
		t.Errorf("overflow bucket reports %v", got)
	}
}

func TestCallsRecordedValidate(t *testing.T) {
	row := application.CallRow{Application: id.String(), Calls: 3, Latency: make([]int64, application.LatencyBuckets)}
	row.Latency[2] = 3
	ok := application.CallsRecorded{Hour: t0, Rows: []application.CallRow{row}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Hour = t0.Add(time.Minute)
	if bad.Validate() == nil {
		t.Error("hour not truncated accepted")
	}
	row.Calls = 4
	if (application.CallsRecorded{Hour: t0, Rows: []application.CallRow{row}}).Validate() == nil {
		t.Error("histogram that does not add up accepted")
	}
	if got := application.CallsStream(t0.Add(30 * time.Hour)); got != "application-calls-2026-03-02" {
		t.Errorf("stream %s", got)
	}
}
