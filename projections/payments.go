package projections

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Payments is the read model of payments (guide §10, §16.5): a row per payment with every field of the
// guide's payment object, found by GUID, listed for one bank with the guide's filters, and the PENDING
// payments for the settlement worker's recovery.
//
// A bank sees a payment it created, or whose sender's or receiver's account is its own (so both banks of a
// transfer between two see it); a branch of the bank sees the payments created in it, or whose side of the
// bank is an account of the branch.
//
// The model takes ~2,000 payments/s of 3–4 events each, so every event costs O(log n) and no query sorts a
// whole bank's payments:
//   - each counterparty and each branch has its payments in (created_at, guid) order (orderedIDs), which a
//     list walks in either direction, cutting a creation range by binary search;
//   - each account chains the payments it sent and those it received through the rows;
//   - each Stellar transaction hash chains its payments (a batched transaction carries many);
//   - each counterparty's payments are listed by status (unordered postings, O(1) to move), and all payments
//     by the pair of their sides' counterparties;
//   - the PENDING payments are in (confirmation time, guid) order.
//
// A list starts from the smallest of the row sets its filters allow (the bank's or the branch's order, or,
// sorted afterwards, the payments of the named GUIDs, hashes, accounts, statuses or pair of counterparties)
// and checks the other filters on the rows. Rows hold no pointers, as in Customers: strings live in an arena, values many payments share
// (counterparties, branches, assets, categories, actors) are symbols, and each side of a payment is a
// party: the account as it was when the payment was created, kept once per account and version.
type Payments struct {
	known map[string]bool

	mu       sync.RWMutex
	rows     rowStore[paymentRow]
	byGUID   map[guidKey]int32
	text     arena
	syms     symbols
	lower    []sym // a symbol → the symbol of its lower-cased text, to compare GUIDs in any case
	parties  rowStore[partyRow]
	accounts rowStore[accountPayments]
	acctOf   guidMap // account GUID → index in accounts
	issuer   int32   // the first party with no account (the issuer), chained by partyRow.next; -1 for none
	hashes   []hashRow
	hashOf   map[[32]byte]int32 // a hexadecimal hash, in any case → index in hashes
	oddHash  map[string]int32   // another hash, as written
	byCP     map[sym]*orderedIDs
	byBranch map[sym]*orderedIDs
	byStatus postings[statusScope] // each counterparty's payments by status, unordered
	byPair   map[[2]sym][]int32    // by (sender's, receiver's) counterparty, lower-cased, in log order
	pending  orderedIDs

	in jsonIn // Apply's reader; only the Runner's goroutine uses it
}

// Bounds of the payments queries.
const (
	// DefaultPaymentLimit is the page size of a list that gives none.
	DefaultPaymentLimit = 100
	// MaxPaymentLimit bounds a page; a larger limit is refused.
	MaxPaymentLimit = 1000
	// MaxPendingLimit bounds what one call of Pending returns.
	MaxPendingLimit = 10_000
)

// Payment is one payment as the guide's payment object shows it. Amounts are minor units of the asset.
type Payment struct {
	GUID             string
	CounterpartyGUID string // the bank that created it
	BranchGUID       string // the branch it was created in (§16.5), if any
	Sender           payment.Party
	Receiver         payment.Party
	Amount           int64
	AssetCode        string
	AssetIssuer      string
	CategoryGUID     string
	Category         string
	Purpose          string
	TargetBalance    *int64 // the sender's balance the creator expected after the payment, if given
	Fee              int64  // no fee is charged yet
	Status           payment.Status
	BankGUID         string // the receiver's bank as the confirmation named it
	Hash             string // the Stellar transaction that settled it
	Ledger           int32
	Reason           string // why settlement failed
	Emission         string // the emission request of an issue or a burn
	CreatedBy        string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	DeletedAt        time.Time // when it was cancelled
}

// VisibleTo reports whether the bank counterparty sees the payment: it created it or holds one of its sides.
func (p Payment) VisibleTo(counterparty string) bool {
	return counterparty != "" && (strings.EqualFold(p.CounterpartyGUID, counterparty) ||
		strings.EqualFold(p.Sender.CounterpartyGUID, counterparty) || strings.EqualFold(p.Receiver.CounterpartyGUID, counterparty))
}

// PaymentQuery filters and pages one bank's payments (guide §10 "Get payments list", §16.5). Every filter
// left empty (nil or no values) matches everything; a list of values matches any of them. GUIDs and hashes
// compare in any case, asset codes and issuers exactly. Time bounds are inclusive; zero is open.
type PaymentQuery struct {
	// Counterparty is required: the payments the bank created or whose sender or receiver is its own.
	Counterparty string
	// Branch, optional: the payments created in the branch, or whose side of the bank (sender or receiver
	// of Counterparty) is an account of the branch.
	Branch               string
	GUIDs                []string
	SenderIDs            []string // account GUIDs
	ReceiverIDs          []string
	SenderCounterparty   string
	ReceiverCounterparty string
	Hashes               []string // Stellar transaction hashes (the guide's external transaction id)
	MinAmount, MaxAmount *int64   // minor units, inclusive
	Statuses             []payment.Status
	AssetCodes           []string
	AssetIssuers         []string
	CategoryGUIDs        []string
	CreatedFrom          time.Time
	CreatedTo            time.Time
	UpdatedFrom          time.Time
	UpdatedTo            time.Time
	Order                string // "asc" or "desc" (the default) by created_at, then guid
	Offset               int
	Limit                int // 0 means DefaultPaymentLimit; at most MaxPaymentLimit
}

// PaymentQueryError is a payments query the read model refuses. It is an ErrInvalidListQuery, and names the
// field at fault for the API's answer.
type PaymentQueryError struct {
	Field  string
	Reason string
}

func (e *PaymentQueryError) Error() string {
	return fmt.Sprintf("projections: invalid payments query: %s %s", e.Field, e.Reason)
}

// InvalidField lets the API map it like the domain's invalid-field errors.
func (e *PaymentQueryError) InvalidField() (field, reason string) { return e.Field, e.Reason }

func (e *PaymentQueryError) Unwrap() error { return ErrInvalidListQuery }

