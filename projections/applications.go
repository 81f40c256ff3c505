package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Applications is the read model of API applications and of their call analytics. Both come from the
// application events: the applications' own streams, and the aggregated call counts (application.CallsRecorded)
// that the nodes flush every few seconds. Being a projection, the analytics and the monthly quota counts survive
// a restart: they are rebuilt from the log.
type Applications struct {
	known     map[string]bool
	callTypes map[string]bool
	retention time.Duration

	mu    sync.RWMutex
	apps  map[string]*appEntry // by lower-case GUID
	calls map[string]*appCalls // by lower-case application GUID
	// months counts the calls that passed the gate (not Limited) per application, product and UTC month: the
	// quota's starting point after a restart.
	months    map[monthKey]int64
	prunedDay int64
}

type appEntry struct {
	state  application.State
	access ApplicationAccess
}

// ApplicationAccess is what the API checks on every call of an application: small, fixed-size and copied out
// under a read lock, so that the check allocates nothing.
type ApplicationAccess struct {
	// Subject is "application:<guid>", the actor of what the application writes.
	Subject      string
	Counterparty string
	// Enabled is false for a disabled or deleted application.
	Enabled bool
	// Products are the products subscribed and granted, and Plans their plans by product index.
	Products application.ProductSet
	Plans    [maxProducts]application.Plan
	// Secrets are the versions of the secrets still usable and until when (zero: no end).
	Secrets [2]SecretLife
}

// SecretLife is how long the secret of one version may still be used.
type SecretLife struct {
	Version    int
	ValidUntil time.Time
}

// SecretLive reports whether tokens obtained with the secret of version may still be used at now.
func (a ApplicationAccess) SecretLive(version int, now time.Time) bool {
	for _, s := range a.Secrets {
		if s.Version == version && version > 0 {
			return s.ValidUntil.IsZero() || now.Before(s.ValidUntil)
		}
	}
	return false
}

// maxProducts bounds the product catalogue for fixed-size arrays; a test keeps the catalogue within it.
const maxProducts = 8

// DefaultCallRetention is how long hourly call counts are kept: the current and the previous months and more.
const DefaultCallRetention = 100 * 24 * time.Hour

// NewApplications returns an empty read model; feed it to a Runner. retention bounds the hourly call counts
// kept (0: DefaultCallRetention).
func NewApplications(retention time.Duration) *Applications {
	if retention <= 0 {
		retention = DefaultCallRetention
	}
	return &Applications{known: knownTypes(application.Events.Types()), callTypes: knownTypes(application.CallEvents.Types()),
		retention: retention, apps: map[string]*appEntry{}, calls: map[string]*appCalls{}, months: map[monthKey]int64{}}
}

func (p *Applications) Name() string { return "applications" }

func (p *Applications) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: application.EventTypePrefixes}
}

func (p *Applications) Apply(ev eventstore.RecordedEvent) error {
	switch {
	case p.callTypes[ev.Type]:
		e, err := application.CallEvents.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		if rec, ok := e.(application.CallsRecorded); ok {
			p.applyCalls(rec)
		}
	case p.known[ev.Type]:
		e, err := application.Events.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		p.applyApplication(e)
	}
	return nil
}

func (p *Applications) applyApplication(e application.Event) {
	guid := eventGUID(e)
	if guid == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	en := p.apps[guid]
	if en == nil {
		if _, ok := e.(application.ApplicationRegistered); !ok {
			return // an event of an application never registered: nothing to fold it into
		}
		en = &appEntry{}
		p.apps[guid] = en
	}
	en.state = application.Evolve(en.state, e)
	en.access = accessOf(en.state)
}

func eventGUID(e application.Event) string {
	var g string
	switch e := e.(type) {
	case application.ApplicationRegistered:
		g = e.GUID
	case application.ApplicationDisabled:
		g = e.GUID
	case application.ApplicationEnabled:
		g = e.GUID
	case application.ApplicationDeleted:
		g = e.GUID
	case application.ApplicationSecretReissued:
		g = e.GUID
	case application.ApplicationSubscribed:
		g = e.GUID
	case application.ApplicationSubscriptionRequested:
		g = e.GUID
	case application.ApplicationSubscriptionApproved:
		g = e.GUID
	case application.ApplicationSubscriptionRejected:
		g = e.GUID
	case application.ApplicationUnsubscribed:
		g = e.GUID
	}
	return strings.ToLower(g)
}

