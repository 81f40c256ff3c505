package projections_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

var payT0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

const (
	payAsset  = "eUAH"
	payIssuer = "GC63UKIHPPR4F74IZ6BU24ZCJXHO4Y4C2KAUATDAQQFXKRW5FT6AJKYS"
)

// payEvent is e as the store would hand it to the read model.
func payEvent(t testing.TB, e payment.Event) eventstore.RecordedEvent {
	t.Helper()
	typ, data, err := payment.Events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{ID: uuid.New(), Type: typ, Data: data, Stream: "payment-x"}
}

func applyPay(t testing.TB, m *projections.Payments, evs ...payment.Event) {
	t.Helper()
	for _, e := range evs {
		if err := m.Apply(payEvent(t, e)); err != nil {
			t.Fatalf("%T: %v", e, err)
		}
	}
}

// payWorld is a few banks, branches and accounts to pay between.
type payWorld struct {
	a, b, c    string // banks
	a1, a2, b1 string // branches: a1 and a2 of bank a, b1 of b
	parties    map[string]payment.Party
}

func newPayWorld() *payWorld {
	w := &payWorld{a: uuid.NewString(), b: uuid.NewString(), c: uuid.NewString(), a1: uuid.NewString(), a2: uuid.NewString(),
		b1: uuid.NewString(), parties: map[string]payment.Party{}}
	add := func(name string, kind payment.Kind, cp, branch string, customer bool) {
		p := payment.Party{AccountGUID: uuid.NewString(), Kind: kind, CounterpartyGUID: cp, Address: "G" + strings.ToUpper(name) + "ADDR",
			BranchGUID: branch}
		if customer {
			p.CustomerGUID, p.IBAN = uuid.NewString(), "UA21322313000000"+fmt.Sprintf("%013d", len(w.parties))
		}
		w.parties[name] = p
	}
	add("aProc", payment.KindProcessing, w.a, "", false)
	add("aEm", payment.KindEmission, w.a, "", false)
	add("a1Proc", payment.KindProcessing, w.a, w.a1, false)
	add("a1Cust", payment.KindCustomer, w.a, w.a1, true)
	add("a2Cust", payment.KindCustomer, w.a, w.a2, true)
	add("aCust", payment.KindCustomer, w.a, "", true)
	add("bProc", payment.KindProcessing, w.b, "", false)
	add("bCust", payment.KindCustomer, w.b, w.b1, true)
	add("cProc", payment.KindProcessing, w.c, "", false)
	add("cCust", payment.KindCustomer, w.c, "", true)
	w.parties["root"] = payment.Party{Kind: payment.KindRoot, Address: payIssuer}
	return w
}

// draft is a payment from one named party to another, created by the sender's bank.
func (w *payWorld) draft(from, to string, amount int64, at time.Time) payment.PaymentCreated {
	s, r := w.parties[from], w.parties[to]
	cp := s.CounterpartyGUID
	if cp == "" {
		cp = r.CounterpartyGUID
	}
	return payment.PaymentCreated{GUID: uuid.NewString(), CounterpartyGUID: cp, Sender: s, Receiver: r, Amount: amount,
		AssetCode: payAsset, AssetIssuer: payIssuer, Purpose: "for " + to, CreatedBy: "teller@" + cp[:8], At: at}
}

func TestPaymentsLifecycle(t *testing.T) {
	w := newPayWorld()
	m := projections.NewPayments()
	target := int64(4_000)
	c := w.draft("a1Cust", "a1Proc", 1_000, payT0)
	c.BranchGUID, c.CategoryGUID, c.Category, c.TargetBalance = w.a1, uuid.NewString(), "01", &target
	applyPay(t, m, c)
	target = 1 // the model keeps its own copy

	want := projections.Payment{GUID: c.GUID, CounterpartyGUID: w.a, BranchGUID: w.a1, Sender: w.parties["a1Cust"],
		Receiver: w.parties["a1Proc"], Amount: 1_000, AssetCode: payAsset, AssetIssuer: payIssuer, CategoryGUID: c.CategoryGUID,
		Category: "01", Purpose: "for a1Proc", TargetBalance: func() *int64 { v := int64(4_000); return &v }(),
		Status: payment.StatusCreated, CreatedBy: c.CreatedBy, CreatedAt: payT0, UpdatedAt: payT0}
	check := func(step string) {
		t.Helper()
		got, ok := m.Payment(strings.ToUpper(c.GUID))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got  %+v\n want %+v", step, got, want)
		}
	}
	check("created")
	got, _ := m.Payment(c.GUID)
	*got.TargetBalance = 7
	check("a caller changed the target balance it was given")

	at := payT0.Add(time.Minute)
	applyPay(t, m, payment.PaymentConfirmed{GUID: c.GUID, BankGUID: w.a, By: "teller", At: at})
	want.Status, want.BankGUID, want.UpdatedAt = payment.StatusPending, w.a, at
	check("confirmed")
	if p := m.Pending(10); !reflect.DeepEqual(p, []string{c.GUID}) {
		t.Fatalf("pending: %v", p)
	}

	at = at.Add(time.Second)
	hash := strings.Repeat("ab", 32)
	applyPay(t, m, payment.PaymentSettled{GUID: c.GUID, Hash: hash, Ledger: 77, At: at})
	want.Status, want.Hash, want.Ledger, want.UpdatedAt = payment.StatusConfirmed, hash, 77, at
	check("settled")
	if p := m.Pending(10); len(p) != 0 {
		t.Fatalf("a settled payment is pending: %v", p)
	}

	// Failed from PENDING and from CREATED; cancelled from CREATED, which sets DeletedAt.
	f1, f2, x := w.draft("aProc", "bProc", 5, payT0), w.draft("aProc", "aCust", 6, payT0), w.draft("aCust", "aProc", 7, payT0)
	applyPay(t, m, f1, f2, x, payment.PaymentConfirmed{GUID: f1.GUID, BankGUID: w.b, At: payT0.Add(time.Minute)})
	applyPay(t, m, payment.PaymentFailed{GUID: f1.GUID, Reason: "op_underfunded", At: payT0.Add(2 * time.Minute)},
		payment.PaymentFailed{GUID: f2.GUID, Reason: "receiver blocked", At: payT0.Add(3 * time.Minute)},
		payment.PaymentCancelled{GUID: x.GUID, By: "teller", At: payT0.Add(4 * time.Minute)})
	for _, c := range []struct {
		guid   string
		status payment.Status
		reason string
		bank   string
		del    time.Time
	}{
		{f1.GUID, payment.StatusFailed, "op_underfunded", w.b, time.Time{}},
		{f2.GUID, payment.StatusFailed, "receiver blocked", "", time.Time{}},
		{x.GUID, payment.StatusCancelled, "", "", payT0.Add(4 * time.Minute)},
	} {
		p, ok := m.Payment(c.guid)
		if !ok || p.Status != c.status || p.Reason != c.reason || p.BankGUID != c.bank || !p.DeletedAt.Equal(c.del) ||
			p.UpdatedAt.Before(payT0.Add(2*time.Minute)) || p.Fee != 0 || p.TargetBalance != nil {
			t.Fatalf("%s: %+v", c.status, p)
		}
	}
	if p := m.Pending(10); len(p) != 0 {
		t.Fatalf("final payments are pending: %v", p)
	}
	if _, ok := m.Payment(uuid.NewString()); ok {
		t.Fatal("an unknown payment was found")
	}
	if _, ok := m.Payment("not-a-guid"); ok {
		t.Fatal("a malformed GUID was found")
	}
	if m.Len() != 4 {
		t.Fatalf("Len %d", m.Len())
	}

	// An emission payment: the issuer has no account and no counterparty; the bank sees it by its side.
	issue := w.draft("root", "aEm", 50_000, payT0.Add(time.Hour))
	issue.Emission = uuid.NewString()
	applyPay(t, m, issue)
	p, _ := m.Payment(issue.GUID)
	if p.Emission != issue.Emission || p.Sender != w.parties["root"] || p.CounterpartyGUID != w.a || !p.VisibleTo(strings.ToUpper(w.a)) || p.VisibleTo(w.b) {
		t.Fatalf("issue: %+v", p)
	}
	if page, total, err := m.List(projections.PaymentQuery{Counterparty: w.a, GUIDs: []string{issue.GUID}}); err != nil || total != 1 || page[0].GUID != issue.GUID {
		t.Fatalf("issue listed: %v %d %v", page, total, err)
	}
}

