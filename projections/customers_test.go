package projections_test

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/iban"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// raceDetector is set by customers_race_test.go, so that the slow brute-force comparisons run fewer queries
// under the race detector.
var raceDetector bool

// ---- A model of the log, kept with the domain's own Evolve, that answers every query by brute force. ----

type refAccount struct {
	state            account.State
	created, updated time.Time
}

// refModel is what the read model must answer, computed the slow and obvious way.
type refModel struct {
	customers map[string]customer.State // by GUID, registered customers only
	accounts  map[string]*refAccount    // by GUID, from the key on
	order     []string                  // account GUIDs in opening order
	rows      []*refRow                 // customers with their compared forms; nil after a change
}

// refRow is a customer with the forms its fields compare in, worked out once per change of the model.
type refRow struct {
	s                                   customer.State
	login, name, surname, paternal, ext string
}

func (m *refModel) refRows() []*refRow {
	if m.rows == nil {
		for _, s := range m.customers {
			p := s.Profile
			m.rows = append(m.rows, &refRow{s: s, login: strings.ToLower(p.Login), name: uniqueness.Normalise(p.Name),
				surname: uniqueness.Normalise(p.Surname), paternal: uniqueness.Normalise(p.PaternalName), ext: uniqueness.Normalise(s.ExternalID)})
		}
	}
	return m.rows
}

func newRefModel() *refModel {
	return &refModel{customers: map[string]customer.State{}, accounts: map[string]*refAccount{}}
}

func (m *refModel) apply(e any) {
	m.rows = nil
	switch e := e.(type) {
	case customer.CustomerRegistered:
		m.customers[e.GUID] = customer.Evolve(customer.State{}, e)
	case customer.CustomerUpdated:
		m.customers[e.GUID] = customer.Evolve(m.customers[e.GUID], e)
	case customer.CustomerDisabled:
		m.customers[e.GUID] = customer.Evolve(m.customers[e.GUID], e)
	case customer.CustomerEnabled:
		m.customers[e.GUID] = customer.Evolve(m.customers[e.GUID], e)
	case customer.CustomerAccountAdded:
		m.customers[e.GUID] = customer.Evolve(m.customers[e.GUID], e)
	case account.AccountKeyGenerated:
		m.accounts[e.GUID] = &refAccount{state: account.Evolve(account.State{}, e), created: e.At, updated: e.At}
	case account.AccountOpened:
		a := m.accounts[e.GUID]
		a.state, a.updated = account.Evolve(a.state, e), e.At
		m.order = append(m.order, e.GUID)
	case account.AccountBlocked:
		a := m.accounts[e.GUID]
		a.state, a.updated = account.Evolve(a.state, e), e.At
	case account.AccountUnblocked:
		a := m.accounts[e.GUID]
		a.state, a.updated = account.Evolve(a.state, e), e.At
	case account.AccountSegmentSet:
		a := m.accounts[e.GUID]
		a.state, a.updated = account.Evolve(a.state, e), e.At
	}
}

func (m *refModel) customerView(s customer.State) projections.Customer {
	return projections.Customer{GUID: s.GUID, CounterpartyGUID: s.CounterpartyGUID, ExternalID: s.ExternalID, Profile: s.Profile,
		Disabled: s.Disabled, Accounts: slices.Clone(s.Accounts), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}
}

func (m *refModel) accountView(a *refAccount) projections.Account {
	s := a.state
	v := projections.Account{GUID: s.GUID, CounterpartyGUID: s.CounterpartyGUID, Kind: s.Kind, Address: s.Address, Owner: s.Owner,
		AssetCode: s.AssetCode, AssetIssuer: s.AssetIssuer, Opened: s.Opened, Blocked: s.Blocked, Segment: s.Segment,
		CreatedAt: a.created.UTC(), UpdatedAt: a.updated.UTC()}
	if c, ok := m.customers[s.Owner.CustomerGUID]; ok && strings.EqualFold(c.CounterpartyGUID, s.CounterpartyGUID) {
		v.CustomerLogin, v.CustomerExternalID = c.Profile.Login, c.ExternalID
	}
	return v
}

func anyEqualFold(values []string, v string) bool {
	return slices.ContainsFunc(values, func(x string) bool { return strings.EqualFold(x, v) })
}

// normalised is a names filter in the form names compare in.
func normalised(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = uniqueness.Normalise(v)
	}
	return out
}

func anyTrimmed(values []string, v string) bool {
	return slices.ContainsFunc(values, func(x string) bool { return strings.TrimSpace(x) == v })
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}

// matches is the documented meaning of every filter of a CustomerQuery; names, paternal names and surnames
// come normalised.
func (m *refModel) matches(r *refRow, q projections.CustomerQuery, names, paternals, surnames []string) bool {
	s, p := r.s, r.s.Profile
	search := func() bool {
		n := uniqueness.Normalise(q.Search)
		return n == "" || strings.Contains(r.name, n) || strings.Contains(r.surname, n) || strings.Contains(r.paternal, n) ||
			strings.Contains(r.login, n) || strings.EqualFold(s.GUID, n) || r.ext == n
	}
	return strings.EqualFold(s.CounterpartyGUID, q.CounterpartyGUID) &&
		(len(q.GUIDs) == 0 || anyEqualFold(q.GUIDs, s.GUID)) &&
		(len(q.Logins) == 0 || anyEqualFold(q.Logins, p.Login)) &&
		(len(q.KYCLevels) == 0 || slices.Contains(q.KYCLevels, p.KYCLevel)) &&
		(q.Disabled == nil || *q.Disabled == s.Disabled) &&
		(q.MinBalanceAllowed == nil || p.BalanceAllowed >= *q.MinBalanceAllowed) &&
		(q.MaxBalanceAllowed == nil || p.BalanceAllowed <= *q.MaxBalanceAllowed) &&
		(len(q.BalanceAssetCodes) == 0 || anyTrimmed(q.BalanceAssetCodes, p.BalanceAssetCode)) &&
		(len(q.BalanceAssetIssuers) == 0 || anyTrimmed(q.BalanceAssetIssuers, p.BalanceAssetIssuer)) &&
		(len(q.BranchGUIDs) == 0 || anyEqualFold(q.BranchGUIDs, p.BranchGUID)) &&
		(q.BranchScope == "" || strings.EqualFold(q.BranchScope, p.BranchGUID)) &&
		(len(q.Names) == 0 || slices.Contains(names, r.name)) &&
		(len(q.PaternalNames) == 0 || slices.Contains(paternals, r.paternal)) &&
		(len(q.Surnames) == 0 || slices.Contains(surnames, r.surname)) &&
		(len(q.PhoneNumbers) == 0 || anyTrimmed(q.PhoneNumbers, p.Phone)) &&
		(len(q.Segments) == 0 || anyTrimmed(q.Segments, p.Segment)) &&
		(len(q.Statuses) == 0 || anyTrimmed(q.Statuses, p.Status)) &&
		inRange(s.CreatedAt, q.MinCreated, q.MaxCreated) && inRange(s.UpdatedAt, q.MinUpdated, q.MaxUpdated) && search()
}

func refPage[T any](items []T, offset, limit int) []T {
	if limit == 0 {
		limit = projections.DefaultListLimit
	}
	limit = min(limit, projections.MaxListLimit)
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(len(items), offset+limit)]
}

