package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runDemoServe starts serve --demo in-process on data, waits until the demo block is printed, runs check with
// the API's base URL and the printed block, and stops serve.
func runDemoServe(t *testing.T, data string, check func(base, out string)) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrCh := make(chan string, 1)
	var logs, out syncBuffer
	c := &config{Data: data, LogLevel: "info", LogFormat: "text", Addr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second,
		LocalnetAddr: "127.0.0.1:0", LedgerClose: 100 * time.Millisecond, AdminLogin: "admin",
		AssetCode: "UAH", AssetStellarCode: "eUAH", AssetDecimals: 2,
		Demo: true, DemoBankAuthAddr: "127.0.0.1:0",
		logOut: &logs, onListen: func(a string) { addrCh <- a }}
	served := make(chan error, 1)
	go func() { served <- serve(ctx, c, &out) }()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case err := <-served:
		t.Fatalf("serve stopped before listening: %v; logs:\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not listen; logs:\n%s", logs.String())
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Demo ready") {
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v; logs:\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no demo block printed; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	check(base, out.String())
	if pw, _ := os.ReadFile(filepath.Join(data, demoPasswordFile)); len(strings.TrimSpace(string(pw))) == 0 ||
		strings.Contains(logs.String(), strings.TrimSpace(string(pw))) || strings.Contains(out.String(), strings.TrimSpace(string(pw))) {
		t.Fatalf("the demo password must be in its file and nowhere in the log or the output")
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v; logs:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "demo bank authorization service stopped") {
		t.Fatalf("the demo bank authorization service was not stopped; logs:\n%s", logs.String())
	}
}