func TestPaymentsRefuseInconsistentEvents(t *testing.T) {
	w := newPayWorld()
	m := projections.NewPayments()
	draft, pending, done := w.draft("aProc", "aCust", 10, payT0), w.draft("aProc", "aCust", 11, payT0), w.draft("aProc", "aCust", 12, payT0)
	applyPay(t, m, draft, pending, done,
		payment.PaymentConfirmed{GUID: pending.GUID, At: payT0.Add(time.Second)},
		payment.PaymentConfirmed{GUID: done.GUID, At: payT0.Add(time.Second)},
		payment.PaymentSettled{GUID: done.GUID, Hash: "h", At: payT0.Add(2 * time.Second)})
	snapshot := func() []projections.Payment {
		var out []projections.Payment
		for _, g := range []string{draft.GUID, pending.GUID, done.GUID} {
			p, _ := m.Payment(g)
			out = append(out, p)
		}
		return out
	}
	before := snapshot()
	bad := func(e payment.PaymentCreated, change func(*payment.PaymentCreated)) payment.PaymentCreated {
		change(&e)
		return e
	}
	later := payT0.Add(time.Hour)
	for name, e := range map[string]payment.Event{
		"created twice":             bad(draft, func(e *payment.PaymentCreated) { e.Amount = 99 }),
		"malformed GUID":            bad(draft, func(e *payment.PaymentCreated) { e.GUID = "p-1" }),
		"no counterparty":           bad(draft, func(e *payment.PaymentCreated) { e.GUID, e.CounterpartyGUID = uuid.NewString(), "" }),
		"zero amount":               bad(draft, func(e *payment.PaymentCreated) { e.GUID, e.Amount = uuid.NewString(), 0 }),
		"negative amount":           bad(draft, func(e *payment.PaymentCreated) { e.GUID, e.Amount = uuid.NewString(), -5 }),
		"no asset":                  bad(draft, func(e *payment.PaymentCreated) { e.GUID, e.AssetIssuer = uuid.NewString(), "" }),
		"no address":                bad(draft, func(e *payment.PaymentCreated) { e.GUID, e.Receiver.Address = uuid.NewString(), "" }),
		"no time":                   bad(draft, func(e *payment.PaymentCreated) { e.GUID, e.At = uuid.NewString(), time.Time{} }),
		"confirm unknown":           payment.PaymentConfirmed{GUID: uuid.NewString(), At: later},
		"settle unknown":            payment.PaymentSettled{GUID: uuid.NewString(), Hash: "h", At: later},
		"fail unknown":              payment.PaymentFailed{GUID: uuid.NewString(), Reason: "r", At: later},
		"cancel unknown":            payment.PaymentCancelled{GUID: uuid.NewString(), At: later},
		"confirm malformed GUID":    payment.PaymentConfirmed{GUID: "nope", At: later},
		"confirm without time":      payment.PaymentConfirmed{GUID: draft.GUID},
		"settle a draft":            payment.PaymentSettled{GUID: draft.GUID, Hash: "h", At: later},
		"settle without hash":       payment.PaymentSettled{GUID: pending.GUID, At: later},
		"fail without reason":       payment.PaymentFailed{GUID: pending.GUID, At: later},
		"confirm twice":             payment.PaymentConfirmed{GUID: pending.GUID, At: later},
		"cancel a pending payment":  payment.PaymentCancelled{GUID: pending.GUID, At: later},
		"settle a settled payment":  payment.PaymentSettled{GUID: done.GUID, Hash: "h2", At: later},
		"fail a settled payment":    payment.PaymentFailed{GUID: done.GUID, Reason: "late", At: later},
		"cancel a settled payment":  payment.PaymentCancelled{GUID: done.GUID, At: later},
		"confirm a settled payment": payment.PaymentConfirmed{GUID: done.GUID, At: later},
	} {
		if err := m.Apply(payEvent(t, e)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, ev := range map[string]eventstore.RecordedEvent{
		"not JSON":         {Type: "PaymentCreated", Data: []byte(`{"guid":`)},
		"amount as string": {Type: "PaymentCreated", Data: []byte(`{"guid":"` + uuid.NewString() + `","amount":"10"}`)},
		"time not a time":  {Type: "PaymentConfirmed", Data: []byte(`{"guid":"` + draft.GUID + `","at":"yesterday"}`)},
		"ledger overflow":  {Type: "PaymentSettled", Data: []byte(`{"guid":"` + pending.GUID + `","hash":"h","ledger":4294967296,"at":"2026-04-01T10:00:00Z"}`)},
		"array":            {Type: "PaymentCancelled", Data: []byte(`[]`)},
	} {
		if err := m.Apply(ev); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) || m.Len() != 3 {
		t.Fatalf("a refused event changed the model:\n before %+v\n after  %+v", before, after)
	}
	if p := m.Pending(10); !reflect.DeepEqual(p, []string{pending.GUID}) {
		t.Fatalf("pending after refusals: %v", p)
	}
	// An event type of a newer writer passes; so do events of other aggregates.
	if err := m.Apply(eventstore.RecordedEvent{Type: "PaymentRefunded", Data: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	if f := m.Filter(); !f.Matches("payment-1", "PaymentCreated") || f.Matches("account-1", "AccountDebited") {
		t.Fatalf("filter %+v", f)
	}
	for _, typ := range payment.Events.Types() {
		if !m.Filter().Matches("payment-1", typ) {
			t.Fatalf("filter misses %s", typ)
		}
	}

	// A cancelled payment moves no more.
	applyPay(t, m, payment.PaymentCancelled{GUID: draft.GUID, At: later})
	for _, e := range []payment.Event{payment.PaymentConfirmed{GUID: draft.GUID, At: later}, payment.PaymentFailed{GUID: draft.GUID, Reason: "r", At: later},
		payment.PaymentCancelled{GUID: draft.GUID, At: later}} {
		if err := m.Apply(payEvent(t, e)); err == nil {
			t.Errorf("%T of a cancelled payment: no error", e)
		}
	}
}

// ---- The fast decoder against the domain codec. ----

var payDecodeStrings = []string{"", "Olena", "Шевченко", `quote " inside`, `back\slash`, "tab\there", "nul\x00byte", "emoji 🙂",
	"\u2028sep", "<html>&amp;", "bad \xff utf8", "  spaced  ", "eUAH", "customer", "ÀÉÎ"}

// payMutations change valid JSON the ways a careless or hostile writer might.
var payMutations = []func(r *rand.Rand, b []byte) []byte{
	func(r *rand.Rand, b []byte) []byte { return b },
	func(r *rand.Rand, b []byte) []byte { return b[:r.IntN(len(b))] },
	func(r *rand.Rand, b []byte) []byte { return append(b, " \n"...) },
	func(r *rand.Rand, b []byte) []byte { return append(b, " x"...) },
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"amount"`), []byte(`"Amount"`), 1)
	},
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`"hash"`), []byte(`"HASH"`), 1) },
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"kind"`), []byte(`"\u006bind"`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`{`), []byte(`{"extra":[1,{"a":null},"x",true,-1.5e3],`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`{`), []byte(`{"reason":"first","purpose":"p",`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"at":`), []byte(`"guid":null,"at":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"amount":`), []byte(`"amount":"`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"amount":`), []byte(`"amount":1.5,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"amount":`), []byte(`"amount":99999999999999999999,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"amount":`), []byte(`"amount":null,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"ledger":`), []byte(`"ledger":2147483648,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"ledger":`), []byte(`"ledger":-2147483648,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"target_balance":`), []byte(`"target_balance":null,"y":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"at":`), []byte(`"target_balance":7,"target_balance":null,"at":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"sender":`), []byte(`"sender":null,"z":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"receiver":`), []byte(`"receiver":7,"z":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"sender":{`), []byte(`"sender":{"kind":null,"address":"A","x":{},`), 1)
	},
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`"at":"`), []byte(`"at":"x`), 1) },
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`Z"`), []byte(`+02:00"`), 1) },
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`":"`), []byte(`":"\ud800`), 1) },
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`":"`), []byte(`":"\t`), 1) },
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`,`), []byte(`,,`), 1) },
	func(r *rand.Rand, b []byte) []byte { return []byte("null") },
	func(r *rand.Rand, b []byte) []byte { return []byte(`{}`) },
	func(r *rand.Rand, b []byte) []byte { return []byte(`[]`) },
	func(r *rand.Rand, b []byte) []byte {
		c := slices.Clone(b)
		c[r.IntN(len(c))] = byte(r.Uint32())
		return c
	},
}

