package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
)

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestParseCut(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC)
	for s, want := range map[string]Cut{
		"2026-05-01T12:00:00.5Z":      Until(at),
		"2026-05-01T15:00:00.5+03:00": Until(at.In(time.FixedZone("", 3*3600))),
		"1500":                        UntilPosition(eventstore.Position{Commit: 1500, Prepare: 1500}),
		" 1500/1498 ":                 UntilPosition(eventstore.Position{Commit: 1500, Prepare: 1498}),
	} {
		got, err := ParseCut(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if gp, gb := got.ByPosition(); gb {
			if wp, _ := want.ByPosition(); gp != wp {
				t.Errorf("%q: %v", s, got)
			}
		} else if !got.Time().Equal(want.Time()) {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-05-01", "-1", "1500/x", "2026-13-01T00:00:00Z", "1.5"} {
		if _, err := ParseCut(bad); !errors.Is(err, ErrInvalidCut) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	e := &eventstore.RecordedEvent{Position: eventstore.Position{Commit: 7, Prepare: 7}, Metadata: eventstore.Metadata{Time: at}}
	if !Until(at).Includes(e) || Until(at.Add(-1)).Includes(e) || !UntilPosition(e.Position).Includes(e) ||
		UntilPosition(eventstore.Position{Commit: 6, Prepare: 6}).Includes(e) || !(Cut{}).Includes(e) {
		t.Error("Includes: the cut is inclusive of its time and position, and excludes what is after")
	}
}

func TestBalanceAtRefusals(t *testing.T) {
	l := newLedger(t)
	if _, err := BalanceAt(context.Background(), l.store, uuid.New(), time.Time{}); !errors.Is(err, ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := BalanceAt(context.Background(), l.store, uuidOf(t, l.acctA), l.t0.Add(-time.Second)); !errors.Is(err, ErrNotYetOpened) {
		t.Fatalf("before the account: %v", err)
	}
	b, err := BalanceAt(context.Background(), l.store, uuidOf(t, l.acctA), time.Time{})
	if err != nil || b.CounterpartyGUID != l.bankA || b.Balance != 6975 || b.Available() != 6975 || b.Revision != 4 || b.Position.Commit == 0 {
		t.Fatalf("now: %+v %v", b, err)
	}
	if a, err := PlatformAsset(context.Background(), l.store); err != nil || a.Code != "UAH" || a.Decimals != 2 {
		t.Fatalf("asset %+v %v", a, err)
	}
}

func TestSheetFormats(t *testing.T) {
	s := Sheet{Cut: Until(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)), Last: eventstore.Position{Commit: 9, Prepare: 9}, Events: 9,
		Asset: money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2},
		Accounts: []Balance{{CounterpartyGUID: "cp", AccountGUID: "a1", Kind: "customer", CustomerGUID: "c1", Balance: 10050, Reserved: 25},
			{CounterpartyGUID: "cp", AccountGUID: "a2", Kind: "processing", Balance: -1}}}
	var b bytes.Buffer
	if err := s.Write(&b, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AsOf     string `json:"as_of"`
		Accounts []struct {
			Balance, Reserved, Available string
		} `json:"accounts"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AsOf != "2026-05-01T00:00:00Z" || len(doc.Accounts) != 2 || !strings.Contains(b.String(), `"balance": "100.50"`) ||
		!strings.Contains(b.String(), `"available_balance": "100.25"`) || !strings.Contains(b.String(), `"balance": "-0.01"`) {
		t.Fatalf("json:\n%s", b.String())
	}
	b.Reset()
	if err := s.Write(&b, FormatCSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][1] != "wallet_account_guid" || !slices.Equal(recs[1][5:], []string{"100.50", "0.25", "100.25"}) {
		t.Fatalf("csv %v %v", recs, err)
	}
	b.Reset()
	if err := s.Write(&b, FormatText); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Balances as of 2026-05-01T00:00:00Z: 9 events") || !strings.Contains(b.String(), "100.49") {
		t.Fatalf("text:\n%s", b.String())
	}
	if err := s.Write(&b, "xml"); err == nil {
		t.Fatal("xml accepted")
	}
}

func TestHistoryOwnersAndRedaction(t *testing.T) {
	l := newLedger(t)
	svc, err := NewService(l.store)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The payment belongs to both banks; A's account to A only.
	for _, bank := range []string{l.bankA, l.bankB, ""} {
		if p, err := svc.History(ctx, HistoryQuery{Bank: bank, Entity: EntityPayment, GUID: uuidOf(t, l.pay)}); err != nil || len(p.Events) != 1 {
			t.Errorf("payment as %q: %+v %v", bank, p, err)
		}
	}
	if _, err := svc.History(ctx, HistoryQuery{Bank: l.bankB, Entity: EntityAccount, GUID: uuidOf(t, l.acctA)}); !errors.Is(err, ErrNoHistory) {
		t.Errorf("another bank's account: %v", err)
	}
	if _, err := svc.History(ctx, HistoryQuery{Bank: l.bankA, Entity: EntityCounterparty, GUID: uuidOf(t, l.bankB)}); !errors.Is(err, ErrNoHistory) {
		t.Errorf("another bank: %v", err)
	}
	if p, err := svc.History(ctx, HistoryQuery{Bank: l.bankB, Entity: EntityCounterparty, GUID: uuidOf(t, l.bankB)}); err != nil || len(p.Events) != 1 {
		t.Errorf("own bank: %+v %v", p, err)
	}
	if _, err := svc.History(ctx, HistoryQuery{Entity: "ledger", GUID: uuid.New()}); !errors.Is(err, ErrUnknownEntity) {
		t.Errorf("unknown entity: %v", err)
	}
	// Paging: 2 + 2 + 1 events, the cursor is the last revision.
	var revs []uint64
	q := HistoryQuery{Bank: l.bankA, Entity: EntityAccount, GUID: uuidOf(t, l.acctA), Limit: 2}
	for {
		p, err := svc.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			revs = append(revs, e.Revision)
		}
		if !p.More {
			break
		}
		q.After, q.HasAfter = p.NextAfter, true
	}
	if !slices.Equal(revs, []uint64{0, 1, 2, 3, 4}) {
		t.Fatalf("pages gave revisions %v", revs)
	}
	// Secrets at any depth are redacted and named; the rest of the data is untouched, amounts exact.
	e := redact(eventstore.RecordedEvent{Data: []byte(`{"amount":12345678901234567890,"sealed_seed":"c2VjcmV0","inner":{"Password_Hash":"x","list":[{"token_sha256":"y"}]}}`)})
	s := string(e.Data)
	if strings.Contains(s, "c2VjcmV0") || strings.Contains(s, `"x"`) || strings.Contains(s, `"y"`) || !strings.Contains(s, "12345678901234567890") ||
		!slices.Equal(e.Redacted, []string{"inner.Password_Hash", "inner.list[0].token_sha256", "sealed_seed"}) {
		t.Fatalf("redacted %s %v", s, e.Redacted)
	}
	if e := redact(eventstore.RecordedEvent{Data: []byte("not json")}); string(e.Data) != `"not json"` {
		t.Fatalf("non-JSON data: %s", e.Data)
	}
}
