package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/money"
)

// config holds the settings of one kazna run, from flags whose defaults come from KAZNA_* variables.
type config struct {
	Data       string
	EventStore string
	LogLevel   string
	LogFormat  string

	// serve
	Addr            string
	ShutdownTimeout time.Duration
	HorizonURL      string
	Passphrase      string
	LocalnetAddr    string
	LedgerClose     time.Duration
	Channels        int
	Background      bool
	BackofficeURL   string
	// SMTP relay for employees' verification mail; empty SMTPAddr writes the links to the log instead.
	SMTPAddr     string
	SMTPFrom     string
	SMTPUsername string

	// Reconcile holds the daily reconciliation's and the inter-bank recons' flags (reconcile.go).
	Reconcile *reconcileServeOptions

	// platform (the administrator's password is read from KAZNA_ADMIN_PASSWORD by serve, never from a flag)
	AdminLogin       string
	AssetCode        string
	AssetStellarCode string
	AssetDecimals    int
	SigningKeyMaxAge time.Duration

	// serve --demo: a demo bank, its administrator and the reference bank authorization service in-process
	Demo             bool
	DemoBankAuthAddr string

	// bank-auth
	BankAuthAddr  string
	KaznaURL      string
	BankAuthUsers string

	badEnv string // a KAZNA_* boolean that does not parse, reported by validate

	// Set by tests, not by flags: where logs go (default stderr), a hook told the address serve listens on,
	// and extra routes (a slow handler that proves requests in flight finish at shutdown).
	logOut      io.Writer
	onListen    func(addr string)
	extraRoutes func(mux *http.ServeMux)
}

func (c *config) registerCommon(fs *flag.FlagSet, usesStore bool) {
	stringFlag(fs, &c.Data, "data", "KAZNA_DATA", "./data", "data directory: the embedded event store, keys and the embedded Stellar network live here")
	if usesStore {
		stringFlag(fs, &c.EventStore, "eventstore", "KAZNA_EVENTSTORE", "", "event store: empty for the embedded store in the data directory, or a KurrentDB/EventStoreDB connection string (kurrentdb://host:2113?tls=false, esdb+discover://...)")
	}
	stringFlag(fs, &c.LogLevel, "log-level", "KAZNA_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	stringFlag(fs, &c.LogFormat, "log-format", "KAZNA_LOG_FORMAT", "text", "log format: text or json")
}

func serveFlags(fs *flag.FlagSet, c *config) {
	stringFlag(fs, &c.Addr, "addr", "KAZNA_ADDR", "127.0.0.1:8080", "address the HTTP API listens on")
	durationFlag(fs, &c.ShutdownTimeout, "shutdown-timeout", "KAZNA_SHUTDOWN_TIMEOUT", 30*time.Second, "how long a shutdown waits for requests in flight before closing them")
	stringFlag(fs, &c.HorizonURL, "horizon-url", "KAZNA_HORIZON_URL", "", "Horizon of the Stellar network to settle on; empty for the embedded development network (a real network also needs KAZNA_NETWORK_PASSPHRASE and the root account's secret in KAZNA_STELLAR_ROOT_SECRET)")
	stringFlag(fs, &c.Passphrase, "network-passphrase", "KAZNA_NETWORK_PASSPHRASE", "", "passphrase of the Stellar network at --horizon-url: testnet, public, or the passphrase itself")
	stringFlag(fs, &c.LocalnetAddr, "localnet-addr", "KAZNA_LOCALNET_ADDR", "127.0.0.1:8000", "loopback address where the embedded development network serves its Horizon API")
	stringFlag(fs, &c.BackofficeURL, "backoffice-url", "KAZNA_BACKOFFICE_URL", "", "base URL of the back office where employees set their password; verification links go to <url>/reset-password/?email=…&token=… (empty: a relative link)")
	stringFlag(fs, &c.SMTPAddr, "smtp-addr", "KAZNA_SMTP_ADDR", "", "host:port of the SMTP relay that mails employees their verification links (empty: the links are written to the log); the password, if any, comes from "+envSMTPPassword)
	stringFlag(fs, &c.SMTPFrom, "smtp-from", "KAZNA_SMTP_FROM", "", "sender address of verification mail (required with --smtp-addr)")
	stringFlag(fs, &c.SMTPUsername, "smtp-username", "KAZNA_SMTP_USERNAME", "", "SMTP user for PLAIN authentication (the relay must offer TLS unless it is on localhost)")
	durationFlag(fs, &c.LedgerClose, "ledger-close", "KAZNA_LEDGER_CLOSE", time.Second, "how often the embedded development network closes a ledger")
	boolFlag(fs, &c.Background, &c.badEnv, "background", "KAZNA_BACKGROUND", true, "run the settlement worker and the bank callbacks in this node; with several nodes on one KurrentDB, keep it true on exactly one (each would otherwise send the same work)")
	intFlag(fs, &c.Channels, "stellar-channels", "KAZNA_STELLAR_CHANNELS", 64, "channel accounts that submit transactions side by side (each carries up to 50 payments per ledger); their keys derive from the root account's secret")
	stringFlag(fs, &c.AdminLogin, "admin-login", envAdminLogin, app.DefaultAdminLogin, "login of the platform administrator, created at the first start (its password comes from "+envAdminPassword+", or is generated into <data>/"+app.AdminPasswordFile+")")
	stringFlag(fs, &c.AssetCode, "asset-code", "KAZNA_ASSET_CODE", "UAH", "code of the e-money asset in the API; fixed at the first start")
	stringFlag(fs, &c.AssetStellarCode, "asset-stellar-code", "KAZNA_ASSET_STELLAR_CODE", "eUAH", "code of the asset on Stellar (1 to 12 letters or digits); fixed at the first start")
	intFlag(fs, &c.AssetDecimals, "asset-decimals", "KAZNA_ASSET_DECIMALS", 2, "decimal places of the asset's minor unit (0 to 7); fixed at the first start")
	durationFlag(fs, &c.SigningKeyMaxAge, "signing-key-max-age", "KAZNA_SIGNING_KEY_MAX_AGE", app.DefaultKeyMaxAge, "age after which a start rotates the token signing key (the new key is published 5 minutes before it signs)")
	boolFlag(fs, &c.Demo, &c.badEnv, "demo", "KAZNA_DEMO", false, "demo mode: also run the reference bank authorization service and create \""+demoBankName+"\" with an administrator (password in <data>/"+demoPasswordFile+")")
	stringFlag(fs, &c.DemoBankAuthAddr, "demo-bank-auth-addr", "KAZNA_DEMO_BANK_AUTH_ADDR", "127.0.0.1:9090", "with --demo: loopback address of the in-process reference bank authorization service")
}

// Environment variables of the platform administrator. The password is never a flag, so that it stays out of
// process lists and shell history.
const (
	envAdminLogin    = "KAZNA_ADMIN_LOGIN"
	envAdminPassword = "KAZNA_ADMIN_PASSWORD"
	envSMTPPassword  = "KAZNA_SMTP_PASSWORD"
)

func (c *config) validate() error {
	if strings.TrimSpace(c.Data) == "" {
		return fmt.Errorf("--data (KAZNA_DATA) must name a directory")
	}
	if _, err := c.logLevel(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format (KAZNA_LOG_FORMAT) must be text or json, not %q", c.LogFormat)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout (KAZNA_SHUTDOWN_TIMEOUT) must be a duration such as 30s")
	}
	if c.LedgerClose < 0 {
		return fmt.Errorf("--ledger-close (KAZNA_LEDGER_CLOSE) must be a duration such as 1s")
	}
	if c.AssetDecimals < 0 || c.AssetDecimals > money.MaxDecimals {
		return fmt.Errorf("--asset-decimals (KAZNA_ASSET_DECIMALS) must be a number from 0 to %d", money.MaxDecimals)
	}
	if c.SigningKeyMaxAge < 0 || c.SigningKeyMaxAge > 0 && c.SigningKeyMaxAge < time.Hour {
		return fmt.Errorf("--signing-key-max-age (KAZNA_SIGNING_KEY_MAX_AGE) must be a duration of at least 1h, such as 720h")
	}
	if c.badEnv != "" {
		return errors.New(c.badEnv)
	}
	if c.SMTPAddr != "" {
		if _, err := c.smtpConfig(); err != nil {
			return err
		}
	}
	if c.KaznaURL != "" {
		if err := checkKaznaURL(c.KaznaURL); err != nil {
			return err
		}
	}
	if c.Demo {
		if err := checkLoopback(c.DemoBankAuthAddr); err != nil {
			return err
		}
	}
	return nil
}

