package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/application"
)

// Rate limits and quotas of API applications, and the recording of their calls for analytics.
//
// Each subscription (an application and a product) has its plan's limits: calls per minute, counted in fixed
// UTC minutes, and calls per UTC month. A call is counted against the route's own product when the
// application is subscribed to it, else against read-only. Both counters of a subscription change under one
// mutex, so that however many calls arrive at once, never more than the limit pass on a node. The month's count
// starts, on a node's first call of a subscription in a month, from what the log has recorded (the analytics
// read model), so a restart does not reset a quota. Nodes do not share their live counts: with n nodes a
// subscription may pass up to n times its rate for a minute, and the quota by what the others have not yet
// flushed (a few seconds of calls).

// MonthCounter tells how many calls of an application to a product passed the gate in the UTC month of at, as
// recorded in the log (projections.Applications).
type MonthCounter interface {
	MonthCalls(guid string, product application.Product, at time.Time) int64
}

// Limiter applies the plans' rate limits and monthly quotas. It is safe for concurrent use.
type Limiter struct {
	months MonthCounter
	now    func() time.Time

	mu      sync.RWMutex
	entries map[limitKey]*limitEntry
}

type limitKey struct {
	app     string
	product application.Product
}

type limitEntry struct {
	mu         sync.Mutex
	minute     int64 // the UTC minute counted (Unix minutes)
	inMinute   int
	month      int // year*12 + month-1
	monthCalls int64
}

// NewLimiter starts every quota from months (nil: from zero); now is the clock of the minutes and months (nil:
// time.Now).
func NewLimiter(months MonthCounter, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{months: months, now: now, entries: map[limitKey]*limitEntry{}}
}

// Verdict is the limiter's answer to one call.
type Verdict struct {
	Admitted bool
	// Quota: refused because the month's quota is used up (else, when refused, the minute's rate).
	Quota bool
	// RetryAfter is when a refused call may pass: the next minute, or the next month for a quota.
	RetryAfter time.Duration
}

func monthOf(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }

func (l *Limiter) entry(app string, product application.Product, now time.Time) *limitEntry {
	k := limitKey{app: app, product: product}
	l.mu.RLock()
	e := l.entries[k]
	l.mu.RUnlock()
	if e != nil {
		return e
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e = l.entries[k]; e == nil {
		e = &limitEntry{month: monthOf(now), minute: now.Unix() / 60}
		if l.months != nil {
			e.monthCalls = l.months.MonthCalls(app, product, now)
		}
		l.entries[k] = e
	}
	return e
}

// Admit counts one call of application app to product on plan at now, unless a limit refuses it.
func (l *Limiter) Admit(app string, product application.Product, plan application.Plan, now time.Time) Verdict {
	now = now.UTC()
	e := l.entry(app, product, now)
	minute, month := now.Unix()/60, monthOf(now)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.month != month {
		e.month, e.monthCalls = month, 0
		if l.months != nil {
			e.monthCalls = l.months.MonthCalls(app, product, now)
		}
	}
	if e.minute != minute {
		e.minute, e.inMinute = minute, 0
	}
	if e.monthCalls >= plan.MonthlyQuota {
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		return Verdict{Quota: true, RetryAfter: next.Sub(now)}
	}
	if e.inMinute >= plan.RatePerMinute {
		return Verdict{RetryAfter: time.Unix((minute+1)*60, 0).Sub(now)}
	}
	e.inMinute++
	e.monthCalls++
	return Verdict{Admitted: true}
}

// CallRecorder takes each call of an application for the analytics (app.CallRecorder).
type CallRecorder interface {
	Record(c app.Call)
}

// applicationGate runs, for a call of an application, after the guard has authorized it: the rate limit and
// quota of the product the call is counted against, then the endpoint, then the call's record. Other callers
// pass straight through.
type applicationGate struct {
	dir    ApplicationDirectory
	limits *Limiter
	calls  CallRecorder
	now    func() time.Time
}

func newApplicationGate(d Deps) *applicationGate {
	if d.ApplicationDirectory == nil {
		return nil
	}
	now := time.Now
	if d.Limits != nil {
		now = d.Limits.now
	}
	return &applicationGate{dir: d.ApplicationDirectory, limits: d.Limits, calls: d.Calls, now: now}
}

// wrap guards one route. The route's products and name are worked out once, here, not on every call.
func (g *applicationGate) wrap(rt Route, next http.Handler) http.Handler {
	if g == nil || rt.Permission == Public {
		return next
	}
	products, route := productsOf(rt.Permission), rt.Method+" "+rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if !ok || c.Kind != CallerApplication {
			next.ServeHTTP(w, r)
			return
		}
		g.serve(w, r, c, products, route, next)
	})
}

func (g *applicationGate) serve(w http.ResponseWriter, r *http.Request, c Caller, products application.ProductSet, route string, next http.Handler) {
	start := g.now()
	product := chargedProduct(products & c.Products)
	id, _ := uuid.Parse(c.Application)
	call := app.Call{Application: id, Counterparty: c.CounterpartyGUID, Product: product, Route: route, At: start}
	acc, ok := g.dir.Access(c.Application)
	i := product.Index()
	if !ok || i < 0 || i >= len(acc.Plans) || acc.Plans[i].Name == "" {
		// The subscription ended between authentication and now.
		writeError(w, r, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "the application's subscription has ended"})
		return
	}
	plan := acc.Plans[i]
	if g.limits != nil {
		if v := g.limits.Admit(c.Application, product, plan, start); !v.Admitted {
			writeLimited(w, plan, product, v, start)
			call.Status, call.Limited, call.Latency = http.StatusTooManyRequests, true, g.now().Sub(start)
			g.record(call)
			return
		}
	}
	rec, ok := w.(*statusRecorder)
	if !ok {
		rec = &statusRecorder{ResponseWriter: w}
	}
	finished := false
	defer func() {
		if !finished { // the endpoint panicked: recovery answers 500
			call.Status, call.Latency = http.StatusInternalServerError, g.now().Sub(start)
			g.record(call)
		}
	}()
	next.ServeHTTP(rec, r)
	finished = true
	call.Status, call.Latency = rec.status, g.now().Sub(start)
	if call.Status == 0 {
		call.Status = http.StatusOK // nothing written: net/http answers 200
	}
	g.record(call)
}

func (g *applicationGate) record(c app.Call) {
	if g.calls != nil {
		g.calls.Record(c)
	}
}

// writeLimited answers 429 with Retry-After in whole seconds, rounded up.
func writeLimited(w http.ResponseWriter, plan application.Plan, product application.Product, v Verdict, now time.Time) {
	secs := int64((v.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	body := errorBody{Code: CodeRateLimited, Retryable: true}
	if v.Quota {
		body.Code = CodeQuotaExceeded
		body.Error = fmt.Sprintf("the monthly quota of %s calls of plan %s for product %s is used up; it renews at %s",
			groupThousands(plan.MonthlyQuota), plan.Name, product, now.Add(v.RetryAfter).UTC().Format(time.RFC3339))
	} else {
		body.Error = fmt.Sprintf("rate limit of plan %s for product %s: %d calls a minute; retry after Retry-After seconds",
			plan.Name, product, plan.RatePerMinute)
	}
	writeJSON(w, http.StatusTooManyRequests, body)
}

// groupThousands writes n with commas between thousands: 1,000,000.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