// paymentRow is one payment; it holds no pointer (see Payments). The denormalised sides (account index,
// lower-cased counterparty and branch symbols) let a filter check a row without reading its parties.
//
// The first 64 bytes hold what the filters of a list read, so that a scan touches one cache line per row: a
// row is 192 bytes and a chunk of rows a page-aligned allocation, so each row starts a line.
type paymentRow struct {
	created        int64 // Unix ns
	updated        int64
	amount         int64
	creator        sym
	senderCP       sym // lower-cased
	receiverCP     sym
	branch         sym
	senderBranch   sym // lower-cased
	receiverBranch sym
	assetCode      sym
	assetIssuer    sym
	categoryGUID   sym
	status         uint8 // payCreated, …
	hasTarget      bool

	guid         guidKey
	deleted      int64 // noNanos unless cancelled
	target       int64
	sender       int32 // in parties
	receiver     int32
	senderAcct   int32 // in accounts; -1 for the issuer
	receiverAcct int32
	hash         int32 // in hashes; 0 for none
	category     sym
	bank         sym
	createdBy    sym
	purpose      strRef
	reason       strRef
	emission     strRef
	ledger       int32
	nextSent     int32 // the sender's previous payment; -1 for none
	nextRecv     int32 // the receiver's previous payment
	nextHash     int32 // the previous payment of the same transaction
	// statusSlot is the row's place in the status postings of each of its counterparties, in the order of
	// paymentScopes(creator, senderCP, receiverCP).
	statusSlot [3]int32
}

// partyRow is one side of payments: an account as payments saw it. An account's party changes rarely (its
// customer moves to another branch); each version is kept once and chained to the account's others.
type partyRow struct {
	account      int32 // in accounts; -1 for none
	accountGUID  strRef
	kind         sym
	counterparty sym
	address      strRef
	iban         strRef
	branch       sym
	customer     strRef
	next         int32 // another version of the same account's party; -1 for none
}

// accountPayments is what the model knows of one account: its parties and its payments, newest first.
type accountPayments struct {
	parties      int32
	sent, recv   int32 // the last payment applied; -1 for none
	nSent, nRecv int32
}

// hashRow is one Stellar transaction and its payments, newest first.
type hashRow struct {
	text strRef
	head int32
	n    int32
}

// statusScope is a status within one counterparty's payments.
type statusScope struct {
	cp     sym // lower-cased
	status uint8
}

// paymentStatusCode numbers payment.Statuses from 1; 0 is no status. A status mask has bit 1<<code.
func paymentStatusCode(s payment.Status) uint8 {
	for i, v := range payment.Statuses {
		if v == s {
			return uint8(i + 1)
		}
	}
	return 0
}

var (
	payCreated   = paymentStatusCode(payment.StatusCreated)
	payPending   = paymentStatusCode(payment.StatusPending)
	payConfirmed = paymentStatusCode(payment.StatusConfirmed)
	payFailed    = paymentStatusCode(payment.StatusFailed)
	payCancelled = paymentStatusCode(payment.StatusCancelled)
)

// NewPayments returns an empty read model; feed it to a Runner.
func NewPayments() *Payments {
	return &Payments{
		known:    knownTypes(payment.Events.Types()),
		byGUID:   map[guidKey]int32{},
		syms:     newSymbols(),
		lower:    []sym{0},
		acctOf:   newGUIDMap(),
		issuer:   -1,
		hashes:   []hashRow{{}},
		hashOf:   map[[32]byte]int32{},
		oddHash:  map[string]int32{},
		byCP:     map[sym]*orderedIDs{},
		byBranch: map[sym]*orderedIDs{},
		byStatus: postings[statusScope]{},
		byPair:   map[[2]sym][]int32{},
	}
}

func (p *Payments) Name() string { return "payments" }

func (p *Payments) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypePrefixes: payment.EventTypePrefixes}
}

// errPaymentEvent is an event that cannot be in a consistent log of payments: the Runner stops on it.
func errPaymentEvent(eventType, guid, format string, args ...any) error {
	return fmt.Errorf("projections: payments: %s of payment %q: %s", eventType, guid, fmt.Sprintf(format, args...))
}

// Apply folds one event. It decodes and checks the event before taking the lock, so readers wait only for
// the index changes, and it changes nothing when it returns an error. A malformed event, a payment created
// twice, an event of a payment never created, and a step the payment's status does not allow (the domain's
// rules: only a draft is confirmed or cancelled, only a pending payment settles, a final one never moves)
// are errors.
func (p *Payments) Apply(ev eventstore.RecordedEvent) error {
	if !p.known[ev.Type] {
		return nil
	}
	e, err := p.decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case payment.PaymentCreated:
		return p.created(ev.Type, e)
	case payment.PaymentConfirmed:
		return p.step(ev.Type, e.GUID, e.At, func(id int32, r *paymentRow) error {
			if r.status != payCreated {
				return errPaymentEvent(ev.Type, e.GUID, "the payment is %s, not a draft", payment.Statuses[r.status-1])
			}
			p.setStatus(id, r, payPending)
			r.bank, r.updated = p.intern(e.BankGUID), toNanos(e.At)
			p.pending.insert(id, p.pendingKey)
			return nil
		})
	case payment.PaymentSettled:
		if e.Hash == "" {
			return errPaymentEvent(ev.Type, e.GUID, "no hash")
		}
		return p.step(ev.Type, e.GUID, e.At, func(id int32, r *paymentRow) error {
			if r.status != payPending {
				return errPaymentEvent(ev.Type, e.GUID, "the payment is %s, not pending", payment.Statuses[r.status-1])
			}
			p.unpend(id)
			p.setStatus(id, r, payConfirmed)
			r.ledger, r.updated = e.Ledger, toNanos(e.At)
			p.addHash(id, r, e.Hash)
			return nil
		})
	case payment.PaymentFailed:
		if e.Reason == "" {
			return errPaymentEvent(ev.Type, e.GUID, "no reason")
		}
		return p.step(ev.Type, e.GUID, e.At, func(id int32, r *paymentRow) error {
			switch r.status {
			case payPending:
				p.unpend(id)
			case payCreated:
			default:
				return errPaymentEvent(ev.Type, e.GUID, "the payment is %s already", payment.Statuses[r.status-1])
			}
			p.setStatus(id, r, payFailed)
			r.reason, r.updated = p.text.put(e.Reason), toNanos(e.At)
			return nil
		})
	case payment.PaymentCancelled:
		return p.step(ev.Type, e.GUID, e.At, func(id int32, r *paymentRow) error {
			if r.status != payCreated {
				return errPaymentEvent(ev.Type, e.GUID, "the payment is %s, not a draft", payment.Statuses[r.status-1])
			}
			p.setStatus(id, r, payCancelled)
			r.updated = toNanos(e.At)
			r.deleted = r.updated
			return nil
		})
	case payment.PaymentSignatureRequested, payment.PaymentSigned, payment.PaymentSignatureRefused:
		return nil // multisignature steps: in the payment's history (its stream), not in the list's columns
	}
	return fmt.Errorf("projections: payments: %s decodes to %T, which the read model does not know", ev.Type, e)
}