func (m *refModel) listCustomers(q projections.CustomerQuery) ([]projections.Customer, int) {
	var out []*refRow
	names, paternals, surnames := normalised(q.Names), normalised(q.PaternalNames), normalised(q.Surnames)
	for _, r := range m.refRows() {
		if m.matches(r, q, names, paternals, surnames) {
			out = append(out, r)
		}
	}
	order := q.Order
	if order == "" {
		order = projections.CustomersByCreated
	}
	key := func(a, b *refRow) int {
		var c int
		switch strings.TrimPrefix(string(order), "-") {
		case "created_at":
			c = a.s.CreatedAt.Compare(b.s.CreatedAt)
		case "updated_at":
			c = a.s.UpdatedAt.Compare(b.s.UpdatedAt)
		case "login":
			c = strings.Compare(a.login, b.login)
		case "surname":
			c = strings.Compare(a.surname, b.surname)
		}
		return cmp.Or(c, strings.Compare(a.s.GUID, b.s.GUID))
	}
	slices.SortFunc(out, key)
	if strings.HasPrefix(string(order), "-") {
		slices.Reverse(out)
	}
	var views []projections.Customer
	for _, r := range refPage(out, q.Offset, q.Limit) {
		views = append(views, m.customerView(r.s))
	}
	return views, len(out)
}

func (m *refModel) listAccounts(q projections.AccountQuery) ([]projections.Account, int) {
	var out []*refAccount
	for _, g := range m.order {
		a := m.accounts[g]
		s := a.state
		c, registered := m.customers[s.Owner.CustomerGUID]
		joined := registered && strings.EqualFold(c.CounterpartyGUID, s.CounterpartyGUID)
		branch := s.Owner.BranchGUID
		if joined {
			branch = c.Profile.BranchGUID
		}
		search := strings.TrimSpace(q.Search)
		ibanOf := func(x string) string { return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(x), " ", "")) }
		if !strings.EqualFold(s.CounterpartyGUID, q.CounterpartyGUID) ||
			(len(q.GUIDs) > 0 && !anyEqualFold(q.GUIDs, s.GUID)) ||
			(len(q.CustomerGUIDs) > 0 && (s.Owner.CustomerGUID == "" || !anyEqualFold(q.CustomerGUIDs, s.Owner.CustomerGUID))) ||
			(len(q.Kinds) > 0 && !slices.Contains(q.Kinds, s.Kind)) ||
			(q.IBAN != "" && ibanOf(q.IBAN) != ibanOf(s.Owner.IBAN)) ||
			(len(q.BranchGUIDs) > 0 && !anyEqualFold(q.BranchGUIDs, branch)) ||
			(q.BranchScope != "" && !strings.EqualFold(q.BranchScope, branch)) ||
			(search != "" && !(strings.EqualFold(search, s.GUID) || (s.Owner.CustomerGUID != "" && strings.EqualFold(search, s.Owner.CustomerGUID)) ||
				(s.Owner.IBAN != "" && ibanOf(search) == ibanOf(s.Owner.IBAN)) ||
				(joined && (strings.EqualFold(search, c.Profile.Login) || uniqueness.Normalise(search) == uniqueness.Normalise(c.ExternalID))))) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *refAccount) int {
		return cmp.Or(a.created.Compare(b.created), strings.Compare(a.state.GUID, b.state.GUID))
	})
	if q.Order == projections.CreatedDesc {
		slices.Reverse(out)
	}
	var views []projections.Account
	for _, a := range refPage(out, q.Offset, q.Limit) {
		views = append(views, m.accountView(a))
	}
	return views, len(out)
}

// ---- A random bank: customers, accounts and their changes, in a log order a real system could write. ----

type randomBank struct {
	r        *rand.Rand
	cps      []string
	branches []string
	t        time.Time
	events   []any
	custs    []customer.State // as registered, for choosing values
	accts    []string
	pending  [][]any // registrations whose account comes after the customer, to be flushed later
}

var (
	rbNames     = []string{"Olena", "olena", "Taras", "Iryna", "Oksana  Maria", "Андрій", "Ann", "Anna", "Hanna", ""}
	rbSurnames  = []string{"Shevchenko", "shevchenko ", "Bondarenko", "Kovalenko", "Tkachuk", "de la Cruz", "Ковальчук", "Ann", ""}
	rbPaternals = []string{"Ivanivna", "Petrovych", "Andriivna", "", "IVANIVNA"}
	rbSegments  = []string{"retail", "vip", "VIP", "salary", ""}
	rbStatuses  = []string{"active", "blocked", "pending"}
	rbCodes     = []string{"UAH", "eUAH", ""}
	rbAcctSegs  = []string{"gold", "Gold", "payroll"}
)

func (b *randomBank) pick(list []string) string { return list[b.r.IntN(len(list))] }

func (b *randomBank) tick() time.Time {
	// Whole minutes often repeat, so that ties on every time order are common.
	if b.r.IntN(3) > 0 {
		b.t = b.t.Add(time.Duration(b.r.IntN(2)) * time.Minute)
	}
	if b.r.IntN(50) == 0 {
		return b.t.Add(-time.Duration(1+b.r.IntN(90)) * time.Minute) // a clock behind: log order is not time order
	}
	return b.t
}

func (b *randomBank) profile(i int) customer.Profile {
	p := customer.Profile{Login: fmt.Sprintf("user%d@Bank.test", i), Name: b.pick(rbNames), Surname: b.pick(rbSurnames),
		PaternalName: b.pick(rbPaternals), KYCLevel: b.r.IntN(4), Segment: b.pick(rbSegments), Status: b.pick(rbStatuses),
		BalanceAllowed: money.Amount(b.r.IntN(4) * 50_000), BalanceAssetCode: b.pick(rbCodes), BalanceAssetIssuer: b.pick([]string{"GISSUER1", "GISSUER2"})}
	if b.r.IntN(2) == 0 {
		p.Phone = fmt.Sprintf("+3805%08d", b.r.IntN(300)) // phones repeat now and then
	}
	if b.r.IntN(4) > 0 {
		p.BranchGUID = b.pick(b.branches)
		if b.r.IntN(10) == 0 {
			p.BranchGUID = strings.ToUpper(p.BranchGUID)
		}
	}
	if b.r.IntN(8) == 0 {
		p.Login = strings.ToLower(p.Login)
	}
	return p
}

