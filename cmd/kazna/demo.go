package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/api"
	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// What serve --demo creates, once: a bank served by the in-process reference bank authorization service, and
// its administrator, whose generated password is kept in <data>/demo-admin-password.
const (
	demoBankName     = "Demo Bank"
	demoAdminLogin   = "admin@demo.bank"
	demoPasswordFile = "demo-admin-password"
	demoActor        = "kazna serve --demo"
	// Idempotency keys of the demo's writes, so that a start after a crash half way resumes the same bank
	// and employee instead of making new ones.
	demoBankKey  = "kazna-demo/bank"
	demoAdminKey = "kazna-demo/admin"
	demoTimeout  = 2 * time.Minute
	// The demo bank's multisignature signer (guide §11): its seeds are kept in <data>/demo-bank-signers, and
	// its public keys are registered as the bank's signer keys at every demo start. Multisignature itself is
	// on only with KAZNA_DEMO_MULTISIG=1 (then the bank's callback_url is this service and its multisig flag
	// is set, so customers registered from then on are cosigned): it costs every customer payment a /sign
	// round trip and a transaction of its own, which the load generator's figures should not silently include.
	demoSignersFile   = "demo-bank-signers"
	demoSignerKeys    = 2 // the guide's bank "generates 2 key pairs"
	envDemoMultisig   = "KAZNA_DEMO_MULTISIG"
	demoMultisigValue = "1"
)

// checkLoopback refuses a demo bank authorization address that is not on loopback: the reference service
// authorizes every subject Kazna names.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("--demo-bank-auth-addr (KAZNA_DEMO_BANK_AUTH_ADDR) must be a loopback host:port such as 127.0.0.1:9090, not %q", addr)
}

// demo is serve's demo mode: the reference bank authorization service it runs, and the mailer that lets it
// set the demo administrator's password through the verification flow.
type demo struct {
	log     *slog.Logger
	srv     *http.Server
	served  chan error
	authURL string
	mail    *demoMailer
	signer  *bankauth.ReferenceSigner
}

// startDemo starts the reference bank authorization service on loopback, with Kazna's keys in-process, and
// the demo bank's reference signer for the network with passphrase.
func startDemo(c *config, keyring func() *auth.Keyring, passphrase string, log *slog.Logger) (*demo, error) {
	log = log.With("component", "demo")
	seeds, err := bankauth.LoadOrCreateSignerSeeds(filepath.Join(c.Data, demoSignersFile), demoSignerKeys)
	if err != nil {
		return nil, fmt.Errorf("demo bank signer: %w", err)
	}
	signer, err := bankauth.NewReferenceSigner(passphrase, seeds, nil)
	if err != nil {
		return nil, fmt.Errorf("demo bank signer: %w", err)
	}
	svc, err := bankauth.NewReferenceService(bankauth.ReferenceOptions{
		JWKS:          func() (auth.JWKSet, error) { return keyring().JWKS(), nil },
		DirectoryPath: filepath.Join(c.Data, bankAuthUsersFile),
		Signer:        signer,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.DemoBankAuthAddr)
	if err != nil {
		return nil, fmt.Errorf("demo bank authorization service: listen on %s: %w", c.DemoBankAuthAddr, err)
	}
	d := &demo{log: log, srv: newBankAuthServer(svc), served: make(chan error, 1), authURL: "http://" + ln.Addr().String(),
		mail: &demoMailer{next: app.LogMailer{Logger: log}}, signer: signer}
	go func() { d.served <- d.srv.Serve(ln) }()
	log.Info("reference bank authorization service serving (a demo: it authorizes every subject Kazna names)", "addr", d.authURL)
	return d, nil
}

// stop shuts the bank authorization service down, waiting a bounded time for requests in flight.
func (d *demo) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), bankAuthShutdown)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Error("stop the demo bank authorization service", "err", err)
	}
	if err := <-d.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Error("demo bank authorization service stopped", "err", err)
		return
	}
	d.log.Info("demo bank authorization service stopped")
}

// mailer is the directory's mailer in demo mode (nil, the default, otherwise).
func (d *demo) mailer() app.Mailer {
	if d == nil {
		return nil
	}
	return d.mail
}

