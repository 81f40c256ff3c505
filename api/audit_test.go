package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/audit"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// emptyLog is a store with no events: every stream is not found.
type emptyLog struct{}

func (emptyLog) ReadAll(context.Context, eventstore.Direction, eventstore.Position, int) ([]eventstore.RecordedEvent, error) {
	return nil, nil
}

func (emptyLog) ReadStream(_ context.Context, stream string, _ eventstore.Direction, _ uint64, _ int) ([]eventstore.RecordedEvent, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	return nil, eventstore.ErrStreamNotFound
}

// emptyAudit is the audit service of the route tests: a log without history.
func emptyAudit() AuditService {
	s, _ := audit.NewService(emptyLog{})
	return s
}

// auditWorld is a real embedded store holding an account of bank A credited and debited at known times, a
// payment between banks A and B, and an account of bank B; the API reads it through a real audit.Service.
type auditWorld struct {
	h          http.Handler
	store      *bolt.Store
	accountA   string
	accountB   string
	paymentAB  string
	t0, t1, t2 time.Time // opened, credited 100.00, reserved and debited 30.25
}

func appendEvents[E any](t *testing.T, s eventstore.Store, codec command.Codec[E], stream string, meta eventstore.Metadata, evs ...E) {
	t.Helper()
	var data []eventstore.EventData
	for _, e := range evs {
		typ, body, err := codec.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, eventstore.EventData{ID: uuid.New(), Type: typ, Data: body, Metadata: meta})
	}
	if _, err := s.Append(context.Background(), stream, eventstore.Any{}, data...); err != nil {
		t.Fatal(err)
	}
}

func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := &auditWorld{store: store, accountA: uuid.NewString(), accountB: uuid.NewString(), paymentAB: uuid.NewString(),
		t0: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	w.t1, w.t2 = w.t0.Add(time.Hour), w.t0.Add(2*time.Hour)
	meta := func(at time.Time) eventstore.Metadata {
		return eventstore.Metadata{Actor: "op@bank-a", Counterparty: bankA, RequestID: "req-" + at.Format("150405"), CorrelationID: "corr-1", Time: at}
	}
	for _, acct := range []struct{ guid, bank string }{{w.accountA, bankA}, {w.accountB, bankB}} {
		appendEvents(t, store, account.Events, account.Stream(uuid.MustParse(acct.guid)), meta(w.t0),
			account.Event(account.AccountKeyGenerated{GUID: acct.guid, Kind: account.KindProcessing, CounterpartyGUID: acct.bank,
				Address: testIssuer, SealedSeed: []byte("very secret sealed seed"), At: w.t0}),
			account.Event(account.AccountOpened{GUID: acct.guid, Kind: account.KindProcessing, CounterpartyGUID: acct.bank, Address: testIssuer, At: w.t0}))
	}
	pay := uuid.NewString()
	appendEvents(t, store, account.Events, account.Stream(uuid.MustParse(w.accountA)), meta(w.t1),
		account.Event(account.AccountCredited{GUID: w.accountA, Payment: pay, Amount: 10000, At: w.t1}))
	appendEvents(t, store, account.Events, account.Stream(uuid.MustParse(w.accountA)), meta(w.t2),
		account.Event(account.AccountFundsReserved{GUID: w.accountA, Payment: w.paymentAB, Amount: 3025, At: w.t2}),
		account.Event(account.AccountDebited{GUID: w.accountA, Payment: w.paymentAB, Amount: 3025, At: w.t2}))
	appendEvents(t, store, payment.Events, payment.Stream(uuid.MustParse(w.paymentAB)), meta(w.t2),
		payment.Event(payment.PaymentCreated{GUID: w.paymentAB, CounterpartyGUID: bankA, Amount: 3025,
			Sender:   payment.Party{AccountGUID: w.accountA, CounterpartyGUID: bankA, Kind: "processing"},
			Receiver: payment.Party{AccountGUID: w.accountB, CounterpartyGUID: bankB, Kind: "processing"}, At: w.t2}))

	svc, err := audit.NewService(store)
	if err != nil {
		t.Fatal(err)
	}
	d := testDeps()
	d.Audit = svc
	fc := newFakeCustomers()
	fc.addAccount(projections.Account{GUID: w.accountA, CounterpartyGUID: bankA, Kind: account.KindProcessing, Opened: true})
	fc.addAccount(projections.Account{GUID: w.accountB, CounterpartyGUID: bankB, Kind: account.KindProcessing, Opened: true})
	d.Customers = fc
	w.h = newRouter(d, Routes(d))
	return w
}