// register adds a customer with one account; now and then the customer comes first in the log.
func (b *randomBank) register(i int) {
	cp := b.cps[0]
	if b.r.IntN(10) == 0 {
		cp = b.cps[1]
	}
	cust, acct := uuid.NewString(), uuid.NewString()
	if b.r.IntN(40) == 0 {
		// GUIDs no decider writes, which the read model must still keep apart and show as written.
		cust, acct = fmt.Sprintf("Legacy-Cust-%d", i), fmt.Sprintf("Legacy-Acct-%d", i)
	}
	at := b.tick()
	ext := fmt.Sprintf("EXT-%d", i%900) // external IDs repeat across customers now and then
	ib, _ := iban.Generate("UA", fmt.Sprintf("322313%019d", i))
	owner := account.Owner{CustomerGUID: cust, IBAN: string(ib)}
	if b.r.IntN(5) == 0 {
		owner.BranchGUID = b.pick(b.branches)
	}
	acctEvents := []any{
		account.AccountKeyGenerated{GUID: acct, Kind: account.KindCustomer, CounterpartyGUID: cp, Address: fmt.Sprintf("GADDR%d", i), SealedSeed: []byte{1, 2, 3}, Owner: owner, At: at},
		account.AccountOpened{GUID: acct, Kind: account.KindCustomer, CounterpartyGUID: cp, AssetCode: "eUAH", AssetIssuer: "GISSUER1", Owner: owner, At: at.Add(time.Second)},
	}
	reg := customer.CustomerRegistered{GUID: cust, CounterpartyGUID: cp, ExternalID: ext, Profile: b.profile(i), Disabled: b.r.IntN(20) == 0, AccountGUID: acct, At: at.Add(2 * time.Second)}
	if b.r.IntN(15) == 0 {
		b.events = append(b.events, reg)
		b.pending = append(b.pending, acctEvents)
	} else {
		b.events = append(b.events, acctEvents...)
		b.events = append(b.events, reg)
	}
	b.custs = append(b.custs, customer.Evolve(customer.State{}, reg))
	b.accts = append(b.accts, acct)
	if len(b.pending) > 0 && b.r.IntN(3) == 0 {
		b.events = append(b.events, b.pending[0]...)
		b.pending = b.pending[1:]
	}
}

func (b *randomBank) flush() {
	for _, p := range b.pending {
		b.events = append(b.events, p...)
	}
	b.pending = nil
}

// change makes one change to an existing customer or account.
func (b *randomBank) change(m *refModel) {
	i := b.r.IntN(len(b.custs))
	c := m.customers[b.custs[i].GUID]
	if c.GUID == "" {
		return // its registration is still pending
	}
	at := b.tick()
	switch b.r.IntN(7) {
	case 0, 1, 2:
		p := b.profile(i)
		p.Login = c.Profile.Login // the decider lets no login change
		switch b.r.IntN(6) {
		case 0:
			p.Login = strings.ToUpper(p.Login) // but an older one let its case change
		case 1:
			p.Login = fmt.Sprintf("renamed%d-%d@bank.test", i, b.r.IntN(1000)) // and the read model must not rely on it
		}
		b.events = append(b.events, customer.CustomerUpdated{GUID: c.GUID, Profile: p, At: at})
	case 3:
		if c.Disabled {
			b.events = append(b.events, customer.CustomerEnabled{GUID: c.GUID, At: at})
		} else {
			b.events = append(b.events, customer.CustomerDisabled{GUID: c.GUID, Reason: "test", At: at})
		}
	case 4:
		acct := uuid.NewString()
		owner := account.Owner{CustomerGUID: c.GUID}
		b.events = append(b.events,
			account.AccountKeyGenerated{GUID: acct, Kind: account.KindCustomer, CounterpartyGUID: c.CounterpartyGUID, Address: "GADDR" + acct, SealedSeed: []byte{4}, Owner: owner, At: at},
			account.AccountOpened{GUID: acct, Kind: account.KindCustomer, CounterpartyGUID: c.CounterpartyGUID, AssetCode: "eUAH", AssetIssuer: "GISSUER1", Owner: owner, At: at},
			customer.CustomerAccountAdded{GUID: c.GUID, AccountGUID: acct, At: at})
		b.accts = append(b.accts, acct)
	case 5:
		a := m.accounts[b.accts[b.r.IntN(len(b.accts))]]
		if a == nil || !a.state.Opened {
			return
		}
		seg := b.pick(rbAcctSegs)
		if b.r.IntN(4) == 0 {
			seg = ""
		}
		if seg != a.state.Segment {
			b.events = append(b.events, account.AccountSegmentSet{GUID: a.state.GUID, Segment: seg, At: at})
		}
	case 6:
		a := m.accounts[b.accts[b.r.IntN(len(b.accts))]]
		if a == nil || !a.state.Opened {
			return
		}
		if a.state.Blocked {
			b.events = append(b.events, account.AccountUnblocked{GUID: a.state.GUID, At: at})
		} else {
			b.events = append(b.events, account.AccountBlocked{GUID: a.state.GUID, Reason: "test", At: at})
		}
	}
}

// entity adds an account of the counterparty itself (no customer).
func (b *randomBank) entity() {
	acct := uuid.NewString()
	at := b.tick()
	kind := account.KindProcessing
	owner := account.Owner{BranchGUID: b.pick(b.branches), KeyKeeperLogin: "keeper@bank.test"}
	if b.r.IntN(2) == 0 {
		kind, owner = account.KindEmission, account.Owner{}
	}
	b.events = append(b.events,
		account.AccountKeyGenerated{GUID: acct, Kind: kind, CounterpartyGUID: b.cps[0], Address: "GENT" + acct, SealedSeed: []byte{9}, Owner: owner, At: at},
		account.AccountOpened{GUID: acct, Kind: kind, CounterpartyGUID: b.cps[0], AssetCode: "eUAH", AssetIssuer: "GISSUER1", Owner: owner, At: at})
	b.accts = append(b.accts, acct)
}

func recorded(t testing.TB, e any) eventstore.RecordedEvent {
	t.Helper()
	var typ string
	var data []byte
	var err error
	switch e := e.(type) {
	case customer.Event:
		typ, data, err = customer.Events.Encode(e)
	case account.Event:
		typ, data, err = account.Events.Encode(e)
	}
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{ID: uuid.New(), Type: typ, Data: data}
}

// feed applies the bank's new events to the read model and to the reference.
func (b *randomBank) feed(t *testing.T, c *projections.Customers, m *refModel) {
	t.Helper()
	for _, e := range b.events {
		if err := c.Apply(recorded(t, e)); err != nil {
			t.Fatalf("apply %T: %v", e, err)
		}
		m.apply(e)
	}
	b.events = b.events[:0]
}

