package projections

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Recons is the read model of reconciliation over settled payments:
//   - the inter-bank recons of guide §15: for each pair of counterparties, asset and UTC day of settlement,
//     what each sent the other, and the recon's status from its Recon* events;
//   - the GUIDs of the payments settled on each UTC day, and the supply issued and burned, which the daily
//     ledger-vs-Stellar reconciliation compares with the chain.
//
// It remembers of a payment in flight only what settlement needs (amount, the two banks, whether a side is
// the issuer) and forgets it once the payment is final, so it costs a few words per open payment, one GUID
// per settled payment and one row per pair and day.
type Recons struct {
	known map[string]bool

	mu       sync.RWMutex
	open     map[string]openPayment // payment GUID → what its settlement needs
	settled  map[string][]string    // UTC day → GUIDs of the payments settled that day, in log order
	issued   int64                  // minor units paid by the issuer, settled
	burned   int64                  // minor units paid back to the issuer, settled
	days     map[reconKey]*pairDay
	byCP     map[string][]*pairDay // counterparty → its pair-days, in creation order
	byPair   map[[2]string][]*pairDay
	statuses map[string]reconciliation.ReconState // recon GUID → status from its events

	in reconsIn // Apply's reader; only the Runner's goroutine uses it
}

type openPayment struct {
	guid        string // the key it is open under
	amount      int64
	from, to    string // counterparties, lower-cased; "" for the issuer
	fromIssuer  bool
	toIssuer    bool
	code, issue string
}

// reconKey is a pair of counterparties (a < b), an asset and a day.
type reconKey struct {
	a, b, asset, day string
}

// pairDay is one recon's totals.
type pairDay struct {
	key           reconKey
	guid          string
	code, issuer  string
	day           time.Time
	outA, outB    int64 // what a sent b, what b sent a (minor units)
	payments      int
	first, latest time.Time // settlement times of its first and latest payment
}

// NewRecons returns an empty read model; feed it to a Runner.
func NewRecons() *Recons {
	return &Recons{known: knownTypes(append(payment.Events.Types(), reconciliation.ReconEvents.Types()...)),
		open: map[string]openPayment{}, settled: map[string][]string{}, days: map[reconKey]*pairDay{},
		byCP: map[string][]*pairDay{}, byPair: map[[2]string][]*pairDay{}, statuses: map[string]reconciliation.ReconState{}}
}

func (p *Recons) Name() string { return "recons" }

// Filter selects payment events and recon events (the prefix "Recon" also brings the reconciliation runs'
// events, which Apply passes over).
func (p *Recons) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: append(slices.Clone(payment.EventTypePrefixes), "Recon")}
}

// Apply folds one event. A settlement of a payment never created is an error, as in Payments.
func (p *Recons) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	if strings.HasPrefix(ev.Type, "Recon") {
		return p.applyRecon(ev)
	}
	e, ok, err := p.in.decode(ev.Type, ev.Data)
	if err != nil {
		return fmt.Errorf("projections: recons: %w", err)
	}
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Type {
	case typePaymentCreated:
		o := e.open
		o.guid = string(e.guid)
		p.open[o.guid] = o
	case typePaymentSettled:
		o, ok := p.open[string(e.guid)]
		if !ok {
			return fmt.Errorf("projections: recons: %s of payment %q, which is not open", ev.Type, e.guid)
		}
		// The key is the GUID as the creation wrote it, which the settlement's equals: keep it, not a copy.
		guid := o.guid
		delete(p.open, guid)
		day := p.in.dayOf(e.at)
		p.settled[day] = append(p.settled[day], guid)
		switch {
		case o.fromIssuer:
			p.issued += o.amount
		case o.toIssuer:
			p.burned += o.amount
		case o.from != "" && o.to != "" && o.from != o.to:
			p.addInterbank(o, day, e.at)
		}
	case typePaymentFailed, typePaymentCancelled:
		delete(p.open, string(e.guid))
	}
	return nil
}

