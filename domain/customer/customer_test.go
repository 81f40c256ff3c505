package customer_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/customer"
)

var (
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1     = t0.Add(time.Hour)
	id     = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	cp     = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	acc1   = uuid.MustParse("33333333-3333-4333-8333-333333333333")
	acc2   = uuid.MustParse("44444444-4444-4444-8444-444444444444")
	branch = uuid.MustParse("66666666-6666-4666-8666-666666666666")
)

func register() customer.Register {
	return customer.Register{GUID: id, CounterpartyGUID: cp, ExternalID: " ext-42 ", FirstAccount: acc1, At: t0,
		Profile: customer.Profile{Login: " Olena ", Name: " Olena ", Surname: "Kovalenko", PaternalName: "Ivanivna",
			Phone: " +380501234567 ", KYCLevel: 2, Segment: "retail", BranchGUID: strings.ToUpper(branch.String()),
			BalanceAllowed: 100_00, BalanceAssetCode: " UAH "}}
}

// profile is register()'s profile as the decider keeps it: trimmed, defaulted, the branch canonical.
func profile() customer.Profile {
	return customer.Profile{Login: "Olena", Name: "Olena", Surname: "Kovalenko", PaternalName: "Ivanivna",
		Phone: "+380501234567", KYCLevel: 2, Segment: "retail", Status: customer.DefaultStatus, BranchGUID: branch.String(),
		BalanceAllowed: 100_00, BalanceAssetCode: "UAH"}
}

func registered() customer.CustomerRegistered {
	return customer.CustomerRegistered{GUID: id.String(), CounterpartyGUID: cp.String(), ExternalID: "ext-42",
		Profile: profile(), AccountGUID: acc1.String(), At: t0}
}

func fold(events ...customer.Event) customer.State {
	s := customer.Decider.Initial
	for _, e := range events {
		s = customer.Evolve(s, e)
	}
	return s
}

