package account

import (
	"errors"
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