func (p *Recons) addInterbank(o openPayment, day string, at time.Time) {
	a, b := o.from, o.to
	if b < a {
		a, b = b, a
	}
	k := reconKey{a: a, b: b, asset: o.code + ":" + o.issue, day: day}
	d := p.days[k]
	if d == nil {
		start, _ := reconciliation.ParseDay(day) // day came from Day: it parses
		d = &pairDay{key: k, guid: reconciliation.ReconGUID(a, b, k.asset, day).String(), code: o.code, issuer: o.issue, day: start, first: at}
		p.days[k] = d
		p.byCP[a] = append(p.byCP[a], d)
		p.byCP[b] = append(p.byCP[b], d)
		pair := [2]string{a, b}
		p.byPair[pair] = append(p.byPair[pair], d)
	}
	if o.from == a {
		d.outA += o.amount
	} else {
		d.outB += o.amount
	}
	d.payments++
	if at.After(d.latest) {
		d.latest = at
	}
}

func (p *Recons) applyRecon(ev eventstore.RecordedEvent) error {
	e, err := reconciliation.ReconEvents.Decode(ev.Type, ev.Data)
	if err != nil {
		return fmt.Errorf("projections: recons: %w", err)
	}
	var guid string
	switch e := e.(type) {
	case reconciliation.ReconConfirmedBy:
		guid = e.GUID
	case reconciliation.ReconAwaitingPayment:
		guid = e.GUID
	case reconciliation.ReconPaid:
		guid = e.GUID
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statuses[guid] = reconciliation.EvolveRecon(p.statuses[guid], e)
	return nil
}

// SettledOn returns the GUIDs of the payments settled (booked by the ledger) on a UTC day "YYYY-MM-DD".
func (p *Recons) SettledOn(day string) []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.settled[day])
}

// Supply is what the issuer paid out and was paid back, in settled payments (minor units).
func (p *Recons) Supply() (issued, burned int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.issued, p.burned
}