// The event types Apply handles. TestPaymentsDecoderKnowsEveryField fails when the codec's types or the
// events' JSON members change, so that the decoder below is taught them.
const (
	typePaymentCreated   = "PaymentCreated"
	typePaymentConfirmed = "PaymentConfirmed"
	typePaymentSettled   = "PaymentSettled"
	typePaymentFailed    = "PaymentFailed"
	typePaymentCancelled = "PaymentCancelled"
)

// The JSON member names of each payment event, for telling an unknown member from a field name in another
// case (which encoding/json would take: the slow path decides it).
var (
	paymentPartyFields     = []string{"account_guid", "kind", "counterparty_guid", "address", "iban", "branch_guid", "customer_guid"}
	paymentCreatedFields   = []string{"guid", "counterparty_guid", "branch_guid", "sender", "receiver", "amount", "asset_code", "asset_issuer", "category_guid", "category", "purpose", "target_balance", "emission", "created_by", "at"}
	paymentConfirmedFields = []string{"guid", "bank_guid", "by", "limits", "at"}
	paymentSettledFields   = []string{"guid", "hash", "ledger", "at"}
	paymentFailedFields    = []string{"guid", "reason", "at"}
	paymentCancelledFields = []string{"guid", "by", "at"}
)

// decode reads an event with the fast reader of the customers model (jsonIn), which is exact or gives up;
// when it gives up, the domain codec decides. Decoding with encoding/json was three quarters of Apply's
// time. Values many payments share are taken from the symbol table without allocating: only Apply's
// goroutine adds symbols, so reading them here, before taking the lock, races with nothing.
func (p *Payments) decode(eventType string, data []byte) (payment.Event, error) {
	r := &p.in
	r.reset(data)
	var e payment.Event
	switch eventType {
	case typePaymentCreated:
		e = p.readCreated()
	case typePaymentConfirmed:
		var c payment.PaymentConfirmed
		r.object(func(k []byte) {
			switch string(k) {
			case "guid":
				p.readStr(&c.GUID, false)
			case "bank_guid":
				p.readStr(&c.BankGUID, true)
			case "by":
				p.readStr(&c.By, true)
			case "limits":
				r.skip() // the limits the reservation passed: history, not a column of the list
			case "at":
				r.time(&c.At)
			default:
				r.unknown(k, paymentConfirmedFields...)
			}
		})
		e = c
	case typePaymentSettled:
		var c payment.PaymentSettled
		r.object(func(k []byte) {
			switch string(k) {
			case "guid":
				p.readStr(&c.GUID, false)
			case "hash":
				p.readStr(&c.Hash, false)
			case "ledger":
				if v, ok := r.integer(); ok {
					if v != int64(int32(v)) {
						r.bail() // encoding/json refuses it
					}
					c.Ledger = int32(v)
				}
			case "at":
				r.time(&c.At)
			default:
				r.unknown(k, paymentSettledFields...)
			}
		})
		e = c
	case typePaymentFailed:
		var c payment.PaymentFailed
		r.object(func(k []byte) {
			switch string(k) {
			case "guid":
				p.readStr(&c.GUID, false)
			case "reason":
				p.readStr(&c.Reason, true)
			case "at":
				r.time(&c.At)
			default:
				r.unknown(k, paymentFailedFields...)
			}
		})
		e = c
	case typePaymentCancelled:
		var c payment.PaymentCancelled
		r.object(func(k []byte) {
			switch string(k) {
			case "guid":
				p.readStr(&c.GUID, false)
			case "by":
				p.readStr(&c.By, true)
			case "at":
				r.time(&c.At)
			default:
				r.unknown(k, paymentCancelledFields...)
			}
		})
		e = c
	}
	r.end()
	if e != nil && !r.slow {
		return e, nil
	}
	return payment.Events.Decode(eventType, data)
}

// readStr reads a string member into dst, leaving it alone for null as encoding/json does; shared takes a
// value the symbol table holds without allocating.
func (p *Payments) readStr(dst *string, shared bool) {
	b, ok := p.in.str()
	switch {
	case !ok:
	case shared:
		*dst = p.syms.text(b)
	default:
		*dst = string(b)
	}
}

func (p *Payments) readParty(x *payment.Party) {
	r := &p.in
	r.object(func(k []byte) {
		switch string(k) {
		case "account_guid":
			p.readStr(&x.AccountGUID, false)
		case "kind":
			s := string(x.Kind)
			p.readStr(&s, true)
			x.Kind = payment.Kind(s)
		case "counterparty_guid":
			p.readStr(&x.CounterpartyGUID, true)
		case "address":
			p.readStr(&x.Address, false)
		case "iban":
			p.readStr(&x.IBAN, false)
		case "branch_guid":
			p.readStr(&x.BranchGUID, true)
		case "customer_guid":
			p.readStr(&x.CustomerGUID, false)
		default:
			r.unknown(k, paymentPartyFields...)
		}
	})
}

func (p *Payments) readCreated() payment.PaymentCreated {
	var c payment.PaymentCreated
	r := &p.in
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			p.readStr(&c.GUID, false)
		case "counterparty_guid":
			p.readStr(&c.CounterpartyGUID, true)
		case "branch_guid":
			p.readStr(&c.BranchGUID, true)
		case "sender":
			p.readParty(&c.Sender)
		case "receiver":
			p.readParty(&c.Receiver)
		case "amount":
			if v, ok := r.integer(); ok {
				c.Amount = v
			}
		case "asset_code":
			p.readStr(&c.AssetCode, true)
		case "asset_issuer":
			p.readStr(&c.AssetIssuer, true)
		case "category_guid":
			p.readStr(&c.CategoryGUID, true)
		case "category":
			p.readStr(&c.Category, true)
		case "purpose":
			p.readStr(&c.Purpose, false)
		case "target_balance":
			if v, ok := r.integer(); ok {
				c.TargetBalance = &v
			} else {
				c.TargetBalance = nil // null empties a pointer
			}
		case "emission":
			p.readStr(&c.Emission, false)
		case "created_by":
			p.readStr(&c.CreatedBy, true)
		case "at":
			r.time(&c.At)
		default:
			r.unknown(k, paymentCreatedFields...)
		}
	})
	return c
}

