package counterparty_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/counterparty"
)

var (
	t0      = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1      = t0.Add(time.Hour)
	cpGUID  = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	emGUID  = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	prGUID  = uuid.MustParse("33333333-3333-4333-8333-333333333333")
	keyGUID = uuid.MustParse("44444444-4444-4444-8444-444444444444")
	issuer  = counterparty.AccountIDForTest(7)
)

const jwkA = `{"kty":"RSA","kid":"k1","alg":"RS256","n":"sXch","e":"AQAB"}`

func register() counterparty.Register {
	return counterparty.Register{
		GUID: cpGUID,
		Profile: counterparty.Profile{Name: " Acme Bank ", HoldingName: "Acme Holding", Description: "test bank",
			AuthURL: "https://auth.acme.test/bank/", CallbackURL: "https://acme.test/cb", AutoIssue: true, Multisig: true},
		AssetCode: "UAH", AssetIssuer: issuer, EmissionAccountGUID: emGUID, ProcessingAccountGUID: prGUID, At: t0,
	}
}

func registered() counterparty.CounterpartyRegistered {
	return counterparty.CounterpartyRegistered{
		GUID: cpGUID.String(),
		Profile: counterparty.Profile{Name: "Acme Bank", HoldingName: "Acme Holding", Description: "test bank",
			AuthURL:     "https://auth.acme.test/bank/",
			UserAuthURL: "https://auth.acme.test/bank/user_auth", UserIDURL: "https://auth.acme.test/bank/external_id",
			UserKeyURL: "https://auth.acme.test/bank/key", CallbackURL: "https://acme.test/cb", AutoIssue: true, Multisig: true},
		AssetCode: "UAH", AssetIssuer: issuer, EmissionAccountGUID: emGUID.String(), ProcessingAccountGUID: prGUID.String(), At: t0,
	}
}

func keyRegistered() counterparty.BankKeyRegistered {
	return counterparty.BankKeyRegistered{CounterpartyGUID: cpGUID.String(), KeyGUID: keyGUID.String(), KID: "k1", JWK: json.RawMessage(jwkA), At: t1}
}

func fold(events ...counterparty.Event) counterparty.State {
	s := counterparty.Decider.Initial
	for _, e := range events {
		s = counterparty.Evolve(s, e)
	}
	return s
}

// check is one given/when/then: given past events, when cmd, then want events or an error matching wantErr.
// It also checks that deciding left the state exactly as a fresh fold of the same events.
func check(t *testing.T, given []counterparty.Event, when any, want []counterparty.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := counterparty.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		if !errors.Is(err, wantErr) && !sameInvalid(err, wantErr) {
			t.Fatalf("when %T: got %v, %v; want error %v", when, got, err, wantErr)
		}
		if got != nil {
			t.Fatalf("when %T: refused but also decided %v", when, got)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("when %T:\n got  %#v, %v\n want %#v", when, got, err, want)
	}
}

// sameInvalid matches an *ErrInvalid by field, since each carries its own reason.
func sameInvalid(err, want error) bool {
	var w, g *counterparty.ErrInvalid
	return errors.As(want, &w) && errors.As(err, &g) && g.Field == w.Field
}

func invalid(field string) error { return &counterparty.ErrInvalid{Field: field} }

func TestRegister(t *testing.T) {
	check(t, nil, register(), []counterparty.Event{registered()}, nil)

	// Explicit URLs win over the defaults from the base URL.
	c := register()
	c.Profile.UserKeyURL = "https://keys.acme.test/k"
	want := registered()
	want.Profile.UserKeyURL = "https://keys.acme.test/k"
	check(t, nil, c, []counterparty.Event{want}, nil)

	// Only the three URLs, no base.
	c = register()
	c.Profile.AuthURL = ""
	c.Profile.UserAuthURL, c.Profile.UserIDURL, c.Profile.UserKeyURL = "http://a.test/1", "http://a.test/2", "http://a.test/3"
	want = registered()
	want.Profile.AuthURL = ""
	want.Profile.UserAuthURL, want.Profile.UserIDURL, want.Profile.UserKeyURL = "http://a.test/1", "http://a.test/2", "http://a.test/3"
	check(t, nil, c, []counterparty.Event{want}, nil)
}