// Recon is one inter-bank recon as the API shows it. Amounts are minor units. The debtor sent more than it
// received (on a tie, the pair's first GUID is named debtor, with a saldo of zero).
type Recon struct {
	GUID        string
	AssetCode   string
	AssetIssuer string
	AssetGUID   string
	Day         time.Time // 00:00 UTC of the day
	Debtor      Side
	Creditor    Side
	Saldo       int64 // what the debtor owes: creditor's total_in − total_out
	Payments    int
	Status      reconciliation.ReconStatus
	OverdueDays int
	DueAt       time.Time // when an awaiting payment becomes overdue
	Confirmed   []string  // counterparties that confirmed, in order
	State       reconciliation.ReconState
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Side is one participant of a recon: what it received from and sent to the other that day, and its net
// position against the other before and after the day (the sum of its earlier saldos with it).
type Side struct {
	GUID          string
	TotalIn       int64
	TotalOut      int64
	Saldo         int64 // TotalIn − TotalOut
	BalanceBefore int64
	BalanceAfter  int64
}

// Calculation is the recon's figures for a status update.
func (r Recon) Calculation(dayOver bool) reconciliation.Calculation {
	return reconciliation.Calculation{Day: reconciliation.Day(r.Day), Debtor: r.Debtor.GUID, Creditor: r.Creditor.GUID, Saldo: r.Saldo,
		TotalIn: r.Creditor.TotalIn, TotalOut: r.Creditor.TotalOut, DayOver: dayOver}
}

// Counterparty roles of a recon query (guide §15 counterparty_role).
const (
	RoleDebtor   = "debtor"
	RoleCreditor = "creditor"
	RoleOneOf    = "one_of"
)

// ReconQuery filters and pages one bank's recons (guide §15). Dates bound the recon's day: a recon is listed
// when its day starts at or after StartDate and ends at or before EndDate (zero: open).
type ReconQuery struct {
	Counterparty string // required: the bank asking
	Role         string // debtor, creditor or one_of (required)
	Participant  string // the other bank; ignored with one_of
	GUIDs        []string
	StartDate    time.Time
	EndDate      time.Time
	AssetGUID    string
	Statuses     []reconciliation.ReconStatus
	Desc         bool // newest day first
	Offset       int
	Limit        int
	// Now and PaymentTerm decide overdue: an awaiting recon is overdue PaymentTerm after its day ends.
	Now         time.Time
	PaymentTerm time.Duration
}

// Bounds of recon lists.
const (
	DefaultReconLimit = 20
	MaxReconLimit     = 1000
)

// Recons lists the bank's recons that match q, ordered by day then GUID, and how many match in all.
func (p *Recons) Recons(q ReconQuery) ([]Recon, int, error) {
	if q.Counterparty == "" {
		return nil, 0, &PaymentQueryError{Field: "counterparty_guid", Reason: "is required"}
	}
	switch q.Role {
	case RoleDebtor, RoleCreditor, RoleOneOf:
	default:
		return nil, 0, &PaymentQueryError{Field: "counterparty_role", Reason: "must be debtor, creditor or one_of"}
	}
	if q.Limit <= 0 {
		q.Limit = DefaultReconLimit
	}
	if q.Limit > MaxReconLimit || q.Offset < 0 {
		return nil, 0, &PaymentQueryError{Field: "limit", Reason: fmt.Sprintf("must be 1…%d, offset ≥ 0", MaxReconLimit)}
	}
	cp := strings.ToLower(q.Counterparty)
	p.mu.RLock()
	defer p.mu.RUnlock()
	var all []Recon
	for _, d := range p.byCP[cp] {
		r := p.viewLocked(d, q.Now, q.PaymentTerm)
		if matchRecon(r, cp, q) {
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(a, b Recon) int {
		c := a.Day.Compare(b.Day)
		if c == 0 {
			c = cmp.Compare(a.GUID, b.GUID)
		}
		if q.Desc {
			return -c
		}
		return c
	})
	total := len(all)
	if q.Offset >= total {
		return []Recon{}, total, nil
	}
	return all[q.Offset:min(total, q.Offset+q.Limit)], total, nil
}

func matchRecon(r Recon, cp string, q ReconQuery) bool {
	if (q.Role == RoleDebtor && r.Debtor.GUID != cp) || (q.Role == RoleCreditor && r.Creditor.GUID != cp) {
		return false
	}
	other := r.Debtor.GUID
	if other == cp {
		other = r.Creditor.GUID
	}
	if q.Role != RoleOneOf && q.Participant != "" && !strings.EqualFold(q.Participant, other) {
		return false
	}
	if len(q.GUIDs) > 0 && !slices.ContainsFunc(q.GUIDs, func(g string) bool { return strings.EqualFold(g, r.GUID) }) {
		return false
	}
	if !q.StartDate.IsZero() && r.Day.Before(q.StartDate) {
		return false
	}
	if !q.EndDate.IsZero() && r.Day.Add(24*time.Hour-time.Second).After(q.EndDate) {
		return false
	}
	if q.AssetGUID != "" && !strings.EqualFold(q.AssetGUID, r.AssetGUID) {
		return false
	}
	return len(q.Statuses) == 0 || slices.Contains(q.Statuses, r.Status)
}

// Recon finds one recon the bank takes part in.
func (p *Recons) Recon(counterparty, guid string, now time.Time, term time.Duration) (Recon, bool) {
	cp := strings.ToLower(counterparty)
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, d := range p.byCP[cp] {
		if strings.EqualFold(d.guid, guid) {
			return p.viewLocked(d, now, term), true
		}
	}
	return Recon{}, false
}

func (p *Recons) viewLocked(d *pairDay, now time.Time, term time.Duration) Recon {
	// The pair's earlier days give each side's position before this one.
	var beforeA int64
	for _, e := range p.byPair[[2]string{d.key.a, d.key.b}] {
		if e.key.asset == d.key.asset && e.day.Before(d.day) {
			beforeA += e.outB - e.outA // a's saldo that day: received − sent
		}
	}
	a := Side{GUID: d.key.a, TotalIn: d.outB, TotalOut: d.outA, Saldo: d.outB - d.outA, BalanceBefore: beforeA}
	b := Side{GUID: d.key.b, TotalIn: d.outA, TotalOut: d.outB, Saldo: d.outA - d.outB, BalanceBefore: -beforeA}
	a.BalanceAfter, b.BalanceAfter = a.BalanceBefore+a.Saldo, b.BalanceBefore+b.Saldo
	debtor, creditor := a, b
	if d.outB > d.outA {
		debtor, creditor = b, a
	}
	st := p.statuses[d.guid]
	r := Recon{GUID: d.guid, AssetCode: d.code, AssetIssuer: d.issuer, AssetGUID: reconciliation.AssetGUID(d.code, d.issuer), Day: d.day,
		Debtor: debtor, Creditor: creditor, Saldo: creditor.Saldo, Payments: d.payments, Status: st.RecordedStatus(), State: st,
		DueAt: d.day.Add(24*time.Hour + term), CreatedAt: d.first, UpdatedAt: d.latest}
	if st.UpdatedAt.After(r.UpdatedAt) {
		r.UpdatedAt = st.UpdatedAt
	}
	for g := range st.Confirmed {
		r.Confirmed = append(r.Confirmed, g)
	}
	slices.Sort(r.Confirmed)
	if over, days := reconciliation.OverdueDays(r.Status, r.DueAt, now); over {
		r.Status, r.OverdueDays = reconciliation.Overdue, days
	}
	return r
}

// Participant is a counterparty a bank has recons with, and the totals over the recons of a query.
type Participant struct {
	GUID     string
	Recons   int
	TotalIn  int64 // what the bank received from it
	TotalOut int64 // what the bank sent it
	Saldo    int64 // TotalIn − TotalOut, from the bank's side
	// Role is debtor or creditor: the bank's role against it over the period (creditor when the saldo is 0).
	Role string
}

// Participants lists the counterparties of the bank's recons matching q (paging applies to participants,
// ordered by GUID).
func (p *Recons) Participants(q ReconQuery) ([]Participant, int, error) {
	page := q
	page.Offset, page.Limit = 0, MaxReconLimit
	byGUID := map[string]*Participant{}
	var order []string
	for {
		recons, total, err := p.Recons(page)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range recons {
			me, other := r.Debtor, r.Creditor
			if !strings.EqualFold(me.GUID, q.Counterparty) {
				me, other = r.Creditor, r.Debtor
			}
			pt := byGUID[other.GUID]
			if pt == nil {
				pt = &Participant{GUID: other.GUID}
				byGUID[other.GUID] = pt
				order = append(order, other.GUID)
			}
			pt.Recons++
			pt.TotalIn += me.TotalIn
			pt.TotalOut += me.TotalOut
		}
		page.Offset += len(recons)
		if len(recons) == 0 || page.Offset >= total {
			break
		}
	}
	slices.Sort(order)
	if q.Desc {
		slices.Reverse(order)
	}
	out := make([]Participant, 0, len(order))
	for _, g := range order {
		pt := byGUID[g]
		pt.Saldo = pt.TotalIn - pt.TotalOut
		pt.Role = RoleCreditor
		if pt.Saldo < 0 {
			pt.Role = RoleDebtor
		}
		out = append(out, *pt)
	}
	total := len(out)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultReconLimit
	}
	if q.Offset >= total {
		return []Participant{}, total, nil
	}
	return out[q.Offset:min(total, q.Offset+limit)], total, nil
}
