package projections

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Customers is the read model of the counterparties' customers and their accounts (digital entities, guide
// §7–§8). It holds both, because an account's search joins its customer's login and external ID, a customer
// list needs the customer's accounts, and an account belongs to its customer's branch.
//
// Every exact-value filter of a list has an index per counterparty: posting lists for values many customers
// share (KYC level, status, segment, branch, names, disabled), sorted hash arrays for values few share
// (login, phone, external ID, IBAN), and the creation order to cut time ranges from. A list query starts
// from the smallest of its filters' row sets, turns the others into bitsets of row ids, and reads rows only
// for the filters with no index (balance, balance asset, update time). The orders of a list (creation,
// update, login, surname) are sorted lists brought up to date lazily, by the first query that needs one
// (merging the rows changed since, or sorting all after a rebuild), so that applying an event never sorts
// anything and an unfiltered page of a million customers costs a slice; Warm does that work ahead. A search
// (CustomerQuery.Search) scans: the distinct names, and the counterparty's logins packed in one string.
//
// Apply is built for rebuilding from the log at start (see docs/BENCHMARKS.md): it decodes with a fast
// reader of its own, falling back on the domain codecs; rows hold no pointers (strings live in an arena,
// shared values are symbols, GUIDs are 16-byte keys), so that the garbage collector has almost nothing to
// scan however many customers there are.
type Customers struct {
	known map[string]bool
	seed  maphash.Seed

	mu         sync.RWMutex
	custs      rowStore[customerRow]
	accts      rowStore[accountRow]
	text       arena
	syms       symbols
	folded     map[sym]sym // a name's symbol → its fold's
	custByGUID guidMap     // customers and the rows their accounts joined before them
	acctByGUID guidMap     // accounts, opened or not
	acctByIBAN valueIndex  // by hash of ibanKey; readers bring it up to date under lazy
	tables     []*cpTable
	tableOf    map[string]int32 // counterparty GUID (lower-case) → index in tables
	owned      [][]int32        // customerRow.ownedMore
	lazy       sync.Mutex

	in jsonIn // Apply's reader; only the Runner's goroutine uses it
}

// MaxSegmentAccounts bounds the accounts Segments returns per segment (the oldest first), so that one call
// cannot copy a whole read model.
const MaxSegmentAccounts = 10_000

// maxSearchBytes bounds a search: the longest value it can match, an external ID of 500 characters, is at
// most 2,000 bytes.
const maxSearchBytes = 2048

// The customer indexes with a slot in each row (postings of a cpTable); logins, external IDs and phone
// numbers have hash indexes instead.
const (
	ciKYC      = iota // KYC level (cpTable.kyc)
	ciDisabled        // cpTable.disabled
	ciBranch          // lower-cased branch GUID; "" for a customer of the whole counterparty
	ciSegment         // as given
	ciStatus          // as given
	ciName            // folded
	ciSurname         // folded
	ciPaternal        // folded
	numCustIndexes
)

// The account indexes. An account's customer needs none: the customer's row lists its accounts.
const (
	aiBranch  = iota // the effective branch, see accountRow.branch
	aiSegment        // only accounts with a segment
	numAcctIndexes
)

// customerRow is a customer, or, until its CustomerRegistered arrives, the place its accounts meet
// (registered false): an account may be opened before its customer is registered, and whichever comes first
// makes the row, so that the two join the same way in either order. It holds no pointer (see Customers).
type customerRow struct {
	guid       guidKey
	oddGUID    strRef // the GUID as written when it is not canonical
	table      int32
	registered bool
	disabled   bool
	owned      int32 // the first opened account whose owner this is; -1 for none
	ownedMore  int32 // index in Customers.owned of the others, in opening order; -1 for none
	externalID strRef
	extKey     strRef // fold(externalID)
	login      strRef
	loginKey   strRef // strings.ToLower(login)
	phone      strRef
	accounts   strRef // the customer's account GUIDs, each a uvarint length and the text
	kyc        int64
	balance    money.Amount
	name       sym
	surname    sym
	paternal   sym
	segment    sym
	status     sym
	branch     sym
	code       sym
	issuer     sym
	nameKey    sym // folded
	surnameKey sym
	patKey     sym
	branchKey  sym   // lower-cased
	created    int64 // Unix ns
	updated    int64
	slot       [numCustIndexes]int32
}

