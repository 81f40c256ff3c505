package account

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestResealKey(t *testing.T) {
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	s := opened(t)
	s = Evolve(s, AccountBlocked{GUID: s.GUID, Reason: "r", At: at})
	prev := s.SealedSeed

	// Happy path: the value read is replaced, and nothing else of the account changes.
	evs, err := Decide(s, ResealKey{Prev: prev, Next: []byte("sealed-v2"), At: at})
	want := []Event{AccountKeyResealed{GUID: s.GUID, SealedSeed: []byte("sealed-v2"), At: at}}
	if err != nil || !reflect.DeepEqual(evs, want) {
		t.Fatalf("reseal: %#v %v", evs, err)
	}
	after := Evolve(s, evs[0])
	if string(after.SealedSeed) != "sealed-v2" {
		t.Fatalf("sealed seed after reseal %q", after.SealedSeed)
	}
	after.SealedSeed, s.SealedSeed = nil, nil
	if !reflect.DeepEqual(after, s) {
		t.Fatalf("a reseal changed more than the seal:\n%+v\n%+v", after, s)
	}
	after.SealedSeed = []byte("sealed-v2")

	// A retry of the same reseal is a no-op.
	if evs, err := Decide(after, ResealKey{Prev: prev, Next: []byte("sealed-v2"), At: at.Add(time.Minute)}); err != nil || len(evs) != 0 {
		t.Fatalf("retry: %v %v", evs, err)
	}
	// Another rotation that read the old value too finds it changed.
	if evs, err := Decide(after, ResealKey{Prev: prev, Next: []byte("sealed-v2-other"), At: at}); !errors.Is(err, ErrSealChanged) || evs != nil {
		t.Fatalf("stale prev: %v %v", evs, err)
	}
	// The state keeps its own copy of the event's bytes.
	ev := AccountKeyResealed{GUID: after.GUID, SealedSeed: []byte("sealed-v3")}
	s3 := Evolve(after, ev)
	ev.SealedSeed[0] = 'X'
	if string(s3.SealedSeed) != "sealed-v3" {
		t.Fatalf("state shares the event's buffer: %q", s3.SealedSeed)
	}
}

func TestResealKeyRefuses(t *testing.T) {
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	if _, err := Decide(State{}, ResealKey{Prev: []byte("a"), Next: []byte("b"), At: at}); !errors.Is(err, ErrNotGenerated) {
		t.Fatalf("reseal before the key is recorded: %v", err)
	}
	c := generated(KindProcessing, Owner{BranchGUID: uuid.NewString()})
	evs, err := Decide(State{}, c)
	if err != nil {
		t.Fatal(err)
	}
	s := Evolve(State{}, evs[0]) // generated, not opened: a reseal needs no open account
	for name, next := range map[string][]byte{"empty": nil, "too large": make([]byte, maxSealedBytes+1)} {
		if evs, err := Decide(s, ResealKey{Prev: s.SealedSeed, Next: next, At: at}); !errors.Is(err, ErrInvalid) || evs != nil {
			t.Fatalf("%s value: %v %v", name, evs, err)
		}
	}
	if evs, err := Decide(s, ResealKey{Prev: s.SealedSeed, Next: make([]byte, maxSealedBytes), At: at}); err != nil || len(evs) != 1 {
		t.Fatalf("largest value: %v %v", evs, err)
	}
}