// randomCustomerQuery sets each filter now and then, to values rows have (in other cases and spacing),
// and to values no row has.
func (b *randomBank) randomCustomerQuery(m *refModel) projections.CustomerQuery {
	r := b.r
	q := projections.CustomerQuery{CounterpartyGUID: b.cps[0]}
	if r.IntN(10) == 0 {
		q.CounterpartyGUID = strings.ToUpper(b.cps[1])
	}
	some := func() customer.State { return m.customers[b.custs[r.IntN(len(b.custs))].GUID] }
	often := func() bool { return r.IntN(7) == 0 }
	vals := func(f func() string) []string {
		out := []string{f()}
		for r.IntN(2) == 0 {
			out = append(out, f())
		}
		return out
	}
	if often() {
		q.GUIDs = vals(func() string { return strings.ToUpper(some().GUID) })
		if r.IntN(3) == 0 {
			q.GUIDs = append(q.GUIDs, "not-a-guid", uuid.NewString())
		}
	}
	if often() {
		q.Logins = vals(func() string { return strings.ToUpper(some().Profile.Login) })
	}
	if often() {
		q.KYCLevels = []int{r.IntN(5)}
		if r.IntN(2) == 0 {
			q.KYCLevels = append(q.KYCLevels, r.IntN(4))
		}
	}
	if often() {
		d := r.IntN(2) == 0
		q.Disabled = &d
	}
	if often() {
		v := money.Amount(r.IntN(4) * 50_000)
		q.MinBalanceAllowed = &v
	}
	if often() {
		v := money.Amount(r.IntN(4) * 50_000)
		q.MaxBalanceAllowed = &v
	}
	if often() {
		q.BalanceAssetCodes = vals(func() string { return " " + b.pick(rbCodes) })
	}
	if often() {
		q.BalanceAssetIssuers = []string{"GISSUER2"}
	}
	if often() {
		q.BranchGUIDs = vals(func() string { return strings.ToUpper(b.pick(append(b.branches, ""))) })
	}
	if r.IntN(5) == 0 {
		q.BranchScope = b.pick(b.branches)
	}
	if often() {
		q.Names = vals(func() string { return strings.ToUpper(b.pick(rbNames)) })
	}
	if often() {
		q.PaternalNames = vals(func() string { return b.pick(rbPaternals) })
	}
	if often() {
		q.Surnames = vals(func() string { return " " + b.pick(rbSurnames) })
	}
	if often() {
		q.PhoneNumbers = vals(func() string { return some().Profile.Phone })
	}
	if often() {
		q.Segments = vals(func() string { return b.pick(rbSegments) })
	}
	if often() {
		q.Statuses = vals(func() string { return b.pick(rbStatuses) + " " })
	}
	if r.IntN(5) == 0 {
		switch r.IntN(6) {
		case 0:
			sur := b.pick(rbSurnames)
			q.Search = sur[:min(2, len(sur))]
		case 1:
			q.Search = "  " + strings.ToUpper(b.pick(rbNames))
		case 2:
			q.Search = fmt.Sprintf("user%d", r.IntN(50))
		case 3:
			q.Search = strings.ToUpper(some().GUID)
		case 4:
			q.Search = strings.ToLower(some().ExternalID)
		default:
			q.Search = "nobody-at-all"
		}
	}
	if often() {
		c := some()
		q.MinCreated = c.CreatedAt.Add(-time.Duration(r.IntN(3)) * time.Minute)
		if r.IntN(2) == 0 {
			q.MaxCreated = q.MinCreated.Add(time.Duration(r.IntN(120)) * time.Minute)
		}
	}
	if often() {
		q.MaxUpdated = some().UpdatedAt
	}
	q.Order = projections.CustomerOrders[r.IntN(len(projections.CustomerOrders))]
	if r.IntN(8) == 0 {
		q.Order = ""
	}
	q.Limit = []int{0, 1, 3, 17, 1000, 5000}[r.IntN(6)]
	q.Offset = []int{0, 0, 0, 1, 2, 40, 200, 100_000}[r.IntN(8)]
	return q
}

func (b *randomBank) randomAccountQuery(m *refModel) projections.AccountQuery {
	r := b.r
	q := projections.AccountQuery{CounterpartyGUID: b.cps[0], Order: projections.CreatedOrder(r.IntN(2))}
	some := func() *refAccount { return m.accounts[b.accts[r.IntN(len(b.accts))]] }
	often := func() bool { return r.IntN(6) == 0 }
	if often() {
		q.GUIDs = []string{strings.ToUpper(some().state.GUID), some().state.GUID}
	}
	if often() {
		q.CustomerGUIDs = []string{some().state.Owner.CustomerGUID, strings.ToUpper(some().state.Owner.CustomerGUID)}
	}
	if often() {
		q.Kinds = []account.Kind{[]account.Kind{account.KindCustomer, account.KindProcessing, account.KindEmission}[r.IntN(3)]}
	}
	if often() {
		q.IBAN = strings.ToLower(some().state.Owner.IBAN)
		if ib, err := iban.Parse(q.IBAN); err == nil && r.IntN(2) == 0 {
			q.IBAN = ib.Paper()
		}
	}
	if often() {
		q.BranchGUIDs = []string{strings.ToUpper(b.pick(append(b.branches, "")))}
	}
	if r.IntN(5) == 0 {
		q.BranchScope = b.pick(b.branches)
	}
	if r.IntN(4) == 0 {
		a := some()
		c := m.customers[a.state.Owner.CustomerGUID]
		switch r.IntN(6) {
		case 0:
			q.Search = strings.ToUpper(a.state.GUID)
		case 1:
			q.Search = " " + a.state.Owner.CustomerGUID
		case 2:
			q.Search = strings.ToLower(a.state.Owner.IBAN)
		case 3:
			q.Search = strings.ToUpper(c.Profile.Login)
		case 4:
			q.Search = c.ExternalID
		default:
			q.Search = "nothing"
		}
	}
	q.Limit = []int{0, 1, 5, 2000}[r.IntN(4)]
	q.Offset = []int{0, 0, 1, 7, 50_000}[r.IntN(5)]
	return q
}

func (b *randomBank) checkQueries(t *testing.T, c *projections.Customers, m *refModel, n int) {
	t.Helper()
	ctx := testContext(t)
	for range n {
		q := b.randomCustomerQuery(m)
		got, total, err := c.ListCustomers(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		want, wantTotal := m.listCustomers(q)
		if len(want) == 0 {
			want = []projections.Customer{}
		}
		if total != wantTotal || !reflect.DeepEqual(got, want) {
			t.Fatalf("customers %+v:\n got  %d %v\n want %d %v", q, total, guidsOf(got), wantTotal, guidsOf(want))
		}
		aq := b.randomAccountQuery(m)
		gotA, totalA, err := c.ListAccounts(ctx, aq)
		if err != nil {
			t.Fatalf("%+v: %v", aq, err)
		}
		wantA, wantTotalA := m.listAccounts(aq)
		if len(wantA) == 0 {
			wantA = []projections.Account{}
		}
		if totalA != wantTotalA || !reflect.DeepEqual(gotA, wantA) {
			t.Fatalf("accounts %+v:\n got  %d %+v\n want %d %+v", aq, totalA, gotA, wantTotalA, wantA)
		}
	}
}

func guidsOf[T any](items []T) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, reflect.ValueOf(it).FieldByName("GUID").String())
	}
	return out
}

// checkLookups compares every single-row answer with the reference.
func checkLookups(t *testing.T, c *projections.Customers, m *refModel) {
	t.Helper()
	ctx := testContext(t)
	for guid, s := range m.customers {
		got, ok := c.Customer(ctx, strings.ToUpper(s.CounterpartyGUID), strings.ToUpper(guid))
		if want := m.customerView(s); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("customer %s:\n got  %+v %v\n want %+v", guid, got, ok, want)
		}
		if _, ok := c.Customer(ctx, uuid.NewString(), guid); ok {
			t.Fatalf("customer %s found under another counterparty", guid)
		}
		accts, ok := c.CustomerAccounts(ctx, s.CounterpartyGUID, guid)
		var want []projections.Account
		for _, g := range s.Accounts {
			if a := m.accounts[g]; a != nil && a.state.Opened {
				want = append(want, m.accountView(a))
			}
		}
		if len(want) == 0 {
			want = []projections.Account{}
		}
		if !ok || !reflect.DeepEqual(accts, want) {
			t.Fatalf("accounts of %s:\n got  %+v\n want %+v", guid, accts, want)
		}
	}
	for guid, a := range m.accounts {
		got, ok := c.Account(ctx, a.state.CounterpartyGUID, strings.ToUpper(guid))
		if want := m.accountView(a); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("account %s:\n got  %+v %v\n want %+v", guid, got, ok, want)
		}
		if a.state.Owner.IBAN != "" {
			ib, _ := iban.Parse(a.state.Owner.IBAN)
			if got, ok := c.AccountByIBAN(ctx, strings.ToLower(ib.Paper())); !ok || got.GUID != guid {
				t.Fatalf("account by IBAN %s: %+v %v", ib.Paper(), got, ok)
			}
		}
	}
}

