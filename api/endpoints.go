package api

// Endpoint is one endpoint of the bank integration guide (or of Kazna's platform API) and the permission that
// guards it. The list fixes, before each endpoint is built, which permission it will need: a route in the
// router table must name the same permission (a test checks it), so that roles mean the same thing as the API
// grows. Paths the guide did not give are Kazna's choice, in the guide's style.
type Endpoint struct {
	Method     string
	Path       string
	Permission string
}

const cp = "/api/v1/counterparty/{counterparty_guid}"

// guideEndpoints is every endpoint of the API, routed or not yet.
var guideEndpoints = []Endpoint{
	// Platform: health, documentation, keys and sign-in need no caller.
	{"GET", "/healthz", Public},
	{"GET", "/readyz", Public},
	{"GET", "/api/v1/openapi.json", Public},
	{"GET", "/api/v1/openapi.yaml", Public},
	{"GET", "/api/v1/.well-known/jwks.json", Public},
	{"POST", "/api/v1/auth/login", Public},
	{"POST", "/api/v1/auth/verification", Public},
	{"POST", "/api/v1/auth/set-password", Public},

	// Counterparties (banks): the processing centre registers them (guide §19, §18 step 3).
	{"GET", "/api/v1/counterparties", PermCounterpartiesRead},
	{"POST", "/api/v1/counterparties", PermCounterpartiesCreate},
	{"GET", "/api/v1/counterparties/{counterparty_guid}", PermCounterpartiesRead},
	{"PUT", "/api/v1/counterparties/{counterparty_guid}", PermCounterpartiesUpdate},

	// Bank JWT keys (§3.1).
	{"POST", cp + "/jwk", PermJWKWrite},
	{"GET", cp + "/jwk", PermJWKRead},
	{"PUT", cp + "/jwk/{jwk_guid}", PermJWKWrite},
	{"POST", cp + "/jwk/authenticate", PermJWKRead},
	{"GET", cp + "/signers", PermJWKRead},
	{"PUT", cp + "/signers", PermJWKWrite},

	// Employees (§6.1).
	{"GET", cp + "/employees", PermEmployeesRead},
	{"POST", cp + "/employees", PermEmployeesCreate},
	{"GET", cp + "/employees/{employee_guid}", PermEmployeesRead},
	{"PUT", cp + "/employees/{employee_guid}", PermEmployeesUpdate},

	// Roles and permissions (§6.2).
	{"GET", cp + "/rbac/permission", PermRBACRead},
	{"POST", cp + "/rbac/permission", PermRBACWrite},
	{"DELETE", cp + "/rbac/permission", PermRBACWrite},
	{"GET", cp + "/rbac/permission/table", PermRBACRead},
	{"GET", cp + "/rbac/permission/available", PermRBACRead},
	{"GET", cp + "/rbac/role", PermRBACRead},
	{"POST", cp + "/rbac/role", PermRBACWrite},
	{"DELETE", cp + "/rbac/role", PermRBACWrite},
	{"GET", cp + "/rbac/scope", PermRBACRead},
	{"GET", cp + "/rbac/user", PermRBACRead},
	{"POST", cp + "/rbac/user", PermRBACWrite},
	{"DELETE", cp + "/rbac/user", PermRBACWrite},

	// Branches (§16.1) and branch access (§16.2).
	{"GET", cp + "/branches", PermBranchesRead},
	{"POST", cp + "/branches", PermBranchesWrite},
	{"GET", cp + "/branches/{branch_guid}", PermBranchesRead},
	{"PUT", cp + "/branches/{branch_guid}", PermBranchesWrite},
	{"POST", cp + "/branches-access/permission", PermBranchesAccessWrite},
	{"DELETE", cp + "/branches-access/permission", PermBranchesAccessWrite},
	{"GET", cp + "/branches-access/{branch_guid}/permission/table", PermBranchesAccessRead},
	{"POST", cp + "/branches-access/role", PermBranchesAccessWrite},
	{"DELETE", cp + "/branches-access/role", PermBranchesAccessWrite},
	{"GET", cp + "/branches-access/scope", PermBranchesAccessRead},
	{"GET", cp + "/branches-access/user", PermBranchesAccessRead},
	{"POST", cp + "/branches-access/user", PermBranchesAccessWrite},
	{"DELETE", cp + "/branches-access/user", PermBranchesAccessWrite},
	{"GET", cp + "/branches-access/check", PermBranchesAccessRead},

	// Customers and segments (§7).
	{"GET", cp + "/customers", PermCustomersRead},
	{"POST", cp + "/customers", PermCustomersCreate},
	{"PUT", cp + "/customers/{customer_guid}", PermCustomersUpdate},
	{"GET", cp + "/customers/{customer_guid}/accounts", PermCustomersRead},
	{"POST", cp + "/customers/{customer_guid}/accounts", PermCustomersCreate},
	{"GET", cp + "/segments", PermCustomersRead},
	{"PATCH", cp + "/segments", PermSegmentsWrite},

	// Digital entities (§8, §16.4).
	{"GET", cp + "/accounts", PermAccountsRead},
	{"POST", cp + "/accounts", PermAccountsCreate},
	{"GET", cp + "/branch/{branch_guid}/accounts", PermAccountsRead},
	// Blocking (Kazna's: the guide has no endpoint): a blocked account cannot send, and its trustline is
	// deauthorized on Stellar.
	{"POST", cp + "/accounts/{account_guid}/block", PermAccountsBlock},
	{"POST", cp + "/accounts/{account_guid}/unblock", PermAccountsBlock},

	// Identifiers: issue and burn requests (§9). The platform administrator lists every bank's requests and
	// confirms or cancels the open ones (Kazna's paths: the guide leaves confirmation out of the bank's API).
	{"POST", cp + "/emission/issue", PermEmissionIssue},
	{"POST", cp + "/emission/burn", PermEmissionBurn},
	{"GET", cp + "/emission/history", PermEmissionRead},
	{"GET", "/api/v1/emission/requests", PermEmissionConfirm},
	{"POST", "/api/v1/emission/requests/{emission_guid}/confirm", PermEmissionConfirm},
	{"POST", "/api/v1/emission/requests/{emission_guid}/cancel", PermEmissionConfirm},

	// Transfers (§10, §16.5).
	{"GET", cp + "/payments", PermPaymentsRead},
	{"POST", cp + "/payments", PermPaymentsCreate},
	{"GET", cp + "/payments/{payment_guid}", PermPaymentsRead},
	// Cancelling a draft (Kazna's: the guide has a deleted_at field but no route).
	{"DELETE", cp + "/payments/{payment_guid}", PermPaymentsCreate},
	{"POST", cp + "/payments/confirm", PermPaymentsConfirm},
	{"GET", cp + "/branch/{branch_guid}/payments", PermPaymentsRead},
	{"POST", cp + "/branch/{branch_guid}/payments", PermPaymentsCreate},
	{"POST", cp + "/branch/{branch_guid}/payments/confirm", PermPaymentsConfirm},

	// Transfer categories (§13): shared by every bank, so only the platform edits them.
	{"GET", "/api/v1/dictionary/payment/category", PermDictionaryRead},
	{"POST", "/api/v1/dictionary/payment/category", PermDictionaryWrite},
	{"PUT", "/api/v1/dictionary/payment/category/{category_guid}", PermDictionaryWrite},
	{"DELETE", "/api/v1/dictionary/payment/category/{category_guid}", PermDictionaryWrite},

	// Limits (§14): individual, standard (segment) and KYC-default limits; DELETE removes one (INFERRED).
	{"GET", cp + "/limits/customer/amount", PermLimitsRead},
	{"POST", cp + "/limits/customer/amount", PermLimitsWrite},
	{"DELETE", cp + "/limits/customer/amount", PermLimitsWrite},
	{"GET", cp + "/limits/customer/payment", PermLimitsRead},
	{"POST", cp + "/limits/customer/payment", PermLimitsWrite},
	{"DELETE", cp + "/limits/customer/payment", PermLimitsWrite},
	{"GET", cp + "/limits/segment/amount", PermLimitsRead},
	{"POST", cp + "/limits/segment/amount", PermLimitsWrite},
	{"DELETE", cp + "/limits/segment/amount", PermLimitsWrite},
	{"GET", cp + "/limits/segment/payment", PermLimitsRead},
	{"POST", cp + "/limits/segment/payment", PermLimitsWrite},
	{"DELETE", cp + "/limits/segment/payment", PermLimitsWrite},
	{"GET", cp + "/limits/kyc/amount", PermLimitsRead},
	{"POST", cp + "/limits/kyc/amount", PermLimitsWrite},
	{"DELETE", cp + "/limits/kyc/amount", PermLimitsWrite},
	{"GET", cp + "/limits/kyc/payment", PermLimitsRead},
	{"POST", cp + "/limits/kyc/payment", PermLimitsWrite},
	{"DELETE", cp + "/limits/kyc/payment", PermLimitsWrite},

	// Reconciliation (§15).
	{"GET", cp + "/recons", PermReconciliationRead},
	{"GET", cp + "/recons/participants", PermReconciliationRead},
	{"PATCH", cp + "/recons/{recon_guid}", PermReconciliationWrite},
	// The daily ledger-vs-Stellar reconciliation (Kazna's paths): platform-wide runs over every bank's books,
	// so their permissions are the platform's.
	{"POST", "/api/v1/reconciliations", PermReconciliationRunsWrite},
	{"GET", "/api/v1/reconciliations", PermReconciliationRunsRead},
	{"GET", "/api/v1/reconciliations/{reconciliation_guid}", PermReconciliationRunsRead},
	{"GET", "/api/v1/reconciliations/{reconciliation_guid}/discrepancies", PermReconciliationRunsRead},
	{"POST", "/api/v1/reconciliations/{reconciliation_guid}/discrepancies/{discrepancy_id}/resolve", PermReconciliationRunsWrite},

	// Callbacks (§12, Kazna's paths): the secret that signs the bank's notices, and a payment's delivery log.
	{"POST", cp + "/callbacks/secret", PermCallbacksWrite},
	{"GET", cp + "/payments/{payment_guid}/callbacks", PermPaymentsRead},

	// API applications (Kazna's paths, in the guide's style): the product catalogue and the client credentials
	// token endpoint (public), a bank's applications, their secrets, subscriptions and call analytics, and the
	// platform's approval of subscriptions to sensitive products.
	{"GET", "/api/v1/api-products", Public},
	{"POST", "/api/v1/oauth/token", Public},
	{"GET", cp + "/applications", PermApplicationsRead},
	{"POST", cp + "/applications", PermApplicationsWrite},
	{"GET", cp + "/applications/{application_guid}", PermApplicationsRead},
	{"DELETE", cp + "/applications/{application_guid}", PermApplicationsWrite},
	{"POST", cp + "/applications/{application_guid}/disable", PermApplicationsWrite},
	{"POST", cp + "/applications/{application_guid}/enable", PermApplicationsWrite},
	{"POST", cp + "/applications/{application_guid}/secret", PermApplicationsWrite},
	{"POST", cp + "/applications/{application_guid}/subscriptions", PermApplicationsWrite},
	{"DELETE", cp + "/applications/{application_guid}/subscriptions/{product}", PermApplicationsWrite},
	{"GET", cp + "/applications/{application_guid}/analytics", PermApplicationsRead},
	{"GET", cp + "/analytics/applications", PermApplicationsRead},
	{"GET", "/api/v1/applications/subscription-requests", PermCounterpartiesRead},
	{"POST", "/api/v1/applications/{application_guid}/subscriptions/{product}/approve", PermCounterpartiesUpdate},
	{"POST", "/api/v1/applications/{application_guid}/subscriptions/{product}/reject", PermCounterpartiesUpdate},

	// Audit: the bank's event history, replayed from the log.
	{"GET", cp + "/audit/events", PermAuditRead},
	// Platform staff read any entity's or stream's history; an account's balance at a time is folded from
	// its stream (Kazna's paths).
	{"GET", "/api/v1/audit/events", PermAuditReadAny},
	{"GET", cp + "/accounts/{account_guid}/balance", PermAccountsRead},
}

// Endpoints returns every endpoint of the API with its permission. The slice is a copy.
func Endpoints() []Endpoint { return append([]Endpoint(nil), guideEndpoints...) }
