package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsCommandsAndFlags(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "version") {
		t.Fatalf("kazna --help: exit %d, output:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("kazna serve --help exit %d", code)
	}
	for _, want := range []string{"-data", "KAZNA_DATA", "-eventstore", "KAZNA_EVENTSTORE", "-addr", "KAZNA_ADDR", "127.0.0.1:8080", "./data",
		"-smtp-addr", "KAZNA_SMTP_ADDR", "KAZNA_SMTP_PASSWORD"} {
		if !strings.Contains(out, want) {
			t.Fatalf("kazna serve --help does not mention %q:\n%s", want, out)
		}
	}
	// bank-auth opens no event store, so it offers no --eventstore.
	if code, out, _ := runCLI(t, "bank-auth", "--help"); code != 0 || strings.Contains(out, "-eventstore") || !strings.Contains(out, "-kazna-url") {
		t.Fatalf("kazna bank-auth --help: exit %d, output:\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "help", "version"); code != 0 || !strings.Contains(out, "Usage: kazna version") {
		t.Fatalf("kazna help version: exit %d, output:\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{{}, {"launch"}, {"serve", "--no-such-flag"}, {"serve", "extra"}, {"serve", "--log-level", "loud"}, {"serve", "--data", " "},
		{"serve", "--smtp-addr", "no-port"}, {"serve", "--smtp-addr", "smtp.example:587"}, {"serve", "--smtp-addr", "smtp.example:0", "--smtp-from", "k@bank.example"},
		{"bank-auth", "--eventstore", "kurrentdb://x:2113"}}
	for _, args := range cases {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Fatalf("kazna %q: exit %d, want 2 (usage error)", args, code)
		}
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("KAZNA_SHUTDOWN_TIMEOUT", "soon")
	if code, _, errOut := runCLI(t, "serve"); code != 2 || !strings.Contains(errOut, "KAZNA_SHUTDOWN_TIMEOUT") {
		t.Fatalf("a bad KAZNA_SHUTDOWN_TIMEOUT must be refused naming it: exit %d, %s", code, errOut)
	}
	t.Setenv("KAZNA_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("KAZNA_LOG_LEVEL", "verbose")
	if code, _, errOut := runCLI(t, "serve"); code != 2 || !strings.Contains(errOut, "KAZNA_LOG_LEVEL") {
		t.Fatalf("a bad KAZNA_LOG_LEVEL must be refused naming it: exit %d, %s", code, errOut)
	}
	// A flag on the command line wins over the environment.
	if code, _, errOut := runCLI(t, "serve", "--log-level", "info", "--help"); code != 0 {
		t.Fatalf("the flag should override the environment: exit %d, %s", code, errOut)
	}
}

func TestServeRefusesARealNetworkWithoutItsRootSecret(t *testing.T) {
	t.Setenv("KAZNA_STELLAR_ROOT_SECRET", "")
	code, _, errOut := runCLI(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--horizon-url", "https://horizon-testnet.stellar.org", "--network-passphrase", "testnet")
	if code != 1 || !strings.Contains(errOut, "KAZNA_STELLAR_ROOT_SECRET") {
		t.Fatalf("want exit 1 naming KAZNA_STELLAR_ROOT_SECRET, got %d: %s", code, errOut)
	}
}

func TestServeRefusesABadMasterKey(t *testing.T) {
	t.Setenv("KAZNA_MASTER_KEY", "not-a-key")
	code, _, errOut := runCLI(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--localnet-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "KAZNA_MASTER_KEY") {
		t.Fatalf("want exit 1 naming KAZNA_MASTER_KEY, got %d: %s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "kazna dev (go1.") {
		t.Fatalf("kazna version: exit %d, output %q", code, out)
	}
}

// TestServeDrainsRequestsInFlight starts serve in-process, holds a request open, stops serve the way a signal
// does, and checks that the request still completes, /readyz turned unready first, and the store was closed.
func TestServeDrainsRequestsInFlight(t *testing.T) {
	data := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrCh := make(chan string, 1)
	slowStarted := make(chan struct{})
	release := make(chan struct{})
	var logs syncBuffer
	c := &config{Data: data, LogLevel: "info", LogFormat: "text", Addr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second,
		LocalnetAddr: "127.0.0.1:0", LedgerClose: 100 * time.Millisecond,
		AssetCode: "UAH", AssetStellarCode: "eUAH", AssetDecimals: 2,
		logOut:   &logs,
		onListen: func(a string) { addrCh <- a },
		extraRoutes: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /test/slow", func(w http.ResponseWriter, r *http.Request) {
				close(slowStarted)
				<-release
				io.WriteString(w, "finished")
			})
		}}
	served := make(chan error, 1)
	go func() { served <- serve(ctx, c, io.Discard) }()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-served:
		t.Fatalf("serve stopped before listening: %v; logs:\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not listen within a minute; logs:\n%s", logs.String())
	}
	base := "http://" + addr

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if ready.Status != "ready" || ready.Checks["eventstore"] != "ok" || ready.Checks["stellar"] != "ok" || ready.Checks["projections"] != "ok" {
		t.Fatalf("/readyz should report the event store and the Stellar network ready, got %+v", ready)
	}
	// Unknown paths and protected routes answer with the JSON error model, through the API router.
	for path, want := range map[string]int{"/api/v1/nothing-here": 404, "/api/v1/counterparty/6f1c2a34-9d1e-4a8b-b2c4-1a2b3c4d5e6f/rbac/permission": 401} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error, Code string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want || body.Error == "" || body.Code == "" {
			t.Fatalf("GET %s: %d %+v, want %d with a JSON error", path, resp.StatusCode, body, want)
		}
	}
	checkPlatformLogin(t, base, data)
	checkCounterparties(t, base, data, &logs)
	// Embedded mode keeps the master key in the data directory, readable by its owner only, and the
	// development network's ledger beside the event store.
	if fi, err := os.Stat(filepath.Join(data, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key should exist with mode 0600: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(data, "localnet.db")); err != nil {
		t.Fatalf("the embedded Stellar network should persist in the data directory: %v", err)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/test/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-slowStarted
	stop() // what SIGTERM does through signal.NotifyContext
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if got := <-slow; got != "finished" {
		t.Fatalf("the request in flight got %q, want it to finish", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(logs.String(), "event store closed") {
		t.Fatalf("serve did not report closing the store; logs:\n%s", logs.String())
	}
	// The store is closed: it opens again at once (bbolt holds a file lock while open).
	s, err := bolt.Open(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatalf("reopen the store after shutdown: %v", err)
	}
	s.Close()
}

// TestServeBinaryStopsCleanlyOnSIGTERM builds the real binary, writes through the store while it is down, runs
// it, and checks that SIGTERM makes it exit 0 and leave the store readable with the event intact.
func TestServeBinaryStopsCleanlyOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kazna")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	s, err := bolt.Open(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	ev := eventstore.EventData{ID: uuid.New(), Type: "Written", Data: json.RawMessage(`{"before":"serve"}`)}
	if _, err := s.Append(context.Background(), "check-1", eventstore.NoStream{}, ev); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--localnet-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "KAZNA_DATA="+data)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrRe := regexp.MustCompile(`"addr":"(http://[^"]+)"`)
	lines := bufio.NewScanner(stderr)
	var base string
	var logged []string
	for lines.Scan() {
		logged = append(logged, lines.Text())
		if m := addrRe.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		cmd.Process.Kill()
		t.Fatalf("serve never said where it listens; it logged:\n%s", strings.Join(logged, "\n"))
	}
	go func() {
		for lines.Scan() {
		}
	}()
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /readyz: %v %v", err, resp)
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kazna serve exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("kazna serve did not stop within 15 s of SIGTERM")
	}
	s, err = bolt.Open(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatalf("reopen after SIGTERM: %v", err)
	}
	defer s.Close()
	got, err := s.ReadStream(context.Background(), "check-1", eventstore.Forwards, 0, 10)
	if err != nil || len(got) != 1 || got[0].ID != ev.ID {
		t.Fatalf("the event written before serve is not intact: %v %v", got, err)
	}
}

// checkPlatformLogin logs in as the platform administrator with the password the first start generated, finds
// the token's kid in the JWKS, and uses the token on a bank's path (the platform administrator acts in any bank).
func checkPlatformLogin(t *testing.T, base, data string) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(data, "admin-password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-password should exist with mode 0600: %v %v", fi, err)
	}
	pw, _ := os.ReadFile(filepath.Join(data, "admin-password"))
	body, _ := json.Marshal(map[string]string{"login": "admin", "password": strings.TrimSpace(string(pw))})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("admin login: %d %+v", resp.StatusCode, tok)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[0])
	var h struct{ Kid string }
	json.Unmarshal(header, &h)

	resp, err = http.Get(base + "/api/v1/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct{ Keys []struct{ Kid string } }
	json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	found := false
	for _, k := range jwks.Keys {
		found = found || (k.Kid == h.Kid && h.Kid != "")
	}
	if resp.StatusCode != 200 || !found {
		t.Fatalf("JWKS %d %+v lacks the token's kid %q", resp.StatusCode, jwks, h.Kid)
	}

	table := base + "/api/v1/counterparty/" + uuid.NewString() + "/rbac/permission/table"
	for token, want := range map[string]int{tok.AccessToken: 200, "": 401} {
		req, _ := http.NewRequest("GET", table, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET permission table with token %v: %d, want %d", token != "", resp.StatusCode, want)
		}
	}
}

