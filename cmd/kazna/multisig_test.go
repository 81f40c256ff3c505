package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/app"
)

// TestServeDemoMultisig: with KAZNA_DEMO_MULTISIG=1, serve --demo registers the reference signer's keys as
// the demo bank's, turns multisignature on and points the bank's callback_url at the reference service; a
// customer → customer transfer then settles with the bank's signature, and the payment's history shows it.
func TestServeDemoMultisig(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole node")
	}
	t.Setenv(envDemoMultisig, demoMultisigValue)
	data := t.TempDir()
	runCtx, stop := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	var logs, out syncBuffer
	c := &config{Data: data, LogLevel: "info", LogFormat: "text", Addr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second,
		LocalnetAddr: "127.0.0.1:0", LedgerClose: 100 * time.Millisecond, AdminLogin: "admin",
		AssetCode: "UAH", AssetStellarCode: "eUAH", AssetDecimals: 2, Background: true,
		Demo: true, DemoBankAuthAddr: "127.0.0.1:0", logOut: &logs, onListen: func(a string) { addrCh <- a }}
	served := make(chan error, 1)
	go func() { served <- serve(runCtx, c, &out) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not listen")
	}
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), "Demo ready"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no demo block printed")
		}
	}
	{
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		l := &loadgen{base: base, client: &http.Client{Timeout: 30 * time.Second}, out: io.Discard}
		if err := l.setup(ctx, data, 2); err != nil {
			t.Fatalf("setup: %v", err)
		}
		var signers struct {
			Addresses      []string `json:"addresses"`
			Multisig       bool     `json:"multisig"`
			SignURL        string   `json:"sign_url"`
			PlatformSigner string   `json:"platform_signer"`
		}
		if _, err := l.call(ctx, "GET", "/api/v1/counterparty/"+l.bank+"/signers", l.token, nil, &signers); err != nil {
			t.Fatal(err)
		}
		if len(signers.Addresses) != demoSignerKeys || !signers.Multisig || !strings.HasSuffix(signers.SignURL, app.SignPath) || signers.PlatformSigner == "" {
			t.Fatalf("the demo bank's signers: %+v", signers)
		}
		guid, err := l.pay(ctx, l.accounts[0], l.accounts[1], 12_34)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.waitBalance(ctx, l.accounts[1], 100_000_00+12_34); err != nil {
			t.Fatalf("the cosigned payment did not settle: %v", err)
		}
		admin, err := l.login(ctx, app.DefaultAdminLogin, filepath.Join(data, app.AdminPasswordFile))
		if err != nil {
			t.Fatal(err)
		}
		var history json.RawMessage
		if _, err := l.call(ctx, "GET", "/api/v1/audit/events?entity=payment&guid="+guid, admin, nil, &history); err != nil {
			t.Fatal(err)
		}
		for _, ev := range []string{"PaymentSignatureRequested", "PaymentSigned", "PaymentSettled"} {
			if !strings.Contains(string(history), ev) {
				t.Errorf("the payment's history lacks %s: %s", ev, history)
			}
		}
	}
}