// TestPaymentsDecoderAgreesWithTheCodec applies random and mangled events to one model, and the same events
// as the domain codec reads them (written back as plain JSON) to a twin: the two must agree, error for
// error and field for field.
func TestPaymentsDecoderAgreesWithTheCodec(t *testing.T) {
	rounds := 1000
	if testing.Short() || raceDetector {
		rounds = 150
	}
	w := newPayWorld()
	r := rand.New(rand.NewPCG(5, 6))
	text := func() string {
		if r.IntN(3) == 0 {
			return payDecodeStrings[r.IntN(len(payDecodeStrings))] + payDecodeStrings[r.IntN(len(payDecodeStrings))]
		}
		return payDecodeStrings[r.IntN(len(payDecodeStrings))]
	}
	at := func() time.Time {
		t := payT0.Add(time.Duration(r.Int64N(1 << 50)))
		if r.IntN(3) == 0 {
			return t.In(time.FixedZone("", 3*3600))
		}
		return t
	}
	party := func() payment.Party {
		return payment.Party{AccountGUID: uuid.NewString(), Kind: payment.Kind(text()), CounterpartyGUID: text(), Address: "G" + text(),
			IBAN: text(), BranchGUID: text(), CustomerGUID: text()}
	}
	// Two long-lived models (a fresh one per case would cost a chunk of rows each): every case works on a
	// payment of its own, so that the two stay comparable as long as they agree.
	fast, twin := projections.NewPayments(), projections.NewPayments()
	cases := 0
	for range rounds {
		for _, mutate := range payMutations {
			base := w.draft("aProc", "bProc", 10, payT0)
			created := payment.PaymentCreated{GUID: uuid.NewString(), CounterpartyGUID: "cp" + text(), BranchGUID: text(), Sender: party(),
				Receiver: party(), Amount: 1 + r.Int64N(1<<40), AssetCode: "A" + text(), AssetIssuer: "I" + text(), CategoryGUID: text(),
				Category: text(), Purpose: text(), Emission: text(), CreatedBy: text(), At: at()}
			if r.IntN(2) == 0 {
				created.TargetBalance = payPtr(r.Int64() - r.Int64())
			}
			evs := []payment.Event{
				created,
				payment.PaymentConfirmed{GUID: base.GUID, BankGUID: text(), By: text(), At: at()},
				payment.PaymentSettled{GUID: base.GUID, Hash: "h" + text(), Ledger: r.Int32() - r.Int32(), At: at()},
				payment.PaymentFailed{GUID: base.GUID, Reason: "r" + text(), At: at()},
				payment.PaymentCancelled{GUID: base.GUID, By: text(), At: at()},
			}
			e := evs[r.IntN(len(evs))]
			applyPay(t, fast, base)
			applyPay(t, twin, base)
			if _, ok := e.(payment.PaymentSettled); ok {
				applyPay(t, fast, payment.PaymentConfirmed{GUID: base.GUID, At: payT0})
				applyPay(t, twin, payment.PaymentConfirmed{GUID: base.GUID, At: payT0})
			}
			ev := payEvent(t, e)
			data := mutate(r, slices.Clone(ev.Data))
			cases++
			std, stdErr := payment.Events.Decode(ev.Type, data)
			fastErr := fast.Apply(eventstore.RecordedEvent{Type: ev.Type, Data: data})
			if stdErr != nil {
				if fastErr == nil {
					t.Fatalf("%s %s: the codec refuses it (%v), the model took it", ev.Type, data, stdErr)
				}
				continue
			}
			twinErr := twin.Apply(payEvent(t, std))
			if (fastErr == nil) != (twinErr == nil) {
				t.Fatalf("%s %s: error %v, from the codec's reading %v", ev.Type, data, fastErr, twinErr)
			}
			for _, g := range []string{base.GUID, created.GUID} {
				a, okA := fast.Payment(g)
				b, okB := twin.Payment(g)
				if okA != okB || !reflect.DeepEqual(a, b) {
					t.Fatalf("%s %s:\n fast  %+v\n codec %+v", ev.Type, data, a, b)
				}
			}
		}
	}
	if fast.Len() != twin.Len() || fast.Len() < cases {
		t.Fatalf("%d and %d payments after %d cases", fast.Len(), twin.Len(), cases)
	}
}

// The decoder's lists of members are the domain types', so that a field added there is not dropped here.
func TestPaymentsDecoderKnowsEveryField(t *testing.T) {
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[payment.Party]():            {"account_guid", "kind", "counterparty_guid", "address", "iban", "branch_guid", "customer_guid"},
		reflect.TypeFor[payment.PaymentCreated]():   {"guid", "counterparty_guid", "branch_guid", "sender", "receiver", "amount", "asset_code", "asset_issuer", "category_guid", "category", "purpose", "target_balance", "emission", "created_by", "at"},
		reflect.TypeFor[payment.PaymentConfirmed](): {"guid", "bank_guid", "by", "limits", "at"},
		reflect.TypeFor[payment.PaymentSettled]():   {"guid", "hash", "ledger", "at"},
		reflect.TypeFor[payment.PaymentFailed]():    {"guid", "reason", "at"},
		reflect.TypeFor[payment.PaymentCancelled](): {"guid", "by", "at"},
	} {
		var got []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			got = append(got, name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v has members %v; the read model's decoder knows %v: teach it the new ones", typ, got, want)
		}
	}
	if got := payment.Events.Types(); !slices.Equal(got, []string{"PaymentCancelled", "PaymentConfirmed", "PaymentCreated", "PaymentFailed", "PaymentSettled",
		"PaymentSignatureRefused", "PaymentSignatureRequested", "PaymentSigned"}) {
		t.Errorf("the payment codec has %v: teach the read model the new ones", got)
	}
}

// ---- The filters, one by one, on a small world. ----