// checkCounterparties: the administrator logs in, registers a bank (its two entities open on the embedded
// network) and finds it in the list at once (the write waits for the read models); then the bank's first employee
// is created, verified through the logged link, logs in, sees the bank's staff and is refused platform routes.
func checkCounterparties(t *testing.T, base, data string, logs *syncBuffer) {
	t.Helper()
	pw, _ := os.ReadFile(filepath.Join(data, "admin-password"))
	body, _ := json.Marshal(map[string]string{"login": "admin", "password": strings.TrimSpace(string(pw))})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	call := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(out)
		return resp.StatusCode
	}
	var created struct{ GUID, EmissionAccountGUID, ProcessingAccountGUID string }
	var raw map[string]string
	if code := call("POST", "/api/v1/counterparties", `{"name":"Serve Bank"}`, &raw); code != 200 || raw["guid"] == "" || raw["emission_account_guid"] == "" || raw["processing_account_guid"] == "" {
		t.Fatalf("POST /counterparties: %d %v", code, raw)
	}
	created.GUID = raw["guid"]
	var list struct {
		Counterparties []struct {
			GUID      string `json:"guid"`
			AssetCode string `json:"asset_code"`
		} `json:"counterparties"`
		Total int `json:"total"`
	}
	if code := call("GET", "/api/v1/counterparties?names=serve+bank", "", &list); code != 200 || list.Total != 1 || list.Counterparties[0].GUID != created.GUID || list.Counterparties[0].AssetCode != "eUAH" {
		t.Fatalf("GET /counterparties right after POST: %d %+v", code, list)
	}

	// The bank's first employee: created by the platform administrator, verified through the link that the
	// log mailer writes (no SMTP here), then logged in with the password the employee chose.
	bankPath := "/api/v1/counterparty/" + created.GUID
	var emp map[string]any
	if code := call("POST", bankPath+"/employees", `{"email":"olena@serve.bank","name":"Olena","roles":["Operator"]}`, &emp); code != 200 || emp["employee_guid"] == nil {
		t.Fatalf("POST employees: %d %v", code, emp)
	}
	link := regexp.MustCompile(`reset-password/\?email=[^&\s"]+&token=([A-Za-z0-9_-]+)`).FindStringSubmatch(logs.String())
	if link == nil {
		t.Fatalf("no verification link in the log:\n%s", logs.String())
	}
	var none map[string]any
	if code := call("POST", "/api/v1/auth/set-password", `{"email":"olena@serve.bank","code":"`+link[1]+`","password":"Kazna-pass-2026!"}`, &none); code != 200 {
		t.Fatalf("set-password: %d %v", code, none)
	}
	resp, err = http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"login":"olena@serve.bank","password":"Kazna-pass-2026!"}`))
	if err != nil {
		t.Fatal(err)
	}
	var empTok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&empTok)
	resp.Body.Close()
	if resp.StatusCode != 200 || empTok.AccessToken == "" {
		t.Fatalf("employee login: %d", resp.StatusCode)
	}
	tok.AccessToken = empTok.AccessToken
	var staff struct {
		Total int `json:"total"`
	}
	if code := call("GET", bankPath+"/employees", "", &staff); code != 200 || staff.Total != 1 {
		t.Fatalf("the employee lists the bank's staff: %d %+v", code, staff)
	}
	var denied map[string]any
	if code := call("GET", "/api/v1/counterparties", "", &denied); code != 403 {
		t.Fatalf("a bank employee must not list every bank: %d %v", code, denied)
	}
}