func (c *config) logLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("--log-level (KAZNA_LOG_LEVEL) must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return l, nil
}

func (c *config) logger() *slog.Logger {
	level, _ := c.logLevel()
	var w io.Writer = os.Stderr
	if c.logOut != nil {
		w = c.logOut
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func stringFlag(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	fs.StringVar(p, name, def, usage+" (env "+env+")")
}

// boolFlag is like stringFlag; a variable that is not a boolean is recorded in *bad for validate (a bool
// has no impossible value to carry it), unless the flag is given on the command line.
func boolFlag(fs *flag.FlagSet, p *bool, bad *string, name, env string, def bool, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		} else {
			*bad = fmt.Sprintf("--%s (%s) must be true or false, not %q", name, env, v)
		}
	}
	*p = def
	fs.Var(&boolValue{p: p, bad: bad}, name, usage+" (env "+env+")")
}

// boolValue is a flag.Value for boolFlag: setting it on the command line clears the environment's error.
type boolValue struct {
	p   *bool
	bad *string
}

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.p, *b.bad = v, ""
	return nil
}

func (b *boolValue) String() string {
	if b == nil || b.p == nil {
		return "false"
	}
	return strconv.FormatBool(*b.p)
}

func (b *boolValue) IsBoolFlag() bool { return true }

func intFlag(fs *flag.FlagSet, p *int, name, env string, def int, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		} else {
			def = -1 // refused by validate, naming the variable
		}
	}
	fs.IntVar(p, name, def, usage+" (env "+env+")")
}

func durationFlag(fs *flag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		} else {
			// Reported by validate through an impossible value, so that a bad variable is never silently ignored.
			def = -1
		}
	}
	fs.DurationVar(p, name, def, usage+" (env "+env+")")
}

// smtpConfig is the relay configuration of --smtp-*, with the password from the environment.
func (c *config) smtpConfig() (app.SMTPConfig, error) {
	host, portText, err := net.SplitHostPort(c.SMTPAddr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || host == "" || port < 1 || port > 65535 {
		return app.SMTPConfig{}, fmt.Errorf("--smtp-addr (KAZNA_SMTP_ADDR) must be host:port, such as smtp.bank.example:587, not %q", c.SMTPAddr)
	}
	cfg := app.SMTPConfig{Host: host, Port: port, From: c.SMTPFrom, Username: c.SMTPUsername, Password: os.Getenv(envSMTPPassword)}
	if _, err := app.NewSMTPMailer(cfg); err != nil {
		return cfg, fmt.Errorf("--smtp-addr/--smtp-from (KAZNA_SMTP_*): %w", err)
	}
	return cfg, nil
}