// demoDeps is what the demo setup uses: the same services the API uses.
type demoDeps struct {
	counterparties *app.Counterparties
	directory      *app.Directory
	employees      *projections.Employees
	waitFor        func(ctx context.Context, pos eventstore.Position) error
	multisig       *app.Multisig // registers the demo bank's signer keys; nil skips it
}

// setup makes sure the demo bank and its administrator exist (writing nothing when they do), then prints how
// to use them to out. apiBase is the API's base URL.
func (d *demo) setup(ctx context.Context, c *config, deps demoDeps, out io.Writer, apiBase string) error {
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	bank, err := d.ensureBank(ctx, deps)
	if err != nil {
		return fmt.Errorf("demo bank: %w", err)
	}
	if err := d.ensureSigners(ctx, deps, bank, os.Getenv(envDemoMultisig) == demoMultisigValue); err != nil {
		return fmt.Errorf("demo bank signer keys: %w", err)
	}
	pwPath := filepath.Join(c.Data, demoPasswordFile)
	if err := d.ensureAdmin(ctx, deps, bank, pwPath); err != nil {
		return fmt.Errorf("demo bank administrator: %w", err)
	}
	printDemo(out, c, bank, d.authURL, apiBase, pwPath)
	return nil
}

// ensureBank finds the demo bank by name, or registers it; its authorization URL is set to this run's service.
func (d *demo) ensureBank(ctx context.Context, deps demoDeps) (string, error) {
	found, _, err := deps.counterparties.ListCounterparties(ctx, projections.CounterpartyQuery{Names: []string{demoBankName}})
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		reg, err := deps.counterparties.RegisterCounterparty(ctx,
			app.Request{Actor: demoActor, IdempotencyKey: demoBankKey, Fingerprint: []byte(demoBankName)},
			app.CounterpartyRegistration{Profile: demoProfile(d.authURL)})
		if err != nil {
			return "", err
		}
		if err := deps.waitFor(ctx, reg.Position); err != nil {
			return "", err
		}
		d.log.Info("demo bank registered", "counterparty", reg.GUID, "auth_url", d.authURL)
		return reg.GUID, nil
	}
	bank := found[0]
	if bank.AuthURL != d.authURL {
		// Another port than at the last demo start: point the bank at the service this run serves.
		base := strings.TrimRight(d.authURL, "/")
		ua, id, key := base+counterparty.UserAuthPath, base+counterparty.UserIDPath, base+counterparty.UserKeyPath
		pos, err := deps.counterparties.UpdateCounterparty(ctx, app.Request{Actor: demoActor}, uuid.MustParse(bank.GUID),
			app.ProfilePatch{AuthURL: &d.authURL, UserAuthURL: &ua, UserIDURL: &id, UserKeyURL: &key})
		if err != nil {
			return "", fmt.Errorf("point it at %s: %w", d.authURL, err)
		}
		if err := deps.waitFor(ctx, pos); err != nil {
			return "", err
		}
		d.log.Info("demo bank now uses this run's bank authorization service", "counterparty", bank.GUID, "auth_url", d.authURL)
	}
	return bank.GUID, nil
}

// ensureSigners registers the reference signer's public keys as the demo bank's signer keys (a no-op when
// they are), and with multisig on points the bank's callback_url at this run's service and sets its flag.
func (d *demo) ensureSigners(ctx context.Context, deps demoDeps, bank string, multisig bool) error {
	if deps.multisig == nil {
		return nil
	}
	cp := uuid.MustParse(bank)
	if _, err := deps.multisig.SetSignerKeys(ctx, app.Request{Actor: demoActor}, cp, d.signer.Addresses()); err != nil {
		return err
	}
	if !multisig {
		return nil
	}
	found, ok := deps.counterparties.Counterparty(ctx, bank)
	if ok && found.Multisig && found.CallbackURL == d.authURL {
		return nil
	}
	on := true
	pos, err := deps.counterparties.UpdateCounterparty(ctx, app.Request{Actor: demoActor}, cp,
		app.ProfilePatch{CallbackURL: &d.authURL, Multisig: &on})
	if err != nil {
		return err
	}
	if err := deps.waitFor(ctx, pos); err != nil {
		return err
	}
	d.log.Info("demo bank uses multisignature: its customers registered from now on are cosigned by the reference signer",
		"counterparty", bank, "sign_url", d.authURL+app.SignPath, "signers", strings.Join(d.signer.Addresses(), ","))
	return nil
}

