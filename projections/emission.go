package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/eventstore"
)

// EmissionRequest is one issue or burn request as the emission history (guide §9) lists it. Amounts are
// minor units. PaymentGUID names the one payment that carries a confirmed request on chain (issuer → emission
// entity, or back); it is "" until the request is confirmed.
type EmissionRequest struct {
	GUID                string
	CounterpartyGUID    string
	Direction           emission.Direction
	Amount              int64
	ReserveBalance      int64 // the reserve the request was checked against
	EmissionAccountGUID string
	AssetCode           string
	AssetIssuer         string
	Status              emission.Status
	PaymentGUID         string
	Auto                bool   // confirmed by the counterparty's auto_issue / auto_burn flag
	Reason              string // why its payment failed
	CreatedBy           string
	UpdatedBy           string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// EmissionBalance is a counterparty's emission balance (the history's "balance"): its emission entity and
// the reserve balance it last reported. CreatedAt is its first request's time, UpdatedAt the last change.
type EmissionBalance struct {
	GUID                string
	CounterpartyGUID    string
	AssetCode           string
	EmissionAccountGUID string
	Reserve             int64
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// EmissionOrder sorts the history; ties go by GUID so that pages are stable.
type EmissionOrder string

const (
	EmissionByCreated     EmissionOrder = "created_at"
	EmissionByCreatedDesc EmissionOrder = "-created_at"
	EmissionByUpdated     EmissionOrder = "updated_at"
	EmissionByUpdatedDesc EmissionOrder = "-updated_at"
	EmissionByAmount      EmissionOrder = "requested_amount"
	EmissionByAmountDesc  EmissionOrder = "-requested_amount"
)

// EmissionOrders lists every order.
var EmissionOrders = []EmissionOrder{EmissionByCreated, EmissionByCreatedDesc, EmissionByUpdated, EmissionByUpdatedDesc,
	EmissionByAmount, EmissionByAmountDesc}

// EmissionQuery filters and pages the requests: guide §9's history filters, and the counterparties for the
// platform's list of every bank's requests. Filters of one kind match any of their values; filters of
// different kinds must all match. Zero times and nil amounts do not filter; bounds are inclusive.
type EmissionQuery struct {
	// CounterpartyGUIDs scopes the query; a bank's history names its own, the platform's list any or none.
	CounterpartyGUIDs []string
	GUIDs             []string
	Directions        []string // issue, burn
	BalanceGUIDs      []string
	AssetCodes        []string // compared without case
	AssetIssuers      []string
	// Kazna pays straight from the issuer to the emission entity (and back), so the guide's issuer payment
	// and emission payment are one payment: both filters match its GUID (or hash).
	IssuerPaymentGUIDs    []string
	EmissionPaymentGUIDs  []string
	IssuerPaymentHashes   []string
	EmissionPaymentHashes []string
	MinAmount, MaxAmount  *int64
	Statuses              []string // CREATED, CONFIRMED, CANCELLED, FAILED
	CreatedBy, UpdatedBy  []string
	MinCreated            time.Time
	MaxCreated            time.Time
	MinUpdated            time.Time
	MaxUpdated            time.Time
	// PaymentHash tells the Stellar hash of a payment ("" while it is not settled). This read model does not
	// follow payments; the hash filters need it, and match nothing without it.
	PaymentHash func(paymentGUID string) string
	Order       EmissionOrder // default EmissionByCreated
	Offset      int
	Limit       int // 0 is DefaultListLimit; more than MaxListLimit is cut to it
}

// Emission is the read model of emission requests and balances, fed by the Emission* events.
type Emission struct {
	known map[string]bool

	mu       sync.RWMutex
	byGUID   map[string]*EmissionRequest
	byBank   map[string][]*EmissionRequest // counterparty GUID → its requests, oldest first
	balances map[string]*EmissionBalance   // counterparty GUID → its balance
}

// NewEmission returns an empty read model; feed it to a Runner.
func NewEmission() *Emission {
	return &Emission{known: knownTypes(emission.Events.Types()), byGUID: map[string]*EmissionRequest{},
		byBank: map[string][]*EmissionRequest{}, balances: map[string]*EmissionBalance{}}
}

func (p *Emission) Name() string { return "emission" }

func (p *Emission) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: emission.EventTypePrefixes}
}

