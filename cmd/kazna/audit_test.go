package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/app"
	kcommand "github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

// auditLedger writes a small ledger into <data>/events.db, one append per event so that each is its own
// record in the log: the asset, a bank with an account, a credit of 100.00 at t1 and one of 0.25 at t2.
type auditLedger struct {
	data, bank, acct string
	t1, t2           time.Time
	creditAt         eventstore.Position // the credit of 100.00
	last             eventstore.Position
}

func appendOne[E any](t *testing.T, s eventstore.Store, codec kcommand.Codec[E], stream string, at time.Time, e E) eventstore.Position {
	t.Helper()
	typ, body, err := codec.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(context.Background(), stream, eventstore.Any{}, eventstore.EventData{ID: uuid.New(), Type: typ, Data: body,
		Metadata: eventstore.Metadata{Actor: "tester", Time: at}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

func newAuditLedger(t *testing.T) auditLedger {
	t.Helper()
	l := auditLedger{data: t.TempDir(), bank: uuid.NewString(), acct: uuid.NewString(), t1: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	l.t2 = l.t1.Add(time.Hour)
	s, err := bolt.Open(filepath.Join(l.data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l.write(t, s)
	return l
}

func (l *auditLedger) write(t *testing.T, s eventstore.Store) {
	t.Helper()
	t0 := l.t1.Add(-time.Hour)
	plat := kcommand.NewRegistry[platform.Event]()
	if err := kcommand.Register[platform.Event, platform.AssetDefined](plat, "AssetDefined"); err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, plat, platform.Stream, t0, platform.Event(platform.AssetDefined{Code: "UAH", StellarCode: "eUAH", Decimals: 2, At: t0}))
	appendOne(t, s, counterparty.Events, counterparty.Stream(uuid.MustParse(l.bank)), t0,
		counterparty.Event(counterparty.CounterpartyRegistered{GUID: l.bank, Profile: counterparty.Profile{Name: "Audit Bank"}, At: t0}))
	stream := account.Stream(uuid.MustParse(l.acct))
	appendOne(t, s, account.Events, stream, t0, account.Event(account.AccountKeyGenerated{GUID: l.acct, Kind: account.KindProcessing,
		CounterpartyGUID: l.bank, Address: "GA" + l.acct, SealedSeed: []byte("sealed"), At: t0}))
	appendOne(t, s, account.Events, stream, t0, account.Event(account.AccountOpened{GUID: l.acct, Kind: account.KindProcessing,
		CounterpartyGUID: l.bank, Address: "GA" + l.acct, AssetCode: "eUAH", AssetIssuer: "GISSUER", At: t0}))
	l.creditAt = appendOne(t, s, account.Events, stream, l.t1, account.Event(account.AccountCredited{GUID: l.acct, Payment: uuid.NewString(), Amount: 10000, At: l.t1}))
	l.last = appendOne(t, s, account.Events, stream, l.t2, account.Event(account.AccountCredited{GUID: l.acct, Payment: uuid.NewString(), Amount: 25, At: l.t2}))
}

// editLog changes the embedded store's file behind the store's back, as an attacker with the file would.
func editLog(t *testing.T, data string, edit func(log *bbolt.Bucket) error) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(data, "events.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { return edit(tx.Bucket([]byte("log"))) }); err != nil {
		t.Fatal(err)
	}
}

func logKey(pos uint64) []byte { return binary.BigEndian.AppendUint64(nil, pos) }

func TestVerifyHelp(t *testing.T) {
	code, out, _ := runCLI(t, "verify", "--help")
	for _, want := range []string{"hash", "prev_hash", "Exit status 1", "revision", "-stream-tails", "-eventstore", "KurrentDB"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("verify --help (exit %d) does not mention %q:\n%s", code, want, out)
		}
	}
	if _, out, _ := runCLI(t, "--help"); !strings.Contains(out, "verify") || !strings.Contains(out, "replay") {
		t.Fatalf("kazna --help does not list verify and replay:\n%s", out)
	}
}

// TestVerifyCLI: a clean store passes; an event whose bytes were changed in the file, and an event deleted
// from the file, are found, named, and exit 1.
func TestVerifyCLI(t *testing.T) {
	l := newAuditLedger(t)
	code, out, errOut := runCLI(t, "verify", "--data", l.data)
	if code != 0 || !strings.Contains(out, "6 events in 3 streams, every hash chain intact, the log continuous up to position 6") {
		t.Fatalf("clean store: exit %d\n%s\n%s", code, out, errOut)
	}

	// Tamper: the credit of 100.00 becomes 900.00.
	editLog(t, l.data, func(log *bbolt.Bucket) error {
		v := bytes.Clone(log.Get(logKey(l.creditAt.Commit)))
		i := bytes.Index(v, []byte(`"amount":10000`))
		if i < 0 {
			t.Fatalf("no amount in the record %q", v)
		}
		v[i+len(`"amount":`)] = '9'
		return log.Put(logKey(l.creditAt.Commit), v)
	})
	code, out, errOut = runCLI(t, "verify", "--data", l.data)
	for _, want := range []string{"NOT intact", `"account-` + l.acct + `" revision 2`, "log position " + l.creditAt.String(), "AccountCredited", "was changed"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("tampered store: exit %d, stderr does not name %q:\n%s\n%s", code, want, errOut, out)
		}
	}

	// Delete: a fresh ledger loses the same event from the middle of the log.
	l = newAuditLedger(t)
	editLog(t, l.data, func(log *bbolt.Bucket) error { return log.Delete(logKey(l.creditAt.Commit)) })
	code, _, errOut = runCLI(t, "verify", "--data", l.data)
	want := "log position " + l.creditAt.String() + ": the log cannot be read after position " + eventstore.Position{Commit: l.creditAt.Commit - 1, Prepare: l.creditAt.Commit - 1}.String()
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("deleted event: exit %d, want %q in:\n%s", code, want, errOut)
	}

	// The last event deleted: the store does not even open, and says why.
	l = newAuditLedger(t)
	editLog(t, l.data, func(log *bbolt.Bucket) error { return log.Delete(logKey(l.last.Commit)) })
	if code, _, errOut := runCLI(t, "verify", "--data", l.data); code != 1 || !strings.Contains(errOut, "does not open") || !strings.Contains(errOut, "ends at 6") {
		t.Fatalf("deleted last event: exit %d\n%s", code, errOut)
	}

	if code, _, errOut := runCLI(t, "verify", "--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "no event store at") {
		t.Fatalf("no store: exit %d\n%s", code, errOut)
	}
}

// TestAuditOnKurrentDB: verify and replay read KurrentDB through the same port (here the in-process test
// server), where positions are offsets with gaps by nature and only their order is checked.
func TestAuditOnKurrentDB(t *testing.T) {
	srv := esdbtest.StartT(t)
	s, err := esdb.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	l := auditLedger{data: t.TempDir(), bank: uuid.NewString(), acct: uuid.NewString(), t1: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	l.t2 = l.t1.Add(time.Hour)
	l.write(t, s)
	s.Close()
	code, out, errOut := runCLI(t, "verify", "--data", l.data, "--eventstore", srv.URL())
	if code != 0 || !strings.Contains(out, "verified kurrentdb: 6 events in 3 streams, every hash chain intact") {
		t.Fatalf("verify on KurrentDB: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "replay", "--data", l.data, "--eventstore", srv.URL(), "--until", l.t1.Format(time.RFC3339), "--format", "csv")
	if code != 0 || !strings.Contains(out, l.acct+",processing,,false,100.00,0.00,100.00") {
		t.Fatalf("replay on KurrentDB: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestReplayCLI(t *testing.T) {
	l := newAuditLedger(t)
	// A text table as of t1: the first credit only.
	code, out, errOut := runCLI(t, "replay", "--data", l.data, "--until", l.t1.Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "Balances as of "+l.t1.Format(time.RFC3339Nano)) || !strings.Contains(out, l.acct) || !strings.Contains(out, "100.00") ||
		strings.Contains(out, "100.25") {
		t.Fatalf("replay --until t1: exit %d\n%s\n%s", code, out, errOut)
	}
	// CSV to a file as of the last position: both credits.
	file := filepath.Join(t.TempDir(), "balances.csv")
	code, out, errOut = runCLI(t, "replay", "--data", l.data, "--until", l.last.String(), "--format", "csv", "--out", file)
	if code != 0 || !strings.Contains(out, "wrote the balances of 1 accounts") {
		t.Fatalf("replay csv: exit %d\n%s\n%s", code, out, errOut)
	}
	f, _ := os.Open(file)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 2 || recs[1][1] != l.acct || recs[1][5] != "100.25" || recs[1][7] != "100.25" {
		t.Fatalf("csv %v %v", recs, err)
	}
	// JSON before anything was credited.
	code, out, _ = runCLI(t, "replay", "--data", l.data, "--until", l.t1.Add(-time.Second).Format(time.RFC3339Nano), "--format", "json")
	if code != 0 || !strings.Contains(out, `"balance": "0.00"`) {
		t.Fatalf("replay json: exit %d\n%s", code, out)
	}
	// Two Runners side by side give the same sheet.
	if code, out2, _ := runCLI(t, "replay", "--data", l.data, "--until", l.t1.Format(time.RFC3339), "--runners", "2"); code != 0 || !strings.Contains(out2, "100.00") {
		t.Fatalf("replay --runners 2: exit %d\n%s", code, out2)
	}
	for _, args := range [][]string{{"--until", "yesterday"}, {"--format", "xml"}, {"--runners", "0"}} {
		if code, _, errOut := runCLI(t, append([]string{"replay", "--data", l.data}, args...)...); code != 1 || !strings.Contains(errOut, args[0]) {
			t.Fatalf("replay %v: exit %d\n%s", args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), ".kazna-replay-")); err == nil {
		t.Fatal("a temporary file was left behind")
	}
}

// TestReplayEqualsWhatTheAPIShowed drives a real node through its HTTP API (customers, an issue, transfers
// settled on the embedded Stellar network), records every account's balance as GET …/accounts answered at a
// time T, sends more transfers, stops the node, and checks that kazna replay --until T gives exactly the
// balances the API showed at T, that balance?at=T agreed while the node ran, and that kazna verify passes.
func TestReplayEqualsWhatTheAPIShowed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and settles transfers on the embedded network")
	}
	data := t.TempDir()
	c := &config{Data: data, LogLevel: "warn", LogFormat: "text", ShutdownTimeout: 10 * time.Second, LedgerClose: 100 * time.Millisecond,
		Channels: 2, Background: true, AdminLogin: "admin", AssetCode: "UAH", AssetStellarCode: "eUAH", AssetDecimals: 2,
		SigningKeyMaxAge: app.DefaultKeyMaxAge, logOut: &syncBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	node, err := startLoadgenNode(ctx, c, data)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			node.stop()
		}
	}()
	var setupOut bytes.Buffer
	lg := &loadgen{base: node.base, client: newTestClient(), out: &setupOut}
	if err := lg.setup(ctx, data, 2); err != nil {
		t.Fatal(err)
	}
	// Quiet: every balance stable and nothing reserved, so the API's answer is the state at T.
	before := waitQuietBalances(t, ctx, lg)
	at := time.Now().UTC()
	time.Sleep(20 * time.Millisecond) // events after this are after T by more than the clock's step
	again := apiBalances(t, ctx, lg)
	if !equalBalances(before, again) {
		t.Fatalf("balances moved while quiet: %v then %v", before, again)
	}
	// The balance endpoint agrees at T, and after more transfers still answers T's balance for ?at=T.
	if _, err := lg.pay(ctx, lg.accounts[0], lg.accounts[1], 1234); err != nil {
		t.Fatal(err)
	}
	if err := lg.waitBalance(ctx, lg.accounts[1], before[lg.accounts[1]].balance+1234); err != nil {
		t.Fatal(err)
	}
	after := waitQuietBalances(t, ctx, lg)
	if after[lg.accounts[0]].balance != before[lg.accounts[0]].balance-1234 {
		t.Fatalf("the transfer after T did not move the sender: %v → %v", before, after)
	}
	for acct, want := range before {
		var got struct {
			Balance  json.Number `json:"balance"`
			Reserved json.Number `json:"reserved_balance"`
		}
		if _, err := lg.call(ctx, "GET", "/api/v1/counterparty/"+lg.bank+"/accounts/"+acct+"/balance?at="+at.Format(time.RFC3339Nano), lg.token, nil, &got); err != nil {
			t.Fatal(err)
		}
		if b, _ := parseMinor(got.Balance.String()); b != want.balance {
			t.Errorf("balance?at=T of %s: %s, the API showed %s at T", acct, got.Balance, minorText(want.balance))
		}
	}
	node.stop()
	stopped = true

	code, out, errOut := runCLI(t, "replay", "--data", data, "--until", at.Format(time.RFC3339Nano), "--format", "csv")
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, errOut)
	}
	replayed := csvBalances(t, out)
	if !equalBalances(replayed, before) {
		t.Fatalf("replay --until T gives\n%v\nthe API showed at T\n%v", replayed, before)
	}
	code, out, errOut = runCLI(t, "replay", "--data", data, "--format", "csv")
	if code != 0 || !equalBalances(csvBalances(t, out), after) {
		t.Fatalf("replay of the whole log: exit %d\n%v\nwant %v\n%s", code, csvBalances(t, out), after, errOut)
	}
	if code, out, errOut := runCLI(t, "verify", "--data", data); code != 0 || !strings.Contains(out, "every hash chain intact") {
		t.Fatalf("verify after the run: exit %d\n%s\n%s", code, out, errOut)
	}
}

type accountMoney struct{ balance, reserved int64 }

func newTestClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// apiBalances is every account of the demo bank as GET …/accounts shows it, in minor units.
func apiBalances(t *testing.T, ctx context.Context, lg *loadgen) map[string]accountMoney {
	t.Helper()
	var page []struct {
		Accounts []struct {
			GUID     string      `json:"wallet_account_guid"`
			Balance  json.Number `json:"balance"`
			Reserved json.Number `json:"reserved_balance"`
		} `json:"accounts"`
		Total int `json:"total"`
	}
	if _, err := lg.call(ctx, "GET", "/api/v1/counterparty/"+lg.bank+"/accounts?limit=1000", lg.token, nil, &page); err != nil {
		t.Fatal(err)
	}
	out := map[string]accountMoney{}
	for _, a := range page[0].Accounts {
		b, err1 := parseMinor(a.Balance.String())
		r, err2 := parseMinor(a.Reserved.String())
		if err1 != nil || err2 != nil {
			t.Fatalf("account %s: balance %q reserved %q", a.GUID, a.Balance, a.Reserved)
		}
		out[a.GUID] = accountMoney{b, r}
	}
	if len(out) != page[0].Total {
		t.Fatalf("%d accounts listed of %d", len(out), page[0].Total)
	}
	return out
}

// waitQuietBalances waits until nothing is reserved and two reads 300 ms apart agree.
func waitQuietBalances(t *testing.T, ctx context.Context, lg *loadgen) map[string]accountMoney {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	prev := apiBalances(t, ctx, lg)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		cur := apiBalances(t, ctx, lg)
		quiet := equalBalances(prev, cur)
		for _, m := range cur {
			quiet = quiet && m.reserved == 0
		}
		if quiet {
			return cur
		}
		prev = cur
	}
	t.Fatalf("the balances never settled: %v", prev)
	return nil
}

func equalBalances(a, b map[string]accountMoney) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// csvBalances reads kazna replay --format csv.
func csvBalances(t *testing.T, out string) map[string]accountMoney {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 1 {
		t.Fatalf("csv %q: %v", out, err)
	}
	res := map[string]accountMoney{}
	for _, r := range recs[1:] {
		b, err1 := parseMinor(r[5])
		v, err2 := parseMinor(r[6])
		if err1 != nil || err2 != nil {
			t.Fatalf("row %v", r)
		}
		res[r[1]] = accountMoney{b, v}
	}
	return res
}