// step applies an event to an existing payment; change must return any error before it changes anything.
func (p *Payments) step(eventType, guid string, at time.Time, change func(int32, *paymentRow) error) error {
	key, ok := parseGUID(guid)
	if !ok {
		return errPaymentEvent(eventType, guid, "malformed GUID")
	}
	if at.IsZero() {
		return errPaymentEvent(eventType, guid, "no time")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.byGUID[key]
	if !ok {
		return errPaymentEvent(eventType, guid, "the payment was never created")
	}
	return change(id, p.rows.at(id))
}

func (p *Payments) unpend(id int32) {
	if !p.pending.remove(id, p.pendingKey) {
		// The pending order and the rows disagree: every later answer of Pending would be wrong.
		panic(fmt.Sprintf("projections: payments: pending payment %s is not in the pending order", p.rows.at(id).guid))
	}
}

func (p *Payments) created(eventType string, e payment.PaymentCreated) error {
	key, ok := parseGUID(e.GUID)
	switch {
	case !ok:
		return errPaymentEvent(eventType, e.GUID, "malformed GUID")
	case e.CounterpartyGUID == "":
		return errPaymentEvent(eventType, e.GUID, "no counterparty")
	case e.Amount <= 0:
		return errPaymentEvent(eventType, e.GUID, "amount %d is not positive", e.Amount)
	case e.AssetCode == "" || e.AssetIssuer == "":
		return errPaymentEvent(eventType, e.GUID, "no asset")
	case e.Sender.Address == "" || e.Receiver.Address == "":
		return errPaymentEvent(eventType, e.GUID, "a side has no address")
	case e.At.IsZero():
		return errPaymentEvent(eventType, e.GUID, "no time")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.byGUID[key]; dup {
		return errPaymentEvent(eventType, e.GUID, "created twice")
	}
	id, r := p.rows.add()
	*r = paymentRow{guid: key, created: toNanos(e.At), deleted: noNanos, amount: e.Amount,
		creator: p.intern(e.CounterpartyGUID), branch: p.intern(e.BranchGUID),
		assetCode: p.intern(e.AssetCode), assetIssuer: p.intern(e.AssetIssuer),
		categoryGUID: p.intern(e.CategoryGUID), category: p.intern(e.Category), createdBy: p.intern(e.CreatedBy),
		purpose: p.text.put(e.Purpose), emission: p.text.put(e.Emission),
		nextSent: -1, nextRecv: -1, nextHash: -1}
	r.updated = r.created
	if e.TargetBalance != nil {
		r.target, r.hasTarget = *e.TargetBalance, true
	}
	r.sender, r.senderAcct = p.party(e.Sender)
	r.receiver, r.receiverAcct = p.party(e.Receiver)
	s, t := p.parties.at(r.sender), p.parties.at(r.receiver)
	r.senderCP, r.receiverCP = p.lower[s.counterparty], p.lower[t.counterparty]
	r.senderBranch, r.receiverBranch = p.lower[s.branch], p.lower[t.branch]
	if r.senderAcct >= 0 {
		a := p.accounts.at(r.senderAcct)
		r.nextSent, a.sent = a.sent, id
		a.nSent++
	}
	if r.receiverAcct >= 0 {
		a := p.accounts.at(r.receiverAcct)
		r.nextRecv, a.recv = a.recv, id
		a.nRecv++
	}
	p.byGUID[key] = id
	cps := paymentScopes(p.lower[r.creator], r.senderCP, r.receiverCP)
	for i, cp := range cps.all() {
		p.order(p.byCP, cp).insert(id, p.createdKey)
		p.byStatus.add(statusScope{cp, payCreated}, id, &r.statusSlot[i])
	}
	r.status = payCreated
	pair := [2]sym{r.senderCP, r.receiverCP}
	p.byPair[pair] = append(p.byPair[pair], id)
	branches := paymentScopes(p.lower[r.branch], r.senderBranch, r.receiverBranch)
	for _, b := range branches.all() {
		p.order(p.byBranch, b).insert(id, p.createdKey)
	}
	return nil
}

// setStatus moves a payment to another status, in its status postings too.
func (p *Payments) setStatus(id int32, r *paymentRow, status uint8) {
	cps := paymentScopes(p.lower[r.creator], r.senderCP, r.receiverCP)
	for i, cp := range cps.all() {
		p.byStatus.remove(statusScope{cp, r.status}, id, func(other int32) *int32 { return p.statusSlot(other, cp) })
		p.byStatus.add(statusScope{cp, status}, id, &r.statusSlot[i])
	}
	r.status = status
}

// statusSlot is where row id sits in the status postings of counterparty cp.
func (p *Payments) statusSlot(id int32, cp sym) *int32 {
	r := p.rows.at(id)
	cps := paymentScopes(p.lower[r.creator], r.senderCP, r.receiverCP)
	return &r.statusSlot[slices.Index(cps.all(), cp)]
}

// scopes is a payment's counterparties (creator, sender's, receiver's) or branches (created in, sender's,
// receiver's), lower-cased: the non-zero ones, each once, in that order.
type scopes struct {
	s [3]sym
	n int
}

func paymentScopes(a, b, c sym) scopes {
	var out scopes
	for _, s := range [3]sym{a, b, c} {
		if s != 0 && !slices.Contains(out.s[:out.n], s) {
			out.s[out.n] = s
			out.n++
		}
	}
	return out
}

func (s *scopes) all() []sym { return s.s[:s.n] }

func (p *Payments) order(m map[sym]*orderedIDs, k sym) *orderedIDs {
	o := m[k]
	if o == nil {
		o = &orderedIDs{}
		m[k] = o
	}
	return o
}

// intern returns the symbol of s, making it and the symbol of its lower-cased text if new.
func (p *Payments) intern(s string) sym {
	v := p.syms.add(s)
	if int(v) == len(p.lower) {
		p.lower = append(p.lower, v)
		if l := strings.ToLower(s); l != s {
			p.lower[v] = p.intern(l)
		}
	}
	return v
}

// lowerSym is the symbol of s lower-cased, if any row may hold it.
func (p *Payments) lowerSym(s string) (sym, bool) { return p.syms.find(strings.ToLower(s)) }

// party returns the party of x, making it if this account was never seen so, and its account (-1 for none).
func (p *Payments) party(x payment.Party) (id, acct int32) {
	acct = -1
	head := &p.issuer
	if x.AccountGUID != "" {
		g := toGID(x.AccountGUID)
		a, ok := p.acctOf.find(g)
		if !ok {
			a, _ = p.accounts.add()
			*p.accounts.at(a) = accountPayments{parties: -1, sent: -1, recv: -1}
			p.acctOf.set(g, a)
		}
		acct = a
		head = &p.accounts.at(a).parties
	}
	for id := *head; id >= 0; id = p.parties.at(id).next {
		if p.sameParty(p.parties.at(id), x) {
			return id, acct
		}
	}
	id, r := p.parties.add()
	*r = partyRow{account: acct, accountGUID: p.text.put(x.AccountGUID), kind: p.intern(string(x.Kind)),
		counterparty: p.intern(x.CounterpartyGUID), address: p.text.put(x.Address), iban: p.text.put(x.IBAN),
		branch: p.intern(x.BranchGUID), customer: p.text.put(x.CustomerGUID), next: *head}
	*head = id
	return id, acct
}

func (p *Payments) sameParty(r *partyRow, x payment.Party) bool {
	return p.syms.list[r.kind] == string(x.Kind) && p.syms.list[r.counterparty] == x.CounterpartyGUID &&
		p.syms.list[r.branch] == x.BranchGUID && string(p.text.bytes(r.accountGUID)) == x.AccountGUID &&
		string(p.text.bytes(r.address)) == x.Address && string(p.text.bytes(r.iban)) == x.IBAN &&
		string(p.text.bytes(r.customer)) == x.CustomerGUID
}

func (p *Payments) partyView(id int32) payment.Party {
	r := p.parties.at(id)
	return payment.Party{AccountGUID: p.text.str(r.accountGUID), Kind: payment.Kind(p.syms.list[r.kind]),
		CounterpartyGUID: p.syms.list[r.counterparty], Address: p.text.str(r.address), IBAN: p.text.str(r.iban),
		BranchGUID: p.syms.list[r.branch], CustomerGUID: p.text.str(r.customer)}
}

// txHashKey reads a Stellar transaction hash (64 hexadecimal digits, either case) into its 32 bytes.
func txHashKey(s string) (k [32]byte, ok bool) {
	if len(s) != 64 {
		return k, false
	}
	for i := range k {
		hi, lo := hexDigits[s[2*i]], hexDigits[s[2*i+1]]
		if hi|lo > 15 {
			return k, false
		}
		k[i] = hi<<4 | lo
	}
	return k, true
}

// findHash is the index in hashes of hash h, or 0.
func (p *Payments) findHash(h string) int32 {
	if k, ok := txHashKey(h); ok {
		return p.hashOf[k]
	}
	return p.oddHash[h]
}

func (p *Payments) addHash(id int32, r *paymentRow, h string) {
	x := p.findHash(h)
	if x == 0 {
		x = int32(len(p.hashes))
		p.hashes = append(p.hashes, hashRow{text: p.text.put(h), head: -1})
		if k, ok := txHashKey(h); ok {
			p.hashOf[k] = x
		} else {
			p.oddHash[h] = x
		}
	}
	hr := &p.hashes[x]
	r.hash, r.nextHash, hr.head = x, hr.head, id
	hr.n++
}

// createdKey and pendingKey are the keys of compareCreated and comparePending, for orderedIDs.
func (p *Payments) createdKey(id int32) orderKey {
	r := p.rows.at(id)
	return orderKey{r.created, r.guid}
}

func (p *Payments) pendingKey(id int32) orderKey {
	r := p.rows.at(id)
	return orderKey{r.updated, r.guid}
}

// compareCreated orders payments by creation time, then GUID (the order of lists).
func (p *Payments) compareCreated(a, b int32) int {
	ra, rb := p.rows.at(a), p.rows.at(b)
	if c := cmp.Compare(ra.created, rb.created); c != 0 {
		return c
	}
	return bytes.Compare(ra.guid[:], rb.guid[:])
}

// comparePending orders pending payments by confirmation time (their update time, which does not change
// while they are pending), then GUID.
func (p *Payments) comparePending(a, b int32) int {
	ra, rb := p.rows.at(a), p.rows.at(b)
	if c := cmp.Compare(ra.updated, rb.updated); c != 0 {
		return c
	}
	return bytes.Compare(ra.guid[:], rb.guid[:])
}

// Len is the number of payments.
func (p *Payments) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byGUID)
}