func (p *Emission) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := emission.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := e.(type) {
	case emission.EmissionRequested:
		if p.byGUID[e.GUID] != nil {
			return nil
		}
		r := &EmissionRequest{GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, Direction: e.Direction, Amount: e.Amount,
			ReserveBalance: e.ReserveBalance, EmissionAccountGUID: e.EmissionAccountGUID, AssetCode: e.AssetCode,
			AssetIssuer: e.AssetIssuer, Status: emission.StatusCreated, CreatedBy: e.By, UpdatedBy: e.By, CreatedAt: e.At, UpdatedAt: e.At}
		p.byGUID[e.GUID] = r
		p.byBank[e.CounterpartyGUID] = append(p.byBank[e.CounterpartyGUID], r)
		b := p.balances[e.CounterpartyGUID]
		if b == nil {
			b = &EmissionBalance{GUID: emission.BalanceGUID(e.CounterpartyGUID), CounterpartyGUID: e.CounterpartyGUID, CreatedAt: e.At, UpdatedAt: e.At}
			p.balances[e.CounterpartyGUID] = b
		}
		b.AssetCode, b.EmissionAccountGUID = e.AssetCode, e.EmissionAccountGUID
		if e.Reserve != nil {
			b.Reserve, b.UpdatedAt = *e.Reserve, e.At
		}
	case emission.EmissionConfirmed:
		if r := p.byGUID[e.GUID]; r != nil {
			r.Status, r.PaymentGUID, r.Auto, r.UpdatedBy, r.UpdatedAt = emission.StatusConfirmed, e.PaymentGUID, e.Auto, e.By, e.At
		}
	case emission.EmissionCancelled:
		if r := p.byGUID[e.GUID]; r != nil {
			r.Status, r.UpdatedBy, r.UpdatedAt = emission.StatusCancelled, e.By, e.At
		}
	case emission.EmissionFailed:
		if r := p.byGUID[e.GUID]; r != nil {
			r.Status, r.Reason, r.UpdatedAt = emission.StatusFailed, e.Reason, e.At
		}
	}
	return nil
}

// Request returns one request by GUID, of any counterparty.
func (p *Emission) Request(_ context.Context, guid string) (EmissionRequest, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r := p.byGUID[strings.ToLower(guid)]
	if r == nil {
		return EmissionRequest{}, false
	}
	return *r, true
}

// Balance returns a counterparty's emission balance; false before its first request.
func (p *Emission) Balance(_ context.Context, counterparty string) (EmissionBalance, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b := p.balances[strings.ToLower(counterparty)]
	if b == nil {
		return EmissionBalance{}, false
	}
	return *b, true
}

// emissionFilter is an EmissionQuery with its value sets built.
type emissionFilter struct {
	q                                                        EmissionQuery
	guids, directions, balances, codes, issuers, payments    valueSet
	emissionPayments, statuses, createdBy, updatedBy, hashes valueSet
	emissionHashes                                           valueSet
}

func newEmissionFilter(q EmissionQuery) (emissionFilter, error) {
	f := emissionFilter{q: q}
	exact := func(s string) string { return s }
	for _, s := range []struct {
		field  string
		values []string
		norm   func(string) string
		dst    *valueSet
	}{
		{"guids", q.GUIDs, strings.ToLower, &f.guids},
		{"direction", q.Directions, strings.ToLower, &f.directions},
		{"balance_guid", q.BalanceGUIDs, strings.ToLower, &f.balances},
		{"asset_code", q.AssetCodes, strings.ToLower, &f.codes},
		{"asset_issuer", q.AssetIssuers, exact, &f.issuers},
		{"issuer_payment_guid", q.IssuerPaymentGUIDs, strings.ToLower, &f.payments},
		{"emission_payment_guid", q.EmissionPaymentGUIDs, strings.ToLower, &f.emissionPayments},
		{"issuer_payment_hash", q.IssuerPaymentHashes, strings.ToLower, &f.hashes},
		{"emission_payment_hash", q.EmissionPaymentHashes, strings.ToLower, &f.emissionHashes},
		{"status", q.Statuses, strings.ToUpper, &f.statuses},
		{"created_by", q.CreatedBy, exact, &f.createdBy},
		{"updated_by", q.UpdatedBy, exact, &f.updatedBy},
	} {
		set, err := newSet(s.field, s.values, s.norm)
		if err != nil {
			return f, err
		}
		*s.dst = set
	}
	return f, nil
}

