package projections

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/kazna-ledger/kazna/domain/money"
)

// keySet is one filter's values, normalised and without repeats; the zero keySet matches everything.
type keySet struct {
	vals []string
	m    map[string]struct{}
}

func newKeySet(field string, values []string, norm func(string) string) (keySet, error) {
	if len(values) == 0 {
		return keySet{}, nil
	}
	if len(values) > MaxListFilterValues {
		return keySet{}, fmt.Errorf("%w: %s has %d values, at most %d", ErrInvalidListQuery, field, len(values), MaxListFilterValues)
	}
	s := keySet{vals: make([]string, 0, len(values)), m: make(map[string]struct{}, len(values))}
	for _, v := range values {
		k := norm(v)
		if _, dup := s.m[k]; !dup {
			s.m[k] = struct{}{}
			s.vals = append(s.vals, k)
		}
	}
	return s, nil
}

func (s keySet) on() bool { return s.vals != nil }

// hasBytes reports whether b is one of the values (or the set matches everything); it does not allocate.
func (s keySet) hasBytes(b []byte) bool {
	switch len(s.vals) {
	case 0:
		return true
	case 1:
		return string(b) == s.vals[0]
	}
	_, ok := s.m[string(b)]
	return ok
}

// symSet is a keySet of values shared by rows, as symbols: a value no row has is no symbol, and matches
// nothing.
type symSet struct {
	on   bool
	syms []sym
	m    map[sym]struct{}
}

func (s keySet) symbols(t *symbols) symSet {
	out := symSet{on: s.on()}
	for _, v := range s.vals {
		if x, ok := t.find(v); ok {
			out.syms = append(out.syms, x)
		}
	}
	if len(out.syms) > 1 {
		out.m = make(map[sym]struct{}, len(out.syms))
		for _, x := range out.syms {
			out.m[x] = struct{}{}
		}
	}
	return out
}

func (s symSet) has(x sym) bool {
	if !s.on {
		return true
	}
	switch len(s.syms) {
	case 0:
		return false
	case 1:
		return x == s.syms[0]
	}
	_, ok := s.m[x]
	return ok
}

// guidFilter is a GUID filter: canonical GUIDs by their 16 bytes, others by their lower-cased text.
type guidFilter struct {
	on   bool
	keys map[guidKey]struct{}
	odd  map[string]struct{}
}

func (s keySet) guids() guidFilter {
	out := guidFilter{on: s.on(), keys: map[guidKey]struct{}{}, odd: map[string]struct{}{}}
	for _, v := range s.vals {
		if k, ok := parseGUID(v); ok {
			out.keys[k] = struct{}{}
		} else {
			out.odd[v] = struct{}{}
		}
	}
	return out
}

func (s guidFilter) has(p *Customers, k guidKey, odd strRef) bool {
	if !s.on {
		return true
	}
	if odd.n > 0 {
		_, ok := s.odd[strings.ToLower(string(p.text.bytes(odd)))]
		return ok
	}
	_, ok := s.keys[k]
	return ok
}

type intSet struct {
	vals []int64
	m    map[int64]struct{}
}

func newIntSet(field string, values []int) (intSet, error) {
	if len(values) == 0 {
		return intSet{}, nil
	}
	if len(values) > MaxListFilterValues {
		return intSet{}, fmt.Errorf("%w: %s has %d values, at most %d", ErrInvalidListQuery, field, len(values), MaxListFilterValues)
	}
	s := intSet{m: make(map[int64]struct{}, len(values))}
	for _, v := range values {
		if _, dup := s.m[int64(v)]; !dup {
			s.m[int64(v)] = struct{}{}
			s.vals = append(s.vals, int64(v))
		}
	}
	return s, nil
}

func (s intSet) has(v int64) bool {
	switch len(s.vals) {
	case 0:
		return true
	case 1:
		return v == s.vals[0]
	}
	_, ok := s.m[v]
	return ok
}