// TestServeDemo: serve --demo creates the demo bank and its administrator, who logs in with the password from
// the file and lists the bank's employees; a second start on the same data creates nothing new.
func TestServeDemo(t *testing.T) {
	data := t.TempDir()
	guidRe := regexp.MustCompile(`/api/v1/counterparty/([0-9a-f-]{36})/employees`)
	var first, customerGUID string
	runDemoServe(t, data, func(base, out string) {
		m := guidRe.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, demoAdminLogin) || !strings.Contains(out, filepath.Join(data, demoPasswordFile)) ||
			!strings.Contains(out, filepath.Join(data, "admin-password")) || !strings.Contains(out, "curl") {
			t.Fatalf("the demo block lacks the bank, the logins, the password files or the curl:\n%s", out)
		}
		first = m[1]
		if fi, err := os.Stat(filepath.Join(data, demoPasswordFile)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s should exist with mode 0600: %v %v", demoPasswordFile, fi, err)
		}
		pw, _ := os.ReadFile(filepath.Join(data, demoPasswordFile))
		tok := login(t, base, demoAdminLogin, strings.TrimSpace(string(pw)))
		var staff struct {
			Total     int `json:"total"`
			Employees []struct {
				Login string `json:"login"`
			} `json:"employees"`
		}
		if code := getJSON(t, base+"/api/v1/counterparty/"+first+"/employees", tok, &staff); code != 200 || staff.Total != 1 {
			t.Fatalf("the demo administrator lists the bank's employees: %d %+v", code, staff)
		}
		adminPW, _ := os.ReadFile(filepath.Join(data, "admin-password"))
		var banks struct {
			Total          int `json:"total"`
			Counterparties []struct {
				GUID    string `json:"guid"`
				AuthURL string `json:"auth_url"`
			} `json:"counterparties"`
		}
		adminTok := login(t, base, "admin", strings.TrimSpace(string(adminPW)))
		if code := getJSON(t, base+"/api/v1/counterparties?names=demo+bank", adminTok, &banks); code != 200 || banks.Total != 1 || banks.Counterparties[0].GUID != first {
			t.Fatalf("the demo bank: %d %+v", code, banks)
		}
		// A customer signs up through the demo bank's authorization service and gets an account on chain.
		var issuer struct {
			Counterparties []struct {
				AssetIssuer string `json:"asset_issuer"`
			} `json:"counterparties"`
		}
		getJSON(t, base+"/api/v1/counterparties?names=demo+bank", adminTok, &issuer)
		body := `{"asset_code":"UAH","asset_issuer":"` + issuer.Counterparties[0].AssetIssuer + `","login":"+380501234567",` +
			`"name":"Olena","surname":"Shevchenko","kyc_level":1,"balance_allowed":1000.50,"iban":"UA213223130000026007233566001"}`
		var created struct {
			CustomerGUID string `json:"customer_guid"`
			Wallet       string `json:"wallet_account_guid"`
			IBAN         string `json:"iban"`
			Assets       []struct {
				StellarCode string `json:"stellar_code"`
			} `json:"assets"`
		}
		if code := sendJSON(t, "POST", base+"/api/v1/counterparty/"+first+"/customers", tok, body, &created); code != 200 ||
			created.CustomerGUID == "" || created.Wallet == "" || created.IBAN != "UA213223130000026007233566001" || len(created.Assets) != 1 || created.Assets[0].StellarCode != "eUAH" {
			t.Fatalf("create a customer: %d %+v", code, created)
		}
		customerGUID = created.CustomerGUID
		var dup struct{ Code string }
		if code := sendJSON(t, "POST", base+"/api/v1/counterparty/"+first+"/customers", tok, body, &dup); code != 409 {
			t.Fatalf("the same login again: %d %+v, want 409", code, dup)
		}
		var accounts []struct {
			Accounts []struct {
				StellarAddress string `json:"stellar_address"`
				Customer       string `json:"wallet_user_guid"`
			} `json:"accounts"`
			Total int `json:"total"`
		}
		if code := getJSON(t, base+"/api/v1/counterparty/"+first+"/accounts?search_string=%2B380501234567", tok, &accounts); code != 200 ||
			len(accounts) != 1 || accounts[0].Total != 1 || accounts[0].Accounts[0].Customer != customerGUID || !strings.HasPrefix(accounts[0].Accounts[0].StellarAddress, "G") {
			t.Fatalf("the customer's account by login: %d %+v", code, accounts)
		}
	})
	runDemoServe(t, data, func(base, out string) {
		if m := guidRe.FindStringSubmatch(out); m == nil || m[1] != first {
			t.Fatalf("the second start should show the same bank %s:\n%s", first, out)
		}
		adminPW, _ := os.ReadFile(filepath.Join(data, "admin-password"))
		adminTok := login(t, base, "admin", strings.TrimSpace(string(adminPW)))
		var banks struct {
			Total int `json:"total"`
		}
		if code := getJSON(t, base+"/api/v1/counterparties", adminTok, &banks); code != 200 || banks.Total != 1 {
			t.Fatalf("a second demo start must create no second bank: %d %+v", code, banks)
		}
		pw, _ := os.ReadFile(filepath.Join(data, demoPasswordFile))
		tok := login(t, base, demoAdminLogin, strings.TrimSpace(string(pw)))
		var staff struct {
			Total int `json:"total"`
		}
		if code := getJSON(t, base+"/api/v1/counterparty/"+first+"/employees", tok, &staff); code != 200 || staff.Total != 1 {
			t.Fatalf("after a restart the demo bank still has one employee: %d %+v", code, staff)
		}
		var customers struct {
			Total     int `json:"total"`
			Customers []struct {
				GUID           string `json:"wallet_user_guid"`
				BalanceAllowed any    `json:"balance_allowed"`
			} `json:"customers"`
		}
		if code := getJSON(t, base+"/api/v1/counterparty/"+first+"/customers?kyc_levels=1", tok, &customers); code != 200 ||
			customers.Total != 1 || customers.Customers[0].GUID != customerGUID || fmt.Sprint(customers.Customers[0].BalanceAllowed) != "1000.5" {
			t.Fatalf("after a restart the read models rebuilt from the log list the customer: %d %+v", code, customers)
		}
	})
}

func login(t *testing.T, base, login, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": login, "password": password})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("login %s: %d", login, resp.StatusCode)
	}
	return tok.AccessToken
}

func getJSON(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

func sendJSON(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}
