package projections_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

var _ auth.BankKeyFinder = (*projections.Counterparties)(nil)

var dirT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// directory is a bolt store with the four directory read models following it.
type directory struct {
	t      *testing.T
	store  *bolt.Store
	runner *projections.Runner
	cps    *projections.Counterparties
	emps   *projections.Employees
	brs    *projections.Branches
	roles  *projections.Roles
	last   eventstore.Position
}

func newDirectory(t *testing.T, store *bolt.Store) *directory {
	d := &directory{t: t, store: store, cps: projections.NewCounterparties(), emps: projections.NewEmployees(),
		brs: projections.NewBranches(), roles: projections.NewRoles()}
	d.runner = newRunner(t, store, projections.Options{}, d.cps, d.emps, d.brs, d.roles)
	start(t, d.runner)
	return d
}

func openBolt(t *testing.T) *bolt.Store {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// do handles one command and remembers the position of its last write.
func do[S, E any](d *directory, stream string, dec command.Decider[S, any, E], codec command.Codec[E], cmd any) {
	d.t.Helper()
	res, err := command.Handle(testContext(d.t), d.store, stream, dec, codec, cmd, command.Envelope{})
	if err != nil {
		d.t.Fatalf("%T on %s: %v", cmd, stream, err)
	}
	if len(res.Events) > 0 {
		d.last = res.Position
	}
}

func (d *directory) sync() {
	d.t.Helper()
	if err := d.runner.WaitFor(testContext(d.t), d.last); err != nil {
		d.t.Fatal(err)
	}
}

func accountID(b byte) string {
	// A valid StrKey account ID without the SDK: version byte 6<<3, 32 key bytes, CRC16-XModem little-endian.
	raw := make([]byte, 35)
	raw[0] = 6 << 3
	for i := 1; i <= 32; i++ {
		raw[i] = b
	}
	var crc uint16
	for _, c := range raw[:33] {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	raw[33], raw[34] = byte(crc), byte(crc>>8)
	return base64Base32(raw)
}

func guids(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

func cpGUIDs(list []projections.Counterparty) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.GUID)
	}
	return out
}

