package platform

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/domain/money"
)

var (
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	uah    = money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}
	issuer = "G" + strings.Repeat("A", 55)
	hashA  = "$2a$04$" + strings.Repeat("a", 53)
	hashB  = "$2a$04$" + strings.Repeat("b", 53)
)

// scenario is one given/when/then case: past events, a command, and the new events or the error expected.
type scenario struct {
	name    string
	given   []Event
	when    any
	then    []Event
	wantErr error
}

func run(t *testing.T, cases []scenario) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				if got != nil {
					t.Fatalf("events %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if len(got) == 0 && len(c.then) == 0 {
				return
			}
			if !reflect.DeepEqual(got, c.then) {
				t.Fatalf("events\n%#v\nwant\n%#v", got, c.then)
			}
		})
	}
}

var (
	defined   = AssetDefined{Code: "UAH", StellarCode: "eUAH", Decimals: 2, At: t0}
	keyGen    = IssuerKeyGenerated{Address: issuer, SealedSeed: []byte("sealed-seed"), At: t0}
	created   = IssuerCreated{Address: issuer, At: t0}
	key1      = SigningKeyAdded{KID: "k1", SealedKey: []byte("sealed-k1"), ActiveFrom: t0, At: t0}
	adminMade = AdministratorCreated{Login: "admin", PasswordHash: hashA, At: t0}
)

func TestBootstrap(t *testing.T) {
	other := uah
	other.Decimals = 3
	run(t, []scenario{
		{name: "first start defines the asset", when: Bootstrap{Asset: uah, At: t0}, then: []Event{defined}},
		{name: "same asset again is a no-op", given: []Event{defined}, when: Bootstrap{Asset: uah, At: t0.Add(time.Hour)}},
		{name: "a changed asset is refused", given: []Event{defined}, when: Bootstrap{Asset: other, At: t0}, wantErr: ErrAssetChanged},
		{name: "bad stellar code", when: Bootstrap{Asset: money.Asset{Code: "UAH", StellarCode: "e-UAH", Decimals: 2}}, wantErr: ErrInvalidCommand},
		{name: "too many decimals", when: Bootstrap{Asset: money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 8}}, wantErr: ErrInvalidCommand},
	})
}

func TestAssetChangedNamesBoth(t *testing.T) {
	other := money.Asset{Code: "USD", StellarCode: "eUSD", Decimals: 2}
	_, err := Decide(Evolve(State{}, defined), Bootstrap{Asset: other})
	var ace *AssetChangedError
	if !errors.As(err, &ace) || ace.Recorded != uah || ace.Requested != other || !strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("got %v", err)
	}
}

func TestIssuer(t *testing.T) {
	run(t, []scenario{
		{name: "key before asset", when: GenerateIssuerKey{Address: issuer, SealedSeed: []byte("s")}, wantErr: ErrAssetNotDefined},
		{name: "key recorded", given: []Event{defined}, when: GenerateIssuerKey{Address: issuer, SealedSeed: []byte("sealed-seed"), At: t0}, then: []Event{keyGen}},
		{name: "second key loses", given: []Event{defined, keyGen}, when: GenerateIssuerKey{Address: "G" + strings.Repeat("B", 55), SealedSeed: []byte("x")}},
		{name: "bad address", given: []Event{defined}, when: GenerateIssuerKey{Address: "S123", SealedSeed: []byte("x")}, wantErr: ErrInvalidCommand},
		{name: "no sealed seed", given: []Event{defined}, when: GenerateIssuerKey{Address: issuer}, wantErr: ErrInvalidCommand},
		{name: "created without key", given: []Event{defined}, when: RecordIssuerCreated{Address: issuer}, wantErr: ErrNoIssuerKey},
		{name: "created other address", given: []Event{defined, keyGen}, when: RecordIssuerCreated{Address: "G" + strings.Repeat("B", 55)}, wantErr: ErrIssuerMismatch},
		{name: "created", given: []Event{defined, keyGen}, when: RecordIssuerCreated{Address: issuer, At: t0}, then: []Event{created}},
		{name: "created twice is a no-op", given: []Event{defined, keyGen, created}, when: RecordIssuerCreated{Address: issuer, At: t0}},
	})
}