func checkSegments(t *testing.T, c *projections.Customers, m *refModel, cp string) {
	t.Helper()
	want := map[string][]projections.Account{}
	for _, g := range m.order {
		a := m.accounts[g]
		if a.state.Segment != "" && strings.EqualFold(a.state.CounterpartyGUID, cp) {
			want[a.state.Segment] = append(want[a.state.Segment], m.accountView(a))
		}
	}
	for _, list := range want {
		slices.SortFunc(list, func(a, b projections.Account) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.GUID, b.GUID))
		})
	}
	if got := c.Segments(testContext(t), cp, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("segments:\n got  %v\n want %v", got, want)
	}
	got := c.Segments(testContext(t), cp, []string{"gold", "nope", "gold"})
	if len(got) > 1 || !reflect.DeepEqual(got["gold"], want["gold"]) {
		t.Fatalf("segment gold: %v", got)
	}
}

// TestCustomersAgainstReference builds a bank of thousands of customers (enough that every strategy of the
// query planner runs: index lists, ranges, the search scan, the sorted walk and the sort), changes it, and
// compares thousands of random queries, every single-row lookup and the segments with a brute-force model.
func TestCustomersAgainstReference(t *testing.T) {
	n, queries := 5000, 400
	if testing.Short() || raceDetector {
		queries = 100
	}
	b := &randomBank{r: rand.New(rand.NewPCG(7, 8)), cps: []string{uuid.NewString(), uuid.NewString()},
		t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	for range 6 {
		b.branches = append(b.branches, uuid.NewString())
	}
	c := projections.NewCustomers()
	m := newRefModel()
	for i := range n {
		b.register(i)
		if i%50 == 0 {
			b.entity()
		}
	}
	b.flush()
	b.feed(t, c, m)
	b.checkQueries(t, c, m, queries)
	checkLookups(t, c, m)
	checkSegments(t, c, m, b.cps[0])

	// Changes after the lists were built: the lazy lists merge them, and old index entries must go.
	for range n / 4 {
		b.change(m)
		if b.r.IntN(20) == 0 {
			b.feed(t, c, m)
			b.checkQueries(t, c, m, 3)
		}
	}
	b.feed(t, c, m)
	b.checkQueries(t, c, m, queries)
	// More registrations, some with older times, after the lists were sorted.
	for i := n; i < n+n/10; i++ {
		b.register(i)
	}
	b.flush()
	b.feed(t, c, m)
	b.checkQueries(t, c, m, queries)
	checkLookups(t, c, m)
	checkSegments(t, c, m, b.cps[0])
}

// ---- The read model fed by a Runner over the embedded store, through the domain's deciders. ----

type bankWorld struct {
	t      *testing.T
	store  *bolt.Store
	runner *projections.Runner
	c      *projections.Customers
	last   eventstore.Position
}

func newBankWorld(t *testing.T, store *bolt.Store) *bankWorld {
	w := &bankWorld{t: t, store: store, c: projections.NewCustomers()}
	w.runner = newRunner(t, store, projections.Options{}, w.c)
	start(t, w.runner)
	return w
}

func handle[S, E any](w *bankWorld, stream string, dec command.Decider[S, any, E], codec command.Codec[E], cmd any) {
	w.t.Helper()
	res, err := command.Handle(testContext(w.t), w.store, stream, dec, codec, cmd, command.Envelope{})
	if err != nil {
		w.t.Fatalf("%T on %s: %v", cmd, stream, err)
	}
	if len(res.Events) > 0 {
		w.last = res.Position
	}
}

func (w *bankWorld) sync() {
	w.t.Helper()
	if err := w.runner.WaitFor(testContext(w.t), w.last); err != nil {
		w.t.Fatal(err)
	}
}

func (w *bankWorld) openAccount(cp, guid uuid.UUID, kind account.Kind, owner account.Owner, addr byte, at time.Time) {
	handle(w, account.Stream(guid), account.Decider, account.Events, account.GenerateKey{GUID: guid, Kind: kind, CounterpartyGUID: cp,
		Address: accountID(addr), SealedSeed: []byte("sealed"), Owner: owner, At: at})
	handle(w, account.Stream(guid), account.Decider, account.Events, account.RecordOpened{AssetCode: "eUAH", AssetIssuer: accountID(200), At: at.Add(time.Second)})
}

func (w *bankWorld) register(cp, guid, acct uuid.UUID, ext string, p customer.Profile, at time.Time) {
	handle(w, customer.Stream(guid), customer.Decider, customer.Events, customer.Register{GUID: guid, CounterpartyGUID: cp, ExternalID: ext,
		Profile: p, FirstAccount: acct, At: at})
}

func mustIBAN(t *testing.T, n int) string {
	t.Helper()
	ib, err := iban.Generate("UA", fmt.Sprintf("322313%019d", n))
	if err != nil {
		t.Fatal(err)
	}
	return string(ib)
}

func TestCustomersReadModel(t *testing.T) {
	store := openBolt(t)
	w := newBankWorld(t, store)
	ctx := testContext(t)
	bank, other := uuid.New(), uuid.New()
	kyiv, lviv := uuid.New(), uuid.New()
	olena, taras, iryna, stranger := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	aOlena, aTaras, aIryna, aStranger, aOlena2, processing := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

	// Olena: the usual order, account first.
	w.openAccount(bank, aOlena, account.KindCustomer, account.Owner{CustomerGUID: olena.String(), IBAN: mustIBAN(t, 1)}, 1, t0)
	w.register(bank, olena, aOlena, "ext-olena", customer.Profile{Login: "Olena@Bank.test", Name: "Olena", Surname: "Shevchenko",
		Phone: "+380501112233", KYCLevel: 1, Segment: "retail", BranchGUID: kyiv.String()}, t0.Add(time.Minute))
	// Taras: registered before his account is opened (a crash between the two, resumed later).
	w.register(bank, taras, aTaras, "ext-taras", customer.Profile{Login: "taras", Name: "Taras", Surname: "Bondarenko", KYCLevel: 2,
		Segment: "vip", Status: "pending", BranchGUID: lviv.String()}, t0.Add(2*time.Minute))
	w.sync()
	if accts, ok := w.c.CustomerAccounts(ctx, bank.String(), taras.String()); !ok || len(accts) != 0 {
		t.Fatalf("accounts of Taras before his account opened: %+v, %v", accts, ok)
	}
	w.openAccount(bank, aTaras, account.KindCustomer, account.Owner{CustomerGUID: taras.String(), IBAN: mustIBAN(t, 2)}, 2, t0.Add(3*time.Minute))
	// Iryna: the whole counterparty's customer, with a phone for a login.
	w.openAccount(bank, aIryna, account.KindCustomer, account.Owner{CustomerGUID: iryna.String()}, 3, t0.Add(4*time.Minute))
	w.register(bank, iryna, aIryna, "ext-iryna", customer.Profile{Phone: "+380509998877", Name: "Iryna", Surname: "shevchenko", KYCLevel: 2}, t0.Add(5*time.Minute))
	// Another bank's customer with Olena's login and external ID.
	w.openAccount(other, aStranger, account.KindCustomer, account.Owner{CustomerGUID: stranger.String()}, 4, t0)
	w.register(other, stranger, aStranger, "ext-olena", customer.Profile{Login: "olena@bank.test", Name: "Olena", BranchGUID: kyiv.String()}, t0)
	// A processing entity of the Kyiv branch.
	w.openAccount(bank, processing, account.KindProcessing, account.Owner{BranchGUID: kyiv.String(), KeyKeeperLogin: "keeper"}, 5, t0.Add(6*time.Minute))
	w.sync()

	list := func(q projections.CustomerQuery) ([]string, int) {
		t.Helper()
		if q.CounterpartyGUID == "" {
			q.CounterpartyGUID = bank.String()
		}
		items, total, err := w.c.ListCustomers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return guidsOf(items), total
	}
	s := func(ids ...uuid.UUID) []string {
		out := []string{}
		for _, id := range ids {
			out = append(out, id.String())
		}
		return out
	}
	for name, tc := range map[string]struct {
		q     projections.CustomerQuery
		want  []string
		total int
	}{
		"all":                   {projections.CustomerQuery{}, s(olena, taras, iryna), 3},
		"newest first":          {projections.CustomerQuery{Order: projections.CustomersByCreatedDesc}, s(iryna, taras, olena), 3},
		"by login":              {projections.CustomerQuery{Order: projections.CustomersByLogin}, s(iryna, olena, taras), 3}, // "+380…" < "olena@…" < "taras"
		"by surname":            {projections.CustomerQuery{Order: projections.CustomersBySurname}, s(taras, olena, iryna)[:1], 3},
		"login any case":        {projections.CustomerQuery{Logins: []string{"OLENA@bank.TEST"}}, s(olena), 1},
		"login from phone":      {projections.CustomerQuery{Logins: []string{"+380509998877"}}, s(iryna), 1},
		"kyc 2":                 {projections.CustomerQuery{KYCLevels: []int{2}}, s(taras, iryna), 2},
		"kyc 2 and vip":         {projections.CustomerQuery{KYCLevels: []int{2}, Segments: []string{"vip"}}, s(taras), 1},
		"status default":        {projections.CustomerQuery{Statuses: []string{"active"}}, s(olena, iryna), 2},
		"surname normalised":    {projections.CustomerQuery{Surnames: []string{"SHEVCHENKO"}}, s(olena, iryna), 2},
		"branch":                {projections.CustomerQuery{BranchGUIDs: []string{strings.ToUpper(kyiv.String())}}, s(olena), 1},
		"scope":                 {projections.CustomerQuery{BranchScope: lviv.String()}, s(taras), 1},
		"scope and branch":      {projections.CustomerQuery{BranchScope: lviv.String(), BranchGUIDs: []string{kyiv.String()}}, s(), 0},
		"search part of login":  {projections.CustomerQuery{Search: "BANK.te"}, s(olena), 1},
		"search part of name":   {projections.CustomerQuery{Search: "chenk"}, s(olena, iryna), 2},
		"search external id":    {projections.CustomerQuery{Search: "EXT-TARAS"}, s(taras), 1},
		"search part of ext":    {projections.CustomerQuery{Search: "ext-tar"}, s(), 0}, // external IDs match whole
		"search guid":           {projections.CustomerQuery{Search: strings.ToUpper(iryna.String())}, s(iryna), 1},
		"other bank":            {projections.CustomerQuery{CounterpartyGUID: other.String(), Logins: []string{"olena@bank.test"}}, s(stranger), 1},
		"created range":         {projections.CustomerQuery{MinCreated: t0.Add(2 * time.Minute), MaxCreated: t0.Add(5 * time.Minute)}, s(taras, iryna), 2},
		"created range exclude": {projections.CustomerQuery{MinCreated: t0.Add(2*time.Minute + 1), MaxCreated: t0.Add(5*time.Minute - 1)}, s(), 0},
		"offset = total":        {projections.CustomerQuery{Offset: 3}, s(), 3},
		"offset past total":     {projections.CustomerQuery{Offset: 30}, s(), 3},
		"limit 1":               {projections.CustomerQuery{Limit: 1, Offset: 1}, s(taras), 3},
		"limit over max":        {projections.CustomerQuery{Limit: 1 << 20}, s(olena, taras, iryna), 3},
		"unknown counterparty":  {projections.CustomerQuery{CounterpartyGUID: uuid.NewString()}, s(), 0},
	} {
		if name == "by surname" {
			// Bondarenko, then the two Shevchenkos in GUID order.
			rest := s(olena, iryna)
			slices.Sort(rest)
			tc.want = append(tc.want, rest...)
		}
		if got, total := list(tc.q); !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v (%d), want %v (%d)", name, got, total, tc.want, tc.total)
		}
	}

	// Accounts: listed once opened, found by every key, joined with their customer whichever came first.
	accts := func(q projections.AccountQuery) ([]string, int) {
		t.Helper()
		q.CounterpartyGUID = cmp.Or(q.CounterpartyGUID, bank.String())
		items, total, err := w.c.ListAccounts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return guidsOf(items), total
	}
	for name, tc := range map[string]struct {
		q     projections.AccountQuery
		want  []string
		total int
	}{
		"all":            {projections.AccountQuery{}, s(aOlena, aTaras, aIryna, processing), 4},
		"desc":           {projections.AccountQuery{Order: projections.CreatedDesc, Limit: 2}, s(processing, aIryna), 4},
		"customer":       {projections.AccountQuery{CustomerGUIDs: []string{strings.ToUpper(taras.String())}}, s(aTaras), 1},
		"kind":           {projections.AccountQuery{Kinds: []account.Kind{account.KindProcessing}}, s(processing), 1},
		"iban paper":     {projections.AccountQuery{IBAN: strings.ToLower(iban.IBAN(mustIBAN(t, 2)).Paper())}, s(aTaras), 1},
		"branch kyiv":    {projections.AccountQuery{BranchGUIDs: []string{kyiv.String()}}, s(aOlena, processing), 2},
		"scope lviv":     {projections.AccountQuery{BranchScope: lviv.String()}, s(aTaras), 1},
		"search login":   {projections.AccountQuery{Search: "OLENA@BANK.TEST"}, s(aOlena), 1},
		"search ext":     {projections.AccountQuery{Search: "ext-iryna"}, s(aIryna), 1},
		"search guid":    {projections.AccountQuery{Search: aTaras.String()}, s(aTaras), 1},
		"search cust":    {projections.AccountQuery{Search: iryna.String()}, s(aIryna), 1},
		"search iban":    {projections.AccountQuery{Search: mustIBAN(t, 1)}, s(aOlena), 1},
		"search partial": {projections.AccountQuery{Search: "olena"}, s(), 0},
		"other bank":     {projections.AccountQuery{CounterpartyGUID: other.String(), Search: "ext-olena"}, s(aStranger), 1},
		"offset = total": {projections.AccountQuery{Offset: 4}, s(), 4},
	} {
		if got, total := accts(tc.q); !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("accounts %s: %v (%d), want %v (%d)", name, got, total, tc.want, tc.total)
		}
	}
	if a, ok := w.c.Account(ctx, bank.String(), aTaras.String()); !ok || a.CustomerLogin != "taras" || a.CustomerExternalID != "ext-taras" ||
		a.Owner.CustomerGUID != taras.String() || !a.Opened || a.AssetCode != "eUAH" || a.Balance != 0 || a.Address != accountID(2) {
		t.Fatalf("Taras's account: %+v %v", a, ok)
	}
	if a, ok := w.c.AccountByIBAN(ctx, mustIBAN(t, 1)); !ok || a.GUID != aOlena.String() || a.CustomerLogin != "Olena@Bank.test" {
		t.Fatalf("by IBAN: %+v %v", a, ok)
	}
	if _, ok := w.c.Account(ctx, other.String(), aTaras.String()); ok {
		t.Fatal("an account was found under another bank")
	}

	// An update moves every index it touches; the old values must find nothing.
	handle(w, customer.Stream(olena), customer.Decider, customer.Events, customer.Update{Profile: customer.Profile{Login: "OLENA@bank.test",
		Name: "Olena", Surname: "Kovalenko", Phone: "+380501112299", KYCLevel: 3, Segment: "salary", Status: "blocked", BranchGUID: lviv.String()}, At: t0.Add(time.Hour)})
	handle(w, customer.Stream(iryna), customer.Decider, customer.Events, customer.Disable{Reason: "fraud", At: t0.Add(2 * time.Hour)})
	w.openAccount(bank, aOlena2, account.KindCustomer, account.Owner{CustomerGUID: olena.String(), IBAN: mustIBAN(t, 3)}, 6, t0.Add(3*time.Hour))
	handle(w, customer.Stream(olena), customer.Decider, customer.Events, customer.AddAccount{AccountGUID: aOlena2, At: t0.Add(3 * time.Hour)})
	handle(w, account.Stream(aOlena2), account.Decider, account.Events, account.SetSegment{Segment: "gold", At: t0.Add(4 * time.Hour)})
	handle(w, account.Stream(aTaras), account.Decider, account.Events, account.SetSegment{Segment: "gold", At: t0.Add(4 * time.Hour)})
	handle(w, account.Stream(aTaras), account.Decider, account.Events, account.Block{Reason: "court order", At: t0.Add(4 * time.Hour)})
	w.sync()
	for name, tc := range map[string]struct {
		q     projections.CustomerQuery
		want  []string
		total int
	}{
		"old kyc":         {projections.CustomerQuery{KYCLevels: []int{1}}, s(), 0},
		"new kyc":         {projections.CustomerQuery{KYCLevels: []int{3}}, s(olena), 1},
		"old segment":     {projections.CustomerQuery{Segments: []string{"retail"}}, s(), 0},
		"old surname":     {projections.CustomerQuery{Surnames: []string{"Shevchenko"}}, s(iryna), 1},
		"new surname":     {projections.CustomerQuery{Surnames: []string{"kovalenko"}}, s(olena), 1},
		"old phone":       {projections.CustomerQuery{PhoneNumbers: []string{"+380501112233"}}, s(), 0},
		"new phone":       {projections.CustomerQuery{PhoneNumbers: []string{"+380501112299"}}, s(olena), 1},
		"old branch":      {projections.CustomerQuery{BranchScope: kyiv.String()}, s(), 0},
		"new branch":      {projections.CustomerQuery{BranchScope: lviv.String()}, s(olena, taras), 2},
		"login case kept": {projections.CustomerQuery{Logins: []string{"olena@BANK.test"}}, s(olena), 1},
		"disabled":        {projections.CustomerQuery{Disabled: new(true)}, s(iryna), 1},
		"updated":         {projections.CustomerQuery{Order: projections.CustomersByUpdatedDesc, Limit: 1}, s(olena), 3},
		"search new name": {projections.CustomerQuery{Search: "kovAL"}, s(olena), 1},
	} {
		if got, total := list(tc.q); !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("after update, %s: %v (%d), want %v (%d)", name, got, total, tc.want, tc.total)
		}
	}
	// Olena's accounts moved to Lviv with her; the processing entity stays in Kyiv.
	if got, _ := accts(projections.AccountQuery{BranchScope: lviv.String()}); !slices.Equal(got, s(aOlena, aTaras, aOlena2)) {
		t.Errorf("Lviv's accounts after Olena moved: %v", got)
	}
	if got, _ := accts(projections.AccountQuery{BranchScope: kyiv.String()}); !slices.Equal(got, s(processing)) {
		t.Errorf("Kyiv's accounts after Olena moved: %v", got)
	}
	if list, ok := w.c.CustomerAccounts(ctx, bank.String(), olena.String()); !ok || !slices.Equal(guidsOf(list), s(aOlena, aOlena2)) {
		t.Fatalf("Olena's accounts: %v %v", guidsOf(list), ok)
	}
	segs := w.c.Segments(ctx, bank.String(), nil)
	if len(segs) != 1 || !slices.Equal(guidsOf(segs["gold"]), s(aTaras, aOlena2)) || !segs["gold"][0].Blocked {
		t.Fatalf("segments: %+v", segs)
	}
	if segs := w.c.Segments(ctx, bank.String(), []string{"Gold"}); len(segs) != 0 {
		t.Fatalf("segment names compare exactly: %+v", segs)
	}
	if segs := w.c.Segments(ctx, other.String(), nil); len(segs) != 0 {
		t.Fatalf("another bank's segments: %+v", segs)
	}
	// The decider keeps the login as signed up (a change of case is no change); the random test covers a log
	// where the case does change.
	if c, ok := w.c.Customer(ctx, bank.String(), olena.String()); !ok || c.Profile.Login != "Olena@Bank.test" || c.Profile.BranchGUID != lviv.String() ||
		!slices.Equal(c.Accounts, s(aOlena, aOlena2)) || !c.CreatedAt.Equal(t0.Add(time.Minute)) || !c.UpdatedAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("Olena: %+v %v", c, ok)
	}
	checkCustomersRebuild(t, store, w, []string{bank.String(), other.String()})
}