func TestCounterpartiesReadModel(t *testing.T) {
	store := openBolt(t)
	d := newDirectory(t, store)
	ctx := testContext(t)
	ids := guids(5)
	// Two counterparties share a creation time, so that the GUID breaks the tie.
	at := []time.Time{dirT0.Add(3 * time.Hour), dirT0, dirT0.Add(time.Hour), dirT0.Add(time.Hour), dirT0.Add(2 * time.Hour)}
	names := []string{"Alpha Bank", "Beta Bank", "Gamma Bank", "Delta Bank", "Epsilon Bank"}
	holdings := []string{"North", "North", "South", "", "South"}
	for i, id := range ids {
		do(d, counterparty.Stream(id), counterparty.Decider, counterparty.Events, counterparty.Register{
			GUID: id, Profile: counterparty.Profile{Name: names[i], HoldingName: holdings[i], AuthURL: "https://auth.test"},
			AssetCode: "UAH", AssetIssuer: accountID(byte(i)), EmissionAccountGUID: uuid.New(), ProcessingAccountGUID: uuid.New(), At: at[i],
		})
	}
	d.sync()

	// Expected ascending order: by time, then GUID.
	asc := []int{1, 2, 3, 4, 0}
	if ids[2].String() > ids[3].String() {
		asc = []int{1, 3, 2, 4, 0}
	}
	var wantAsc []string
	for _, i := range asc {
		wantAsc = append(wantAsc, ids[i].String())
	}
	list := func(q projections.CounterpartyQuery) ([]string, int) {
		t.Helper()
		items, total, err := d.cps.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return cpGUIDs(items), total
	}
	if got, total := list(projections.CounterpartyQuery{}); !slices.Equal(got, wantAsc) || total != 5 {
		t.Fatalf("ascending: %v (%d), want %v", got, total, wantAsc)
	}
	wantDesc := slices.Clone(wantAsc)
	slices.Reverse(wantDesc)
	if got, _ := list(projections.CounterpartyQuery{ListPage: projections.ListPage{Order: projections.CreatedDesc}}); !slices.Equal(got, wantDesc) {
		t.Fatalf("descending: %v, want %v", got, wantDesc)
	}
	for name, tc := range map[string]struct {
		q     projections.CounterpartyQuery
		want  []string
		total int
	}{
		"guids":              {projections.CounterpartyQuery{GUIDs: []string{ids[0].String(), ids[4].String(), "nope"}}, []string{ids[4].String(), ids[0].String()}, 2},
		"guids upper-case":   {projections.CounterpartyQuery{GUIDs: []string{stringsToUpper(ids[1].String())}}, []string{ids[1].String()}, 1},
		"names":              {projections.CounterpartyQuery{Names: []string{"alpha  BANK", "Beta Bank"}}, []string{ids[1].String(), ids[0].String()}, 2},
		"holding names":      {projections.CounterpartyQuery{HoldingNames: []string{"south"}}, []string{ids[2].String(), ids[4].String()}, 2},
		"names and holdings": {projections.CounterpartyQuery{Names: []string{"Alpha Bank", "Gamma Bank"}, HoldingNames: []string{"North"}}, []string{ids[0].String()}, 1},
		"all three":          {projections.CounterpartyQuery{GUIDs: []string{ids[0].String()}, Names: []string{"Beta Bank"}, HoldingNames: []string{"North"}}, []string{}, 0},
		"offset past total":  {projections.CounterpartyQuery{ListPage: projections.ListPage{Offset: 5}}, []string{}, 5},
		"limit 1":            {projections.CounterpartyQuery{ListPage: projections.ListPage{Limit: 1}}, wantAsc[:1], 5},
		"last page":          {projections.CounterpartyQuery{ListPage: projections.ListPage{Offset: 4, Limit: 10}}, wantAsc[4:], 5},
		"limit 1 desc":       {projections.CounterpartyQuery{ListPage: projections.ListPage{Order: projections.CreatedDesc, Offset: 1, Limit: 1}}, wantDesc[1:2], 5},
		"huge limit is cut":  {projections.CounterpartyQuery{ListPage: projections.ListPage{Limit: 1 << 30}}, wantAsc, 5},
	} {
		got, total := list(tc.q)
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v (%d), want %v (%d)", name, got, total, tc.want, tc.total)
		}
	}
	for name, q := range map[string]projections.CounterpartyQuery{
		"negative offset": {ListPage: projections.ListPage{Offset: -1}},
		"negative limit":  {ListPage: projections.ListPage{Limit: -1}},
		"bad order":       {ListPage: projections.ListPage{Order: 7}},
		"too many guids":  {GUIDs: make([]string, projections.MaxListFilterValues+1)},
	} {
		if _, _, err := d.cps.List(ctx, q); !errors.Is(err, projections.ErrInvalidListQuery) {
			t.Errorf("%s: %v", name, err)
		}
	}

	c, ok := d.cps.Counterparty(ctx, ids[0].String())
	if !ok || c.AssetCode != "UAH" || c.AssetIssuer != accountID(0) || c.EmissionAccountGUID == "" || c.ProcessingAccountGUID == "" ||
		c.UserAuthURL != "https://auth.test/user_auth" || !c.CreatedAt.Equal(at[0]) {
		t.Fatalf("counterparty %+v, %v", c, ok)
	}
	do(d, counterparty.Stream(ids[0]), counterparty.Decider, counterparty.Events, counterparty.Update{Profile: counterparty.Profile{Name: "Omega Bank"}, At: at[0].Add(time.Minute)})
	do(d, counterparty.Stream(ids[0]), counterparty.Decider, counterparty.Events, counterparty.Disable{At: at[0].Add(2 * time.Minute)})
	d.sync()
	if c, _ := d.cps.Counterparty(ctx, ids[0].String()); c.Name != "Omega Bank" || !c.Disabled || c.UserAuthURL != "" || !c.UpdatedAt.Equal(at[0].Add(2*time.Minute)) {
		t.Fatalf("after update and disable: %+v", c)
	}
	if got, _ := list(projections.CounterpartyQuery{Names: []string{"omega bank"}}); !slices.Equal(got, []string{ids[0].String()}) {
		t.Fatalf("renamed: %v", got)
	}
	if _, ok := d.cps.Counterparty(ctx, uuid.NewString()); ok {
		t.Fatal("unknown counterparty found")
	}
	checkRebuild(t, store, d)
}

