package stellar

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/stellar/go-stellar-sdk/network"
)

// Environment variables the cmd layer reads into a Config.
const (
	EnvHorizonURL  = "KAZNA_HORIZON_URL"
	EnvPassphrase  = "KAZNA_NETWORK_PASSPHRASE"
	EnvRootSecret  = "KAZNA_STELLAR_ROOT_SECRET"
	defaultTimeout = 30 * time.Second
)

// Config configures the Horizon adapter.
type Config struct {
	HorizonURL string // e.g. https://horizon-testnet.stellar.org or a localnet httptest URL
	Passphrase string // the network passphrase; ConfigFromEnv also accepts "testnet" and "public"
	RootSecret string // secret of the funded root account that opens new accounts

	// Channels are the transaction sources: they pay fees and supply sequence numbers, one transaction in
	// flight per channel. Empty means the root account is the only channel. Create them with OpenChannels.
	Channels []Signer

	HTTPClient      *http.Client  // default: a client with RequestTimeout
	RequestTimeout  time.Duration // one HTTP request; default 20 s
	TxTimeout       time.Duration // upper time bound of every transaction; default 30 s
	BaseFee         int64         // stroops per operation; default 100 (the network minimum)
	MaxBaseFee      int64         // fee bumps on tx_insufficient_fee stop here; default 100 × BaseFee
	MaxAttempts     int           // submissions of one transaction, all retries included; default 8
	RetryBackoff    time.Duration // first wait between retries, doubled each time; default 200 ms
	MaxRetryBackoff time.Duration // default 5 s
	FindScanLimit   int           // transactions FindPayment reads before giving up; default 10,000
	Now             func() time.Time
	Logger          *slog.Logger
}

// ConfigFromEnv reads KAZNA_HORIZON_URL, KAZNA_NETWORK_PASSPHRASE and KAZNA_STELLAR_ROOT_SECRET.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		HorizonURL: getenv(EnvHorizonURL),
		Passphrase: getenv(EnvPassphrase),
		RootSecret: getenv(EnvRootSecret),
	}
	switch cfg.Passphrase {
	case "testnet":
		cfg.Passphrase = network.TestNetworkPassphrase
	case "public", "pubnet", "mainnet":
		cfg.Passphrase = network.PublicNetworkPassphrase
	}
	if cfg.HorizonURL == "" || cfg.Passphrase == "" || cfg.RootSecret == "" {
		return cfg, fmt.Errorf("stellar: %s, %s and %s must all be set", EnvHorizonURL, EnvPassphrase, EnvRootSecret)
	}
	withDefaults := cfg
	withDefaults.setDefaults()
	return cfg, withDefaults.check()
}

func (c *Config) setDefaults() {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 20 * time.Second
	}
	if c.TxTimeout <= 0 {
		c.TxTimeout = defaultTimeout
	}
	if c.BaseFee <= 0 {
		c.BaseFee = 100
	}
	if c.MaxBaseFee <= 0 {
		c.MaxBaseFee = 100 * c.BaseFee
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = 5 * time.Second
	}
	if c.FindScanLimit <= 0 {
		c.FindScanLimit = 10_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.RequestTimeout}
	}
}

func (c *Config) check() error {
	u, err := url.Parse(c.HorizonURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("stellar: horizon URL %q must be an http(s) URL", c.HorizonURL)
	}
	if c.Passphrase == "" {
		return fmt.Errorf("stellar: network passphrase is required")
	}
	if _, err := NewKeySigner(c.RootSecret); err != nil {
		return fmt.Errorf("stellar: root secret: %w", err)
	}
	if len(c.Channels) > 1000 {
		return fmt.Errorf("stellar: %d channels is more than the 1000 supported", len(c.Channels))
	}
	for i, ch := range c.Channels {
		if ch == nil {
			return fmt.Errorf("stellar: channel %d is nil", i)
		}
		if err := checkAddress("channel", ch.Address()); err != nil {
			return err
		}
	}
	if c.BaseFee < 100 {
		return fmt.Errorf("stellar: base fee %d is below the network minimum of 100 stroops", c.BaseFee)
	}
	if c.MaxBaseFee < c.BaseFee {
		return fmt.Errorf("stellar: max base fee %d is below base fee %d", c.MaxBaseFee, c.BaseFee)
	}
	if c.MaxAttempts > 100 {
		return fmt.Errorf("stellar: %d attempts is more than the 100 allowed", c.MaxAttempts)
	}
	return nil
}
