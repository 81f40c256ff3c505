package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/app"
	kcommand "github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

func TestRotateMasterKeyHelpExplainsTheProcedure(t *testing.T) {
	code, out, _ := runCLI(t, "rotate-master-key", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--retire", "--new-key=false", "KAZNA_MASTER_KEY", "current=1,2:<new>,1:<old>", "Stop\n  kazna serve",
		"-eventstore", "-settle", "KAZNA_ROTATE_RETIRE", "never edits the environment"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rotate-master-key --help does not mention %q:\n%s", want, out)
		}
	}
	if code, out, _ := runCLI(t, "--help"); code != 0 || !strings.Contains(out, "rotate-master-key") {
		t.Fatalf("kazna --help does not list rotate-master-key:\n%s", out)
	}
}

// TestRotateMasterKeyCreatesNothing: without a store or without a key file the command says so and creates
// neither (a fresh key or an empty store would hide a wrong --data).
func TestRotateMasterKeyCreatesNothing(t *testing.T) {
	t.Setenv(custody.EnvMasterKey, "")
	data := t.TempDir()
	code, _, errOut := runCLI(t, "rotate-master-key", "--data", data)
	if code != 1 || !strings.Contains(errOut, "no event store at") {
		t.Fatalf("no store: exit %d, %s", code, errOut)
	}
	s, err := bolt.Open(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, _, errOut = runCLI(t, "rotate-master-key", "--data", data)
	if code != 1 || !strings.Contains(errOut, "no master key file") {
		t.Fatalf("no key file: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, custody.KeyFileName)); !os.IsNotExist(err) {
		t.Fatalf("the command created a master key: %v", err)
	}
	if code, _, errOut := runCLI(t, "rotate-master-key", "--data", data, "--settle", "-1s"); code != 1 || !strings.Contains(errOut, "--settle") {
		t.Fatalf("negative settle: exit %d, %s", code, errOut)
	}
}

// TestRotateMasterKey drives the whole procedure through the binary's entry point on the data of a real
// serve --demo: a rotation refused while serve holds the store, a rotation, a retiring second run, a serve
// on the new key alone, and a rotation from KAZNA_MASTER_KEY that leaves the key file alone.
func TestRotateMasterKey(t *testing.T) {
	t.Setenv(custody.EnvMasterKey, "")
	data := t.TempDir()
	keyPath := filepath.Join(data, custody.KeyFileName)
	runDemoServe(t, data, func(base, out string) {
		createDemoCustomer(t, data, base, out, "+380501110001", "UA213223130000026007233566001")
		// serve holds the embedded store: a clear error, promptly, and the key file untouched.
		before, _ := os.ReadFile(keyPath)
		start := time.Now()
		code, _, errOut := runCLI(t, "rotate-master-key", "--data", data)
		if code != 1 || !strings.Contains(errOut, "in use by another process") || !strings.Contains(errOut, "Stop kazna serve") {
			t.Fatalf("rotation beside serve: exit %d, %s", code, errOut)
		}
		if took := time.Since(start); took > storeLockTimeout+5*time.Second {
			t.Fatalf("the refusal took %v", took)
		}
		if after, _ := os.ReadFile(keyPath); !bytes.Equal(before, after) {
			t.Fatal("a refused rotation changed master.key")
		}
	})
	total := censusOf(t, data, loadKeyFile(t, data))
	if total.Scanned < 5 || total.ByVersion[1] != total.Scanned { // issuer, signing key, two bank entities, a customer
		t.Fatalf("before the rotation: %+v", total)
	}

	// 1. A new version, everything re-sealed under it; the old version stays in the file.
	code, out, errOut := runCLI(t, "rotate-master-key", "--data", data)
	if code != 0 {
		t.Fatalf("rotate: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"added master key version 2", "re-sealed " + strconv.Itoa(total.Scanned) + " of " + strconv.Itoa(total.Scanned),
		"checked: all " + strconv.Itoa(total.Scanned), "versions 1 stay in", "--new-key=false --retire"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rotate output lacks %q:\n%s", want, out)
		}
	}
	ring := loadKeyFile(t, data)
	if !slices.Equal(ring.Versions(), []custody.Version{1, 2}) || ring.Current() != 2 {
		t.Fatalf("after the rotation master.key holds %v, current %d", ring.Versions(), ring.Current())
	}
	if c := censusOf(t, data, ring); c.ByVersion[2] != total.Scanned {
		t.Fatalf("after the rotation: %+v", c)
	}

	// 2. The second run re-seals nothing, checks, and only then drops version 1.
	code, out, errOut = runCLI(t, "rotate-master-key", "--data", data, "--new-key=false", "--retire")
	if code != 0 || !strings.Contains(out, "re-sealed 0 of "+strconv.Itoa(total.Scanned)) || !strings.Contains(out, "retired versions 1 from") {
		t.Fatalf("rotate --retire: exit %d\n%s\n%s", code, out, errOut)
	}
	ring = loadKeyFile(t, data)
	if !slices.Equal(ring.Versions(), []custody.Version{2}) {
		t.Fatalf("after --retire master.key holds %v", ring.Versions())
	}

	// 3. serve on version 2 alone: the platform opens its issuer and signing keys, the read models rebuild
	// from a log with reseals in it, and a new customer's account is opened (the issuer signs).
	runDemoServe(t, data, func(base, out string) {
		createDemoCustomer(t, data, base, out, "+380501110002", "UA903052992990004149123456789")
	})

	// 4. From KAZNA_MASTER_KEY: re-sealed to the environment's current version, the key file left alone.
	fileText, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	k3, _ := custody.GenerateKey()
	newKey := "3:" + base64.StdEncoding.EncodeToString(k3)
	t.Setenv(custody.EnvMasterKey, newKey+","+strings.TrimSpace(string(fileText)))
	var logs syncBuffer
	var envOut bytes.Buffer
	c := &config{Data: data, LogLevel: "info", LogFormat: "text", logOut: &logs}
	if err := rotateMasterKey(context.Background(), c, &rotateOptions{newKey: true, retire: true, progressEvery: 2}, &envOut); err != nil {
		t.Fatalf("rotate from the environment: %v\n%s", err, logs.String())
	}
	if !strings.Contains(envOut.String(), "versions 2 may now be removed from KAZNA_MASTER_KEY") {
		t.Fatalf("rotate from the environment:\n%s", envOut.String())
	}
	if n := strings.Count(logs.String(), "msg=re-sealing"); n < total.Scanned/2 {
		t.Fatalf("%d progress lines for %d values:\n%s", n, total.Scanned, logs.String())
	}
	if !regexp.MustCompile(`msg=re-sealing .*scanned=\d+ resealed=\d+ .*seconds=\d+\.\d`).MatchString(logs.String()) {
		t.Fatalf("progress lines lack the counts:\n%s", logs.String())
	}
	if after, _ := os.ReadFile(keyPath); !bytes.Equal(after, fileText) {
		t.Fatal("a rotation from KAZNA_MASTER_KEY edited master.key")
	}
	envRing, err := custody.ParseKeyring(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if c := censusOf(t, data, envRing); c.ByVersion[3] != c.Scanned || c.Scanned < total.Scanned {
		t.Fatalf("after the rotation from the environment, under version 3 alone: %+v", c)
	}
	t.Setenv(custody.EnvMasterKey, newKey)
	runDemoServe(t, data, func(base, out string) {
		adminPW, _ := os.ReadFile(filepath.Join(data, "admin-password"))
		login(t, base, "admin", strings.TrimSpace(string(adminPW)))
	})
}

// TestRotationRefusesToRetireWhatIsStillInUse: a value written under the old version after the re-sealing
// pass (a node still sealing under it) fails the check: the command exits with an error and retires nothing.
func TestRotationRefusesToRetireWhatIsStillInUse(t *testing.T) {
	t.Setenv(custody.EnvMasterKey, "")
	data := t.TempDir()
	old, err := custody.LoadOrCreateKeyFile(data)
	if err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	recordEntity(t, store, old)
	store.Close()

	var logs syncBuffer
	c := &config{Data: data, LogLevel: "info", LogFormat: "text", logOut: &logs}
	o := &rotateOptions{newKey: true, retire: true, progressEvery: app.DefaultProgressEvery,
		afterReseal: func(ctx context.Context, s eventstore.Store) error {
			recordEntity(t, s, old) // a node that has not taken the new key in yet
			return nil
		}}
	var out bytes.Buffer
	err = rotateMasterKey(context.Background(), c, o, &out)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 values are under other versions than 2 (1 under version 1)") || !strings.Contains(err.Error(), "nothing was retired") {
		t.Fatalf("rotation with a value left under version 1: %v\n%s", err, out.String())
	}
	if got := loadKeyFile(t, data); !slices.Equal(got.Versions(), []custody.Version{1, 2}) {
		t.Fatalf("master.key after a failed check holds %v", got.Versions())
	}
	// Once the lagging node has the new key, finishing the rotation retires version 1.
	code, stdout, errOut := runCLI(t, "rotate-master-key", "--data", data, "--new-key=false", "--retire")
	if code != 0 || !strings.Contains(stdout, "re-sealed 1 of 2") || !strings.Contains(stdout, "retired versions 1") {
		t.Fatalf("finishing: exit %d\n%s\n%s", code, stdout, errOut)
	}
}

// recordEntity records a processing entity's key sealed under ring's current version, as a node with that
// keyring does.
func recordEntity(t *testing.T, store eventstore.Store, ring *custody.Keyring) {
	t.Helper()
	vault, _ := custody.NewVault(ring)
	kp := keypair.MustRandom()
	id := uuid.New()
	sealed, err := vault.SealPlatformKey(account.Stream(id), []byte(kp.Seed()))
	if err != nil {
		t.Fatal(err)
	}
	gen := account.GenerateKey{GUID: id, Kind: account.KindProcessing, CounterpartyGUID: uuid.New(), Address: kp.Address(), SealedSeed: sealed, At: time.Now()}
	if _, err := kcommand.Handle(context.Background(), store, account.Stream(id), account.Decider, account.Events, any(gen), kcommand.Envelope{}); err != nil {
		t.Fatal(err)
	}
}

func loadKeyFile(t *testing.T, data string) *custody.Keyring {
	t.Helper()
	r, err := custody.LoadKeyFile(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// censusOf counts the values in data's store by master key version, checking each opens under ring.
func censusOf(t *testing.T, data string, ring *custody.Keyring) custody.Census {
	t.Helper()
	store, err := bolt.Open(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	seals, err := app.NewStoredSeals(store, app.StoredSealsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vault, _ := custody.NewVault(ring)
	c, err := vault.Census(context.Background(), seals)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createDemoCustomer signs a customer up at the demo bank through the API, as its administrator: an account
// whose seed is sealed under the customer's secret, opened on chain (the issuer authorizes its trustline).
func createDemoCustomer(t *testing.T, data, base, out, phone, iban string) {
	t.Helper()
	m := regexp.MustCompile(`/api/v1/counterparty/([0-9a-f-]{36})/employees`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no demo bank in the demo block:\n%s", out)
	}
	bank := m[1]
	pw, _ := os.ReadFile(filepath.Join(data, demoPasswordFile))
	tok := login(t, base, demoAdminLogin, strings.TrimSpace(string(pw)))
	var banks struct {
		Counterparties []struct {
			AssetIssuer string `json:"asset_issuer"`
		} `json:"counterparties"`
	}
	adminPW, _ := os.ReadFile(filepath.Join(data, "admin-password"))
	if code := getJSON(t, base+"/api/v1/counterparties?names=demo+bank", login(t, base, "admin", strings.TrimSpace(string(adminPW))), &banks); code != 200 || len(banks.Counterparties) != 1 {
		t.Fatalf("the demo bank: %d %+v", code, banks)
	}
	body := `{"asset_code":"UAH","asset_issuer":"` + banks.Counterparties[0].AssetIssuer + `","login":"` + phone + `",` +
		`"name":"Olena","surname":"Shevchenko","kyc_level":1,"balance_allowed":100,"iban":"` + iban + `"}`
	var created struct {
		CustomerGUID string `json:"customer_guid"`
		Wallet       string `json:"wallet_account_guid"`
	}
	if code := sendJSON(t, "POST", base+"/api/v1/counterparty/"+bank+"/customers", tok, body, &created); code != 200 || created.CustomerGUID == "" || created.Wallet == "" {
		t.Fatalf("create a customer: %d %+v", code, created)
	}
	var customers struct {
		Total int `json:"total"`
	}
	if code := getJSON(t, base+"/api/v1/counterparty/"+bank+"/customers?kyc_levels=1", tok, &customers); code != 200 || customers.Total < 1 {
		t.Fatalf("list customers: %d %+v", code, customers)
	}
}

// TestKeyWatcherTakesInANewKey: a running serve's watcher takes in a key a rotation adds to master.key, keeps
// its keys when the file is unreadable, and keeps a version the file retires until the next start.
func TestKeyWatcherTakesInANewKey(t *testing.T) {
	t.Setenv(custody.EnvMasterKey, "")
	data := t.TempDir()
	path := filepath.Join(data, custody.KeyFileName)
	if _, err := custody.LoadOrCreateKeyFile(data); err != nil {
		t.Fatal(err)
	}
	ring := loadKeyFile(t, data)
	vault, _ := custody.NewVault(ring)
	old, _ := vault.SealPlatformKey("platform/issuer/G1", []byte("seed"))
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchKeyFile(ctx, &config{Data: data}, ring, 10*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	defer func() { cancel(); <-done }()

	if _, err := custody.RotateKeyFile(data); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new key taken in", func() bool { return ring.Current() == 2 && strings.Contains(logs.String(), "master key file taken in") })
	if s, _ := vault.SealPlatformKey("platform/issuer/G1", []byte("seed")); mustSealedVersion(t, s) != 2 {
		t.Fatal("the running vault does not seal under the new key")
	}

	// An unreadable file (here: readable by others) is reported, and the keys in memory stay.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the insecure file reported", func() bool { return strings.Contains(logs.String(), "cannot be read") })
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// The file retires version 1: the running process keeps it, and a value it still holds opens.
	if _, err := custody.UpdateKeyFile(data, func(r *custody.Keyring) error { return r.Retire(1) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the retirement noted", func() bool { return strings.Contains(logs.String(), "stay in memory until the next start") })
	if !slices.Equal(ring.Versions(), []custody.Version{1, 2}) || ring.Current() != 2 {
		t.Fatalf("running keyring %v, current %d", ring.Versions(), ring.Current())
	}
	if _, err := vault.OpenPlatformKey("platform/issuer/G1", old); err != nil {
		t.Fatalf("a value under the retired version no longer opens in the running process: %v", err)
	}

	// With KAZNA_MASTER_KEY there is no file to follow: the watcher returns at once.
	t.Setenv(custody.EnvMasterKey, "1:"+base64.StdEncoding.EncodeToString(make([]byte, custody.KeySize)))
	returned := make(chan struct{})
	go func() {
		watchKeyFile(context.Background(), &config{Data: data}, ring, time.Millisecond, slog.New(slog.DiscardHandler))
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher runs with KAZNA_MASTER_KEY set")
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustSealedVersion(t *testing.T, sealed []byte) custody.Version {
	t.Helper()
	v, err := custody.SealedVersion(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
