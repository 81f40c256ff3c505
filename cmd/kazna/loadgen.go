package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/money"
)

// loadgen drives the HTTP API as a bank would: it signs customers up, issues e-money, spreads it over the
// customers, then sends customer → customer transfers (create, then confirm) from many workers at once and
// waits for every confirmed transfer to settle on Stellar. It reports creation and confirmation latency
// percentiles and the end-to-end rate (created, confirmed and settled).

const loadgenHelp = `Without --url, loadgen starts its own node (embedded store, embedded Stellar network, demo bank) in a fresh
temporary data directory and drives it over loopback HTTP; with --url it drives a running "kazna serve --demo"
whose data directory (for the administrators' password files) is --data.

Example (the benchmark of docs/BENCHMARKS.md; add --limits to measure the cost of limits):
  kazna loadgen --customers 100 --workers 20 --duration 60s`

type loadgenOptions struct {
	url       string
	customers int
	workers   int
	duration  time.Duration
	settleMax time.Duration
	keepData  bool
	profile   string
	limits    bool
}

var loadgenOpts loadgenOptions

func loadgenFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&loadgenOpts.url, "url", "", "base URL of a running kazna serve --demo; empty starts an embedded node")
	fs.IntVar(&loadgenOpts.customers, "customers", 200, "customers to sign up and pay between")
	fs.IntVar(&loadgenOpts.workers, "workers", 128, "concurrent bank clients")
	fs.DurationVar(&loadgenOpts.duration, "duration", 30*time.Second, "how long to send transfers")
	fs.DurationVar(&loadgenOpts.settleMax, "settle-timeout", 2*time.Minute, "how long to wait for the last transfers to settle")
	fs.BoolVar(&loadgenOpts.keepData, "keep-data", false, "keep the embedded node's data directory")
	fs.BoolVar(&loadgenOpts.limits, "limits", false, "set the bank's KYC-default limits (a per-payment maximum, a day and a month window with a count) before the load, so that every confirmation checks them; none is ever reached")
	fs.StringVar(&loadgenOpts.profile, "cpuprofile", "", "write a CPU profile of the load phase (loadgen and the embedded node) to this file")
}

func runLoadgen(ctx context.Context, c *config, out io.Writer) error {
	o := loadgenOpts
	if o.customers < 2 || o.workers < 1 || o.duration <= 0 {
		return errors.New("loadgen needs --customers ≥ 2, --workers ≥ 1 and a positive --duration")
	}
	base, data := o.url, c.Data
	if base == "" {
		dir, err := os.MkdirTemp("", "kazna-loadgen-")
		if err != nil {
			return err
		}
		if !o.keepData {
			defer os.RemoveAll(dir)
		}
		node, err := startLoadgenNode(ctx, c, dir)
		if err != nil {
			return err
		}
		defer node.stop()
		base, data = node.base, dir
		fmt.Fprintf(out, "embedded node at %s (data %s)\n", base, dir)
	}
	lg := &loadgen{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4 * o.workers}}, out: out}
	if err := lg.setup(ctx, data, o.customers); err != nil {
		return fmt.Errorf("loadgen setup: %w", err)
	}
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return lg.run(ctx, o)
}

// loadgenNode is an embedded kazna serve --demo run in this process.
type loadgenNode struct {
	base string
	stop func()
}

