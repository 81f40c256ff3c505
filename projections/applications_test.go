package projections_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

const (
	appA  = "6b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	appB  = "7b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a02"
	bankX = "0b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
)

var appT0 = time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)

func applyApp(t *testing.T, p *projections.Applications, events ...application.Event) {
	t.Helper()
	for _, e := range events {
		typ, data, err := application.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(eventstore.RecordedEvent{Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

func applyCalls(t *testing.T, p *projections.Applications, hour time.Time, rows ...application.CallRow) {
	t.Helper()
	typ, data, err := application.CallEvents.Encode(application.CallsRecorded{Hour: hour, Rows: rows, At: hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(eventstore.RecordedEvent{Type: typ, Data: data}); err != nil {
		t.Fatal(err)
	}
}

func row(app, route string, status int, calls int64, latency time.Duration, limited bool) application.CallRow {
	r := application.CallRow{Application: app, Counterparty: bankX, Product: application.ProductReadOnly, Route: route, Status: status,
		Limited: limited, Calls: calls, Latency: make([]int64, application.LatencyBuckets)}
	r.Latency[application.LatencyBucket(latency)] = calls
	return r
}

func TestApplicationAccess(t *testing.T) {
	p := projections.NewApplications(0)
	if _, ok := p.Access(appA); ok {
		t.Fatal("access of an unknown application")
	}
	applyApp(t, p,
		application.ApplicationRegistered{GUID: appA, Counterparty: bankX, Name: "Core", SecretHash: strings.Repeat("aa", 32), SecretVersion: 1, At: appT0},
		application.ApplicationSubscribed{GUID: appA, Counterparty: bankX, Product: application.ProductReadOnly, Plan: "basic", At: appT0},
		application.ApplicationSubscriptionRequested{GUID: appA, Counterparty: bankX, Product: application.ProductPayments, Plan: "premium", At: appT0},
	)
	a, ok := p.Access(strings.ToUpper(appA))
	if !ok || !a.Enabled || a.Counterparty != bankX || a.Subject != "application:"+appA {
		t.Fatalf("access %+v %v", a, ok)
	}
	if !a.Products.Has(application.ProductReadOnly) || a.Products.Has(application.ProductPayments) {
		t.Fatalf("products %v: a pending request grants nothing", a.Products)
	}
	if a.Plans[application.ProductReadOnly.Index()].RatePerMinute != 60 || !a.SecretLive(1, appT0) || a.SecretLive(2, appT0) {
		t.Fatalf("plans and secrets %+v", a)
	}
	if q := p.PendingRequests(context.Background()); len(q) != 1 || q[0].Product != application.ProductPayments || q[0].Plan != "premium" {
		t.Fatalf("pending %+v", q)
	}
	applyApp(t, p,
		application.ApplicationSecretReissued{GUID: appA, Counterparty: bankX, SecretHash: strings.Repeat("bb", 32), SecretVersion: 2,
			PreviousValidUntil: appT0.Add(time.Minute), At: appT0},
		application.ApplicationDisabled{GUID: appA, Counterparty: bankX, At: appT0})
	a, _ = p.Access(appA)
	if a.Enabled || !a.SecretLive(1, appT0) || a.SecretLive(1, appT0.Add(time.Minute)) || !a.SecretLive(2, appT0.Add(time.Hour)) {
		t.Fatalf("after re-issue with grace and disable: %+v", a)
	}
	if _, ok := p.Application(context.Background(), "1b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01", appA); ok {
		t.Fatal("another bank sees the application")
	}
	applyApp(t, p, application.ApplicationDeleted{GUID: appA, Counterparty: bankX, At: appT0})
	if got := p.ListApplications(context.Background(), bankX, false); len(got) != 0 {
		t.Fatalf("deleted listed: %v", got)
	}
	if got := p.ListApplications(context.Background(), bankX, true); len(got) != 1 || !got[0].Deleted {
		t.Fatalf("include deleted: %v", got)
	}
	if len(p.PendingRequests(context.Background())) != 0 {
		t.Fatal("a deleted application's request is still pending")
	}
}

func TestCallAnalytics(t *testing.T) {
	p := projections.NewApplications(0)
	h0 := appT0                    // 22:00, March
	h1 := appT0.Add(time.Hour)     // 23:00, March
	h2 := appT0.Add(2 * time.Hour) // 00:00, April
	applyCalls(t, p, h0, row(appA, "GET /customers", 200, 90, 2*time.Millisecond, false), row(appA, "GET /customers", 500, 10, 40*time.Millisecond, false))
	applyCalls(t, p, h1, row(appA, "GET /accounts", 200, 5, time.Millisecond, false), row(appA, "GET /accounts", 429, 7, 0, true),
		row(appB, "GET /customers", 404, 3, time.Millisecond, false))
	applyCalls(t, p, h2, row(appA, "GET /customers", 200, 4, time.Millisecond, false))

	if got := p.MonthCalls(appA, application.ProductReadOnly, h1); got != 105 {
		t.Fatalf("March calls %d, want 105 (limited calls do not count)", got)
	}
	if got := p.MonthCalls(appA, application.ProductReadOnly, h2); got != 4 {
		t.Fatalf("April calls %d", got)
	}
	ctx := context.Background()
	rep, err := p.Calls(ctx, projections.CallQuery{Counterparty: bankX, Application: appA, From: h0, To: h2})
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	if tot.Calls != 112 || tot.Errors != 17 || tot.ServerErrors != 10 || tot.Limited != 7 || len(rep.Series) != 2 ||
		rep.Series[0].Stats.Calls != 100 || rep.Series[1].Stats.Calls != 12 || rep.ByStatus[200] != 95 || rep.ByStatus[429] != 7 {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.ByRoute) != 2 || rep.ByRoute[0].Route != "GET /customers" || rep.ByRoute[0].Stats.Calls != 100 || rep.ByRoute[0].ByStatus[500] != 10 {
		t.Fatalf("by route %+v", rep.ByRoute)
	}
	// p50 in the 2.5 ms bucket, p95 and p99 in the 50 ms one (10 of 100 calls took 40 ms).
	if s := rep.ByRoute[0].Stats; s.Percentile(0.5) != 2500*time.Microsecond || s.Percentile(0.95) != 50*time.Millisecond {
		t.Fatalf("percentiles %v %v", s.Percentile(0.5), s.Percentile(0.95))
	}
	// The bank: both applications, by day.
	rep, err = p.Calls(ctx, projections.CallQuery{Counterparty: bankX, From: h0, To: h2.Add(time.Hour), Granularity: projections.Daily})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Calls != 119 || len(rep.ByApplication) != 2 || rep.ByApplication[1].Stats.Calls != 3 || len(rep.Series) != 2 || rep.Series[1].Stats.Calls != 4 {
		t.Fatalf("bank report %+v", rep)
	}
	if _, err := p.Calls(ctx, projections.CallQuery{Counterparty: bankX, From: h1, To: h0}); err == nil {
		t.Fatal("from after to accepted")
	}
	if _, err := p.Calls(ctx, projections.CallQuery{Counterparty: bankX, From: h0, To: h0.Add(200 * 24 * time.Hour)}); err == nil {
		t.Fatal("a range over the bound accepted")
	}
	if rep, _ := p.Calls(ctx, projections.CallQuery{Counterparty: "1b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01", From: h0, To: h2}); rep.Totals.Calls != 0 {
		t.Fatal("another bank sees the calls")
	}
}

func TestCallAnalyticsRetention(t *testing.T) {
	p := projections.NewApplications(48 * time.Hour)
	applyCalls(t, p, appT0, row(appA, "GET /customers", 200, 5, time.Millisecond, false))
	later := appT0.Add(72 * time.Hour).Truncate(time.Hour)
	applyCalls(t, p, later, row(appA, "GET /customers", 200, 1, time.Millisecond, false))
	rep, err := p.Calls(context.Background(), projections.CallQuery{Counterparty: bankX, From: appT0, To: later.Add(time.Hour)})
	if err != nil || rep.Totals.Calls != 1 {
		t.Fatalf("after retention: %+v %v", rep.Totals, err)
	}
	// A record that does not add up is not folded at all.
	bad := row(appA, "GET /customers", 200, 5, time.Millisecond, false)
	bad.Calls = 6
	applyCalls(t, p, later, bad)
	if rep, _ := p.Calls(context.Background(), projections.CallQuery{Counterparty: bankX, From: later, To: later.Add(time.Hour)}); rep.Totals.Calls != 1 {
		t.Fatalf("an invalid record was folded: %+v", rep.Totals)
	}
}

func TestProductCatalogueFitsAccess(t *testing.T) {
	var a projections.ApplicationAccess
	if application.ProductCount() > len(a.Plans) {
		t.Fatalf("%d products, access holds %d plans", application.ProductCount(), len(a.Plans))
	}
}
