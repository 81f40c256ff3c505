package account

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"
)

func TestGenerateThenOpen(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	kp := keypair.MustRandom()
	issuer := keypair.MustRandom().Address()
	gen := GenerateKey{GUID: uuid.New(), Kind: KindEmission, CounterpartyGUID: uuid.New(), Address: kp.Address(), SealedSeed: []byte("sealed"), At: at}

	if _, err := Decide(State{}, RecordOpened{AssetCode: "eUAH", AssetIssuer: issuer, At: at}); !errors.Is(err, ErrNotGenerated) {
		t.Fatalf("open before key: %v", err)
	}
	evs, err := Decide(State{}, gen)
	if err != nil || len(evs) != 1 {
		t.Fatalf("generate: %v %v", evs, err)
	}
	s := Evolve(State{}, evs[0])
	// A retry that recorded the same key is a no-op; another key for the same GUID is refused.
	if evs, err := Decide(s, gen); err != nil || len(evs) != 0 {
		t.Fatalf("repeat generate: %v %v", evs, err)
	}
	other := gen
	other.Address = keypair.MustRandom().Address()
	if _, err := Decide(s, other); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("other key: %v", err)
	}
	evs, err = Decide(s, RecordOpened{AssetCode: "eUAH", AssetIssuer: issuer, At: at})
	if err != nil || len(evs) != 1 {
		t.Fatalf("open: %v %v", evs, err)
	}
	s = Evolve(s, evs[0])
	if !s.Opened {
		t.Fatal("not opened")
	}
	if evs, err := Decide(s, RecordOpened{AssetCode: "eUAH", AssetIssuer: issuer, At: at}); err != nil || len(evs) != 0 {
		t.Fatalf("repeat open: %v %v", evs, err)
	}
	for _, e := range []Event{AccountKeyGenerated{GUID: "g"}, AccountOpened{GUID: "g"}} {
		typ, data, err := Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Events.Decode(typ, data); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGenerateRefusesBadInput(t *testing.T) {
	for _, c := range []GenerateKey{{}, {GUID: uuid.New(), CounterpartyGUID: uuid.New(), Kind: "x"},
		{GUID: uuid.New(), CounterpartyGUID: uuid.New(), Kind: KindProcessing, Address: "nope", SealedSeed: []byte("x")}} {
		if _, err := Decide(State{}, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// generated is the key of an account of kind k with owner o, as a GenerateKey command.
func generated(k Kind, o Owner) GenerateKey {
	return GenerateKey{GUID: uuid.New(), Kind: k, CounterpartyGUID: uuid.New(), Address: keypair.MustRandom().Address(),
		SealedSeed: []byte("sealed"), Owner: o, At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func TestOwnerFitsTheKind(t *testing.T) {
	customer, branch := uuid.NewString(), uuid.NewString()
	for name, tc := range map[string]struct {
		kind Kind
		o    Owner
		ok   bool
	}{
		"customer account of a customer":     {KindCustomer, Owner{CustomerGUID: customer, IBAN: "UA213223130000026007233566001"}, true},
		"customer account of a branch":       {KindCustomer, Owner{CustomerGUID: customer, BranchGUID: branch}, true},
		"customer account without customer":  {KindCustomer, Owner{}, false},
		"customer account with a key keeper": {KindCustomer, Owner{CustomerGUID: customer, KeyKeeperLogin: "keeper"}, false},
		"processing of a branch":             {KindProcessing, Owner{BranchGUID: branch, KeyKeeperLogin: "keeper"}, true},
		"processing with a customer":         {KindProcessing, Owner{CustomerGUID: customer}, false},
		"emission of the whole counterparty": {KindEmission, Owner{KeyKeeperLogin: "keeper"}, true},
		"emission of a branch":               {KindEmission, Owner{BranchGUID: branch}, false},
		"emission with a customer":           {KindEmission, Owner{CustomerGUID: customer}, false},
		"customer GUID not canonical":        {KindCustomer, Owner{CustomerGUID: strings.ToUpper(customer)}, false},
		"customer GUID nil":                  {KindCustomer, Owner{CustomerGUID: uuid.Nil.String()}, false},
		"branch GUID not a GUID":             {KindProcessing, Owner{BranchGUID: "main"}, false},
		"IBAN too long":                      {KindProcessing, Owner{IBAN: strings.Repeat("9", MaxIBANBytes+1)}, false},
		"key keeper too long":                {KindProcessing, Owner{KeyKeeperLogin: strings.Repeat("k", MaxKeyKeeperBytes+1)}, false},
		"sealed seed too large":              {KindProcessing, Owner{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := generated(tc.kind, tc.o)
			if name == "sealed seed too large" {
				c.SealedSeed = make([]byte, maxSealedBytes+1)
			}
			evs, err := Decide(State{}, c)
			if tc.ok {
				if err != nil || len(evs) != 1 {
					t.Fatalf("refused: %v %v", evs, err)
				}
				s := Evolve(State{}, evs[0])
				if s.Owner != tc.o || s.Kind != tc.kind || s.Address != c.Address {
					t.Fatalf("state %+v", s)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || evs != nil {
				t.Fatalf("accepted: %v %v", evs, err)
			}
		})
	}
	// A retry for another owner of the same account is refused.
	c := generated(KindCustomer, Owner{CustomerGUID: customer})
	evs, err := Decide(State{}, c)
	if err != nil {
		t.Fatal(err)
	}
	s := Evolve(State{}, evs[0])
	other := c
	other.Owner.CustomerGUID = uuid.NewString()
	if _, err := Decide(s, other); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("another owner: %v", err)
	}
}

// opened is an open customer account.
func opened(t *testing.T) State {
	t.Helper()
	c := generated(KindCustomer, Owner{CustomerGUID: uuid.NewString()})
	s := State{}
	for _, cmd := range []any{c, RecordOpened{AssetCode: "eUAH", AssetIssuer: keypair.MustRandom().Address(), At: c.At}} {
		evs, err := Decide(s, cmd)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%T: %v %v", cmd, evs, err)
		}
		s = Evolve(s, evs[0])
	}
	return s
}

func TestBlockUnblockSegmentNeedAnOpenAccount(t *testing.T) {
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	c := generated(KindCustomer, Owner{CustomerGUID: uuid.NewString()})
	evs, err := Decide(State{}, c)
	if err != nil {
		t.Fatal(err)
	}
	generatedOnly := Evolve(State{}, evs[0])
	for _, s := range []State{{}, generatedOnly} {
		for _, cmd := range []any{Block{Reason: "r", At: at}, Unblock{At: at}, SetSegment{Segment: "vip", At: at}} {
			if evs, err := Decide(s, cmd); !errors.Is(err, ErrNotOpened) || evs != nil {
				t.Errorf("%T on %+v: %v %v", cmd, s, evs, err)
			}
		}
	}
	if _, err := Decide(generatedOnly, struct{}{}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestBlockAndUnblockAreIdempotent(t *testing.T) {
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	s := opened(t)
	if evs, err := Decide(s, Unblock{At: at}); err != nil || len(evs) != 0 {
		t.Fatalf("unblock an unblocked account: %v %v", evs, err)
	}
	if _, err := Decide(s, Block{Reason: strings.Repeat("r", MaxReasonRunes+1), At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long reason: %v", err)
	}
	if _, err := Decide(s, Block{Reason: "a\x00b", At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("control character in reason: %v", err)
	}
	evs, err := Decide(s, Block{Reason: " court order ", At: at})
	want := []Event{AccountBlocked{GUID: s.GUID, Reason: "court order", At: at}}
	if err != nil || !reflect.DeepEqual(evs, want) {
		t.Fatalf("block: %#v %v", evs, err)
	}
	s = Evolve(s, evs[0])
	if !s.Blocked || !s.Opened {
		t.Fatalf("after block: %+v", s)
	}
	if evs, err := Decide(s, Block{Reason: "again", At: at}); err != nil || len(evs) != 0 {
		t.Fatalf("block twice: %v %v", evs, err)
	}
	evs, err = Decide(s, Unblock{At: at})
	if err != nil || !reflect.DeepEqual(evs, []Event{AccountUnblocked{GUID: s.GUID, At: at}}) {
		t.Fatalf("unblock: %#v %v", evs, err)
	}
	s = Evolve(s, evs[0])
	if s.Blocked {
		t.Fatalf("after unblock: %+v", s)
	}
}

func TestSetSegment(t *testing.T) {
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	s := opened(t)
	if evs, err := Decide(s, SetSegment{Segment: "  ", At: at}); err != nil || len(evs) != 0 {
		t.Fatalf("empty segment on an account in none: %v %v", evs, err)
	}
	evs, err := Decide(s, SetSegment{Segment: " vip ", At: at})
	if err != nil || !reflect.DeepEqual(evs, []Event{AccountSegmentSet{GUID: s.GUID, Segment: "vip", At: at}}) {
		t.Fatalf("set: %#v %v", evs, err)
	}
	s = Evolve(s, evs[0])
	if s.Segment != "vip" {
		t.Fatalf("segment %q", s.Segment)
	}
	if evs, err := Decide(s, SetSegment{Segment: "vip", At: at}); err != nil || len(evs) != 0 {
		t.Fatalf("same segment: %v %v", evs, err)
	}
	if _, err := Decide(s, SetSegment{Segment: strings.Repeat("s", MaxSegmentRunes+1), At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long segment: %v", err)
	}
	evs, err = Decide(s, SetSegment{At: at})
	if err != nil || len(evs) != 1 || Evolve(s, evs[0]).Segment != "" {
		t.Fatalf("out of the segment: %v %v", evs, err)
	}
}

func TestOpenedKeepsTheOwner(t *testing.T) {
	s := opened(t)
	if !s.Opened || s.AssetCode != "eUAH" || s.Owner.CustomerGUID == "" {
		t.Fatalf("%+v", s)
	}
	// Opening refuses an asset without a valid issuer.
	c := generated(KindProcessing, Owner{})
	evs, _ := Decide(State{}, c)
	g := Evolve(State{}, evs[0])
	for _, cmd := range []RecordOpened{{AssetCode: "", AssetIssuer: keypair.MustRandom().Address()}, {AssetCode: "eUAH", AssetIssuer: "nope"}} {
		if _, err := Decide(g, cmd); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", cmd, err)
		}
	}
}

func TestEveryEventRoundTrips(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	owner := Owner{CustomerGUID: uuid.NewString(), BranchGUID: uuid.NewString(), IBAN: "UA213223130000026007233566001"}
	all := []Event{
		AccountKeyGenerated{GUID: "g", Kind: KindCustomer, CounterpartyGUID: "c", Address: "A", SealedSeed: []byte{1, 2, 3}, Owner: owner, At: at},
		AccountOpened{GUID: "g", Kind: KindCustomer, CounterpartyGUID: "c", Address: "A", AssetCode: "eUAH", AssetIssuer: "I", Owner: owner, At: at},
		AccountBlocked{GUID: "g", Reason: "r", At: at},
		AccountUnblocked{GUID: "g", At: at},
		AccountSegmentSet{GUID: "g", Segment: "vip", At: at},
		AccountKeyResealed{GUID: "g", SealedSeed: []byte{4, 5}, At: at},
		AccountFundsReserved{GUID: "g", Payment: "p", Amount: 5, BankGUID: "b", At: at},
		AccountFundsReleased{GUID: "g", Payment: "p", Amount: 5, Reason: "r", At: at},
		AccountDebited{GUID: "g", Payment: "p", Amount: 5, At: at},
		AccountCredited{GUID: "g", Payment: "p", Amount: 5, At: at},
	}
	if n := len(Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	for _, e := range all {
		typ, data, err := Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || !strings.HasPrefix(typ, EventTypePrefixes[0]) {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
	}
}
