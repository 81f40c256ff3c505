package projections

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
)

// reconDecoded is what the recons model takes from an event, as comparable values.
type reconDecoded struct {
	GUID string
	Open openPayment
	At   time.Time
	OK   bool
}

// reconsBoth decodes with the model's reader and with the codec (reconsIn.slowDecode, which only reduces
// the codec's event); fastSlow reports that the reader handed over to the codec.
func reconsBoth(c *reconsIn, eventType string, data []byte) (fast, std reconDecoded, fastErr, stdErr error, fastSlow bool) {
	reduce := func(e reconEvent, ok bool) reconDecoded {
		if !ok {
			return reconDecoded{} // an event the model passes over: only that matters
		}
		return reconDecoded{GUID: string(e.guid), Open: e.open, At: e.at, OK: ok}
	}
	e, ok, fastErr := c.decode(eventType, data)
	fastSlow = c.in.slow
	fast = reduce(e, ok)
	e, ok, stdErr = (&reconsIn{}).slowDecode(eventType, data)
	std = reduce(e, ok)
	return fast, std, fastErr, stdErr, fastSlow
}

func checkReconsSame(t *testing.T, c *reconsIn, eventType string, data []byte) (slow bool) {
	t.Helper()
	fast, std, fastErr, stdErr, slow := reconsBoth(c, eventType, data)
	if (fastErr != nil) != (stdErr != nil) {
		t.Fatalf("%s %s: reader error %v, codec error %v", eventType, data, fastErr, stdErr)
	}
	if stdErr == nil && !reflect.DeepEqual(fast, std) {
		t.Fatalf("%s %s:\n reader %#v\n codec  %#v", eventType, data, fast, std)
	}
	return slow
}

func randomParty(r *rand.Rand) payment.Party {
	s := func() string { return randomText(r) }
	kinds := []payment.Kind{payment.KindRoot, payment.KindEmission, payment.KindProcessing, payment.KindCustomer, payment.Kind(s())}
	cp := s()
	if r.IntN(2) == 0 {
		cp = []string{"0B0C5E1E-4D7A-4F39-9A55-5B8E7D2F4A01", "7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02", "ÀÉÎ-bank"}[r.IntN(3)]
	}
	return payment.Party{AccountGUID: s(), Kind: kinds[r.IntN(len(kinds))], CounterpartyGUID: cp, Address: s(), IBAN: s(),
		BranchGUID: s(), CustomerGUID: s()}
}

func randomPaymentEvents(r *rand.Rand) []payment.Event {
	s := func() string { return randomText(r) }
	var target *int64
	if r.IntN(2) == 0 {
		v := r.Int64() - r.Int64()
		target = &v
	}
	return []payment.Event{
		payment.PaymentCreated{GUID: s(), CounterpartyGUID: s(), BranchGUID: s(), Sender: randomParty(r), Receiver: randomParty(r),
			Amount: r.Int64() - r.Int64(), AssetCode: s(), AssetIssuer: s(), CategoryGUID: s(), Category: s(), Purpose: s(),
			TargetBalance: target, Emission: s(), CreatedBy: s(), At: randomTime(r)},
		payment.PaymentConfirmed{GUID: s(), BankGUID: s(), By: s(), At: randomTime(r)},
		payment.PaymentSettled{GUID: s(), Hash: s(), Ledger: r.Int32() - r.Int32(), At: randomTime(r)},
		payment.PaymentFailed{GUID: s(), Reason: s(), At: randomTime(r)},
		payment.PaymentCancelled{GUID: s(), By: s(), At: randomTime(r)},
		payment.PaymentSignatureRequested{GUID: s(), Attempt: r.IntN(5), Addresses: []string{s()}, TxHash: s(), At: randomTime(r)},
		payment.PaymentSigned{GUID: s(), Attempt: r.IntN(5), At: randomTime(r)},
		payment.PaymentSignatureRefused{GUID: s(), Reason: s(), Final: r.IntN(2) == 0, At: randomTime(r)},
	}
}

