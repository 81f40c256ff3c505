package api

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// Route is one entry of the route table. Handler returns an error rather than writing one, so that every
// error goes through writeError.
type Route struct {
	Method     string
	Path       string // gorilla/mux template, as in openapi.json
	Permission string // a catalogue permission, or Public
	Handler    func(w http.ResponseWriter, r *http.Request) error
}

// Deps is what the HTTP layer needs from the rest of Kazna.
type Deps struct {
	// Authenticator tells who calls. Nil refuses every protected route (fails closed).
	Authenticator Authenticator
	// Roles holds each bank's roles. Nil means every bank has DefaultRoles.
	Roles RoleDirectory
	// JWKS publishes the platform's token-signing public keys. Nil answers 503 on the JWKS endpoint.
	JWKS JWKSSource
	// Login checks logins and issues platform tokens. Nil answers 503 on the login endpoint.
	Login LoginService
	// Health answers /healthz and /readyz. Nil serves a Health with no dependency checks.
	Health *Health
	// Logger receives access and error logs. Nil uses slog.Default().
	Logger *slog.Logger
	// Counterparties registers and lists banks. Nil answers 503 on the counterparty endpoints.
	Counterparties CounterpartyService
	// BankKeys registers banks' JWT keys and checks bank JWTs. Nil answers 503 on the JWK endpoints.
	BankKeys BankKeyService
	// Signers keeps the banks' multisignature signer keys; nil answers 503 on its endpoints.
	Signers SignerKeyService
	// ReadModels lets a write wait until the read models show it (read-your-writes). Nil does not wait.
	ReadModels ReadWaiter
	// Employees creates and manages a bank's employees. Nil answers 503 on the employee endpoints.
	Employees EmployeeService
	// RBAC manages a bank's roles, their permissions and members. Nil answers 503 on the role endpoints.
	RBAC RBACService
	// Branches creates, renames, deletes and lists a bank's branches. Nil answers 503 on the branch endpoints.
	Branches BranchService
	// Customers runs customers, digital entities and segments. Nil answers 503 on their endpoints.
	Customers CustomerService
	// Payments creates, confirms, cancels and reads transfers (§10, §16.5). Nil answers 503 on their endpoints.
	Payments PaymentService
	// Categories lists and edits the transfer categories (§13). Nil answers 503 on their endpoints.
	Categories CategoryService
	// Callbacks sets banks' callback secrets and reads payments' delivery logs (§12). Nil answers 503 on
	// their endpoints.
	Callbacks CallbackService
	// PaymentLimits keeps the banks' limits on outgoing payments (§14). Nil answers 503 on their endpoints.
	PaymentLimits LimitService
	// Emission runs issue and burn requests and the platform's confirmations (§9). Nil answers 503 on their
	// endpoints.
	Emission EmissionService
	// Applications runs API applications, their subscriptions, the platform's approvals, call analytics and the
	// OAuth token endpoint. Nil answers 503 on their endpoints.
	Applications ApplicationService
	// ApplicationDirectory tells, on each call of an application, on which plans it may call. Nil lets no
	// application call anything (the authenticator needs it too).
	ApplicationDirectory ApplicationDirectory
	// Limits applies the plans' rate limits and quotas to applications. Nil applies none.
	Limits *Limiter
	// Calls records the calls of applications for analytics. Nil records none.
	Calls CallRecorder
	// Reconciliations runs the daily ledger-vs-Stellar reconciliation and reads its reports; Recons serves the
	// inter-bank recons (§15). Nil answers 503 on their endpoints.
	Reconciliations ReconciliationService
	Recons          ReconService
	// Audit answers auditors from the log: an entity's events and an account's balance at a time. Nil
	// answers 503 on their endpoints.
	Audit AuditService
}