func demoProfile(authURL string) counterparty.Profile {
	return counterparty.Profile{Name: demoBankName, Description: "created by kazna serve --demo; its customers are authorized by the reference bank authorization service", AuthURL: authURL}
}

// ensureAdmin creates the bank's administrator if it does not exist, and gives it the password in pwPath
// (generated there first, so that a crash half way reuses it) through the verification flow.
func (d *demo) ensureAdmin(ctx context.Context, deps demoDeps, bank, pwPath string) error {
	cp := uuid.MustParse(bank)
	l, exists := deps.employees.Login(ctx, bank, demoAdminLogin)
	if exists && l.PasswordHash != "" {
		return nil
	}
	password, err := app.PasswordFile(pwPath)
	if err != nil {
		return err
	}
	d.mail.arm()
	defer d.mail.disarm()
	if !exists {
		in := app.EmployeeInput{Login: demoAdminLogin, Email: demoAdminLogin, Name: "Demo", Surname: "Administrator",
			Roles: []string{api.RoleAdministrator}}
		w, err := deps.directory.CreateEmployee(ctx, cp, in, app.Write{IdempotencyKey: demoAdminKey})
		if err != nil {
			return err
		}
		d.log.Info("demo bank administrator created", "counterparty", bank, "employee_guid", w.GUID, "login", demoAdminLogin)
	}
	token := d.mail.take()
	if token == "" {
		// Created by an earlier start that stopped before the password was set: a new link.
		if err := deps.directory.RequestVerification(ctx, demoAdminLogin); err != nil {
			return err
		}
		if token = d.mail.take(); token == "" {
			return errors.New("no verification token was issued")
		}
	}
	if _, err := deps.directory.SetPassword(ctx, demoAdminLogin, token, password); err != nil {
		return fmt.Errorf("set the password: %w", err)
	}
	return nil
}

// printDemo tells the operator what the demo made and how to use it. Passwords are never printed: only where
// their files are.
func printDemo(out io.Writer, c *config, bank, authURL, apiBase, pwPath string) {
	platformPW := "password in " + filepath.Join(c.Data, app.AdminPasswordFile)
	if os.Getenv(envAdminPassword) != "" {
		platformPW = "password from " + envAdminPassword
	}
	demoPW := "password in " + pwPath
	if _, err := os.Stat(pwPath); err != nil {
		demoPW = "password set at the first demo start (its file " + pwPath + " is gone)"
	}
	fmt.Fprintf(out, `
Demo ready.
  %s              %s   (bank authorization service: %s)
  platform admin         login %q, %s
  %s's admin      login %q, %s

Try it: log in as the demo bank's administrator and list the bank's employees:
  TOKEN=$(curl -s %s/api/v1/auth/login -H 'Content-Type: application/json' \
    -d "{\"login\":\"%s\",\"password\":\"$(cat %s)\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s %s/api/v1/counterparty/%s/employees -H "Authorization: Bearer $TOKEN"

`, demoBankName, bank, authURL, c.AdminLogin, platformPW, demoBankName, demoAdminLogin, demoPW,
		apiBase, demoAdminLogin, shellQuote(pwPath), apiBase, bank)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// demoMailer takes the verification token mailed to the demo administrator while the demo sets its password
// (armed), so that the token is neither logged nor mailed; every other link goes to next.
type demoMailer struct {
	next app.Mailer

	mu    sync.Mutex
	armed bool
	token string
}

func (m *demoMailer) SendVerification(ctx context.Context, to, link string) error {
	m.mu.Lock()
	if m.armed && strings.EqualFold(strings.TrimSpace(to), demoAdminLogin) {
		defer m.mu.Unlock()
		u, err := url.Parse(link)
		if err != nil {
			return errors.New("demo: verification link does not parse")
		}
		m.token = u.Query().Get("token")
		return nil
	}
	m.mu.Unlock()
	return m.next.SendVerification(ctx, to, link)
}

func (m *demoMailer) arm() {
	m.mu.Lock()
	m.armed, m.token = true, ""
	m.mu.Unlock()
}

func (m *demoMailer) disarm() {
	m.mu.Lock()
	m.armed, m.token = false, ""
	m.mu.Unlock()
}

// take returns the captured token once.
func (m *demoMailer) take() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.token
	m.token = ""
	return t
}
