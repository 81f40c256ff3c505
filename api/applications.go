package api

import (
	"context"
	"errors"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/projections"
)

// API applications (developer portal): a bank's applications with client credentials, their subscriptions to
// API products, the platform's approval of sensitive ones, and call analytics.

// ApplicationService runs API applications (app.Applications).
type ApplicationService interface {
	CreateApplication(ctx context.Context, cp uuid.UUID, name, description string, w app.Write) (app.CreatedApplication, error)
	Application(ctx context.Context, cp, guid string) (application.State, bool)
	ListApplications(ctx context.Context, cp string, includeDeleted bool) []application.State
	DisableApplication(ctx context.Context, cp, guid uuid.UUID, w app.Write) (app.Written, error)
	EnableApplication(ctx context.Context, cp, guid uuid.UUID, w app.Write) (app.Written, error)
	DeleteApplication(ctx context.Context, cp, guid uuid.UUID, w app.Write) (app.Written, error)
	ReissueSecret(ctx context.Context, cp, guid uuid.UUID, grace time.Duration, w app.Write) (app.ReissuedSecret, error)
	Subscribe(ctx context.Context, cp, guid uuid.UUID, product application.Product, plan string, w app.Write) (application.Subscription, error)
	Unsubscribe(ctx context.Context, cp, guid uuid.UUID, product application.Product, w app.Write) (app.Written, error)
	ApproveSubscription(ctx context.Context, guid uuid.UUID, product application.Product, w app.Write) (app.Written, error)
	RejectSubscription(ctx context.Context, guid uuid.UUID, product application.Product, reason string, w app.Write) (app.Written, error)
	PendingRequests(ctx context.Context) []projections.SubscriptionRequest
	ApplicationCalls(ctx context.Context, q projections.CallQuery) (projections.CallReport, error)
	IssueToken(ctx context.Context, clientID, secret, scope string) (app.IssuedToken, error)
}

// Products of the routes. A route belongs to the product of its permission's family; a read route belongs to
// the read-only product as well. Routes of no product (employees, roles, keys, applications themselves…) are
// never open to an application.
var permissionProducts = buildPermissionProducts()

func buildPermissionProducts() map[string]application.ProductSet {
	families := map[string]application.Product{
		"customers": application.ProductCustomers, "segments": application.ProductCustomers,
		"accounts": application.ProductAccounts, "payments": application.ProductPayments,
		"emission": application.ProductEmission, "limits": application.ProductLimits,
		"reconciliation": application.ProductReconciliation, "dictionary": "",
	}
	out := map[string]application.ProductSet{}
	for _, p := range catalogue {
		if p.Platform || p.KetoKind != KetoKindEndpoint {
			continue
		}
		family, _, _ := strings.Cut(p.Name, ".")
		product, ok := families[family]
		if !ok {
			continue
		}
		var set application.ProductSet
		if product != "" {
			set = set.With(product)
		}
		if strings.HasSuffix(p.Name, ".read") {
			set = set.With(application.ProductReadOnly)
		}
		if set != 0 {
			out[p.Name] = set
		}
	}
	return out
}

// productsOf is the set of products any of which opens the routes guarded by permission name.
func productsOf(name string) application.ProductSet { return permissionProducts[name] }

// chargedProduct is the product a call is counted against: the route's own product when subscribed, else
// read-only (last in the catalogue).
func chargedProduct(s application.ProductSet) application.Product {
	if s == 0 {
		return ""
	}
	return application.ProductAt(bits.TrailingZeros16(uint16(s)))
}

// scopeProducts reads an access token's scope without allocating: product names separated by spaces; unknown
// names grant nothing.
func scopeProducts(scope string) application.ProductSet {
	var set application.ProductSet
	for scope != "" {
		var name string
		name, scope, _ = strings.Cut(scope, " ")
		set = set.With(application.Product(name))
	}
	return set
}