func TestPaymentsListFilters(t *testing.T) {
	w := newPayWorld()
	m := projections.NewPayments()
	at := func(min int) time.Time { return payT0.Add(time.Duration(min) * time.Minute) }
	h1, h2 := strings.Repeat("1f", 32), strings.Repeat("e2", 32)
	cat1, cat2 := uuid.NewString(), uuid.NewString()

	p1 := w.draft("aProc", "aCust", 1_000, at(0))
	p1.CategoryGUID, p1.Category = cat1, "01"
	p2 := w.draft("a1Cust", "a1Proc", 250, at(1))
	p2.BranchGUID = w.a1
	p3 := w.draft("aCust", "bCust", 5_000, at(2))
	p3.CategoryGUID, p3.Category = cat2, "10"
	p4 := w.draft("bCust", "a2Cust", 700, at(3))
	p5 := w.draft("bProc", "bCust", 90, at(4))
	p6 := w.draft("cProc", "cCust", 33, at(5))
	p7 := w.draft("aProc", "a1Cust", 1_500, at(6))
	p8 := w.draft("root", "aEm", 1_000_000, at(6)) // the same creation time as p7: GUID orders them
	p8.Emission = uuid.NewString()
	p9 := w.draft("aProc", "bProc", 20_000, at(7))
	p9.AssetCode, p9.AssetIssuer = "eUSD", "GUSDISSUER"
	applyPay(t, m, p9, p1, p2, p3, p4, p5, p6, p7, p8) // p9 first: out of creation order
	applyPay(t, m,
		payment.PaymentConfirmed{GUID: p2.GUID, At: at(10)},
		payment.PaymentConfirmed{GUID: p3.GUID, BankGUID: w.b, At: at(10)},
		payment.PaymentSettled{GUID: p3.GUID, Hash: h1, Ledger: 5, At: at(11)},
		payment.PaymentConfirmed{GUID: p4.GUID, BankGUID: w.a, At: at(10)},
		payment.PaymentSettled{GUID: p4.GUID, Hash: strings.ToUpper(h1), Ledger: 5, At: at(11)},
		payment.PaymentConfirmed{GUID: p5.GUID, At: at(12)},
		payment.PaymentFailed{GUID: p5.GUID, Reason: "no trustline", At: at(13)},
		payment.PaymentCancelled{GUID: p7.GUID, At: at(14)},
		payment.PaymentConfirmed{GUID: p8.GUID, At: at(12)},
		payment.PaymentSettled{GUID: p8.GUID, Hash: h2, Ledger: 6, At: at(15)})

	// The names of the expected payments, newest first (the default order).
	names := map[string]string{p1.GUID: "p1", p2.GUID: "p2", p3.GUID: "p3", p4.GUID: "p4", p5.GUID: "p5", p6.GUID: "p6",
		p7.GUID: "p7", p8.GUID: "p8", p9.GUID: "p9"}
	p78 := []string{"p7", "p8"}
	if p8.GUID > p7.GUID {
		p78 = []string{"p8", "p7"} // descending: the greater GUID first
	}
	allA := append(append([]string{"p9"}, p78...), "p4", "p3", "p2", "p1")
	i64 := func(v int64) *int64 { return &v }
	a, b, c := w.a, w.b, w.c
	for _, tc := range []struct {
		name string
		q    projections.PaymentQuery
		want []string
	}{
		{"bank a sees its own and both sides of transfers", projections.PaymentQuery{Counterparty: a}, allA},
		{"bank b", projections.PaymentQuery{Counterparty: b}, []string{"p9", "p5", "p4", "p3"}},
		{"bank c", projections.PaymentQuery{Counterparty: c}, []string{"p6"}},
		{"counterparty in upper case", projections.PaymentQuery{Counterparty: strings.ToUpper(c)}, []string{"p6"}},
		{"unknown bank", projections.PaymentQuery{Counterparty: uuid.NewString()}, nil},
		{"empty lists are no filters", projections.PaymentQuery{Counterparty: a, GUIDs: []string{}, SenderIDs: []string{}, ReceiverIDs: []string{},
			Hashes: []string{}, Statuses: []payment.Status{}, AssetCodes: []string{}, AssetIssuers: []string{}, CategoryGUIDs: []string{}}, allA},
		{"ascending", projections.PaymentQuery{Counterparty: a, Order: "asc"}, payReversed(allA)},
		{"branch a1: created in it or a side of it", projections.PaymentQuery{Counterparty: a, Branch: w.a1}, []string{"p7", "p2"}},
		{"branch a2", projections.PaymentQuery{Counterparty: a, Branch: strings.ToUpper(w.a2)}, []string{"p4"}},
		{"branch of the other bank's side", projections.PaymentQuery{Counterparty: a, Branch: w.b1}, nil},
		{"that branch for its bank", projections.PaymentQuery{Counterparty: b, Branch: w.b1}, []string{"p5", "p4", "p3"}},
		{"branch b1 for bank c", projections.PaymentQuery{Counterparty: c, Branch: w.b1}, nil},
		{"unknown branch", projections.PaymentQuery{Counterparty: a, Branch: uuid.NewString()}, nil},
		{"guids", projections.PaymentQuery{Counterparty: a, GUIDs: []string{p1.GUID, strings.ToUpper(p3.GUID), p6.GUID, "junk", uuid.NewString()}}, []string{"p3", "p1"}},
		{"guids of others only", projections.PaymentQuery{Counterparty: a, GUIDs: []string{p5.GUID, p6.GUID}}, nil},
		{"sender ids", projections.PaymentQuery{Counterparty: a, SenderIDs: []string{w.parties["aProc"].AccountGUID, strings.ToUpper(w.parties["bCust"].AccountGUID)}}, []string{"p9", "p7", "p4", "p1"}},
		{"receiver ids", projections.PaymentQuery{Counterparty: a, ReceiverIDs: []string{w.parties["bCust"].AccountGUID, w.parties["a1Cust"].AccountGUID}}, []string{"p7", "p3"}},
		{"receiver id seen by the other bank only", projections.PaymentQuery{Counterparty: c, ReceiverIDs: []string{w.parties["bCust"].AccountGUID}}, nil},
		{"unknown sender id", projections.PaymentQuery{Counterparty: a, SenderIDs: []string{uuid.NewString()}}, nil},
		{"sender and receiver ids", projections.PaymentQuery{Counterparty: a, SenderIDs: []string{w.parties["aProc"].AccountGUID}, ReceiverIDs: []string{w.parties["aCust"].AccountGUID}}, []string{"p1"}},
		{"sender counterparty", projections.PaymentQuery{Counterparty: a, SenderCounterparty: b}, []string{"p4"}},
		{"receiver counterparty", projections.PaymentQuery{Counterparty: a, ReceiverCounterparty: strings.ToUpper(b)}, []string{"p9", "p3"}},
		{"both counterparties", projections.PaymentQuery{Counterparty: b, SenderCounterparty: b, ReceiverCounterparty: b}, []string{"p5"}},
		{"hash (a batch of two, any case)", projections.PaymentQuery{Counterparty: a, Hashes: []string{strings.ToUpper(h1)}}, []string{"p4", "p3"}},
		{"hashes", projections.PaymentQuery{Counterparty: a, Hashes: []string{h1, h2, "nothing"}}, []string{"p8", "p4", "p3"}},
		{"hash of others", projections.PaymentQuery{Counterparty: c, Hashes: []string{h1}}, nil},
		{"min amount", projections.PaymentQuery{Counterparty: a, MinAmount: i64(5_000)}, []string{"p9", "p8", "p3"}},
		{"max amount", projections.PaymentQuery{Counterparty: a, MaxAmount: i64(1_000)}, []string{"p4", "p2", "p1"}},
		{"amount range", projections.PaymentQuery{Counterparty: a, MinAmount: i64(700), MaxAmount: i64(1_500)}, []string{"p7", "p4", "p1"}},
		{"empty amount range", projections.PaymentQuery{Counterparty: a, MinAmount: i64(701), MaxAmount: i64(700)}, nil},
		{"statuses", projections.PaymentQuery{Counterparty: a, Statuses: []payment.Status{payment.StatusConfirmed, payment.StatusCancelled}}, append(slices.Clone(p78), "p4", "p3")},
		{"status created", projections.PaymentQuery{Counterparty: a, Statuses: []payment.Status{payment.StatusCreated}}, []string{"p9", "p1"}},
		{"status pending", projections.PaymentQuery{Counterparty: a, Statuses: []payment.Status{payment.StatusPending}}, []string{"p2"}},
		{"status failed", projections.PaymentQuery{Counterparty: b, Statuses: []payment.Status{payment.StatusFailed}}, []string{"p5"}},
		{"asset code", projections.PaymentQuery{Counterparty: a, AssetCodes: []string{"eUSD"}}, []string{"p9"}},
		{"asset code is exact", projections.PaymentQuery{Counterparty: a, AssetCodes: []string{"EUSD"}}, nil},
		{"asset issuer", projections.PaymentQuery{Counterparty: a, AssetIssuers: []string{payIssuer}}, allA[1:]},
		{"categories", projections.PaymentQuery{Counterparty: a, CategoryGUIDs: []string{strings.ToUpper(cat1), cat2}}, []string{"p3", "p1"}},
		{"created from (inclusive)", projections.PaymentQuery{Counterparty: a, CreatedFrom: at(6)}, append([]string{"p9"}, p78...)},
		{"created to (inclusive)", projections.PaymentQuery{Counterparty: a, CreatedTo: at(2)}, []string{"p3", "p2", "p1"}},
		{"created range", projections.PaymentQuery{Counterparty: a, CreatedFrom: at(1), CreatedTo: at(3)}, []string{"p4", "p3", "p2"}},
		{"created range, empty", projections.PaymentQuery{Counterparty: a, CreatedFrom: at(3).Add(time.Second), CreatedTo: at(5)}, nil},
		{"updated from", projections.PaymentQuery{Counterparty: a, UpdatedFrom: at(14)}, p78},
		{"updated to", projections.PaymentQuery{Counterparty: a, UpdatedTo: at(7)}, []string{"p9", "p1"}},
		{"updated range", projections.PaymentQuery{Counterparty: a, UpdatedFrom: at(10), UpdatedTo: at(11)}, []string{"p4", "p3", "p2"}},
		{"everything at once", projections.PaymentQuery{Counterparty: b, Branch: w.b1, SenderIDs: []string{w.parties["aCust"].AccountGUID},
			ReceiverCounterparty: b, Hashes: []string{h1}, MinAmount: i64(5_000), MaxAmount: i64(5_000), Statuses: []payment.Status{payment.StatusConfirmed},
			AssetCodes: []string{payAsset}, AssetIssuers: []string{payIssuer}, CategoryGUIDs: []string{cat2}, CreatedFrom: at(2), CreatedTo: at(2),
			UpdatedFrom: at(11), UpdatedTo: at(11), GUIDs: []string{p3.GUID, p4.GUID}, Order: "ASC"}, []string{"p3"}},
	} {
		page, total, err := m.List(tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, p := range page {
			got = append(got, names[p.GUID])
		}
		if !slices.Equal(got, tc.want) || total != len(tc.want) {
			t.Errorf("%s: got %v (total %d), want %v", tc.name, got, total, tc.want)
		}
	}
	// Pages hold full rows, equal to Payment's.
	page, _, _ := m.List(projections.PaymentQuery{Counterparty: a})
	for _, p := range page {
		if one, _ := m.Payment(p.GUID); !reflect.DeepEqual(one, p) {
			t.Fatalf("list and get differ:\n %+v\n %+v", p, one)
		}
	}
}

func payReversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestPaymentsListPagingAndErrors(t *testing.T) {
	w := newPayWorld()
	m := projections.NewPayments()
	var all []string // ascending
	for i := range 250 {
		// Ten payments share each creation time: GUID breaks the ties.
		c := w.draft("aProc", "aCust", int64(i+1), payT0.Add(time.Duration(i/10)*time.Second))
		applyPay(t, m, c)
		all = append(all, c.GUID)
	}
	slices.SortFunc(all, func(x, y string) int {
		px, _ := m.Payment(x)
		py, _ := m.Payment(y)
		return cmp.Or(px.CreatedAt.Compare(py.CreatedAt), strings.Compare(x, y))
	})
	desc := payReversed(all)
	list := func(q projections.PaymentQuery) ([]string, int) {
		t.Helper()
		q.Counterparty = w.a
		page, total, err := m.List(q)
		if err != nil {
			t.Fatal(err)
		}
		return payGUIDs(page), total
	}
	for _, tc := range []struct {
		q    projections.PaymentQuery
		want []string
	}{
		{projections.PaymentQuery{}, desc[:100]}, // the default limit
		{projections.PaymentQuery{Limit: 1000}, desc},
		{projections.PaymentQuery{Offset: 240}, desc[240:]},
		{projections.PaymentQuery{Offset: 250}, nil},
		{projections.PaymentQuery{Offset: 9999}, nil},
		{projections.PaymentQuery{Offset: 95, Limit: 10, Order: "asc"}, all[95:105]},
		{projections.PaymentQuery{Offset: 95, Limit: 10, Order: "Desc"}, desc[95:105]},
		{projections.PaymentQuery{Offset: 3, Limit: 4, MinAmount: payPtr(int64(100))}, payFiltered(desc, m, 100)[3:7]},
		{projections.PaymentQuery{Offset: 3, Limit: 4, MinAmount: payPtr(int64(100)), Order: "asc"}, payReversed(payFiltered(desc, m, 100))[3:7]},
		{projections.PaymentQuery{Offset: 200, MinAmount: payPtr(int64(100))}, nil},
	} {
		got, total := list(tc.q)
		wantTotal := 250
		if tc.q.MinAmount != nil {
			wantTotal = 151
		}
		if !slices.Equal(got, tc.want) || total != wantTotal {
			t.Errorf("%+v: got %d items (total %d), want %d", tc.q, len(got), total, len(tc.want))
		}
	}

	for _, tc := range []struct {
		q     projections.PaymentQuery
		field string
	}{
		{projections.PaymentQuery{}, "counterparty_guid"},
		{projections.PaymentQuery{Counterparty: w.a, Order: "newest"}, "order"},
		{projections.PaymentQuery{Counterparty: w.a, Offset: -1}, "offset"},
		{projections.PaymentQuery{Counterparty: w.a, Limit: -1}, "limit"},
		{projections.PaymentQuery{Counterparty: w.a, Limit: 1001}, "limit"},
		{projections.PaymentQuery{Counterparty: w.a, Statuses: []payment.Status{"SETTLED"}}, "statuses"},
		{projections.PaymentQuery{Counterparty: w.a, GUIDs: make([]string, 1001)}, "guids"},
		{projections.PaymentQuery{Counterparty: w.a, Hashes: make([]string, 1001)}, "hashes"},
		{projections.PaymentQuery{Counterparty: w.a, SenderIDs: make([]string, 1001)}, "sender_ids"},
		{projections.PaymentQuery{Counterparty: w.a, CategoryGUIDs: make([]string, 1001)}, "category_guids"},
	} {
		_, _, err := m.List(tc.q)
		var qe *projections.PaymentQueryError
		if !errors.Is(err, projections.ErrInvalidListQuery) || !errors.As(err, &qe) || qe.Field != tc.field {
			t.Errorf("%+v: error %v, want one about %s", tc.q, err, tc.field)
		}
	}
	if _, _, err := m.List(projections.PaymentQuery{Counterparty: w.a, Limit: 1000, Offset: 1 << 40}); err != nil {
		t.Fatal(err)
	}
}

func payPtr[T any](v T) *T { return &v }

func payGUIDs(ps []projections.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.GUID)
	}
	return out
}