// The filters of a customer query, as bits: which are set, which an index has already settled.
const (
	fGUID = 1 << iota
	fLogin
	fPhone
	fKYC
	fDisabled
	fBalance
	fCode
	fIssuer
	fBranch
	fScope
	fName
	fPaternal
	fSurname
	fSegment
	fStatus
	fSearch
	fCreated
	fUpdated
)

// customerFilter is a CustomerQuery checked and normalised; bind turns its shared values into symbols.
type customerFilter struct {
	guidVals, logins, phones                                                           keySet
	branchVals, nameVals, patVals, surnameVals, segVals, statusVals, codeVals, issVals keySet

	guids                                                                    guidFilter
	branches, names, paternals, surnames, segments, statuses, codes, issuers symSet
	kyc                                                                      intSet
	disabled                                                                 *bool
	minBal, maxBal                                                           *money.Amount
	scopeVal                                                                 string
	scope                                                                    symSet
	search                                                                   string // folded; "" for none
	searchGUID                                                               guidKey
	searchIsGUID                                                             bool
	minC, maxC                                                               int64 // Unix ns, inclusive
	minU, maxU                                                               int64
	by                                                                       CustomerOrder // the base (ascending) order
	desc                                                                     bool
	offset, limit                                                            int
	active                                                                   uint32 // the filters set (f* bits)
}

func trimmed(s string) string { return strings.TrimSpace(s) }

func newCustomerFilter(q CustomerQuery) (*customerFilter, error) {
	if q.CounterpartyGUID == "" {
		return nil, fmt.Errorf("%w: a counterparty is required", ErrInvalidListQuery)
	}
	if q.Offset < 0 || q.Limit < 0 {
		return nil, fmt.Errorf("%w: negative offset or limit", ErrInvalidListQuery)
	}
	order := q.Order
	if order == "" {
		order = CustomersByCreated
	}
	if !slices.Contains(CustomerOrders, order) {
		return nil, fmt.Errorf("%w: unknown ordering %.40q", ErrInvalidListQuery, order)
	}
	if len(q.Search) > maxSearchBytes {
		return nil, fmt.Errorf("%w: search_string is over %d bytes", ErrInvalidListQuery, maxSearchBytes)
	}
	f := &customerFilter{disabled: q.Disabled, minBal: q.MinBalanceAllowed, maxBal: q.MaxBalanceAllowed,
		scopeVal: strings.ToLower(q.BranchScope), search: fold(q.Search),
		minC: math.MinInt64, maxC: math.MaxInt64, minU: math.MinInt64, maxU: math.MaxInt64,
		by: CustomerOrder(strings.TrimPrefix(string(order), "-")), desc: strings.HasPrefix(string(order), "-"),
		offset: q.Offset, limit: q.Limit}
	f.searchGUID, f.searchIsGUID = parseGUID(f.search)
	if f.limit == 0 {
		f.limit = DefaultListLimit
	}
	f.limit = min(f.limit, MaxListLimit)
	if !q.MinCreated.IsZero() {
		f.minC = toNanos(q.MinCreated)
	}
	if !q.MaxCreated.IsZero() {
		f.maxC = toNanos(q.MaxCreated)
	}
	if !q.MinUpdated.IsZero() {
		f.minU = toNanos(q.MinUpdated)
	}
	if !q.MaxUpdated.IsZero() {
		f.maxU = toNanos(q.MaxUpdated)
	}
	var err error
	for _, s := range []struct {
		field  string
		values []string
		norm   func(string) string
		set    *keySet
		bit    uint32
	}{
		{"wallet_user_guids", q.GUIDs, strings.ToLower, &f.guidVals, fGUID},
		{"logins", q.Logins, strings.ToLower, &f.logins, fLogin},
		{"branch_guids", q.BranchGUIDs, strings.ToLower, &f.branchVals, fBranch},
		{"names", q.Names, fold, &f.nameVals, fName},
		{"paternal_names", q.PaternalNames, fold, &f.patVals, fPaternal},
		{"surnames", q.Surnames, fold, &f.surnameVals, fSurname},
		{"phone_numbers", q.PhoneNumbers, trimmed, &f.phones, fPhone},
		{"segments", q.Segments, trimmed, &f.segVals, fSegment},
		{"statuses", q.Statuses, trimmed, &f.statusVals, fStatus},
		{"balance_asset_codes", q.BalanceAssetCodes, trimmed, &f.codeVals, fCode},
		{"balance_asset_issuers", q.BalanceAssetIssuers, trimmed, &f.issVals, fIssuer},
	} {
		if *s.set, err = newKeySet(s.field, s.values, s.norm); err != nil {
			return nil, err
		}
		if s.set.on() {
			f.active |= s.bit
		}
	}
	if f.kyc, err = newIntSet("kyc_levels", q.KYCLevels); err != nil {
		return nil, err
	}
	f.guids = f.guidVals.guids()
	for _, b := range []struct {
		on  bool
		bit uint32
	}{
		{f.kyc.vals != nil, fKYC}, {f.disabled != nil, fDisabled}, {f.minBal != nil || f.maxBal != nil, fBalance},
		{q.BranchScope != "", fScope}, {f.search != "", fSearch}, {f.minC != math.MinInt64 || f.maxC != math.MaxInt64, fCreated},
		{f.minU != math.MinInt64 || f.maxU != math.MaxInt64, fUpdated},
	} {
		if b.on {
			f.active |= b.bit
		}
	}
	f.scope.on = q.BranchScope != ""
	return f, nil
}