func startLoadgenNode(ctx context.Context, c *config, dir string) (*loadgenNode, error) {
	nc := *c
	nc.Data, nc.Addr, nc.LocalnetAddr, nc.DemoBankAuthAddr, nc.Demo = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", true
	if nc.LogLevel == "info" {
		nc.LogLevel = "warn" // the load's own report is the output
	}
	addr := make(chan string, 1)
	nc.onListen = func(a string) { addr <- a }
	var demoOut bytes.Buffer
	var mu sync.Mutex
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(runCtx, &nc, lockedWriter{&mu, &demoOut}) }()
	stop := func() { cancel(); <-done }
	select {
	case a := <-addr:
		deadline := time.Now().Add(2 * time.Minute)
		for {
			mu.Lock()
			ready := strings.Contains(demoOut.String(), "Demo ready")
			mu.Unlock()
			if ready {
				return &loadgenNode{base: "http://" + a, stop: stop}, nil
			}
			if time.Now().After(deadline) {
				stop()
				return nil, errors.New("the embedded node's demo bank was not ready in time")
			}
			time.Sleep(50 * time.Millisecond)
		}
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("the embedded node stopped: %w", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type loadgen struct {
	base     string
	client   *http.Client
	out      io.Writer
	bank     string
	token    string // the demo bank's administrator
	issuer   string
	accounts []string // the customers' accounts
}

// call sends a JSON request and decodes the answer; a non-2xx answer is an error carrying its body.
func (l *loadgen) call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

func (l *loadgen) login(ctx context.Context, login, pwFile string) (string, error) {
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return "", fmt.Errorf("password of %s: %w", login, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_, err = l.call(ctx, "POST", "/api/v1/auth/login", "", map[string]string{"login": login, "password": strings.TrimSpace(string(pw))}, &tok)
	return tok.AccessToken, err
}

// setup: the demo bank, money issued to its emission entity, moved to processing, and spread over customers.
func (l *loadgen) setup(ctx context.Context, data string, customers int) error {
	start := time.Now()
	admin, err := l.login(ctx, app.DefaultAdminLogin, filepath.Join(data, app.AdminPasswordFile))
	if err != nil {
		return err
	}
	if l.token, err = l.login(ctx, demoAdminLogin, filepath.Join(data, demoPasswordFile)); err != nil {
		return err
	}
	var banks struct {
		Counterparties []struct {
			GUID                  string `json:"guid"`
			AssetIssuer           string `json:"asset_issuer"`
			EmissionAccountGUID   string `json:"emission_account_guid"`
			ProcessingAccountGUID string `json:"processing_account_guid"`
		} `json:"counterparties"`
	}
	if _, err := l.call(ctx, "GET", "/api/v1/counterparties?names="+strings.ReplaceAll(demoBankName, " ", "+"), admin, nil, &banks); err != nil {
		return err
	}
	if len(banks.Counterparties) != 1 {
		return errors.New("the demo bank is not registered")
	}
	b := banks.Counterparties[0]
	l.bank, l.issuer = b.GUID, b.AssetIssuer
	cp := "/api/v1/counterparty/" + l.bank
	// Customers sign up through the demo bank's authorization service.
	l.accounts = make([]string, customers)
	var wg sync.WaitGroup
	errs := make(chan error, customers)
	sem := make(chan struct{}, 16)
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	for i := range customers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var created struct {
				Wallet string `json:"wallet_account_guid"`
			}
			_, err := l.call(ctx, "POST", cp+"/customers", l.token, map[string]any{"asset_code": "UAH", "asset_issuer": l.issuer,
				"login": fmt.Sprintf("load-%s-%d", run, i), "name": "Load", "surname": "Test", "kyc_level": 1}, &created)
			if err != nil {
				errs <- err
				return
			}
			l.accounts[i] = created.Wallet
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("sign up customers: %w", err)
	}
	fmt.Fprintf(l.out, "setup: %d customers signed up in %s\n", customers, time.Since(start).Round(time.Millisecond))
	// Issue, confirmed by the platform, and move it to processing.
	per := int64(100_000_00) // 100,000.00 per customer
	total := per * int64(customers)
	var req struct {
		GUID   string `json:"guid"`
		Status string `json:"status"`
	}
	if _, err := l.call(ctx, "POST", cp+"/emission/issue", l.token, map[string]any{"amount": json.Number(minorText(total)),
		"asset_code": "UAH", "asset_issuer": l.issuer, "reserve_balance": json.Number(minorText(total))}, &req); err != nil {
		return err
	}
	if req.Status == "CREATED" {
		if _, err := l.call(ctx, "POST", "/api/v1/emission/requests/"+req.GUID+"/confirm", admin, map[string]any{}, nil); err != nil {
			return err
		}
	}
	if err := l.waitBalance(ctx, b.EmissionAccountGUID, total); err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	if _, err := l.pay(ctx, b.EmissionAccountGUID, b.ProcessingAccountGUID, total); err != nil {
		return err
	}
	if err := l.waitBalance(ctx, b.ProcessingAccountGUID, total); err != nil {
		return fmt.Errorf("emission → processing: %w", err)
	}
	for _, acc := range l.accounts {
		if _, err := l.pay(ctx, b.ProcessingAccountGUID, acc, per); err != nil {
			return err
		}
	}
	for _, acc := range l.accounts {
		if err := l.waitBalance(ctx, acc, per); err != nil {
			return fmt.Errorf("processing → customers: %w", err)
		}
	}
	fmt.Fprintf(l.out, "setup: %s issued and spread over the customers; %s in all\n", minorText(total), time.Since(start).Round(time.Millisecond))
	if loadgenOpts.limits {
		return l.setLimits(ctx, cp)
	}
	return nil
}

// setLimits gives the load's customers (KYC level 1) limits that every confirmation checks and none reaches:
// a per-payment maximum, and a day and a month window bounding both the sum and the count.
func (l *loadgen) setLimits(ctx context.Context, cp string) error {
	target := map[string]any{"kyc_level": 1, "asset_code": "UAH", "asset_issuer": l.issuer}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range target {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/limits/kyc/payment", with(map[string]any{"max": json.Number("100000")})},
		{"/limits/kyc/amount", with(map[string]any{"period": "day", "max": json.Number("1000000000"), "max_count": 100_000_000})},
		{"/limits/kyc/amount", with(map[string]any{"period": "month", "max": json.Number("1000000000"), "max_count": 100_000_000})},
	} {
		if _, err := l.call(ctx, "POST", cp+c.path, l.token, c.body, nil); err != nil {
			return fmt.Errorf("set limits: %w", err)
		}
	}
	fmt.Fprintln(l.out, "setup: KYC-default limits set (a per-payment maximum, a day and a month window); every confirmation checks them")
	return nil
}

// pay creates and confirms one transfer and returns its GUID and the confirmation's latency.
func (l *loadgen) pay(ctx context.Context, from, to string, amount int64) (string, error) {
	cp := "/api/v1/counterparty/" + l.bank
	var created struct {
		GUID string `json:"guid"`
	}
	if _, err := l.call(ctx, "POST", cp+"/payments", l.token, map[string]any{"amount": json.Number(minorText(amount)),
		"asset_code": "UAH", "asset_issuer": l.issuer, "sender_id": from, "receiver_id": to, "purpose": "load"}, &created); err != nil {
		return "", err
	}
	_, err := l.call(ctx, "POST", cp+"/payments/confirm", l.token, map[string]string{"payment_guid": created.GUID}, nil)
	return created.GUID, err
}

// waitBalance waits until the account's ledger balance is at least want minor units.
func (l *loadgen) waitBalance(ctx context.Context, account string, want int64) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var accs []struct { // guide §8: an array of one {"accounts", "total"}
			Accounts []struct {
				Balance json.Number `json:"balance"`
			} `json:"accounts"`
		}
		if _, err := l.call(ctx, "GET", "/api/v1/counterparty/"+l.bank+"/accounts?wallet_account_guids="+account, l.token, nil, &accs); err != nil {
			return err
		}
		if len(accs) == 1 && len(accs[0].Accounts) == 1 {
			if got, err := parseMinor(string(accs[0].Accounts[0].Balance)); err == nil && got >= want {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("account %s did not reach %s", account, minorText(want))
}

func (l *loadgen) run(ctx context.Context, o loadgenOptions) error {
	cp := "/api/v1/counterparty/" + l.bank
	var created, confirmed, refused atomic.Int64
	var mu sync.Mutex
	var createLat, confirmLat []time.Duration
	var firstErr error
	loadCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			var cl, fl []time.Duration
			for loadCtx.Err() == nil {
				i, j := r.IntN(len(l.accounts)), r.IntN(len(l.accounts)-1)
				if j >= i {
					j++
				}
				amount := int64(1 + r.IntN(100))
				t0 := time.Now()
				var p struct {
					GUID string `json:"guid"`
				}
				_, err := l.call(ctx, "POST", cp+"/payments", l.token, map[string]any{"amount": json.Number(minorText(amount)),
					"asset_code": "UAH", "asset_issuer": l.issuer, "sender_id": l.accounts[i], "receiver_id": l.accounts[j], "purpose": "load"}, &p)
				t1 := time.Now()
				if err == nil {
					created.Add(1)
					cl = append(cl, t1.Sub(t0))
					var code int
					code, err = l.call(ctx, "POST", cp+"/payments/confirm", l.token, map[string]string{"payment_guid": p.GUID}, nil)
					if err == nil {
						confirmed.Add(1)
						fl = append(fl, time.Since(t1))
					} else if code == http.StatusUnprocessableEntity {
						refused.Add(1)
						err = nil
					}
				}
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			createLat, confirmLat = append(createLat, cl...), append(confirmLat, fl...)
			mu.Unlock()
		})
	}
	wg.Wait()
	sent := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	// Wait until nothing is PENDING: every confirmed transfer settled (or failed).
	settleDeadline := time.Now().Add(o.settleMax)
	var pending, failed int
	for {
		var page struct {
			Total int `json:"total"`
		}
		if _, err := l.call(ctx, "GET", cp+"/payments?statuses=PENDING&limit=1", l.token, nil, &page); err != nil {
			return err
		}
		pending = page.Total
		if pending == 0 || time.Now().After(settleDeadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	all := time.Since(start)
	var f struct {
		Total int `json:"total"`
	}
	if _, err := l.call(ctx, "GET", cp+"/payments?statuses=FAILED&limit=1", l.token, nil, &f); err != nil {
		return err
	}
	failed = f.Total
	settled := confirmed.Load() - int64(pending) - int64(failed)
	fmt.Fprintf(l.out, "load: %d workers, %d customers, sent for %s\n", o.workers, len(l.accounts), sent.Round(time.Millisecond))
	fmt.Fprintf(l.out, "  created   %7d  %8.1f/s   latency %s\n", created.Load(), float64(created.Load())/sent.Seconds(), percentiles(createLat))
	fmt.Fprintf(l.out, "  confirmed %7d  %8.1f/s   latency %s\n", confirmed.Load(), float64(confirmed.Load())/sent.Seconds(), percentiles(confirmLat))
	fmt.Fprintf(l.out, "  refused at confirmation (422): %d\n", refused.Load())
	fmt.Fprintf(l.out, "  settled   %7d  %8.1f/s end to end (created, confirmed and settled; last one after %s); failed %d, still pending %d\n",
		settled, float64(settled)/all.Seconds(), all.Round(time.Millisecond), failed, pending)
	if pending > 0 {
		return fmt.Errorf("%d transfers still PENDING after %s", pending, o.settleMax)
	}
	return nil
}

func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s", at(0.50).Round(10*time.Microsecond), at(0.95).Round(10*time.Microsecond),
		at(0.99).Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
}

// minorText writes minor units as a 2-decimal amount ("12.50", "-0.50").
func minorText(minor int64) string { return money.Amount(minor).Format(loadgenAsset) }

// parseMinor reads a 2-decimal amount as the API writes it ("12.5", "3", "0.01").
func parseMinor(s string) (int64, error) {
	a, err := money.Parse(s, loadgenAsset)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	return int64(a), nil
}

// loadgenAsset is the demo bank's asset as loadgen reads its balances: two decimals, read exactly (money.Parse
// refuses more places and keeps the sign).
var loadgenAsset = money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}
