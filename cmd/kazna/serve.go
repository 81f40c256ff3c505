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
	"runtime"
	"time"

	"github.com/kazna-ledger/kazna/api"
	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/audit"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/reconcile"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

// catchUpTimeout bounds the wait for the read models to replay the log before serving: a node that answers
// reads from half-built read models would tell callers that their banks do not exist.
const catchUpTimeout = 2 * time.Minute

// readModels are the projections serve keeps in memory, fed by one Runner over $all.
type readModels struct {
	runner         *projections.Runner
	counterparties *projections.Counterparties
	employees      *projections.Employees
	branches       *projections.Branches
	roles          *projections.Roles
	customers      *projections.Customers
	categories     *projections.Categories
	payments       *projections.Payments
	emission       *projections.Emission
	recons         *projections.Recons
	reports        *reconcile.Reports
	applications   *projections.Applications
}

// newReadModels builds every read model over store.
func newReadModels(store projections.Subscriber, log *slog.Logger) (*readModels, error) {
	m := &readModels{counterparties: projections.NewCounterparties(), employees: projections.NewEmployees(),
		branches: projections.NewBranches(), roles: projections.NewRoles(), customers: projections.NewCustomers(),
		categories: projections.NewCategories(), payments: projections.NewPayments(),
		emission: projections.NewEmission(), recons: projections.NewRecons(), reports: reconcile.NewReports(),
		applications: projections.NewApplications(0)}
	var err error
	// Lanes: a start-up rebuild applies its catch-up batches on one goroutine per core (the read models do not
	// depend on each other); live batches are small and take the one-goroutine path.
	m.runner, err = projections.NewRunner(store, projections.Options{Logger: log.With("component", "projections"), Lanes: runtime.GOMAXPROCS(0)}, m.all()...)
	return m, err
}

// all is every read model, in the order the Runner applies them; kazna replay rebuilds the same ones.
func (m *readModels) all() []projections.Projection {
	return []projections.Projection{m.counterparties, m.employees, m.branches, m.roles, m.customers, m.categories, m.payments, m.emission,
		m.recons, m.reports, m.applications}
}

// roleDirectory adapts the roles read model to api.RoleDirectory: a bank's endpoint roles (branch-access roles
// grant no endpoint permission).
type roleDirectory struct{ roles *projections.Roles }

func (d roleDirectory) Roles(ctx context.Context, counterpartyGUID string) ([]api.Role, error) {
	rs := d.roles.EndpointGrants(ctx, counterpartyGUID)
	out := make([]api.Role, len(rs))
	for i, r := range rs {
		out[i] = api.Role{Name: r.Name, Permissions: r.Permissions}
	}
	return out, nil
}

// defaultBankRoles converts api.DefaultRoles for rbac.Seed, with the catalogue of permissions a bank may hold.
func defaultBankRoles() ([]rbac.RoleSpec, rbac.Catalogue) {
	var specs []rbac.RoleSpec
	for _, r := range api.DefaultRoles() {
		specs = append(specs, rbac.RoleSpec{Name: r.Name, Permissions: r.Permissions})
	}
	known := func(name string) bool {
		p, ok := api.PermissionByName(name)
		return ok && !p.Platform
	}
	return specs, known
}

// bootstrapTimeout bounds the platform's start-up steps, the issuer's two transactions included.
const bootstrapTimeout = 2 * time.Minute