// Payment returns a payment by GUID, whoever's it is: check VisibleTo before showing it to a bank.
func (p *Payments) Payment(guid string) (Payment, bool) {
	key, ok := parseGUID(guid)
	if !ok {
		return Payment{}, false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	id, ok := p.byGUID[key]
	if !ok {
		return Payment{}, false
	}
	return p.view(id), true
}

// Pending returns the GUIDs of up to limit PENDING payments, the longest pending first (by confirmation
// time, then GUID). A limit of 0 or less means DefaultPaymentLimit; more than MaxPendingLimit is cut to it.
func (p *Payments) Pending(limit int) []string {
	if limit <= 0 {
		limit = DefaultPaymentLimit
	}
	limit = min(limit, MaxPendingLimit)
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, min(limit, p.pending.n))
	p.pending.walk(0, min(limit, p.pending.n), false, func(id int32) bool {
		out = append(out, p.rows.at(id).guid.String())
		return true
	})
	return out
}

func (p *Payments) view(id int32) Payment {
	r := p.rows.at(id)
	v := Payment{GUID: r.guid.String(), CounterpartyGUID: p.syms.list[r.creator], BranchGUID: p.syms.list[r.branch],
		Sender: p.partyView(r.sender), Receiver: p.partyView(r.receiver), Amount: r.amount,
		AssetCode: p.syms.list[r.assetCode], AssetIssuer: p.syms.list[r.assetIssuer],
		CategoryGUID: p.syms.list[r.categoryGUID], Category: p.syms.list[r.category], Purpose: p.text.str(r.purpose),
		Status: payment.Statuses[r.status-1], BankGUID: p.syms.list[r.bank], Ledger: r.ledger, Reason: p.text.str(r.reason),
		Emission: p.text.str(r.emission), CreatedBy: p.syms.list[r.createdBy],
		CreatedAt: fromNanos(r.created), UpdatedAt: fromNanos(r.updated), DeletedAt: fromNanos(r.deleted)}
	if r.hasTarget {
		t := r.target
		v.TargetBalance = &t
	}
	if r.hash != 0 {
		v.Hash = p.text.str(p.hashes[r.hash].text)
	}
	return v
}

// ---- Lists ----

// paymentFilter is a checked query with its values resolved against the model. A nil set matches anything.
type paymentFilter struct {
	desc          bool
	offset, limit int

	cp, branch           sym               // lower-cased; branch 0 for none
	senderCP, receiverCP sym               // lower-cased; 0 for none
	guids                map[guidKey]int32 // → row
	senders, receivers   map[int32]bool    // accounts
	hashes               map[int32]bool    // in Payments.hashes
	minAmount, maxAmount int64
	statuses             uint32 // mask; 0 for any
	assetCodes           map[sym]bool
	assetIssuers         map[sym]bool
	categories           map[sym]bool // lower-cased
	createdFrom          int64
	createdTo            int64
	updatedFrom          int64
	updatedTo            int64

	// What the source of candidates does not vouch for: set by find.
	checkCP, checkCreated bool
}