// payFiltered is the GUIDs among guids whose amount is at least min.
func payFiltered(guids []string, m *projections.Payments, min int64) []string {
	var out []string
	for _, g := range guids {
		if p, _ := m.Payment(g); p.Amount >= min {
			out = append(out, g)
		}
	}
	return out
}

func TestPaymentsPending(t *testing.T) {
	w := newPayWorld()
	m := projections.NewPayments()
	var want []string
	var ps []payment.PaymentCreated
	for i := range 40 {
		c := w.draft("aProc", "bProc", 1, payT0.Add(time.Duration(40-i)*time.Minute)) // created newest first
		ps = append(ps, c)
		applyPay(t, m, c)
	}
	// Confirmed in another order than created; the pending order is the confirmation's.
	for i, c := range ps {
		applyPay(t, m, payment.PaymentConfirmed{GUID: c.GUID, BankGUID: w.b, At: payT0.Add(time.Hour + time.Duration(i)*time.Second)})
		want = append(want, c.GUID)
	}
	if got := m.Pending(0); !slices.Equal(got, want) {
		t.Fatalf("pending:\n got  %v\n want %v", got, want)
	}
	if got := m.Pending(5); !slices.Equal(got, want[:5]) {
		t.Fatalf("pending(5): %v", got)
	}
	// Settle and fail some; the rest keep their order.
	for i, c := range ps {
		switch i % 3 {
		case 0:
			applyPay(t, m, payment.PaymentSettled{GUID: c.GUID, Hash: "batch", At: payT0.Add(2 * time.Hour)})
		case 1:
			applyPay(t, m, payment.PaymentFailed{GUID: c.GUID, Reason: "r", At: payT0.Add(2 * time.Hour)})
		}
	}
	var rest []string
	for i, g := range want {
		if i%3 == 2 {
			rest = append(rest, g)
		}
	}
	if got := m.Pending(1000); !slices.Equal(got, rest) {
		t.Fatalf("pending after settling:\n got  %v\n want %v", got, rest)
	}
	// A hash that is not 64 hexadecimal digits is still found.
	if _, total, _ := m.List(projections.PaymentQuery{Counterparty: w.b, Hashes: []string{"batch"}}); total != 14 {
		t.Fatalf("odd hash: %d payments", total)
	}
}