// checkCustomersRebuild replays the log into a fresh read model and compares every answer.
func checkCustomersRebuild(t *testing.T, store *bolt.Store, live *bankWorld, cps []string) {
	t.Helper()
	fresh := newBankWorld(t, store)
	if err := fresh.runner.WaitCaughtUp(testContext(t)); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, cp := range cps {
		for _, o := range projections.CustomerOrders {
			q := projections.CustomerQuery{CounterpartyGUID: cp, Order: o, Limit: projections.MaxListLimit}
			a, ta, _ := live.c.ListCustomers(ctx, q)
			b, tb, _ := fresh.c.ListCustomers(ctx, q)
			if ta != tb || !reflect.DeepEqual(a, b) {
				t.Errorf("customers of %s by %s differ after rebuild:\n live  %+v\n fresh %+v", cp, o, a, b)
			}
		}
		q := projections.AccountQuery{CounterpartyGUID: cp, Limit: projections.MaxListLimit}
		a, _, _ := live.c.ListAccounts(ctx, q)
		b, _, _ := fresh.c.ListAccounts(ctx, q)
		if !reflect.DeepEqual(a, b) || len(a) == 0 {
			t.Errorf("accounts of %s differ after rebuild:\n live  %+v\n fresh %+v", cp, a, b)
		}
		if !reflect.DeepEqual(live.c.Segments(ctx, cp, nil), fresh.c.Segments(ctx, cp, nil)) {
			t.Errorf("segments of %s differ after rebuild", cp)
		}
	}
}