// bind resolves the shared values against p's symbols; the caller holds p.mu. It reports false when a
// filter names only values no row has, so that nothing can match.
func (f *customerFilter) bind(p *Customers) bool {
	t := &p.syms
	f.branches, f.names, f.paternals, f.surnames = f.branchVals.symbols(t), f.nameVals.symbols(t), f.patVals.symbols(t), f.surnameVals.symbols(t)
	f.segments, f.statuses, f.codes, f.issuers = f.segVals.symbols(t), f.statusVals.symbols(t), f.codeVals.symbols(t), f.issVals.symbols(t)
	if f.scope.on {
		f.scope = keySet{vals: []string{f.scopeVal}}.symbols(t)
	}
	for _, s := range []symSet{f.branches, f.names, f.paternals, f.surnames, f.segments, f.statuses, f.codes, f.issuers, f.scope} {
		if s.on && len(s.syms) == 0 {
			return false
		}
	}
	return true
}

// match checks the filters in need on one row.
func (f *customerFilter) match(p *Customers, r *customerRow, need uint32) bool {
	has := func(bit uint32) bool { return need&bit != 0 }
	switch {
	case has(fScope) && !f.scope.has(r.branchKey),
		has(fKYC) && !f.kyc.has(r.kyc),
		has(fDisabled) && r.disabled != *f.disabled,
		has(fBalance) && (f.minBal != nil && r.balance < *f.minBal || f.maxBal != nil && r.balance > *f.maxBal),
		has(fCreated) && (r.created < f.minC || r.created > f.maxC),
		has(fUpdated) && (r.updated < f.minU || r.updated > f.maxU),
		has(fStatus) && !f.statuses.has(r.status),
		has(fSegment) && !f.segments.has(r.segment),
		has(fBranch) && !f.branches.has(r.branchKey),
		has(fName) && !f.names.has(r.nameKey),
		has(fSurname) && !f.surnames.has(r.surnameKey),
		has(fPaternal) && !f.paternals.has(r.patKey),
		has(fCode) && !f.codes.has(r.code),
		has(fIssuer) && !f.issuers.has(r.issuer),
		has(fGUID) && !f.guids.has(p, r.guid, r.oddGUID),
		has(fLogin) && !f.logins.hasBytes(p.text.bytes(r.loginKey)),
		has(fPhone) && !f.phones.hasBytes(p.text.bytes(r.phone)),
		has(fSearch) && !f.searchMatch(p, r):
		return false
	}
	return true
}