func accessOf(s application.State) ApplicationAccess {
	a := ApplicationAccess{Subject: "application:" + s.GUID, Counterparty: s.Counterparty, Enabled: s.Exists && !s.Disabled && !s.Deleted}
	for p, sub := range s.Subscriptions {
		plan, ok := application.PlanByName(sub.Plan)
		if i := p.Index(); ok && i >= 0 && i < maxProducts {
			a.Products = a.Products.With(p)
			a.Plans[i] = plan
		}
	}
	// The current secret is last; keep the newest two.
	secrets := s.Secrets
	if len(secrets) > len(a.Secrets) {
		secrets = secrets[len(secrets)-len(a.Secrets):]
	}
	for i, sec := range secrets {
		a.Secrets[i] = SecretLife{Version: sec.Version, ValidUntil: sec.ValidUntil}
	}
	return a
}

// Access is what the API checks on a call of application guid (any case); false when it was never registered.
func (p *Applications) Access(guid string) (ApplicationAccess, bool) {
	p.mu.RLock()
	en := p.apps[guid]
	if en == nil {
		p.mu.RUnlock()
		return p.accessSlow(guid)
	}
	a := en.access
	p.mu.RUnlock()
	return a, true
}

func (p *Applications) accessSlow(guid string) (ApplicationAccess, bool) {
	lower := strings.ToLower(guid)
	if lower == guid {
		return ApplicationAccess{}, false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if en := p.apps[lower]; en != nil {
		return en.access, true
	}
	return ApplicationAccess{}, false
}

// Application returns the state of one application of a counterparty, deleted or not.
func (p *Applications) Application(_ context.Context, counterpartyGUID, guid string) (application.State, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	en := p.apps[strings.ToLower(guid)]
	if en == nil || !strings.EqualFold(en.state.Counterparty, counterpartyGUID) {
		return application.State{}, false
	}
	return en.state, true
}

// ListApplications returns a counterparty's applications, oldest first; deleted ones only when includeDeleted.
func (p *Applications) ListApplications(_ context.Context, counterpartyGUID string, includeDeleted bool) []application.State {
	p.mu.RLock()
	out := []application.State{}
	for _, en := range p.apps {
		if strings.EqualFold(en.state.Counterparty, counterpartyGUID) && (includeDeleted || !en.state.Deleted) {
			out = append(out, en.state)
		}
	}
	p.mu.RUnlock()
	sortApplications(out)
	return out
}

// SubscriptionRequest is a pending request of an application for a sensitive product.
type SubscriptionRequest struct {
	Application  string
	Counterparty string
	Name         string
	Product      application.Product
	Plan         string
	RequestedAt  time.Time
}

// PendingRequests lists every pending subscription request, oldest first: the platform administrator's queue.
func (p *Applications) PendingRequests(context.Context) []SubscriptionRequest {
	p.mu.RLock()
	var out []SubscriptionRequest
	for _, en := range p.apps {
		s := en.state
		if s.Deleted {
			continue
		}
		for prod, sub := range s.Subscriptions {
			if sub.RequestedPlan != "" {
				out = append(out, SubscriptionRequest{Application: s.GUID, Counterparty: s.Counterparty, Name: s.Name,
					Product: prod, Plan: sub.RequestedPlan, RequestedAt: sub.RequestedAt})
			}
		}
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b SubscriptionRequest) int {
		return cmp.Or(a.RequestedAt.Compare(b.RequestedAt), cmp.Compare(a.Application, b.Application), cmp.Compare(a.Product, b.Product))
	})
	if out == nil {
		out = []SubscriptionRequest{}
	}
	return out
}

func sortApplications(s []application.State) {
	slices.SortFunc(s, func(a, b application.State) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.GUID, b.GUID))
	})
}

// Call analytics.

// appCalls are one application's call counts by hour.
type appCalls struct {
	counterparty string
	hours        map[int64]map[callRowKey]*CallStats // by hour (Unix seconds of its start)
}