// check validates q; it needs no lock.
func (q PaymentQuery) check() (paymentFilter, error) {
	f := paymentFilter{offset: q.Offset, limit: q.Limit, minAmount: math.MinInt64, maxAmount: math.MaxInt64,
		createdFrom: math.MinInt64, createdTo: math.MaxInt64, updatedFrom: math.MinInt64, updatedTo: math.MaxInt64}
	if q.Counterparty == "" {
		return f, &PaymentQueryError{Field: "counterparty_guid", Reason: "is required"}
	}
	switch {
	case q.Order == "" || strings.EqualFold(q.Order, "desc"):
		f.desc = true
	case strings.EqualFold(q.Order, "asc"):
	default:
		return f, &PaymentQueryError{Field: "order", Reason: "must be asc or desc"}
	}
	switch {
	case q.Offset < 0:
		return f, &PaymentQueryError{Field: "offset", Reason: "must not be negative"}
	case q.Limit < 0 || q.Limit > MaxPaymentLimit:
		return f, &PaymentQueryError{Field: "limit", Reason: fmt.Sprintf("must be 0 to %d", MaxPaymentLimit)}
	case q.Limit == 0:
		f.limit = DefaultPaymentLimit
	}
	for _, l := range []struct {
		field  string
		values int
	}{{"guids", len(q.GUIDs)}, {"sender_ids", len(q.SenderIDs)}, {"receiver_ids", len(q.ReceiverIDs)},
		{"hashes", len(q.Hashes)}, {"statuses", len(q.Statuses)}, {"asset_codes", len(q.AssetCodes)},
		{"asset_issuers", len(q.AssetIssuers)}, {"category_guids", len(q.CategoryGUIDs)}} {
		if l.values > MaxListFilterValues {
			return f, &PaymentQueryError{Field: l.field, Reason: fmt.Sprintf("has %d values, at most %d", l.values, MaxListFilterValues)}
		}
	}
	for _, s := range q.Statuses {
		c := paymentStatusCode(s)
		if c == 0 {
			return f, &PaymentQueryError{Field: "statuses", Reason: fmt.Sprintf("%.40q is not a status", s)}
		}
		f.statuses |= 1 << c
	}
	if q.MinAmount != nil {
		f.minAmount = *q.MinAmount
	}
	if q.MaxAmount != nil {
		f.maxAmount = *q.MaxAmount
	}
	if !q.CreatedFrom.IsZero() {
		f.createdFrom = toNanos(q.CreatedFrom)
	}
	if !q.CreatedTo.IsZero() {
		f.createdTo = toNanos(q.CreatedTo)
	}
	if !q.UpdatedFrom.IsZero() {
		f.updatedFrom = toNanos(q.UpdatedFrom)
	}
	if !q.UpdatedTo.IsZero() {
		f.updatedTo = toNanos(q.UpdatedTo)
	}
	return f, nil
}

// resolve turns q's values into the model's symbols, rows and accounts; ok is false when no payment can
// match (a value no payment holds in a filter whose every value is such). The caller holds p.mu.
func (p *Payments) resolve(q PaymentQuery, f *paymentFilter) (ok bool) {
	if f.minAmount > f.maxAmount || f.createdFrom > f.createdTo || f.updatedFrom > f.updatedTo {
		return false
	}
	if f.cp, ok = p.lowerSym(q.Counterparty); !ok {
		return false
	}
	for _, v := range []struct {
		s   string
		dst *sym
	}{{q.Branch, &f.branch}, {q.SenderCounterparty, &f.senderCP}, {q.ReceiverCounterparty, &f.receiverCP}} {
		if v.s == "" {
			continue
		}
		if *v.dst, ok = p.lowerSym(v.s); !ok || *v.dst == 0 {
			return false
		}
	}
	if len(q.GUIDs) > 0 {
		f.guids = map[guidKey]int32{}
		for _, g := range q.GUIDs {
			if k, ok := parseGUID(g); ok {
				if id, ok := p.byGUID[k]; ok {
					f.guids[k] = id
				}
			}
		}
		if len(f.guids) == 0 {
			return false
		}
	}
	if len(q.Hashes) > 0 {
		f.hashes = map[int32]bool{}
		for _, h := range q.Hashes {
			if x := p.findHash(h); x != 0 {
				f.hashes[x] = true
			}
		}
		if len(f.hashes) == 0 {
			return false
		}
	}
	for _, v := range []struct {
		ids []string
		dst *map[int32]bool
	}{{q.SenderIDs, &f.senders}, {q.ReceiverIDs, &f.receivers}} {
		if len(v.ids) == 0 {
			continue
		}
		*v.dst = map[int32]bool{}
		for _, g := range v.ids {
			if a, ok := p.acctOf.find(toGID(g)); ok {
				(*v.dst)[a] = true
			}
		}
		if len(*v.dst) == 0 {
			return false
		}
	}
	for _, v := range []struct {
		values []string
		fold   bool
		dst    *map[sym]bool
	}{{q.AssetCodes, false, &f.assetCodes}, {q.AssetIssuers, false, &f.assetIssuers}, {q.CategoryGUIDs, true, &f.categories}} {
		if len(v.values) == 0 {
			continue
		}
		*v.dst = map[sym]bool{}
		for _, s := range v.values {
			find := p.syms.find
			if v.fold {
				find = p.lowerSym
			}
			if x, ok := find(s); ok && x != 0 {
				(*v.dst)[x] = true
			}
		}
		if len(*v.dst) == 0 {
			return false
		}
	}
	return true
}

// match checks r against every filter its source of candidates does not vouch for.
func (p *Payments) match(r *paymentRow, f *paymentFilter) bool {
	switch {
	case f.checkCP && p.lower[r.creator] != f.cp && r.senderCP != f.cp && r.receiverCP != f.cp,
		f.branch != 0 && p.lower[r.branch] != f.branch && (r.senderBranch != f.branch || r.senderCP != f.cp) &&
			(r.receiverBranch != f.branch || r.receiverCP != f.cp),
		f.checkCreated && (r.created < f.createdFrom || r.created > f.createdTo),
		r.updated < f.updatedFrom || r.updated > f.updatedTo,
		r.amount < f.minAmount || r.amount > f.maxAmount,
		f.statuses != 0 && f.statuses&(1<<r.status) == 0,
		f.senderCP != 0 && r.senderCP != f.senderCP,
		f.receiverCP != 0 && r.receiverCP != f.receiverCP,
		f.senders != nil && !f.senders[r.senderAcct],
		f.receivers != nil && !f.receivers[r.receiverAcct],
		f.assetCodes != nil && !f.assetCodes[r.assetCode],
		f.assetIssuers != nil && !f.assetIssuers[r.assetIssuer],
		f.categories != nil && !f.categories[p.lower[r.categoryGUID]],
		f.hashes != nil && !f.hashes[r.hash],
		f.guids != nil && !mapHas(f.guids, r.guid):
		return false
	}
	return true
}

