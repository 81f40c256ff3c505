package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/kazna-ledger/kazna/api"
	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

// bootstrapTimeout bounds the platform's start-up steps, the issuer's two transactions included.
const bootstrapTimeout = 2 * time.Minute

// bootstrapPlatform starts the platform (asset, issuer, signing keys, administrator) once the store, the
// vault and the network are open; on later starts it resumes what a crash left undone and rotates an old key.
func bootstrapPlatform(ctx context.Context, c *config, store eventstore.Store, vault *custody.Vault, n *network, log *slog.Logger) (*app.Platform, error) {
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	plat, err := app.Bootstrap(ctx, app.PlatformDeps{
		Store: store, Vault: vault, Network: n.horizon, Logger: log,
		Config: app.PlatformConfig{
			Asset:         money.Asset{Code: c.AssetCode, StellarCode: c.AssetStellarCode, Decimals: int32(c.AssetDecimals)},
			AdminLogin:    c.AdminLogin,
			AdminPassword: os.Getenv(envAdminPassword),
			DataDir:       c.Data,
			KeyMaxAge:     c.SigningKeyMaxAge,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("platform bootstrap: %w", err)
	}
	return plat, nil
}

// serve runs Kazna until ctx ends (SIGINT or SIGTERM), then drains: /readyz turns unready, the listener stops
// taking connections, requests in flight finish (up to --shutdown-timeout), and the store is closed last so
// that nothing in flight loses its write.
func serve(ctx context.Context, c *config, out io.Writer) error {
	log := c.logger()
	store, storeName, err := openStore(c)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close event store", "err", err)
		} else {
			log.Info("event store closed", "store", storeName)
		}
	}()

	vault, err := openVault(c)
	if err != nil {
		return err
	}
	log.Info("master key loaded", "version", vault.Keyring().Current())
	stellarNet, err := openNetwork(c, log)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stellarNet.close(closeCtx); err != nil {
			log.Error("close the Stellar network", "err", err)
		}
	}()

	plat, err := bootstrapPlatform(ctx, c, store, vault, stellarNet, log)
	if err != nil {
		return err
	}

	health := api.NewHealth(api.Check{Name: "eventstore", Run: storeCheck(store)}, api.Check{Name: "stellar", Run: stellarNet.check})
	// Bank JWTs (CX-Authorization) are refused until banks can register their keys (no BankKeys yet).
	authn := &api.TokenAuthenticator{Tokens: plat.Keyring()}
	mux := http.NewServeMux()
	mux.Handle("/", api.NewRouter(api.Deps{Authenticator: authn, JWKS: api.KeyringJWKS(plat.Keyring()), Login: plat,
		Health: health, Logger: log}))
	if c.extraRoutes != nil {
		c.extraRoutes(mux)
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if c.onListen != nil {
		c.onListen(ln.Addr().String())
	}
	log.Info("kazna serving", "addr", "http://"+ln.Addr().String(), "eventstore", storeName, "stellar", stellarNet.name, "data", c.Data, "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("http server stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests in flight", "timeout", c.ShutdownTimeout)
	health.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("http server stopped")
	return nil
}