// accountRow is an account from its key on; like customerRow it holds no pointer.
type accountRow struct {
	guid        guidKey
	oddGUID     strRef
	table       int32
	customer    int32 // the owner's customerRow; -1 for an account of the counterparty itself
	kind        sym
	address     strRef
	ownerBranch sym
	iban        strRef
	keyKeeper   sym
	assetCode   sym
	assetIssuer sym
	segment     sym
	// branch is the account's branch for filters and scope, lower-cased: a customer account follows its
	// customer's current branch (a customer moved to another branch takes its accounts along); any other
	// account, or one whose customer is not registered yet, has its owner's branch.
	branch   sym
	opened   bool
	blocked  bool
	balance  money.Amount // booked: credits minus debits
	reserved money.Amount // held by confirmed payments not yet settled
	created  int64
	updated  int64
	slot     [numAcctIndexes]int32
}

// cpTable is one counterparty's indexes. Its sorted lists and login corpus are brought up to date by
// readers (who hold Customers.mu for reading) under lazy; Apply changes them under Customers.mu, when no
// reader is about.
type cpTable struct {
	index int32
	guid  string

	custs     []int32 // every registered customer, in registration order
	cidx      [numCustIndexes]postings[sym]
	kyc       postings[int64]
	disabled  postings[bool]
	logins    valueIndex // hash of loginKey
	externals valueIndex // hash of extKey
	phones    valueIndex
	byCreated sortedIDs
	byUpdated sortedIDs
	byLogin   sortedIDs
	bySurname sortedIDs
	corpus    corpus

	accts         []int32 // every opened account, in opening order
	acctByCreated sortedIDs
	aidx          [numAcctIndexes]postings[sym]

	lazy sync.Mutex
}

// NewCustomers returns an empty read model; feed it to a Runner.
func NewCustomers() *Customers {
	return &Customers{
		known:      knownTypes(append(customer.Events.Types(), account.Events.Types()...)),
		seed:       maphash.MakeSeed(),
		syms:       newSymbols(),
		folded:     map[sym]sym{},
		custByGUID: newGUIDMap(),
		acctByGUID: newGUIDMap(),
		tableOf:    map[string]int32{},
	}
}

func (p *Customers) Name() string { return "customers" }

// Filter selects customer and account events. Uniqueness claims (logins, IBANs) are "Unique…" events: the
// store passes over them without decoding them.
func (p *Customers) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: append(slices.Clone(customer.EventTypePrefixes), account.EventTypePrefixes...)}
}

// The event types Apply handles; a test checks them against the codecs.
const (
	typeCustomerRegistered   = "CustomerRegistered"
	typeCustomerUpdated      = "CustomerUpdated"
	typeCustomerDisabled     = "CustomerDisabled"
	typeCustomerEnabled      = "CustomerEnabled"
	typeCustomerAccountAdded = "CustomerAccountAdded"
	typeAccountKeyGenerated  = "AccountKeyGenerated"
	typeAccountOpened        = "AccountOpened"
	typeAccountBlocked       = "AccountBlocked"
	typeAccountUnblocked     = "AccountUnblocked"
	typeAccountSegmentSet    = "AccountSegmentSet"
	typeCredited             = "AccountCredited"
	typeDebited              = "AccountDebited"
	typeReserved             = "AccountFundsReserved"
	typeReleased             = "AccountFundsReleased"
	// An event of account streams this model has no use for: only the custody of the key changed.
	typeAccountKeyResealed = "AccountKeyResealed"
)