type callRowKey struct {
	product application.Product
	route   string
	status  int
	limited bool
}

type monthKey struct {
	app     string
	product application.Product
	month   int // year*12 + month-1
}

func monthIndex(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

// CallStats are counts of calls and their latency histogram.
type CallStats struct {
	Calls int64
	// Errors are calls answered with a status of 400 or more (refusals by the rate limit included).
	Errors int64
	// ServerErrors are calls answered with 500 or more.
	ServerErrors int64
	// Limited are calls refused by the rate limit or the quota.
	Limited int64
	Latency [application.LatencyBuckets]int64
}

func (s *CallStats) add(o *CallStats) {
	s.Calls += o.Calls
	s.Errors += o.Errors
	s.ServerErrors += o.ServerErrors
	s.Limited += o.Limited
	for i := range s.Latency {
		s.Latency[i] += o.Latency[i]
	}
}

// ErrorRate is Errors over Calls (0 without calls).
func (s CallStats) ErrorRate() float64 {
	if s.Calls == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Calls)
}

// Percentile is the latency under which share q of the calls fell (the bucket's upper bound).
func (s CallStats) Percentile(q float64) time.Duration {
	return application.Percentile(s.Latency[:], q)
}

func (p *Applications) applyCalls(rec application.CallsRecorded) {
	if rec.Validate() != nil {
		return // a record no node writes; folding part of it would skew every figure
	}
	hour := rec.Hour.UTC().Unix()
	month := monthIndex(rec.Hour)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rec.Rows {
		app := strings.ToLower(r.Application)
		ac := p.calls[app]
		if ac == nil {
			ac = &appCalls{counterparty: strings.ToLower(r.Counterparty), hours: map[int64]map[callRowKey]*CallStats{}}
			p.calls[app] = ac
		}
		rows := ac.hours[hour]
		if rows == nil {
			rows = map[callRowKey]*CallStats{}
			ac.hours[hour] = rows
		}
		k := callRowKey{product: r.Product, route: r.Route, status: r.Status, limited: r.Limited}
		st := rows[k]
		if st == nil {
			st = &CallStats{}
			rows[k] = st
		}
		st.Calls += r.Calls
		if r.Status >= 400 {
			st.Errors += r.Calls
		}
		if r.Status >= 500 {
			st.ServerErrors += r.Calls
		}
		if r.Limited {
			st.Limited += r.Calls
		} else {
			p.months[monthKey{app: app, product: r.Product, month: month}] += r.Calls
		}
		for i, n := range r.Latency {
			st.Latency[i] += n
		}
	}
	p.prune(rec.Hour)
}

// prune drops hourly counts older than the retention, once a day of the log (p.mu held).
func (p *Applications) prune(now time.Time) {
	day := now.UTC().Unix() / 86400
	if day <= p.prunedDay {
		return
	}
	p.prunedDay = day
	oldest := now.Add(-p.retention).Unix()
	for _, ac := range p.calls {
		for h := range ac.hours {
			if h < oldest {
				delete(ac.hours, h)
			}
		}
	}
	oldestMonth := monthIndex(now.Add(-p.retention))
	for k := range p.months {
		if k.month < oldestMonth {
			delete(p.months, k)
		}
	}
}

// MonthCalls is how many calls of application guid to product passed the gate in the UTC month of at, as
// recorded in the log.
func (p *Applications) MonthCalls(guid string, product application.Product, at time.Time) int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.months[monthKey{app: strings.ToLower(guid), product: product, month: monthIndex(at)}]
}

// Granularity is the length of the periods of a call report's series.
type Granularity string

const (
	Hourly Granularity = "hour"
	Daily  Granularity = "day"
)

// Bounds of a call query: a series has at most MaxCallPeriods periods.
const MaxCallPeriods = 24 * 93

// ErrInvalidCallQuery is a call query the read model refuses.
var ErrInvalidCallQuery = errors.New("projections: invalid call query")

// CallQuery selects the calls of one counterparty's applications, or of one of them, over [From, To) (whole
// UTC hours: From is rounded down and To up).
type CallQuery struct {
	Counterparty string
	Application  string // "" for every application of the counterparty
	From, To     time.Time
	Granularity  Granularity
}