// check is given (past events) / when (command) / then (events or error). An expected *ErrInvalid matches on
// its field alone.
func check(t *testing.T, given []customer.Event, when any, want []customer.Event, wantErr error) {
	t.Helper()
	state := fold(given...)
	got, err := customer.Decide(state, when)
	if !reflect.DeepEqual(state, fold(given...)) {
		t.Errorf("Decide changed the state it was given")
	}
	if wantErr != nil {
		var w, g *customer.ErrInvalid
		if errors.As(wantErr, &w) {
			if !errors.As(err, &g) || g.Field != w.Field {
				t.Fatalf("when %T: got %v, %v; want invalid %s", when, got, err, w.Field)
			}
		} else if !errors.Is(err, wantErr) {
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

func invalid(field string) error { return &customer.ErrInvalid{Field: field} }

func TestRegister(t *testing.T) {
	check(t, nil, register(), []customer.Event{registered()}, nil)

	// No login: the phone number is the login. Status defaults, an absent branch stays absent.
	c := customer.Register{GUID: id, CounterpartyGUID: cp, ExternalID: "e", FirstAccount: acc1, Disabled: true, At: t0,
		Profile: customer.Profile{Phone: "380501234567"}}
	check(t, nil, c, []customer.Event{customer.CustomerRegistered{GUID: id.String(), CounterpartyGUID: cp.String(), ExternalID: "e",
		Profile:  customer.Profile{Login: "380501234567", Phone: "380501234567", Status: customer.DefaultStatus},
		Disabled: true, AccountGUID: acc1.String(), At: t0}}, nil)

	// Bounds that are exactly met are accepted.
	edge := register()
	edge.Profile.Login = strings.Repeat("l", customer.MaxLoginBytes)
	edge.Profile.Name = strings.Repeat("н", customer.MaxNameRunes)
	edge.Profile.KYCLevel = customer.MaxKYCLevel
	edge.ExternalID = strings.Repeat("x", customer.MaxExternalIDRunes)
	if evs, err := customer.Decide(customer.State{}, edge); err != nil || len(evs) != 1 {
		t.Fatalf("bounds met: %v %v", evs, err)
	}

	for name, tc := range map[string]struct {
		edit  func(*customer.Register)
		field string
	}{
		"no guid":              {func(c *customer.Register) { c.GUID = uuid.Nil }, "guid"},
		"no counterparty":      {func(c *customer.Register) { c.CounterpartyGUID = uuid.Nil }, "counterparty_guid"},
		"no first account":     {func(c *customer.Register) { c.FirstAccount = uuid.Nil }, "first_account_guid"},
		"no login nor phone":   {func(c *customer.Register) { c.Profile.Login, c.Profile.Phone = " ", "" }, "login"},
		"login with a space":   {func(c *customer.Register) { c.Profile.Login = "olena k" }, "login"},
		"login with a tab":     {func(c *customer.Register) { c.Profile.Login = "olena\tk" }, "login"},
		"login with control":   {func(c *customer.Register) { c.Profile.Login = "olena\x00" }, "login"},
		"login not UTF-8":      {func(c *customer.Register) { c.Profile.Login = "olena\xff" }, "login"},
		"login too long":       {func(c *customer.Register) { c.Profile.Login = strings.Repeat("l", customer.MaxLoginBytes+1) }, "login"},
		"name too long":        {func(c *customer.Register) { c.Profile.Name = strings.Repeat("н", customer.MaxNameRunes+1) }, "name"},
		"surname control":      {func(c *customer.Register) { c.Profile.Surname = "a\x07" }, "surname"},
		"patronymic too long":  {func(c *customer.Register) { c.Profile.PaternalName = strings.Repeat("p", customer.MaxNameRunes+1) }, "paternal_name"},
		"segment too long":     {func(c *customer.Register) { c.Profile.Segment = strings.Repeat("s", customer.MaxSegmentRunes+1) }, "segment"},
		"status too long":      {func(c *customer.Register) { c.Profile.Status = strings.Repeat("s", customer.MaxStatusRunes+1) }, "status"},
		"phone with letters":   {func(c *customer.Register) { c.Profile.Phone = "call me" }, "phone_number"},
		"phone too short":      {func(c *customer.Register) { c.Profile.Phone = "+1234" }, "phone_number"},
		"phone too long":       {func(c *customer.Register) { c.Profile.Phone = "+1234567890123456" }, "phone_number"},
		"phone with two +":     {func(c *customer.Register) { c.Profile.Phone = "++380501234567" }, "phone_number"},
		"phone with a dash":    {func(c *customer.Register) { c.Profile.Phone = "+380-50-1234567" }, "phone_number"},
		"kyc below 0":          {func(c *customer.Register) { c.Profile.KYCLevel = -1 }, "kyc_level"},
		"kyc above max":        {func(c *customer.Register) { c.Profile.KYCLevel = customer.MaxKYCLevel + 1 }, "kyc_level"},
		"negative balance cap": {func(c *customer.Register) { c.Profile.BalanceAllowed = -1 }, "balance_allowed"},
		"branch not a GUID":    {func(c *customer.Register) { c.Profile.BranchGUID = "main-office" }, "branch_guid"},
		"branch nil GUID":      {func(c *customer.Register) { c.Profile.BranchGUID = uuid.Nil.String() }, "branch_guid"},
		"asset code too long":  {func(c *customer.Register) { c.Profile.BalanceAssetCode = "ABCDEFGHIJKLM" }, "balance_asset_code"},
		"asset issuer too long": {func(c *customer.Register) {
			c.Profile.BalanceAssetIssuer = strings.Repeat("G", 57)
		}, "balance_asset_issuer"},
		"no external id":       {func(c *customer.Register) { c.ExternalID = "  " }, "external_id"},
		"external id too long": {func(c *customer.Register) { c.ExternalID = strings.Repeat("x", customer.MaxExternalIDRunes+1) }, "external_id"},
		"external id control":  {func(c *customer.Register) { c.ExternalID = "a\nb" }, "external_id"},
	} {
		t.Run(name, func(t *testing.T) {
			c := register()
			tc.edit(&c)
			check(t, nil, c, nil, invalid(tc.field))
		})
	}
}

func TestRegisterAgain(t *testing.T) {
	given := []customer.Event{registered()}
	// A retry of the same registration decides nothing, even with the login in another case or another time.
	check(t, given, register(), nil, nil)
	retry := register()
	retry.Profile.Login, retry.At = "OLENA", t1
	check(t, given, retry, nil, nil)
	// Anything else on the stream is another registration.
	for name, edit := range map[string]func(*customer.Register){
		"another bank":          func(c *customer.Register) { c.CounterpartyGUID = uuid.New() },
		"another login":         func(c *customer.Register) { c.Profile.Login = "taras" },
		"another first account": func(c *customer.Register) { c.FirstAccount = acc2 },
	} {
		t.Run(name, func(t *testing.T) {
			c := register()
			edit(&c)
			check(t, given, c, nil, customer.ErrAlreadyExists)
		})
	}
	// An invalid command is refused for what it is, not for the stream it lands on.
	bad := register()
	bad.ExternalID = ""
	check(t, given, bad, nil, invalid("external_id"))
}

func TestUpdate(t *testing.T) {
	given := []customer.Event{registered()}
	in := register().Profile
	in.Name, in.Surname, in.Phone, in.KYCLevel, in.Segment, in.Status = "Olenka", "", "", 3, "", "blocked"
	in.BranchGUID, in.BalanceAllowed = "", 0
	want := profile()
	want.Name, want.Surname, want.Phone, want.KYCLevel, want.Segment, want.Status = "Olenka", "", "", 3, "", "blocked"
	want.BranchGUID, want.BalanceAllowed = "", 0
	updated := customer.CustomerUpdated{GUID: id.String(), Profile: want, At: t1}
	check(t, given, customer.Update{Profile: in, At: t1}, []customer.Event{updated}, nil)
	s := fold(append(given, updated)...)
	if s.Profile != want || !s.UpdatedAt.Equal(t1) || !s.CreatedAt.Equal(t0) {
		t.Fatalf("state after update: %+v", s)
	}

	// The profile as given at registration, before or after normalising, changes nothing.
	check(t, given, customer.Update{Profile: register().Profile, At: t1}, nil, nil)
	check(t, given, customer.Update{Profile: profile(), At: t1}, nil, nil)

	// The login is compared case-insensitively but kept as the bank signed it up: the bank's authorization
	// service is asked by that login, so a change of case alone changes nothing.
	upper := profile()
	upper.Login = "OLENA"
	check(t, given, customer.Update{Profile: upper, At: t1}, nil, nil)
	upper.Name = "Olenka"
	renamed := profile()
	renamed.Name = "Olenka"
	check(t, given, customer.Update{Profile: upper, At: t1}, []customer.Event{customer.CustomerUpdated{GUID: id.String(), Profile: renamed, At: t1}}, nil)

	// The login cannot change, also not through a missing login that would default to the phone.
	other := profile()
	other.Login = "taras"
	check(t, given, customer.Update{Profile: other, At: t1}, nil, invalid("login"))
	noLogin := profile()
	noLogin.Login = ""
	check(t, given, customer.Update{Profile: noLogin, At: t1}, nil, invalid("login"))
	// The same rules as at registration.
	bad := profile()
	bad.KYCLevel = -5
	check(t, given, customer.Update{Profile: bad, At: t1}, nil, invalid("kyc_level"))
	bad = profile()
	bad.Phone = "not a phone"
	check(t, given, customer.Update{Profile: bad, At: t1}, nil, invalid("phone_number"))

	check(t, nil, customer.Update{Profile: profile(), At: t1}, nil, customer.ErrNotFound)
	check(t, nil, struct{}{}, nil, customer.ErrUnknownCommand)
}

func TestDisableEnable(t *testing.T) {
	given := []customer.Event{registered()}
	disabled := customer.CustomerDisabled{GUID: id.String(), Reason: "fraud check", At: t1}
	enabled := customer.CustomerEnabled{GUID: id.String(), At: t1}

	check(t, given, customer.Disable{Reason: " fraud check ", At: t1}, []customer.Event{disabled}, nil)
	check(t, append(given, disabled), customer.Disable{Reason: "again", At: t1}, nil, nil)
	check(t, given, customer.Disable{Reason: strings.Repeat("r", 501), At: t1}, nil, invalid("reason"))
	check(t, append(given, disabled), customer.Enable{At: t1}, []customer.Event{enabled}, nil)
	check(t, given, customer.Enable{At: t1}, nil, nil)
	check(t, append(given, disabled, enabled), customer.Enable{At: t1}, nil, nil)

	if s := fold(append(given, disabled)...); !s.Disabled || !s.UpdatedAt.Equal(t1) {
		t.Fatalf("after disable: %+v", s)
	}
	if s := fold(append(given, disabled, enabled)...); s.Disabled {
		t.Fatalf("after enable: %+v", s)
	}
	// A customer registered disabled is enabled by Enable.
	r := registered()
	r.Disabled = true
	check(t, []customer.Event{r}, customer.Enable{At: t1}, []customer.Event{enabled}, nil)

	check(t, nil, customer.Disable{At: t1}, nil, customer.ErrNotFound)
	check(t, nil, customer.Enable{At: t1}, nil, customer.ErrNotFound)
}

func TestAddAccount(t *testing.T) {
	given := []customer.Event{registered()}
	added := customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: acc2.String(), At: t1}
	check(t, given, customer.AddAccount{AccountGUID: acc2, At: t1}, []customer.Event{added}, nil)
	// Idempotent: the first account and an added one are already there.
	check(t, given, customer.AddAccount{AccountGUID: acc1, At: t1}, nil, nil)
	check(t, append(given, added), customer.AddAccount{AccountGUID: acc2, At: t1}, nil, nil)
	check(t, given, customer.AddAccount{At: t1}, nil, invalid("account_guid"))
	check(t, nil, customer.AddAccount{AccountGUID: acc2, At: t1}, nil, customer.ErrNotFound)

	disabled := customer.CustomerDisabled{GUID: id.String(), At: t1}
	check(t, append(given, disabled), customer.AddAccount{AccountGUID: acc2, At: t1}, nil, customer.ErrDisabled)
	// A retry of an account added before the customer was disabled still answers nothing.
	check(t, append(given, added, disabled), customer.AddAccount{AccountGUID: acc2, At: t1}, nil, nil)

	// At most MaxAccounts: the first account and MaxAccounts-1 more.
	full := []customer.Event{registered()}
	for i := 1; i < customer.MaxAccounts; i++ {
		full = append(full, customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: fmt.Sprintf("acc-%d", i), At: t1})
	}
	if n := len(fold(full...).Accounts); n != customer.MaxAccounts {
		t.Fatalf("%d accounts folded, want %d", n, customer.MaxAccounts)
	}
	check(t, full, customer.AddAccount{AccountGUID: uuid.New(), At: t1}, nil, customer.ErrTooManyAccounts)
	check(t, full[:len(full)-1], customer.AddAccount{AccountGUID: acc2, At: t1},
		[]customer.Event{customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: acc2.String(), At: t1}}, nil)
}