func TestRegisterRefusals(t *testing.T) {
	check(t, []counterparty.Event{registered()}, register(), nil, counterparty.ErrAlreadyExists)
	for name, tc := range map[string]struct {
		edit  func(*counterparty.Register)
		field string
	}{
		"no name":            {func(c *counterparty.Register) { c.Profile.Name = "  " }, "name"},
		"long name":          {func(c *counterparty.Register) { c.Profile.Name = strings.Repeat("я", 201) }, "name"},
		"control in name":    {func(c *counterparty.Register) { c.Profile.Name = "a\x00b" }, "name"},
		"bad utf-8":          {func(c *counterparty.Register) { c.Profile.Name = "a\xffb" }, "name"},
		"relative url":       {func(c *counterparty.Register) { c.Profile.CallbackURL = "/cb" }, "callback_url"},
		"ftp url":            {func(c *counterparty.Register) { c.Profile.UserAuthURL = "ftp://a.test/x" }, "user_auth_url"},
		"credentials in url": {func(c *counterparty.Register) { c.Profile.AuthURL = "https://u:p@a.test/" }, "auth_url"},
		"query in base url":  {func(c *counterparty.Register) { c.Profile.AuthURL = "https://a.test/?x=1" }, "auth_url"},
		"no host":            {func(c *counterparty.Register) { c.Profile.UserKeyURL = "https:///k" }, "user_key_url"},
		"fragment":           {func(c *counterparty.Register) { c.Profile.UserIDURL = "https://a.test/#x" }, "user_id_url"},
		"no guid":            {func(c *counterparty.Register) { c.GUID = uuid.Nil }, "guid"},
		"no emission":        {func(c *counterparty.Register) { c.EmissionAccountGUID = uuid.Nil }, "emission_account_guid"},
		"no processing":      {func(c *counterparty.Register) { c.ProcessingAccountGUID = uuid.Nil }, "processing_account_guid"},
		"same accounts":      {func(c *counterparty.Register) { c.ProcessingAccountGUID = emGUID }, "processing_account_guid"},
		"no asset":           {func(c *counterparty.Register) { c.AssetCode = "" }, "asset_code"},
		"long asset":         {func(c *counterparty.Register) { c.AssetCode = "ABCDEFGHIJKLM" }, "asset_code"},
		"bad asset":          {func(c *counterparty.Register) { c.AssetCode = "UA-H" }, "asset_code"},
		"no issuer":          {func(c *counterparty.Register) { c.AssetIssuer = "" }, "asset_issuer"},
		"issuer checksum": {func(c *counterparty.Register) {
			c.AssetIssuer = issuer[:55] + map[bool]string{true: "A", false: "B"}[issuer[55] != 'A']
		}, "asset_issuer"},
		"secret seed as issuer": {func(c *counterparty.Register) { c.AssetIssuer = "S" + issuer[1:] }, "asset_issuer"},
	} {
		t.Run(name, func(t *testing.T) {
			c := register()
			tc.edit(&c)
			check(t, nil, c, nil, invalid(tc.field))
		})
	}
}

func TestUpdate(t *testing.T) {
	given := []counterparty.Event{registered()}
	p := registered().Profile
	p.Name, p.AutoBurn = "Acme Bank 2", true
	check(t, given, counterparty.Update{Profile: p, At: t1}, []counterparty.Event{counterparty.CounterpartyUpdated{GUID: cpGUID.String(), Profile: p, At: t1}}, nil)
	// The same profile again changes nothing.
	check(t, given, counterparty.Update{Profile: registered().Profile, At: t1}, nil, nil)
	check(t, nil, counterparty.Update{Profile: p, At: t1}, nil, counterparty.ErrNotFound)
	p.Name = ""
	check(t, given, counterparty.Update{Profile: p, At: t1}, nil, invalid("name"))
	// Updated state is the new profile.
	s := fold(registered(), counterparty.CounterpartyUpdated{GUID: cpGUID.String(), Profile: registered().Profile, At: t1})
	if !s.UpdatedAt.Equal(t1) || !s.CreatedAt.Equal(t0) {
		t.Fatalf("times %v %v", s.CreatedAt, s.UpdatedAt)
	}
}

func TestDisableEnable(t *testing.T) {
	given := []counterparty.Event{registered()}
	disabled := counterparty.CounterpartyDisabled{GUID: cpGUID.String(), At: t1}
	check(t, given, counterparty.Disable{At: t1}, []counterparty.Event{disabled}, nil)
	check(t, append(given, disabled), counterparty.Disable{At: t1}, nil, nil)
	check(t, append(given, disabled), counterparty.Enable{At: t1}, []counterparty.Event{counterparty.CounterpartyEnabled{GUID: cpGUID.String(), At: t1}}, nil)
	check(t, given, counterparty.Enable{At: t1}, nil, nil)
	check(t, nil, counterparty.Disable{At: t1}, nil, counterparty.ErrNotFound)
	check(t, nil, counterparty.Enable{At: t1}, nil, counterparty.ErrNotFound)
	if !fold(registered(), disabled).Disabled {
		t.Fatal("not disabled")
	}
}