// applicationRefused is the 403 of an application calling a route outside its products.
func applicationRefused(perm Permission) *Error {
	msg := "this endpoint is in no API product an application can use"
	if set := productsOf(perm.Name); set != 0 {
		msg = "the application is not subscribed to an API product of this endpoint; subscribe it to one of: " +
			strings.ReplaceAll(set.String(), " ", ", ")
	}
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg, Permission: perm.Name}
}

// ApplicationTokenVerifier checks application access tokens (auth.ApplicationTokens).
type ApplicationTokenVerifier interface {
	Verify(token string, now time.Time) (auth.ApplicationClaims, error)
}

// ApplicationDirectory answers what is checked on every call of an application (projections.Applications).
type ApplicationDirectory interface {
	Access(guid string) (projections.ApplicationAccess, bool)
}

// ApplicationAuthenticator accepts application access tokens (Authorization: Bearer, typ at+jwt) and hands
// every other request to Next. A token is honoured only while its application is enabled and the secret it was
// obtained with is not revoked; it grants the products of its scope that are still subscribed.
type ApplicationAuthenticator struct {
	Next      Authenticator
	Tokens    ApplicationTokenVerifier
	Directory ApplicationDirectory
	// Now is the clock tokens are checked at. Nil means time.Now.
	Now func() time.Time
}

var _ Authenticator = (*ApplicationAuthenticator)(nil)