func TestCustomerQueriesAreChecked(t *testing.T) {
	c := projections.NewCustomers()
	ctx := testContext(t)
	cp := uuid.NewString()
	tooMany := make([]string, projections.MaxListFilterValues+1)
	for name, q := range map[string]projections.CustomerQuery{
		"no counterparty":  {},
		"negative offset":  {CounterpartyGUID: cp, Offset: -1},
		"negative limit":   {CounterpartyGUID: cp, Limit: -1},
		"unknown order":    {CounterpartyGUID: cp, Order: "name"},
		"too many guids":   {CounterpartyGUID: cp, GUIDs: tooMany},
		"too many logins":  {CounterpartyGUID: cp, Logins: tooMany},
		"too many kyc":     {CounterpartyGUID: cp, KYCLevels: make([]int, projections.MaxListFilterValues+1)},
		"too many codes":   {CounterpartyGUID: cp, BalanceAssetCodes: tooMany},
		"too many issuers": {CounterpartyGUID: cp, BalanceAssetIssuers: tooMany},
		"too many branch":  {CounterpartyGUID: cp, BranchGUIDs: tooMany},
		"too many names":   {CounterpartyGUID: cp, Names: tooMany},
		"too many pat":     {CounterpartyGUID: cp, PaternalNames: tooMany},
		"too many phones":  {CounterpartyGUID: cp, PhoneNumbers: tooMany},
		"too many segs":    {CounterpartyGUID: cp, Segments: tooMany},
		"too many status":  {CounterpartyGUID: cp, Statuses: tooMany},
		"too many surname": {CounterpartyGUID: cp, Surnames: tooMany},
		"huge search":      {CounterpartyGUID: cp, Search: strings.Repeat("a", 4096)},
	} {
		if _, _, err := c.ListCustomers(ctx, q); !errors.Is(err, projections.ErrInvalidListQuery) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, q := range map[string]projections.AccountQuery{
		"no counterparty":   {},
		"negative offset":   {CounterpartyGUID: cp, Offset: -1},
		"negative limit":    {CounterpartyGUID: cp, Limit: -1},
		"unknown order":     {CounterpartyGUID: cp, Order: 9},
		"too many guids":    {CounterpartyGUID: cp, GUIDs: tooMany},
		"too many customer": {CounterpartyGUID: cp, CustomerGUIDs: tooMany},
		"too many branches": {CounterpartyGUID: cp, BranchGUIDs: tooMany},
		"too many kinds":    {CounterpartyGUID: cp, Kinds: make([]account.Kind, projections.MaxListFilterValues+1)},
	} {
		if _, _, err := c.ListAccounts(ctx, q); !errors.Is(err, projections.ErrInvalidListQuery) {
			t.Errorf("accounts, %s: %v", name, err)
		}
	}
	// At the limit is fine.
	if _, _, err := c.ListCustomers(ctx, projections.CustomerQuery{CounterpartyGUID: cp, GUIDs: tooMany[1:]}); err != nil {
		t.Fatal(err)
	}
}

func TestCustomersRefuseImpossibleEvents(t *testing.T) {
	cp, cust, acct := uuid.NewString(), uuid.NewString(), uuid.NewString()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := customer.CustomerRegistered{GUID: cust, CounterpartyGUID: cp, ExternalID: "x", Profile: customer.Profile{Login: "l"}, AccountGUID: acct, At: at}
	key := account.AccountKeyGenerated{GUID: acct, Kind: account.KindCustomer, CounterpartyGUID: cp, Address: "G", Owner: account.Owner{CustomerGUID: cust}, At: at}
	opened := account.AccountOpened{GUID: acct, At: at}
	for name, evs := range map[string][]any{
		"registered twice":          {reg, reg},
		"update of nobody":          {customer.CustomerUpdated{GUID: cust, At: at}},
		"disable of nobody":         {customer.CustomerDisabled{GUID: cust, At: at}},
		"enable of nobody":          {customer.CustomerEnabled{GUID: cust, At: at}},
		"account added to nobody":   {customer.CustomerAccountAdded{GUID: cust, AccountGUID: acct, At: at}},
		"update of an account only": {key, customer.CustomerUpdated{GUID: cust, At: at}},
		"key twice":                 {key, key},
		"opened without key":        {opened},
		"opened twice":              {key, opened, opened},
		"blocked before opened":     {key, account.AccountBlocked{GUID: acct, At: at}},
		"unblocked before opened":   {key, account.AccountUnblocked{GUID: acct, At: at}},
		"segment before opened":     {key, account.AccountSegmentSet{GUID: acct, Segment: "s", At: at}},
		"blocked without key":       {account.AccountBlocked{GUID: acct, At: at}},
	} {
		c := projections.NewCustomers()
		var err error
		for _, e := range evs {
			if err = c.Apply(recorded(t, e)); err != nil {
				break
			}
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Unknown types of the selected prefixes (a newer writer's) are skipped; broken JSON of a known one fails.
	c := projections.NewCustomers()
	for _, typ := range []string{"CustomerNicknameSet", "AccountLimitSet"} {
		if err := c.Apply(eventstore.RecordedEvent{Type: typ, Data: []byte(`{"guid":1}`)}); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if err := c.Apply(eventstore.RecordedEvent{Type: "CustomerRegistered", Data: []byte(`{"guid":`)}); err == nil {
		t.Error("broken JSON was applied")
	}
	if f := c.Filter(); !f.Matches("account-x", "AccountOpened") || !f.Matches("customer-x", "CustomerUpdated") || f.Matches("customer-login-x", "UniqueValueClaimed") {
		t.Errorf("filter %+v", f)
	}
}

// A query racing with Apply must see either side of each event, and never trip the race detector: lazy
// sorts run under the read lock.
func TestCustomersConcurrentReaders(t *testing.T) {
	b := &randomBank{r: rand.New(rand.NewPCG(9, 10)), cps: []string{uuid.NewString(), uuid.NewString()}, t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	b.branches = []string{uuid.NewString(), uuid.NewString()}
	c := projections.NewCustomers()
	m := newRefModel()
	for i := range 300 {
		b.register(i)
	}
	b.flush()
	b.feed(t, c, m)
	ctx := testContext(t)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for r := range 4 {
		go func() {
			q := projections.CustomerQuery{CounterpartyGUID: b.cps[0], Order: projections.CustomerOrders[r*2], Search: []string{"", "user1", "", "o"}[r]}
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if _, _, err := c.ListCustomers(ctx, q); err != nil {
					errs <- err
					return
				}
				c.Segments(ctx, b.cps[0], nil)
				if _, _, err := c.ListAccounts(ctx, projections.AccountQuery{CounterpartyGUID: b.cps[0], Search: "x"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 300; i < 600; i++ {
		b.register(i)
		b.change(m)
		b.feed(t, c, m)
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.flush()
	b.feed(t, c, m)
	b.checkQueries(t, c, m, 200)
}