func mapHas[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// rowFilters reports whether f has a filter that only the rows can answer, beyond what the source vouches.
func (f *paymentFilter) rowFilters() bool {
	return f.checkCP || f.branch != 0 || f.checkCreated || f.senderCP != 0 || f.receiverCP != 0 || f.guids != nil ||
		f.senders != nil || f.receivers != nil || f.hashes != nil || f.statuses != 0 || f.assetCodes != nil ||
		f.assetIssuers != nil || f.categories != nil || f.minAmount != math.MinInt64 || f.maxAmount != math.MaxInt64 ||
		f.updatedFrom != math.MinInt64 || f.updatedTo != math.MaxInt64
}

// unsortedCost weighs a candidate set that must be gathered from chains and sorted against a walk of an
// order: a chain visits rows at random and the page needs a sort.
const unsortedCost = 4

// List returns a page of the bank's payments that match q, and how many match in all.
func (p *Payments) List(q PaymentQuery) ([]Payment, int, error) {
	f, err := q.check()
	if err != nil {
		return nil, 0, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.resolve(q, &f) {
		return []Payment{}, 0, nil
	}
	ids, total := p.find(&f)
	out := make([]Payment, len(ids))
	for i, id := range ids {
		out[i] = p.view(id)
	}
	return out, total, nil
}

// find returns the page of row ids and the number of matches. The caller holds p.mu.
func (p *Payments) find(f *paymentFilter) (page []int32, total int) {
	src := p.byCP[f.cp]
	if src == nil {
		return nil, 0
	}
	lo, hi := src.cut(p, f.createdFrom, f.createdTo)
	if f.branch != 0 {
		// The branch's order holds every payment with a side in the branch, of whichever bank: a superset,
		// so match still checks the branch.
		b := p.byBranch[f.branch]
		if b == nil {
			return nil, 0
		}
		if blo, bhi := b.cut(p, f.createdFrom, f.createdTo); bhi-blo < hi-lo {
			src, lo, hi = b, blo, bhi
			f.checkCP = true
		}
	}

	// The cheapest set of candidates that comes from elsewhere, gathered and sorted.
	var gather func(add func(int32))
	best := math.MaxInt
	consider := func(n int, g func(add func(int32))) {
		if n < best {
			best, gather = n, g
		}
	}
	if f.guids != nil {
		consider(len(f.guids), func(add func(int32)) {
			for _, id := range f.guids {
				add(id)
			}
		})
	}
	if f.hashes != nil {
		n := 0
		for x := range f.hashes {
			n += int(p.hashes[x].n)
		}
		consider(n, func(add func(int32)) {
			for x := range f.hashes {
				for id := p.hashes[x].head; id >= 0; id = p.rows.at(id).nextHash {
					add(id)
				}
			}
		})
	}
	if f.statuses != 0 {
		n := 0
		for c := range uint8(len(payment.Statuses)) {
			if f.statuses&(1<<(c+1)) != 0 {
				n += len(p.byStatus[statusScope{f.cp, c + 1}])
			}
		}
		consider(n, func(add func(int32)) {
			for c := range uint8(len(payment.Statuses)) {
				if f.statuses&(1<<(c+1)) != 0 {
					for _, id := range p.byStatus[statusScope{f.cp, c + 1}] {
						add(id)
					}
				}
			}
		})
	}
	if f.senderCP != 0 && f.receiverCP != 0 {
		ids := p.byPair[[2]sym{f.senderCP, f.receiverCP}]
		consider(len(ids), func(add func(int32)) {
			for _, id := range ids {
				add(id)
			}
		})
	}
	for _, side := range []struct {
		accts map[int32]bool
		sent  bool
	}{{f.senders, true}, {f.receivers, false}} {
		if side.accts == nil {
			continue
		}
		n := 0
		for a := range side.accts {
			if side.sent {
				n += int(p.accounts.at(a).nSent)
			} else {
				n += int(p.accounts.at(a).nRecv)
			}
		}
		consider(n, func(add func(int32)) {
			for a := range side.accts {
				if side.sent {
					for id := p.accounts.at(a).sent; id >= 0; id = p.rows.at(id).nextSent {
						add(id)
					}
				} else {
					for id := p.accounts.at(a).recv; id >= 0; id = p.rows.at(id).nextRecv {
						add(id)
					}
				}
			}
		})
	}

	if gather != nil && best*unsortedCost < hi-lo {
		f.checkCP, f.checkCreated = true, true
		var ids []int32
		gather(func(id int32) {
			if p.match(p.rows.at(id), f) {
				ids = append(ids, id)
			}
		})
		slices.SortFunc(ids, p.compareCreated)
		if f.desc {
			slices.Reverse(ids)
		}
		total = len(ids)
		if f.offset >= total {
			return nil, total
		}
		return ids[f.offset:min(total, f.offset+f.limit)], total
	}

	if !f.rowFilters() {
		total = hi - lo
		if f.offset >= total {
			return nil, total
		}
		n := min(f.limit, total-f.offset)
		page = make([]int32, 0, n)
		from, to := lo+f.offset, lo+f.offset+n
		if f.desc {
			from, to = hi-f.offset-n, hi-f.offset
		}
		src.walk(from, to, f.desc, func(id int32) bool {
			page = append(page, id)
			return true
		})
		return page, total
	}
	src.walk(lo, hi, f.desc, func(id int32) bool {
		if p.match(p.rows.at(id), f) {
			if total >= f.offset && len(page) < f.limit {
				page = append(page, id)
			}
			total++
		}
		return true
	})
	return page, total
}

// ---- orderedIDs ----

// orderedBlock is the capacity of a block of an orderedIDs: an insertion moves at most this many ids.
const orderedBlock = 512

// orderedIDs keeps row ids sorted by a key that does not change while the row is in it, in blocks of at
// most orderedBlock ids. Adding in order (nearly always: payments reach the log in about the order of their
// creation) appends to the last block; an id out of order is put in its block, found by binary search,
// which splits when full. So an insertion or a removal costs O(log n + orderedBlock) (and moves the block
// list's headers on a split, a few thousand words at most), and a walk from any position needs no sort.
//
// Each block's last key is kept beside the blocks, so that finding the block reads one small array instead
// of a row per step (rows are scattered: in a rebuild that was most of an insertion's time).
type orderedIDs struct {
	blocks [][]int32  // none empty
	last   []orderKey // last[i] is the key of blocks[i]'s last id
	n      int
	// spare is the array of the last block removed, for the next new block: the pending order empties and
	// fills again with every payment settled, and would otherwise make a block's worth of garbage each time.
	spare []int32
}

// newBlock returns an empty block of capacity orderedBlock.
func (o *orderedIDs) newBlock() []int32 {
	if b := o.spare; b != nil {
		o.spare = nil
		return b[:0]
	}
	return make([]int32, 0, orderedBlock)
}

// orderKey is what orderedIDs sort by: a time, then the payment's GUID.
type orderKey struct {
	t int64
	g guidKey
}

func (a orderKey) compare(b orderKey) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	return bytes.Compare(a.g[:], b.g[:])
}

// findBlock is the first block whose last key is above k (or at or above it, with orEqual); len(blocks)
// when there is none.
func (o *orderedIDs) findBlock(k orderKey, orEqual bool) int {
	lo, hi := 0, len(o.last)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c := o.last[m].compare(k); c > 0 || orEqual && c == 0 {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// findIn is the first index of b whose key is above k (or at or above it, with orEqual).
func findIn(b []int32, k orderKey, orEqual bool, key func(int32) orderKey) int {
	lo, hi := 0, len(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c := key(b[m]).compare(k); c > 0 || orEqual && c == 0 {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

func (o *orderedIDs) insert(id int32, key func(int32) orderKey) {
	k := key(id)
	o.n++
	if len(o.blocks) == 0 {
		o.blocks = append(o.blocks, append(o.newBlock(), id))
		o.last = append(o.last, k)
		return
	}
	last := len(o.blocks) - 1
	if o.last[last].compare(k) < 0 {
		if len(o.blocks[last]) == orderedBlock {
			o.blocks = append(o.blocks, o.newBlock())
			o.last = append(o.last, orderKey{})
			last++
		}
		o.blocks[last] = append(o.blocks[last], id)
		o.last[last] = k
		return
	}
	bi := o.findBlock(k, false) // < len(blocks): the last block's key is above k
	b := o.blocks[bi]
	j := findIn(b, k, false, key)
	if len(b) == orderedBlock {
		right := append(o.newBlock(), b[orderedBlock/2:]...)
		left := b[:orderedBlock/2] // the left half stays in the block's array
		o.blocks[bi] = left
		o.blocks = slices.Insert(o.blocks, bi+1, right)
		o.last = slices.Insert(o.last, bi, key(left[len(left)-1]))
		if j > orderedBlock/2 {
			bi, j = bi+1, j-orderedBlock/2
		}
		b = o.blocks[bi]
	}
	o.blocks[bi] = slices.Insert(b, j, id)
	if j == len(b) { // only at the end of a split's left half: k is its new last key
		o.last[bi] = k
	}
}

// remove takes id out and reports whether it was there.
func (o *orderedIDs) remove(id int32, key func(int32) orderKey) bool {
	k := key(id)
	bi := o.findBlock(k, true)
	if bi == len(o.blocks) {
		return false
	}
	b := o.blocks[bi]
	j := findIn(b, k, true, key)
	if j == len(b) || b[j] != id {
		return false
	}
	b = slices.Delete(b, j, j+1)
	o.n--
	switch {
	case len(b) == 0:
		o.blocks = slices.Delete(o.blocks, bi, bi+1)
		o.last = slices.Delete(o.last, bi, bi+1)
		if cap(b) == orderedBlock {
			o.spare = b
		}
		return true
	case len(b) < orderedBlock/4 && bi+1 < len(o.blocks) && len(b)+len(o.blocks[bi+1]) <= orderedBlock/2:
		// Keep blocks from thinning out where removals are many (the pending order): merge with the next.
		b = append(b, o.blocks[bi+1]...)
		if next := o.blocks[bi+1]; cap(next) == orderedBlock {
			o.spare = next
		}
		o.blocks = slices.Delete(o.blocks, bi+1, bi+2)
		o.last = slices.Delete(o.last, bi, bi+1) // the merged block ends where the next one did
	case j == len(b):
		o.last[bi] = key(b[len(b)-1])
	}
	o.blocks[bi] = b
	return true
}

// search returns the first position whose id satisfies pred, which must be false then true along the order.
func (o *orderedIDs) search(pred func(int32) bool) int {
	bi := sort.Search(len(o.blocks), func(i int) bool {
		b := o.blocks[i]
		return pred(b[len(b)-1])
	})
	pos := 0
	for _, b := range o.blocks[:bi] {
		pos += len(b)
	}
	if bi < len(o.blocks) {
		b := o.blocks[bi]
		pos += sort.Search(len(b), func(j int) bool { return pred(b[j]) })
	}
	return pos
}

// cut returns the positions [lo, hi) of the payments created in [from, to], for an order by creation.
func (o *orderedIDs) cut(p *Payments, from, to int64) (lo, hi int) {
	lo, hi = 0, o.n
	if from != math.MinInt64 {
		lo = o.search(func(id int32) bool { return p.rows.at(id).created >= from })
	}
	if to != math.MaxInt64 {
		hi = o.search(func(id int32) bool { return p.rows.at(id).created > to })
	}
	return lo, max(lo, hi)
}

// locate returns the block and index of position pos < n.
func (o *orderedIDs) locate(pos int) (bi, j int) {
	for bi = range o.blocks {
		if pos < len(o.blocks[bi]) {
			return bi, pos
		}
		pos -= len(o.blocks[bi])
	}
	panic(errors.New("projections: orderedIDs: position out of range"))
}

// walk calls fn with the ids at positions [lo, hi), in order or, if desc, in reverse, until fn returns false.
func (o *orderedIDs) walk(lo, hi int, desc bool, fn func(int32) bool) {
	if lo >= hi {
		return
	}
	if !desc {
		bi, j := o.locate(lo)
		for n := hi - lo; n > 0; bi, j = bi+1, 0 {
			for _, id := range o.blocks[bi][j:min(len(o.blocks[bi]), j+n)] {
				if !fn(id) {
					return
				}
				n--
			}
		}
		return
	}
	bi, j := o.locate(hi - 1)
	for n := hi - lo; n > 0; {
		b := o.blocks[bi]
		for ; j >= 0 && n > 0; j-- {
			if !fn(b[j]) {
				return
			}
			n--
		}
		if bi--; bi >= 0 {
			j = len(o.blocks[bi]) - 1
		}
	}
}