func stringsToUpper(s string) string { return string(toUpper([]byte(s))) }

func toUpper(b []byte) []byte {
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return b
}

func base64Base32(raw []byte) string { return stellarEncoding.EncodeToString(raw) }

func publicJWK(kid string, pub *rsa.PublicKey) json.RawMessage {
	n := base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	b, _ := json.Marshal(map[string]string{"kty": "RSA", "alg": "RS256", "kid": kid, "n": n, "e": e})
	return b
}

func TestBankKeys(t *testing.T) {
	store := openBolt(t)
	d := newDirectory(t, store)
	ctx := testContext(t)
	key1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bank, other := uuid.New(), uuid.New()
	for i, id := range []uuid.UUID{bank, other} {
		do(d, counterparty.Stream(id), counterparty.Decider, counterparty.Events, counterparty.Register{
			GUID: id, Profile: counterparty.Profile{Name: id.String()}, AssetCode: "UAH", AssetIssuer: accountID(byte(i)),
			EmissionAccountGUID: uuid.New(), ProcessingAccountGUID: uuid.New(), At: dirT0})
	}
	keyGUID := uuid.New()
	do(d, counterparty.Stream(bank), counterparty.Decider, counterparty.Events, counterparty.RegisterJWK{KeyGUID: keyGUID, KID: "k1", JWK: publicJWK("k1", &key1.PublicKey), At: dirT0})
	// A key of the right shape that is too small to use: stored, but refused at lookup.
	do(d, counterparty.Stream(bank), counterparty.Decider, counterparty.Events, counterparty.RegisterJWK{KeyGUID: uuid.New(), KID: "weak", JWK: json.RawMessage(`{"kty":"RSA","n":"sXch","e":"AQAB"}`), At: dirT0.Add(time.Second)})
	d.sync()

	pub, err := d.cps.BankKey(ctx, bank.String(), "k1")
	if err != nil || pub == nil || !pub.Equal(&key1.PublicKey) {
		t.Fatalf("k1: %v, %v", pub, err)
	}
	pub.N.SetInt64(1) // a caller's change must not reach the read model
	if again, _ := d.cps.BankKey(ctx, bank.String(), "k1"); !again.Equal(&key1.PublicKey) {
		t.Fatal("the read model handed out its own key")
	}
	if pub, err := d.cps.BankKey(ctx, bank.String(), "nope"); pub != nil || err != nil {
		t.Fatalf("unknown kid: %v, %v", pub, err)
	}
	if pub, err := d.cps.BankKey(ctx, other.String(), "k1"); pub != nil || err != nil {
		t.Fatalf("another bank's kid: %v, %v", pub, err)
	}
	if _, err := d.cps.BankKey(ctx, bank.String(), "weak"); err == nil {
		t.Fatal("a weak stored key was returned")
	}
	if keys := d.cps.BankKeys(ctx, bank.String()); len(keys) != 2 || keys[0].KID != "k1" || keys[1].KID != "weak" {
		t.Fatalf("keys %+v", keys)
	}

	// Rotation to a new kid: the old kid is gone.
	do(d, counterparty.Stream(bank), counterparty.Decider, counterparty.Events, counterparty.UpdateJWK{KeyGUID: keyGUID, KID: "k2", JWK: publicJWK("k2", &key2.PublicKey), At: dirT0.Add(time.Hour)})
	d.sync()
	if pub, _ := d.cps.BankKey(ctx, bank.String(), "k1"); pub != nil {
		t.Fatal("rotated-out kid still answers")
	}
	if pub, err := d.cps.BankKey(ctx, bank.String(), "k2"); err != nil || !pub.Equal(&key2.PublicKey) {
		t.Fatalf("k2: %v, %v", pub, err)
	}
	if k := d.cps.BankKeys(ctx, bank.String())[0]; !k.CreatedAt.Equal(dirT0) || !k.UpdatedAt.Equal(dirT0.Add(time.Hour)) {
		t.Fatalf("rotated key times: %+v", k)
	}

	// A JWT signed with k2 verifies through auth with the read model as its key finder.
	now := dirT0.Add(2 * time.Hour)
	token := signRS256(t, key2, "k2", map[string]any{"sub": "teller", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	if _, err := auth.VerifyBankJWT(ctx, token, bank.String(), d.cps, now); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if _, err := auth.VerifyBankJWT(ctx, token, other.String(), d.cps, now); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("verify for another bank: %v", err)
	}
	// A disabled bank's keys do not answer.
	do(d, counterparty.Stream(bank), counterparty.Decider, counterparty.Events, counterparty.Disable{At: now})
	d.sync()
	if pub, err := d.cps.BankKey(ctx, bank.String(), "k2"); pub != nil || err != nil {
		t.Fatalf("disabled bank: %v, %v", pub, err)
	}
	checkRebuild(t, store, d)
}

func TestEmployeesReadModel(t *testing.T) {
	store := openBolt(t)
	d := newDirectory(t, store)
	ctx := testContext(t)
	bank, otherBank := uuid.New(), uuid.New()
	kyiv, lviv := uuid.New(), uuid.New()
	ids := guids(5)
	specs := []struct {
		cp     uuid.UUID
		login  string
		name   string
		branch uuid.UUID
	}{
		{bank, "anna@bank.test", "Anna", kyiv},
		{bank, "bohdan@bank.test", "Bohdan", lviv},
		{bank, "ira@bank.test", "Ira", uuid.Nil},
		{bank, "oleh@bank.test", "Oleh", kyiv},
		{otherBank, "anna@bank.test", "Anna", uuid.Nil},
	}
	for i, s := range specs {
		do(d, employee.Stream(ids[i]), employee.Decider, employee.Events, employee.Create{GUID: ids[i], CounterpartyGUID: s.cp,
			Profile: employee.ProfileInput{Email: s.login, Name: s.name, BranchGUID: s.branch}, Roles: []string{"Operator"}, At: dirT0.Add(time.Duration(i) * time.Minute)})
	}
	do(d, employee.Stream(ids[3]), employee.Decider, employee.Events, employee.Disable{At: dirT0.Add(time.Hour)})
	const tok = "0123456789abcdef0123456789abcdef"
	do(d, employee.Stream(ids[0]), employee.Decider, employee.Events, employee.IssueVerification{Token: tok, TTL: time.Hour, At: dirT0})
	do(d, employee.Stream(ids[0]), employee.Decider, employee.Events, employee.SetPassword{Token: tok, PasswordHash: "$2a$hash", At: dirT0.Add(time.Minute)})
	do(d, employee.Stream(ids[1]), employee.Decider, employee.Events, employee.ChangeRoles{Roles: []string{"Auditor", "Observer"}, At: dirT0.Add(time.Hour)})
	d.sync()

	list := func(q projections.EmployeeQuery) ([]string, int) {
		t.Helper()
		if q.CounterpartyGUID == "" {
			q.CounterpartyGUID = bank.String()
		}
		items, total, err := d.emps.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, e := range items {
			out = append(out, e.GUID)
		}
		return out, total
	}
	s := func(is ...int) []string {
		out := []string{}
		for _, i := range is {
			out = append(out, ids[i].String())
		}
		return out
	}
	for name, tc := range map[string]struct {
		q     projections.EmployeeQuery
		want  []string
		total int
	}{
		"enabled only":       {projections.EmployeeQuery{}, s(0, 1, 2), 3},
		"include disabled":   {projections.EmployeeQuery{IncludeDisabled: true}, s(0, 1, 2, 3), 4},
		"desc":               {projections.EmployeeQuery{IncludeDisabled: true, ListPage: projections.ListPage{Order: projections.CreatedDesc}}, s(3, 2, 1, 0), 4},
		"guids":              {projections.EmployeeQuery{GUIDs: s(2, 4)}, s(2), 1}, // 4 is another bank's
		"logins":             {projections.EmployeeQuery{Logins: []string{"ANNA@bank.test", "oleh@bank.test"}}, s(0), 1},
		"names":              {projections.EmployeeQuery{Names: []string{"bohdan", "ira"}}, s(1, 2), 2},
		"branches":           {projections.EmployeeQuery{BranchGUIDs: []string{kyiv.String()}, IncludeDisabled: true}, s(0, 3), 2},
		"branches+names":     {projections.EmployeeQuery{BranchGUIDs: []string{kyiv.String(), lviv.String()}, Names: []string{"Bohdan", "Oleh"}, IncludeDisabled: true}, s(1, 3), 2},
		"logins+disabled":    {projections.EmployeeQuery{Logins: []string{"oleh@bank.test"}}, s(), 0},
		"other bank":         {projections.EmployeeQuery{CounterpartyGUID: otherBank.String()}, s(4), 1},
		"limit 1 offset 1":   {projections.EmployeeQuery{ListPage: projections.ListPage{Offset: 1, Limit: 1}}, s(1), 3},
		"offset beyond":      {projections.EmployeeQuery{ListPage: projections.ListPage{Offset: 99}}, s(), 3},
		"no branch filtered": {projections.EmployeeQuery{BranchGUIDs: []string{uuid.NewString()}}, s(), 0},
	} {
		if got, total := list(tc.q); !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v (%d), want %v (%d)", name, got, total, tc.want, tc.total)
		}
	}
	if _, _, err := d.emps.List(ctx, projections.EmployeeQuery{}); !errors.Is(err, projections.ErrInvalidListQuery) {
		t.Fatalf("no counterparty: %v", err)
	}

	l, ok := d.emps.Login(ctx, bank.String(), "Anna@Bank.test")
	if !ok || l.GUID != ids[0].String() || l.PasswordHash != "$2a$hash" || !l.Verified || l.Disabled {
		t.Fatalf("login: %+v, %v", l, ok)
	}
	if l, ok := d.emps.Login(ctx, bank.String(), "oleh@bank.test"); !ok || !l.Disabled || l.PasswordHash != "" {
		t.Fatalf("disabled login: %+v, %v", l, ok)
	}
	if _, ok := d.emps.Login(ctx, bank.String(), "nobody@bank.test"); ok {
		t.Fatal("unknown login found")
	}
	if all := d.emps.LoginsAnywhere(ctx, "anna@bank.test"); len(all) != 2 {
		t.Fatalf("logins anywhere: %+v", all)
	}
	if e, ok := d.emps.Employee(ctx, bank.String(), ids[1].String()); !ok || !slices.Equal(e.Roles, []string{"Auditor", "Observer"}) || e.BranchGUID != lviv.String() {
		t.Fatalf("employee %+v, %v", e, ok)
	}
	if _, ok := d.emps.Employee(ctx, otherBank.String(), ids[1].String()); ok {
		t.Fatal("an employee was found under another bank")
	}
	// A login change moves the index.
	do(d, employee.Stream(ids[0]), employee.Decider, employee.Events, employee.Update{Profile: employee.ProfileInput{Login: "anna.k", Email: "anna@bank.test", Name: "Anna"}, At: dirT0.Add(2 * time.Hour)})
	d.sync()
	if _, ok := d.emps.Login(ctx, bank.String(), "anna@bank.test"); ok {
		t.Fatal("old login still answers")
	}
	if l, ok := d.emps.Login(ctx, bank.String(), "anna.k"); !ok || l.PasswordHash != "$2a$hash" {
		t.Fatalf("new login: %+v, %v", l, ok)
	}
	checkRebuild(t, store, d)
}