func TestEvolveFoldsAccountsInOrder(t *testing.T) {
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	given := []customer.Event{registered(),
		customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: a, At: t1},
		customer.CustomerUpdated{GUID: id.String(), Profile: profile(), At: t1},
		customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: b, At: t1.Add(time.Minute)},
	}
	s := fold(given...)
	if want := []string{acc1.String(), a, b}; !reflect.DeepEqual(s.Accounts, want) {
		t.Fatalf("accounts %v, want %v", s.Accounts, want)
	}
	if !s.Exists || s.GUID != id.String() || s.CounterpartyGUID != cp.String() || s.ExternalID != "ext-42" ||
		!s.CreatedAt.Equal(t0) || !s.UpdatedAt.Equal(t1.Add(time.Minute)) {
		t.Fatalf("state %+v", s)
	}
	if !s.HasAccount(a) || !s.HasAccount(acc1.String()) || s.HasAccount(c) {
		t.Fatal("HasAccount disagrees with Accounts")
	}
	// Two folds from one state must not share an array: adding c to one leaves the other alone.
	one := customer.Evolve(s, customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: c})
	two := customer.Evolve(s, customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: a + "-other"})
	if one.Accounts[3] != c || two.Accounts[3] != a+"-other" || len(s.Accounts) != 3 {
		t.Fatalf("folds share their accounts: %v %v %v", one.Accounts, two.Accounts, s.Accounts)
	}
}