// reconsMutations add to the customers model's mutations the members of payment events.
var reconsMutations = append(slices.Clip(mutations),
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"ledger":`), []byte(`"ledger":4294967296,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"ledger":`), []byte(`"ledger":1.0,"x":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"sender":`), []byte(`"sender":null,"s":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"sender":`), []byte(`"sender":[],"s":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"receiver":{`), []byte(`"receiver":{"kind":"root","counterparty_guid":null,`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		// A second sender merges into the first, as encoding/json decodes into the same struct.
		return bytes.Replace(b, []byte(`"amount":`), []byte(`"sender":{"kind":"root"},"amount":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte { return bytes.Replace(b, []byte(`"kind":`), []byte(`"Kind":`), 1) },
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"counterparty_guid":"`), []byte(`"counterparty_guid":"\u00C9`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"target_balance":`), []byte(`"target_balance":"1","t":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"target_balance":`), []byte(`"target_balance":null,"t":`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"hash":"`), []byte(`"hash":1,"h":"`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"by":"`), []byte(`"by":{},"b":"`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"bank_guid":"`), []byte(`"bank_guid":false,"b":"`), 1)
	},
	func(r *rand.Rand, b []byte) []byte {
		return bytes.Replace(b, []byte(`"purpose":"`), []byte(`"purpose":"\"`), 1)
	},
)

// The recons model's reader agrees with the codec on every payment event, valid or not: the same values of
// what the model keeps, and an error exactly when the codec errs.
func TestReconsDecoderAgreesWithTheCodec(t *testing.T) {
	c := &reconsIn{}
	r := rand.New(rand.NewPCG(7, 8))
	fast, total := 0, 0
	for range 300 {
		for _, e := range randomPaymentEvents(r) {
			typ, data, err := payment.Events.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			total++
			if !checkReconsSame(t, c, typ, data) {
				fast++
			}
			for _, m := range reconsMutations {
				checkReconsSame(t, c, typ, m(r, slices.Clone(data)))
			}
		}
	}
	if fast < total/3 {
		t.Fatalf("the reader read only %d of %d events", fast, total)
	}
	// The events of a payment as the ledger writes them are always read by the reader.
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tb := int64(90_00)
	for _, e := range []payment.Event{
		payment.PaymentCreated{GUID: "3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93", CounterpartyGUID: "6a1d0e52-4c3b-4f8a-b2d7-91e0c4a5f816",
			Sender:   payment.Party{AccountGUID: "c0a8f3e2-7b14-4d6e-a9c5-58f2e1b03d47", Kind: payment.KindCustomer, CounterpartyGUID: "6a1d0e52-4c3b-4f8a-b2d7-91e0c4a5f816", Address: "GSENDER", IBAN: "UA21", CustomerGUID: "x"},
			Receiver: payment.Party{Kind: payment.KindRoot, Address: "GISSUER"}, Amount: 10_00, AssetCode: "eUAH", AssetIssuer: "GISSUER",
			Purpose: "Оплата", TargetBalance: &tb, CreatedBy: "olena", At: at},
		payment.PaymentConfirmed{GUID: "3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93", BankGUID: "b", By: "olena", At: at},
		payment.PaymentSettled{GUID: "3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93", Hash: strings.Repeat("ab", 32), Ledger: 77, At: at},
		payment.PaymentFailed{GUID: "3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93", Reason: "tx_failed", At: at},
		payment.PaymentCancelled{GUID: "3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93", By: "olena", At: at},
	} {
		typ, data, _ := payment.Events.Encode(e)
		if checkReconsSame(t, c, typ, data) {
			t.Fatalf("a plain event took the slow path: %s", data)
		}
	}
}

func FuzzReconsDecoder(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, e := range randomPaymentEvents(r) {
		typ, data, _ := payment.Events.Encode(e)
		f.Add(typ, data)
	}
	types := payment.Events.Types()
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		if !slices.Contains(types, typ) {
			typ = types[len(typ)%len(types)]
		}
		checkReconsSame(t, &reconsIn{}, typ, data)
	})
}

// A malformed event of a type the model does not fold (a confirmation) still stops it, as before the reader.
func TestReconsRefuseMalformedPaymentEvents(t *testing.T) {
	p := NewRecons()
	for _, typ := range payment.Events.Types() {
		if err := p.Apply(eventstore.RecordedEvent{Type: typ, Data: []byte(`{"guid":"a","at":"yesterday"}`)}); err == nil {
			t.Errorf("%s with a bad time was taken", typ)
		}
	}
	if err := p.Apply(eventstore.RecordedEvent{Type: typePaymentSettled, Data: []byte(`{"guid":"nobody","hash":"h","at":"2026-05-01T00:00:00Z"}`)}); err == nil ||
		!strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("a settlement of a payment never created: %v", err)
	}
}