// Apply folds one event. It decodes before taking the lock, so that readers wait only for the index
// changes. An event that cannot be in a consistent log (a second registration, a change to a customer never
// registered or an account never opened) is an error: the Runner stops rather than serve a wrong model.
func (p *Customers) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	switch ev.Type {
	case typeCustomerRegistered:
		e, err := p.decodeCustomerRegistered(ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.customerRegistered(e)
	case typeCustomerUpdated:
		e, err := p.decodeCustomerUpdated(ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		id, r, err := p.registered(e.GUID, ev.Type)
		if err != nil {
			return err
		}
		p.setProfile(id, r, e.Profile, false)
		p.touchCustomer(id, r, e.At)
		return nil
	case typeCustomerDisabled, typeCustomerEnabled:
		guid, at, err := p.decodeGUIDAt(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		id, r, err := p.registered(guid, ev.Type)
		if err != nil {
			return err
		}
		if d := ev.Type == typeCustomerDisabled; d != r.disabled {
			t := p.tables[r.table]
			t.disabled.remove(r.disabled, id, p.custSlot(ciDisabled))
			t.disabled.add(d, id, &r.slot[ciDisabled])
			r.disabled = d
		}
		p.touchCustomer(id, r, at)
		return nil
	case typeCustomerAccountAdded:
		e, err := p.decodeCustomerAccountAdded(ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		id, r, err := p.registered(e.GUID, ev.Type)
		if err != nil {
			return err
		}
		r.accounts = p.text.put(string(appendGUIDText(p.text.bytes(r.accounts), e.AccountGUID)))
		p.touchCustomer(id, r, e.At)
		return nil
	case typeAccountKeyGenerated:
		e, err := p.decodeAccountKeyGenerated(ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.accountKeyGenerated(e)
	case typeAccountOpened:
		e, err := p.decodeAccountOpened(ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.accountOpened(e)
	case typeAccountBlocked, typeAccountUnblocked:
		guid, at, err := p.decodeGUIDAt(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		_, a, err := p.openedAccount(guid, ev.Type)
		if err != nil {
			return err
		}
		a.blocked, a.updated = ev.Type == typeAccountBlocked, toNanos(at)
		return nil
	case typeAccountSegmentSet:
		e, err := p.decodeAccountSegmentSet(ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		id, a, err := p.openedAccount(e.GUID, ev.Type)
		if err != nil {
			return err
		}
		if seg := p.syms.add(e.Segment); a.segment != seg {
			segs := p.tables[a.table].aidx[aiSegment]
			if a.segment != 0 {
				segs.remove(a.segment, id, p.acctSlot(aiSegment))
			}
			if seg != 0 {
				segs.add(seg, id, &a.slot[aiSegment])
			}
			a.segment = seg
		}
		a.updated = toNanos(e.At)
		return nil
	case typeCredited, typeDebited, typeReserved, typeReleased:
		guid, amount, at, err := p.decodeFunds(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		_, a, err := p.openedAccount(guid, ev.Type)
		if err != nil {
			return err
		}
		// A debit settles the payment's reservation (the same amount): available = balance − reserved.
		switch ev.Type {
		case typeCredited:
			a.balance += money.Amount(amount)
		case typeDebited:
			a.balance -= money.Amount(amount)
			a.reserved -= money.Amount(amount)
		case typeReserved:
			a.reserved += money.Amount(amount)
		case typeReleased:
			a.reserved -= money.Amount(amount)
		}
		a.updated = toNanos(at)
		return nil
	case typeAccountKeyResealed:
		return nil
	}
	return fmt.Errorf("projections: customers: no rule for event type %s", ev.Type)
}

// appendGUIDText adds one GUID to a list kept as uvarint lengths and texts.
func appendGUIDText(list []byte, guid string) []byte {
	out := make([]byte, 0, len(list)+1+len(guid))
	out = append(out, list...)
	out = binary.AppendUvarint(out, uint64(len(guid)))
	return append(out, guid...)
}

func guidTexts(b []byte) []string {
	var out []string
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			panic("projections: customers: corrupt account list")
		}
		out = append(out, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return out
}

func (p *Customers) table(cp string) *cpTable {
	key := strings.ToLower(cp)
	if i, ok := p.tableOf[key]; ok {
		return p.tables[i]
	}
	t := &cpTable{index: int32(len(p.tables)), guid: cp, kyc: postings[int64]{}, disabled: postings[bool]{}}
	for i := range t.cidx {
		t.cidx[i] = postings[sym]{}
	}
	for i := range t.aidx {
		t.aidx[i] = postings[sym]{}
	}
	p.tables = append(p.tables, t)
	p.tableOf[key] = t.index
	return t
}

// registered finds the customer an event is about.
func (p *Customers) registered(guid, eventType string) (int32, *customerRow, error) {
	id, ok := p.custByGUID.get(guid)
	if !ok || !p.custs.at(id).registered {
		return 0, nil, fmt.Errorf("projections: customers: %s of customer %q, which is not registered", eventType, guid)
	}
	return id, p.custs.at(id), nil
}

func (p *Customers) openedAccount(guid, eventType string) (int32, *accountRow, error) {
	id, ok := p.acctByGUID.get(guid)
	if !ok {
		return 0, nil, fmt.Errorf("projections: customers: %s of account %q, which has no key", eventType, guid)
	}
	a := p.accts.at(id)
	if !a.opened {
		return 0, nil, fmt.Errorf("projections: customers: %s of account %q, which is not opened", eventType, guid)
	}
	return id, a, nil
}

func (p *Customers) custSlot(index int) func(int32) *int32 {
	return func(id int32) *int32 { return &p.custs.at(id).slot[index] }
}

func (p *Customers) acctSlot(index int) func(int32) *int32 {
	return func(id int32) *int32 { return &p.accts.at(id).slot[index] }
}

func (p *Customers) hash(b []byte) uint64 { return maphash.Bytes(p.seed, b) }

// party returns the row of customer guid, making an unregistered one for its accounts to join when there
// is none yet.
func (p *Customers) party(guid string, t *cpTable) (int32, *customerRow) {
	g := toGID(guid)
	if id, ok := p.custByGUID.find(g); ok {
		return id, p.custs.at(id)
	}
	id, r := p.custs.add()
	*r = customerRow{table: t.index, owned: -1, ownedMore: -1}
	r.guid, r.oddGUID = p.guidOf(g)
	p.custByGUID.set(g, id)
	return id, r
}

// guidOf is how a row keeps a GUID: its 16 bytes (shown in canonical form, lower-case), or, when it is not
// canonical, its text as written.
func (p *Customers) guidOf(g gid) (guidKey, strRef) {
	if g.odd {
		return guidKey{}, p.text.put(g.as)
	}
	return g.key, strRef{}
}

func (p *Customers) guidText(k guidKey, odd strRef) string {
	if odd.n > 0 {
		return p.text.str(odd)
	}
	return k.String()
}

// compareGUIDs orders two rows' GUIDs as their texts.
func (p *Customers) compareGUIDs(a guidKey, aOdd strRef, b guidKey, bOdd strRef) int {
	if aOdd.n == 0 && bOdd.n == 0 {
		return bytes.Compare(a[:], b[:])
	}
	return strings.Compare(p.guidText(a, aOdd), p.guidText(b, bOdd))
}

func (p *Customers) customerRegistered(e customer.CustomerRegistered) error {
	t := p.table(e.CounterpartyGUID)
	id, r := p.party(e.GUID, t)
	if r.registered {
		return fmt.Errorf("projections: customers: customer %q registered twice", e.GUID)
	}
	if r.table != t.index {
		// Its accounts were opened for another counterparty: they will not join.
		r.table = t.index
	}
	r.registered, r.disabled, r.created = true, e.Disabled, toNanos(e.At)
	r.updated = r.created
	r.externalID = p.text.put(e.ExternalID)
	r.extKey = r.externalID
	if k := fold(e.ExternalID); k != e.ExternalID {
		r.extKey = p.text.put(k)
	}
	t.externals.add(p.hash(p.text.bytes(r.extKey)), id)
	if e.AccountGUID != "" {
		r.accounts = p.text.put(string(appendGUIDText(nil, e.AccountGUID)))
	}
	t.custs = append(t.custs, id)
	t.disabled.add(r.disabled, id, &r.slot[ciDisabled])
	p.setProfile(id, r, e.Profile, true)
	t.byCreated.appendOrTouch(id, p.custOrder(CustomersByCreated))
	for _, o := range []struct {
		ids *sortedIDs
		by  CustomerOrder
	}{{&t.byUpdated, CustomersByUpdated}, {&t.byLogin, CustomersByLogin}, {&t.bySurname, CustomersBySurname}} {
		// These keys can change, so only a clean list may take a row at its end.
		if o.ids.dirty() {
			o.ids.touch(id)
		} else {
			o.ids.appendOrTouch(id, p.custOrder(o.by))
		}
	}
	t.corpus.add(id, p.text.bytes(r.loginKey))
	return nil
}

// fold is the symbol of fold(the value of s), remembered per symbol.
func (p *Customers) fold(s sym) sym {
	if f, ok := p.folded[s]; ok {
		return f
	}
	f := p.syms.add(fold(p.syms.list[s]))
	p.folded[s] = f
	return f
}

// setProfile stores the profile and moves the row in every index whose value it changes (all of them when
// fresh).
func (p *Customers) setProfile(id int32, r *customerRow, pr customer.Profile, fresh bool) {
	t := p.tables[r.table]
	name, surname, paternal := p.syms.add(pr.Name), p.syms.add(pr.Surname), p.syms.add(pr.PaternalName)
	branch := p.syms.add(pr.BranchGUID)
	keys := [numCustIndexes]sym{
		ciBranch:   p.syms.add(strings.ToLower(pr.BranchGUID)),
		ciSegment:  p.syms.add(pr.Segment),
		ciStatus:   p.syms.add(pr.Status),
		ciName:     p.fold(name),
		ciSurname:  p.fold(surname),
		ciPaternal: p.fold(paternal),
	}
	old := [numCustIndexes]sym{ciBranch: r.branchKey, ciSegment: r.segment, ciStatus: r.status, ciName: r.nameKey, ciSurname: r.surnameKey, ciPaternal: r.patKey}
	for i := ciBranch; i < numCustIndexes; i++ {
		if !fresh && old[i] == keys[i] {
			continue
		}
		if !fresh {
			t.cidx[i].remove(old[i], id, p.custSlot(i))
		}
		t.cidx[i].add(keys[i], id, &r.slot[i])
	}
	kyc := int64(pr.KYCLevel)
	if fresh || r.kyc != kyc {
		if !fresh {
			t.kyc.remove(r.kyc, id, p.custSlot(ciKYC))
		}
		t.kyc.add(kyc, id, &r.slot[ciKYC])
	}
	// Login and phone: a change (the decider allows none but in case) moves the hash entry.
	login, loginKey := r.login, r.loginKey
	if fresh || string(p.text.bytes(r.login)) != pr.Login {
		login = p.text.put(pr.Login)
		loginKey = login
		if k := strings.ToLower(pr.Login); k != pr.Login {
			loginKey = p.text.put(k)
		}
	}
	if fresh || !bytes.Equal(p.text.bytes(loginKey), p.text.bytes(r.loginKey)) {
		if !fresh {
			t.logins.drop()
			t.byLogin.touch(id)
			t.corpus.stale = true
		}
		t.logins.add(p.hash(p.text.bytes(loginKey)), id)
	}
	if fresh || string(p.text.bytes(r.phone)) != pr.Phone {
		if !fresh {
			t.phones.drop()
		}
		r.phone = p.text.put(pr.Phone)
		t.phones.add(p.hash(p.text.bytes(r.phone)), id)
	}
	if !fresh && keys[ciSurname] != r.surnameKey {
		t.bySurname.touch(id)
	}
	branchChanged := fresh || keys[ciBranch] != r.branchKey
	r.login, r.loginKey = login, loginKey
	r.kyc, r.balance = kyc, pr.BalanceAllowed
	r.name, r.surname, r.paternal, r.branch = name, surname, paternal, branch
	r.segment, r.status, r.branchKey = keys[ciSegment], keys[ciStatus], keys[ciBranch]
	r.nameKey, r.surnameKey, r.patKey = keys[ciName], keys[ciSurname], keys[ciPaternal]
	r.code, r.issuer = p.syms.add(pr.BalanceAssetCode), p.syms.add(pr.BalanceAssetIssuer)
	if branchChanged {
		p.rejoin(r)
	}
}

// touchCustomer records that an event changed the customer at at.
func (p *Customers) touchCustomer(id int32, r *customerRow, at time.Time) {
	r.updated = toNanos(at)
	p.tables[r.table].byUpdated.touch(id)
}

// ownedBy calls fn for each opened account whose owner is r, in opening order, until fn returns false.
func (p *Customers) ownedBy(r *customerRow, fn func(id int32) bool) {
	if r.owned < 0 || !fn(r.owned) || r.ownedMore < 0 {
		return
	}
	for _, id := range p.owned[r.ownedMore] {
		if !fn(id) {
			return
		}
	}
}

func (p *Customers) addOwned(r *customerRow, id int32) {
	switch {
	case r.owned < 0:
		r.owned = id
	case r.ownedMore < 0:
		r.ownedMore = int32(len(p.owned))
		p.owned = append(p.owned, []int32{id})
	default:
		p.owned[r.ownedMore] = append(p.owned[r.ownedMore], id)
	}
}

// rejoin brings the branch of a customer's opened accounts in line with the customer's.
func (p *Customers) rejoin(r *customerRow) {
	p.ownedBy(r, func(id int32) bool {
		a := p.accts.at(id)
		if b := p.accountBranch(a); b != a.branch {
			branches := p.tables[a.table].aidx[aiBranch]
			branches.remove(a.branch, id, p.acctSlot(aiBranch))
			branches.add(b, id, &a.slot[aiBranch])
			a.branch = b
		}
		return true
	})
}

// joined is the registered customer of the account's counterparty that owns it, or nil.
func (p *Customers) joined(a *accountRow) *customerRow {
	if a.customer < 0 {
		return nil
	}
	if c := p.custs.at(a.customer); c.registered && c.table == a.table {
		return c
	}
	return nil
}

// accountBranch is the branch an account belongs to (see accountRow.branch).
func (p *Customers) accountBranch(a *accountRow) sym {
	if c := p.joined(a); c != nil {
		return c.branchKey
	}
	return p.syms.add(strings.ToLower(p.syms.list[a.ownerBranch]))
}

func (p *Customers) accountKeyGenerated(e account.AccountKeyGenerated) error {
	g := toGID(e.GUID)
	if _, dup := p.acctByGUID.find(g); dup {
		return fmt.Errorf("projections: customers: key of account %q generated twice", e.GUID)
	}
	t := p.table(e.CounterpartyGUID)
	id, a := p.accts.add()
	at := toNanos(e.At)
	*a = accountRow{table: t.index, customer: -1, kind: p.syms.add(string(e.Kind)), address: p.text.put(e.Address),
		ownerBranch: p.syms.add(e.Owner.BranchGUID), iban: p.text.put(e.Owner.IBAN), keyKeeper: p.syms.add(e.Owner.KeyKeeperLogin),
		created: at, updated: at}
	a.guid, a.oddGUID = p.guidOf(g)
	if e.Owner.CustomerGUID != "" {
		a.customer, _ = p.party(e.Owner.CustomerGUID, t)
	}
	p.acctByGUID.set(g, id)
	if key := ibanKey(e.Owner.IBAN); key != "" {
		p.acctByIBAN.add(maphash.String(p.seed, key), id)
	}
	return nil
}

func (p *Customers) accountOpened(e account.AccountOpened) error {
	id, ok := p.acctByGUID.get(e.GUID)
	if !ok {
		return fmt.Errorf("projections: customers: account %q opened without a key", e.GUID)
	}
	a := p.accts.at(id)
	if a.opened {
		return fmt.Errorf("projections: customers: account %q opened twice", e.GUID)
	}
	a.opened, a.assetCode, a.assetIssuer, a.updated = true, p.syms.add(e.AssetCode), p.syms.add(e.AssetIssuer), toNanos(e.At)
	t := p.tables[a.table]
	t.accts = append(t.accts, id)
	t.acctByCreated.appendOrTouch(id, p.acctOrder())
	if a.customer >= 0 {
		p.addOwned(p.custs.at(a.customer), id)
	}
	a.branch = p.accountBranch(a)
	t.aidx[aiBranch].add(a.branch, id, &a.slot[aiBranch])
	return nil
}

// ibanKey is the form IBANs are looked up in: electronic (no spaces), upper-case.
func ibanKey(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
}

// Customer returns one customer of a counterparty by GUID.
func (p *Customers) Customer(_ context.Context, counterpartyGUID, guid string) (Customer, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	id, ok := p.custByGUID.get(guid)
	if !ok {
		return Customer{}, false
	}
	r := p.custs.at(id)
	if !r.registered || !strings.EqualFold(p.tables[r.table].guid, counterpartyGUID) {
		return Customer{}, false
	}
	return p.customerView(r), true
}

func (p *Customers) customerView(r *customerRow) Customer {
	s := p.syms.list
	return Customer{GUID: p.guidText(r.guid, r.oddGUID), CounterpartyGUID: p.tables[r.table].guid, ExternalID: p.text.str(r.externalID),
		Profile: customer.Profile{Login: p.text.str(r.login), Name: s[r.name], Surname: s[r.surname], PaternalName: s[r.paternal],
			Phone: p.text.str(r.phone), KYCLevel: int(r.kyc), Segment: s[r.segment], Status: s[r.status], BranchGUID: s[r.branch],
			BalanceAllowed: r.balance, BalanceAssetCode: s[r.code], BalanceAssetIssuer: s[r.issuer]},
		Disabled: r.disabled, Accounts: guidTexts(p.text.bytes(r.accounts)), CreatedAt: fromNanos(r.created), UpdatedAt: fromNanos(r.updated)}
}

// Account returns one account of a counterparty by GUID, from the moment its key is recorded: Opened says
// whether it is open yet (lists show only opened accounts).
func (p *Customers) Account(_ context.Context, counterpartyGUID, guid string) (Account, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	id, ok := p.acctByGUID.get(guid)
	if !ok {
		return Account{}, false
	}
	a := p.accts.at(id)
	if !strings.EqualFold(p.tables[a.table].guid, counterpartyGUID) {
		return Account{}, false
	}
	return p.accountView(a), true
}

// AccountByIBAN returns the account with this IBAN (electronic or paper form, any case), of any
// counterparty; like Account, it may not be opened yet. If keys were recorded for several accounts with the
// IBAN, an opened one answers, the latest if several are.
func (p *Customers) AccountByIBAN(_ context.Context, iban string) (Account, bool) {
	key := ibanKey(iban)
	if key == "" {
		return Account{}, false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	var best *accountRow
	for _, id := range p.findIBAN(key) {
		if a := p.accts.at(id); ibanKey(p.text.str(a.iban)) == key && (best == nil || a.opened || !best.opened) {
			best = a
		}
	}
	if best == nil {
		return Account{}, false
	}
	return p.accountView(best), true
}

// CustomerAccounts returns a customer's opened accounts in the customer's order (the first one opened at
// registration first), and false when the counterparty has no such customer.
func (p *Customers) CustomerAccounts(_ context.Context, counterpartyGUID, customerGUID string) ([]Account, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	id, ok := p.custByGUID.get(customerGUID)
	if !ok {
		return nil, false
	}
	r := p.custs.at(id)
	if !r.registered || !strings.EqualFold(p.tables[r.table].guid, counterpartyGUID) {
		return nil, false
	}
	guids := guidTexts(p.text.bytes(r.accounts))
	out := make([]Account, 0, len(guids))
	for _, g := range guids {
		if aid, ok := p.acctByGUID.get(g); ok {
			if a := p.accts.at(aid); a.opened && a.table == r.table {
				out = append(out, p.accountView(a))
			}
		}
	}
	return out, true
}

func (p *Customers) accountView(a *accountRow) Account {
	s := p.syms.list
	v := Account{GUID: p.guidText(a.guid, a.oddGUID), CounterpartyGUID: p.tables[a.table].guid, Kind: account.Kind(s[a.kind]),
		Address: p.text.str(a.address), Owner: account.Owner{BranchGUID: s[a.ownerBranch], IBAN: p.text.str(a.iban), KeyKeeperLogin: s[a.keyKeeper]},
		AssetCode: s[a.assetCode], AssetIssuer: s[a.assetIssuer], Opened: a.opened, Blocked: a.blocked, Segment: s[a.segment],
		Balance: a.balance, Reserved: a.reserved, CreatedAt: fromNanos(a.created), UpdatedAt: fromNanos(a.updated)}
	if a.customer >= 0 {
		c := p.custs.at(a.customer)
		v.Owner.CustomerGUID = p.guidText(c.guid, c.oddGUID)
	}
	if c := p.joined(a); c != nil {
		v.CustomerLogin, v.CustomerExternalID = p.text.str(c.login), p.text.str(c.externalID)
	}
	return v
}

// Segments returns a counterparty's opened accounts that have a segment, grouped by segment name (as set,
// compared exactly), each group oldest first and at most MaxSegmentAccounts long. With names, only those
// segments (at most MaxListFilterValues of them) are returned; a name no account has is left out.
func (p *Customers) Segments(_ context.Context, counterpartyGUID string, names []string) map[string][]Account {
	out := map[string][]Account{}
	p.mu.RLock()
	defer p.mu.RUnlock()
	i, ok := p.tableOf[strings.ToLower(counterpartyGUID)]
	if !ok {
		return out
	}
	segs := p.tables[i].aidx[aiSegment]
	var want []sym
	if len(names) == 0 {
		for s := range segs {
			want = append(want, s)
		}
	}
	for _, name := range names[:min(len(names), MaxListFilterValues)] {
		if s, ok := p.syms.find(name); ok && s != 0 {
			want = append(want, s)
		}
	}
	ord := p.acctOrder()
	for _, s := range want {
		ids := slices.Clone(segs[s])
		if len(ids) == 0 {
			continue
		}
		sortRows(ids, ord)
		list := make([]Account, 0, min(len(ids), MaxSegmentAccounts))
		for _, id := range ids[:min(len(ids), MaxSegmentAccounts)] {
			list = append(list, p.accountView(p.accts.at(id)))
		}
		out[p.syms.list[s]] = list
	}
	return out
}

// custOrder is the ordering by's base (ascending) form.
type custOrder struct {
	p  *Customers
	by CustomerOrder
}

func (p *Customers) custOrder(by CustomerOrder) custOrder {
	return custOrder{p, CustomerOrder(strings.TrimPrefix(string(by), "-"))}
}

func (o custOrder) prefix(id int32) uint64 {
	r := o.p.custs.at(id)
	switch o.by {
	case CustomersByUpdated:
		return timePrefix(r.updated)
	case CustomersByLogin:
		return bytesPrefix(o.p.text.bytes(r.loginKey))
	case CustomersBySurname:
		return stringPrefix(o.p.syms.list[r.surnameKey])
	}
	return timePrefix(r.created)
}

func (o custOrder) compare(a, b int32) int {
	ra, rb := o.p.custs.at(a), o.p.custs.at(b)
	var c int
	switch o.by {
	case CustomersByUpdated:
		c = cmp.Compare(ra.updated, rb.updated)
	case CustomersByLogin:
		c = bytes.Compare(o.p.text.bytes(ra.loginKey), o.p.text.bytes(rb.loginKey))
	case CustomersBySurname:
		if ra.surnameKey != rb.surnameKey {
			c = strings.Compare(o.p.syms.list[ra.surnameKey], o.p.syms.list[rb.surnameKey])
		}
	default:
		c = cmp.Compare(ra.created, rb.created)
	}
	if c == 0 {
		c = o.p.compareGUIDs(ra.guid, ra.oddGUID, rb.guid, rb.oddGUID)
	}
	return c
}

type acctOrder struct{ p *Customers }

func (p *Customers) acctOrder() acctOrder { return acctOrder{p} }

func (o acctOrder) prefix(id int32) uint64 { return timePrefix(o.p.accts.at(id).created) }

func (o acctOrder) compare(a, b int32) int {
	ra, rb := o.p.accts.at(a), o.p.accts.at(b)
	if c := cmp.Compare(ra.created, rb.created); c != 0 {
		return c
	}
	return o.p.compareGUIDs(ra.guid, ra.oddGUID, rb.guid, rb.oddGUID)
}

// sorted returns t's customers in the base order of by, bringing the list up to date first. The caller holds
// p.mu for reading; the slice stays valid (and unchanged) while it does.
func (p *Customers) sorted(t *cpTable, by CustomerOrder) []int32 {
	ord := p.custOrder(by)
	t.lazy.Lock()
	defer t.lazy.Unlock()
	o := t.customerList(ord.by)
	if o.dirty() {
		o.build(t.custs, ord, p.custs.n)
	}
	return o.ids
}

// sortedIsCheap reports whether sorted(t, by) needs no full sort.
func (t *cpTable) sortedIsCheap(by CustomerOrder) bool {
	t.lazy.Lock()
	defer t.lazy.Unlock()
	return !t.customerList(by).full
}

func (t *cpTable) customerList(base CustomerOrder) *sortedIDs {
	switch base {
	case CustomersByUpdated:
		return &t.byUpdated
	case CustomersByLogin:
		return &t.byLogin
	case CustomersBySurname:
		return &t.bySurname
	}
	return &t.byCreated
}

func (p *Customers) sortedAccounts(t *cpTable) []int32 {
	t.lazy.Lock()
	defer t.lazy.Unlock()
	if t.acctByCreated.dirty() {
		t.acctByCreated.build(t.accts, p.acctOrder(), p.accts.n)
	}
	return t.acctByCreated.ids
}

// loginCorpus returns t's login corpus, rebuilt first if a login changed. It is a copy: a reader rebuilding
// it replaces t's, never the arrays this one shares.
func (p *Customers) loginCorpus(t *cpTable) corpus {
	t.lazy.Lock()
	defer t.lazy.Unlock()
	if t.corpus.stale {
		var c corpus
		for _, id := range t.custs {
			c.add(id, p.text.bytes(p.custs.at(id).loginKey))
		}
		t.corpus = c
	}
	return t.corpus
}

// The lookups of the value indexes, which readers bring up to date (see valueIndex), and the hash of each
// row's value now, for leaving stale entries out.

func (p *Customers) loginHash(id int32) uint64 { return p.hash(p.text.bytes(p.custs.at(id).loginKey)) }
func (p *Customers) extHash(id int32) uint64   { return p.hash(p.text.bytes(p.custs.at(id).extKey)) }
func (p *Customers) phoneHash(id int32) uint64 { return p.hash(p.text.bytes(p.custs.at(id).phone)) }
func (p *Customers) ibanHash(id int32) uint64 {
	return maphash.String(p.seed, ibanKey(string(p.text.bytes(p.accts.at(id).iban))))
}

func (p *Customers) findLogins(t *cpTable, dst []int32, loginKey string) []int32 {
	t.lazy.Lock()
	defer t.lazy.Unlock()
	return t.logins.find(dst, maphash.String(p.seed, loginKey), p.loginHash)
}

func (p *Customers) findExternals(t *cpTable, dst []int32, extKey string) []int32 {
	t.lazy.Lock()
	defer t.lazy.Unlock()
	return t.externals.find(dst, maphash.String(p.seed, extKey), p.extHash)
}

func (p *Customers) findPhones(t *cpTable, dst []int32, phone string) []int32 {
	t.lazy.Lock()
	defer t.lazy.Unlock()
	return t.phones.find(dst, maphash.String(p.seed, phone), p.phoneHash)
}

// findIBAN returns the accounts whose IBAN may be key (an ibanKey).
func (p *Customers) findIBAN(key string) []int32 {
	p.lazy.Lock()
	defer p.lazy.Unlock()
	return p.acctByIBAN.find(nil, maphash.String(p.seed, key), p.ibanHash)
}

// Warm brings every list and index that queries keep up to date lazily (the orders, the value indexes, the
// login corpus) up to date now, so that the first queries after a rebuild do not pay for it: at a million
// customers a first query by login or surname would otherwise sort them all. Call it once the Runner has
// caught up. It holds the read lock per counterparty, so events wait while it works on a big one.
func (p *Customers) Warm(ctx context.Context) error {
	p.mu.RLock()
	tables := slices.Clone(p.tables)
	p.mu.RUnlock()
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.RLock()
		for _, by := range []CustomerOrder{CustomersByCreated, CustomersByUpdated, CustomersByLogin, CustomersBySurname} {
			p.sorted(t, by)
		}
		p.sortedAccounts(t)
		p.loginCorpus(t)
		t.lazy.Lock()
		t.logins.settle(p.loginHash)
		t.externals.settle(p.extHash)
		t.phones.settle(p.phoneHash)
		t.lazy.Unlock()
		p.mu.RUnlock()
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.lazy.Lock()
	defer p.lazy.Unlock()
	p.acctByIBAN.settle(p.ibanHash)
	return ctx.Err()
}
