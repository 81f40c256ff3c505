package projections

import (
	"strings"
	"time"

	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
)

// The recons read model reads the payment events it folds with the fast reader (jsonIn), keeping only what
// settlement needs; through encoding/json (payment.Events) decoding was nine tenths of its Apply in a
// rebuild. As in the other models, the reader is exact or it gives up, and then the codec decides: an event
// the codec refuses is refused here, and one the reader takes reads as the codec would read it. Only Apply's
// goroutine uses what follows.

// reconEvent is what Apply keeps of a payment event.
type reconEvent struct {
	guid []byte // the payment's GUID: reconsIn.guid, valid until the next event is read
	open openPayment
	at   time.Time
}

// reconsIn is the Recons model's reader and the values it shares between payments, so that a payment in
// flight costs no allocation but its GUID.
type reconsIn struct {
	in   jsonIn
	guid []byte
	// lower maps a counterparty GUID as written to its lower-cased text, and shared keeps asset codes and
	// issuers, each held once. Both are small (banks and assets); past maxReconShared a value is allocated.
	lower  map[string]string
	shared map[string]string
	// day caches the UTC day of the last settlement, which the next one almost always shares.
	dayY      int
	dayM      time.Month
	dayD      int
	dayText   string
	dayParsed bool
}

const maxReconShared = 1 << 12

func (c *reconsIn) lowerOf(b []byte) string {
	if s, ok := c.lower[string(b)]; ok {
		return s
	}
	s := string(b)
	l := strings.ToLower(s)
	if c.lower == nil {
		c.lower = map[string]string{}
	}
	if len(c.lower) < maxReconShared {
		c.lower[s] = l
	}
	return l
}

func (c *reconsIn) sharedOf(b []byte) string {
	if s, ok := c.shared[string(b)]; ok {
		return s
	}
	s := string(b)
	if c.shared == nil {
		c.shared = map[string]string{}
	}
	if len(c.shared) < maxReconShared {
		c.shared[s] = s
	}
	return s
}

// dayOf is reconciliation.Day(t), without formatting it again for each payment of the same day.
func (c *reconsIn) dayOf(t time.Time) string {
	y, m, d := t.UTC().Date()
	if !c.dayParsed || y != c.dayY || m != c.dayM || d != c.dayD {
		c.dayY, c.dayM, c.dayD, c.dayText, c.dayParsed = y, m, d, reconciliation.Day(t), true
	}
	return c.dayText
}

// readGUID reads the payment's GUID into c.guid (null leaves it alone, as encoding/json would).
func (c *reconsIn) readGUID() {
	if b, ok := c.in.str(); ok {
		c.guid = append(c.guid[:0], b...)
	}
}

// readParty reads one side of a payment: whether it is the issuer, and its counterparty lower-cased. The
// party's other members are checked.
func (c *reconsIn) readParty(cp *string, issuer *bool) {
	r := &c.in
	r.object(func(k []byte) {
		switch string(k) {
		case "kind":
			if b, ok := r.str(); ok {
				*issuer = string(b) == string(payment.KindRoot)
			}
		case "counterparty_guid":
			if b, ok := r.str(); ok {
				*cp = c.lowerOf(b)
			}
		case "account_guid", "address", "iban", "branch_guid", "customer_guid":
			r.checkStr()
		default:
			r.unknown(k, paymentPartyFields...)
		}
	})
}

// decode reads a payment event of a type the model folds (created, settled, failed, cancelled) or checks
// (confirmed, and any other through the codec). ok is false for an event that decodes but carries nothing
// for the model.
func (c *reconsIn) decode(eventType string, data []byte) (e reconEvent, ok bool, err error) {
	r := &c.in
	r.reset(data)
	c.guid = c.guid[:0]
	switch eventType {
	case typePaymentCreated:
		var at time.Time
		r.object(func(k []byte) {
			switch string(k) {
			case "guid":
				c.readGUID()
			case "sender":
				c.readParty(&e.open.from, &e.open.fromIssuer)
			case "receiver":
				c.readParty(&e.open.to, &e.open.toIssuer)
			case "amount":
				if v, ok := r.integer(); ok {
					e.open.amount = v
				}
			case "asset_code":
				if b, ok := r.str(); ok {
					e.open.code = c.sharedOf(b)
				}
			case "asset_issuer":
				if b, ok := r.str(); ok {
					e.open.issue = c.sharedOf(b)
				}
			case "target_balance":
				r.integer()
			case "at":
				r.time(&at)
			case "counterparty_guid", "branch_guid", "category_guid", "category", "purpose", "emission", "created_by":
				r.checkStr()
			default:
				r.unknown(k, paymentCreatedFields...)
			}
		})
		ok = true
	case typePaymentSettled:
		r.object(func(k []byte) {
			switch string(k) {
			case "guid":
				c.readGUID()
			case "ledger":
				if v, ok := r.integer(); ok && v != int64(int32(v)) {
					r.bail() // encoding/json refuses it
				}
			case "at":
				r.time(&e.at)
			case "hash":
				r.checkStr()
			default:
				r.unknown(k, paymentSettledFields...)
			}
		})
		ok = true
	case typePaymentFailed, typePaymentCancelled, typePaymentConfirmed:
		fields, other := paymentFailedFields, "reason"
		switch eventType {
		case typePaymentCancelled:
			fields, other = paymentCancelledFields, "by"
		case typePaymentConfirmed:
			fields, other = paymentConfirmedFields, "by"
		}
		var at time.Time
		r.object(func(k []byte) {
			switch {
			case string(k) == "guid":
				c.readGUID()
			case string(k) == "at":
				r.time(&at)
			case string(k) == other, eventType == typePaymentConfirmed && string(k) == "bank_guid":
				r.checkStr()
			case eventType == typePaymentConfirmed && string(k) == "limits":
				r.skip()
			default:
				r.unknown(k, fields...)
			}
		})
		ok = eventType != typePaymentConfirmed
	default:
		r.bail()
	}
	r.end()
	if !r.slow {
		e.guid = c.guid
		return e, ok, nil
	}
	return c.slowDecode(eventType, data)
}

// slowDecode decodes with the codec, which decides what the fast reader could not.
func (c *reconsIn) slowDecode(eventType string, data []byte) (e reconEvent, ok bool, err error) {
	v, err := payment.Events.Decode(eventType, data)
	if err != nil {
		return reconEvent{}, false, err
	}
	var guid string
	switch v := v.(type) {
	case payment.PaymentCreated:
		guid = v.GUID
		e.open = openPayment{amount: v.Amount, from: strings.ToLower(v.Sender.CounterpartyGUID), to: strings.ToLower(v.Receiver.CounterpartyGUID),
			fromIssuer: v.Sender.Kind == payment.KindRoot, toIssuer: v.Receiver.Kind == payment.KindRoot, code: v.AssetCode, issue: v.AssetIssuer}
	case payment.PaymentSettled:
		guid, e.at = v.GUID, v.At
	case payment.PaymentFailed:
		guid = v.GUID
	case payment.PaymentCancelled:
		guid = v.GUID
	default:
		return reconEvent{}, false, nil
	}
	c.guid = append(c.guid[:0], guid...)
	e.guid = c.guid
	return e, true, nil
}