// bootstrapPlatform starts the platform (asset, issuer, signing keys, administrator) once the store, the
// vault and the network are open; on later starts it resumes what a crash left undone and rotates an old key.
func bootstrapPlatform(ctx context.Context, c *config, store eventstore.Store, vault *custody.Vault, n *network, employees app.EmployeeCredentials, log *slog.Logger) (*app.Platform, error) {
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	plat, err := app.Bootstrap(ctx, app.PlatformDeps{
		Store: store, Vault: vault, Network: n.horizon, Employees: employees, Logger: log,
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

	models, err := newReadModels(store, log)
	if err != nil {
		return err
	}
	plat, err := bootstrapPlatform(ctx, c, store, vault, stellarNet, app.EmployeeLogins{Employees: models.employees, Roles: models.roles}, log)
	if err != nil {
		return err
	}

	// The runner stops before the store closes (deferred earlier, so run later): it reads the store.
	runCtx, stopRunner := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- models.runner.Run(runCtx) }()
	defer func() {
		stopRunner()
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
			log.Error("read models stopped", "err", err)
		}
	}()
	catchUpStart := time.Now()
	waitCtx, cancelWait := context.WithTimeout(ctx, catchUpTimeout)
	err = models.runner.WaitCaughtUp(waitCtx)
	cancelWait()
	if err != nil {
		return fmt.Errorf("read models did not catch up with the log: %w", err)
	}
	log.Info("read models caught up", "position", models.runner.Checkpoint().String(), "took", time.Since(catchUpStart).Round(time.Millisecond))
	// The customers read model sorts some orders lazily; doing it now, beside serving, spares the first
	// queries by login or surname a sort of every customer.
	go func() {
		if err := models.customers.Warm(runCtx); err != nil && runCtx.Err() == nil {
			log.Warn("customers read model not warmed; the first queries will sort", "err", err)
		}
	}()

	// Demo mode runs the reference bank authorization service; it stops before the store closes.
	var dm *demo
	if c.Demo {
		if dm, err = startDemo(c, plat.Keyring, stellarNet.horizon.Passphrase(), log); err != nil {
			return err
		}
		defer dm.stop()
	}

	roles, known := defaultBankRoles()
	counterparties, err := app.NewCounterparties(app.CounterpartyDeps{Store: store, Vault: vault, Network: stellarNet.horizon,
		Platform: plat, Directory: models.counterparties, Roles: roles, Known: known, Logger: log})
	if err != nil {
		return err
	}

	mailer, err := c.mailer(dm, log)
	if err != nil {
		return err
	}
	directory, err := app.NewDirectory(app.DirectoryDeps{Store: store, Employees: models.employees, Branches: models.branches,
		Roles: models.roles, WaitFor: models.runner.WaitFor, Catalogue: known, ResetURL: c.BackofficeURL, Mailer: mailer, Logger: log})
	if err != nil {
		return err
	}
	go refreshSigningKeys(runCtx, plat, signingKeyRefresh, log)
	go watchKeyFile(runCtx, c, vault.Keyring(), keyWatchInterval, log)
	multisig, err := app.NewMultisig(app.MultisigDeps{Store: store, Platform: plat, Network: stellarNet.horizon,
		Directory: models.counterparties, Logger: log.With("component", "multisig")})
	if err != nil {
		return err
	}
	customers, err := app.NewCustomers(app.CustomerDeps{Store: store, Vault: vault, Network: stellarNet.horizon, Platform: plat,
		Counterparties: models.counterparties, BankAuth: bankauth.NewClient(plat.Keyring(), bankauth.ClientOptions{}),
		Views: models.customers, WaitFor: models.runner.WaitFor, Logger: log, Multisig: multisig})
	if err != nil {
		return err
	}
	// Transfer categories (guide §13): seeding the standard codes is idempotent and safe on racing nodes.
	categories, err := app.NewCategories(app.CategoryDeps{Store: store, Categories: models.categories, WaitFor: models.runner.WaitFor, Logger: log})
	if err != nil {
		return err
	}
	seedCtx, cancelSeed := context.WithTimeout(ctx, bootstrapTimeout)
	err = categories.Seed(seedCtx)
	cancelSeed()
	if err != nil {
		return fmt.Errorf("seed the transfer categories: %w", err)
	}

	// Money: the account book (one per process, shared by confirmations and settlement), payments, emission,
	// the settlement worker and bank callbacks. The background workers stop before the store closes.
	moneySvc, err := startMoney(ctx, moneyDeps{store: store, vault: vault, net: stellarNet, plat: plat, models: models,
		customers: customers, multisig: multisig, log: log, background: c.Background})
	if err != nil {
		return err
	}
	defer moneySvc.stop()
	recon, err := startReconciliation(ctx, c, store, stellarNet, plat, models, log)
	if err != nil {
		return err
	}
	defer recon.stop()

	auditor, err := audit.NewService(store)
	if err != nil {
		return err
	}
	health := api.NewHealth(api.Check{Name: "eventstore", Run: storeCheck(store)}, api.Check{Name: "stellar", Run: stellarNet.check},
		api.Check{Name: "projections", Run: runnerCheck(models.runner)})
	roleDir := roleDirectory{roles: models.roles}
	authn := &api.TokenAuthenticator{Tokens: plat.Keyring(), BankKeys: models.counterparties, Roles: roleDir}
	// API applications: their tokens are taken before the node's own; the call counts flush after the drain.
	apps, err := startApplications(store, plat, models, authn, log)
	if err != nil {
		return err
	}
	defer apps.stop()
	mux := http.NewServeMux()
	mux.Handle("/", api.NewRouter(api.Deps{Authenticator: apps.authn, Roles: roleDir, JWKS: api.KeyringJWKS(plat.Keyring()), Login: plat,
		Health: health, Logger: log, Counterparties: counterparties, BankKeys: counterparties, Signers: multisig, ReadModels: models.runner,
		Employees: directory, RBAC: directory, Branches: directory, Customers: customers, Categories: categories,
		Payments: moneySvc.payments, PaymentLimits: moneySvc.limits, Emission: moneySvc.emission, Callbacks: moneySvc.callbacks,
		Reconciliations: recon.service, Recons: recon.interbank, Audit: auditor,
		Applications: apps.service, ApplicationDirectory: models.applications, Limits: apps.limits, Calls: apps.recorder}))
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
	if dm != nil {
		deps := demoDeps{counterparties: counterparties, directory: directory, employees: models.employees, waitFor: models.runner.WaitFor,
			multisig: multisig}
		if err := dm.setup(ctx, c, deps, out, "http://"+ln.Addr().String()); err != nil {
			_ = srv.Close()
			<-served
			return fmt.Errorf("demo: %w", err)
		}
	}

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

// signingKeyRefresh is how often a running node checks whether its token signing key is due for rotation
// and takes in keys other nodes recorded: small against the publish lead and KeyMaxAge (at least an hour).
const signingKeyRefresh = 5 * time.Minute

// refreshSigningKeys rotates the signing key of a long-running node when it is due, until ctx ends.
func refreshSigningKeys(ctx context.Context, plat *app.Platform, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := plat.RefreshSigningKeys(ctx); err != nil && ctx.Err() == nil {
				log.Error("token signing keys not refreshed; retrying at the next tick", "err", err, "every", every)
			}
		}
	}
}

// runnerCheck is /readyz's view of the read models: not ready while they catch up after a dropped
// subscription, nor once the runner has stopped (a projection failed): reads would be stale.
func runnerCheck(r *projections.Runner) func(context.Context) error {
	return func(context.Context) error {
		if err := r.Stopped(); err != nil {
			return fmt.Errorf("read models stopped: %w", err)
		}
		if !r.CaughtUp() {
			return errors.New("read models are catching up with the log")
		}
		return nil
	}
}

// mailer is how employees get their verification links: the SMTP relay when configured, else the log. In
// demo mode the demo's mailbox comes first (it takes the demo administrator's own link) and hands every
// other link on.
func (c *config) mailer(dm *demo, log *slog.Logger) (app.Mailer, error) {
	if c.SMTPAddr == "" {
		return dm.mailer(), nil
	}
	cfg, err := c.smtpConfig()
	if err != nil {
		return nil, err
	}
	m, err := app.NewSMTPMailer(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("verification mail goes through SMTP", "relay", c.SMTPAddr, "from", cfg.From)
	if dm != nil {
		dm.mail.next = m
		return dm.mailer(), nil
	}
	return m, nil
}