// Routes is the route table: every endpoint the router serves, in one place, bound to deps.
func Routes(d Deps) []Route {
	health := d.Health
	if health == nil {
		health = NewHealth()
	}
	roles := d.Roles
	if roles == nil {
		roles = DefaultRoleDirectory{}
	}
	rbac := rbacHandlers{roles: roles}
	cps := counterpartyHandlers{svc: d.Counterparties, wait: d.ReadModels}
	jwk := jwkHandlers{svc: d.BankKeys, wait: d.ReadModels}
	// Transfers first: the router tries routes in order, and they are most of a bank's traffic (matching the
	// whole table before them was a twentieth of a loaded node's CPU). No other route matches their paths.
	routes := append([]Route(nil), paymentRoutesOf(d)...)
	routes = append(routes, []Route{
		{"GET", "/healthz", Public, plain(health.live)},
		{"GET", "/readyz", Public, plain(health.ready)},
		{"GET", "/api/v1/openapi.json", Public, serveOpenAPI("application/json")},
		{"GET", "/api/v1/openapi.yaml", Public, serveOpenAPI("application/yaml")},
		{"GET", "/api/v1/.well-known/jwks.json", Public, jwksHandler(d.JWKS)},
		{"POST", "/api/v1/auth/login", Public, newLoginHandler(d.Login).login},

		{"GET", "/api/v1/counterparties", PermCounterpartiesRead, cps.list},
		{"POST", "/api/v1/counterparties", PermCounterpartiesCreate, cps.create},
		{"GET", "/api/v1/counterparties/{counterparty_guid}", PermCounterpartiesRead, cps.get},
		{"PUT", "/api/v1/counterparties/{counterparty_guid}", PermCounterpartiesUpdate, cps.update},

		{"POST", cp + "/jwk", PermJWKWrite, jwk.register},
		{"GET", cp + "/jwk", PermJWKRead, jwk.list},
		{"PUT", cp + "/jwk/{jwk_guid}", PermJWKWrite, jwk.update},
		{"POST", cp + "/jwk/authenticate", PermJWKRead, jwk.authenticate},

		{"GET", cp + "/rbac/permission", PermRBACRead, rbac.permissionTitles},
		{"GET", cp + "/rbac/permission/table", PermRBACRead, rbac.permissionTable},
		{"GET", cp + "/rbac/permission/available", PermRBACRead, rbac.availablePermissions},
	}...)
	routes = append(routes, employeeRoutes(d.Employees)...)
	routes = append(routes, rbacRoutes(d.RBAC)...)
	routes = append(routes, branchRoutes(d.Branches)...)
	routes = append(routes, customerRoutesOf(d)...)
	routes = append(routes, categoryRoutes(d.Categories)...)
	routes = append(routes, callbackRoutes(d.Callbacks)...)
	routes = append(routes, emissionRoutes(d)...)
	routes = append(routes, limitRoutes(d)...)
	routes = append(routes, applicationRoutes(d.Applications)...)
	routes = append(routes, reconciliationRoutes(d)...)
	routes = append(routes, reconRoutes(d)...)
	routes = append(routes, auditRoutes(d)...)
	routes = append(routes, signerRoutes(d.Signers)...)
	return append(routes, branchAccessRoutes(d.RBAC)...)
}

// plain adapts a handler that writes its own answer and cannot fail.
func plain(h http.HandlerFunc) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error { h(w, r); return nil }
}

// NewRouter is the HTTP API: the route table behind request IDs, access logs, panic recovery,
// authentication and authorization.
func NewRouter(d Deps) http.Handler { return newRouter(d, Routes(d)) }

func newRouter(d Deps, routes []Route) http.Handler {
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	m := mux.NewRouter()
	gate := newApplicationGate(d)
	for _, rt := range routes {
		m.Handle(rt.Path, guard(d.Authenticator, rt, gate.wrap(rt, handle(rt.Handler)))).Methods(rt.Method)
	}
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	m.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(m, routes, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		writeError(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "method " + r.Method + " is not allowed on this endpoint"})
	})
	return withRequestID(logger, accessLog(recoverPanics(m)))
}

func handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, err)
		}
	})
}

// allowedMethods lists the methods the route table serves on r's path, for the Allow header of a 405.
func allowedMethods(m *mux.Router, routes []Route, r *http.Request) []string {
	var out []string
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.Method] {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = rt.Method
		var match mux.RouteMatch
		if m.Match(probe, &match) && match.MatchErr == nil {
			seen[rt.Method] = true
			out = append(out, rt.Method)
		}
	}
	return out
}