// CallReport is the answer to a CallQuery.
type CallReport struct {
	From, To      time.Time
	Granularity   Granularity
	Totals        CallStats
	ByStatus      map[int]int64
	ByRoute       []RouteCalls
	ByApplication []ApplicationCalls
	Series        []PeriodCalls
}

// RouteCalls are the calls to one route.
type RouteCalls struct {
	Route    string
	Product  application.Product
	Stats    CallStats
	ByStatus map[int]int64
}

// ApplicationCalls are the calls of one application.
type ApplicationCalls struct {
	Application string
	Stats       CallStats
}

// PeriodCalls are the calls of one period of a series.
type PeriodCalls struct {
	Start time.Time
	Stats CallStats
}

// Calls answers a call query.
func (p *Applications) Calls(_ context.Context, q CallQuery) (CallReport, error) {
	if q.Counterparty == "" {
		return CallReport{}, fmt.Errorf("%w: a counterparty is required", ErrInvalidCallQuery)
	}
	if q.Granularity == "" {
		q.Granularity = Hourly
	}
	period := time.Hour
	switch q.Granularity {
	case Hourly:
	case Daily:
		period = 24 * time.Hour
	default:
		return CallReport{}, fmt.Errorf("%w: granularity %q", ErrInvalidCallQuery, q.Granularity)
	}
	from := q.From.UTC().Truncate(period)
	to := q.To.UTC()
	if t := to.Truncate(period); !t.Equal(to) {
		to = t.Add(period)
	}
	if !from.Before(to) {
		return CallReport{}, fmt.Errorf("%w: from must be before to", ErrInvalidCallQuery)
	}
	if to.Sub(from) > MaxCallPeriods*time.Hour {
		return CallReport{}, fmt.Errorf("%w: at most %d days at a time", ErrInvalidCallQuery, MaxCallPeriods/24)
	}
	rep := CallReport{From: from, To: to, Granularity: q.Granularity, ByStatus: map[int]int64{}}
	n := int(to.Sub(from) / period)
	rep.Series = make([]PeriodCalls, n)
	for i := range rep.Series {
		rep.Series[i].Start = from.Add(time.Duration(i) * period)
	}
	type routeKey struct {
		route   string
		product application.Product
	}
	routes := map[routeKey]*RouteCalls{}
	byApp := map[string]*ApplicationCalls{}
	cp, one := strings.ToLower(q.Counterparty), strings.ToLower(q.Application)
	fromUnix, toUnix := from.Unix(), to.Unix()

	p.mu.RLock()
	for app, ac := range p.calls {
		if ac.counterparty != cp || (one != "" && app != one) {
			continue
		}
		for h, rows := range ac.hours {
			if h < fromUnix || h >= toUnix {
				continue
			}
			slot := &rep.Series[(h-fromUnix)/int64(period/time.Second)]
			for k, st := range rows {
				rep.Totals.add(st)
				slot.Stats.add(st)
				rep.ByStatus[k.status] += st.Calls
				rk := routeKey{k.route, k.product}
				rc := routes[rk]
				if rc == nil {
					rc = &RouteCalls{Route: k.route, Product: k.product, ByStatus: map[int]int64{}}
					routes[rk] = rc
				}
				rc.Stats.add(st)
				rc.ByStatus[k.status] += st.Calls
				a := byApp[app]
				if a == nil {
					a = &ApplicationCalls{Application: app}
					byApp[app] = a
				}
				a.Stats.add(st)
			}
		}
	}
	p.mu.RUnlock()

	for _, rc := range routes {
		rep.ByRoute = append(rep.ByRoute, *rc)
	}
	slices.SortFunc(rep.ByRoute, func(a, b RouteCalls) int {
		return cmp.Or(cmp.Compare(b.Stats.Calls, a.Stats.Calls), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Product, b.Product))
	})
	for _, a := range byApp {
		rep.ByApplication = append(rep.ByApplication, *a)
	}
	slices.SortFunc(rep.ByApplication, func(a, b ApplicationCalls) int {
		return cmp.Or(cmp.Compare(b.Stats.Calls, a.Stats.Calls), cmp.Compare(a.Application, b.Application))
	})
	return rep, nil
}