func TestRegisterJWK(t *testing.T) {
	given := []counterparty.Event{registered()}
	cmd := counterparty.RegisterJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage("{\n \"kty\": \"RSA\", \"kid\": \"k1\", \"alg\": \"RS256\", \"n\": \"sXch\", \"e\": \"AQAB\"}"), At: t1}
	check(t, given, cmd, []counterparty.Event{keyRegistered()}, nil) // stored compacted

	withKey := append(given, keyRegistered())
	other := cmd
	other.KeyGUID = uuid.New()
	check(t, withKey, other, nil, counterparty.ErrKeyExists) // a kid once per counterparty
	var ke *counterparty.KeyExists
	if _, err := counterparty.Decide(fold(withKey...), other); !errors.As(err, &ke) || ke.KID != "k1" {
		t.Fatalf("want *KeyExists{k1}, got %v", err)
	}
	sameGUID := cmd
	sameGUID.KID = "k2"
	sameGUID.JWK = json.RawMessage(`{"kty":"RSA","n":"x","e":"AQAB"}`)
	check(t, withKey, sameGUID, nil, counterparty.ErrAlreadyExists)
	check(t, nil, cmd, nil, counterparty.ErrNotFound)

	for name, tc := range map[string]struct {
		kid, jwk, field string
	}{
		"private part": {"k1", `{"kty":"RSA","n":"x","e":"AQAB","d":"secret"}`, "jwk"},
		"symmetric":    {"k1", `{"kty":"oct","k":"secret"}`, "jwk"},
		"ec key":       {"k1", `{"kty":"EC","n":"x","e":"AQAB"}`, "jwk"},
		"no n":         {"k1", `{"kty":"RSA","e":"AQAB"}`, "jwk"},
		"not object":   {"k1", `[1]`, "jwk"},
		"not json":     {"k1", `{`, "jwk"},
		"empty":        {"k1", ``, "jwk"},
		"huge":         {"k1", `{"kty":"RSA","n":"` + strings.Repeat("A", 17<<10) + `","e":"AQAB"}`, "jwk"},
		"wrong alg":    {"k1", `{"kty":"RSA","alg":"HS256","n":"x","e":"AQAB"}`, "jwk"},
		"kid mismatch": {"k1", `{"kty":"RSA","kid":"other","n":"x","e":"AQAB"}`, "jwk"},
		"no kid":       {"", `{"kty":"RSA","n":"x","e":"AQAB"}`, "kid"},
		"spacey kid":   {"a b", `{"kty":"RSA","n":"x","e":"AQAB"}`, "kid"},
		"long kid":     {strings.Repeat("k", 257), `{"kty":"RSA","n":"x","e":"AQAB"}`, "kid"},
	} {
		t.Run(name, func(t *testing.T) {
			check(t, given, counterparty.RegisterJWK{KeyGUID: uuid.New(), KID: tc.kid, JWK: json.RawMessage(tc.jwk), At: t1}, nil, invalid(tc.field))
		})
	}
	check(t, given, counterparty.RegisterJWK{KID: "k1", JWK: json.RawMessage(jwkA), At: t1}, nil, invalid("key_guid"))

	// Bounded: MaxKeys keys, then a refusal.
	many := append([]counterparty.Event(nil), given...)
	for i := range counterparty.MaxKeys {
		many = append(many, counterparty.BankKeyRegistered{CounterpartyGUID: cpGUID.String(), KeyGUID: uuid.NewString(), KID: "kid-" + string(rune('a'+i%26)) + uuid.NewString(), JWK: json.RawMessage(jwkA), At: t1})
	}
	check(t, many, counterparty.RegisterJWK{KeyGUID: uuid.New(), KID: "last", JWK: json.RawMessage(`{"kty":"RSA","n":"x","e":"AQAB"}`), At: t1}, nil, counterparty.ErrTooManyKeys)
}

