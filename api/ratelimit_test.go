package api

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/domain/application"
)

// monthCount is a MonthCounter holding one figure, as the log would after a restart.
type monthCount struct{ n int64 }

func (m monthCount) MonthCalls(string, application.Product, time.Time) int64 { return m.n }

var limT0 = time.Date(2026, 3, 31, 23, 58, 30, 0, time.UTC)

// admitConcurrently makes calls Admit calls at once and counts the admitted ones.
func admitConcurrently(l *Limiter, plan application.Plan, calls int, at time.Time) (admitted int64, refused []Verdict) {
	var n atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range calls {
		wg.Go(func() {
			<-start
			v := l.Admit("app", application.ProductReadOnly, plan, at)
			if v.Admitted {
				n.Add(1)
				return
			}
			mu.Lock()
			refused = append(refused, v)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return n.Load(), refused
}

func TestLimiterRateIsExactUnderConcurrency(t *testing.T) {
	l := NewLimiter(nil, nil)
	plan := application.Plan{Name: "test", RatePerMinute: 100, MonthlyQuota: 1_000_000}
	admitted, refused := admitConcurrently(l, plan, 1000, limT0)
	if admitted != 100 || len(refused) != 900 {
		t.Fatalf("%d admitted, %d refused; want 100 and 900", admitted, len(refused))
	}
	for _, v := range refused {
		if v.Quota || v.RetryAfter != 30*time.Second {
			t.Fatalf("refusal %+v: want the rate, retry at the next minute", v)
		}
	}
	// The next minute opens a new window; the same minute stays closed.
	if l.Admit("app", application.ProductReadOnly, plan, limT0.Add(29*time.Second)).Admitted {
		t.Fatal("admitted within the full minute")
	}
	if !l.Admit("app", application.ProductReadOnly, plan, limT0.Add(30*time.Second)).Admitted {
		t.Fatal("refused in the next minute")
	}
	// Another product of the same application has its own window.
	if !l.Admit("app", application.ProductCustomers, plan, limT0).Admitted {
		t.Fatal("another product shares the window")
	}
}

func TestLimiterQuotaIsExactUnderConcurrencyAndRenewsMonthly(t *testing.T) {
	// 9,950 of 10,000 used according to the log: 50 more pass, whatever the concurrency.
	l := NewLimiter(monthCount{n: 9_950}, nil)
	plan := application.Plan{Name: "test", RatePerMinute: 100_000, MonthlyQuota: 10_000}
	admitted, refused := admitConcurrently(l, plan, 500, limT0)
	if admitted != 50 {
		t.Fatalf("%d admitted, want 50", admitted)
	}
	for _, v := range refused {
		if !v.Quota || v.RetryAfter != 90*time.Second { // 23:58:30 → 1 April 00:00
			t.Fatalf("refusal %+v: want the quota, renewed next month", v)
		}
	}
	// A new month starts again from what the log holds for it (here the same stub figure: 9,950).
	april := limT0.Add(2 * time.Minute)
	if a, _ := admitConcurrently(l, plan, 100, april); a != 50 {
		t.Fatalf("April: %d admitted, want 50", a)
	}
}

func TestGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 10_000: "10,000", 2_000_000_000: "2,000,000,000"} {
		if got := groupThousands(n); got != want {
			t.Errorf("%d: %q", n, got)
		}
	}
}

func TestProductsOfRoutes(t *testing.T) {
	cases := map[string][]application.Product{
		PermCustomersRead:       {application.ProductCustomers, application.ProductReadOnly},
		PermCustomersCreate:     {application.ProductCustomers},
		PermSegmentsWrite:       {application.ProductCustomers},
		PermPaymentsConfirm:     {application.ProductPayments},
		PermEmissionIssue:       {application.ProductEmission},
		PermDictionaryRead:      {application.ProductReadOnly},
		PermReconciliationWrite: {application.ProductReconciliation},
		PermEmployeesRead:       nil,
		PermApplicationsRead:    nil,
		PermEmissionConfirm:     nil, // the platform's
		PermCounterpartiesRead:  nil,
	}
	for perm, want := range cases {
		var set application.ProductSet
		for _, p := range want {
			set = set.With(p)
		}
		if got := productsOf(perm); got != set {
			t.Errorf("%s: products %q, want %q", perm, got, set)
		}
	}
	if chargedProduct(productsOf(PermCustomersRead)) != application.ProductCustomers {
		t.Error("a read with both products is not charged to its own")
	}
	if chargedProduct(productsOf(PermCustomersRead)&scopeProducts("read-only")) != application.ProductReadOnly {
		t.Error("a read with read-only only is not charged to read-only")
	}
	if scopeProducts("payments  read-only bogus") != scopeProducts("read-only payments") {
		t.Error("scope parsing")
	}
}