func TestBranchesReadModel(t *testing.T) {
	store := openBolt(t)
	d := newDirectory(t, store)
	ctx := testContext(t)
	bank := uuid.New()
	ids := guids(4)
	for i, name := range []string{"Kyiv", "Lviv", "Odesa", "Kharkiv"} {
		do(d, branch.Stream(ids[i]), branch.Decider, branch.Events, branch.Create{GUID: ids[i], CounterpartyGUID: bank, Name: name, At: dirT0.Add(time.Duration(i) * time.Minute)})
	}
	other := uuid.New()
	do(d, branch.Stream(other), branch.Decider, branch.Events, branch.Create{GUID: other, CounterpartyGUID: uuid.New(), Name: "Kyiv", At: dirT0})
	do(d, branch.Stream(ids[2]), branch.Decider, branch.Events, branch.Delete{At: dirT0.Add(time.Hour)})
	do(d, branch.Stream(ids[1]), branch.Decider, branch.Events, branch.Rename{Name: "Lviv Central", At: dirT0.Add(time.Hour)})
	d.sync()
	s := func(is ...int) []string {
		out := []string{}
		for _, i := range is {
			out = append(out, ids[i].String())
		}
		return out
	}
	for name, tc := range map[string]struct {
		q     projections.BranchQuery
		want  []string
		total int
	}{
		"live":            {projections.BranchQuery{}, s(0, 1, 3), 3},
		"with deleted":    {projections.BranchQuery{IncludeDeleted: true}, s(0, 1, 2, 3), 4},
		"desc":            {projections.BranchQuery{ListPage: projections.ListPage{Order: projections.CreatedDesc}}, s(3, 1, 0), 3},
		"names":           {projections.BranchQuery{Names: []string{"kyiv", "lviv central", "Odesa"}}, s(0, 1), 2},
		"deleted by name": {projections.BranchQuery{Names: []string{"Odesa"}, IncludeDeleted: true}, s(2), 1},
		"guids":           {projections.BranchQuery{GUIDs: append(s(2, 3), other.String())}, s(3), 1},
		"guids+names":     {projections.BranchQuery{GUIDs: s(0, 3), Names: []string{"Kharkiv", "Lviv"}}, s(3), 1},
		"limit 1":         {projections.BranchQuery{ListPage: projections.ListPage{Limit: 1}}, s(0), 3},
		"offset beyond":   {projections.BranchQuery{ListPage: projections.ListPage{Offset: 3}}, s(), 3},
	} {
		q := tc.q
		q.CounterpartyGUID = bank.String()
		items, total, err := d.brs.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, b := range items {
			got = append(got, b.GUID)
		}
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v (%d), want %v (%d)", name, got, total, tc.want, tc.total)
		}
	}
	if b, ok := d.brs.Branch(ctx, bank.String(), ids[2].String()); !ok || !b.IsDeleted || b.Name != "Odesa" {
		t.Fatalf("deleted branch by GUID: %+v, %v", b, ok)
	}
	if _, ok := d.brs.Branch(ctx, uuid.NewString(), ids[0].String()); ok {
		t.Fatal("a branch was found under another bank")
	}
	if _, _, err := d.brs.List(ctx, projections.BranchQuery{}); !errors.Is(err, projections.ErrInvalidListQuery) {
		t.Fatalf("no counterparty: %v", err)
	}
	do(d, branch.Stream(ids[2]), branch.Decider, branch.Events, branch.Restore{At: dirT0.Add(2 * time.Hour)})
	d.sync()
	if items, total, _ := d.brs.List(ctx, projections.BranchQuery{CounterpartyGUID: bank.String()}); total != 4 || len(items) != 4 {
		t.Fatalf("after restore: %d", total)
	}
	checkRebuild(t, store, d)
}