func TestUpdateJWK(t *testing.T) {
	given := []counterparty.Event{registered(), keyRegistered()}
	rotated := `{"kty":"RSA","kid":"k1","n":"bmV3","e":"AQAB"}`
	check(t, given, counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage(rotated), At: t1},
		[]counterparty.Event{counterparty.BankKeyUpdated{CounterpartyGUID: cpGUID.String(), KeyGUID: keyGUID.String(), KID: "k1", JWK: json.RawMessage(rotated), At: t1}}, nil)
	// The same key again changes nothing.
	check(t, given, counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage(jwkA), At: t1}, nil, nil)
	check(t, given, counterparty.UpdateJWK{KeyGUID: uuid.New(), KID: "k1", JWK: json.RawMessage(rotated), At: t1}, nil, counterparty.ErrKeyNotFound)
	check(t, []counterparty.Event{}, counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage(rotated), At: t1}, nil, counterparty.ErrNotFound)
	// A new kid may not be another key's.
	second := counterparty.BankKeyRegistered{CounterpartyGUID: cpGUID.String(), KeyGUID: uuid.NewString(), KID: "k2", JWK: json.RawMessage(`{"kty":"RSA","n":"x","e":"AQAB"}`), At: t1}
	check(t, append(given, second), counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k2", JWK: json.RawMessage(`{"kty":"RSA","n":"y","e":"AQAB"}`), At: t1}, nil, counterparty.ErrKeyExists)
	check(t, given, counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k1", JWK: json.RawMessage(`{"kty":"RSA","n":"x","e":"AQAB","p":"1"}`), At: t1}, nil, invalid("jwk"))
	s := fold(append(given, counterparty.BankKeyUpdated{CounterpartyGUID: cpGUID.String(), KeyGUID: keyGUID.String(), KID: "k9", JWK: json.RawMessage(rotated), At: t1.Add(time.Hour)})...)
	if k := s.Keys[keyGUID.String()]; k.KID != "k9" || !k.CreatedAt.Equal(t1) || !k.UpdatedAt.Equal(t1.Add(time.Hour)) {
		t.Fatalf("key after update: %+v", k)
	}
}

func TestEvolveNeverChangesAnEarlierState(t *testing.T) {
	before := fold(registered(), keyRegistered())
	snapshot := fold(registered(), keyRegistered())
	_ = counterparty.Evolve(before, counterparty.BankKeyUpdated{CounterpartyGUID: cpGUID.String(), KeyGUID: keyGUID.String(), KID: "kx", JWK: json.RawMessage(jwkA), At: t1})
	_ = counterparty.Evolve(before, counterparty.BankKeyRegistered{CounterpartyGUID: cpGUID.String(), KeyGUID: uuid.NewString(), KID: "ky", JWK: json.RawMessage(jwkA), At: t1})
	if !reflect.DeepEqual(before, snapshot) {
		t.Fatal("Evolve wrote into the state it was given")
	}
}

func TestUnknownCommand(t *testing.T) {
	check(t, nil, struct{}{}, nil, counterparty.ErrUnknownCommand)
	check(t, nil, nil, nil, counterparty.ErrUnknownCommand)
}

func TestEventsRoundTrip(t *testing.T) {
	all := []counterparty.Event{registered(), counterparty.CounterpartyUpdated{GUID: "g", Profile: registered().Profile, At: t1},
		counterparty.CounterpartyDisabled{GUID: "g", At: t1}, counterparty.CounterpartyEnabled{GUID: "g", At: t1},
		keyRegistered(), counterparty.BankKeyUpdated{CounterpartyGUID: "g", KeyGUID: "k", KID: "k", JWK: json.RawMessage(jwkA), At: t1},
		counterparty.CounterpartySignerKeysSet{GUID: "g", Addresses: []string{"GA"}, At: t1}}
	if n := len(counterparty.Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	for _, e := range all {
		typ, data, err := counterparty.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := counterparty.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
		matched := false
		for _, p := range counterparty.EventTypePrefixes {
			matched = matched || strings.HasPrefix(typ, p)
		}
		if !matched {
			t.Errorf("%s is outside EventTypePrefixes", typ)
		}
	}
}

func TestStreams(t *testing.T) {
	if counterparty.NameStream("Acme  BANK ") != counterparty.NameStream("acme bank") {
		t.Fatal("names that normalise alike must share a reservation stream")
	}
	if counterparty.NameStream("acme bank") == counterparty.NameStream("acme bank 2") {
		t.Fatal("different names share a stream")
	}
	if s := counterparty.NameStream(strings.Repeat("я", 200)); len(s) > 255 || strings.ContainsAny(s, " \t") {
		t.Fatalf("reservation stream %q is not a valid stream name", s)
	}
	if counterparty.Stream(cpGUID) != "counterparty-"+cpGUID.String() {
		t.Fatal(counterparty.Stream(cpGUID))
	}
}