func (f *customerFilter) searchMatch(p *Customers, r *customerRow) bool {
	n, s := f.search, p.syms.list
	if strings.Contains(s[r.surnameKey], n) || strings.Contains(s[r.nameKey], n) || strings.Contains(s[r.patKey], n) ||
		bytes.Contains(p.text.bytes(r.loginKey), []byte(n)) || string(p.text.bytes(r.extKey)) == n {
		return true
	}
	if r.oddGUID.n > 0 {
		return strings.EqualFold(string(p.text.bytes(r.oddGUID)), n)
	}
	return f.searchIsGUID && r.guid == f.searchGUID
}

// searchSourceMin is the candidate count above which a search is worth running on its own (a scan of the
// counterparty's distinct names and logins) rather than checked on each candidate.
const searchSourceMin = 4096

// ListCustomers returns a page of a counterparty's customers that match q, and how many match in all.
//
// Matching, per filter: GUIDs, logins and branches compare case-insensitively; names, paternal names and
// surnames as package uniqueness normalises them (case and runs of space do not matter); phone numbers,
// segments, statuses and balance assets exactly, after trimming surrounding space; balance_allowed is
// compared in minor units. The search matches, case-insensitively, a part of the name, surname, paternal
// name or login, or the whole GUID or external ID; unlike the other filters it scans (the counterparty's
// distinct names, and its logins packed in one string), so it costs time in proportion to the counterparty.
// Orders compare logins lower-cased and surnames normalised, then the GUID; a descending order is the exact
// reverse of the ascending one. Times are in UTC; a GUID is shown in canonical (lower-case) form.
//
// How it is served: every filter but the balance, the balance asset, the update time and (for small
// candidate sets) the search has an index. The smallest index's rows are the candidates; the other indexed
// filters become bitsets of row ids, built from their lists without touching a row; only the filters with no
// index are checked on rows. The page then comes out of the sorted list of the order (walked, so that it
// stops once the page is full) or, for few matches, out of sorting them.
func (p *Customers) ListCustomers(_ context.Context, q CustomerQuery) ([]Customer, int, error) {
	f, err := newCustomerFilter(q)
	if err != nil {
		return nil, 0, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	i, ok := p.tableOf[strings.ToLower(q.CounterpartyGUID)]
	if !ok || !f.bind(p) {
		return []Customer{}, 0, nil
	}
	ids, total := p.findCustomers(p.tables[i], f)
	out := make([]Customer, len(ids))
	for i, id := range ids {
		out[i] = p.customerView(p.custs.at(id))
	}
	return out, total, nil
}

// source is the rows of t that one filter lets through, each once: exact, so that a row in it needs that
// filter checked no more.
type source struct {
	bit     uint32
	size    int
	get     func() [][]int32
	ordered bool // one list, ascending in the query's base order
}

func postingSource[K comparable](bit uint32, m postings[K], keys []K) source {
	return source{bit: bit, size: m.count(keys), get: func() [][]int32 {
		lists := make([][]int32, 0, len(keys))
		for _, k := range keys {
			if l := m[k]; len(l) > 0 {
				lists = append(lists, l)
			}
		}
		return lists
	}}
}

func listSource(bit uint32, ids []int32) source {
	return source{bit: bit, size: len(ids), get: func() [][]int32 { return [][]int32{ids} }}
}

// customerSources lists the indexed filters of f as sources; the search, which scans, is not among them.
func (p *Customers) customerSources(t *cpTable, f *customerFilter) []source {
	var out []source
	// A value-index lookup gives candidates; keeping those with the value makes the source exact.
	lookup := func(bit uint32, vals keySet, find func(*cpTable, []int32, string) []int32, key func(*customerRow) strRef) {
		var ids []int32
		for _, v := range vals.vals {
			for _, id := range find(t, nil, v) {
				if string(p.text.bytes(key(p.custs.at(id)))) == v {
					ids = append(ids, id)
				}
			}
		}
		slices.Sort(ids)
		out = append(out, listSource(bit, slices.Compact(ids)))
	}
	if f.guidVals.on() {
		var ids []int32
		for _, g := range f.guidVals.vals {
			if id, ok := p.custByGUID.get(g); ok {
				if r := p.custs.at(id); r.registered && r.table == t.index {
					ids = append(ids, id)
				}
			}
		}
		out = append(out, listSource(fGUID, ids))
	}
	if f.logins.on() {
		lookup(fLogin, f.logins, p.findLogins, func(r *customerRow) strRef { return r.loginKey })
	}
	if f.phones.on() {
		lookup(fPhone, f.phones, p.findPhones, func(r *customerRow) strRef { return r.phone })
	}
	for _, ix := range []struct {
		bit   uint32
		index int
		set   symSet
	}{
		{fName, ciName, f.names}, {fSurname, ciSurname, f.surnames}, {fPaternal, ciPaternal, f.paternals},
		{fBranch, ciBranch, f.branches}, {fScope, ciBranch, f.scope}, {fSegment, ciSegment, f.segments}, {fStatus, ciStatus, f.statuses},
	} {
		if ix.set.on {
			out = append(out, postingSource(ix.bit, t.cidx[ix.index], ix.set.syms))
		}
	}
	if f.kyc.vals != nil {
		out = append(out, postingSource(fKYC, t.kyc, f.kyc.vals))
	}
	if f.disabled != nil {
		out = append(out, postingSource(fDisabled, t.disabled, []bool{*f.disabled}))
	}
	if f.active&fCreated != 0 {
		created := p.sorted(t, CustomersByCreated)
		at := func(i int) int64 { return p.custs.at(created[i]).created }
		lo := sort.Search(len(created), func(i int) bool { return at(i) >= f.minC })
		hi := max(lo, sort.Search(len(created), func(i int) bool { return at(i) > f.maxC }))
		s := listSource(fCreated, created[lo:hi])
		s.ordered = f.by == CustomersByCreated
		out = append(out, s)
	}
	return out
}

// findCustomers picks the smallest source, turns the other sources into bitsets, checks what no index
// settles on the rows, and cuts the page.
func (p *Customers) findCustomers(t *cpTable, f *customerFilter) (page []int32, total int) {
	n := len(t.custs)
	if f.active == 0 {
		return pageOf(p.sorted(t, f.by), f.desc, f.offset, f.limit), n
	}
	srcs := p.customerSources(t, f)
	best := -1
	for i, s := range srcs {
		if best < 0 || s.size < srcs[best].size {
			best = i
		}
	}
	if f.search != "" && (best < 0 || srcs[best].size > searchSourceMin) {
		srcs = append(srcs, listSource(fSearch, p.searchCustomers(t, f.search)))
		if last := len(srcs) - 1; best < 0 || srcs[last].size < srcs[best].size {
			best = last
		}
	}
	// The driver: the smallest source, or every customer in the page's order when no source is smaller.
	driver := source{size: n, ordered: true, get: func() [][]int32 { return [][]int32{p.sorted(t, f.by)} }}
	if best >= 0 && srcs[best].size < n {
		driver = srcs[best]
	}
	covered := driver.bit
	var bits []bitset
	for i, s := range srcs {
		// A bit costs about a nanosecond to set and to test; a row costs tens to check (it is not in cache).
		if (i == best && driver.bit != 0) || s.size > 16*driver.size+1024 {
			continue
		}
		b := newBitset(p.custs.n)
		for _, l := range s.get() {
			for _, id := range l {
				b.set(id)
			}
		}
		bits = append(bits, b)
		covered |= s.bit
	}
	residual := f.active &^ covered
	keep := func(id int32) bool {
		for _, b := range bits {
			if !b.has(id) {
				return false
			}
		}
		return residual == 0 || f.match(p, p.custs.at(id), residual)
	}
	lists := driver.get()
	if driver.ordered {
		return orderedPage(lists[0], keep, f.desc, f.offset, f.limit)
	}
	matches := make([]int32, 0, driver.size)
	for _, l := range lists {
		for _, id := range l {
			if keep(id) {
				matches = append(matches, id)
			}
		}
	}
	total = len(matches)
	if f.offset >= total {
		return []int32{}, total
	}
	// Walking the sorted list costs a bit test per row up to the end of the page; sorting the matches costs
	// a few comparisons of rows each. A list that needs a full sort first is never the cheaper.
	walk := min(n, (f.offset+f.limit)*(n/total+1))
	if walk < total*bitsLog2(total)*8 && t.sortedIsCheap(f.by) {
		return walkPage(p.sorted(t, f.by), matches, p.custs.n, f.desc, f.offset, f.limit), total
	}
	sortRows(matches, p.custOrder(f.by))
	return pageOf(matches, f.desc, f.offset, f.limit), total
}

func bitsLog2(n int) int {
	b := 1
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}

// orderedPage counts the ids of a sorted list that keep lets through and cuts the page, in one pass and
// without copying the matches.
func orderedPage(ids []int32, keep func(int32) bool, desc bool, offset, limit int) ([]int32, int) {
	page := []int32{}
	total := 0
	visit := func(id int32) {
		if keep(id) {
			if total >= offset && total < offset+limit {
				page = append(page, id)
			}
			total++
		}
	}
	if desc {
		for i := len(ids) - 1; i >= 0; i-- {
			visit(ids[i])
		}
	} else {
		for _, id := range ids {
			visit(id)
		}
	}
	return page, total
}

// searchCustomers returns t's customers whose name, surname, paternal name or login holds needle, or whose
// GUID or external ID is needle, each once.
func (p *Customers) searchCustomers(t *cpTable, needle string) []int32 {
	mark := newBitset(p.custs.n)
	var out []int32
	add := func(id int32) {
		if mark.set(id) {
			out = append(out, id)
		}
	}
	if id, ok := p.custByGUID.get(needle); ok {
		if r := p.custs.at(id); r.registered && r.table == t.index {
			add(id)
		}
	}
	for _, id := range p.findExternals(t, nil, needle) {
		if string(p.text.bytes(p.custs.at(id).extKey)) == needle {
			add(id)
		}
	}
	for _, index := range []int{ciName, ciSurname, ciPaternal} {
		for key, ids := range t.cidx[index] {
			if strings.Contains(p.syms.list[key], needle) {
				for _, id := range ids {
					add(id)
				}
			}
		}
	}
	if needle != "" && !strings.Contains(needle, "\x00") {
		c := p.loginCorpus(t)
		c.find(needle, add)
	}
	return out
}

// pageOf cuts a page out of ids, which are in ascending order.
func pageOf(ids []int32, desc bool, offset, limit int) []int32 {
	n := len(ids)
	if offset >= n {
		return []int32{}
	}
	end := min(n, offset+limit)
	if !desc {
		return slices.Clone(ids[offset:end])
	}
	out := make([]int32, 0, end-offset)
	for i := n - 1 - offset; i > n-1-end; i-- {
		out = append(out, ids[i])
	}
	return out
}

// walkPage cuts the page of matches out of the sorted list of every row.
func walkPage(sorted, matches []int32, rows int32, desc bool, offset, limit int) []int32 {
	mark := newBitset(rows)
	for _, id := range matches {
		mark.set(id)
	}
	out := make([]int32, 0, min(limit, len(matches)))
	skip := offset
	visit := func(id int32) bool {
		if !mark.has(id) {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		out = append(out, id)
		return len(out) < limit
	}
	if desc {
		for i := len(sorted) - 1; i >= 0 && visit(sorted[i]); i-- {
		}
	} else {
		for i := 0; i < len(sorted) && visit(sorted[i]); i++ {
		}
	}
	return out
}

// accountFilter is an AccountQuery checked and normalised.
type accountFilter struct {
	guidVals, customerVals, branchVals, kindVals keySet
	guids, customers                             guidFilter
	branches, kinds, scope                       symSet
	scopeVal                                     string
	iban                                         string
	search                                       string // trimmed; "" for none
	found                                        map[int32]struct{}
	page                                         ListPage
}

func newAccountFilter(q AccountQuery) (*accountFilter, error) {
	if q.CounterpartyGUID == "" {
		return nil, fmt.Errorf("%w: a counterparty is required", ErrInvalidListQuery)
	}
	page, err := ListPage{Order: q.Order, Offset: q.Offset, Limit: q.Limit}.check()
	if err != nil {
		return nil, err
	}
	if len(q.Search) > maxSearchBytes {
		return nil, fmt.Errorf("%w: search is over %d bytes", ErrInvalidListQuery, maxSearchBytes)
	}
	f := &accountFilter{iban: ibanKey(q.IBAN), scopeVal: strings.ToLower(q.BranchScope), search: strings.TrimSpace(q.Search), page: page}
	f.scope.on = q.BranchScope != ""
	kinds := make([]string, len(q.Kinds))
	for i, k := range q.Kinds {
		kinds[i] = string(k)
	}
	for _, s := range []struct {
		field  string
		values []string
		norm   func(string) string
		set    *keySet
	}{
		{"wallet_account_guids", q.GUIDs, strings.ToLower, &f.guidVals},
		{"wallet_user_guids", q.CustomerGUIDs, strings.ToLower, &f.customerVals},
		{"branch_guids", q.BranchGUIDs, strings.ToLower, &f.branchVals},
		{"kinds", kinds, trimmed, &f.kindVals},
	} {
		if *s.set, err = newKeySet(s.field, s.values, s.norm); err != nil {
			return nil, err
		}
	}
	f.guids, f.customers = f.guidVals.guids(), f.customerVals.guids()
	return f, nil
}

func (p *Customers) matchAccount(f *accountFilter, id int32, a *accountRow) bool {
	if !a.opened || !f.scope.has(a.branch) || !f.kinds.has(a.kind) || !f.branches.has(a.branch) || !f.guids.has(p, a.guid, a.oddGUID) {
		return false
	}
	if f.customers.on {
		if a.customer < 0 {
			return false
		}
		if c := p.custs.at(a.customer); !f.customers.has(p, c.guid, c.oddGUID) {
			return false
		}
	}
	if f.iban != "" && ibanKey(string(p.text.bytes(a.iban))) != f.iban {
		return false
	}
	if f.found != nil {
		if _, ok := f.found[id]; !ok {
			return false
		}
	}
	return true
}

// ListAccounts returns a page of a counterparty's opened accounts that match q, and how many match in all,
// ordered by creation (key generation) time, then GUID. GUIDs, customer GUIDs and branches compare
// case-insensitively, the IBAN in electronic form in any case; an account's branch is its customer's
// current branch for a customer account (see accountRow.branch). The search matches the whole account
// GUID, customer GUID, IBAN, customer login or external ID, and is served from indexes.
func (p *Customers) ListAccounts(_ context.Context, q AccountQuery) ([]Account, int, error) {
	f, err := newAccountFilter(q)
	if err != nil {
		return nil, 0, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	i, ok := p.tableOf[strings.ToLower(q.CounterpartyGUID)]
	if !ok {
		return []Account{}, 0, nil
	}
	t := &p.syms
	f.branches, f.kinds = f.branchVals.symbols(t), f.kindVals.symbols(t)
	if f.scope.on {
		f.scope = keySet{vals: []string{f.scopeVal}}.symbols(t)
	}
	ids, total := p.findAccounts(p.tables[i], f)
	out := make([]Account, len(ids))
	for i, id := range ids {
		out[i] = p.accountView(p.accts.at(id))
	}
	return out, total, nil
}

func (p *Customers) findAccounts(t *cpTable, f *accountFilter) (page []int32, total int) {
	desc := f.page.Order == CreatedDesc
	best := len(t.accts)
	var cands []int32
	all := true
	use := func(ids []int32) {
		if len(ids) < best || all {
			best, cands, all = len(ids), ids, false
		}
	}
	if f.search != "" {
		found := p.searchAccounts(t, f.search)
		f.found = make(map[int32]struct{}, len(found))
		for _, id := range found {
			f.found[id] = struct{}{}
		}
		use(found)
	}
	if f.guidVals.on() && len(f.guidVals.vals) < best {
		var ids []int32
		for _, g := range f.guidVals.vals {
			if id, ok := p.acctByGUID.get(g); ok {
				ids = append(ids, id)
			}
		}
		use(ids)
	}
	if f.iban != "" {
		use(p.findIBAN(f.iban))
	}
	if f.customerVals.on() && len(f.customerVals.vals) < best {
		var ids []int32
		for _, g := range f.customerVals.vals {
			if id, ok := p.custByGUID.get(g); ok {
				p.ownedBy(p.custs.at(id), func(aid int32) bool { ids = append(ids, aid); return true })
			}
		}
		use(ids)
	}
	for _, s := range []symSet{f.branches, f.scope} {
		if s.on && t.aidx[aiBranch].count(s.syms) < best {
			var ids []int32
			for _, x := range s.syms {
				ids = append(ids, t.aidx[aiBranch][x]...)
			}
			use(ids)
		}
	}
	sorted := all || best*32 > len(t.accts)
	var list []int32
	if sorted {
		list = p.sortedAccounts(t)
	}
	if all {
		cands = list
	}
	matches := make([]int32, 0, min(len(cands), 1024))
	for _, id := range cands {
		if a := p.accts.at(id); a.table == t.index && p.matchAccount(f, id, a) {
			matches = append(matches, id)
		}
	}
	if !all {
		slices.Sort(matches)
		matches = slices.Compact(matches) // a filter may name one account twice
	}
	total = len(matches)
	switch {
	case all:
		return pageOf(matches, desc, f.page.Offset, f.page.Limit), total
	case f.page.Offset >= total:
		return []int32{}, total
	case sorted:
		return walkPage(list, matches, p.accts.n, desc, f.page.Offset, f.page.Limit), total
	}
	sortRows(matches, p.acctOrder())
	return pageOf(matches, desc, f.page.Offset, f.page.Limit), total
}

// searchAccounts returns t's opened accounts whose GUID, IBAN, customer GUID, customer login or customer
// external ID is the whole of s.
func (p *Customers) searchAccounts(t *cpTable, s string) []int32 {
	var out []int32
	add := func(id int32) bool {
		if a := p.accts.at(id); a.table == t.index && a.opened {
			out = append(out, id)
		}
		return true
	}
	lower := strings.ToLower(s)
	if id, ok := p.acctByGUID.get(lower); ok {
		add(id)
	}
	key := ibanKey(s)
	for _, id := range p.findIBAN(key) {
		if ibanKey(string(p.text.bytes(p.accts.at(id).iban))) == key {
			add(id)
		}
	}
	if id, ok := p.custByGUID.get(lower); ok {
		p.ownedBy(p.custs.at(id), add)
	}
	folded := fold(s)
	for _, c := range []struct {
		find func(*cpTable, []int32, string) []int32
		key  string
		text func(*customerRow) strRef
	}{
		{p.findLogins, lower, func(r *customerRow) strRef { return r.loginKey }},
		{p.findExternals, folded, func(r *customerRow) strRef { return r.extKey }},
	} {
		for _, cid := range c.find(t, nil, c.key) {
			if r := p.custs.at(cid); r.registered && r.table == t.index && string(p.text.bytes(c.text(r))) == c.key {
				p.ownedBy(r, add)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