func TestRolesReadModel(t *testing.T) {
	store := openBolt(t)
	d := newDirectory(t, store)
	ctx := testContext(t)
	bank := uuid.New()
	emp1, emp2 := uuid.New(), uuid.New()
	kyiv := uuid.New()
	known := func(string) bool { return true }
	stream := rbac.Stream(bank)
	h := func(cmd any) { do(d, stream, rbac.Decider, rbac.Events, cmd) }
	h(rbac.Seed{CounterpartyGUID: bank, Known: known, At: dirT0, Roles: []rbac.RoleSpec{
		{Name: "Administrator", Permissions: []string{"rbac.write", "accounts.read"}},
		{Name: "Operator", Permissions: []string{"accounts.read"}},
		{Name: "Observer", Permissions: []string{"accounts.read"}},
	}})
	h(rbac.CreateRole{Role: "Kyiv staff", BranchGUID: kyiv, At: dirT0.Add(time.Minute)})
	h(rbac.GrantPermission{Role: "Kyiv staff", Permission: "branch.customers.read", Known: known, At: dirT0.Add(time.Minute)})
	h(rbac.GrantPermission{Role: "Observer", Permission: "payments.read", Known: known, At: dirT0.Add(time.Minute)})
	h(rbac.RevokePermission{Role: "Operator", Permission: "accounts.read", At: dirT0.Add(time.Minute)})
	h(rbac.AddMember{Role: "Operator", EmployeeGUID: emp1, At: dirT0})
	h(rbac.AddMember{Role: "Kyiv staff", EmployeeGUID: emp1, At: dirT0})
	h(rbac.AddMember{Role: "Observer", EmployeeGUID: emp1, At: dirT0})
	h(rbac.AddMember{Role: "Observer", EmployeeGUID: emp2, At: dirT0})
	h(rbac.RemoveMember{Role: "Observer", EmployeeGUID: emp1, At: dirT0})
	d.sync()

	roles, err := d.roles.Roles(ctx, bank.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []projections.Role{
		{Name: "Administrator", Permissions: []string{"accounts.read", "rbac.write"}, Members: []string{}, CreatedAt: dirT0},
		{Name: "Operator", Permissions: []string{}, Members: []string{emp1.String()}, CreatedAt: dirT0},
		{Name: "Observer", Permissions: []string{"accounts.read", "payments.read"}, Members: []string{emp2.String()}, CreatedAt: dirT0},
		{Name: "Kyiv staff", BranchGUID: kyiv.String(), Permissions: []string{"branch.customers.read"}, Members: []string{emp1.String()}, CreatedAt: dirT0.Add(time.Minute)},
	}
	normalise := func(rs []projections.Role) []projections.Role {
		for i := range rs {
			if rs[i].Permissions == nil {
				rs[i].Permissions = []string{}
			}
			if rs[i].Members == nil {
				rs[i].Members = []string{}
			}
		}
		return rs
	}
	if got := normalise(roles); !reflect.DeepEqual(got, want) {
		t.Fatalf("roles:\n got  %+v\n want %+v", got, want)
	}
	if got := d.roles.MemberRoles(ctx, bank.String(), emp1.String()); !slices.Equal(got, []string{"Kyiv staff", "Operator"}) {
		t.Fatalf("member roles: %v", got)
	}
	h(rbac.DeleteRole{Role: "Kyiv staff", At: dirT0.Add(time.Hour)})
	d.sync()
	if got := d.roles.MemberRoles(ctx, bank.String(), emp1.String()); !slices.Equal(got, []string{"Operator"}) {
		t.Fatalf("member roles after delete: %v", got)
	}
	if _, ok := d.roles.Role(ctx, bank.String(), "Kyiv staff"); ok {
		t.Fatal("deleted role found")
	}
	if r, ok := d.roles.Role(ctx, bank.String(), "Observer"); !ok || len(r.Members) != 1 {
		t.Fatalf("role: %+v, %v", r, ok)
	}
	if rs, err := d.roles.Roles(ctx, uuid.NewString()); rs != nil || err != nil {
		t.Fatalf("unseeded bank: %v, %v", rs, err)
	}
	checkRebuild(t, store, d)
}

// checkRebuild replays the whole log into fresh read models and compares every view with the live ones.
func checkRebuild(t *testing.T, store *bolt.Store, live *directory) {
	t.Helper()
	fresh := newDirectory(t, store)
	if err := fresh.runner.WaitCaughtUp(testContext(t)); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	all := projections.ListPage{Limit: projections.MaxListLimit}
	cpsLive, _, _ := live.cps.List(ctx, projections.CounterpartyQuery{ListPage: all})
	cpsFresh, _, _ := fresh.cps.List(ctx, projections.CounterpartyQuery{ListPage: all})
	if !reflect.DeepEqual(cpsLive, cpsFresh) {
		t.Errorf("counterparties differ after rebuild:\n live  %+v\n fresh %+v", cpsLive, cpsFresh)
	}
	for _, c := range cpsLive {
		if !reflect.DeepEqual(live.cps.BankKeys(ctx, c.GUID), fresh.cps.BankKeys(ctx, c.GUID)) {
			t.Errorf("bank keys of %s differ after rebuild", c.GUID)
		}
	}
	// Employees, branches and roles are per bank: compare every bank either model knows.
	banks := map[string]bool{}
	for _, e := range allEmployees(live) {
		banks[e] = true
	}
	for bank := range banks {
		el, _, _ := live.emps.List(ctx, projections.EmployeeQuery{CounterpartyGUID: bank, IncludeDisabled: true, ListPage: all})
		ef, _, _ := fresh.emps.List(ctx, projections.EmployeeQuery{CounterpartyGUID: bank, IncludeDisabled: true, ListPage: all})
		if !reflect.DeepEqual(el, ef) {
			t.Errorf("employees of %s differ after rebuild", bank)
		}
		bl, _, _ := live.brs.List(ctx, projections.BranchQuery{CounterpartyGUID: bank, IncludeDeleted: true, ListPage: all})
		bf, _, _ := fresh.brs.List(ctx, projections.BranchQuery{CounterpartyGUID: bank, IncludeDeleted: true, ListPage: all})
		if !reflect.DeepEqual(bl, bf) {
			t.Errorf("branches of %s differ after rebuild", bank)
		}
		rl, _ := live.roles.Roles(ctx, bank)
		rf, _ := fresh.roles.Roles(ctx, bank)
		if !reflect.DeepEqual(rl, rf) {
			t.Errorf("roles of %s differ after rebuild", bank)
		}
	}
	if len(banks) == 0 && len(cpsLive) == 0 {
		t.Error("nothing was compared")
	}
}

// allEmployees lists the counterparties named in the log by any directory event, read back from the store.
func allEmployees(d *directory) []string {
	evs, err := d.store.ReadAll(testContext(d.t), eventstore.Forwards, eventstore.StartPosition, eventstore.MaxReadCount)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		var m struct {
			CP string `json:"counterparty_guid"`
		}
		if json.Unmarshal(ev.Data, &m) == nil && m.CP != "" {
			out = append(out, m.CP)
		}
	}
	return out
}
