package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kazna-ledger/kazna/stellar"
	"github.com/kazna-ledger/kazna/stellar/custody"
	"github.com/kazna-ledger/kazna/stellar/localnet"
)

// network is the Stellar network Kazna settles on: the embedded development network by default, or a real
// Horizon named by --horizon-url.
type network struct {
	horizon *stellar.Horizon
	name    string
	close   func(ctx context.Context) error
}

// openNetwork starts the embedded network in the data directory (listening on loopback so that any Stellar
// tool can look at it too), or connects to the configured Horizon.
func openNetwork(c *config, log *slog.Logger) (*network, error) {
	if c.HorizonURL != "" {
		root := os.Getenv(stellar.EnvRootSecret)
		if root == "" {
			return nil, fmt.Errorf("--horizon-url is set, so %s must hold the secret of the funded root account", stellar.EnvRootSecret)
		}
		cfg, err := stellar.ConfigFromEnv(func(k string) string {
			switch k {
			case stellar.EnvHorizonURL:
				return c.HorizonURL
			case stellar.EnvPassphrase:
				return c.Passphrase
			case stellar.EnvRootSecret:
				return root
			}
			return ""
		})
		if err != nil {
			return nil, err
		}
		cfg.Logger = log.With("component", "stellar")
		if cfg.Channels, err = channelSigners(root, c.Channels); err != nil {
			return nil, err
		}
		h, err := stellar.NewHorizon(cfg)
		if err != nil {
			return nil, err
		}
		if err := openChannels(h, log); err != nil {
			return nil, err
		}
		return &network{horizon: h, name: c.HorizonURL, close: func(context.Context) error { return nil }}, nil
	}
	ln, err := localnet.Open(localnet.Config{Dir: c.Data, CloseInterval: c.LedgerClose, Logger: log.With("component", "localnet")})
	if err != nil {
		return nil, fmt.Errorf("open the embedded Stellar network in %s: %w", c.Data, err)
	}
	url, shutdown, err := ln.Listen(c.LocalnetAddr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded Stellar network: %w", err)
	}
	h, err := embeddedHorizon(ln, url, c, log)
	if err != nil {
		shutdown(context.Background())
		ln.Close()
		return nil, err
	}
	return &network{horizon: h, name: "embedded development network at " + url, close: func(ctx context.Context) error {
		err := shutdown(ctx)
		if cerr := ln.Close(); err == nil {
			err = cerr
		}
		return err
	}}, nil
}

// embeddedHorizon is the adapter over the embedded network at url, with its channel accounts open.
func embeddedHorizon(ln *localnet.Network, url string, c *config, log *slog.Logger) (*stellar.Horizon, error) {
	channels, err := channelSigners(ln.Root().Seed(), c.Channels)
	if err != nil {
		return nil, err
	}
	h, err := stellar.NewHorizon(stellar.Config{HorizonURL: url, Passphrase: ln.Passphrase(), RootSecret: ln.Root().Seed(),
		Channels: channels, Logger: log.With("component", "stellar")})
	if err != nil {
		return nil, err
	}
	return h, openChannels(h, log)
}

// channelSigners derives the keys of n channel accounts from the root account's secret: they need no storage
// of their own (the root secret is the operator's already), the same root gives the same channels after a
// restart, and nobody without the root secret can sign for them. n = 0 means the root is the only channel.
func channelSigners(rootSecret string, n int) ([]stellar.Signer, error) {
	if n < 0 || n > maxChannels {
		return nil, fmt.Errorf("--stellar-channels must be 0 to %d", maxChannels)
	}
	out := make([]stellar.Signer, 0, n)
	for i := range n {
		h := hmac.New(sha256.New, []byte(rootSecret))
		fmt.Fprintf(h, "kazna/stellar/channel/%d", i)
		s, err := stellar.KeySignerFromRawSeed(h.Sum(nil))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// maxChannels bounds --stellar-channels.
const maxChannels = 256

// channelBalance funds a new channel account: fees for a long time at the base fee.
const channelBalance = "50"

// openChannels creates the channel accounts the network does not have yet.
func openChannels(h *stellar.Horizon, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.OpenChannels(ctx, channelBalance); err != nil {
		return fmt.Errorf("open the Stellar channel accounts: %w", err)
	}
	log.Info("stellar channels ready", "channels", h.Channels())
	return nil
}

// check is the network's readiness check: the root account can be read.
func (n *network) check(ctx context.Context) error {
	_, err := n.horizon.Account(ctx, n.horizon.Root())
	return err
}

// openVault loads the master keyring (KAZNA_MASTER_KEY, or <data>/master.key created on first start with mode
// 0600) that seals every platform key and customer seed.
func openVault(c *config) (*custody.Vault, error) {
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	ring, err := custody.LoadKeyring(os.Getenv, c.Data)
	if err != nil {
		return nil, fmt.Errorf("master key (%s or %s): %w", custody.EnvMasterKey, filepath.Join(c.Data, custody.KeyFileName), err)
	}
	return custody.NewVault(ring)
}