// match applies every filter but the hashes, which need the payments read model (matchHash, outside the lock).
func (f emissionFilter) match(r *EmissionRequest) bool {
	q := f.q
	return f.guids.match(r.GUID) && f.directions.match(string(r.Direction)) &&
		(f.balances == nil || f.balances.match(emission.BalanceGUID(r.CounterpartyGUID))) &&
		f.codes.match(strings.ToLower(r.AssetCode)) && f.issuers.match(r.AssetIssuer) && f.payments.match(r.PaymentGUID) &&
		f.emissionPayments.match(r.PaymentGUID) && f.statuses.match(string(r.Status)) && f.createdBy.match(r.CreatedBy) &&
		f.updatedBy.match(r.UpdatedBy) && (q.MinAmount == nil || r.Amount >= *q.MinAmount) && (q.MaxAmount == nil || r.Amount <= *q.MaxAmount) &&
		inRange(r.CreatedAt, q.MinCreated, q.MaxCreated) && inRange(r.UpdatedAt, q.MinUpdated, q.MaxUpdated)
}

func (f emissionFilter) matchHash(r EmissionRequest) bool {
	if f.hashes == nil && f.emissionHashes == nil {
		return true
	}
	if f.q.PaymentHash == nil || r.PaymentGUID == "" {
		return false
	}
	h := strings.ToLower(f.q.PaymentHash(r.PaymentGUID))
	return h != "" && f.hashes.match(h) && f.emissionHashes.match(h)
}

// match reports whether v is one of the set's values, already normalised (nil matches everything).
func (s valueSet) match(v string) bool { return s == nil || s[v] }

func inRange(t, lo, hi time.Time) bool {
	return (lo.IsZero() || !t.Before(lo)) && (hi.IsZero() || !t.After(hi))
}

// List returns a page of the requests that match q, and how many match in all.
func (p *Emission) List(_ context.Context, q EmissionQuery) ([]EmissionRequest, int, error) {
	if q.Offset < 0 || q.Limit < 0 {
		return nil, 0, fmt.Errorf("%w: negative offset or limit", ErrInvalidListQuery)
	}
	if q.Order == "" {
		q.Order = EmissionByCreated
	}
	if !slices.Contains(EmissionOrders, q.Order) {
		return nil, 0, fmt.Errorf("%w: unknown order %q", ErrInvalidListQuery, q.Order)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	q.Limit = min(q.Limit, MaxListLimit)
	if len(q.CounterpartyGUIDs) > MaxListFilterValues {
		return nil, 0, fmt.Errorf("%w: counterparty_guids has %d values, at most %d", ErrInvalidListQuery, len(q.CounterpartyGUIDs), MaxListFilterValues)
	}
	f, err := newEmissionFilter(q)
	if err != nil {
		return nil, 0, err
	}
	var out []EmissionRequest
	p.mu.RLock()
	scan := func(rows []*EmissionRequest) {
		for _, r := range rows {
			if f.match(r) {
				out = append(out, *r)
			}
		}
	}
	if q.CounterpartyGUIDs != nil {
		seen := map[string]bool{}
		for _, cp := range q.CounterpartyGUIDs {
			cp = strings.ToLower(cp)
			if !seen[cp] {
				seen[cp] = true
				scan(p.byBank[cp])
			}
		}
	} else {
		for _, rows := range p.byBank {
			scan(rows)
		}
	}
	p.mu.RUnlock()
	// The payments read model is asked outside the lock: its answer may take its own lock.
	out = slices.DeleteFunc(out, func(r EmissionRequest) bool { return !f.matchHash(r) })
	slices.SortFunc(out, emissionCompare(q.Order))
	total := len(out)
	if q.Offset >= total {
		return []EmissionRequest{}, total, nil
	}
	return slices.Clone(out[q.Offset:min(total, q.Offset+q.Limit)]), total, nil
}

func emissionCompare(o EmissionOrder) func(a, b EmissionRequest) int {
	desc := strings.HasPrefix(string(o), "-")
	return func(a, b EmissionRequest) int {
		var c int
		switch EmissionOrder(strings.TrimPrefix(string(o), "-")) {
		case EmissionByUpdated:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case EmissionByAmount:
			c = cmp.Compare(a.Amount, b.Amount)
		default:
			c = a.CreatedAt.Compare(b.CreatedAt)
		}
		if c == 0 {
			c = cmp.Compare(a.GUID, b.GUID)
		}
		if desc {
			c = -c
		}
		return c
	}
}