// TestPaymentsPendingAtScale confirms thousands of payments at random times and settles most of them in
// random order, so that the pending order splits blocks on insertion and merges them on removal.
func TestPaymentsPendingAtScale(t *testing.T) {
	w := newPayWorld()
	m := projections.NewPayments()
	r := rand.New(rand.NewPCG(3, 4))
	type pend struct {
		guid string
		at   time.Time
	}
	var open []pend
	for i := range 5_000 {
		c := w.draft("aProc", "bProc", 1, payT0.Add(time.Duration(i)*time.Millisecond))
		at := payT0.Add(time.Hour + time.Duration(r.IntN(600))*time.Second)
		applyPay(t, m, c, payment.PaymentConfirmed{GUID: c.GUID, BankGUID: w.b, At: at})
		open = append(open, pend{c.GUID, at})
	}
	check := func() {
		t.Helper()
		want := slices.Clone(open)
		slices.SortFunc(want, func(a, b pend) int { return cmp.Or(a.at.Compare(b.at), strings.Compare(a.guid, b.guid)) })
		var guids []string
		for _, p := range want {
			guids = append(guids, p.guid)
		}
		if got := m.Pending(projections.MaxPendingLimit); !slices.Equal(got, guids) {
			t.Fatalf("pending: %d, want %d", len(got), len(guids))
		}
		if got := m.Pending(3); !slices.Equal(got, guids[:min(3, len(guids))]) {
			t.Fatalf("pending(3): %v, want %v", got, guids[:min(3, len(guids))])
		}
	}
	check()
	for len(open) > 10 {
		for range len(open) / 3 {
			i := r.IntN(len(open))
			applyPay(t, m, payment.PaymentSettled{GUID: open[i].guid, Hash: strings.Repeat("0", 64), At: payT0.Add(2 * time.Hour)})
			open = slices.Delete(open, i, i+1)
		}
		check()
	}
	if _, total, _ := m.List(projections.PaymentQuery{Counterparty: w.a, Hashes: []string{strings.Repeat("0", 64)}, Limit: 1}); total != 5_000-len(open) {
		t.Fatalf("one transaction carries %d payments, want %d", total, 5_000-len(open))
	}
	for _, p := range open {
		applyPay(t, m, payment.PaymentFailed{GUID: p.guid, Reason: "r", At: payT0.Add(3 * time.Hour)})
	}
	open = nil
	check()
	c := w.draft("aProc", "bProc", 1, payT0)
	applyPay(t, m, c, payment.PaymentConfirmed{GUID: c.GUID, At: payT0})
	open = append(open, pend{c.GUID, payT0})
	check()
}

// ---- Against a brute-force model, on many random payments. ----

// refPayments folds events into views the slow and obvious way.
type refPayments map[string]*projections.Payment

func (r refPayments) apply(e payment.Event) {
	switch e := e.(type) {
	case payment.PaymentCreated:
		p := &projections.Payment{GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, BranchGUID: e.BranchGUID, Sender: e.Sender,
			Receiver: e.Receiver, Amount: e.Amount, AssetCode: e.AssetCode, AssetIssuer: e.AssetIssuer, CategoryGUID: e.CategoryGUID,
			Category: e.Category, Purpose: e.Purpose, Status: payment.StatusCreated, Emission: e.Emission, CreatedBy: e.CreatedBy,
			CreatedAt: e.At.UTC(), UpdatedAt: e.At.UTC()}
		if e.TargetBalance != nil {
			p.TargetBalance = payPtr(*e.TargetBalance)
		}
		r[e.GUID] = p
	case payment.PaymentConfirmed:
		p := r[e.GUID]
		p.Status, p.BankGUID, p.UpdatedAt = payment.StatusPending, e.BankGUID, e.At.UTC()
	case payment.PaymentSettled:
		p := r[e.GUID]
		p.Status, p.Hash, p.Ledger, p.UpdatedAt = payment.StatusConfirmed, e.Hash, e.Ledger, e.At.UTC()
	case payment.PaymentFailed:
		p := r[e.GUID]
		p.Status, p.Reason, p.UpdatedAt = payment.StatusFailed, e.Reason, e.At.UTC()
	case payment.PaymentCancelled:
		p := r[e.GUID]
		p.Status, p.UpdatedAt, p.DeletedAt = payment.StatusCancelled, e.At.UTC(), e.At.UTC()
	}
}

func payAnyFold(values []string, v string) bool {
	return slices.ContainsFunc(values, func(x string) bool { return strings.EqualFold(x, v) })
}

func payInRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}

func (r refPayments) list(q projections.PaymentQuery) ([]string, int) {
	var out []*projections.Payment
	for _, p := range r {
		ok := p.VisibleTo(q.Counterparty) &&
			(q.Branch == "" || strings.EqualFold(p.BranchGUID, q.Branch) ||
				strings.EqualFold(p.Sender.BranchGUID, q.Branch) && strings.EqualFold(p.Sender.CounterpartyGUID, q.Counterparty) ||
				strings.EqualFold(p.Receiver.BranchGUID, q.Branch) && strings.EqualFold(p.Receiver.CounterpartyGUID, q.Counterparty)) &&
			(len(q.GUIDs) == 0 || payAnyFold(q.GUIDs, p.GUID)) &&
			(len(q.SenderIDs) == 0 || p.Sender.AccountGUID != "" && payAnyFold(q.SenderIDs, p.Sender.AccountGUID)) &&
			(len(q.ReceiverIDs) == 0 || p.Receiver.AccountGUID != "" && payAnyFold(q.ReceiverIDs, p.Receiver.AccountGUID)) &&
			(q.SenderCounterparty == "" || strings.EqualFold(q.SenderCounterparty, p.Sender.CounterpartyGUID)) &&
			(q.ReceiverCounterparty == "" || strings.EqualFold(q.ReceiverCounterparty, p.Receiver.CounterpartyGUID)) &&
			(len(q.Hashes) == 0 || p.Hash != "" && payAnyFold(q.Hashes, p.Hash)) &&
			(q.MinAmount == nil || p.Amount >= *q.MinAmount) && (q.MaxAmount == nil || p.Amount <= *q.MaxAmount) &&
			(len(q.Statuses) == 0 || slices.Contains(q.Statuses, p.Status)) &&
			(len(q.AssetCodes) == 0 || slices.Contains(q.AssetCodes, p.AssetCode)) &&
			(len(q.AssetIssuers) == 0 || slices.Contains(q.AssetIssuers, p.AssetIssuer)) &&
			(len(q.CategoryGUIDs) == 0 || p.CategoryGUID != "" && payAnyFold(q.CategoryGUIDs, p.CategoryGUID)) &&
			payInRange(p.CreatedAt, q.CreatedFrom, q.CreatedTo) && payInRange(p.UpdatedAt, q.UpdatedFrom, q.UpdatedTo)
		if ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *projections.Payment) int {
		c := cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.GUID, b.GUID))
		if !strings.EqualFold(q.Order, "asc") {
			c = -c
		}
		return c
	})
	limit := cmp.Or(q.Limit, projections.DefaultPaymentLimit)
	var page []string
	for _, p := range out[min(len(out), q.Offset):min(len(out), q.Offset+limit)] {
		page = append(page, p.GUID)
	}
	return page, len(out)
}

// randomPayments is a random history: banks, branches and accounts, payments created in about log order
// (one in ten well out of it), then confirmed, settled in batches that share a hash, failed or cancelled.
type randomPayments struct {
	r         *rand.Rand
	banks     []string
	branches  map[string][]string // by bank
	accounts  []payment.Party
	hashes    []string
	cats      []string
	events    []payment.Event
	open      []string // CREATED
	pending   []string
	clock     time.Time
	lastEvent map[string]time.Time
}

func newRandomPayments(seed uint64) *randomPayments {
	g := &randomPayments{r: rand.New(rand.NewPCG(seed, 7)), branches: map[string][]string{}, clock: payT0, lastEvent: map[string]time.Time{}}
	for range 4 {
		bank := uuid.NewString()
		g.banks = append(g.banks, bank)
		for range 3 {
			g.branches[bank] = append(g.branches[bank], uuid.NewString())
		}
		for i := range 12 {
			p := payment.Party{AccountGUID: uuid.NewString(), Kind: payment.KindCustomer, CounterpartyGUID: bank, Address: "GADDR" + uuid.NewString()[:8]}
			if i%3 == 0 {
				p.Kind = payment.KindProcessing
			} else {
				p.CustomerGUID = uuid.NewString()
			}
			if i%2 == 0 {
				p.BranchGUID = g.branches[bank][g.r.IntN(3)]
			}
			g.accounts = append(g.accounts, p)
		}
		p := payment.Party{AccountGUID: uuid.NewString(), Kind: payment.KindEmission, CounterpartyGUID: bank, Address: "GEM" + bank[:8]}
		g.accounts = append(g.accounts, p)
	}
	for range 5 {
		g.cats = append(g.cats, uuid.NewString())
	}
	return g
}

func (g *randomPayments) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *randomPayments) take(s *[]string) string {
	i := g.r.IntN(len(*s))
	v := (*s)[i]
	(*s)[i] = (*s)[len(*s)-1]
	*s = (*s)[:len(*s)-1]
	return v
}