func TestNormaliseIsStable(t *testing.T) {
	// Update compares a normalised profile with the stored one: normalising twice must change nothing.
	for _, p := range []customer.Profile{register().Profile, {Phone: " 380501234567 "}, {Login: "x", Status: " vip ", BranchGUID: "{" + branch.String() + "}"}} {
		once, err := p.Normalise()
		if err != nil {
			t.Fatal(err)
		}
		twice, err := once.Normalise()
		if err != nil || twice != once {
			t.Fatalf("%+v: once %+v, twice %+v %v", p, once, twice, err)
		}
	}
}

func TestErrInvalidNamesItsField(t *testing.T) {
	_, err := customer.Decide(customer.State{}, customer.Register{})
	var inv interface{ InvalidField() (string, string) }
	if !errors.As(err, &inv) {
		t.Fatalf("%v does not name its field", err)
	}
	if f, reason := inv.InvalidField(); f != "guid" || reason == "" || !strings.Contains(err.Error(), "guid") {
		t.Fatalf("field %q reason %q error %v", f, reason, err)
	}
}

func TestStreams(t *testing.T) {
	if customer.Stream(id) != "customer-"+id.String() {
		t.Fatal(customer.Stream(id))
	}
	// A login is unique within its counterparty, whatever its case; another bank's is another stream.
	if customer.LoginStream(cp, "Olena") != customer.LoginStream(cp, "olena") {
		t.Fatal("login streams differ by case")
	}
	if customer.LoginStream(cp, "olena") == customer.LoginStream(uuid.New(), "olena") {
		t.Fatal("two banks share a login stream")
	}
	if customer.LoginStream(cp, "olena") == customer.LoginStream(cp, "taras") {
		t.Fatal("two logins share a stream")
	}
}

func TestEventsRoundTrip(t *testing.T) {
	all := []customer.Event{registered(),
		customer.CustomerUpdated{GUID: id.String(), Profile: profile(), At: t1},
		customer.CustomerDisabled{GUID: id.String(), Reason: "r", At: t1},
		customer.CustomerEnabled{GUID: id.String(), At: t1},
		customer.CustomerAccountAdded{GUID: id.String(), AccountGUID: acc2.String(), At: t1},
	}
	if n := len(customer.Events.Types()); n != len(all) {
		t.Fatalf("registry has %d types, want %d", n, len(all))
	}
	seen := map[string]bool{}
	for _, e := range all {
		typ, data, err := customer.Events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := customer.Events.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("%s: %#v, %v", typ, back, err)
		}
		if !strings.HasPrefix(typ, customer.EventTypePrefixes[0]) || seen[typ] {
			t.Fatalf("type name %q", typ)
		}
		seen[typ] = true
	}
	// The wire names of the profile are the seed's.
	_, data, _ := customer.Events.Encode(registered())
	for _, field := range []string{`"phone_number":`, `"kyc_level":`, `"balance_allowed":`, `"external_id":`, `"is_disabled":`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("CustomerRegistered JSON lacks %s: %s", field, data)
		}
	}
}