func TestSigningKeys(t *testing.T) {
	later := t0.Add(30 * 24 * time.Hour)
	lead := 5 * time.Minute
	run(t, []scenario{
		{name: "first key", when: RotateSigningKey{KID: "k1", SealedKey: []byte("sealed-k1"), ActiveFrom: t0, At: t0}, then: []Event{key1}},
		{name: "rotation retires the current key when the new one activates", given: []Event{key1},
			when: RotateSigningKey{Replaces: "k1", KID: "k2", SealedKey: []byte("s2"), ActiveFrom: later.Add(lead), At: later},
			then: []Event{SigningKeyRetired{KID: "k1", RetiredAt: later.Add(lead), At: later},
				SigningKeyAdded{KID: "k2", SealedKey: []byte("s2"), ActiveFrom: later.Add(lead), At: later}}},
		{name: "a raced rotation is a no-op", given: []Event{key1},
			when: RotateSigningKey{Replaces: "k0", KID: "k2", SealedKey: []byte("s2"), ActiveFrom: later, At: later}},
		{name: "a second first key is a no-op", given: []Event{key1},
			when: RotateSigningKey{KID: "k2", SealedKey: []byte("s2"), ActiveFrom: later, At: later}},
		{name: "kid reused", given: []Event{key1},
			when: RotateSigningKey{Replaces: "k1", KID: "k1", SealedKey: []byte("s2"), ActiveFrom: later, At: later}, wantErr: ErrDuplicateSigningKey},
		{name: "rotation while the current key is pending", given: []Event{key1,
			SigningKeyRetired{KID: "k1", RetiredAt: later.Add(lead)}, SigningKeyAdded{KID: "k2", SealedKey: []byte("s2"), ActiveFrom: later.Add(lead)}},
			when: RotateSigningKey{Replaces: "k2", KID: "k3", SealedKey: []byte("s3"), ActiveFrom: later.Add(2 * lead), At: later}, wantErr: ErrKeyNotActiveYet},
		{name: "active before the command", when: RotateSigningKey{KID: "k1", SealedKey: []byte("s"), ActiveFrom: t0, At: t0.Add(time.Second)}, wantErr: ErrInvalidCommand},
		{name: "no sealed key", when: RotateSigningKey{KID: "k1", ActiveFrom: t0, At: t0}, wantErr: ErrInvalidCommand},
	})
}

func TestAdministrator(t *testing.T) {
	run(t, []scenario{
		{name: "created", when: CreateAdministrator{Login: "admin", PasswordHash: hashA, At: t0}, then: []Event{adminMade}},
		{name: "second is a no-op", given: []Event{adminMade}, when: CreateAdministrator{Login: "root", PasswordHash: hashB}},
		{name: "a password is not a hash", when: CreateAdministrator{Login: "admin", PasswordHash: "Secret-123"}, wantErr: ErrInvalidCommand},
		{name: "empty login", when: CreateAdministrator{PasswordHash: hashA}, wantErr: ErrInvalidCommand},
		{name: "password before administrator", when: SetAdministratorPassword{PasswordHash: hashB}, wantErr: ErrNoAdministrator},
		{name: "password changed", given: []Event{adminMade}, when: SetAdministratorPassword{PasswordHash: hashB, At: t0},
			then: []Event{AdministratorPasswordChanged{PasswordHash: hashB, At: t0}}},
		{name: "unknown command", when: struct{}{}, wantErr: ErrInvalidCommand},
	})
}

func TestEvolveBuildsState(t *testing.T) {
	s := State{}
	for _, e := range []Event{defined, keyGen, created, key1,
		SigningKeyRetired{KID: "k1", RetiredAt: t0.Add(time.Hour)}, SigningKeyAdded{KID: "k2", SealedKey: []byte("s2"), ActiveFrom: t0.Add(time.Hour)},
		adminMade, AdministratorPasswordChanged{PasswordHash: hashB}} {
		s = Evolve(s, e)
	}
	cur, ok := s.CurrentKey()
	if !s.Bootstrapped() || s.Asset != uah || s.IssuerAddress != issuer || !ok || cur.KID != "k2" ||
		s.SigningKeys[0].RetiredAt != t0.Add(time.Hour) || s.AdminPasswordHash != hashB {
		t.Fatalf("state %+v", s)
	}
}