// Authenticate tells who sent r.
func (a *ApplicationAuthenticator) Authenticate(r *http.Request) (Caller, error) {
	authz := r.Header["Authorization"]
	if len(authz) == 1 && len(r.Header["Cx-Authorization"]) == 0 {
		scheme, token, ok := strings.Cut(strings.TrimSpace(authz[0]), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && auth.IsApplicationToken(strings.TrimSpace(token)) {
			return a.application(strings.TrimSpace(token))
		}
	}
	if a.Next == nil {
		return Caller{}, errors.New("no credentials")
	}
	return a.Next.Authenticate(r)
}

var errApplicationRefused = errors.New("application disabled, deleted, unknown or its secret revoked")

func (a *ApplicationAuthenticator) application(token string) (Caller, error) {
	if a.Tokens == nil || a.Directory == nil {
		return Caller{}, errors.New("application tokens are not accepted here")
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	at := now()
	c, err := a.Tokens.Verify(token, at)
	if err != nil {
		return Caller{}, err
	}
	acc, ok := a.Directory.Access(c.Application)
	if !ok || !acc.Enabled || acc.Counterparty != c.Counterparty || !acc.SecretLive(c.SecretVersion, at) {
		return Caller{}, errApplicationRefused
	}
	return Caller{Subject: acc.Subject, Kind: CallerApplication, CounterpartyGUID: acc.Counterparty, Application: c.Application,
		Products: scopeProducts(c.Scope) & acc.Products}, nil
}

// Handlers.

type applicationHandlers struct{ svc ApplicationService }

func applicationRoutes(svc ApplicationService) []Route {
	h := applicationHandlers{svc: svc}
	one := cp + "/applications/{application_guid}"
	return []Route{
		{"GET", "/api/v1/api-products", Public, h.products},
		{"POST", "/api/v1/oauth/token", Public, oauthHandlers{svc: svc}.token},

		{"GET", cp + "/applications", PermApplicationsRead, h.list},
		{"POST", cp + "/applications", PermApplicationsWrite, h.create},
		{"GET", one, PermApplicationsRead, h.get},
		{"DELETE", one, PermApplicationsWrite, h.delete},
		{"POST", one + "/disable", PermApplicationsWrite, h.disable},
		{"POST", one + "/enable", PermApplicationsWrite, h.enable},
		{"POST", one + "/secret", PermApplicationsWrite, h.reissueSecret},
		{"POST", one + "/subscriptions", PermApplicationsWrite, h.subscribe},
		{"DELETE", one + "/subscriptions/{product}", PermApplicationsWrite, h.unsubscribe},
		{"GET", one + "/analytics", PermApplicationsRead, h.applicationAnalytics},
		{"GET", cp + "/analytics/applications", PermApplicationsRead, h.bankAnalytics},

		{"GET", "/api/v1/applications/subscription-requests", PermCounterpartiesRead, h.pending},
		{"POST", "/api/v1/applications/{application_guid}/subscriptions/{product}/approve", PermCounterpartiesUpdate, h.approve},
		{"POST", "/api/v1/applications/{application_guid}/subscriptions/{product}/reject", PermCounterpartiesUpdate, h.reject},
	}
}

var applicationRules = []struct {
	target error
	answer func() *Error
}{
	{application.ErrNotFound, func() *Error { return NotFound("application") }},
	{application.ErrDeleted, func() *Error { return NotFound("application (it is deleted)") }},
	{application.ErrAlreadyExists, func() *Error { return Conflict("the application already exists") }},
	{application.ErrDisabled, func() *Error { return Unprocessable("the application is disabled; enable it first") }},
	{application.ErrNotSubscribed, func() *Error { return NotFound("subscription") }},
	{application.ErrNoRequest, func() *Error {
		return Conflict("the application has no pending subscription request for this product")
	}},
	{app.ErrSecretShownOnce, func() *Error {
		return Conflict("this request was answered before and its client_secret shown then only; re-issue the secret to get a new one")
	}},
	{projections.ErrInvalidCallQuery, func() *Error {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "invalid analytics query: from must be before to, at most 93 days")
	}},
}

// applicationError maps the errors of the application use cases to answers; the rest go through domainError
// and writeError's table.
func applicationError(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range applicationRules {
		if errors.Is(err, r.target) {
			e := r.answer()
			e.Err = err
			return e
		}
	}
	return domainError(err)
}

// productView and planView are schemas ApiProduct and Plan.
type (
	productView struct {
		Name             string `json:"name"`
		Title            string `json:"title"`
		Description      string `json:"description"`
		RequiresApproval bool   `json:"requires_approval"`
	}
	planView struct {
		Name               string `json:"name"`
		RateLimitPerMinute int    `json:"rate_limit_per_minute"`
		MonthlyQuota       int64  `json:"monthly_quota"`
	}
	productCatalogue struct {
		Products []productView `json:"products"`
		Plans    []planView    `json:"plans"`
	}
)

func (h applicationHandlers) products(w http.ResponseWriter, _ *http.Request) error {
	out := productCatalogue{Products: []productView{}, Plans: []planView{}}
	for _, p := range application.Catalogue() {
		out.Products = append(out.Products, productView{Name: string(p.Name), Title: p.Title, Description: p.Description, RequiresApproval: p.Sensitive})
	}
	for _, p := range application.Plans() {
		out.Plans = append(out.Plans, viewPlan(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func viewPlan(p application.Plan) planView {
	return planView{Name: p.Name, RateLimitPerMinute: p.RatePerMinute, MonthlyQuota: p.MonthlyQuota}
}

// applicationView is schema Application.
type applicationView struct {
	GUID             string             `json:"guid"`
	CounterpartyGUID string             `json:"counterparty_guid"`
	ClientID         string             `json:"client_id"`
	Name             string             `json:"name"`
	Description      string             `json:"description"`
	Status           string             `json:"status"`
	SecretVersion    int                `json:"secret_version"`
	Secrets          []secretView       `json:"secrets"`
	Subscriptions    []subscriptionView `json:"subscriptions"`
	CreatedAt        time.Time          `json:"created_at"`
	UpdatedAt        time.Time          `json:"updated_at"`
}

type secretView struct {
	Version    int        `json:"version"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
}

// subscriptionView is schema Subscription.
type subscriptionView struct {
	Product            string     `json:"product"`
	Status             string     `json:"status"`
	Plan               string     `json:"plan,omitempty"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute,omitempty"`
	MonthlyQuota       int64      `json:"monthly_quota,omitempty"`
	Since              *time.Time `json:"since,omitempty"`
	RequestedPlan      string     `json:"requested_plan,omitempty"`
	RequestedAt        *time.Time `json:"requested_at,omitempty"`
	RejectionReason    string     `json:"rejection_reason,omitempty"`
	DecidedBy          string     `json:"decided_by,omitempty"`
	DecidedAt          *time.Time `json:"decided_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func viewSubscription(p application.Product, s application.Subscription) subscriptionView {
	v := subscriptionView{Product: string(p), Plan: s.Plan, Since: timePtr(s.Since), RequestedPlan: s.RequestedPlan,
		RequestedAt: timePtr(s.RequestedAt), DecidedBy: s.DecidedBy, DecidedAt: timePtr(s.DecidedAt)}
	switch {
	case s.Plan != "":
		v.Status = "active"
	case s.RequestedPlan != "":
		v.Status = "pending"
	case s.Rejected:
		v.Status = "rejected"
	default:
		v.Status = "none"
	}
	if s.Rejected {
		v.RejectionReason = s.Reason
	}
	if plan, ok := application.PlanByName(s.Plan); ok {
		v.RateLimitPerMinute, v.MonthlyQuota = plan.RatePerMinute, plan.MonthlyQuota
	}
	return v
}

func viewApplication(s application.State) applicationView {
	v := applicationView{GUID: s.GUID, CounterpartyGUID: s.Counterparty, ClientID: s.GUID, Name: s.Name, Description: s.Description,
		Status: "active", SecretVersion: s.SecretVersion, Secrets: []secretView{}, Subscriptions: []subscriptionView{},
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}
	switch {
	case s.Deleted:
		v.Status = "deleted"
	case s.Disabled:
		v.Status = "disabled"
	}
	for _, sec := range s.Secrets {
		v.Secrets = append(v.Secrets, secretView{Version: sec.Version, ValidUntil: timePtr(sec.ValidUntil)})
	}
	for _, spec := range application.Catalogue() {
		if sub, ok := s.Subscriptions[spec.Name]; ok {
			v.Subscriptions = append(v.Subscriptions, viewSubscription(spec.Name, sub))
		}
	}
	return v
}

type applicationList struct {
	List  []applicationView `json:"list"`
	Total int               `json:"total"`
}

func (h applicationHandlers) list(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	all, _, err := boolParam(q, "include_deleted")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return unavailable("applications")
	}
	out := applicationList{List: []applicationView{}}
	for _, s := range h.svc.ListApplications(r.Context(), bank.String(), all) {
		out.List = append(out.List, viewApplication(s))
	}
	out.Total = len(out.List)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type applicationCreateRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (q applicationCreateRequest) Validate() error {
	return firstError(requireString("name", q.Name), maxLen("name", q.Name, 4*application.MaxNameRunes),
		maxLen("description", q.Description, 4*application.MaxDescriptionRunes))
}

// credentialsView is schema ApplicationCredentials: the secret, shown once.
type credentialsView struct {
	GUID                     string     `json:"guid"`
	ClientID                 string     `json:"client_id"`
	ClientSecret             string     `json:"client_secret"`
	SecretVersion            int        `json:"secret_version"`
	PreviousSecretValidUntil *time.Time `json:"previous_secret_valid_until,omitempty"`
}

func (h applicationHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req applicationCreateRequest
	bank, opts, err := bankWrite(r, &req)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return unavailable("applications")
	}
	res, err := h.svc.CreateApplication(r.Context(), bank, req.Name, req.Description, opts)
	if err != nil {
		return applicationError(err)
	}
	if res.Replayed {
		return applicationError(app.ErrSecretShownOnce)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, credentialsView{GUID: res.GUID, ClientID: res.ClientID, ClientSecret: res.ClientSecret, SecretVersion: 1})
	return nil
}

// target reads the bank and the application of the path.
func (h applicationHandlers) target(r *http.Request) (bank, guid uuid.UUID, err error) {
	if bank, err = bankOf(r); err != nil {
		return
	}
	g, err := pathGUID(r, "application_guid")
	if err != nil {
		return
	}
	guid, err = guidValue("application_guid", g)
	if err == nil && h.svc == nil {
		err = unavailable("applications")
	}
	return
}

func (h applicationHandlers) get(w http.ResponseWriter, r *http.Request) error {
	bank, guid, err := h.target(r)
	if err != nil {
		return err
	}
	s, ok := h.svc.Application(r.Context(), bank.String(), guid.String())
	if !ok {
		return NotFound("application")
	}
	writeJSON(w, http.StatusOK, viewApplication(s))
	return nil
}

// change runs a write that takes no body on the application of the path and answers the application.
func (h applicationHandlers) change(w http.ResponseWriter, r *http.Request, run func(ctx context.Context, cp, guid uuid.UUID, w app.Write) (app.Written, error)) error {
	bank, guid, err := h.target(r)
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if _, err := run(r.Context(), bank, guid, opts); err != nil {
		return applicationError(err)
	}
	s, ok := h.svc.Application(r.Context(), bank.String(), guid.String())
	if !ok {
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	writeJSON(w, http.StatusOK, viewApplication(s))
	return nil
}

func (h applicationHandlers) disable(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("applications")
	}
	return h.change(w, r, h.svc.DisableApplication)
}

func (h applicationHandlers) enable(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("applications")
	}
	return h.change(w, r, h.svc.EnableApplication)
}

func (h applicationHandlers) delete(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("applications")
	}
	return h.change(w, r, h.svc.DeleteApplication)
}

// secretRequest is the body of POST …/secret: how long the replaced secret keeps working (0 or absent: it
// stops at once).
type secretRequest struct {
	GraceSeconds int64 `json:"grace_seconds"`
}

func (q secretRequest) Validate() error {
	if q.GraceSeconds < 0 || q.GraceSeconds > int64(application.MaxGrace/time.Second) {
		return InvalidField("grace_seconds", "must be between 0 and "+strconv.FormatInt(int64(application.MaxGrace/time.Second), 10))
	}
	return nil
}

func (h applicationHandlers) reissueSecret(w http.ResponseWriter, r *http.Request) error {
	if err := emptyBodyAsObject(r); err != nil {
		return err
	}
	var req secretRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, guid, err := h.target(r)
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	res, err := h.svc.ReissueSecret(r.Context(), bank, guid, time.Duration(req.GraceSeconds)*time.Second, opts)
	if err != nil {
		return applicationError(err)
	}
	out := credentialsView{GUID: guid.String(), ClientID: guid.String(), ClientSecret: res.ClientSecret, SecretVersion: res.Version}
	if req.GraceSeconds > 0 {
		out.PreviousSecretValidUntil = timePtr(res.PreviousValidUntil)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

type subscribeRequest struct {
	Product string `json:"product"`
	Plan    string `json:"plan"`
}

func (q subscribeRequest) Validate() error {
	if err := firstError(requireString("product", q.Product), requireString("plan", q.Plan)); err != nil {
		return err
	}
	if !application.Product(q.Product).Known() {
		return InvalidField("product", "is not an API product; see GET /api/v1/api-products")
	}
	if _, ok := application.PlanByName(q.Plan); !ok {
		return InvalidField("plan", "is not a plan; see GET /api/v1/api-products")
	}
	return nil
}

// subscribe answers 200 with the subscription: active at once, or pending the platform's approval (202).
func (h applicationHandlers) subscribe(w http.ResponseWriter, r *http.Request) error {
	var req subscribeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, guid, err := h.target(r)
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	product := application.Product(req.Product)
	sub, err := h.svc.Subscribe(r.Context(), bank, guid, product, req.Plan, opts)
	if err != nil {
		return applicationError(err)
	}
	status := http.StatusOK
	if sub.Plan != req.Plan && sub.RequestedPlan == req.Plan {
		status = http.StatusAccepted
	}
	writeJSON(w, status, viewSubscription(product, sub))
	return nil
}

// pathProduct reads the product of the path.
func pathProduct(r *http.Request) (application.Product, error) {
	p := application.Product(mux.Vars(r)["product"])
	if !p.Known() {
		return "", InvalidField("product", "is not an API product; see GET /api/v1/api-products")
	}
	return p, nil
}

func (h applicationHandlers) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	product, err := pathProduct(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return unavailable("applications")
	}
	return h.change(w, r, func(ctx context.Context, cp, guid uuid.UUID, w app.Write) (app.Written, error) {
		return h.svc.Unsubscribe(ctx, cp, guid, product, w)
	})
}

// subscriptionRequestView is schema SubscriptionRequest.
type subscriptionRequestView struct {
	ApplicationGUID  string    `json:"application_guid"`
	CounterpartyGUID string    `json:"counterparty_guid"`
	ApplicationName  string    `json:"application_name"`
	Product          string    `json:"product"`
	Plan             string    `json:"plan"`
	RequestedAt      time.Time `json:"requested_at"`
}

type subscriptionRequestList struct {
	List  []subscriptionRequestView `json:"list"`
	Total int                       `json:"total"`
}

func (h applicationHandlers) pending(w http.ResponseWriter, r *http.Request) error {
	if h.svc == nil {
		return unavailable("applications")
	}
	out := subscriptionRequestList{List: []subscriptionRequestView{}}
	for _, q := range h.svc.PendingRequests(r.Context()) {
		out.List = append(out.List, subscriptionRequestView{ApplicationGUID: q.Application, CounterpartyGUID: q.Counterparty,
			ApplicationName: q.Name, Product: string(q.Product), Plan: q.Plan, RequestedAt: q.RequestedAt.UTC()})
	}
	out.Total = len(out.List)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decision reads the application and product of a platform decision's path.
func (h applicationHandlers) decision(r *http.Request) (uuid.UUID, application.Product, app.Write, error) {
	g, err := pathGUID(r, "application_guid")
	if err != nil {
		return uuid.Nil, "", app.Write{}, err
	}
	guid, err := guidValue("application_guid", g)
	if err != nil {
		return uuid.Nil, "", app.Write{}, err
	}
	product, err := pathProduct(r)
	if err != nil {
		return uuid.Nil, "", app.Write{}, err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return uuid.Nil, "", app.Write{}, err
	}
	if h.svc == nil {
		return uuid.Nil, "", app.Write{}, unavailable("applications")
	}
	return guid, product, opts, nil
}

func (h applicationHandlers) approve(w http.ResponseWriter, r *http.Request) error {
	if err := emptyBodyAsObject(r); err != nil {
		return err
	}
	if err := decode(r, &struct{}{}); err != nil {
		return err
	}
	guid, product, opts, err := h.decision(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.ApproveSubscription(r.Context(), guid, product, opts); err != nil {
		return applicationError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

type rejectRequest struct {
	Reason string `json:"reason"`
}

func (q rejectRequest) Validate() error {
	return firstError(requireString("reason", q.Reason), maxLen("reason", q.Reason, 4*application.MaxReasonRunes))
}

func (h applicationHandlers) reject(w http.ResponseWriter, r *http.Request) error {
	var req rejectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	guid, product, opts, err := h.decision(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.RejectSubscription(r.Context(), guid, product, req.Reason, opts); err != nil {
		return applicationError(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// Analytics.

// callStatsView is schema CallStats.
type callStatsView struct {
	Calls        int64       `json:"calls"`
	Errors       int64       `json:"errors"`
	ServerErrors int64       `json:"server_errors"`
	Limited      int64       `json:"limited"`
	ErrorRate    float64     `json:"error_rate"`
	LatencyMs    latencyView `json:"latency_ms"`
}

type latencyView struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func viewCallStats(s projections.CallStats) callStatsView {
	return callStatsView{Calls: s.Calls, Errors: s.Errors, ServerErrors: s.ServerErrors, Limited: s.Limited, ErrorRate: s.ErrorRate(),
		LatencyMs: latencyView{P50: ms(s.Percentile(0.50)), P95: ms(s.Percentile(0.95)), P99: ms(s.Percentile(0.99))}}
}

type routeCallsView struct {
	Route    string           `json:"route"`
	Product  string           `json:"product"`
	ByStatus map[string]int64 `json:"by_status"`
	callStatsView
}

type applicationCallsView struct {
	ApplicationGUID string `json:"application_guid"`
	callStatsView
}

type periodCallsView struct {
	Start time.Time `json:"start"`
	callStatsView
}

// analyticsView is schema CallAnalytics.
type analyticsView struct {
	CounterpartyGUID string                 `json:"counterparty_guid"`
	ApplicationGUID  string                 `json:"application_guid,omitempty"`
	From             time.Time              `json:"from"`
	To               time.Time              `json:"to"`
	Granularity      string                 `json:"granularity"`
	Totals           callStatsView          `json:"totals"`
	ByStatus         map[string]int64       `json:"by_status"`
	ByRoute          []routeCallsView       `json:"by_route"`
	ByApplication    []applicationCallsView `json:"by_application,omitempty"`
	Series           []periodCallsView      `json:"series"`
}

func statusKeys(m map[int]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[strconv.Itoa(k)] = v
	}
	return out
}

// callQuery reads from, to (RFC 3339; default the last 24 hours) and granularity (hour or day).
func callQuery(r *http.Request, bank string) (projections.CallQuery, error) {
	q, err := queryValues(r)
	if err != nil {
		return projections.CallQuery{}, err
	}
	cq := projections.CallQuery{Counterparty: bank, To: time.Now().UTC()}
	to, hasTo, err := timeParam(q, "to")
	if err != nil {
		return cq, err
	}
	if hasTo {
		cq.To = to
	}
	cq.From = cq.To.Add(-24 * time.Hour)
	from, hasFrom, err := timeParam(q, "from")
	if err != nil {
		return cq, err
	}
	if hasFrom {
		cq.From = from
	}
	g, _, err := single(q, "granularity")
	if err != nil {
		return cq, err
	}
	switch projections.Granularity(g) {
	case "", projections.Hourly:
		cq.Granularity = projections.Hourly
	case projections.Daily:
		cq.Granularity = projections.Daily
	default:
		return cq, InvalidField("granularity", "must be hour or day")
	}
	if !cq.From.Before(cq.To) {
		return cq, InvalidField("from", "must be before to")
	}
	return cq, nil
}

func (h applicationHandlers) analytics(w http.ResponseWriter, r *http.Request, bank, one string) error {
	q, err := callQuery(r, bank)
	if err != nil {
		return err
	}
	q.Application = one
	rep, err := h.svc.ApplicationCalls(r.Context(), q)
	if err != nil {
		return applicationError(err)
	}
	out := analyticsView{CounterpartyGUID: bank, ApplicationGUID: one, From: rep.From, To: rep.To, Granularity: string(rep.Granularity),
		Totals: viewCallStats(rep.Totals), ByStatus: statusKeys(rep.ByStatus), ByRoute: []routeCallsView{}, Series: []periodCallsView{}}
	for _, rc := range rep.ByRoute {
		out.ByRoute = append(out.ByRoute, routeCallsView{Route: rc.Route, Product: string(rc.Product), ByStatus: statusKeys(rc.ByStatus),
			callStatsView: viewCallStats(rc.Stats)})
	}
	if one == "" {
		out.ByApplication = []applicationCallsView{}
		for _, a := range rep.ByApplication {
			out.ByApplication = append(out.ByApplication, applicationCallsView{ApplicationGUID: a.Application, callStatsView: viewCallStats(a.Stats)})
		}
	}
	for _, p := range rep.Series {
		out.Series = append(out.Series, periodCallsView{Start: p.Start.UTC(), callStatsView: viewCallStats(p.Stats)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h applicationHandlers) applicationAnalytics(w http.ResponseWriter, r *http.Request) error {
	bank, guid, err := h.target(r)
	if err != nil {
		return err
	}
	if _, ok := h.svc.Application(r.Context(), bank.String(), guid.String()); !ok {
		return NotFound("application")
	}
	return h.analytics(w, r, bank.String(), guid.String())
}

func (h applicationHandlers) bankAnalytics(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return unavailable("applications")
	}
	return h.analytics(w, r, bank.String(), "")
}