type balanceBody struct {
	WalletAccountGUID string      `json:"wallet_account_guid"`
	AsOf              string      `json:"as_of"`
	Balance           json.Number `json:"balance"`
	Reserved          json.Number `json:"reserved_balance"`
	Available         json.Number `json:"available_balance"`
	LastRevision      uint64      `json:"last_event_revision"`
}

func (w *auditWorld) balance(t *testing.T, bank, acct, at, token string) (int, balanceBody) {
	t.Helper()
	path := "/api/v1/counterparty/" + bank + "/accounts/" + acct + "/balance"
	if at != "" {
		path += "?at=" + at
	}
	rec := do(t, w.h, "GET", path, token, nil)
	var b balanceBody
	if rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatalf("%s: %v", rec.Body, err)
		}
	}
	return rec.Code, b
}

// TestBalanceAt: the balance before and after a payment, at the instant of an event (inclusive), now, and
// the refusals: a time before the account existed, a bad time, another bank's account.
func TestBalanceAt(t *testing.T) {
	w := newAuditWorld(t)
	tok := "bank-a-" + RoleObserver
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	cases := []struct {
		at                       string
		balance, reserved, avail string
		rev                      uint64
	}{
		{rfc(w.t0), "0", "0", "0", 1},
		{rfc(w.t1.Add(-time.Nanosecond)), "0", "0", "0", 1},
		{rfc(w.t1), "100", "0", "100", 2},                   // an event exactly at the time counts
		{rfc(w.t2.Add(-time.Second)), "100", "0", "100", 2}, // before the payment
		{rfc(w.t2), "69.75", "0", "69.75", 4},               // after the payment (reserved then debited)
		{"", "69.75", "0", "69.75", 4},                      // now
	}
	for _, c := range cases {
		code, b := w.balance(t, bankA, w.accountA, strings.ReplaceAll(c.at, "+", "%2B"), tok)
		if code != 200 || b.Balance.String() != c.balance || b.Reserved.String() != c.reserved || b.Available.String() != c.avail || b.LastRevision != c.rev {
			t.Errorf("at %q: %d %+v, want balance %s reserved %s available %s revision %d", c.at, code, b, c.balance, c.reserved, c.avail, c.rev)
		}
		if c.at != "" && b.AsOf != apiTime(mustTime(t, c.at)) {
			t.Errorf("at %q: as_of %q", c.at, b.AsOf)
		}
	}
	// In another zone the same instant answers the same.
	kyiv := w.t2.In(time.FixedZone("EEST", 3*3600)).Format(time.RFC3339)
	if code, b := w.balance(t, bankA, w.accountA, strings.ReplaceAll(kyiv, "+", "%2B"), tok); code != 200 || b.Balance.String() != "69.75" {
		t.Errorf("at %s: %d %+v", kyiv, code, b)
	}
	// Before the account's first event: 404 naming at.
	rec := do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/accounts/"+w.accountA+"/balance?at="+rfc(w.t0.Add(-time.Minute)), tok, nil)
	if body := errorOf(t, rec, 404, CodeNotFound); body.Field != "at" {
		t.Errorf("before the account existed: %+v", body)
	}
	for _, bad := range []string{"yesterday", "2026-05-01", "2026-05-01T25:00:00Z"} {
		rec := do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/accounts/"+w.accountA+"/balance?at="+bad, tok, nil)
		if body := errorOf(t, rec, 400, CodeInvalidField); body.Field != "at" {
			t.Errorf("at=%s: %+v", bad, body)
		}
	}
	// Bank B's account is not bank A's: 404 through bank A's path, 403 on bank B's path.
	errorOf(t, do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/accounts/"+w.accountB+"/balance", tok, nil), 404, CodeNotFound)
	errorOf(t, do(t, w.h, "GET", "/api/v1/counterparty/"+bankB+"/accounts/"+w.accountB+"/balance", tok, nil), 403, CodeForbidden)
	errorOf(t, do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/accounts/"+uuid.NewString()+"/balance", tok, nil), 404, CodeNotFound)
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type eventsBody struct {
	Stream    string `json:"stream"`
	HasMore   bool   `json:"has_more"`
	NextAfter *uint64
	Events    []struct {
		Type           string          `json:"type"`
		Revision       uint64          `json:"revision"`
		Position       string          `json:"position"`
		Time           string          `json:"time"`
		Actor          string          `json:"actor"`
		RequestID      string          `json:"request_id"`
		CorrelationID  string          `json:"correlation_id"`
		Hash           string          `json:"hash"`
		PrevHash       string          `json:"prev_hash"`
		Data           json.RawMessage `json:"data"`
		RedactedFields []string        `json:"redacted_fields"`
	} `json:"events"`
}

func getEvents(t *testing.T, h http.Handler, path, token string) eventsBody {
	t.Helper()
	rec := do(t, h, "GET", path, token, nil)
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	var raw map[string]json.RawMessage
	var b eventsBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	if n, ok := raw["next_after"]; ok {
		var v uint64
		_ = json.Unmarshal(n, &v)
		b.NextAfter = &v
	}
	return b
}

// TestAuditEvents: a bank's auditor pages through its account's history with who, when and why, secrets
// redacted and the hash chain intact; other banks' entities are 404; non-auditors are 403.
func TestAuditEvents(t *testing.T) {
	w := newAuditWorld(t)
	auditor := "bank-a-" + RoleAuditor
	base := "/api/v1/counterparty/" + bankA + "/audit/events?entity=account&guid=" + w.accountA

	var seen []uint64
	prevHash := strings.Repeat("0", 64)
	path := base + "&limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		b := getEvents(t, w.h, path, auditor)
		if b.Stream != "account-"+w.accountA {
			t.Fatalf("stream %q", b.Stream)
		}
		for _, e := range b.Events {
			seen = append(seen, e.Revision)
			if e.PrevHash != prevHash || len(e.Hash) != 64 {
				t.Errorf("revision %d: prev_hash %s, want %s", e.Revision, e.PrevHash, prevHash)
			}
			prevHash = e.Hash
			if e.Actor != "op@bank-a" || e.CorrelationID != "corr-1" || !strings.HasPrefix(e.RequestID, "req-") || e.Time == "" || e.Position == "" {
				t.Errorf("revision %d lacks who/when/why: %+v", e.Revision, e)
			}
		}
		if e := b.Events; len(e) > 0 && e[0].Revision == 0 {
			if string(e[0].Data) == "" || strings.Contains(string(e[0].Data), "c2VjcmV0") || !strings.Contains(string(e[0].Data), `"sealed_seed":"[redacted]"`) ||
				len(e[0].RedactedFields) != 1 || e[0].RedactedFields[0] != "sealed_seed" {
				t.Errorf("the key event is not redacted: %s %v", e[0].Data, e[0].RedactedFields)
			}
		}
		if !b.HasMore {
			if b.NextAfter != nil {
				t.Errorf("last page has next_after %d", *b.NextAfter)
			}
			break
		}
		if b.NextAfter == nil || len(b.Events) != 2 {
			t.Fatalf("page with more: %+v", b)
		}
		path = base + "&limit=2&after=" + strconv.FormatUint(*b.NextAfter, 10)
	}
	if len(seen) != 5 || seen[0] != 0 || seen[4] != 4 {
		t.Fatalf("revisions seen %v, want 0…4 once each", seen)
	}

	// The payment between A and B belongs to both banks; B's account belongs to B only.
	pay := "/audit/events?entity=payment&guid=" + w.paymentAB
	if b := getEvents(t, w.h, "/api/v1/counterparty/"+bankA+pay, auditor); len(b.Events) != 1 || b.Events[0].Type != "PaymentCreated" {
		t.Errorf("bank A's view of the payment: %+v", b)
	}
	if b := getEvents(t, w.h, "/api/v1/counterparty/"+bankB+pay, "bank-b-admin"); len(b.Events) != 1 {
		t.Errorf("bank B's view of the payment: %+v", b)
	}
	errorOf(t, do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/audit/events?entity=account&guid="+w.accountB, auditor, nil), 404, CodeNotFound)
	errorOf(t, do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/audit/events?entity=customer&guid="+uuid.NewString(), auditor, nil), 404, CodeNotFound)
	// Another bank's path: 403 (the caller is not of that bank).
	errorOf(t, do(t, w.h, "GET", "/api/v1/counterparty/"+bankB+"/audit/events?entity=account&guid="+w.accountB, auditor, nil), 403, CodeForbidden)

	// Non-auditors: 403 naming audit.read.
	for _, role := range []string{RoleObserver, RoleOperator, RoleReconciliationOperator} {
		body := errorOf(t, do(t, w.h, "GET", base, "bank-a-"+role, nil), 403, CodeForbidden)
		if body.Permission != PermAuditRead {
			t.Errorf("%s: %+v", role, body)
		}
	}

	// Bad parameters: 400 naming them.
	for q, field := range map[string]string{
		"entity=account":                                    "guid",
		"guid=" + w.accountA:                                "entity",
		"entity=ledger&guid=" + w.accountA:                  "entity",
		"entity=account&guid=nope":                          "guid",
		"entity=account&guid=" + w.accountA + "&after=-1":   "after",
		"entity=account&guid=" + w.accountA + "&limit=0":    "limit",
		"entity=account&guid=" + w.accountA + "&limit=1001": "limit",
	} {
		rec := do(t, w.h, "GET", "/api/v1/counterparty/"+bankA+"/audit/events?"+q, auditor, nil)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"`+field+`"`) {
			t.Errorf("?%s: %d %s, want 400 naming %s", q, rec.Code, rec.Body, field)
		}
	}
	// Past the end: an empty last page.
	if b := getEvents(t, w.h, base+"&after=4", auditor); len(b.Events) != 0 || b.HasMore {
		t.Errorf("after the last event: %+v", b)
	}
}

// TestPlatformAuditEvents: platform staff read any bank's entity and any stream by name; no bank caller can.
func TestPlatformAuditEvents(t *testing.T) {
	w := newAuditWorld(t)
	if b := getEvents(t, w.h, "/api/v1/audit/events?entity=account&guid="+w.accountB, "platform-admin"); len(b.Events) != 2 {
		t.Errorf("platform view of bank B's account: %+v", b)
	}
	if b := getEvents(t, w.h, "/api/v1/audit/events?stream=account-"+w.accountA+"&limit=1&after=3", "platform-admin"); len(b.Events) != 1 || b.Events[0].Revision != 4 || b.HasMore {
		t.Errorf("stream by name: %+v", b)
	}
	errorOf(t, do(t, w.h, "GET", "/api/v1/audit/events?stream=no-such-stream", "platform-admin", nil), 404, CodeNotFound)
	errorOf(t, do(t, w.h, "GET", "/api/v1/audit/events?stream=account-"+w.accountA+"&entity=account&guid="+w.accountA, "platform-admin", nil), 400, CodeInvalidField)
	for _, tok := range []string{"bank-a-" + RoleAuditor, "bank-a-" + RoleAdministrator, "cx:bank-a-system", "platform-clerk"} {
		errorOf(t, do(t, w.h, "GET", "/api/v1/audit/events?entity=account&guid="+w.accountA, tok, nil), 403, CodeForbidden)
	}
}