func (g *randomPayments) step() {
	g.clock = g.clock.Add(time.Duration(g.r.IntN(3)) * time.Second) // many share a second
	at := g.clock
	after := func(guid string) time.Time {
		t := g.lastEvent[guid].Add(time.Duration(1+g.r.IntN(60)) * time.Second)
		g.lastEvent[guid] = t
		return t
	}
	switch n := g.r.IntN(10); {
	case n < 4 || len(g.open)+len(g.pending) == 0:
		if g.r.IntN(10) == 0 {
			at = at.Add(-time.Duration(g.r.IntN(3600)) * time.Second)
		}
		s, r := g.accounts[g.r.IntN(len(g.accounts))], g.accounts[g.r.IntN(len(g.accounts))]
		c := payment.PaymentCreated{GUID: uuid.NewString(), CounterpartyGUID: s.CounterpartyGUID, Sender: s, Receiver: r,
			Amount: int64(1 + g.r.IntN(10_000)), AssetCode: payAsset, AssetIssuer: payIssuer, CreatedBy: "u" + fmt.Sprint(g.r.IntN(5)), At: at}
		switch g.r.IntN(8) {
		case 0:
			c.AssetCode, c.AssetIssuer = "eUSD", "GUSD"
		case 1:
			c.Sender, c.Emission = payment.Party{Kind: payment.KindRoot, Address: payIssuer}, uuid.NewString()
			c.CounterpartyGUID = r.CounterpartyGUID
		}
		if g.r.IntN(3) == 0 {
			c.CategoryGUID, c.Category = g.pick(g.cats), "cat"
		}
		if g.r.IntN(4) == 0 && s.BranchGUID != "" {
			c.BranchGUID = s.BranchGUID
		}
		if g.r.IntN(5) == 0 {
			c.TargetBalance = payPtr(int64(g.r.IntN(100)))
		}
		g.lastEvent[c.GUID] = at
		g.events = append(g.events, c)
		g.open = append(g.open, c.GUID)
	case n < 8 && len(g.open) > 0:
		guid := g.take(&g.open)
		switch g.r.IntN(6) {
		case 0:
			g.events = append(g.events, payment.PaymentCancelled{GUID: guid, At: after(guid)})
		case 1:
			g.events = append(g.events, payment.PaymentFailed{GUID: guid, Reason: "refused", At: after(guid)})
		default:
			g.events = append(g.events, payment.PaymentConfirmed{GUID: guid, BankGUID: g.pick(g.banks), At: after(guid)})
			g.pending = append(g.pending, guid)
		}
	case len(g.pending) > 0:
		guid := g.take(&g.pending)
		if g.r.IntN(5) == 0 {
			g.events = append(g.events, payment.PaymentFailed{GUID: guid, Reason: "op_no_trust", At: after(guid)})
			return
		}
		if len(g.hashes) == 0 || g.r.IntN(4) == 0 {
			var b [32]byte
			for i := range b {
				b[i] = byte(g.r.Uint32())
			}
			g.hashes = append(g.hashes, fmt.Sprintf("%x", b))
		}
		h := g.hashes[len(g.hashes)-1-g.r.IntN(min(3, len(g.hashes)))]
		g.events = append(g.events, payment.PaymentSettled{GUID: guid, Hash: h, Ledger: int32(len(g.hashes)), At: after(guid)})
	}
}

// query is a random query of bank cp, with a few filters drawn from what the history holds.
func (g *randomPayments) query(ref refPayments, cp string) projections.PaymentQuery {
	q := projections.PaymentQuery{Counterparty: cp, Offset: g.r.IntN(3) * g.r.IntN(40), Limit: []int{0, 1, 7, 50, 1000}[g.r.IntN(5)]}
	if g.r.IntN(2) == 0 {
		q.Order = "asc"
	}
	if g.r.IntN(3) == 0 {
		q.Counterparty = strings.ToUpper(cp)
	}
	var sample []*projections.Payment
	for _, p := range ref {
		sample = append(sample, p)
		if len(sample) == 8 {
			break
		}
	}
	someAccounts := func() []string {
		var out []string
		for range 1 + g.r.IntN(3) {
			out = append(out, g.accounts[g.r.IntN(len(g.accounts))].AccountGUID)
		}
		return out
	}
	for range g.r.IntN(4) {
		switch g.r.IntN(14) {
		case 0:
			q.Branch = g.pick(g.branches[g.pick(g.banks)])
		case 1:
			for _, p := range sample[:g.r.IntN(len(sample))] {
				q.GUIDs = append(q.GUIDs, p.GUID)
			}
			q.GUIDs = append(q.GUIDs, uuid.NewString())
		case 2:
			q.SenderIDs = someAccounts()
		case 3:
			q.ReceiverIDs = someAccounts()
		case 4:
			q.SenderCounterparty = g.pick(g.banks)
		case 5:
			q.ReceiverCounterparty = g.pick(g.banks)
		case 6:
			if len(g.hashes) > 0 {
				q.Hashes = []string{g.pick(g.hashes), strings.ToUpper(g.pick(g.hashes))}
			}
		case 7:
			q.MinAmount = payPtr(int64(g.r.IntN(10_000)))
		case 8:
			q.MaxAmount = payPtr(int64(g.r.IntN(10_000)))
		case 9:
			q.Statuses = []payment.Status{payment.Statuses[g.r.IntN(5)], payment.Statuses[g.r.IntN(5)]}
		case 10:
			q.AssetCodes = []string{[]string{payAsset, "eUSD", "XXX"}[g.r.IntN(3)]}
			q.AssetIssuers = []string{[]string{payIssuer, "GUSD"}[g.r.IntN(2)]}
		case 11:
			q.CategoryGUIDs = []string{g.pick(g.cats), strings.ToUpper(g.pick(g.cats))}
		case 12:
			span := g.clock.Sub(payT0)
			q.CreatedFrom = payT0.Add(time.Duration(g.r.Int64N(int64(span) + 1)))
			if g.r.IntN(2) == 0 {
				q.CreatedTo = q.CreatedFrom.Add(time.Duration(g.r.Int64N(int64(span)/4 + 1)))
			}
			if len(sample) > 0 && g.r.IntN(3) == 0 {
				q.CreatedFrom = sample[0].CreatedAt // an exact bound
			}
		case 13:
			span := g.clock.Sub(payT0)
			q.UpdatedTo = payT0.Add(time.Duration(g.r.Int64N(int64(span) + 1)))
			if g.r.IntN(2) == 0 {
				q.UpdatedFrom = q.UpdatedTo.Add(-time.Duration(g.r.Int64N(int64(span)/3 + 1)))
			}
		}
	}
	return q
}

func TestPaymentsAgainstBruteForce(t *testing.T) {
	steps, queries := 12_000, 1_500
	if testing.Short() || raceDetector {
		steps, queries = 5_000, 300
	}
	g := newRandomPayments(42)
	for range steps {
		g.step()
	}
	m := projections.NewPayments()
	ref := refPayments{}
	check := func(round int) {
		t.Helper()
		for guid, want := range ref {
			if got, ok := m.Payment(guid); !ok || !reflect.DeepEqual(got, *want) {
				t.Fatalf("round %d: payment %s:\n got  %+v\n want %+v", round, guid, got, *want)
			}
		}
		for i := range queries / 3 {
			q := g.query(ref, g.pick(g.banks))
			page, total, err := m.List(q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			wantPage, wantTotal := ref.list(q)
			if got := payGUIDs(page); !slices.Equal(got, wantPage) || total != wantTotal {
				t.Fatalf("round %d query %d %+v:\n got  %v (total %d)\n want %v (total %d)", round, i, q, got, total, wantPage, wantTotal)
			}
		}
		var wantPending []*projections.Payment
		for _, p := range ref {
			if p.Status == payment.StatusPending {
				wantPending = append(wantPending, p)
			}
		}
		slices.SortFunc(wantPending, func(a, b *projections.Payment) int {
			return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), strings.Compare(a.GUID, b.GUID))
		})
		if got := m.Pending(projections.MaxPendingLimit); !slices.Equal(got, payGUIDs(payDerefs(wantPending))) {
			t.Fatalf("round %d: pending %d, want %d", round, len(got), len(wantPending))
		}
	}
	// Three rounds: queries while the history grows, so that out-of-order payments land in full blocks.
	for round, n := 0, len(g.events); round < 3; round++ {
		for _, e := range g.events[round*n/3 : (round+1)*n/3] {
			if err := m.Apply(payEvent(t, e)); err != nil {
				t.Fatalf("%T: %v", e, err)
			}
			ref.apply(e)
		}
		check(round)
	}
	t.Logf("%d events, %d payments, %d pending", len(g.events), m.Len(), len(m.Pending(projections.MaxPendingLimit)))
}

