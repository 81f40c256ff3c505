package platform

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestResealIssuerKey(t *testing.T) {
	later := t0.Add(time.Hour)
	resealed := IssuerKeyResealed{Address: issuer, SealedSeed: []byte("sealed-seed-v2"), At: later}
	run(t, []scenario{
		{name: "replaces the value it read", given: []Event{defined, keyGen, created},
			when: ResealIssuerKey{Address: issuer, Prev: []byte("sealed-seed"), Next: []byte("sealed-seed-v2"), At: later}, then: []Event{resealed}},
		{name: "a retry is a no-op", given: []Event{defined, keyGen, created, resealed},
			when: ResealIssuerKey{Address: issuer, Prev: []byte("sealed-seed"), Next: []byte("sealed-seed-v2"), At: later.Add(time.Minute)}},
		{name: "another rotation re-sealed it first", given: []Event{defined, keyGen, created, resealed},
			when: ResealIssuerKey{Address: issuer, Prev: []byte("sealed-seed"), Next: []byte("sealed-seed-v2-other"), At: later}, wantErr: ErrSealChanged},
		{name: "no issuer key yet", given: []Event{defined},
			when: ResealIssuerKey{Address: issuer, Prev: []byte("a"), Next: []byte("b")}, wantErr: ErrNoIssuerKey},
		{name: "another issuer", given: []Event{defined, keyGen},
			when: ResealIssuerKey{Address: "G" + strings.Repeat("B", 55), Prev: []byte("sealed-seed"), Next: []byte("b")}, wantErr: ErrIssuerMismatch},
		{name: "empty value", given: []Event{defined, keyGen},
			when: ResealIssuerKey{Address: issuer, Prev: []byte("sealed-seed")}, wantErr: ErrInvalidCommand},
		{name: "value too large", given: []Event{defined, keyGen},
			when: ResealIssuerKey{Address: issuer, Prev: []byte("sealed-seed"), Next: make([]byte, maxSealedBytes+1)}, wantErr: ErrInvalidCommand},
	})
}

func TestResealSigningKey(t *testing.T) {
	later := t0.Add(time.Hour)
	key2 := SigningKeyAdded{KID: "k2", SealedKey: []byte("sealed-k2"), ActiveFrom: later, At: t0}
	retired1 := SigningKeyRetired{KID: "k1", RetiredAt: later, At: t0}
	resealed := SigningKeyResealed{KID: "k1", SealedKey: []byte("sealed-k1-v2"), At: later}
	run(t, []scenario{
		{name: "a retired key is re-sealed too", given: []Event{key1, retired1, key2},
			when: ResealSigningKey{KID: "k1", Prev: []byte("sealed-k1"), Next: []byte("sealed-k1-v2"), At: later}, then: []Event{resealed}},
		{name: "a retry is a no-op", given: []Event{key1, resealed},
			when: ResealSigningKey{KID: "k1", Prev: []byte("sealed-k1"), Next: []byte("sealed-k1-v2"), At: later}},
		{name: "another rotation re-sealed it first", given: []Event{key1, resealed},
			when: ResealSigningKey{KID: "k1", Prev: []byte("sealed-k1"), Next: []byte("sealed-k1-v3"), At: later}, wantErr: ErrSealChanged},
		{name: "prev of another key", given: []Event{key1, retired1, key2},
			when: ResealSigningKey{KID: "k1", Prev: []byte("sealed-k2"), Next: []byte("x"), At: later}, wantErr: ErrSealChanged},
		{name: "unknown kid", given: []Event{key1},
			when: ResealSigningKey{KID: "k9", Prev: []byte("a"), Next: []byte("b")}, wantErr: ErrUnknownSigningKey},
		{name: "no kid", given: []Event{key1},
			when: ResealSigningKey{Prev: []byte("a"), Next: []byte("b")}, wantErr: ErrInvalidCommand},
		{name: "kid too long", given: []Event{key1},
			when: ResealSigningKey{KID: strings.Repeat("k", maxKIDBytes+1), Prev: []byte("a"), Next: []byte("b")}, wantErr: ErrInvalidCommand},
		{name: "empty value", given: []Event{key1},
			when: ResealSigningKey{KID: "k1", Prev: []byte("sealed-k1")}, wantErr: ErrInvalidCommand},
	})
}

// TestEvolveReseals: a reseal changes only the sealed bytes of its own key, and the state keeps its own copy.
func TestEvolveReseals(t *testing.T) {
	key2 := SigningKeyAdded{KID: "k2", SealedKey: []byte("sealed-k2"), ActiveFrom: t0.Add(time.Hour), At: t0}
	s := State{}
	for _, e := range []Event{defined, keyGen, created, key1, SigningKeyRetired{KID: "k1", RetiredAt: t0.Add(time.Hour)}, key2, adminMade} {
		s = Evolve(s, e)
	}
	before := s
	issuerEv := IssuerKeyResealed{Address: issuer, SealedSeed: []byte("seed-v2")}
	keyEv := SigningKeyResealed{KID: "k1", SealedKey: []byte("k1-v2")}
	s = Evolve(Evolve(s, issuerEv), keyEv)
	issuerEv.SealedSeed[0], keyEv.SealedKey[0] = 'X', 'X' // the events' buffers are not the state's
	if string(s.IssuerSealedSeed) != "seed-v2" || string(s.SigningKeys[0].SealedKey) != "k1-v2" ||
		string(s.SigningKeys[1].SealedKey) != "sealed-k2" || !s.SigningKeys[0].RetiredAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("state after reseal %+v", s)
	}
	if s.IssuerAddress != issuer || !s.IssuerCreated || !s.Bootstrapped() || len(s.SigningKeys) != 2 || currentKID(s) != "k2" {
		t.Fatalf("a reseal changed more than the sealed bytes: %+v", s)
	}
	// The state before the reseal is untouched (Evolve never writes through a shared slice).
	if !bytes.Equal(before.IssuerSealedSeed, []byte("sealed-seed")) || !bytes.Equal(before.SigningKeys[0].SealedKey, []byte("sealed-k1")) {
		t.Fatalf("evolve changed the previous state: %+v", before)
	}
}

func currentKID(s State) string {
	k, _ := s.CurrentKey()
	return k.KID
}
