package eventstore

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestParseExpectedRevision(t *testing.T) {
	for in, want := range map[string]ExpectedRevision{"any": Any{}, "no_stream": NoStream{}, "stream_exists": StreamExists{}, "0": Exact(0), "42": Exact(42)} {
		got, err := ParseExpectedRevision(in)
		if err != nil || got != want {
			t.Fatalf("ParseExpectedRevision(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Fatalf("%v prints as %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"", "-1", "Any", "1.5", "18446744073709551615", "next"} {
		if _, err := ParseExpectedRevision(in); !errors.Is(err, ErrInvalidExpectedRevision) {
			t.Fatalf("ParseExpectedRevision(%q): want ErrInvalidExpectedRevision, got %v", in, err)
		}
	}
}

func TestCheckExpected(t *testing.T) {
	none, at3 := StreamState{}, StreamState{Exists: true, LastRevision: 3}
	cases := []struct {
		e  ExpectedRevision
		s  StreamState
		ok bool
	}{
		{Any{}, none, true}, {Any{}, at3, true},
		{NoStream{}, none, true}, {NoStream{}, at3, false},
		{StreamExists{}, none, false}, {StreamExists{}, at3, true},
		{Exact(3), at3, true}, {Exact(2), at3, false}, {Exact(0), none, false},
	}
	for _, c := range cases {
		err := CheckExpected("s", c.e, c.s)
		if c.ok != (err == nil) {
			t.Fatalf("CheckExpected(%v, %v) = %v, want ok=%v", c.e, c.s, err, c.ok)
		}
		var conflict *RevisionConflict
		if err != nil && (!errors.As(err, &conflict) || conflict.Actual != c.s) {
			t.Fatalf("conflict should carry the actual state %v, got %v", c.s, err)
		}
	}
}

func TestFilter(t *testing.T) {
	f := Filter{StreamPrefixes: []string{"payment-", "account-"}}
	if !f.Matches("payment-1", "X") || f.Matches("customer-1", "X") {
		t.Fatalf("stream-prefix filter matched wrongly")
	}
	g := Filter{EventTypePrefixes: []string{"Payment"}}
	if !g.Matches("any", "PaymentSettled") || g.Matches("payment-1", "FundsReserved") {
		t.Fatalf("event-type filter matched wrongly")
	}
	if !(Filter{}).Matches("x", "y") {
		t.Fatalf("the empty filter must match everything")
	}
	if err := (Filter{StreamPrefixes: []string{""}}).Validate(); !errors.Is(err, ErrInvalidRead) {
		t.Fatalf("empty prefix should be refused, got %v", err)
	}
}

// The chain encoding is persisted in every store: it must not change by accident. A deliberate change needs a
// new chainDomain version and a migration.
func TestChainHashIsStable(t *testing.T) {
	e := EventData{
		ID:   uuid.MustParse("5f0b6f0e-8d1a-4c35-9e57-2b0c1f7a9d11"),
		Type: "CustomerRegistered",
		Data: []byte(`{"login":"olena"}`),
		Metadata: Metadata{Actor: "admin", Counterparty: "bank-1", CorrelationID: "c", CausationID: "k", RequestID: "r",
			Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)},
	}
	h0 := ChainHash(Hash{}, "customer-1", 0, e)
	const golden = "292e632231674647797c9c18e7616c689281c08caa81184d25fe425aa2bc847e"
	if h0.String() != golden {
		t.Fatalf("ChainHash = %s, want %s: the persisted chain encoding changed", h0, golden)
	}
	// Every field takes part: changing any one changes the hash.
	variants := map[string]Hash{
		"prev":     ChainHash(Hash{1}, "customer-1", 0, e),
		"stream":   ChainHash(Hash{}, "customer-2", 0, e),
		"revision": ChainHash(Hash{}, "customer-1", 1, e),
	}
	mut := func(f func(*EventData)) Hash { c := e; f(&c); return ChainHash(Hash{}, "customer-1", 0, c) }
	variants["id"] = mut(func(c *EventData) { c.ID = uuid.New() })
	variants["type"] = mut(func(c *EventData) { c.Type = "CustomerRenamed" })
	variants["data"] = mut(func(c *EventData) { c.Data = []byte(`{"login":"olenA"}`) })
	variants["actor"] = mut(func(c *EventData) { c.Metadata.Actor = "admin2" })
	variants["time"] = mut(func(c *EventData) { c.Metadata.Time = c.Metadata.Time.Add(time.Nanosecond) })
	variants["shifted"] = mut(func(c *EventData) { c.Metadata.Actor, c.Metadata.Counterparty = "adminb", "ank-1" })
	for name, h := range variants {
		if h == h0 {
			t.Fatalf("changing the %s does not change the hash", name)
		}
	}
}

func BenchmarkChainHash(b *testing.B) {
	e := EventData{ID: uuid.New(), Type: "FundsReserved", Data: []byte(`{"payment_guid":"5f0b6f0e-8d1a-4c35-9e57-2b0c1f7a9d11","amount_minor":12345,"asset_code":"UAH","purpose":"transfer between wallets of one bank"}`),
		Metadata: Metadata{Actor: "employee-42", Counterparty: "bank-1", CorrelationID: uuid.NewString(), RequestID: uuid.NewString(), Time: time.Now()}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ChainHash(Hash{}, "account-5f0b6f0e-8d1a-4c35-9e57-2b0c1f7a9d11", uint64(i), e)
	}
}