func payDerefs(ps []*projections.Payment) []projections.Payment {
	out := make([]projections.Payment, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

// TestPaymentsReadWhileApplying reads while a writer applies (run it with -race): every answer must be one
// the model could give between two events.
func TestPaymentsReadWhileApplying(t *testing.T) {
	g := newRandomPayments(9)
	for range 4_000 {
		g.step()
	}
	m := projections.NewPayments()
	done := make(chan struct{})
	var readers sync.WaitGroup
	for i := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				page, total, err := m.List(projections.PaymentQuery{Counterparty: g.banks[r.IntN(len(g.banks))], Limit: 20,
					Statuses: []payment.Status{payment.Statuses[r.IntN(5)]}})
				if err != nil || len(page) > total || len(page) > 20 {
					t.Errorf("list: %d of %d, %v", len(page), total, err)
					return
				}
				for _, p := range page {
					if q, ok := m.Payment(p.GUID); !ok || q.CreatedAt != p.CreatedAt {
						t.Errorf("a listed payment is gone: %v", p.GUID)
						return
					}
				}
				for _, guid := range m.Pending(50) {
					if _, ok := m.Payment(guid); !ok {
						t.Errorf("a pending payment is gone: %v", guid)
						return
					}
				}
			}
		}()
	}
	for _, e := range g.events {
		if err := m.Apply(payEvent(t, e)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	readers.Wait()
}

// ---- Through a Runner, from the domain's own commands on a real store. ----

func TestPaymentsAndBalancesFromTheLog(t *testing.T) {
	store := openBolt(t)
	pays, bals := projections.NewPayments(), projections.NewCustomers()
	r := newRunner(t, store, projections.Options{}, pays, bals)
	start(t, r)
	var last eventstore.Position
	acct := func(id uuid.UUID, cmd any) {
		t.Helper()
		res, err := command.Handle(testContext(t), store, account.Stream(id), account.Decider, account.Events, cmd, command.Envelope{})
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		if len(res.Events) > 0 {
			last = res.Position
		}
	}
	pay := func(id uuid.UUID, cmd any) {
		t.Helper()
		res, err := command.Handle(testContext(t), store, payment.Stream(id), payment.Decider, payment.Events, cmd, command.Envelope{})
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		if len(res.Events) > 0 {
			last = res.Position
		}
	}
	bankA, bankB := uuid.New(), uuid.New()
	accA, accB := uuid.New(), uuid.New()
	bankOf := map[uuid.UUID]uuid.UUID{accA: bankA, accB: bankB}
	// balance reads an account's funds from the accounts read model (projections.Customers).
	balance := func(m *projections.Customers, id uuid.UUID) projections.Account {
		t.Helper()
		a, ok := m.Account(testContext(t), bankOf[id].String(), id.String())
		if !ok {
			t.Fatalf("account %s not in the read model", id)
		}
		return a
	}
	parties := map[uuid.UUID]payment.Party{}
	for i, a := range []struct {
		id, bank uuid.UUID
	}{{accA, bankA}, {accB, bankB}} {
		addr := accountID(byte(10 + i))
		acct(a.id, account.GenerateKey{GUID: a.id, Kind: account.KindProcessing, CounterpartyGUID: a.bank, Address: addr, SealedSeed: []byte{1}, At: payT0})
		acct(a.id, account.RecordOpened{AssetCode: payAsset, AssetIssuer: accountID(99), At: payT0})
		parties[a.id] = payment.Party{AccountGUID: a.id.String(), Kind: payment.KindProcessing, CounterpartyGUID: a.bank.String(), Address: addr}
	}
	acct(accA, account.Credit{Payment: uuid.New(), Amount: 10_000, At: payT0}) // an issue, say

	settled, cancelled, failed := uuid.New(), uuid.New(), uuid.New()
	for i, id := range []uuid.UUID{settled, cancelled, failed} {
		pay(id, payment.Create{GUID: id, CounterpartyGUID: bankA, Sender: parties[accA], Receiver: parties[accB], Amount: int64(1_000 * (i + 1)),
			AssetCode: payAsset, AssetIssuer: accountID(99), Purpose: "invoice", At: payT0.Add(time.Duration(i) * time.Minute)})
	}
	at := payT0.Add(time.Hour)
	for _, id := range []uuid.UUID{settled, failed} {
		acct(accA, account.Reserve{Payment: id, Amount: map[uuid.UUID]int64{settled: 1_000, failed: 3_000}[id], BankGUID: bankB.String(), At: at})
		pay(id, payment.Confirm{BankGUID: bankB.String(), At: at})
	}
	if err := r.WaitFor(testContext(t), last); err != nil {
		t.Fatal(err)
	}
	if b := balance(bals, accA); b.Balance != 10_000 || b.Reserved != 4_000 {
		t.Fatalf("A with two reservations: %+v", b)
	}
	if got := pays.Pending(10); !slices.Equal(got, []string{min(settled.String(), failed.String()), max(settled.String(), failed.String())}) {
		t.Fatalf("pending: %v", got) // confirmed at the same time: GUID order
	}
	acct(accA, account.Debit{Payment: settled, At: at.Add(time.Second)})
	acct(accB, account.Credit{Payment: settled, Amount: 1_000, At: at.Add(time.Second)})
	pay(settled, payment.Settle{Hash: strings.Repeat("c", 64), Ledger: 12, At: at.Add(time.Second)})
	pay(failed, payment.Fail{Reason: "tx_failed", At: at.Add(time.Second)})
	acct(accA, account.Release{Payment: failed, Reason: "tx_failed", At: at.Add(time.Second)})
	pay(cancelled, payment.Cancel{At: at.Add(2 * time.Second)})
	if err := r.WaitFor(testContext(t), last); err != nil {
		t.Fatal(err)
	}

	if b := balance(bals, accA); b.Balance != 9_000 || b.Reserved != 0 || !b.UpdatedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("A settled: %+v", b)
	}
	if b := balance(bals, accB); b.Balance != 1_000 || b.Reserved != 0 {
		t.Fatalf("B credited: %+v", b)
	}
	for id, want := range map[uuid.UUID]payment.Status{settled: payment.StatusConfirmed, cancelled: payment.StatusCancelled, failed: payment.StatusFailed} {
		if p, ok := pays.Payment(id.String()); !ok || p.Status != want || p.Sender != parties[accA] || p.Receiver != parties[accB] {
			t.Fatalf("%s: %+v", want, p)
		}
	}
	if p, _ := pays.Payment(settled.String()); p.Hash != strings.Repeat("c", 64) || p.Ledger != 12 || p.BankGUID != bankB.String() {
		t.Fatalf("settled: %+v", p)
	}
	if p, _ := pays.Payment(cancelled.String()); !p.DeletedAt.Equal(at.Add(2 * time.Second)) {
		t.Fatalf("cancelled: %+v", p)
	}
	for _, bank := range []uuid.UUID{bankA, bankB} {
		if _, total, err := pays.List(projections.PaymentQuery{Counterparty: bank.String()}); err != nil || total != 3 {
			t.Fatalf("bank %s sees %d: %v", bank, total, err)
		}
	}
	if len(pays.Pending(10)) != 0 {
		t.Fatalf("in flight after the end: %v", pays.Pending(10))
	}

	// A fresh pair replaying the log agrees.
	pays2, bals2 := projections.NewPayments(), projections.NewCustomers()
	r2 := newRunner(t, store, projections.Options{}, pays2, bals2)
	start(t, r2)
	if err := r2.WaitFor(testContext(t), last); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{settled, cancelled, failed} {
		a, _ := pays.Payment(id.String())
		b, _ := pays2.Payment(id.String())
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("rebuild differs:\n %+v\n %+v", a, b)
		}
	}
	for _, id := range []uuid.UUID{accA, accB} {
		a, b := balance(bals, id), balance(bals2, id)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("balance rebuild differs: %+v %+v", a, b)
		}
	}
}
